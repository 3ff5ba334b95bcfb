//! The alerting tables: rules, events, channels, deliveries.

use chrono::{DateTime, Utc};
use hangar_core::alerts::{AlertRule, Comparison, MetricRef, Severity};
use sqlx::Row;

use crate::db::SqliteStore;
use crate::db::{parse_ts_pub as parse_ts, ts_pub as ts};
use crate::{Missing, StoreError};

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
    /// `webhook` (JSON), `slack` (Slack-compatible `{"text": ...}`) or
    /// `email` (SMTP).
    pub kind: String,
    /// The webhook's URL, or the SMTP server (`smtp://HOST:PORT`) of an
    /// e-mail channel.
    pub url: String,
    /// An e-mail channel's recipients (empty for the other kinds).
    pub email_to: Vec<String>,
    /// An e-mail channel's sender (`None` for the other kinds).
    pub email_from: Option<String>,
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

#[async_trait::async_trait]
impl crate::repo::Alerts for SqliteStore {
    async fn put_rule(&self, r: &AlertRule, actor: &str) -> Result<(), StoreError> {
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

    async fn list_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
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

    async fn delete_rule(&self, name: &str, deployment: &str) -> Result<(), StoreError> {
        let n = sqlx::query("DELETE FROM alert_rules WHERE name = ? AND deployment = ?")
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

    async fn alert_events(
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

    async fn put_channel(&self, c: &ChannelRecord) -> Result<(), StoreError> {
        let email_to = c
            .email_from
            .as_ref()
            .map(|_| serde_json::to_string(&c.email_to))
            .transpose()
            .map_err(invalid)?;
        sqlx::query(
            "INSERT INTO alert_channels (name, kind, url, email_to, email_from, created_at, created_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?) \
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
            "SELECT name, kind, url, email_to, email_from, created_at, created_by FROM alert_channels ORDER BY name",
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
        let n = sqlx::query("DELETE FROM alert_channels WHERE name = ?")
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

    async fn deliveries(&self, limit: u32) -> Result<Vec<DeliveryRecord>, StoreError> {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Db;
    use sqlx::migrate::Migrator;
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::SqlitePool;

    use super::*;

    fn channel(name: &str, kind: &str, to: &[&str], from: Option<&str>) -> ChannelRecord {
        ChannelRecord {
            name: name.into(),
            kind: kind.into(),
            url: "smtp://127.0.0.1:2525".into(),
            email_to: to.iter().map(|s| s.to_string()).collect(),
            email_from: from.map(str::to_string),
            created_at: parse_ts("2025-01-01T00:00:00.000000Z").unwrap(),
            created_by: "alice".into(),
        }
    }

    #[tokio::test]
    async fn migration_0005_keeps_the_channels_made_before_email() {
        let dir = tempfile::tempdir().unwrap();
        // The schema as it was at 0004, with a channel in it.
        let before = dir.path().join("migrations-0004");
        std::fs::create_dir(&before).unwrap();
        let all = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join("sqlite");
        for entry in std::fs::read_dir(&all).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_str().unwrap().to_string();
            if file.as_str() < "0005" {
                std::fs::copy(&path, before.join(&file)).unwrap();
            }
        }
        let db_path = dir.path().join("hangar.db");
        let pool = SqlitePool::connect_with(
            SqliteConnectOptions::new()
                .filename(&db_path)
                .create_if_missing(true)
                .foreign_keys(true),
        )
        .await
        .unwrap();
        Migrator::new(before.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO alert_channels (name, kind, url, created_at, created_by) \
             VALUES ('ops', 'slack', 'http://127.0.0.1:9/hook', '2025-01-01T00:00:00.000000Z', 'alice')",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;

        let db = Db::open(&db_path).await.unwrap();
        let mut expected = channel("ops", "slack", &[], None);
        expected.url = "http://127.0.0.1:9/hook".into();
        assert_eq!(db.list_channels().await.unwrap(), vec![expected]);
        // The rebuilt table takes the new kind.
        let email = channel(
            "mail",
            "email",
            &["ops@example.com"],
            Some("hangar@example.com"),
        );
        db.put_channel(&email).await.unwrap();
        assert_eq!(db.list_channels().await.unwrap()[0], email);
    }

    #[tokio::test]
    async fn an_email_channel_keeps_its_recipients_until_replaced_by_a_webhook() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("hangar.db")).await.unwrap();
        let email = channel(
            "ops",
            "email",
            &["ops@example.com", "oncall@example.com"],
            Some("Hangar <hangar@example.com>"),
        );
        db.put_channel(&email).await.unwrap();
        assert_eq!(db.list_channels().await.unwrap(), vec![email]);

        let mut hook = channel("ops", "webhook", &[], None);
        hook.url = "http://127.0.0.1:9/hook".into();
        db.put_channel(&hook).await.unwrap();
        assert_eq!(db.list_channels().await.unwrap(), vec![hook]);
    }

    #[tokio::test]
    async fn the_table_refuses_email_fields_on_the_wrong_kind() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("hangar.db")).await.unwrap();
        for c in [
            channel("a", "email", &["ops@example.com"], None),
            channel(
                "b",
                "webhook",
                &["ops@example.com"],
                Some("hangar@example.com"),
            ),
            channel("c", "sms", &[], None),
        ] {
            assert!(db.put_channel(&c).await.is_err(), "{c:?}");
        }
        assert!(db.list_channels().await.unwrap().is_empty());
    }
}
