//! Hangar's error codes as gRPC status codes: the gRPC twin of
//! `http::error::status`, and like it an exhaustive match over the codes'
//! classes with no `_` arm, so a new class cannot ship without a gRPC answer.

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use crate::service::error::{Class, Error, ErrorCode, INTERNAL};

/// The gRPC code of an error code. Each follows the HTTP status the same
/// error gets (grpc-gateway's table read backwards): 429 Overloaded →
/// RESOURCE_EXHAUSTED, 503 Busy and NotReady → UNAVAILABLE, 413 → also
/// RESOURCE_EXHAUSTED (what gRPC itself answers for an oversized message).
pub(crate) fn code(error: ErrorCode) -> Code {
    match error.class() {
        Class::Invalid => Code::InvalidArgument,
        Class::NotFound => Code::NotFound,
        Class::Exists => Code::AlreadyExists,
        Class::TooLarge => Code::ResourceExhausted,
        Class::Unavailable => Code::Unavailable,
        Class::OverBudget => Code::ResourceExhausted,
        Class::Overloaded => Code::ResourceExhausted,
        Class::Unauthenticated => Code::Unauthenticated,
        Class::Denied => Code::PermissionDenied,
        Class::TimedOut => Code::DeadlineExceeded,
        Class::NoSuchMethod => Code::Unimplemented,
        Class::StorageFull => Code::ResourceExhausted,
        Class::Internal => Code::Internal,
    }
}

/// The status for a service error; internal text never reaches the caller
/// (its cause is logged here, once). Load shedding carries `retry-after: 1`
/// like the HTTP answer's header.
pub(crate) fn status(error: impl Into<Error>) -> Status {
    let error = error.into();
    let code = error.code();
    match &error {
        Error::Internal(cause) => tracing::error!(error = %cause, "internal error"),
        Error::StorageFull(cause) => {
            tracing::warn!(error = %cause, "refused: the data directory's disk is full")
        }
        Error::Unavailable(backend, cause) => {
            tracing::warn!(error = %cause, "refused: {backend} is unavailable")
        }
        Error::Refused { .. } => {}
    }
    let message = match code {
        ErrorCode::Internal => INTERNAL.to_string(),
        _ => error.message().to_string(),
    };
    if matches!(code, ErrorCode::Busy | ErrorCode::Overloaded) {
        let mut metadata = MetadataMap::new();
        metadata.insert("retry-after", MetadataValue::from_static("1"));
        Status::with_metadata(self::code(code), message, metadata)
    } else {
        Status::new(self::code(code), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(error: ErrorCode, expected: Code) {
        assert_eq!(code(error), expected, "{error:?}");
        assert_eq!(status(Error::new(error, "why")).code(), expected);
    }

    #[test]
    fn every_error_code_maps_to_the_grpc_code_of_its_http_status() {
        let table = [
            (ErrorCode::BadRequest, Code::InvalidArgument),
            (ErrorCode::InvalidName, Code::InvalidArgument),
            (ErrorCode::UnsupportedModel, Code::InvalidArgument),
            (ErrorCode::NotFound, Code::NotFound),
            (ErrorCode::Conflict, Code::AlreadyExists),
            (ErrorCode::PayloadTooLarge, Code::ResourceExhausted),
            (ErrorCode::Overloaded, Code::ResourceExhausted),
            (ErrorCode::Busy, Code::Unavailable),
            (ErrorCode::MemoryBudget, Code::ResourceExhausted),
            (ErrorCode::NotReady, Code::Unavailable),
            (ErrorCode::DeadlineExceeded, Code::DeadlineExceeded),
            (ErrorCode::Unauthenticated, Code::Unauthenticated),
            (ErrorCode::Forbidden, Code::PermissionDenied),
            (ErrorCode::ApprovalRequired, Code::PermissionDenied),
            (ErrorCode::RateLimited, Code::ResourceExhausted),
            (ErrorCode::Internal, Code::Internal),
            (ErrorCode::ModelNotFound, Code::NotFound),
            (ErrorCode::VersionNotFound, Code::NotFound),
            (ErrorCode::DeploymentNotFound, Code::NotFound),
            (ErrorCode::NameTaken, Code::AlreadyExists),
            (ErrorCode::InvalidRoutes, Code::InvalidArgument),
            (ErrorCode::InvalidInferenceRequest, Code::InvalidArgument),
            (ErrorCode::DatabaseUnavailable, Code::Unavailable),
            (ErrorCode::ArtifactsUnavailable, Code::Unavailable),
        ];
        for (error, expected) in table {
            check(error, expected);
        }
    }

    #[test]
    fn internal_errors_keep_their_cause_out_of_the_status() {
        let s = status(Error::new(ErrorCode::Internal, "sqlite: disk I/O error"));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("sqlite"), "{}", s.message());
    }

    #[test]
    fn client_errors_keep_their_message() {
        let s = status(Error::not_found("unknown model 'x'"));
        assert_eq!(s.message(), "unknown model 'x'");
    }

    #[test]
    fn load_shedding_says_when_to_retry() {
        for error in [ErrorCode::Busy, ErrorCode::Overloaded] {
            let s = status(Error::new(error, "full"));
            assert_eq!(
                s.metadata().get("retry-after").map(|v| v.to_str().unwrap()),
                Some("1"),
                "{error:?}"
            );
        }
        let s = status(Error::bad_request("no"));
        assert!(s.metadata().get("retry-after").is_none());
    }
}
