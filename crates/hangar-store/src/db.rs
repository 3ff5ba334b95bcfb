//! Metadata in SQLite: models, versions, aliases (with history) and
//! deployments. All SQL lives here.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hangar_core::{
    AliasEvent, ArtifactFormat, DataType, Deployment, DeploymentSettings, Guardrails, Model,
    ModelCard, ModelVersion, ResolvedRoute, ResolvedShadow, Revision, RevisionKind, RiskTier,
    RoutingTable, Signature, TensorSpec, VersionRef, VersionSelector,
};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqlitePool, TransactionManager};

use crate::{StoreError, StoredArtifact};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone)]
pub struct Db {
    pool: SqlitePool,
    /// The SQLite file (the prediction log's writer opens its own
    /// connection to it).
    path: std::sync::Arc<std::path::PathBuf>,
}

/// Everything about a new version except its number, which the store
/// allocates.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub artifact: StoredArtifact,
    pub format: ArtifactFormat,
    pub signature: Signature,
    pub feature_names: Option<Vec<String>>,
    pub description: String,
    pub source_commit: Option<String>,
    pub training_run: Option<String>,
    pub metrics: BTreeMap<String, f64>,
    pub metadata: BTreeMap<String, String>,
}

/// Where an alias points now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasState {
    pub alias: String,
    pub version: u32,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

pub(crate) fn ts_pub(t: DateTime<Utc>) -> String {
    ts(t)
}

pub(crate) fn parse_ts_pub(s: &str) -> Result<DateTime<Utc>, StoreError> {
    parse_ts(s)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Invalid(format!("timestamp {s:?}: {e}")))
}

fn json<T: for<'de> Deserialize<'de>>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

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

fn signature_to_json(s: &Signature) -> String {
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

fn signature_from_json(s: &str) -> Result<Signature, StoreError> {
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

const MODEL_COLUMNS: &str =
    "m.id, m.name, m.description, m.owner_team, m.intended_use, m.out_of_scope_uses, \
     m.risk_tier, m.tags, m.created_at, m.updated_at, m.created_by, \
     (SELECT MAX(v.version) FROM model_versions v WHERE v.model_id = m.id) AS latest_version";

fn model_from_row(r: &SqliteRow) -> Result<Model, StoreError> {
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

const VERSION_COLUMNS: &str = "m.name AS model_name, v.version, v.digest, v.size_bytes, v.format, v.signature, \
     v.feature_names, v.description, v.source_commit, v.training_run, v.metrics, v.metadata, v.created_at, v.created_by";

fn version_from_row(r: &SqliteRow) -> Result<ModelVersion, StoreError> {
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

fn event_from_row(r: &SqliteRow) -> Result<AliasEvent, StoreError> {
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

/// Creates `path` empty with mode 0600 when it does not exist; an existing
/// file is left as it is.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
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

impl Db {
    /// Opens (creating) the SQLite file and applies pending migrations.
    /// A new file is created readable by its owner only (0600); SQLite
    /// gives its WAL and shared-memory files the same permissions.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        create_private(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A connection still inside a transaction when it comes back is
            // closed, not reused. That happens when SQLite itself rolled the
            // transaction back (a COMMIT that failed with SQLITE_FULL): sqlx's
            // own ROLLBACK then fails, its transaction depth stays at one,
            // and every later `BEGIN IMMEDIATE` on that connection would fail
            // ("non-zero transaction depth") long after the disk has room.
            .after_release(|conn, _| {
                let depth =
                    <Sqlite as sqlx::Database>::TransactionManager::get_transaction_depth(conn);
                Box::pin(async move { Ok(depth == 0) })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Db {
            pool,
            path: std::sync::Arc::new(path.to_path_buf()),
        })
    }

    /// A connection for the prediction log's bulk writes (blocking: open
    /// and use it on a blocking thread).
    pub fn prediction_writer(&self) -> Result<crate::PredictionWriter, StoreError> {
        crate::PredictionWriter::open(&self.path)
    }

    /// A connection for applying feedback in short batches (blocking: open
    /// and use it on a blocking thread).
    pub fn feedback_writer(&self) -> Result<crate::FeedbackWriter, StoreError> {
        crate::FeedbackWriter::open(&self.path)
    }

    async fn model_id(&self, name: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT id FROM models WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("model '{name}'")))
    }

    pub async fn create_model(
        &self,
        name: &str,
        card: &ModelCard,
        actor: &str,
    ) -> Result<Model, StoreError> {
        let result = insert_model(&self.pool, name, card, actor).await;
        match result {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict(format!(
                    "model '{name}' already exists"
                )))
            }
            other => other?,
        };
        self.get_model(name).await
    }

    pub async fn list_models(&self) -> Result<Vec<Model>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {MODEL_COLUMNS} FROM models m ORDER BY m.name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(model_from_row).collect()
    }

    pub async fn get_model(&self, name: &str) -> Result<Model, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {MODEL_COLUMNS} FROM models m WHERE m.name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("model '{name}'")))?;
        model_from_row(&row)
    }

    pub async fn update_card(&self, name: &str, card: &ModelCard) -> Result<Model, StoreError> {
        self.update_card_moving(name, card, &[]).await
    }

    /// Writes a model card and, in the same transaction, moves `deployments`
    /// to the card's team (the model's deployments follow it when it moves
    /// to another team).
    pub async fn update_card_moving(
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
            return Err(StoreError::NotFound(format!("model '{name}'")));
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
                return Err(StoreError::NotFound(format!("deployment '{d}'")));
            }
        }
        tx.commit().await?;
        self.get_model(name).await
    }

    /// Registers a version under the next number. Numbers are allocated in a
    /// write transaction, so concurrent pushes get distinct numbers.
    pub async fn add_version(
        &self,
        model: &str,
        v: &NewVersion,
        actor: &str,
    ) -> Result<ModelVersion, StoreError> {
        self.add_version_creating(model, None, v, actor)
            .await
            .map(|(v, _)| v)
    }

    /// [`Db::add_version`], or with `create` the first version of a model
    /// that does not exist yet: the model is created with that card in the
    /// same transaction (so a refused first push never leaves an empty model
    /// behind), and a model that exists by then is a conflict. Says whether
    /// the model was created.
    pub async fn add_version_creating(
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
            (None, None) => return Err(StoreError::NotFound(format!("model '{model}'"))),
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

    pub async fn list_versions(&self, model: &str) -> Result<Vec<ModelVersion>, StoreError> {
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

    /// Every artifact digest a record names (versions and baselines): what
    /// the artifact store keeps when it sweeps at start.
    pub async fn referenced_digests(
        &self,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT digest FROM model_versions UNION SELECT digest FROM baselines")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    pub async fn get_version(&self, model: &str, version: u32) -> Result<ModelVersion, StoreError> {
        let id = self.model_id(model).await?;
        let row = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions v JOIN models m ON m.id = v.model_id \
             WHERE v.model_id = ? AND v.version = ?"
        ))
        .bind(id)
        .bind(i64::from(version))
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("version {version} of model '{model}'")))?;
        version_from_row(&row)
    }

    /// The version a reference points at now.
    pub async fn resolve(&self, r: &VersionRef) -> Result<ModelVersion, StoreError> {
        match &r.selector {
            VersionSelector::Number(v) => self.get_version(&r.model, *v).await,
            VersionSelector::Alias(a) => {
                let state = self.get_alias(&r.model, a).await?;
                self.get_version(&r.model, state.version).await
            }
        }
    }

    pub async fn get_alias(&self, model: &str, alias: &str) -> Result<AliasState, StoreError> {
        let id = self.model_id(model).await?;
        let row = sqlx::query("SELECT alias, version, updated_at, updated_by FROM aliases WHERE model_id = ? AND alias = ?")
            .bind(id)
            .bind(alias)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("alias '{alias}' of model '{model}'")))?;
        alias_from_row(&row)
    }

    pub async fn list_aliases(&self, model: &str) -> Result<Vec<AliasState>, StoreError> {
        let id = self.model_id(model).await?;
        let rows =
            sqlx::query("SELECT alias, version, updated_at, updated_by FROM aliases WHERE model_id = ? ORDER BY alias")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(alias_from_row).collect()
    }

    /// Sets or moves an alias and records the move.
    pub async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: u32,
        actor: &str,
    ) -> Result<AliasEvent, StoreError> {
        self.change_alias(model, alias, Some(version), actor).await
    }

    /// Deletes an alias and records the deletion.
    pub async fn delete_alias(
        &self,
        model: &str,
        alias: &str,
        actor: &str,
    ) -> Result<AliasEvent, StoreError> {
        self.change_alias(model, alias, None, actor).await
    }

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
            .ok_or_else(|| StoreError::NotFound(format!("model '{model}'")))?;
        if let Some(v) = to {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM model_versions WHERE model_id = ? AND version = ?",
            )
            .bind(model_id)
            .bind(i64::from(v))
            .fetch_optional(&mut *tx)
            .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!(
                    "version {v} of model '{model}'"
                )));
            }
        }
        let from: Option<i64> =
            sqlx::query_scalar("SELECT version FROM aliases WHERE model_id = ? AND alias = ?")
                .bind(model_id)
                .bind(alias)
                .fetch_optional(&mut *tx)
                .await?;
        if from.is_none() && to.is_none() {
            return Err(StoreError::NotFound(format!(
                "alias '{alias}' of model '{model}'"
            )));
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

    /// Every move of the model's aliases (or of one alias), oldest first.
    pub async fn alias_history(
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

    /// The version an alias pointed at, at time `at` (None: it was not set).
    pub async fn alias_at(
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

    /// Appends a revision to a deployment (creating the deployment) and makes
    /// it current, in one transaction.
    pub async fn create_revision(
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

    pub async fn get_revision(
        &self,
        deployment: &str,
        revision: u32,
    ) -> Result<Revision, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM deployment_revisions WHERE deployment = ? AND revision = ?"
        ))
        .bind(deployment)
        .bind(i64::from(revision))
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("revision {revision} of deployment '{deployment}'")))?;
        revision_from_row(&row)
    }

    /// Every revision of a deployment, oldest first.
    pub async fn list_revisions(&self, deployment: &str) -> Result<Vec<Revision>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REVISION_COLUMNS} FROM deployment_revisions WHERE deployment = ? ORDER BY revision"
        ))
        .bind(deployment)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound(format!("deployment '{deployment}'")));
        }
        rows.iter().map(revision_from_row).collect()
    }

    pub async fn get_deployment(&self, name: &str) -> Result<Deployment, StoreError> {
        let row = sqlx::query("SELECT name, revision, created_at FROM deployments WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("deployment '{name}'")))?;
        self.deployment_from_row(&row).await
    }

    pub async fn list_deployments(&self) -> Result<Vec<Deployment>, StoreError> {
        let rows = sqlx::query("SELECT name, revision, created_at FROM deployments ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.deployment_from_row(r).await?);
        }
        Ok(out)
    }

    async fn deployment_from_row(&self, r: &SqliteRow) -> Result<Deployment, StoreError> {
        let name: String = r.try_get("name")?;
        let revision = r.try_get::<i64, _>("revision")? as u32;
        Ok(Deployment {
            current: self.get_revision(&name, revision).await?,
            created_at: parse_ts(&r.try_get::<String, _>("created_at")?)?,
            name,
        })
    }

    /// Deletes a deployment. Its revisions stay, as history; a deployment
    /// created later under the same name continues their numbering.
    pub async fn delete_deployment(&self, name: &str) -> Result<(), StoreError> {
        let n = sqlx::query("DELETE FROM deployments WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("deployment '{name}'")));
        }
        Ok(())
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
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

// ---- revisions: storage forms, kept apart from the domain types ------------

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

fn routing_to_json(t: &RoutingTable) -> String {
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

fn routing_from_json(s: &str) -> Result<RoutingTable, StoreError> {
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

fn settings_to_json(s: &DeploymentSettings) -> String {
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

fn settings_from_json(s: &str) -> Result<DeploymentSettings, StoreError> {
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

fn kind_to_json(k: &RevisionKind) -> (&'static str, String) {
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

fn kind_from_json(name: &str, detail: &str) -> Result<RevisionKind, StoreError> {
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
