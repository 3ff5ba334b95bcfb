//! Errors as the HTTP edge answers them. Every management API error has the
//! shape `{"error": "...", "code": "..."}` (the codes are the service's,
//! `service::error::ErrorCode`, listed in docs/errors.md); the V2 inference
//! routes keep the protocol's `{"error": "..."}`. A 5xx never shows internal
//! text to the caller: the cause goes to the log, once, here.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hangar_store::StoreError;

use crate::service::error::{Backend, Error, INTERNAL, STORAGE_FULL};

use crate::service::error::Class;
pub use crate::service::error::ErrorCode;

/// The HTTP status of an error code: one exhaustive match, so a new code
/// cannot ship without an answer.
pub fn status(code: ErrorCode) -> StatusCode {
    match code.class() {
        Class::Invalid => StatusCode::BAD_REQUEST,
        Class::NotFound => StatusCode::NOT_FOUND,
        Class::Exists => StatusCode::CONFLICT,
        Class::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Class::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Class::OverBudget => StatusCode::SERVICE_UNAVAILABLE,
        Class::Overloaded => StatusCode::TOO_MANY_REQUESTS,
        Class::Unauthenticated => StatusCode::UNAUTHORIZED,
        Class::Denied => StatusCode::FORBIDDEN,
        Class::TimedOut => StatusCode::GATEWAY_TIMEOUT,
        Class::NoSuchMethod => StatusCode::METHOD_NOT_ALLOWED,
        Class::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
        Class::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// `what` is not there, or is hidden from the caller (who must not
    /// tell the two apart): its specific code, and the store's message.
    pub fn missing(what: hangar_store::Missing) -> Self {
        StoreError::NotFound(what).into()
    }

    /// The data directory's disk is full: logs `cause` and says so (507)
    /// without revealing where the server keeps its files.
    pub fn storage_full(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "refused: the data directory's disk is full");
        Self::new(ErrorCode::InsufficientStorage, STORAGE_FULL)
    }

    /// A backend is out of reach: logs `cause` (an address, a driver's
    /// error) and tells the caller only which backend, with 503.
    pub fn unavailable(backend: Backend, cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "refused: {backend} is unavailable");
        Self::new(backend.code(), backend.message())
    }

    /// Logs `cause` and returns an error that does not reveal it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }

    /// The message the caller may see.
    fn public_message(&self) -> &str {
        if self.code == ErrorCode::Internal {
            INTERNAL
        } else {
            &self.message
        }
    }

    fn finish(&self, mut response: Response) -> Response {
        if matches!(
            self.code,
            ErrorCode::Busy | ErrorCode::Overloaded | ErrorCode::RateLimited
        ) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.code == ErrorCode::Unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hangar\""),
            );
        }
        response
    }

    /// The V2 protocol's shape: `{"error": "..."}`.
    pub fn into_v2_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.public_message() }));
        self.finish((status(self.code), body).into_response())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            Json(serde_json::json!({ "error": self.public_message(), "code": self.code.as_str() }));
        self.finish((status(self.code), body).into_response())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Error::from(e).into()
    }
}

impl From<hangar_core::NameError> for ApiError {
    fn from(e: hangar_core::NameError) -> Self {
        Error::from(e).into()
    }
}

/// A service's failure as the HTTP edge answers it; an internal cause is
/// logged here, once.
impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Refused { code, message } => ApiError::new(code, message),
            Error::StorageFull(cause) => ApiError::storage_full(cause),
            Error::Unavailable(backend, cause) => ApiError::unavailable(backend, cause),
            Error::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// Rewrites the plain-text client errors that axum's extractors answer
/// with (a path segment that is not UTF-8, a malformed query, an unreadable
/// body) into the API's error shape, so every error a client sees is JSON:
/// `{"error", "code"}`, or the V2 protocol's `{"error"}` under `/v2/`.
pub async fn json_rejections(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let v2 = req.uri().path().starts_with("/v2/");
    let response = next.run(req).await;
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(plain && response.status().is_client_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    // A rejection is one short line; anything longer is cut.
    let bytes = axum::body::to_bytes(body, 16 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let code = match parts.status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        _ => ErrorCode::BadRequest,
    };
    let error = ApiError::new(code, text.trim().to_string());
    let mut out = if v2 {
        error.into_v2_response()
    } else {
        error.into_response()
    };
    *out.status_mut() = parts.status;
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_not_found_codes_are_the_404s() {
        for &code in ErrorCode::ALL {
            assert_eq!(
                code.is_not_found(),
                status(code) == StatusCode::NOT_FOUND,
                "{code:?}"
            );
        }
    }
}
