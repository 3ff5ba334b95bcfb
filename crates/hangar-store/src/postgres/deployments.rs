//! PostgreSQL: deployments and their revisions. Revision numbers are
//! allocated under a transaction-scoped advisory lock on the deployment's
//! name (a deployment may not have a row yet to lock), so concurrent
//! changes from any number of processes get distinct, consecutive numbers.
//! The revisions' storage forms are SQLite's (`crate::db::deployments`).

use chrono::Utc;
use hangar_core::{Deployment, DeploymentSettings, Revision, RevisionKind, RoutingTable};
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::PostgresStore;
use crate::db::deployments::{
    kind_from_json, kind_to_json, routing_from_json, routing_to_json, settings_from_json,
    settings_to_json,
};
use crate::db::{parse_ts_pub as parse_ts, ts_pub as ts};
use crate::{Missing, StoreError};

/// The first key of the advisory locks on deployment names (the second is
/// the name's hash): a space of its own among Hangar's advisory locks. Two
/// names with the same hash only wait for each other.
const DEPLOYMENT_LOCK_CLASS: i32 = 0x4864_0001;

const REVISION_COLUMNS: &str =
    "deployment, revision, routing, settings, kind, detail, message, actor, at";

fn revision_from_row(r: &PgRow) -> Result<Revision, StoreError> {
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

/// A deployment with its current revision, in one query (SQLite reads the
/// revision with a second query; here that would be a second round trip).
const DEPLOYMENT_SELECT: &str =
    "SELECT d.name, d.created_at, r.deployment, r.revision, r.routing, r.settings, r.kind, \
     r.detail, r.message, r.actor, r.at \
     FROM deployments d JOIN deployment_revisions r ON r.deployment = d.name AND r.revision = d.revision";

fn deployment_from_row(r: &PgRow) -> Result<Deployment, StoreError> {
    Ok(Deployment {
        name: r.try_get("name")?,
        current: revision_from_row(r)?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
    })
}

#[async_trait::async_trait]
impl crate::repo::Deployments for PostgresStore {
    async fn create_revision(
        &self,
        deployment: &str,
        table: &RoutingTable,
        settings: &DeploymentSettings,
        kind: &RevisionKind,
        message: &str,
        actor: &str,
    ) -> Result<Revision, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(DEPLOYMENT_LOCK_CLASS)
            .bind(deployment)
            .execute(&mut *tx)
            .await?;
        let now = ts(Utc::now());
        let (kind_name, detail) = kind_to_json(kind);
        let row = sqlx::query(&format!(
            "INSERT INTO deployment_revisions (deployment, revision, routing, settings, kind, detail, message, actor, at) \
             SELECT $1, COALESCE(MAX(revision), 0) + 1, $2, $3, $4, $5, $6, $7, $8 \
             FROM deployment_revisions WHERE deployment = $1 \
             RETURNING {REVISION_COLUMNS}"
        ))
        .bind(deployment)
        .bind(routing_to_json(table))
        .bind(settings_to_json(settings))
        .bind(kind_name)
        .bind(detail)
        .bind(message)
        .bind(actor)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        let revision = revision_from_row(&row)?;
        // A new deployment belongs to the team of the model its first route
        // serves; it changes only when that model moves to another team and
        // takes its deployments along (`update_card_moving`).
        sqlx::query(
            "INSERT INTO deployments (name, revision, created_at, team) VALUES ($1, $2, $3, \
             COALESCE((SELECT owner_team FROM models WHERE name = $4), 'default')) \
             ON CONFLICT (name) DO UPDATE SET revision = excluded.revision",
        )
        .bind(deployment)
        .bind(i64::from(revision.number))
        .bind(&now)
        .bind(table.routes.first().map(|r| r.target.model.as_str()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(revision)
    }

    async fn get_revision(&self, deployment: &str, revision: u32) -> Result<Revision, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM deployment_revisions WHERE deployment = $1 AND revision = $2"
        ))
        .bind(deployment)
        .bind(i64::from(revision))
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(Missing::Revision {
                deployment: deployment.to_string(),
                revision,
            })
        })?;
        revision_from_row(&row)
    }

    async fn list_revisions(&self, deployment: &str) -> Result<Vec<Revision>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM deployment_revisions WHERE deployment = $1 ORDER BY revision"
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
        let row = sqlx::query(&format!("{DEPLOYMENT_SELECT} WHERE d.name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(Missing::Deployment(name.to_string())))?;
        deployment_from_row(&row)
    }

    async fn list_deployments(&self) -> Result<Vec<Deployment>, StoreError> {
        let rows = sqlx::query(&format!("{DEPLOYMENT_SELECT} ORDER BY d.name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(deployment_from_row).collect()
    }

    async fn delete_deployment(&self, name: &str) -> Result<(), StoreError> {
        let n = sqlx::query("DELETE FROM deployments WHERE name = $1")
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
