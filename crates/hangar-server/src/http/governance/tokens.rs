//! API tokens: create, list, revoke.

use super::*;

pub(super) fn token_out(t: &TokenRecord) -> wire::Token {
    wire::Token {
        id: t.id.clone(),
        kind: t.kind.clone(),
        user: t.user.clone(),
        name: t.name.clone(),
        deployments: t.deployments.clone(),
        purpose: t.purpose.clone(),
        rate_limit: t.rate_limit,
        created_at: secs(t.created_at),
        created_by: t.created_by.clone(),
        expires_at: t.expires_at.map(secs),
        revoked_at: t.revoked_at.map(secs),
        last_used_at: t.last_used_at.map(secs),
    }
}

#[derive(Deserialize)]
pub(super) struct TokensQuery {
    #[serde(default)]
    pub(super) user: Option<String>,
    /// `api` (the default) or `metrics` (administrators).
    #[serde(default)]
    pub(super) kind: Option<String>,
}

/// Only a Hangar administrator issues, lists or revokes metrics tokens:
/// they read every team's metrics.
pub(super) fn metrics_tokens_need_an_administrator(p: &Principal) -> Result<(), ApiError> {
    if p.is_superuser() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "metrics tokens read every team's metrics; only a Hangar administrator manages them",
        ))
    }
}

/// A token kind a caller may ask for by name.
pub(super) fn token_kind(kind: Option<&str>) -> Result<&'static str, ApiError> {
    match kind.unwrap_or("api") {
        "api" => Ok("api"),
        "metrics" => Ok("metrics"),
        other => Err(ApiError::new(
            ErrorCode::InvalidTokenKind,
            format!(
                "unknown token kind {:?}: expected api or metrics",
                other.chars().take(20).collect::<String>()
            ),
        )),
    }
}

pub(super) async fn list_tokens(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    Query(q): Query<TokensQuery>,
) -> Result<Json<wire::TokenList>, ApiError> {
    if token_kind(q.kind.as_deref())? == "metrics" {
        metrics_tokens_need_an_administrator(&a.principal)?;
        let tokens = state
            .db
            .list_tokens("metrics", None)
            .await?
            .iter()
            .map(token_out)
            .collect();
        return Ok(Json(wire::TokenList { tokens }));
    }
    let user = match q.user {
        Some(u) if u != a.principal.name && !a.principal.is_superuser() => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "only a Hangar administrator may list another user's tokens",
            ))
        }
        Some(u) => u,
        None => a.principal.name.clone(),
    };
    let tokens = state
        .db
        .list_tokens("api", Some(&user))
        .await?
        .iter()
        .map(token_out)
        .collect();
    Ok(Json(wire::TokenList { tokens }))
}

pub(super) async fn create_token(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    JsonBody(body): JsonBody<wire::NewToken>,
) -> Result<Response, ApiError> {
    if token_kind(body.kind.as_deref())? == "metrics" {
        metrics_tokens_need_an_administrator(&a.principal)?;
        if body.user.is_some() {
            return Err(ApiError::new(
                ErrorCode::InvalidTokenKind,
                "a metrics token belongs to no user: leave out `user`",
            ));
        }
        let expires = body.expires.as_deref().map(parse_expiry).transpose()?;
        let name: String = body.name.unwrap_or_default().chars().take(100).collect();
        let (secret, record) =
            issue(&state, "metrics", None, &name, expires, &a.principal.name).await?;
        let created = wire::CreatedToken {
            token: token_out(&record),
            secret: secret.token,
        };
        return Ok((StatusCode::CREATED, Json(created)).into_response());
    }
    let user = body.user.unwrap_or_else(|| a.principal.name.clone());
    if user != a.principal.name && !a.principal.is_superuser() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only a Hangar administrator may create a token for another user",
        ));
    }
    state.db.get_user(&user).await?;
    let expires = body.expires.as_deref().map(parse_expiry).transpose()?;
    let name: String = body.name.unwrap_or_default().chars().take(100).collect();
    let (secret, record) = issue(
        &state,
        "api",
        Some(&user),
        &name,
        expires,
        &a.principal.name,
    )
    .await?;
    let created = wire::CreatedToken {
        token: token_out(&record),
        secret: secret.token,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

pub(super) async fn revoke_token(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    Path(id): Path<String>,
) -> Result<Json<wire::Token>, ApiError> {
    let t = state.db.get_token(&id).await?;
    let own = t.user.as_deref() == Some(a.principal.name.as_str());
    if t.kind == "consumer" || !(own || a.principal.is_superuser()) {
        // Another user's token, a consumer key, or (for anyone but an
        // administrator) a metrics token: as if it did not exist.
        return Err(ApiError::missing(hangar_store::Missing::Token(id)));
    }
    let t = state.db.revoke_token(&id).await?;
    state.auth.forget(&id);
    Ok(Json(token_out(&t)))
}
