//! Consumer keys: scoped, rate-limited keys that call a deployment's inference routes for a stated purpose.

use super::*;

/// Checks the principal may issue keys for `deployment`; returns the
/// model cards of the models it serves now.
pub(super) async fn key_scope(
    state: &AppState,
    p: &Principal,
    deployment: &str,
) -> Result<Vec<wire::KeyModel>, ApiError> {
    let team = state.db.deployment_team(deployment).await?.ok_or_else(|| {
        ApiError::missing(hangar_store::Missing::Deployment(deployment.to_string()))
    })?;
    if !p.sees(&team) {
        return Err(ApiError::missing(hangar_store::Missing::Deployment(
            deployment.to_string(),
        )));
    }
    if !p.can(Action::Deploy, &team) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "{} may not issue keys for deployment '{deployment}' (team '{team}')",
                p.name
            ),
        ));
    }
    let d = state.db.get_deployment(deployment).await?;
    let mut cards = Vec::new();
    for r in &d.current.table.routes {
        let m = state.db.get_model(&r.target.model).await?;
        cards.push(wire::KeyModel {
            model: m.name,
            intended_use: m.card.intended_use,
            out_of_scope_uses: m.card.out_of_scope_uses,
            risk_tier: m.card.risk_tier.as_str().to_owned(),
        });
    }
    Ok(cards)
}

pub(super) async fn create_key(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    JsonBody(body): JsonBody<wire::NewConsumerKey>,
) -> Result<Response, ApiError> {
    let mut deployments = body.deployments;
    deployments.extend(body.deployment);
    deployments.sort();
    deployments.dedup();
    if deployments.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidConsumerKey,
            "name at least one deployment the key may call",
        ));
    }
    let purpose = body.purpose.trim().to_string();
    if purpose.is_empty() || purpose.len() > 500 {
        return Err(ApiError::new(
            ErrorCode::InvalidConsumerKey,
            "declare the key's purpose (1 to 500 characters): what the predictions are used for",
        ));
    }
    if let Some(r) = body.rate_limit {
        if !(r.is_finite() && r > 0.0) {
            return Err(ApiError::new(
                ErrorCode::InvalidConsumerKey,
                "rate_limit must be a positive number of requests per second",
            ));
        }
    }
    let mut cards = Vec::new();
    for d in &deployments {
        cards.extend(key_scope(&state, &a.principal, d).await?);
    }
    let expires = body.expires.as_deref().map(parse_expiry).transpose()?;
    let secret = auth::new_secret();
    let record = TokenRecord {
        id: secret.id.clone(),
        kind: "consumer".into(),
        user: None,
        secret_hash: secret.secret_hash.clone(),
        name: body.name.unwrap_or_default().chars().take(100).collect(),
        deployments,
        purpose,
        rate_limit: body.rate_limit,
        created_at: Utc::now(),
        created_by: a.principal.name.clone(),
        expires_at: expires,
        revoked_at: None,
        last_used_at: None,
    };
    state.db.create_token(&record).await?;
    let created = wire::CreatedConsumerKey {
        key: token_out(&record),
        secret: secret.token,
        models: cards,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

pub(super) async fn visible_key(
    state: &AppState,
    p: &Principal,
    t: &TokenRecord,
) -> Result<bool, ApiError> {
    for d in &t.deployments {
        if let Some(team) = state.db.deployment_team(d).await? {
            if p.can(Action::Deploy, &team) {
                return Ok(true);
            }
        }
    }
    Ok(p.is_superuser())
}

pub(super) async fn list_keys(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
) -> Result<Json<wire::ConsumerKeyList>, ApiError> {
    let mut keys = Vec::new();
    for t in state.db.list_tokens("consumer", None).await? {
        if visible_key(&state, &a.principal, &t).await? {
            keys.push(token_out(&t));
        }
    }
    Ok(Json(wire::ConsumerKeyList { keys }))
}

pub(super) async fn revoke_key(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    Path(id): Path<String>,
) -> Result<Json<wire::Token>, ApiError> {
    let t = state.db.get_token(&id).await?;
    if t.kind != "consumer" || !visible_key(&state, &a.principal, &t).await? {
        return Err(ApiError::new(
            ErrorCode::TokenNotFound,
            format!("consumer key '{id}' not found"),
        ));
    }
    let t = state.db.revoke_token(&id).await?;
    state.auth.forget(&id);
    Ok(Json(token_out(&t)))
}
