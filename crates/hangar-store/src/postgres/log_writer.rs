//! PostgreSQL: the prediction log's bulk writer. A batch's rows are encoded
//! as they are pushed into `COPY … FROM STDIN (FORMAT binary)` buffers, then
//! written in one transaction: the rows, the request ids (once per request,
//! under the id of the request's row 0) and the id range of each
//! deployment's minute (`prediction_spans`, widened with LEAST/GREATEST).
//!
//! Why COPY: measured on batches of 10 000 rows (`examples/pg_log_cost.rs`),
//! it wrote a batch in 0.4 to 0.65 of the time of multi-row INSERTs (VALUES
//! lists, or one INSERT of UNNESTed arrays) and took a quarter of their
//! client CPU: the rows are encoded once, straight from the borrowed
//! [`LogRow`]s, with no bound argument per value, and PostgreSQL parses no
//! statement per row.
//!
//! Ids: a request's rows must have consecutive ids (row r at row 0's plus
//! r) even when several processes write at once, so a batch's ids are one
//! block reserved from the identity column's sequence before the batch is
//! written (under an advisory lock, in a transaction of its own that
//! commits at once: writers never wait on each other's batches). Rows are
//! encoded with ids relative to the batch (the count of rows before them)
//! and moved onto the block once its start is known. A batch that fails
//! leaves a gap in the ids, which nothing minds.
//!
//! Blocking, like the SQLite writer: `append` runs on a blocking thread and
//! drives its queries with the runtime's handle (captured when the writer
//! is made, on that runtime).
//!
//! PostgreSQL text cannot hold NUL: a NUL in a logged string (a request id
//! from a JSON body can have one) is stored as U+FFFD, and feedback's keys
//! are looked up the same way (`feedback.rs`), so one odd id cannot make a
//! whole batch fail.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::runtime::Handle;

use crate::db::ts_pub as ts;
use crate::{LogRow, StoreError};

/// The advisory lock (two-key form, apart from sqlx's one-key migration
/// lock) that serialises id reservations across processes.
const ID_LOCK: (i32, i32) = (0x4847_4c31, 0);

/// Reserves the next `$1` ids of the identity column's sequence and returns
/// the last one (`setval` moves the sequence past the block).
const RESERVE: &str = "SELECT setval(pg_get_serial_sequence('predictions', 'id'), \
     nextval(pg_get_serial_sequence('predictions', 'id')) + $1 - 1)";

const COPY_ROWS: &str = "COPY predictions (id, deployment, at, \"row\", row_id, revision, model, version, \
     features, inputs, outputs, score, predicted, segments, latency_us, purpose) FROM STDIN (FORMAT binary)";

/// The fields of a row in [`COPY_ROWS`].
const ROW_FIELDS: i16 = 16;

const COPY_REQUESTS: &str = "COPY prediction_requests (id, request_id) FROM STDIN (FORMAT binary)";

/// Records (widens) the id range of each deployment's minute of the batch.
const SPANS: &str = "INSERT INTO prediction_spans (deployment, minute, first_id, last_id, rows) \
     SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) \
     ON CONFLICT (deployment, minute) DO UPDATE SET \
     first_id = LEAST(prediction_spans.first_id, excluded.first_id), \
     last_id = GREATEST(prediction_spans.last_id, excluded.last_id), \
     rows = prediction_spans.rows + excluded.rows";

/// The binary COPY header: signature, flags, header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// The prediction log's writer on PostgreSQL.
pub(super) struct PgPredictionWriter {
    pool: PgPool,
    handle: Handle,
    /// Kept between batches so their memory is reused.
    batch: Batch,
}

impl PgPredictionWriter {
    /// Must be called within the runtime the pool runs on (a blocking
    /// thread of it, as the server does).
    pub(super) fn new(pool: PgPool) -> Result<Self, StoreError> {
        let handle = Handle::try_current().map_err(|_| {
            StoreError::Invalid(
                "the PostgreSQL prediction log writer must be made on a tokio runtime".into(),
            )
        })?;
        Ok(PgPredictionWriter {
            pool,
            handle,
            batch: Batch::default(),
        })
    }
}

impl crate::repo::PredictionLog for PgPredictionWriter {
    fn append(
        &mut self,
        write: &mut dyn FnMut(&mut dyn crate::repo::RowSink),
    ) -> Result<u64, StoreError> {
        self.batch.clear();
        write(&mut self.batch);
        if let Some(e) = self.batch.error.take() {
            return Err(e);
        }
        if self.batch.written == 0 {
            return Ok(0);
        }
        self.batch.rows.extend_from_slice(&(-1i16).to_be_bytes());
        self.batch
            .requests
            .extend_from_slice(&(-1i16).to_be_bytes());
        let pool = &self.pool;
        let batch = &mut self.batch;
        self.handle.block_on(async move {
            let base = reserve(pool, batch.written).await?;
            batch.rebase(base);
            store(pool, batch).await
        })?;
        Ok(self.batch.written)
    }
}

/// Reserves `n` consecutive ids; returns the first.
async fn reserve(pool: &PgPool, n: u64) -> Result<i64, StoreError> {
    let n = i64::try_from(n).map_err(|_| StoreError::Invalid("batch too large".into()))?;
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(ID_LOCK.0)
        .bind(ID_LOCK.1)
        .execute(&mut *tx)
        .await?;
    let last: i64 = sqlx::query_scalar(RESERVE)
        .bind(n)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(last - n + 1)
}

/// Writes a rebased batch in one transaction.
async fn store(pool: &PgPool, b: &mut Batch) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let mut copy = tx.copy_in_raw(COPY_ROWS).await?;
    copy.send(b.rows.as_slice()).await?;
    copy.finish().await?;
    let mut copy = tx.copy_in_raw(COPY_REQUESTS).await?;
    copy.send(b.requests.as_slice()).await?;
    copy.finish().await?;
    // In one order in every process, so two batches widening the same
    // minutes cannot deadlock on their rows.
    b.spans
        .sort_unstable_by(|x, y| (&x.deployment, x.minute).cmp(&(&y.deployment, y.minute)));
    let deployments: Vec<&str> = b.spans.iter().map(|s| s.deployment.as_str()).collect();
    let column = |f: fn(&Span) -> i64| b.spans.iter().map(f).collect::<Vec<i64>>();
    sqlx::query(SPANS)
        .bind(deployments)
        .bind(column(|s| s.minute))
        .bind(column(|s| s.first_id))
        .bind(column(|s| s.last_id))
        .bind(column(|s| s.rows))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// One batch, encoded as its rows are pushed.
#[derive(Default)]
struct Batch {
    /// `predictions` in COPY's binary form; ids relative to the batch.
    rows: Vec<u8>,
    /// Where each row's id is in `rows`.
    row_ids: Vec<usize>,
    /// `prediction_requests` in COPY's binary form; ids relative.
    requests: Vec<u8>,
    request_ids: Vec<usize>,
    /// The current request's row 0 (relative id) and the row expected next.
    current: Option<(i64, u32)>,
    /// The last row's time, formatted (a request's rows share one).
    at: Option<(DateTime<Utc>, String)>,
    /// The id range of each deployment's minute in this batch (relative).
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

impl Batch {
    fn clear(&mut self) {
        self.rows.clear();
        self.rows.extend_from_slice(HEADER);
        self.row_ids.clear();
        self.requests.clear();
        self.requests.extend_from_slice(HEADER);
        self.request_ids.clear();
        self.current = None;
        self.spans.clear();
        self.written = 0;
        self.error = None;
    }

    /// Moves the batch's relative ids onto the block starting at `base`.
    fn rebase(&mut self, base: i64) {
        for (buf, at) in [
            (&mut self.rows, &self.row_ids),
            (&mut self.requests, &self.request_ids),
        ] {
            for &i in at {
                let mut id = [0u8; 8];
                id.copy_from_slice(&buf[i..i + 8]);
                let id = i64::from_be_bytes(id) + base;
                buf[i..i + 8].copy_from_slice(&id.to_be_bytes());
            }
        }
        for s in &mut self.spans {
            s.first_id += base;
            s.last_id += base;
        }
    }

    fn push_row(&mut self, id: i64, r: &LogRow<'_>, at: &str) -> Result<(), StoreError> {
        let b = &mut self.rows;
        b.extend_from_slice(&ROW_FIELDS.to_be_bytes());
        self.row_ids.push(b.len() + 4);
        put_i64(b, id);
        put_text(b, r.deployment)?;
        put_text(b, at)?;
        put_i64(b, i64::from(r.row));
        put_opt_text(b, r.row_id)?;
        put_i64(b, i64::from(r.revision));
        put_text(b, r.model)?;
        put_i64(b, i64::from(r.version));
        put_bytes(b, r.features)?;
        put_text(b, "")?;
        put_text(b, r.outputs)?;
        put_opt_f64(b, r.score);
        put_opt_f64(b, r.predicted);
        put_text(b, r.segments)?;
        put_i64(
            b,
            i64::try_from(r.latency_us).map_err(|_| invalid("latency"))?,
        );
        put_opt_text(b, r.purpose)?;
        Ok(())
    }

    fn push_request(&mut self, id: i64, request_id: &str) -> Result<(), StoreError> {
        let b = &mut self.requests;
        b.extend_from_slice(&2i16.to_be_bytes());
        self.request_ids.push(b.len() + 4);
        put_i64(b, id);
        put_text(b, request_id)
    }
}

impl crate::repo::RowSink for Batch {
    fn push(&mut self, r: &LogRow<'_>) {
        if self.error.is_some() {
            return;
        }
        if self.at.as_ref().is_none_or(|(t, _)| *t != r.at) {
            self.at = Some((r.at, ts(r.at)));
        }
        // Every row takes the next id of the batch; row r of a request is
        // accepted only right after row r - 1, so it lands at row 0's id
        // plus r (as on SQLite).
        let id = self.written as i64;
        match (r.row, self.current) {
            (0, _) => {}
            (row, Some((_, next))) if row == next => {}
            (row, _) => {
                self.error = Some(StoreError::Invalid(format!(
                    "prediction log row {row} of request {:?} does not follow the row before it",
                    r.request_id
                )));
                return;
            }
        }
        let at = self.at.take();
        let result = self.push_row(id, r, at.as_ref().map_or("", |(_, s)| s.as_str()));
        self.at = at;
        let result = result.and_then(|()| {
            if r.row == 0 {
                self.push_request(id, r.request_id)?;
                self.current = Some((id, 1));
            } else if let Some((_, next)) = &mut self.current {
                *next += 1;
            }
            Ok(())
        });
        if let Err(e) = result {
            self.error = Some(e);
            return;
        }
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
                deployment: pg_text(r.deployment).into_owned(),
                minute,
                first_id: id,
                last_id: id,
                rows: 1,
            }),
        }
    }
}

fn invalid(what: &str) -> StoreError {
    StoreError::Invalid(format!("prediction log: the row's {what} is out of range"))
}

/// A string as PostgreSQL text can hold it: NUL (which it refuses) as
/// U+FFFD.
pub(super) fn pg_text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn put_i64(b: &mut Vec<u8>, v: i64) {
    b.extend_from_slice(&8i32.to_be_bytes());
    b.extend_from_slice(&v.to_be_bytes());
}

fn put_opt_f64(b: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(v) => {
            b.extend_from_slice(&8i32.to_be_bytes());
            b.extend_from_slice(&v.to_be_bytes());
        }
        None => b.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

fn put_bytes(b: &mut Vec<u8>, v: &[u8]) -> Result<(), StoreError> {
    let len = i32::try_from(v.len()).map_err(|_| invalid("size"))?;
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(v);
    Ok(())
}

fn put_text(b: &mut Vec<u8>, v: &str) -> Result<(), StoreError> {
    put_bytes(b, pg_text(v).as_bytes())
}

fn put_opt_text(b: &mut Vec<u8>, v: Option<&str>) -> Result<(), StoreError> {
    match v {
        Some(v) => put_text(b, v),
        None => {
            b.extend_from_slice(&(-1i32).to_be_bytes());
            Ok(())
        }
    }
}
