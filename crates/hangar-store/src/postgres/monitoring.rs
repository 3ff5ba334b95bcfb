//! PostgreSQL: baselines, reading the prediction log, and the monitoring
//! aggregates — the same answers as `crate::monitoring` (SQLite), in
//! PostgreSQL's SQL.
//!
//! A window's rows are found as on SQLite: the id range of the minutes it
//! touches (`prediction_spans`), then the exact times. Aggregates are
//! merged under an advisory lock per (deployment, model, version), so two
//! processes adding minutes of the same hour cannot lose one another's
//! (SQLite has one writer at a time; PostgreSQL would let both read the
//! old row and both write).

use chrono::{DateTime, Utc};
use hangar_core::monitor::aggregate::{Aggregate, Resolution};
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::PostgresStore;
use crate::db::{parse_ts_pub as parse_ts, ts_pub as ts};
use crate::{AggregateKey, BaselineRecord, LabelledRow, Missing, PredictionRecord, StoreError};

/// The advisory lock class (two-key form) of aggregate merges; the second
/// key is a hash of the (deployment, model, version) being merged.
const AGGREGATE_LOCK: i32 = 0x4847_4c32;

/// The rows `p` (of `predictions p`) of deployment `$1` in `[$4, $5)`: the
/// id range of the minutes `[$2, $3]` the window touches, then the exact
/// times. See [`window`].
const IN_WINDOW: &str = "p.id BETWEEN \
     (SELECT MIN(first_id) FROM prediction_spans WHERE deployment = $1 AND minute >= $2 AND minute <= $3) AND \
     (SELECT MAX(last_id) FROM prediction_spans WHERE deployment = $1 AND minute >= $2 AND minute <= $3) \
     AND p.deployment = $1 AND p.at >= $4 AND p.at < $5";

/// The columns of a [`PredictionRecord`] (see [`record`]).
const RECORD: &str = "p.deployment, p.at, q.request_id, p.\"row\", p.row_id, p.revision, p.model, \
     p.version, p.features, p.inputs, p.outputs, p.score, p.predicted, p.segments, p.latency_us, \
     p.purpose, p.label";

/// Binds [`IN_WINDOW`]'s parameters ($1 to $5).
fn window<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    deployment: &'q str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    q.bind(deployment)
        .bind(from.timestamp().div_euclid(60) * 60)
        .bind(to.timestamp())
        .bind(ts(from))
        .bind(ts(to))
}

impl PostgresStore {
    async fn predictions_ordered(
        &self,
        deployment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
        order: &'static str,
    ) -> Result<Vec<PredictionRecord>, StoreError> {
        let rows = window(
            sqlx::query(&format!(
                "SELECT {RECORD} FROM predictions p LEFT JOIN prediction_requests q ON q.id = p.id - p.\"row\" \
                 WHERE {IN_WINDOW} {order} LIMIT $6"
            )),
            deployment,
            from,
            to,
        )
        .bind(limit_of(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(record).collect()
    }
}

fn record(r: &PgRow) -> Result<PredictionRecord, StoreError> {
    Ok(PredictionRecord {
        deployment: r.try_get("deployment")?,
        at: parse_ts(&r.try_get::<String, _>("at")?)?,
        request_id: r
            .try_get::<Option<String>, _>("request_id")?
            .unwrap_or_default(),
        row: r.try_get::<i64, _>("row")? as u32,
        row_id: r.try_get("row_id")?,
        revision: r.try_get::<i64, _>("revision")? as u32,
        model: r.try_get("model")?,
        version: r.try_get::<i64, _>("version")? as u32,
        inputs: match r.try_get::<Option<Vec<u8>>, _>("features")? {
            Some(b) => {
                let mut out = Vec::new();
                if !crate::decode_features_into(&b, &mut out) {
                    return Err(StoreError::Invalid(
                        "stored feature values are malformed".into(),
                    ));
                }
                out
            }
            None => serde_json::from_str(&r.try_get::<String, _>("inputs")?)
                .map_err(|e| StoreError::Invalid(e.to_string()))?,
        },
        outputs: r.try_get("outputs")?,
        score: r.try_get("score")?,
        predicted: r.try_get("predicted")?,
        segments: r.try_get("segments")?,
        latency_us: r.try_get::<i64, _>("latency_us")? as u64,
        purpose: r.try_get("purpose")?,
        label: r.try_get("label")?,
    })
}

/// A limit as PostgreSQL takes it (a bigint; past its range, no limit).
fn limit_of(limit: u64) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl crate::repo::Monitoring for PostgresStore {
    async fn put_baseline(&self, b: &BaselineRecord) -> Result<(), StoreError> {
        let model_id: i64 = sqlx::query_scalar("SELECT id FROM models WHERE name = $1")
            .bind(&b.model)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(Missing::Model(b.model.clone())))?;
        sqlx::query(
            "INSERT INTO baselines (model_id, version, digest, label_column, categorical, rows, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (model_id, version) DO UPDATE SET digest = excluded.digest, \
             label_column = excluded.label_column, categorical = excluded.categorical, rows = excluded.rows, \
             created_at = excluded.created_at, created_by = excluded.created_by",
        )
        .bind(model_id)
        .bind(i64::from(b.version))
        .bind(&b.digest)
        .bind(&b.label_column)
        .bind(serde_json::to_string(&b.categorical).unwrap_or_else(|_| "[]".into()))
        .bind(b.rows as i64)
        .bind(ts(b.created_at))
        .bind(&b.created_by)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn get_baseline(&self, model: &str, version: u32) -> Result<BaselineRecord, StoreError> {
        let row = sqlx::query(
            "SELECT m.name AS model_name, b.version, b.digest, b.label_column, b.categorical, b.rows, b.created_at, \
             b.created_by FROM baselines b JOIN models m ON m.id = b.model_id WHERE m.name = $1 AND b.version = $2",
        )
        .bind(model)
        .bind(i64::from(version))
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(Missing::Baseline {
                model: model.to_string(),
                version,
            })
        })?;
        Ok(BaselineRecord {
            model: row.try_get("model_name")?,
            version: row.try_get::<i64, _>("version")? as u32,
            digest: row.try_get("digest")?,
            label_column: row.try_get("label_column")?,
            categorical: serde_json::from_str(&row.try_get::<String, _>("categorical")?)
                .map_err(|e| StoreError::Invalid(e.to_string()))?,
            rows: row.try_get::<i64, _>("rows")? as u64,
            created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
            created_by: row.try_get("created_by")?,
        })
    }

    async fn predictions(
        &self,
        deployment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<PredictionRecord>, StoreError> {
        self.predictions_ordered(deployment, from, to, limit, "ORDER BY p.id")
            .await
    }

    async fn sample_predictions(
        &self,
        deployment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<PredictionRecord>, StoreError> {
        // The `limit` rows with the smallest random keys: a uniform sample
        // without replacement (PostgreSQL keeps only those while sorting).
        self.predictions_ordered(deployment, from, to, limit, "ORDER BY random()")
            .await
    }

    async fn labelled_sample(
        &self,
        deployment: &str,
        model: &str,
        version: u32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<(u64, Vec<LabelledRow>), StoreError> {
        // The partial index of labelled rows on (deployment, at) serves it.
        const WHERE: &str = "WHERE deployment = $1 AND at >= $2 AND at < $3 AND label IS NOT NULL \
             AND model = $4 AND version = $5";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM predictions {WHERE}"))
            .bind(deployment)
            .bind(ts(from))
            .bind(ts(to))
            .bind(model)
            .bind(i64::from(version))
            .fetch_one(self.pool())
            .await?;
        // All of them, in the order SQLite reads them (its index on
        // (deployment, at)), or the `limit` with the smallest random keys:
        // a uniform sample without replacement.
        let order = if total as u64 > limit {
            "ORDER BY random()"
        } else {
            "ORDER BY at, id"
        };
        let rows = sqlx::query(&format!(
            "SELECT score, predicted, label, segments FROM predictions {WHERE} {order} LIMIT $6"
        ))
        .bind(deployment)
        .bind(ts(from))
        .bind(ts(to))
        .bind(model)
        .bind(i64::from(version))
        .bind(limit_of(limit))
        .fetch_all(self.pool())
        .await?;
        let rows = rows
            .iter()
            .map(|r| {
                Ok(LabelledRow {
                    score: r.try_get("score")?,
                    predicted: r.try_get("predicted")?,
                    label: r.try_get::<Option<f64>, _>("label")?.unwrap_or(0.0),
                    segments: r.try_get("segments")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((total as u64, rows))
    }

    async fn count_predictions(
        &self,
        deployment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM predictions p WHERE {IN_WINDOW} LIMIT $6) AS w"
        );
        let n: i64 = window(sqlx::query(&sql), deployment, from, to)
            .bind(limit_of(limit))
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        Ok(n as u64)
    }

    async fn add_aggregate(
        &self,
        key: &AggregateKey,
        minute: &Aggregate,
    ) -> Result<(), StoreError> {
        let now = ts(Utc::now());
        let mut tx = self.pool().begin().await?;
        // One merge at a time per (deployment, model, version): the row is
        // read, merged and written back, and a row that does not exist yet
        // has nothing to lock.
        sqlx::query(
            "SELECT pg_advisory_xact_lock($1, hashtext($2 || chr(1) || $3 || chr(1) || $4::text))",
        )
        .bind(AGGREGATE_LOCK)
        .bind(&key.deployment)
        .bind(&key.model)
        .bind(i64::from(key.version))
        .execute(&mut *tx)
        .await?;
        for res in Resolution::ALL {
            let start = res.floor(key.start);
            let existing: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT body FROM monitoring_aggregates WHERE deployment = $1 AND resolution = $2 AND start = $3 \
                 AND model = $4 AND version = $5",
            )
            .bind(&key.deployment)
            .bind(res.name())
            .bind(start)
            .bind(&key.model)
            .bind(i64::from(key.version))
            .fetch_optional(&mut *tx)
            .await?;
            let mut merged = Aggregate::new(res.sample_cap(), None);
            if let Some(body) = existing {
                // A row that cannot be read is replaced rather than blocking
                // every later minute of its period.
                match Aggregate::decode(&body) {
                    Ok(a) => {
                        let _ = merged.merge(&a);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, deployment = %key.deployment, "unreadable aggregate replaced")
                    }
                }
            }
            merged
                .merge(minute)
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
            put(&mut tx, key, res, start, &merged, &now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn aggregate_rows(
        &self,
        deployment: &str,
        resolution: Resolution,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, u32, u64)>, StoreError> {
        // SUM of a bigint is a numeric in PostgreSQL; the order is SQLite's
        // (its GROUP BY walks the keys in order).
        let rows = sqlx::query(
            "SELECT model, version, SUM(rows)::bigint AS n FROM monitoring_aggregates \
             WHERE deployment = $1 AND resolution = $2 AND start >= $3 AND start < $4 \
             GROUP BY model, version ORDER BY model COLLATE \"C\", version",
        )
        .bind(deployment)
        .bind(resolution.name())
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("model")?,
                    r.try_get::<i64, _>("version")? as u32,
                    r.try_get::<i64, _>("n")? as u64,
                ))
            })
            .collect()
    }

    async fn aggregate_bodies(
        &self,
        deployment: &str,
        model: &str,
        version: u32,
        resolution: Resolution,
        from: i64,
        to: i64,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT body FROM monitoring_aggregates WHERE deployment = $1 AND resolution = $2 AND start >= $3 \
             AND start < $4 AND model = $5 AND version = $6 ORDER BY start",
        )
        .bind(deployment)
        .bind(resolution.name())
        .bind(from)
        .bind(to)
        .bind(model)
        .bind(i64::from(version))
        .fetch_all(self.pool())
        .await?)
    }

    async fn put_aggregate(
        &self,
        key: &AggregateKey,
        resolution: Resolution,
        agg: &Aggregate,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool().acquire().await?;
        put(
            &mut conn,
            key,
            resolution,
            resolution.floor(key.start),
            agg,
            &ts(Utc::now()),
        )
        .await
    }

    async fn prune_aggregates(
        &self,
        minutes_before: DateTime<Utc>,
        periods_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let a = sqlx::query(
            "DELETE FROM monitoring_aggregates WHERE resolution = 'minute' AND start < $1",
        )
        .bind(minutes_before.timestamp())
        .execute(self.pool())
        .await?
        .rows_affected();
        let b = sqlx::query(
            "DELETE FROM monitoring_aggregates WHERE resolution IN ('hour', 'day') AND start < $1",
        )
        .bind(periods_before.timestamp())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(a + b)
    }

    async fn prune_predictions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        // Only ids up to the last minute that starts before `before` can
        // hold such rows: the delete walks that id range, not the table.
        const UP_TO: &str = "(SELECT MAX(last_id) FROM prediction_spans WHERE minute <= $1)";
        let cutoff = before.timestamp();
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(&format!(
            "DELETE FROM predictions WHERE id <= {UP_TO} AND at < $2"
        ))
        .bind(cutoff)
        .bind(ts(before))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // A request's rows share their time, so they went together; its id
        // goes with its row 0.
        sqlx::query(&format!(
            "DELETE FROM prediction_requests q WHERE q.id <= {UP_TO} \
             AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.id = q.id)"
        ))
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        // Minutes that ended by `before` are gone entirely.
        sqlx::query("DELETE FROM prediction_spans WHERE minute + 60 <= $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// Writes (replacing) one aggregate row.
async fn put(
    conn: &mut sqlx::PgConnection,
    key: &AggregateKey,
    resolution: Resolution,
    start: i64,
    agg: &Aggregate,
    now: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO monitoring_aggregates (deployment, resolution, start, model, version, rows, baseline, body, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (deployment, resolution, start, model, version) DO UPDATE SET \
         rows = excluded.rows, baseline = excluded.baseline, body = excluded.body, updated_at = excluded.updated_at",
    )
    .bind(&key.deployment)
    .bind(resolution.name())
    .bind(start)
    .bind(&key.model)
    .bind(i64::from(key.version))
    .bind(agg.rows as i64)
    .bind(agg.binned.as_ref().map(|b| b.baseline.clone()))
    .bind(agg.encode())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
