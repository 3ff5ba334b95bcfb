//! The monitoring tables: baselines, the prediction log (with feedback) and
//! the per-minute/hour/day aggregates.

use chrono::{DateTime, Utc};
use hangar_core::codec::{Put, Reader};
use hangar_core::monitor::aggregate::{Aggregate, Resolution};
use sqlx::Row;

use crate::db::SqliteStore;
use crate::db::{parse_ts_pub as parse_ts, ts_pub as ts};
use crate::{Missing, StoreError};

/// A version's baseline as stored: the CSV artifact and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineRecord {
    pub model: String,
    pub version: u32,
    pub digest: String,
    pub label_column: Option<String>,
    pub categorical: Vec<String>,
    pub rows: u64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// One row of one prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRecord {
    pub deployment: String,
    pub at: DateTime<Utc>,
    pub request_id: String,
    pub row: u32,
    pub row_id: Option<String>,
    pub revision: u32,
    pub model: String,
    pub version: u32,
    /// The row's feature values (stored as little-endian f64).
    pub inputs: Vec<f64>,
    /// JSON object of the row's outputs.
    pub outputs: String,
    pub score: Option<f64>,
    pub predicted: Option<f64>,
    /// JSON object of segment attribute values.
    pub segments: String,
    pub latency_us: u64,
    pub purpose: Option<String>,
    pub label: Option<f64>,
}

/// Which prediction a true outcome is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedbackKey {
    RowId(String),
    Request { request_id: String, row: u32 },
}

impl SqliteStore {
    async fn predictions_ordered(
        &self,
        deployment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
        order: &'static str,
    ) -> Result<Vec<PredictionRecord>, StoreError> {
        let rows = bind_window(
            sqlx::query(&format!(
                "SELECT p.deployment, p.at, q.request_id, p.row, p.row_id, p.revision, p.model, p.version, \
                 p.features, p.inputs, p.outputs, p.score, p.predicted, p.segments, p.latency_us, p.purpose, \
                 p.label FROM predictions p LEFT JOIN prediction_requests q ON q.id = p.id - p.row \
                 WHERE {IN_WINDOW} {order} LIMIT ?"
            )),
            deployment,
            from,
            to,
        )
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
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
                        Some(b) => decode_features(&b)?,
                        None => json(&r.try_get::<String, _>("inputs")?)?,
                    },
                    outputs: r.try_get("outputs")?,
                    score: r.try_get("score")?,
                    predicted: r.try_get("predicted")?,
                    segments: r.try_get("segments")?,
                    latency_us: r.try_get::<i64, _>("latency_us")? as u64,
                    purpose: r.try_get("purpose")?,
                    label: r.try_get("label")?,
                })
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl crate::repo::Monitoring for SqliteStore {
    async fn put_baseline(&self, b: &BaselineRecord) -> Result<(), StoreError> {
        let model_id: i64 = sqlx::query_scalar("SELECT id FROM models WHERE name = ?")
            .bind(&b.model)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(Missing::Model(b.model.clone())))?;
        sqlx::query(
            "INSERT INTO baselines (model_id, version, digest, label_column, categorical, rows, created_at, created_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (model_id, version) DO UPDATE SET digest = excluded.digest, \
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
             b.created_by FROM baselines b JOIN models m ON m.id = b.model_id WHERE m.name = ? AND b.version = ?",
        )
        .bind(model)
        .bind(i64::from(version))
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(Missing::Baseline { model: model.to_string(), version }))?;
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
        const WHERE: &str = "WHERE deployment = ? AND at >= ? AND at < ? AND label IS NOT NULL AND model = ? AND version = ?";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM predictions {WHERE}"))
            .bind(deployment)
            .bind(ts(from))
            .bind(ts(to))
            .bind(model)
            .bind(i64::from(version))
            .fetch_one(self.pool())
            .await?;
        // SQLite keeps the `limit` rows with the smallest random keys while
        // it walks the labelled rows: a uniform sample without replacement.
        let order = if total as u64 > limit {
            "ORDER BY random()"
        } else {
            ""
        };
        let rows = sqlx::query(&format!(
            "SELECT score, predicted, label, segments FROM predictions {WHERE} {order} LIMIT ?"
        ))
        .bind(deployment)
        .bind(ts(from))
        .bind(ts(to))
        .bind(model)
        .bind(i64::from(version))
        .bind(limit as i64)
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
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM predictions p WHERE {IN_WINDOW} LIMIT ?)"
        );
        let n: i64 = bind_window(sqlx::query(&sql), deployment, from, to)
            .bind(limit as i64)
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        Ok(n as u64)
    }

    async fn add_aggregate(
        &self,
        key: &AggregateKey,
        minute: &Aggregate,
    ) -> Result<(), StoreError> {
        let now = ts(Utc::now());
        // It reads, then writes: IMMEDIATE takes the write lock first (with
        // the busy timeout), where a deferred transaction would fail at once
        // ("database is locked") if another writer committed in between.
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        for res in Resolution::ALL {
            let start = res.floor(key.start);
            let existing: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT body FROM monitoring_aggregates WHERE deployment = ? AND resolution = ? AND start = ? \
                 AND model = ? AND version = ?",
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
            sqlx::query(
                "INSERT INTO monitoring_aggregates (deployment, resolution, start, model, version, rows, baseline, body, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (deployment, resolution, start, model, version) DO UPDATE SET \
                 rows = excluded.rows, baseline = excluded.baseline, body = excluded.body, updated_at = excluded.updated_at",
            )
            .bind(&key.deployment)
            .bind(res.name())
            .bind(start)
            .bind(&key.model)
            .bind(i64::from(key.version))
            .bind(merged.rows as i64)
            .bind(merged.binned.as_ref().map(|b| b.baseline.clone()))
            .bind(merged.encode())
            .bind(&now)
            .execute(&mut *tx)
            .await?;
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
        let rows = sqlx::query(
            "SELECT model, version, SUM(rows) AS n FROM monitoring_aggregates \
             WHERE deployment = ? AND resolution = ? AND start >= ? AND start < ? GROUP BY model, version",
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
            "SELECT body FROM monitoring_aggregates WHERE deployment = ? AND resolution = ? AND start >= ? AND start < ? \
             AND model = ? AND version = ? ORDER BY start",
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
        sqlx::query(
            "INSERT OR REPLACE INTO monitoring_aggregates (deployment, resolution, start, model, version, rows, baseline, body, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&key.deployment)
        .bind(resolution.name())
        .bind(resolution.floor(key.start))
        .bind(&key.model)
        .bind(i64::from(key.version))
        .bind(agg.rows as i64)
        .bind(agg.binned.as_ref().map(|b| b.baseline.clone()))
        .bind(agg.encode())
        .bind(ts(Utc::now()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn prune_aggregates(
        &self,
        minutes_before: DateTime<Utc>,
        periods_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let a = sqlx::query(
            "DELETE FROM monitoring_aggregates WHERE resolution = 'minute' AND start < ?",
        )
        .bind(minutes_before.timestamp())
        .execute(self.pool())
        .await?
        .rows_affected();
        let b = sqlx::query(
            "DELETE FROM monitoring_aggregates WHERE resolution IN ('hour', 'day') AND start < ?",
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
        let cutoff = before.timestamp();
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "DELETE FROM predictions WHERE id <= (SELECT MAX(last_id) FROM prediction_spans WHERE minute <= ?) AND at < ?",
        )
        .bind(cutoff)
        .bind(ts(before))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // A request's rows share their time, so they went together; its id
        // goes with its row 0.
        sqlx::query(
            "DELETE FROM prediction_requests WHERE id <= (SELECT MAX(last_id) FROM prediction_spans WHERE minute <= ?) \
             AND NOT EXISTS (SELECT 1 FROM predictions p WHERE p.id = prediction_requests.id)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        // Minutes that ended by `before` are gone entirely.
        sqlx::query("DELETE FROM prediction_spans WHERE minute + 60 <= ?")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// The rows `p` (of `predictions p`) of one deployment in `[from, to)`: the
/// id range of the minutes the window touches (`prediction_spans`, kept by
/// the log's writer), then the exact times (`+p.deployment` keeps SQLite
/// from preferring an index on the deployment over the id range). Binds:
/// deployment, minute bounds (twice), deployment, from, to — see
/// [`bind_window`].
const IN_WINDOW: &str = "p.id BETWEEN \
     (SELECT MIN(first_id) FROM prediction_spans WHERE deployment = ? AND minute >= ? AND minute <= ?) AND \
     (SELECT MAX(last_id) FROM prediction_spans WHERE deployment = ? AND minute >= ? AND minute <= ?) \
     AND +p.deployment = ? AND p.at >= ? AND p.at < ?";

fn bind_window<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    deployment: &'q str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    let first = from.timestamp().div_euclid(60) * 60;
    let last = to.timestamp();
    q.bind(deployment)
        .bind(first)
        .bind(last)
        .bind(deployment)
        .bind(first)
        .bind(last)
        .bind(deployment)
        .bind(ts(from))
        .bind(ts(to))
}

/// Which aggregate a minute belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AggregateKey {
    pub deployment: String,
    pub model: String,
    pub version: u32,
    /// Unix seconds (UTC); floored to each resolution's period when stored.
    pub start: i64,
}

/// A labelled prediction row, as performance and fairness read it.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledRow {
    pub score: Option<f64>,
    pub predicted: Option<f64>,
    pub label: f64,
    /// JSON object of segment attribute values.
    pub segments: String,
}

/// A row's feature values: a width byte, then the values little endian —
/// as f32 (4) when every value is one exactly (FP32 inputs, the usual case:
/// half the bytes), else as f64 (8).
/// Appends a row's feature values as the prediction log stores them.
pub fn encode_features_into(values: &[f64], out: &mut Vec<u8>) {
    let narrow = values
        .iter()
        .all(|v| f64::from(*v as f32) == *v || v.is_nan());
    out.reserve(1 + values.len() * if narrow { 4 } else { 8 });
    if narrow {
        out.put_u8(4);
        for v in values {
            out.put_f32(*v as f32);
        }
    } else {
        out.put_u8(8);
        for v in values {
            out.put_f64(*v);
        }
    }
}

/// Appends a row of FP32 feature values as the prediction log stores them
/// (the narrow form, without a check per value).
pub fn encode_f32_features_into(values: &[f32], out: &mut Vec<u8>) {
    out.reserve(1 + values.len() * 4);
    out.put_u8(4);
    for v in values {
        out.put_f32(*v);
    }
}

fn decode_features(bytes: &[u8]) -> Result<Vec<f64>, StoreError> {
    let mut out = Vec::new();
    if decode_features_into(bytes, &mut out) {
        Ok(out)
    } else {
        Err(StoreError::Invalid(
            "stored feature values are malformed".into(),
        ))
    }
}

/// Decodes a row's stored feature values into `out` (cleared first); false
/// when the bytes are not such an encoding.
pub fn decode_features_into(bytes: &[u8], out: &mut Vec<f64>) -> bool {
    out.clear();
    let mut r = Reader::new(bytes);
    let read = match r.u8() {
        Ok(4) => r
            .f32s(r.remaining() / 4)
            .map(|v| out.extend(v.map(f64::from))),
        Ok(8) => r.f64s(r.remaining() / 8).map(|v| out.extend(v)),
        _ => return false,
    };
    // Bytes left over: not a whole number of values.
    if read.is_err() || !r.is_empty() {
        out.clear();
        return false;
    }
    true
}

fn json<T: for<'de> serde::Deserialize<'de>>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_features(values: &[f64]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_features_into(values, &mut out);
        out
    }

    #[test]
    fn feature_values_round_trip_narrow_when_they_can() {
        for values in [vec![1.5, -2.0, 0.1f32 as f64], vec![0.1, 3.0], vec![]] {
            let bytes = encode_features(&values);
            assert_eq!(decode_features(&bytes).unwrap(), values);
        }
        assert_eq!(encode_features(&[1.5, 2.0]).len(), 9);
        assert_eq!(encode_features(&[0.1]).len(), 9);
        for bad in [&[][..], &[4, 1, 2][..], &[9, 0, 0, 0, 0][..]] {
            assert!(decode_features(bad).is_err());
        }
    }
}
