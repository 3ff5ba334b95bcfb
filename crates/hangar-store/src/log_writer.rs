//! The prediction log's bulk writer: its own SQLite connection (rusqlite)
//! with one prepared INSERT, stepped once per row inside one transaction per
//! batch. It is blocking: the caller runs it on a blocking thread.
//!
//! The table has no time index: each batch also records, per deployment and
//! minute, the range of ids its rows got (`prediction_spans`), and readers
//! find a window's rows through those ranges.
//!
//! A request's id is stored once, not per row: a request's rows get
//! consecutive ids (row r at the id of row 0 plus r, given explicitly) and
//! its id goes to `prediction_requests` under the id of its row 0.
//!
//! Why not sqlx here: a multi-row INSERT through sqlx converts every bound
//! value into an owned argument, sends the statement to sqlx's connection
//! thread and binds 17 parameters per row there; at tens of thousands of
//! rows a second that was as much CPU as SQLite's own work
//! (docs/benchmarks.md). The rows go to the same `predictions` table of the
//! same file, so every reader (sqlx) sees them as before.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, CachedStatement, Connection, TransactionBehavior};

use crate::db::ts_pub as ts;
use crate::StoreError;

/// Records (widens) the id range of a deployment's minute.
const SPAN: &str = "INSERT INTO prediction_spans (deployment, minute, first_id, last_id, rows) VALUES (?1, ?2, ?3, ?4, ?5) \
     ON CONFLICT (deployment, minute) DO UPDATE SET first_id = MIN(first_id, excluded.first_id), \
     last_id = MAX(last_id, excluded.last_id), rows = rows + excluded.rows";

/// `?1` is the row's id: none (the next one) for row 0, row 0's plus the row
/// for the others.
const INSERT: &str =
    "INSERT INTO predictions (id, deployment, at, row, row_id, revision, model, version, \
     features, inputs, outputs, score, predicted, segments, latency_us, purpose) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, '', ?10, ?11, ?12, ?13, ?14, ?15)";

/// A request's id, once, under the id of its row 0.
const REQUEST: &str = "INSERT INTO prediction_requests (id, request_id) VALUES (?1, ?2)";

/// One row of the prediction log, borrowed from the request that produced
/// it (nothing is copied to build it).
///
/// A request's rows are pushed one after the other, row 0 first: row 0
/// records the request (its `request_id` is stored once, from row 0); the
/// other rows' request fields are not read again.
#[derive(Debug, Clone, Copy)]
pub struct LogRow<'a> {
    pub deployment: &'a str,
    pub at: DateTime<Utc>,
    /// Stored once per request (read from row 0).
    pub request_id: &'a str,
    /// The row's number within its request: 0, then each next one.
    pub row: u32,
    pub row_id: Option<&'a str>,
    pub revision: u32,
    pub model: &'a str,
    pub version: u32,
    /// The row's feature values, encoded ([`crate::encode_features_into`]).
    pub features: &'a [u8],
    /// JSON object of the row's outputs.
    pub outputs: &'a str,
    pub score: Option<f64>,
    pub predicted: Option<f64>,
    /// JSON object of segment attribute values.
    pub segments: &'a str,
    pub latency_us: u64,
    pub purpose: Option<&'a str>,
}

/// The prediction log's own connection to the store's SQLite file.
pub struct PredictionWriter {
    conn: Connection,
}

impl PredictionWriter {
    /// Opens a connection to the SQLite file at `path` (already created and
    /// migrated by [`crate::SqliteStore::open`]). Blocking.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // The same durability as the store's other connections: WAL (a
        // property of the file, set by SqliteStore::open) and a full sync at commit.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.set_prepared_statement_cache_capacity(4);
        Ok(PredictionWriter { conn })
    }
}

impl crate::repo::PredictionLog for PredictionWriter {
    fn append(
        &mut self,
        write: &mut dyn FnMut(&mut dyn crate::repo::RowSink),
    ) -> Result<u64, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (written, spans) = {
            let mut sink = LogSink {
                stmt: tx.prepare_cached(INSERT)?,
                request: tx.prepare_cached(REQUEST)?,
                current: None,
                at: None,
                spans: Vec::new(),
                written: 0,
                error: None,
            };
            write(&mut sink);
            if let Some(e) = sink.error {
                return Err(e);
            }
            (sink.written, sink.spans)
        };
        {
            let mut span = tx.prepare_cached(SPAN)?;
            for s in &spans {
                span.execute(params![
                    s.deployment,
                    s.minute,
                    s.first_id,
                    s.last_id,
                    s.rows
                ])?;
            }
        }
        tx.commit()?;
        Ok(written)
    }
}

/// Where [`crate::PredictionLog::append`]'s rows go. After a failed row the
/// others are ignored and the whole batch is rolled back.
pub struct LogSink<'c> {
    stmt: CachedStatement<'c>,
    request: CachedStatement<'c>,
    /// The id of the current request's row 0 and the row expected next.
    current: Option<(i64, u32)>,
    /// The last row's time, formatted (a request's rows share one).
    at: Option<(DateTime<Utc>, String)>,
    /// The id range of each deployment's minute in this batch.
    spans: Vec<Span>,
    written: u64,
    error: Option<StoreError>,
}

struct Span {
    deployment: String,
    minute: i64,
    first_id: i64,
    last_id: i64,
    rows: i64,
}

impl crate::repo::RowSink for LogSink<'_> {
    fn push(&mut self, r: &LogRow<'_>) {
        if self.error.is_some() {
            return;
        }
        if self.at.as_ref().is_none_or(|(t, _)| *t != r.at) {
            self.at = Some((r.at, ts(r.at)));
        }
        let at = self.at.as_ref().map_or("", |(_, s)| s.as_str());
        // Row 0 takes the next id; row r of the same request row 0's plus r,
        // so that the request is found from any of its rows.
        let id = match (r.row, self.current) {
            (0, _) => None,
            (row, Some((first, next))) if row == next => Some(first + i64::from(row)),
            (row, _) => {
                self.error = Some(StoreError::Invalid(format!(
                    "prediction log row {row} of request {:?} does not follow the row before it",
                    r.request_id
                )));
                return;
            }
        };
        let result = self.stmt.insert(params![
            id,
            r.deployment,
            at,
            r.row,
            r.row_id,
            r.revision,
            r.model,
            r.version,
            r.features,
            r.outputs,
            r.score,
            r.predicted,
            r.segments,
            r.latency_us as i64,
            r.purpose,
        ]);
        let result = result.and_then(|id| {
            if r.row == 0 {
                self.request.execute(params![id, r.request_id])?;
                self.current = Some((id, 1));
            } else if let Some((_, next)) = &mut self.current {
                *next += 1;
            }
            Ok(id)
        });
        match result {
            Ok(id) => {
                self.written += 1;
                let minute = r.at.timestamp().div_euclid(60) * 60;
                match self
                    .spans
                    .iter_mut()
                    .find(|s| s.minute == minute && s.deployment == r.deployment)
                {
                    Some(s) => {
                        s.first_id = s.first_id.min(id);
                        s.last_id = s.last_id.max(id);
                        s.rows += 1;
                    }
                    None => self.spans.push(Span {
                        deployment: r.deployment.to_string(),
                        minute,
                        first_id: id,
                        last_id: id,
                        rows: 1,
                    }),
                }
            }
            Err(e) => self.error = Some(e.into()),
        }
    }
}
