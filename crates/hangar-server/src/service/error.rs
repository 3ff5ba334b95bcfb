//! The service layer's error: what went wrong, with no transport in it.
//! Each edge maps [`ErrorCode`] to its own answer with one exhaustive match
//! (`http::error::status`, `grpc::status::code`), and logs an internal
//! cause once, where it answers.

use hangar_store::StoreError;

/// One stable code per kind of failure; the edges show [`ErrorCode::as_str`]
/// to clients as `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    InvalidName,
    NotFound,
    Conflict,
    PayloadTooLarge,
    UnsupportedModel,
    NotReady,
    Busy,
    Overloaded,
    DeadlineExceeded,
    MemoryBudget,
    /// No credential, or one that is unknown, expired or revoked.
    Unauthenticated,
    /// A valid principal without the permission.
    Forbidden,
    /// A high-risk version without four-eyes approval, or an unsigned
    /// version where the deployment requires a trusted signature.
    ApprovalRequired,
    /// A key over its request rate.
    RateLimited,
    /// The route exists, but not with this method.
    MethodNotAllowed,
    /// The data directory's disk is full.
    InsufficientStorage,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::InvalidName => "invalid_name",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedModel => "unsupported_model",
            ErrorCode::NotReady => "not_ready",
            ErrorCode::Busy => "busy",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::DeadlineExceeded => "deadline_exceeded",
            ErrorCode::MemoryBudget => "memory_budget",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::ApprovalRequired => "approval_required",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::InsufficientStorage => "insufficient_storage",
            ErrorCode::Internal => "internal",
        }
    }
}

/// What the caller reads for a fault; the cause is in the server log.
pub const INTERNAL: &str = "internal server error; the cause is in the server log";

/// What the caller reads when the disk is full.
pub const STORAGE_FULL: &str =
    "the server's disk is full: nothing was stored; free space in its data directory, then retry";

/// A service call's failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Refused, with a reason the caller may read.
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    /// The data directory's disk is full; the cause names server paths, so
    /// callers are only told that it is full.
    #[error("the data directory's disk is full: {0}")]
    StorageFull(String),
    /// A fault of the server; the cause is logged by the edge that answers,
    /// never shown to the caller.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        match code {
            ErrorCode::Internal => Error::Internal(message.into()),
            code => Error::Refused {
                code,
                message: message.into(),
            },
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// A fault whose cause (`cause`) must not reach the caller.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Error::Internal(cause.to_string())
    }

    /// What the caller may read: the reason of a refusal; never the cause
    /// of a fault.
    pub fn message(&self) -> &str {
        match self {
            Error::Refused { message, .. } => message,
            Error::StorageFull(_) => STORAGE_FULL,
            Error::Internal(_) => INTERNAL,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Refused { code, .. } => *code,
            Error::StorageFull(_) => ErrorCode::InsufficientStorage,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Error::not_found(format!("{what} not found")),
            StoreError::Conflict(msg) => Error::new(ErrorCode::Conflict, msg),
            StoreError::TooLarge { limit } => Error::new(
                ErrorCode::PayloadTooLarge,
                format!("artifact is larger than the upload limit of {limit} bytes"),
            ),
            StoreError::StorageFull(cause) => Error::StorageFull(cause),
            e @ (StoreError::Corrupt { .. }
            | StoreError::Db(_)
            | StoreError::Sqlite(_)
            | StoreError::Migrate(_)
            | StoreError::Invalid(_)
            | StoreError::Io(_)) => Error::internal(e),
        }
    }
}

impl From<hangar_core::NameError> for Error {
    fn from(e: hangar_core::NameError) -> Self {
        Error::new(ErrorCode::InvalidName, e.to_string())
    }
}
