//! Deployments and their revisions: the queries, and the revisions'
//! storage forms, kept apart from the domain types.

use chrono::Utc;
use hangar_core::{
    Deployment, DeploymentSettings, Guardrails, ResolvedRoute, ResolvedShadow, Revision,
    RevisionKind, RoutingTable, VersionRef,
};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{json, parse_ts, to_json, ts, SqliteStore};
use crate::repo::Deployments as _;
use crate::{Missing, StoreError};

impl SqliteStore {
    async fn deployment_from_row(&self, r: &SqliteRow) -> Result<Deployment, StoreError> {
        let name: String = r.try_get("name")?;
        let revision = r.try_get::<i64, _>("revision")? as u32;
        Ok(Deployment {
            current: self.get_revision(&name, revision).await?,
            created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
            name,
        })
    }
}

#[async_trait::async_trait]
impl crate::repo::Deployments for SqliteStore {
    async fn create_revision(
        &self,
        deployment: &str,
        table: &RoutingTable,
        settings: &DeploymentSettings,
        kind: &RevisionKind,
        message: &str,
        actor: &str,
    ) -> Result<Revision, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let next: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(revision), 0) + 1 FROM deployment_revisions WHERE deployment = ?",
        )
        .bind(deployment)
        .fetch_one(&mut *tx)
        .await?;
        let now = Utc::now();
        let (kind_name, detail) = kind_to_json(kind);
        sqlx::query(
            "INSERT INTO deployment_revisions (deployment, revision, routing, settings, kind, detail, message, actor, at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(deployment)
        .bind(next)
        .bind(routing_to_json(table))
        .bind(settings_to_json(settings))
        .bind(kind_name)
        .bind(detail)
        .bind(message)
        .bind(actor)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        // A new deployment belongs to the team of the model its first route
        // serves; it changes only when that model moves to another team and
        // takes its deployments along (`update_card_moving`).
        sqlx::query(
            "INSERT INTO deployments (name, revision, created_at, team) VALUES (?, ?, ?, \
             COALESCE((SELECT owner_team FROM models WHERE name = ?), 'default')) \
             ON CONFLICT (name) DO UPDATE SET revision = excluded.revision",
        )
        .bind(deployment)
        .bind(next)
        .bind(ts(now))
        .bind(table.routes.first().map(|r| r.target.model.as_str()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get_revision(deployment, next as u32).await
    }

    async fn get_revision(&self, deployment: &str, revision: u32) -> Result<Revision, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM deployment_revisions WHERE deployment = ? AND revision = ?"
        ))
        .bind(deployment)
        .bind(i64::from(revision))
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(Missing::Revision { deployment: deployment.to_string(), revision }))?;
        revision_from_row(&row)
    }

    async fn list_revisions(&self, deployment: &str) -> Result<Vec<Revision>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM deployment_revisions WHERE deployment = ? ORDER BY revision"
        ))
        .bind(deployment)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound(Missing::Deployment(
                deployment.to_string(),
            )));
        }
        rows.iter().map(revision_from_row).collect()
    }

    async fn get_deployment(&self, name: &str) -> Result<Deployment, StoreError> {
        let row = sqlx::query("SELECT name, revision, created_at FROM deployments WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(Missing::Deployment(name.to_string())))?;
        self.deployment_from_row(&row).await
    }

    async fn list_deployments(&self) -> Result<Vec<Deployment>, StoreError> {
        let rows = sqlx::query("SELECT name, revision, created_at FROM deployments ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.deployment_from_row(r).await?);
        }
        Ok(out)
    }

    async fn delete_deployment(&self, name: &str) -> Result<(), StoreError> {
        let n = sqlx::query("DELETE FROM deployments WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(Missing::Deployment(name.to_string())));
        }
        Ok(())
    }
}

const REVISION_COLUMNS: &str =
    "deployment, revision, routing, settings, kind, detail, message, actor, at";

#[derive(Serialize, Deserialize)]
struct StoredRoute {
    target: String,
    weight: u8,
    version: u32,
}

#[derive(Serialize, Deserialize)]
struct StoredShadow {
    target: String,
    version: u32,
}

#[derive(Serialize, Deserialize)]
struct StoredRouting {
    routes: Vec<StoredRoute>,
    shadow: Option<StoredShadow>,
}

#[derive(Serialize, Deserialize)]
#[serde(default)]
struct StoredGuardrails {
    max_error_rate: Option<f64>,
    max_p99_ms: Option<f64>,
    window_secs: u64,
    min_requests: u64,
}

impl Default for StoredGuardrails {
    fn default() -> Self {
        let g = Guardrails::default();
        StoredGuardrails {
            max_error_rate: g.max_error_rate,
            max_p99_ms: g.max_p99_ms,
            window_secs: g.window_secs,
            min_requests: g.min_requests,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(default)]
struct StoredSettings {
    max_batch_size: u32,
    max_queue_delay_us: u64,
    queue_capacity: u32,
    timeout_ms: Option<u64>,
    max_concurrency: Option<u32>,
    guardrails: StoredGuardrails,
    segments: Vec<String>,
    row_id: Option<String>,
    log_predictions: bool,
    require_signed: bool,
}

impl Default for StoredSettings {
    fn default() -> Self {
        let d = DeploymentSettings::default();
        StoredSettings {
            max_batch_size: d.max_batch_size,
            max_queue_delay_us: d.max_queue_delay_us,
            queue_capacity: d.queue_capacity,
            timeout_ms: d.timeout_ms,
            max_concurrency: d.max_concurrency,
            guardrails: StoredGuardrails::default(),
            segments: d.segments,
            row_id: d.row_id,
            log_predictions: d.log_predictions,
            require_signed: d.require_signed,
        }
    }
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct StoredDetail {
    to: Option<u32>,
    from: Option<u32>,
    reason: Option<String>,
    model: Option<String>,
    alias: Option<String>,
}

fn parse_ref(s: &str) -> Result<VersionRef, StoreError> {
    s.parse()
        .map_err(|e: hangar_core::model::VersionRefError| StoreError::Invalid(e.to_string()))
}

// The storage forms below are shared with the PostgreSQL backend
// (`crate::postgres`): one form on both, so `hangar store copy` moves the
// text as it is.
pub(crate) fn routing_to_json(t: &RoutingTable) -> String {
    to_json(&StoredRouting {
        routes: t
            .routes
            .iter()
            .map(|r| StoredRoute {
                target: r.target.to_string(),
                weight: r.weight,
                version: r.version,
            })
            .collect(),
        shadow: t.shadow.as_ref().map(|s| StoredShadow {
            target: s.target.to_string(),
            version: s.version,
        }),
    })
}

pub(crate) fn routing_from_json(s: &str) -> Result<RoutingTable, StoreError> {
    let stored: StoredRouting = json(s)?;
    Ok(RoutingTable {
        routes: stored
            .routes
            .into_iter()
            .map(|r| {
                Ok(ResolvedRoute {
                    target: parse_ref(&r.target)?,
                    weight: r.weight,
                    version: r.version,
                })
            })
            .collect::<Result<_, StoreError>>()?,
        shadow: stored
            .shadow
            .map(|s| {
                Ok::<_, StoreError>(ResolvedShadow {
                    target: parse_ref(&s.target)?,
                    version: s.version,
                })
            })
            .transpose()?,
    })
}

pub(crate) fn settings_to_json(s: &DeploymentSettings) -> String {
    to_json(&StoredSettings {
        max_batch_size: s.max_batch_size,
        max_queue_delay_us: s.max_queue_delay_us,
        queue_capacity: s.queue_capacity,
        timeout_ms: s.timeout_ms,
        max_concurrency: s.max_concurrency,
        guardrails: StoredGuardrails {
            max_error_rate: s.guardrails.max_error_rate,
            max_p99_ms: s.guardrails.max_p99_ms,
            window_secs: s.guardrails.window_secs,
            min_requests: s.guardrails.min_requests,
        },
        segments: s.segments.clone(),
        row_id: s.row_id.clone(),
        log_predictions: s.log_predictions,
        require_signed: s.require_signed,
    })
}

pub(crate) fn settings_from_json(s: &str) -> Result<DeploymentSettings, StoreError> {
    let st: StoredSettings = json(s)?;
    Ok(DeploymentSettings {
        max_batch_size: st.max_batch_size,
        max_queue_delay_us: st.max_queue_delay_us,
        queue_capacity: st.queue_capacity,
        timeout_ms: st.timeout_ms,
        max_concurrency: st.max_concurrency,
        guardrails: Guardrails {
            max_error_rate: st.guardrails.max_error_rate,
            max_p99_ms: st.guardrails.max_p99_ms,
            window_secs: st.guardrails.window_secs,
            min_requests: st.guardrails.min_requests,
        },
        segments: st.segments,
        row_id: st.row_id,
        log_predictions: st.log_predictions,
        require_signed: st.require_signed,
    })
}

pub(crate) fn kind_to_json(k: &RevisionKind) -> (&'static str, String) {
    let detail = match k {
        RevisionKind::Deploy | RevisionKind::Promote => StoredDetail::default(),
        RevisionKind::Rollback { to } => StoredDetail {
            to: Some(*to),
            ..Default::default()
        },
        RevisionKind::AliasMoved { model, alias } => StoredDetail {
            model: Some(model.clone()),
            alias: Some(alias.clone()),
            ..Default::default()
        },
        RevisionKind::Guardrail { from, reason } => StoredDetail {
            from: Some(*from),
            reason: Some(reason.clone()),
            ..Default::default()
        },
    };
    (k.name(), to_json(&detail))
}

pub(crate) fn kind_from_json(name: &str, detail: &str) -> Result<RevisionKind, StoreError> {
    let d: StoredDetail = json(detail)?;
    let missing = || StoreError::Invalid(format!("revision detail {detail:?} for kind {name}"));
    Ok(match name {
        "deploy" => RevisionKind::Deploy,
        "promote" => RevisionKind::Promote,
        "rollback" => RevisionKind::Rollback {
            to: d.to.ok_or_else(missing)?,
        },
        "alias_moved" => RevisionKind::AliasMoved {
            model: d.model.clone().ok_or_else(missing)?,
            alias: d.alias.clone().ok_or_else(missing)?,
        },
        "guardrail_rollback" => RevisionKind::Guardrail {
            from: d.from.ok_or_else(missing)?,
            reason: d.reason.clone().unwrap_or_default(),
        },
        other => return Err(StoreError::Invalid(format!("revision kind {other:?}"))),
    })
}

fn revision_from_row(r: &SqliteRow) -> Result<Revision, StoreError> {
    Ok(Revision {
        deployment: r.try_get("deployment")?,
        number: r.try_get::<i64, _>("revision")? as u32,
        table: routing_from_json(&r.try_get::<String, _>("routing")?)?,
        settings: settings_from_json(&r.try_get::<String, _>("settings")?)?,
        kind: kind_from_json(
            &r.try_get::<String, _>("kind")?,
            &r.try_get::<String, _>("detail")?,
        )?,
        message: r.try_get("message")?,
        actor: r.try_get("actor")?,
        at: parse_ts(&r.try_get::<String, _>("at")?)?,
    })
}
