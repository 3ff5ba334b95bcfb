//! The alerting tables: rules, events, channels, deliveries.

use chrono::{DateTime, Utc};
use hangar_core::alerts::{AlertRule, Comparison, MetricRef, Severity};
use sqlx::Row;

use crate::db::{parse_ts_pub as parse_ts, ts_pub as ts};
use crate::{Db, StoreError};

#[derive(Debug, Clone, PartialEq)]
pub struct AlertEventRecord {
    pub id: i64,
    pub rule: String,
    pub deployment: String,
    pub kind: String,
    pub severity: String,
    pub value: Option<f64>,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    pub name: String,
    /// `webhook` (JSON) or `slack` (Slack-compatible `{"text": ...}`).
    pub kind: String,
    pub url: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub event_id: i64,
    pub channel: String,
    pub attempt: u32,
    pub ok: bool,
    pub detail: String,
    pub at: DateTime<Utc>,
}

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(e.to_string())
}

impl Db {
    pub async fn put_rule(&self, r: &AlertRule, actor: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alert_rules (name, deployment, metric, comparison, threshold, window_secs, for_secs, severity, \
             guardrail, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
        .bind(r.guardrail)
        .bind(ts(Utc::now()))
        .bind(actor)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn list_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, deployment, metric, comparison, threshold, window_secs, for_secs, severity, guardrail \
             FROM alert_rules ORDER BY deployment, name",
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
                    guardrail: r.try_get("guardrail")?,
                })
            })
            .collect()
    }

    pub async fn delete_rule(&self, name: &str, deployment: &str) -> Result<(), StoreError> {
        let n = sqlx::query("DELETE FROM alert_rules WHERE name = ? AND deployment = ?")
            .bind(name)
            .bind(deployment)
            .execute(self.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "alert rule '{name}' for '{deployment}'"
            )));
        }
        Ok(())
    }

    pub async fn add_alert_event(&self, e: &AlertEventRecord) -> Result<i64, StoreError> {
        let id = sqlx::query(
            "INSERT INTO alert_events (rule, deployment, kind, severity, value, message, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&e.rule)
        .bind(&e.deployment)
        .bind(&e.kind)
        .bind(&e.severity)
        .bind(e.value)
        .bind(&e.message)
        .bind(ts(e.at))
        .execute(self.pool())
        .await?
        .last_insert_rowid();
        Ok(id)
    }

    /// Alert events, newest first, optionally for one deployment.
    pub async fn alert_events(
        &self,
        deployment: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AlertEventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, rule, deployment, kind, severity, value, message, at FROM alert_events \
             WHERE (? IS NULL OR deployment = ?) ORDER BY id DESC LIMIT ?",
        )
        .bind(deployment)
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

    pub async fn put_channel(&self, c: &ChannelRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alert_channels (name, kind, url, created_at, created_by) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, url = excluded.url",
        )
        .bind(&c.name)
        .bind(&c.kind)
        .bind(&c.url)
        .bind(ts(c.created_at))
        .bind(&c.created_by)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn list_channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, kind, url, created_at, created_by FROM alert_channels ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ChannelRecord {
                    name: r.try_get("name")?,
                    kind: r.try_get("kind")?,
                    url: r.try_get("url")?,
                    created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
                    created_by: r.try_get("created_by")?,
                })
            })
            .collect()
    }

    pub async fn delete_channel(&self, name: &str) -> Result<(), StoreError> {
        let n = sqlx::query("DELETE FROM alert_channels WHERE name = ?")
            .bind(name)
            .execute(self.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("channel '{name}'")));
        }
        Ok(())
    }

    pub async fn add_delivery(&self, d: &DeliveryRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO alert_deliveries (event_id, channel, attempt, ok, detail, at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(d.event_id)
            .bind(&d.channel)
            .bind(i64::from(d.attempt))
            .bind(d.ok)
            .bind(&d.detail)
            .bind(ts(d.at))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn deliveries(&self, limit: u32) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT event_id, channel, attempt, ok, detail, at FROM alert_deliveries ORDER BY id DESC LIMIT ?",
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
                    ok: r.try_get("ok")?,
                    detail: r.try_get("detail")?,
                    at: parse_ts(&r.try_get::<String, _>("at")?)?,
                })
            })
            .collect()
    }
}
