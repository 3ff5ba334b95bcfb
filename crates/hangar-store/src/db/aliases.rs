//! Aliases: where each points now, and the history of every move.

use chrono::{DateTime, Utc};
use hangar_core::AliasEvent;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{parse_ts, ts, AliasState, SqliteStore};
use crate::{Missing, StoreError};

/// An alias move from a row of `alias_events` (with the model's name as
/// `model_name`), on either backend.
pub(crate) fn event_from_row<'r, R>(r: &'r R) -> Result<AliasEvent, StoreError>
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AliasEvent {
        model: r.try_get("model_name")?,
        alias: r.try_get("alias")?,
        from_version: r
            .try_get::<Option<i64>, _>("from_version")?
            .map(|v| v as u32),
        to_version: r.try_get::<Option<i64>, _>("to_version")?.map(|v| v as u32),
        actor: r.try_get("actor")?,
        at: parse_ts(&r.try_get::<String, _>("at")?)?,
    })
}

impl SqliteStore {
    async fn change_alias(
        &self,
        model: &str,
        alias: &str,
        to: Option<u32>,
        actor: &str,
    ) -> Result<AliasEvent, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let model_id: i64 = sqlx::query_scalar("SELECT id FROM models WHERE name = ?")
            .bind(model)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(Missing::Model(model.to_string())))?;
        if let Some(v) = to {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM model_versions WHERE model_id = ? AND version = ?",
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
            sqlx::query_scalar("SELECT version FROM aliases WHERE model_id = ? AND alias = ?")
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
        let now = Utc::now();
        match to {
            Some(v) => {
                sqlx::query(
                    "INSERT INTO aliases (model_id, alias, version, updated_at, updated_by) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version, \
                     updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                )
                .bind(model_id)
                .bind(alias)
                .bind(i64::from(v))
                .bind(ts(now))
                .bind(actor)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM aliases WHERE model_id = ? AND alias = ?")
                    .bind(model_id)
                    .bind(alias)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query(
            "INSERT INTO alias_events (model_id, alias, from_version, to_version, actor, at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(model_id)
        .bind(alias)
        .bind(from)
        .bind(to.map(i64::from))
        .bind(actor)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AliasEvent {
            model: model.to_string(),
            alias: alias.to_string(),
            from_version: from.map(|v| v as u32),
            to_version: to,
            actor: actor.to_string(),
            at: parse_ts(&ts(now))?,
        })
    }
}

#[async_trait::async_trait]
impl crate::repo::Aliases for SqliteStore {
    async fn get_alias(&self, model: &str, alias: &str) -> Result<AliasState, StoreError> {
        let id = self.model_id(model).await?;
        let row = sqlx::query("SELECT alias, version, updated_at, updated_by FROM aliases WHERE model_id = ? AND alias = ?")
            .bind(id)
            .bind(alias)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(Missing::Alias { model: model.to_string(), alias: alias.to_string() }))?;
        alias_from_row(&row)
    }

    async fn list_aliases(&self, model: &str) -> Result<Vec<AliasState>, StoreError> {
        let id = self.model_id(model).await?;
        let rows =
            sqlx::query("SELECT alias, version, updated_at, updated_by FROM aliases WHERE model_id = ? ORDER BY alias")
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
             WHERE e.model_id = ? AND (? IS NULL OR e.alias = ?) ORDER BY e.id",
        )
        .bind(id)
        .bind(alias)
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
            "SELECT to_version FROM alias_events WHERE model_id = ? AND alias = ? AND at <= ? \
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

fn alias_from_row(r: &SqliteRow) -> Result<AliasState, StoreError> {
    Ok(AliasState {
        alias: r.try_get("alias")?,
        version: r.try_get::<i64, _>("version")? as u32,
        updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
        updated_by: r.try_get("updated_by")?,
    })
}
