//! The page's buttons: promote, roll back.

use super::*;

pub(super) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

pub(super) fn message_field(body: &[u8]) -> String {
    form_field(body, "message")
        .unwrap_or_default()
        .chars()
        .take(4096)
        .collect()
}

pub(crate) async fn rollback(
    State(state): State<AppState>,
    Extension(a): Viewer,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let message = message_field(&body);
    let done = state
        .serving
        .rollback(&name, None, &message, &a.principal.name)
        .await;
    after_action(&name, "roll back", done.map(|_| ()).map_err(ApiError::from))
}

pub(crate) async fn promote(
    State(state): State<AppState>,
    Extension(a): Viewer,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let message = message_field(&body);
    let done = state
        .serving
        .promote(&name, &message, &a.principal.name)
        .await;
    after_action(&name, "promote", done.map(|_| ()).map_err(ApiError::from))
}

pub(super) fn after_action(name: &str, what: &str, done: Result<(), ApiError>) -> Response {
    match done {
        Ok(()) => see_other(&format!("/deployments/{}?done={}", url(name), url(what))),
        Err(e) => {
            let msg = if crate::http::error::status(e.code).is_server_error() {
                "the change could not be made; the cause is in the server log".to_string()
            } else {
                e.message
            };
            see_other(&format!(
                "/deployments/{}?error={}#actions",
                url(name),
                url(&msg)
            ))
        }
    }
}
