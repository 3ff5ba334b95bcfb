//! PostgreSQL: aliases, where each points now, and the history of every
//! move. A move is written under the lock on its model's row
//! (`models::lock_model`), so the history's `from_version`s chain even when
//! several processes move one alias at once.

use chrono::{DateTime, Utc};
use hangar_core::AliasEvent;
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::models::lock_model;
use super::PostgresStore;
use crate::db::aliases::event_from_row;
use crate::db::{parse_ts_pub as parse_ts, ts_pub as ts};
use crate::{AliasState, Missing, StoreError};

fn alias_from_row(r: &PgRow) -> Result<AliasState, StoreError> {
    Ok(AliasState {
        alias: r.try_get("alias")?,
        version: r.try_get::<i64, _>("version")? as u32,
        updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
        updated_by: r.try_get("updated_by")?,
    })
}

impl PostgresStore {
    /// Sets (`to` = a version) or deletes (`None`) an alias and records the
    /// change, in one transaction.
    async fn change_alias(
        &self,
        model: &str,
        alias: &str,
        to: Option<u32>,
        actor: &str,
    ) -> Result<AliasEvent, StoreError> {
        let mut tx = self.pool.begin().await?;
        let model_id = lock_model(&mut tx, model)
            .await?
            .ok_or_else(|| StoreError::NotFound(Missing::Model(model.to_string())))?;
        if let Some(v) = to {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM model_versions WHERE model_id = $1 AND version = $2",
            )
            .bind(model_id)
            .bind(i64::from(v))
            .fetch_optional(&mut *tx)
            .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(Missing::Version {
                    model: model.to_string(),
                    version: v,
                }));
            }
        }
        let from: Option<i64> =
            sqlx::query_scalar("SELECT version FROM aliases WHERE model_id = $1 AND alias = $2")
                .bind(model_id)
                .bind(alias)
                .fetch_optional(&mut *tx)
                .await?;
        if from.is_none() && to.is_none() {
            return Err(StoreError::NotFound(Missing::Alias {
                model: model.to_string(),
                alias: alias.to_string(),
            }));
        }
        // Taken under the lock: the history's times are in the order of its
        // moves.
        let now = ts(Utc::now());
        match to {
            Some(v) => {
                sqlx::query(
                    "INSERT INTO aliases (model_id, alias, version, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version, \
                     updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                )
                .bind(model_id)
                .bind(alias)
                .bind(i64::from(v))
                .bind(&now)
                .bind(actor)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM aliases WHERE model_id = $1 AND alias = $2")
                    .bind(model_id)
                    .bind(alias)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query(
            "INSERT INTO alias_events (model_id, alias, from_version, to_version, actor, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(model_id)
        .bind(alias)
        .bind(from)
        .bind(to.map(i64::from))
        .bind(actor)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AliasEvent {
            model: model.to_string(),
            alias: alias.to_string(),
            from_version: from.map(|v| v as u32),
            to_version: to,
            actor: actor.to_string(),
            at: parse_ts(&now)?,
        })
    }
}

#[async_trait::async_trait]
impl crate::repo::Aliases for PostgresStore {
    async fn get_alias(&self, model: &str, alias: &str) -> Result<AliasState, StoreError> {
        let id = self.model_id(model).await?;
        let row = sqlx::query(
            "SELECT alias, version, updated_at, updated_by FROM aliases WHERE model_id = $1 AND alias = $2",
        )
        .bind(id)
        .bind(alias)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(Missing::Alias {
                model: model.to_string(),
                alias: alias.to_string(),
            })
        })?;
        alias_from_row(&row)
    }

    async fn list_aliases(&self, model: &str) -> Result<Vec<AliasState>, StoreError> {
        let id = self.model_id(model).await?;
        let rows = sqlx::query(
            "SELECT alias, version, updated_at, updated_by FROM aliases WHERE model_id = $1 ORDER BY alias",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alias_from_row).collect()
    }

    async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: u32,
        actor: &str,
    ) -> Result<AliasEvent, StoreError> {
        self.change_alias(model, alias, Some(version), actor).await
    }

    async fn delete_alias(
        &self,
        model: &str,
        alias: &str,
        actor: &str,
    ) -> Result<AliasEvent, StoreError> {
        self.change_alias(model, alias, None, actor).await
    }

    async fn alias_history(
        &self,
        model: &str,
        alias: Option<&str>,
    ) -> Result<Vec<AliasEvent>, StoreError> {
        let id = self.model_id(model).await?;
        let rows = sqlx::query(
            "SELECT m.name AS model_name, e.alias, e.from_version, e.to_version, e.actor, e.at \
             FROM alias_events e JOIN models m ON m.id = e.model_id \
             WHERE e.model_id = $1 AND ($2::text IS NULL OR e.alias = $2) ORDER BY e.id",
        )
        .bind(id)
        .bind(alias)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn alias_at(
        &self,
        model: &str,
        alias: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<u32>, StoreError> {
        let id = self.model_id(model).await?;
        let v: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT to_version FROM alias_events WHERE model_id = $1 AND alias = $2 AND at <= $3 \
             ORDER BY at DESC, id DESC LIMIT 1",
        )
        .bind(id)
        .bind(alias)
        .bind(ts(at))
        .fetch_optional(&self.pool)
        .await?;
        Ok(v.flatten().map(|v| v as u32))
    }
}
