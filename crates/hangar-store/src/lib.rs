//! Hangar's persistence: metadata in a database (SQLite, the embedded
//! default, or PostgreSQL; schema migrations applied at start) and artifacts
//! as content-addressed objects (files, or S3-compatible object storage,
//! with a local cache).
//!
//! **API boundary:** only this crate knows SQL and file layout; it takes and
//! returns `hangar-core` domain types. The storage traits are in [`repo`];
//! [`Db`] is the one handle callers hold, whatever the backend.

mod alerts;
mod artifacts;
pub mod copy;
mod db;
mod feedback;
mod governance;
mod log_writer;
mod monitoring;
mod postgres;
pub mod repo;

pub use alerts::{AlertEventRecord, ChannelRecord, DeliveryRecord};
pub use artifacts::{ArtifactStore, Staged, StoredArtifact, Upload};
pub use db::{AliasState, NewVersion, SqliteStore};
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
pub use postgres::PostgresStore;
pub use repo::{FeedbackLog, PredictionLog, RowSink, Store};

/// The store: a handle on one backend, cheap to clone. It dereferences to
/// [`Store`], so every area's methods are called on it directly
/// (`db.get_model(..)`).
#[derive(Clone)]
pub struct Db {
    inner: std::sync::Arc<dyn Store>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.inner.backend())
            .finish()
    }
}

impl std::ops::Deref for Db {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        &*self.inner
    }
}

impl Db {
    /// Opens (creating) the embedded SQLite file and applies pending
    /// migrations.
    pub async fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        Ok(Db::from_backend(SqliteStore::open(path).await?))
    }

    /// Opens the database a URL names: `sqlite://PATH` (the embedded
    /// default) or `postgres://USER[:PASS]@HOST:PORT/DB` (`postgresql://`
    /// too). Applies pending migrations either way.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() {
                return Err(StoreError::Invalid(
                    "database URL: sqlite:// needs a file path (sqlite:///var/lib/hangar/hangar.db)".into(),
                ));
            }
            return Db::open(std::path::Path::new(path)).await;
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Db::from_backend(PostgresStore::connect(url).await?));
        }
        Err(StoreError::Invalid(format!(
            "database URL {:?}: expected sqlite://PATH or postgres://USER@HOST:PORT/DB",
            redact_url(url)
        )))
    }

    /// Wraps one backend.
    pub fn from_backend(backend: impl Store + 'static) -> Self {
        Db {
            inner: std::sync::Arc::new(backend),
        }
    }
}

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
    /// The database cannot be reached (refused, timed out, the pool could
    /// not get a connection): the server answers 503 `database_unavailable`
    /// at once, and retries on the next call.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The object storage that holds artifacts cannot be reached or
    /// refuses (credentials, permissions, a server error): what was being
    /// pushed was not stored. The server answers 503
    /// `artifacts_unavailable`; loads from the local cache go on.
    #[error("the artifact store is unavailable: {0}")]
    ArtifactsUnavailable(String),
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

/// A URL with its password, if any, replaced by `***` (for messages and
/// logs).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.split_once('@') {
        Some((auth, host)) => (auth, host),
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
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
        let unavailable = matches!(
            &e,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
        ) || matches!(&e, sqlx::Error::Database(d) if d.code().is_some_and(|c| {
            // PostgreSQL's class 08 (connection exception) and 57P01-57P03
            // (admin shutdown, crash shutdown, cannot connect now).
            c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")
        }));
        if full {
            StoreError::StorageFull(e.to_string())
        } else if unavailable {
            StoreError::Unavailable(e.to_string())
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
