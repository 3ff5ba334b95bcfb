//! PostgreSQL: models and their versions. Version numbers are allocated
//! under a lock on the model's row, so concurrent pushes from any number of
//! processes get distinct, consecutive numbers (SQLite gets the same from
//! its single writer, `BEGIN IMMEDIATE`).

use chrono::Utc;
use hangar_core::{Model, ModelCard, ModelVersion};
use sqlx::Postgres;

use super::PostgresStore;
use crate::db::models::{
    model_from_row, signature_to_json, version_from_row, MODEL_COLUMNS, VERSION_COLUMNS,
};
use crate::db::{to_json, ts_pub as ts};
use crate::{Missing, NewVersion, StoreError};

/// Inserts a model row with its card unless the name is taken; returns its
/// id, or `None` when a model of that name exists (or is being created by a
/// transaction that then commits: the insert waits for it).
async fn insert_model<'e, E: sqlx::Executor<'e, Database = Postgres>>(
    executor: E,
    name: &str,
    card: &ModelCard,
    actor: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let now = ts(Utc::now());
    sqlx::query_scalar(
        "INSERT INTO models (name, description, owner_team, intended_use, out_of_scope_uses, risk_tier, tags, \
         created_at, updated_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) \
         ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(name)
    .bind(&card.description)
    .bind(&card.owner_team)
    .bind(&card.intended_use)
    .bind(to_json(&card.out_of_scope_uses))
    .bind(card.risk_tier.as_str())
    .bind(to_json(&card.tags))
    .bind(&now)
    .bind(actor)
    .fetch_optional(executor)
    .await
}

impl PostgresStore {
    /// A model's id, or [`Missing::Model`].
    pub(super) async fn model_id(&self, name: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT id FROM models WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(Missing::Model(name.to_string())))
    }
}

/// Locks a model's row for the rest of the transaction and returns its id
/// (`None`: no such model). Whatever is numbered or changed per model
/// (versions, aliases and their history) is written under this lock, so
/// writers in any process take turns. `NO KEY UPDATE` leaves readers and
/// foreign-key checks on the row free.
pub(super) async fn lock_model(
    tx: &mut sqlx::PgConnection,
    name: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM models WHERE name = $1 FOR NO KEY UPDATE")
            .bind(name)
            .fetch_optional(tx)
            .await?,
    )
}

#[async_trait::async_trait]
impl crate::repo::Models for PostgresStore {
    async fn create_model(
        &self,
        name: &str,
        card: &ModelCard,
        actor: &str,
    ) -> Result<Model, StoreError> {
        if insert_model(&self.pool, name, card, actor).await?.is_none() {
            return Err(StoreError::Taken(format!("model '{name}' already exists")));
        }
        self.get_model(name).await
    }

    async fn list_models(&self) -> Result<Vec<Model>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {MODEL_COLUMNS} FROM models m ORDER BY m.name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(model_from_row).collect()
    }

    async fn get_model(&self, name: &str) -> Result<Model, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {MODEL_COLUMNS} FROM models m WHERE m.name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(Missing::Model(name.to_string())))?;
        model_from_row(&row)
    }

    async fn update_card_moving(
        &self,
        name: &str,
        card: &ModelCard,
        deployments: &[String],
    ) -> Result<Model, StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE models SET description = $1, owner_team = $2, intended_use = $3, out_of_scope_uses = $4, \
             risk_tier = $5, tags = $6, updated_at = $7 WHERE name = $8",
        )
        .bind(&card.description)
        .bind(&card.owner_team)
        .bind(&card.intended_use)
        .bind(to_json(&card.out_of_scope_uses))
        .bind(card.risk_tier.as_str())
        .bind(to_json(&card.tags))
        .bind(ts(Utc::now()))
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(Missing::Model(name.to_string())));
        }
        let team = card
            .owner_team
            .as_deref()
            .unwrap_or(hangar_core::governance::DEFAULT_TEAM);
        for d in deployments {
            let moved = sqlx::query("UPDATE deployments SET team = $1 WHERE name = $2")
                .bind(team)
                .bind(d)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if moved == 0 {
                return Err(StoreError::NotFound(Missing::Deployment(d.to_string())));
            }
        }
        tx.commit().await?;
        self.get_model(name).await
    }

    async fn add_version_creating(
        &self,
        model: &str,
        create: Option<&ModelCard>,
        v: &NewVersion,
        actor: &str,
    ) -> Result<(ModelVersion, bool), StoreError> {
        let mut tx = self.pool.begin().await?;
        let (model_id, created) = match create {
            // The row this transaction inserts is its own until it commits:
            // no one else can number versions of it meanwhile.
            Some(card) => match insert_model(&mut *tx, model, card, actor).await? {
                Some(id) => (id, true),
                // Created by someone else since the caller looked: their
                // model, perhaps in another team, is not the one the caller
                // meant.
                None => {
                    return Err(StoreError::Conflict(format!(
                        "model '{model}' was created by someone else meanwhile; push again to add a version to it"
                    )))
                }
            },
            None => match lock_model(&mut tx, model).await? {
                Some(id) => (id, false),
                None => return Err(StoreError::NotFound(Missing::Model(model.to_string()))),
            },
        };
        let now = ts(Utc::now());
        let next: i64 = sqlx::query_scalar(
            "INSERT INTO model_versions (model_id, version, digest, size_bytes, format, signature, feature_names, \
             description, source_commit, training_run, metrics, metadata, created_at, created_by) \
             SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 \
             FROM model_versions WHERE model_id = $1 \
             RETURNING version",
        )
        .bind(model_id)
        .bind(&v.artifact.digest)
        .bind(v.artifact.size_bytes as i64)
        .bind(v.format.as_str())
        .bind(signature_to_json(&v.signature))
        .bind(v.feature_names.as_ref().map(to_json))
        .bind(&v.description)
        .bind(&v.source_commit)
        .bind(&v.training_run)
        .bind(to_json(&v.metrics))
        .bind(to_json(&v.metadata))
        .bind(&now)
        .bind(actor)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE models SET updated_at = $1 WHERE id = $2")
            .bind(&now)
            .bind(model_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((self.get_version(model, next as u32).await?, created))
    }

    async fn list_versions(&self, model: &str) -> Result<Vec<ModelVersion>, StoreError> {
        let id = self.model_id(model).await?;
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions v JOIN models m ON m.id = v.model_id \
             WHERE v.model_id = $1 ORDER BY v.version"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    async fn referenced_digests(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT digest FROM model_versions UNION SELECT digest FROM baselines")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    async fn get_version(&self, model: &str, version: u32) -> Result<ModelVersion, StoreError> {
        let id = self.model_id(model).await?;
        let row = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions v JOIN models m ON m.id = v.model_id \
             WHERE v.model_id = $1 AND v.version = $2"
        ))
        .bind(id)
        .bind(i64::from(version))
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(Missing::Version {
                model: model.to_string(),
                version,
            })
        })?;
        version_from_row(&row)
    }
}
