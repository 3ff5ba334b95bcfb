//! PostgreSQL: alert rules, the events they fired, notification channels and
//! delivery attempts. The same queries as the SQLite implementation
//! (`crate::alerts`), in PostgreSQL's dialect.
//!
//! Text is ordered `COLLATE "C"` (byte order, SQLite's BINARY), so that rules
//! and channels list in the same order whatever the database's collation.
//! Flags (`guardrail`, `ok`) are 0/1 integers as on SQLite.

use chrono::Utc;
use hangar_core::alerts::{AlertRule, Comparison, MetricRef, Severity};
use sqlx::Row;

use crate::db::{parse_ts_pub as parse_ts, ts_pub as ts};
use crate::{AlertEventRecord, ChannelRecord, DeliveryRecord, Missing, StoreError};

use super::PostgresStore;

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(e.to_string())
}

#[async_trait::async_trait]
impl crate::repo::Alerts for PostgresStore {
    async fn put_rule(&self, r: &AlertRule, actor: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alert_rules (name, deployment, metric, comparison, threshold, window_secs, for_secs, severity, \
             guardrail, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (name, deployment) DO UPDATE SET metric = excluded.metric, comparison = excluded.comparison, \
             threshold = excluded.threshold, window_secs = excluded.window_secs, for_secs = excluded.for_secs, \
             severity = excluded.severity, guardrail = excluded.guardrail, created_at = excluded.created_at, \
             created_by = excluded.created_by",
        )
        .bind(&r.name)
        .bind(&r.deployment)
        .bind(r.metric.to_string())
        .bind(r.comparison.as_str())
        .bind(r.threshold)
        .bind(r.window_secs as i64)
        .bind(r.for_secs as i64)
        .bind(r.severity.as_str())
        .bind(i64::from(r.guardrail))
        .bind(ts(Utc::now()))
        .bind(actor)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn list_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, deployment, metric, comparison, threshold, window_secs, for_secs, severity, guardrail \
             FROM alert_rules ORDER BY deployment COLLATE \"C\", name COLLATE \"C\"",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AlertRule {
                    name: r.try_get("name")?,
                    deployment: r.try_get("deployment")?,
                    metric: r
                        .try_get::<String, _>("metric")?
                        .parse::<MetricRef>()
                        .map_err(invalid)?,
                    comparison: r
                        .try_get::<String, _>("comparison")?
                        .parse::<Comparison>()
                        .map_err(invalid)?,
                    threshold: r.try_get("threshold")?,
                    window_secs: r.try_get::<i64, _>("window_secs")? as u64,
                    for_secs: r.try_get::<i64, _>("for_secs")? as u64,
                    severity: r
                        .try_get::<String, _>("severity")?
                        .parse::<Severity>()
                        .map_err(invalid)?,
                    guardrail: r.try_get::<i64, _>("guardrail")? != 0,
                })
            })
            .collect()
    }

    async fn delete_rule(&self, name: &str, deployment: &str) -> Result<(), StoreError> {
        let n = sqlx::query("DELETE FROM alert_rules WHERE name = $1 AND deployment = $2")
            .bind(name)
            .bind(deployment)
            .execute(self.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(Missing::AlertRule {
                name: name.to_string(),
                deployment: deployment.to_string(),
            }));
        }
        Ok(())
    }

    async fn add_alert_event(&self, e: &AlertEventRecord) -> Result<i64, StoreError> {
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO alert_events (rule, deployment, kind, severity, value, message, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&e.rule)
        .bind(&e.deployment)
        .bind(&e.kind)
        .bind(&e.severity)
        .bind(e.value)
        .bind(&e.message)
        .bind(ts(e.at))
        .fetch_one(self.pool())
        .await?;
        Ok(id)
    }

    async fn alert_events(
        &self,
        deployment: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AlertEventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, rule, deployment, kind, severity, value, message, at FROM alert_events \
             WHERE ($1::TEXT IS NULL OR deployment = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(deployment)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AlertEventRecord {
                    id: r.try_get("id")?,
                    rule: r.try_get("rule")?,
                    deployment: r.try_get("deployment")?,
                    kind: r.try_get("kind")?,
                    severity: r.try_get("severity")?,
                    value: r.try_get("value")?,
                    message: r.try_get("message")?,
                    at: parse_ts(&r.try_get::<String, _>("at")?)?,
                })
            })
            .collect()
    }

    async fn put_channel(&self, c: &ChannelRecord) -> Result<(), StoreError> {
        // As on SQLite: the recipients are written only with a sender, and
        // the table's CHECKs refuse whatever does not fit the kind.
        let email_to = c
            .email_from
            .as_ref()
            .map(|_| serde_json::to_string(&c.email_to))
            .transpose()
            .map_err(invalid)?;
        sqlx::query(
            "INSERT INTO alert_channels (name, kind, url, email_to, email_from, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, url = excluded.url, \
             email_to = excluded.email_to, email_from = excluded.email_from",
        )
        .bind(&c.name)
        .bind(&c.kind)
        .bind(&c.url)
        .bind(email_to)
        .bind(&c.email_from)
        .bind(ts(c.created_at))
        .bind(&c.created_by)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn list_channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, kind, url, email_to, email_from, created_at, created_by FROM alert_channels \
             ORDER BY name COLLATE \"C\"",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ChannelRecord {
                    name: r.try_get("name")?,
                    kind: r.try_get("kind")?,
                    url: r.try_get("url")?,
                    email_to: match r.try_get::<Option<String>, _>("email_to")? {
                        Some(json) => serde_json::from_str(&json).map_err(invalid)?,
                        None => Vec::new(),
                    },
                    email_from: r.try_get("email_from")?,
                    created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
                    created_by: r.try_get("created_by")?,
                })
            })
            .collect()
    }

    async fn delete_channel(&self, name: &str) -> Result<(), StoreError> {
        let n = sqlx::query("DELETE FROM alert_channels WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(Missing::Channel(name.to_string())));
        }
        Ok(())
    }

    async fn add_delivery(&self, d: &DeliveryRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alert_deliveries (event_id, channel, attempt, ok, detail, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(d.event_id)
        .bind(&d.channel)
        .bind(i64::from(d.attempt))
        .bind(i64::from(d.ok))
        .bind(&d.detail)
        .bind(ts(d.at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn deliveries(&self, limit: u32) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT event_id, channel, attempt, ok, detail, at FROM alert_deliveries ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRecord {
                    event_id: r.try_get("event_id")?,
                    channel: r.try_get("channel")?,
                    attempt: r.try_get::<i64, _>("attempt")? as u32,
                    ok: r.try_get::<i64, _>("ok")? != 0,
                    detail: r.try_get("detail")?,
                    at: parse_ts(&r.try_get::<String, _>("at")?)?,
                })
            })
            .collect()
    }
}
