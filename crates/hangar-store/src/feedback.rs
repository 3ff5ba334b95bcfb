//! Feedback's own connection to the prediction log: true outcomes are
//! matched to logged rows, then written in short transactions.
//!
//! A large upload is applied in bounded batches, each in two steps: the rows
//! its keys name are found in a read transaction (WAL: it never blocks a
//! writer), then their labels are written by row id in one short IMMEDIATE
//! transaction. Between batches the write lock is free, so deployments,
//! pushes and the prediction log's writer interleave with a long upload
//! instead of waiting behind it (before, one transaction held the lock for
//! the whole upload, and other writers failed after their 10 s busy
//! timeout). Blocking: the caller runs it on a blocking thread.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, TransactionBehavior};

use crate::db::ts_pub as ts;
use crate::{FeedbackKey, StoreError};

/// Rows by a row id: the partial index on (deployment, row_id).
const BY_ROW_ID: &str =
    "SELECT id, model, version FROM predictions WHERE deployment = ?1 AND row_id = ?2";

/// Row `?2` of the requests with id `?1`: row 0's id from the request's
/// entry, plus the row (see migration 0010).
const BY_REQUEST: &str = "SELECT p.id, p.model, p.version FROM prediction_requests q \
     JOIN predictions p ON p.id = q.id + ?2 \
     WHERE q.request_id = ?1 AND p.row = ?2 AND p.deployment = ?3";

const LABEL: &str = "UPDATE predictions SET label = ?1, labeled_at = ?2 WHERE id = ?3";

/// A logged row a key named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundRow {
    /// The key's position in the batch.
    pub key: usize,
    /// The row's id in the log.
    pub id: i64,
    /// Which version answered it: a position in the `versions` list passed
    /// to [`FeedbackWriter::find`].
    pub version: usize,
}

/// Feedback's connection to the store's SQLite file.
pub struct FeedbackWriter {
    conn: Connection,
}

impl FeedbackWriter {
    /// Opens a connection to the SQLite file at `path` (already created and
    /// migrated by [`crate::SqliteStore::open`]). Blocking.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.set_prepared_statement_cache_capacity(4);
        Ok(FeedbackWriter { conn })
    }
}

/// SQLite: the rows are found in one read transaction (WAL: it never blocks
/// a writer); labels are written in one IMMEDIATE transaction (it waits for
/// the write lock up to the busy timeout).
impl crate::repo::FeedbackLog for FeedbackWriter {
    fn find(
        &mut self,
        deployment: &str,
        keys: &[FeedbackKey],
        versions: &mut Vec<(String, u32)>,
        found: &mut Vec<FoundRow>,
    ) -> Result<(), StoreError> {
        found.clear();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
        {
            let mut by_row_id = tx.prepare_cached(BY_ROW_ID)?;
            let mut by_request = tx.prepare_cached(BY_REQUEST)?;
            for (key, k) in keys.iter().enumerate() {
                let mut rows = match k {
                    FeedbackKey::RowId(id) => by_row_id.query(params![deployment, id])?,
                    FeedbackKey::Request { request_id, row } => {
                        by_request.query(params![request_id, row, deployment])?
                    }
                };
                while let Some(r) = rows.next()? {
                    let id: i64 = r.get(0)?;
                    let model = r.get_ref(1)?.as_str().unwrap_or("");
                    let number = r.get::<_, i64>(2)? as u32;
                    let version = match versions
                        .iter()
                        .position(|(m, v)| *v == number && m == model)
                    {
                        Some(i) => i,
                        None => {
                            versions.push((model.to_string(), number));
                            versions.len() - 1
                        }
                    };
                    found.push(FoundRow { key, id, version });
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn apply(&mut self, labels: &[(i64, f64)], at: DateTime<Utc>) -> Result<u64, StoreError> {
        if labels.is_empty() {
            return Ok(0);
        }
        let at = ts(at);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut n = 0;
        {
            let mut label = tx.prepare_cached(LABEL)?;
            for (id, value) in labels {
                n += label.execute(params![value, at, id])? as u64;
            }
        }
        tx.commit()?;
        Ok(n)
    }
}
