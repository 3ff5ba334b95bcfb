//! Metadata in SQLite: models, versions, aliases (with history) and
//! deployments. All SQL lives here.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hangar_core::{ArtifactFormat, Signature};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, TransactionManager};

use crate::{StoreError, StoredArtifact};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The embedded backend: one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The SQLite file (the prediction log's writer opens its own
    /// connection to it).
    path: std::sync::Arc<std::path::PathBuf>,
}

/// Everything about a new version except its number, which the store
/// allocates.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub artifact: StoredArtifact,
    pub format: ArtifactFormat,
    pub signature: Signature,
    pub feature_names: Option<Vec<String>>,
    pub description: String,
    pub source_commit: Option<String>,
    pub training_run: Option<String>,
    pub metrics: BTreeMap<String, f64>,
    pub metadata: BTreeMap<String, String>,
}

/// Where an alias points now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasState {
    pub alias: String,
    pub version: u32,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

pub(crate) fn ts_pub(t: DateTime<Utc>) -> String {
    ts(t)
}

pub(crate) fn parse_ts_pub(s: &str) -> Result<DateTime<Utc>, StoreError> {
    parse_ts(s)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Invalid(format!("timestamp {s:?}: {e}")))
}

pub(crate) fn json<T: for<'de> Deserialize<'de>>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub(crate) mod aliases;
pub(crate) mod deployments;
pub(crate) mod models;

/// Creates `path` empty with mode 0600 when it does not exist; an existing
/// file is left as it is.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl SqliteStore {
    /// Opens (creating) the SQLite file and applies pending migrations.
    /// A new file is created readable by its owner only (0600); SQLite
    /// gives its WAL and shared-memory files the same permissions.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        create_private(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A connection still inside a transaction when it comes back is
            // closed, not reused. That happens when SQLite itself rolled the
            // transaction back (a COMMIT that failed with SQLITE_FULL): sqlx's
            // own ROLLBACK then fails, its transaction depth stays at one,
            // and every later `BEGIN IMMEDIATE` on that connection would fail
            // ("non-zero transaction depth") long after the disk has room.
            .after_release(|conn, _| {
                let depth =
                    <Sqlite as sqlx::Database>::TransactionManager::get_transaction_depth(conn);
                Box::pin(async move { Ok(depth == 0) })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore {
            pool,
            path: std::sync::Arc::new(path.to_path_buf()),
        })
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl crate::repo::Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn prediction_writer(&self) -> Result<Box<dyn crate::repo::PredictionLog>, StoreError> {
        Ok(Box::new(crate::PredictionWriter::open(&self.path)?))
    }

    fn feedback_writer(&self) -> Result<Box<dyn crate::repo::FeedbackLog>, StoreError> {
        Ok(Box::new(crate::FeedbackWriter::open(&self.path)?))
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
