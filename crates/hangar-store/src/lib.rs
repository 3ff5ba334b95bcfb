//! Hangar's persistence: metadata in SQLite through sqlx (schema migrations
//! applied at start) and artifacts as content-addressed files.
//!
//! **API boundary:** only this crate knows SQL and file layout; it takes and
//! returns `hangar-core` domain types.

mod alerts;
mod artifacts;
mod db;
mod feedback;
mod governance;
mod log_writer;
mod monitoring;

pub use alerts::{AlertEventRecord, ChannelRecord, DeliveryRecord};
pub use artifacts::{ArtifactStore, Staged, StoredArtifact, Upload};
pub use db::{AliasState, Db, NewVersion};
pub use feedback::{FeedbackWriter, FoundRow};
pub use governance::{
    ApprovalRecord, AuditFilter, NewAuditEntry, SignatureRecord, TeamRecord, TokenRecord,
    TrustedKey, UserRecord,
};
pub use log_writer::{LogRow, LogSink, PredictionWriter};
pub use monitoring::{
    decode_features_into, encode_f32_features_into, encode_features_into, AggregateKey,
    BaselineRecord, FeedbackKey, LabelledRow, PredictionRecord,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("artifact is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("artifact {digest} is corrupt: its content hashes to {actual}")]
    Corrupt { digest: String, actual: String },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is invalid: {0}")]
    Invalid(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
