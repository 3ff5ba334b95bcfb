//! Models and their versions: the rows, their storage forms (a signature as
//! JSON) and the queries.

use std::str::FromStr;

use chrono::Utc;
use hangar_core::{
    ArtifactFormat, DataType, Model, ModelCard, ModelVersion, RiskTier, Signature, TensorSpec,
};
use serde::{Deserialize, Serialize};
use sqlx::Sqlite;

use super::{json, parse_ts, to_json, ts, NewVersion, SqliteStore};
use crate::{Missing, StoreError};

/// Storage form of a signature (kept apart from the domain type).
#[derive(Serialize, Deserialize)]
struct StoredSpec {
    name: String,
    datatype: String,
    shape: Vec<i64>,
}

#[derive(Serialize, Deserialize)]
struct StoredSignature {
    inputs: Vec<StoredSpec>,
    outputs: Vec<StoredSpec>,
}

// The storage forms are shared with the PostgreSQL backend (`crate::postgres`):
// one form on both, so `hangar store copy` moves the text as it is.
pub(crate) fn signature_to_json(s: &Signature) -> String {
    let conv = |v: &[TensorSpec]| {
        v.iter()
            .map(|t| StoredSpec {
                name: t.name.clone(),
                datatype: t.datatype.as_str().to_string(),
                shape: t.shape.clone(),
            })
            .collect()
    };
    to_json(&StoredSignature {
        inputs: conv(&s.inputs),
        outputs: conv(&s.outputs),
    })
}

pub(crate) fn signature_from_json(s: &str) -> Result<Signature, StoreError> {
    let stored: StoredSignature = json(s)?;
    let conv = |v: Vec<StoredSpec>| -> Result<Vec<TensorSpec>, StoreError> {
        v.into_iter()
            .map(|t| {
                Ok(TensorSpec {
                    datatype: DataType::from_str(&t.datatype)
                        .map_err(|e| StoreError::Invalid(e.to_string()))?,
                    name: t.name,
                    shape: t.shape,
                })
            })
            .collect()
    };
    Ok(Signature {
        inputs: conv(stored.inputs)?,
        outputs: conv(stored.outputs)?,
    })
}

pub(crate) const MODEL_COLUMNS: &str =
    "m.id, m.name, m.description, m.owner_team, m.intended_use, m.out_of_scope_uses, \
     m.risk_tier, m.tags, m.created_at, m.updated_at, m.created_by, \
     (SELECT MAX(v.version) FROM model_versions v WHERE v.model_id = m.id) AS latest_version";

/// A model from a row of `MODEL_COLUMNS`, on either backend (both store
/// the same columns as the same text and integers).
pub(crate) fn model_from_row<'r, R>(r: &'r R) -> Result<Model, StoreError>
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Model {
        name: r.try_get("name")?,
        card: ModelCard {
            description: r.try_get("description")?,
            owner_team: r.try_get("owner_team")?,
            intended_use: r.try_get("intended_use")?,
            out_of_scope_uses: json(&r.try_get::<String, _>("out_of_scope_uses")?)?,
            risk_tier: RiskTier::from_str(&r.try_get::<String, _>("risk_tier")?)
                .map_err(|e| StoreError::Invalid(e.to_string()))?,
            tags: json(&r.try_get::<String, _>("tags")?)?,
        },
        latest_version: r
            .try_get::<Option<i64>, _>("latest_version")?
            .map(|v| v as u32),
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        updated_at: parse_ts(&r.try_get::<String, _>("updated_at")?)?,
        created_by: r.try_get("created_by")?,
    })
}

pub(crate) const VERSION_COLUMNS: &str = "m.name AS model_name, v.version, v.digest, v.size_bytes, v.format, v.signature, \
     v.feature_names, v.description, v.source_commit, v.training_run, v.metrics, v.metadata, v.created_at, v.created_by";

/// A version from a row of `VERSION_COLUMNS`, on either backend.
pub(crate) fn version_from_row<'r, R>(r: &'r R) -> Result<ModelVersion, StoreError>
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ModelVersion {
        model: r.try_get("model_name")?,
        version: r.try_get::<i64, _>("version")? as u32,
        digest: r.try_get("digest")?,
        size_bytes: r.try_get::<i64, _>("size_bytes")? as u64,
        format: ArtifactFormat::from_str(&r.try_get::<String, _>("format")?)
            .map_err(StoreError::Invalid)?,
        signature: signature_from_json(&r.try_get::<String, _>("signature")?)?,
        feature_names: r
            .try_get::<Option<String>, _>("feature_names")?
            .map(|s| json(&s))
            .transpose()?,
        description: r.try_get("description")?,
        source_commit: r.try_get("source_commit")?,
        training_run: r.try_get("training_run")?,
        metrics: json(&r.try_get::<String, _>("metrics")?)?,
        metadata: json(&r.try_get::<String, _>("metadata")?)?,
        created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
        created_by: r.try_get("created_by")?,
    })
}

/// Inserts a model row with its card: for creating a model alone, or with
/// its first version in the same transaction.
async fn insert_model<'e, E: sqlx::Executor<'e, Database = Sqlite>>(
    executor: E,
    name: &str,
    card: &ModelCard,
    actor: &str,
) -> Result<sqlx::sqlite::SqliteQueryResult, sqlx::Error> {
    let now = ts(Utc::now());
    sqlx::query(
        "INSERT INTO models (name, description, owner_team, intended_use, out_of_scope_uses, risk_tier, tags, \
         created_at, updated_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(name)
    .bind(&card.description)
    .bind(&card.owner_team)
    .bind(&card.intended_use)
    .bind(to_json(&card.out_of_scope_uses))
    .bind(card.risk_tier.as_str())
    .bind(to_json(&card.tags))
    .bind(&now)
    .bind(&now)
    .bind(actor)
    .execute(executor)
    .await
}

impl SqliteStore {
    pub(super) async fn model_id(&self, name: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT id FROM models WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(Missing::Model(name.to_string())))
    }
}

#[async_trait::async_trait]
impl crate::repo::Models for SqliteStore {
    async fn create_model(
        &self,
        name: &str,
        card: &ModelCard,
        actor: &str,
    ) -> Result<Model, StoreError> {
        let result = insert_model(&self.pool, name, card, actor).await;
        match result {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Taken(format!("model '{name}' already exists")))
            }
            other => other?,
        };
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
            "SELECT {MODEL_COLUMNS} FROM models m WHERE m.name = ?"
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let n = sqlx::query(
            "UPDATE models SET description = ?, owner_team = ?, intended_use = ?, out_of_scope_uses = ?, \
             risk_tier = ?, tags = ?, updated_at = ? WHERE name = ?",
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
            let moved = sqlx::query("UPDATE deployments SET team = ? WHERE name = ?")
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM models WHERE name = ?")
            .bind(model)
            .fetch_optional(&mut *tx)
            .await?;
        let (model_id, created) = match (existing, create) {
            (Some(id), None) => (id, false),
            // Created by someone else since the caller looked: their model,
            // perhaps in another team, is not the one the caller meant.
            (Some(_), Some(_)) => {
                return Err(StoreError::Conflict(format!(
                    "model '{model}' was created by someone else meanwhile; push again to add a version to it"
                )))
            }
            (None, Some(card)) => {
                let id = insert_model(&mut *tx, model, card, actor)
                    .await?
                    .last_insert_rowid();
                (id, true)
            }
            (None, None) => return Err(StoreError::NotFound(Missing::Model(model.to_string()))),
        };
        let next: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model_id = ?",
        )
        .bind(model_id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO model_versions (model_id, version, digest, size_bytes, format, signature, feature_names, \
             description, source_commit, training_run, metrics, metadata, created_at, created_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(model_id)
        .bind(next)
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
        .bind(ts(Utc::now()))
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE models SET updated_at = ? WHERE id = ?")
            .bind(ts(Utc::now()))
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
             WHERE v.model_id = ? ORDER BY v.version"
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
             WHERE v.model_id = ? AND v.version = ?"
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
