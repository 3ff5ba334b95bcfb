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
    /// A lookup found nothing; [`Missing`] says what, so the server can pick
    /// a specific error code (`model_not_found`, …) in one place.
    #[error("{0} not found")]
    NotFound(Missing),
    /// A name that must be unique is already used (a model, team, user,
    /// token or trusted key that exists).
    #[error("{0}")]
    Taken(String),
    /// The write no longer fits what is stored (someone else changed it
    /// meanwhile).
    #[error("{0}")]
    Conflict(String),
    #[error("artifact is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("artifact {digest} is corrupt: its content hashes to {actual}")]
    Corrupt { digest: String, actual: String },
    /// The disk holding the data directory is full (ENOSPC, a quota, or
    /// SQLite's SQLITE_FULL): what was being written was not stored. Kept
    /// apart from other I/O and database errors because the caller can act
    /// on it (free space) and the server answers it with 507, not 500.
    #[error("the data directory's disk is full: {0}")]
    StorageFull(String),
    #[error("database error: {0}")]
    Db(sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is invalid: {0}")]
    Invalid(String),
    #[error("i/o error: {0}")]
    Io(std::io::Error),
}

/// What a lookup did not find, with its name. Its display is the object as
/// a message names it: "model 'credit'", "version 3 of model 'credit'".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Model(String),
    Version {
        model: String,
        version: u32,
    },
    Alias {
        model: String,
        alias: String,
    },
    Deployment(String),
    Revision {
        deployment: String,
        revision: u32,
    },
    Baseline {
        model: String,
        version: u32,
    },
    /// An artifact file missing from the artifact store.
    Artifact(String),
    AlertRule {
        name: String,
        deployment: String,
    },
    Channel(String),
    Team(String),
    User(String),
    Token(String),
    /// A reference to a team or user that does not exist (a foreign key),
    /// written as part of the named object.
    TeamOrUser(String),
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Model(name) => write!(f, "model '{name}'"),
            Missing::Version { model, version } => {
                write!(f, "version {version} of model '{model}'")
            }
            Missing::Alias { model, alias } => write!(f, "alias '{alias}' of model '{model}'"),
            Missing::Deployment(name) => write!(f, "deployment '{name}'"),
            Missing::Revision {
                deployment,
                revision,
            } => {
                write!(f, "revision {revision} of deployment '{deployment}'")
            }
            Missing::Baseline { model, version } => {
                write!(f, "baseline of version {version} of model '{model}'")
            }
            Missing::Artifact(digest) => write!(f, "artifact {digest}"),
            Missing::AlertRule { name, deployment } => {
                write!(f, "alert rule '{name}' for '{deployment}'")
            }
            Missing::Channel(name) => write!(f, "channel '{name}'"),
            Missing::Team(name) => write!(f, "team '{name}'"),
            Missing::User(name) => write!(f, "user '{name}'"),
            Missing::Token(id) => write!(f, "token '{id}'"),
            Missing::TeamOrUser(what) => write!(f, "the team or user of {what}"),
        }
    }
}

/// SQLite's primary result code for "database or disk is full".
const SQLITE_FULL: i32 = 13;

/// Is this the file system saying it has no room (ENOSPC, EDQUOT)?
fn io_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

// Errors are sorted as they arrive (every `?` goes through these), so no
// caller has to remember to look for a full disk.
impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        if io_full(&e) {
            StoreError::StorageFull(e.to_string())
        } else {
            StoreError::Io(e)
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        let full = match &e {
            // SQLite reports ENOSPC while writing as SQLITE_FULL; sqlx
            // gives the extended code, whose low byte is the primary one.
            sqlx::Error::Database(d) => d
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(|c| c & 0xff == SQLITE_FULL),
            sqlx::Error::Io(io) => io_full(io),
            _ => false,
        };
        if full {
            StoreError::StorageFull(e.to_string())
        } else {
            StoreError::Db(e)
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                StoreError::StorageFull(e.to_string())
            }
            _ => StoreError::Sqlite(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_system_is_told_apart_from_other_io_errors() {
        for (errno, full) in [(28, true), (122, true), (13, false), (5, false)] {
            let e = StoreError::from(std::io::Error::from_raw_os_error(errno));
            assert_eq!(
                matches!(e, StoreError::StorageFull(_)),
                full,
                "errno {errno}: {e:?}"
            );
        }
    }

    /// SQLite's own "database or disk is full", produced for real: a file
    /// capped at a few pages (`max_page_count`) that a write outgrows.
    #[test]
    fn sqlite_full_from_rusqlite_is_storage_full() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (b BLOB); PRAGMA max_page_count = 4;")
            .unwrap();
        let err = conn
            .execute("INSERT INTO t VALUES (zeroblob(100000))", [])
            .unwrap_err();
        assert!(matches!(StoreError::from(err), StoreError::StorageFull(_)));
        let err = conn.execute("INSERT INTO nope VALUES (1)", []).unwrap_err();
        assert!(matches!(StoreError::from(err), StoreError::Sqlite(_)));
    }

    #[tokio::test]
    async fn sqlite_full_from_sqlx_is_storage_full() {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (b BLOB)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("PRAGMA max_page_count = 4")
            .execute(&mut conn)
            .await
            .unwrap();
        let err = sqlx::query("INSERT INTO t VALUES (zeroblob(100000))")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(matches!(StoreError::from(err), StoreError::StorageFull(_)));
        let err = sqlx::query("INSERT INTO nope VALUES (1)")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(matches!(StoreError::from(err), StoreError::Db(_)));
    }
}
