//! The service layer's error: what went wrong, with no transport in it.
//! Each edge maps [`ErrorCode`] to its own answer with one exhaustive match
//! (`http::error::status`, `grpc::status::code`), and logs an internal
//! cause once, where it answers.

use hangar_store::{Missing, StoreError};

/// Declares [`ErrorCode`] and its [`ErrorCode::ALL`] list from one table, so
/// the list cannot miss a code (meilisearch's `make_error_codes!` does the
/// same). The statuses stay at the edges: `http::error::status` and
/// `grpc::status::code`, each an exhaustive match.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)*) => {
        /// One stable code per kind of failure; the edges show
        /// [`ErrorCode::as_str`] to clients as `code`. Listed with their
        /// statuses in docs/errors.md (a test keeps the two in step).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    // ---- the request is malformed or invalid (400) ----------------------
    /// Malformed: a body that is not the JSON or multipart the route takes,
    /// a bad query string or path segment, or a field out of range that has
    /// no more specific code.
    BadRequest => "bad_request",
    /// A model, deployment, alias, team or user name breaks the naming rules.
    InvalidName => "invalid_name",
    /// A version number that is not a number (versions are 1, 2, 3…).
    InvalidVersion => "invalid_version",
    /// A routing table that cannot be served: no routes, weights not summing
    /// to 100, a route twice, a live shadow, a bad canary weight, or a
    /// `model`/`canary`/`routes` combination that names none.
    InvalidRoutes => "invalid_routes",
    /// Deployment settings out of range (timeouts, limits, guardrails).
    InvalidSettings => "invalid_settings",
    /// Promote or drop a canary on a deployment that has none.
    NoCanary => "no_canary",
    /// A rollback target that is not an earlier revision.
    InvalidRollback => "invalid_rollback",
    /// A model card field too long, or a risk tier that is not one.
    InvalidModelCard => "invalid_model_card",
    /// Feature names that do not fit the model's input.
    InvalidFeatures => "invalid_features",
    /// An artifact that Hangar cannot serve.
    UnsupportedModel => "unsupported_model",
    /// A baseline upload that cannot be read or matched to the version.
    InvalidBaseline => "invalid_baseline",
    /// An inference request whose body, inputs, headers or request id the
    /// model cannot take.
    InvalidInferenceRequest => "invalid_inference_request",
    /// A feedback upload (CSV or JSON) that cannot be read or applied.
    InvalidFeedback => "invalid_feedback",
    /// A time or time range that cannot be read, or `from` after `to`.
    InvalidTime => "invalid_time",
    /// An alert rule that cannot be evaluated.
    InvalidAlertRule => "invalid_alert_rule",
    /// An alert channel of an unknown kind or with an unusable target.
    InvalidChannel => "invalid_channel",
    /// A password too short or too long.
    InvalidPassword => "invalid_password",
    /// A role that is not one, or a team without a role.
    InvalidRole => "invalid_role",
    /// A token kind that is not one, or fields its kind does not take.
    InvalidTokenKind => "invalid_token_kind",
    /// An expiry that cannot be read, or one in the past.
    InvalidExpiry => "invalid_expiry",
    /// A consumer key without deployments, purpose or a usable rate limit.
    InvalidConsumerKey => "invalid_consumer_key",
    /// An approval decision other than approve or reject, or no comment.
    InvalidDecision => "invalid_decision",
    /// A public key that is not an Ed25519 key in hex.
    InvalidPublicKey => "invalid_public_key",
    // ---- who is asking (401, 403, 429) ----------------------------------
    /// No credential, or one that is unknown, expired or revoked.
    Unauthenticated => "unauthenticated",
    /// A valid principal without the permission.
    Forbidden => "forbidden",
    /// A high-risk version without four-eyes approval, or an unsigned
    /// version where the deployment requires a trusted signature.
    ApprovalRequired => "approval_required",
    /// A key over its request rate, or too many failed sign-ins.
    RateLimited => "rate_limited",
    // ---- what is asked for does not exist (404) -------------------------
    /// No such route, or a team or user named inside another object that
    /// does not exist.
    NotFound => "not_found",
    ModelNotFound => "model_not_found",
    VersionNotFound => "version_not_found",
    AliasNotFound => "alias_not_found",
    DeploymentNotFound => "deployment_not_found",
    RevisionNotFound => "revision_not_found",
    BaselineNotFound => "baseline_not_found",
    /// An artifact file missing from the artifact store.
    ArtifactNotFound => "artifact_not_found",
    AlertRuleNotFound => "alert_rule_not_found",
    /// No firing alert of that rule on that deployment.
    AlertNotFound => "alert_not_found",
    ChannelNotFound => "channel_not_found",
    TeamNotFound => "team_not_found",
    UserNotFound => "user_not_found",
    /// An API token, metrics token or consumer key.
    TokenNotFound => "token_not_found",
    // ---- the state does not allow it (405, 409) -------------------------
    /// The route exists, but not with this method.
    MethodNotAllowed => "method_not_allowed",
    /// Creating something whose name is taken (a model, team, user, token
    /// or trusted key that exists).
    NameTaken => "name_taken",
    /// The change no longer fits what is stored (someone else changed it
    /// meanwhile, or it would break something that depends on it).
    Conflict => "conflict",
    // ---- too much (413, 429, 503, 504, 507) -----------------------------
    PayloadTooLarge => "payload_too_large",
    /// A deployment or version at its concurrency or queue limit.
    Overloaded => "overloaded",
    /// The shared inference pool is full.
    Busy => "busy",
    /// A version that is still loading, cannot be loaded, or a server
    /// shutting down.
    NotReady => "not_ready",
    /// Loading the version would exceed the model memory budget.
    MemoryBudget => "memory_budget",
    /// The request's deadline passed before the model ran it.
    DeadlineExceeded => "deadline_exceeded",
    /// The data directory's disk is full.
    InsufficientStorage => "insufficient_storage",
    // ---- a backend is down (503) ----------------------------------------
    /// The database (PostgreSQL) cannot be reached: nothing was read or
    /// changed; loaded versions keep serving.
    DatabaseUnavailable => "database_unavailable",
    /// The artifact store (object storage) cannot be reached: nothing was
    /// stored; loaded and cached versions keep serving.
    ArtifactsUnavailable => "artifacts_unavailable",
    // ---- the server's fault (500) ---------------------------------------
    Internal => "internal",
}

/// What kind of failure a code is. The edges answer by class, each with
/// one exhaustive match (`http::error::status`, `grpc::status::code`), so a
/// new code needs only its class here and a new class an answer at both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The request is malformed or asks for something impossible.
    Invalid,
    /// Something asked for is not there (or not visible to the caller).
    NotFound,
    /// It exists already, or changed meanwhile.
    Exists,
    /// Past a size limit.
    TooLarge,
    /// Not ready, the shared inference pool full, or a backend (the
    /// database, the artifact store) out of reach: the server as a whole,
    /// for now.
    Unavailable,
    /// Loading the version would exceed the model memory budget.
    OverBudget,
    /// A per-version queue, concurrency limit or key rate is full: a quota, retry later.
    Overloaded,
    /// No credential, or one that is not valid.
    Unauthenticated,
    /// A known caller without the permission or the approval.
    Denied,
    /// The request's deadline passed.
    TimedOut,
    /// The route exists, not with this method.
    NoSuchMethod,
    /// The data directory's disk is full.
    StorageFull,
    /// A fault of the server.
    Internal,
}

impl ErrorCode {
    pub fn class(self) -> Class {
        match self {
            ErrorCode::BadRequest
            | ErrorCode::InvalidName
            | ErrorCode::InvalidVersion
            | ErrorCode::InvalidRoutes
            | ErrorCode::InvalidSettings
            | ErrorCode::NoCanary
            | ErrorCode::InvalidRollback
            | ErrorCode::InvalidModelCard
            | ErrorCode::InvalidFeatures
            | ErrorCode::UnsupportedModel
            | ErrorCode::InvalidBaseline
            | ErrorCode::InvalidInferenceRequest
            | ErrorCode::InvalidFeedback
            | ErrorCode::InvalidTime
            | ErrorCode::InvalidAlertRule
            | ErrorCode::InvalidChannel
            | ErrorCode::InvalidPassword
            | ErrorCode::InvalidRole
            | ErrorCode::InvalidTokenKind
            | ErrorCode::InvalidExpiry
            | ErrorCode::InvalidConsumerKey
            | ErrorCode::InvalidDecision
            | ErrorCode::InvalidPublicKey => Class::Invalid,
            ErrorCode::NotFound
            | ErrorCode::ModelNotFound
            | ErrorCode::VersionNotFound
            | ErrorCode::AliasNotFound
            | ErrorCode::DeploymentNotFound
            | ErrorCode::RevisionNotFound
            | ErrorCode::BaselineNotFound
            | ErrorCode::ArtifactNotFound
            | ErrorCode::AlertRuleNotFound
            | ErrorCode::AlertNotFound
            | ErrorCode::ChannelNotFound
            | ErrorCode::TeamNotFound
            | ErrorCode::UserNotFound
            | ErrorCode::TokenNotFound => Class::NotFound,
            ErrorCode::NameTaken | ErrorCode::Conflict => Class::Exists,
            ErrorCode::PayloadTooLarge => Class::TooLarge,
            ErrorCode::NotReady
            | ErrorCode::Busy
            | ErrorCode::DatabaseUnavailable
            | ErrorCode::ArtifactsUnavailable => Class::Unavailable,
            ErrorCode::MemoryBudget => Class::OverBudget,
            ErrorCode::Overloaded | ErrorCode::RateLimited => Class::Overloaded,
            ErrorCode::Unauthenticated => Class::Unauthenticated,
            ErrorCode::Forbidden | ErrorCode::ApprovalRequired => Class::Denied,
            ErrorCode::DeadlineExceeded => Class::TimedOut,
            ErrorCode::MethodNotAllowed => Class::NoSuchMethod,
            ErrorCode::InsufficientStorage => Class::StorageFull,
            ErrorCode::Internal => Class::Internal,
        }
    }

    /// Something asked for is not there (the HTTP edge's 404).
    pub fn is_not_found(self) -> bool {
        self.class() == Class::NotFound
    }
}

/// What the caller reads for a fault; the cause is in the server log.
pub const INTERNAL: &str = "internal server error; the cause is in the server log";

/// What the caller reads when the disk is full.
pub const STORAGE_FULL: &str =
    "the server's disk is full: nothing was stored; free space in its data directory, then retry";

/// What the caller reads when the database cannot be reached.
pub const DATABASE_UNAVAILABLE: &str =
    "the database is unavailable: nothing was read or changed; retry shortly";

/// What the caller reads when the artifact store cannot be reached.
pub const ARTIFACTS_UNAVAILABLE: &str =
    "the artifact store is unavailable: nothing was stored; retry shortly";

/// A backend the server reaches over the network, which can be down while
/// the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The metadata database (PostgreSQL).
    Database,
    /// The artifact store (object storage).
    Artifacts,
}

impl Backend {
    pub fn code(self) -> ErrorCode {
        match self {
            Backend::Database => ErrorCode::DatabaseUnavailable,
            Backend::Artifacts => ErrorCode::ArtifactsUnavailable,
        }
    }

    /// What the caller reads: which backend, never its address or error.
    pub fn message(self) -> &'static str {
        match self {
            Backend::Database => DATABASE_UNAVAILABLE,
            Backend::Artifacts => ARTIFACTS_UNAVAILABLE,
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Database => "the database",
            Backend::Artifacts => "the artifact store",
        })
    }
}

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
    /// A backend cannot be reached; the cause (an address, a driver's
    /// error) is logged by the edge that answers, the caller is told which
    /// backend and to retry.
    #[error("{0} is unavailable: {1}")]
    Unavailable(Backend, String),
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
            Error::Unavailable(backend, _) => backend.message(),
            Error::Internal(_) => INTERNAL,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Refused { code, .. } => *code,
            Error::StorageFull(_) => ErrorCode::InsufficientStorage,
            Error::Unavailable(backend, _) => backend.code(),
            Error::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => {
                Error::new(not_found_code(&what), format!("{what} not found"))
            }
            StoreError::Taken(msg) => Error::new(ErrorCode::NameTaken, msg),
            StoreError::Conflict(msg) => Error::new(ErrorCode::Conflict, msg),
            StoreError::TooLarge { limit } => Error::new(
                ErrorCode::PayloadTooLarge,
                format!("artifact is larger than the upload limit of {limit} bytes"),
            ),
            StoreError::StorageFull(cause) => Error::StorageFull(cause),
            StoreError::Unavailable(cause) => Error::Unavailable(Backend::Database, cause),
            StoreError::ArtifactsUnavailable(cause) => {
                Error::Unavailable(Backend::Artifacts, cause)
            }
            e @ (StoreError::Corrupt { .. }
            | StoreError::Db(_)
            | StoreError::Sqlite(_)
            | StoreError::Migrate(_)
            | StoreError::Invalid(_)
            | StoreError::Io(_)) => Error::internal(e),
        }
    }
}

/// The code for a lookup that found nothing: one per kind of object.
pub fn not_found_code(what: &Missing) -> ErrorCode {
    match what {
        Missing::Model(_) => ErrorCode::ModelNotFound,
        Missing::Version { .. } => ErrorCode::VersionNotFound,
        Missing::Alias { .. } => ErrorCode::AliasNotFound,
        Missing::Deployment(_) => ErrorCode::DeploymentNotFound,
        Missing::Revision { .. } => ErrorCode::RevisionNotFound,
        Missing::Baseline { .. } => ErrorCode::BaselineNotFound,
        Missing::Artifact(_) => ErrorCode::ArtifactNotFound,
        Missing::AlertRule { .. } => ErrorCode::AlertRuleNotFound,
        Missing::Channel(_) => ErrorCode::ChannelNotFound,
        Missing::Team(_) => ErrorCode::TeamNotFound,
        Missing::User(_) => ErrorCode::UserNotFound,
        Missing::Token(_) => ErrorCode::TokenNotFound,
        Missing::TeamOrUser(_) => ErrorCode::NotFound,
    }
}

impl From<hangar_core::NameError> for Error {
    fn from(e: hangar_core::NameError) -> Self {
        Error::new(ErrorCode::InvalidName, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;

    /// docs/errors.md's table: code → (HTTP column, gRPC column).
    fn documented() -> BTreeMap<String, (String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md");
        let text = std::fs::read_to_string(path).expect("docs/errors.md");
        let mut table = BTreeMap::new();
        for line in text.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells[1].trim_matches('`').to_string();
            let row = (cells[2].to_string(), cells[3].trim_matches('`').to_string());
            assert!(table.insert(code.clone(), row).is_none(), "{code} twice");
        }
        table
    }

    /// `NotFound` → `NOT_FOUND`, as the gRPC specification spells codes.
    #[cfg(feature = "grpc")]
    fn grpc_name(code: tonic::Code) -> String {
        let mut out = String::new();
        for (i, c) in format!("{code:?}").chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    #[test]
    fn every_code_is_listed_once_and_spelled_in_snake_case() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
        }
    }

    #[test]
    fn the_error_table_lists_every_code_with_its_statuses() {
        let mut table = documented();
        for &code in ErrorCode::ALL {
            let (http, _grpc) = table
                .remove(code.as_str())
                .unwrap_or_else(|| panic!("docs/errors.md lacks {}", code.as_str()));
            let status = crate::http::error::status(code);
            let expected = format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or_default()
            );
            assert_eq!(http, expected, "HTTP status of {}", code.as_str());
            #[cfg(feature = "grpc")]
            assert_eq!(
                _grpc,
                grpc_name(crate::grpc::status::code(code)),
                "gRPC status of {}",
                code.as_str()
            );
        }
        assert!(
            table.is_empty(),
            "docs/errors.md lists codes the server does not have: {:?}",
            table.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_store_lookup_that_finds_nothing_says_what_was_missing() {
        let check = |what: Missing, code: ErrorCode, message: &str| {
            let e = Error::from(StoreError::NotFound(what));
            assert_eq!((e.code(), e.message()), (code, message));
        };
        check(
            Missing::Model("credit".into()),
            ErrorCode::ModelNotFound,
            "model 'credit' not found",
        );
        check(
            Missing::Version {
                model: "credit".into(),
                version: 3,
            },
            ErrorCode::VersionNotFound,
            "version 3 of model 'credit' not found",
        );
        check(
            Missing::Alias {
                model: "credit".into(),
                alias: "production".into(),
            },
            ErrorCode::AliasNotFound,
            "alias 'production' of model 'credit' not found",
        );
        check(
            Missing::Deployment("api".into()),
            ErrorCode::DeploymentNotFound,
            "deployment 'api' not found",
        );
        check(
            Missing::Team("risk".into()),
            ErrorCode::TeamNotFound,
            "team 'risk' not found",
        );
        check(
            Missing::TeamOrUser("token 't1'".into()),
            ErrorCode::NotFound,
            "the team or user of token 't1' not found",
        );
        let e = Error::from(StoreError::Taken("model 'credit' already exists".into()));
        assert_eq!(e.code(), ErrorCode::NameTaken);
        let e = Error::from(StoreError::Conflict("changed meanwhile".into()));
        assert_eq!(e.code(), ErrorCode::Conflict);
    }

    #[test]
    fn an_unreachable_backend_is_named_without_its_cause() {
        let cause = "pool timed out connecting to postgres://hangar:s3cret@db.internal:5432/hangar";
        let e = Error::from(StoreError::Unavailable(cause.into()));
        assert_eq!(e.code(), ErrorCode::DatabaseUnavailable);
        assert_eq!(e.message(), DATABASE_UNAVAILABLE);
        let e = Error::from(StoreError::ArtifactsUnavailable(
            "connection refused: http://minio.internal:9000".into(),
        ));
        assert_eq!(e.code(), ErrorCode::ArtifactsUnavailable);
        assert_eq!(e.message(), ARTIFACTS_UNAVAILABLE);
        for code in [
            ErrorCode::DatabaseUnavailable,
            ErrorCode::ArtifactsUnavailable,
        ] {
            assert_eq!(code.class(), Class::Unavailable, "{code:?}");
        }
    }
}
