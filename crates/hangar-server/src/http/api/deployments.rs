//! Deployments: create or change (routes, shadow, settings), revisions, promote, roll back, remove.

use super::*;

pub(super) fn version_ref(raw: &str) -> Result<VersionRef, ApiError> {
    raw.parse()
        .map_err(|e: hangar_core::model::VersionRefError| {
            ApiError::new(ErrorCode::InvalidRoutes, e.to_string())
        })
}

pub(super) fn message_of(m: Option<String>) -> Result<String, ApiError> {
    let m = m.unwrap_or_default();
    if m.len() > 4096 {
        return Err(ApiError::bad_request("message is limited to 4096 bytes"));
    }
    Ok(m)
}

pub(super) async fn list_deployments(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<wire::DeploymentList>, ApiError> {
    let teams = state.db.deployment_teams().await?;
    let mut out = Vec::new();
    for d in state.db.list_deployments().await? {
        if teams.get(&d.name).is_some_and(|t| caller.principal.sees(t)) {
            out.push(deployment_out(&state, d));
        }
    }
    Ok(Json(wire::DeploymentList { deployments: out }))
}

pub(super) async fn get_deployment(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<wire::Deployment>, ApiError> {
    let d = state.db.get_deployment(&name).await?;
    Ok(Json(deployment_out(&state, d)))
}

pub(super) async fn put_deployment(
    State(state): State<AppState>,
    Path(name): Path<String>,
    caller: Caller,
    JsonBody(body): JsonBody<wire::PutDeployment>,
) -> Result<Json<wire::Deployment>, ApiError> {
    let routes = match (body.model, body.canary, body.routes) {
        (Some(primary), canary, None) => {
            let canary = canary.map(|c| Ok::<_, ApiError>((version_ref(&c.model)?, c.weight))).transpose()?;
            hangar_core::routing::with_canary(version_ref(&primary)?, canary)
                .map_err(crate::service::serving::routing_error)?
        }
        (None, None, Some(routes)) => routes
            .into_iter()
            .map(|r| Ok(Route { target: version_ref(&r.model)?, weight: r.weight }))
            .collect::<Result<Vec<_>, ApiError>>()?,
        (None, Some(_), _) => return Err(ApiError::new(ErrorCode::InvalidRoutes, "\"canary\" needs \"model\" (the primary)")),
        (Some(_), _, Some(_)) => return Err(ApiError::new(ErrorCode::InvalidRoutes, "give either \"model\" (with an optional \"canary\") or \"routes\", not both")),
        (None, None, None) => {
            return Err(ApiError::new(ErrorCode::InvalidRoutes, "missing \"model\" (e.g. \"credit-risk:3\" or \"credit-risk@production\") or \"routes\""))
        }
    };
    let change = crate::service::deployments::Change {
        routes,
        shadow: body.shadow.as_deref().map(version_ref).transpose()?,
        settings: body
            .settings
            .map(|patch| move |current| patch.apply(current)),
        message: message_of(body.message)?,
    };
    crate::service::deployments::put(&state, &caller.principal, &caller.actor(), &name, change)
        .await?;
    Ok(Json(deployment_out(
        &state,
        state.db.get_deployment(&name).await?,
    )))
}

pub(super) async fn delete_deployment(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.serving.remove(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn list_revisions(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<wire::RevisionList>, ApiError> {
    let out: Vec<_> = state
        .db
        .list_revisions(&name)
        .await?
        .into_iter()
        .map(|r| revision_out(&state, r))
        .collect();
    Ok(Json(wire::RevisionList { revisions: out }))
}

pub(super) async fn get_revision(
    State(state): State<AppState>,
    Path((name, revision)): Path<(String, String)>,
) -> Result<Json<wire::Revision>, ApiError> {
    let n = revision
        .parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| ApiError::bad_request("revisions are numbers 1, 2, 3…"))?;
    Ok(Json(revision_out(
        &state,
        state.db.get_revision(&name, n).await?,
    )))
}

/// An optional JSON body (empty means defaults).
pub(super) fn optional_body<T: serde::de::DeserializeOwned + Default>(
    raw: &[u8],
) -> Result<T, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

pub(super) async fn promote(
    State(state): State<AppState>,
    Path(name): Path<String>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Json<wire::Deployment>, ApiError> {
    let action: wire::RevisionAction = optional_body(&body)?;
    if action.to.is_some() {
        return Err(ApiError::bad_request("promote takes no \"to\""));
    }
    state
        .serving
        .promote(&name, &message_of(action.message)?, &caller.actor())
        .await?;
    Ok(Json(deployment_out(
        &state,
        state.db.get_deployment(&name).await?,
    )))
}

pub(super) async fn rollback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Json<wire::Deployment>, ApiError> {
    let action: wire::RevisionAction = optional_body(&body)?;
    state
        .serving
        .rollback(
            &name,
            action.to,
            &message_of(action.message)?,
            &caller.actor(),
        )
        .await?;
    Ok(Json(deployment_out(
        &state,
        state.db.get_deployment(&name).await?,
    )))
}
