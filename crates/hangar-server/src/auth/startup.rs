//! The first administrator, and the security headers on every answer.

use super::*;

/// Bootstraps the first Hangar administrator: when no administrator exists,
/// user `admin` is created with a token — `HANGAR_ADMIN_TOKEN` when given,
/// otherwise a new random one, returned so that the binary prints it once.
/// When the administrator exists and `HANGAR_ADMIN_TOKEN` is given, that
/// token is made valid for it (idempotent).
pub async fn bootstrap_admin(
    state: &AppState,
    admin_token: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let exists = state.db.has_superuser().await?;
    if exists && admin_token.is_none() {
        return Ok(None);
    }
    if !exists {
        match state
            .db
            .create_user("admin", None, true, &[], "hangar")
            .await
        {
            Ok(_) | Err(StoreError::Taken(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let (id, token, secret_hash) = match admin_token {
        Some(t) => {
            if t.len() < 16 {
                return Err(ApiError::bad_request(
                    "HANGAR_ADMIN_TOKEN must be at least 16 characters long",
                ));
            }
            let (id, h) = token_parts(t);
            (id, t.to_string(), h)
        }
        None => {
            let s = new_secret();
            (s.id, s.token, s.secret_hash)
        }
    };
    if state.db.get_token(&id).await.is_ok() {
        return Ok(None);
    }
    state
        .db
        .create_token(&TokenRecord {
            id,
            kind: "api".into(),
            user: Some("admin".into()),
            secret_hash,
            name: "bootstrap administrator token".into(),
            deployments: vec![],
            purpose: String::new(),
            rate_limit: None,
            created_at: Utc::now(),
            created_by: "hangar".into(),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        })
        .await?;
    append(
        state,
        NewAuditEntry {
            actor: "hangar".into(),
            address: "local".into(),
            action: "bootstrap administrator".into(),
            object: "users/admin".into(),
            outcome: "ok".into(),
            detail: "{}".into(),
            teams: Vec::new(),
        },
    )
    .await;
    Ok(if admin_token.is_some() {
        None
    } else {
        Some(token)
    })
}

/// Security headers on every answer (pages especially).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    let is_html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        h.insert(
            "content-security-policy",
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                 script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            ),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
