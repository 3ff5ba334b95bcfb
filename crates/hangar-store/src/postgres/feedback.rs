//! PostgreSQL: feedback's writer. A batch's keys are found with one query
//! per kind of key (the keys sent as arrays), and its labels written with
//! one UPDATE: a batch costs a few round trips, not one per line.
//!
//! Blocking, like the SQLite writer: it runs on a blocking thread and
//! drives its queries with the runtime's handle.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use tokio::runtime::Handle;

use super::log_writer::pg_text;
use crate::db::ts_pub as ts;
use crate::{FeedbackKey, FoundRow, StoreError};

/// The rows each row id names: `k.i` is the key's position (1-based) among
/// those sent. The partial index on (deployment, row_id) serves it.
const BY_ROW_ID: &str = "SELECT k.i, p.id, p.model, p.version \
     FROM UNNEST($2::text[]) WITH ORDINALITY AS k(row_id, i) \
     JOIN predictions p ON p.deployment = $1 AND p.row_id = k.row_id \
     ORDER BY k.i, p.id";

/// Row `row` of the requests with each id: row 0's id from the request's
/// entry, plus the row.
const BY_REQUEST: &str = "SELECT k.i, p.id, p.model, p.version \
     FROM UNNEST($2::text[], $3::bigint[]) WITH ORDINALITY AS k(request_id, r, i) \
     JOIN prediction_requests q ON q.request_id = k.request_id \
     JOIN predictions p ON p.id = q.id + k.r AND p.\"row\" = k.r AND p.deployment = $1 \
     ORDER BY k.i, p.id";

/// Writes labels by id. As on SQLite (one UPDATE per label, in order), a
/// row named twice keeps its last label and counts twice.
const LABEL: &str = "WITH u AS (\
       SELECT DISTINCT ON (id) id, label \
       FROM UNNEST($1::bigint[], $2::float8[]) WITH ORDINALITY AS t(id, label, i) \
       ORDER BY id, i DESC), \
     done AS (\
       UPDATE predictions p SET label = u.label, labeled_at = $3 FROM u WHERE p.id = u.id \
       RETURNING p.id) \
     SELECT COUNT(*) FROM UNNEST($1::bigint[]) AS a(id) JOIN done ON done.id = a.id";

/// Feedback's writer on PostgreSQL.
pub(super) struct PgFeedbackWriter {
    pool: PgPool,
    handle: Handle,
}

impl PgFeedbackWriter {
    /// Must be called within the runtime the pool runs on (a blocking
    /// thread of it, as the server does).
    pub(super) fn new(pool: PgPool) -> Result<Self, StoreError> {
        let handle = Handle::try_current().map_err(|_| {
            StoreError::Invalid(
                "the PostgreSQL feedback writer must be made on a tokio runtime".into(),
            )
        })?;
        Ok(PgFeedbackWriter { pool, handle })
    }
}

impl crate::repo::FeedbackLog for PgFeedbackWriter {
    fn find(
        &mut self,
        deployment: &str,
        keys: &[FeedbackKey],
        versions: &mut Vec<(String, u32)>,
        found: &mut Vec<FoundRow>,
    ) -> Result<(), StoreError> {
        found.clear();
        // Positions (in `keys`) of each kind, and their values.
        let (mut by_id, mut row_ids) = (Vec::new(), Vec::new());
        let (mut by_request, mut request_ids, mut rows) = (Vec::new(), Vec::new(), Vec::new());
        for (i, k) in keys.iter().enumerate() {
            match k {
                FeedbackKey::RowId(id) => {
                    by_id.push(i);
                    row_ids.push(pg_text(id));
                }
                FeedbackKey::Request { request_id, row } => {
                    by_request.push(i);
                    request_ids.push(pg_text(request_id));
                    rows.push(i64::from(*row));
                }
            }
        }
        let deployment = pg_text(deployment);
        // (key, id, model, version), in key order, then id order.
        let mut hits: Vec<(usize, i64, String, u32)> = Vec::new();
        self.handle.block_on(async {
            if !by_id.is_empty() {
                let ids: Vec<&str> = row_ids.iter().map(|s| &**s).collect();
                let found = sqlx::query(BY_ROW_ID)
                    .bind(&*deployment)
                    .bind(ids)
                    .fetch_all(&self.pool)
                    .await?;
                collect(&found, &by_id, &mut hits)?;
            }
            if !by_request.is_empty() {
                let ids: Vec<&str> = request_ids.iter().map(|s| &**s).collect();
                let found = sqlx::query(BY_REQUEST)
                    .bind(&*deployment)
                    .bind(ids)
                    .bind(&rows)
                    .fetch_all(&self.pool)
                    .await?;
                collect(&found, &by_request, &mut hits)?;
            }
            Ok::<_, StoreError>(())
        })?;
        // The two kinds merged back into the keys' order (stable: a key's
        // rows stay in id order).
        hits.sort_by_key(|h| h.0);
        for (key, id, model, number) in hits {
            let version = match versions
                .iter()
                .position(|(m, v)| *v == number && *m == model)
            {
                Some(i) => i,
                None => {
                    versions.push((model, number));
                    versions.len() - 1
                }
            };
            found.push(FoundRow { key, id, version });
        }
        Ok(())
    }

    fn apply(&mut self, labels: &[(i64, f64)], at: DateTime<Utc>) -> Result<u64, StoreError> {
        if labels.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = labels.iter().map(|l| l.0).collect();
        let values: Vec<f64> = labels.iter().map(|l| l.1).collect();
        let n: i64 = self.handle.block_on(
            sqlx::query_scalar(LABEL)
                .bind(ids)
                .bind(values)
                .bind(ts(at))
                .fetch_one(&self.pool),
        )?;
        Ok(n as u64)
    }
}

/// Appends the rows a lookup found, their key translated from its position
/// among the keys sent (1-based) to its position in the batch.
fn collect(
    rows: &[sqlx::postgres::PgRow],
    positions: &[usize],
    hits: &mut Vec<(usize, i64, String, u32)>,
) -> Result<(), StoreError> {
    for r in rows {
        let i: i64 = r.try_get(0)?;
        let key = usize::try_from(i - 1)
            .ok()
            .and_then(|i| positions.get(i).copied())
            .ok_or_else(|| StoreError::Invalid(format!("feedback: key {i} out of range")))?;
        hits.push((
            key,
            r.try_get(1)?,
            r.try_get(2)?,
            r.try_get::<i64, _>(3)? as u32,
        ));
    }
    Ok(())
}
