//! Start-up: the server's configuration, opening a data directory
//! ([`open`]: storage, ONNX Runtime, the inference pool, every deployment
//! restored, the background loops started), and the bundled example.

use std::path::PathBuf;
use std::sync::Arc;

use hangar_core::{ModelCard, VersionRef};
use hangar_runtime::{InferencePool, OnnxRuntime, Runtime, RuntimeError};
use hangar_store::{ArtifactStore, Db, StoreError};

use crate::auth;
use crate::service::{alerting, feedback, monitoring, serving};
use crate::state::{self, AppState, Limits};
use crate::{metrics, model_check};
use hangar_api::VersionMeta;

/// Everything the server needs to start, already validated by the binary.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    /// The metadata database's URL (`--database`): `sqlite://PATH` or
    /// `postgres://USER[:PASS]@HOST:PORT/DB`; `None` = the data directory's
    /// `hangar.db`, the embedded default.
    pub database: Option<String>,
    /// Where artifacts are kept (`--artifacts`): a directory,
    /// `file://PATH` or `s3://BUCKET/PREFIX` (cached in the data
    /// directory's `artifacts/`); `None` = the data directory's
    /// `artifacts/`.
    pub artifacts: Option<String>,
    /// S3 settings as `AWS_*` pairs, applied over the process environment
    /// (empty: the environment alone, as the binary does). For embedders
    /// and tests, which cannot safely change their own environment.
    pub artifact_settings: Vec<(String, String)>,
    pub ort_dylib: PathBuf,
    pub limits: Limits,
    /// Inference worker threads; `None` = one per core.
    pub inference_threads: Option<usize>,
    /// Inference jobs that may wait for a worker before requests are shed.
    pub inference_queue: usize,
    /// Budget for loaded model versions in bytes; idle versions are unloaded
    /// least recently used first to stay within it.
    pub model_memory: u64,
    /// How often alert rules are evaluated.
    pub alert_interval: std::time::Duration,
    /// Prediction log rows older than this many days are deleted (hourly).
    pub prediction_retention_days: u32,
    /// Hour and day monitoring aggregates older than this many days are
    /// deleted (hourly); never fewer than `prediction_retention_days`.
    pub aggregate_retention_days: u32,
    /// How often canaries are checked against their guardrails.
    pub guardrail_interval: std::time::Duration,
    /// Requests per second a consumer key may make when it names no limit
    /// of its own; 0 = no default limit.
    pub key_rate_limit: f64,
    /// Load every new artifact in a child process first (the binary sets
    /// it to itself); `None` loads it in-process only.
    pub model_check: Option<model_check::ModelCheck>,
    /// The URL people reach the server at (`--public-url`), when it differs
    /// from the listening address (behind a proxy). An `https://` URL makes
    /// every cookie `Secure`.
    pub public_url: Option<String>,
}

impl ServerConfig {
    /// Are the server's pages reached over HTTPS? Then cookies are `Secure`.
    pub fn https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.len() >= 8 && u[..8].eq_ignore_ascii_case("https://"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Setup(String),
}

impl From<crate::service::error::Error> for ServerError {
    fn from(e: crate::service::error::Error) -> Self {
        ServerError::Setup(e.to_string())
    }
}

/// The prediction log's buffer of encoded records not yet written, in bytes
/// (about 60 000 rows of the reference GBDT: two seconds at 30 000 rows/s).
const LOG_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// Opens the storage (the metadata database with migrations applied, the
/// artifact store), loads ONNX Runtime, starts the inference pool and
/// restores every deployment.
pub async fn open(config: &ServerConfig) -> Result<AppState, ServerError> {
    create_data_dir(&config.data_dir)?;
    let (db, database) = open_database(config).await?;
    let (artifacts, artifacts_at) = open_artifacts(config).await?;
    tracing::info!(
        backend = db.backend(),
        database = %database,
        artifacts = %artifacts_at,
        "storage opened"
    );
    let swept = artifacts
        .sweep_unreferenced(&db.referenced_digests().await?)
        .await?;
    if swept > 0 {
        tracing::info!(
            files = swept,
            "removed artifacts that no version or baseline names"
        );
    }
    let threads = config
        .inference_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = InferencePool::new(threads, config.inference_queue)?;
    let dylib = config.ort_dylib.clone();
    let runtime: Arc<dyn Runtime> = Arc::new(
        tokio::task::spawn_blocking(move || OnnxRuntime::init(&dylib, threads))
            .await
            .map_err(|e| ServerError::Setup(e.to_string()))??,
    );
    let metrics = Arc::new(metrics::Metrics::new());
    let serving = Arc::new(serving::Serving::new(
        db.clone(),
        artifacts.clone(),
        runtime,
        pool.clone(),
        metrics.clone(),
        config.model_memory,
    ));
    let baselines = monitoring::Baselines::default();
    let (log, wanted_baselines) = monitoring::PredictionLog::start(
        db.clone(),
        LOG_BUFFER_BYTES,
        metrics.clone(),
        baselines.clone(),
    );
    let state = AppState(Arc::new(state::Inner {
        db,
        artifacts,
        pool,
        serving: serving.clone(),
        log,
        baselines,
        label_rules: feedback::LabelRules::default(),
        alerting: alerting::Alerting::new(config.alert_interval),
        auth: auth::Auth::new(config.key_rate_limit),
        metrics,
        limits: config.limits.clone(),
        model_check: config.model_check.clone(),
        secure_cookies: config.https(),
    }));
    state.serving.restore().await?;
    tokio::spawn(serving::guardrail_watch(serving, config.guardrail_interval));
    tokio::spawn(alerting::watch(state.clone(), config.alert_interval));
    tokio::spawn(monitoring::retention(
        state.db.clone(),
        config.prediction_retention_days,
        config.aggregate_retention_days,
    ));
    tokio::spawn(monitoring::baseline_loader(state.clone(), wanted_baselines));
    if state.db.backend() != "sqlite" {
        // A networked database can go away while the server runs; the
        // permission check needs to know (auth::outage). An embedded file
        // cannot, and is not polled.
        tokio::spawn(auth::watch_database(state.clone()));
    }
    tokio::spawn(auth::flush_denials_every(
        state.clone(),
        std::time::Duration::from_secs(5),
    ));
    Ok(state)
}

/// The metadata database `--database` names (its URL's password never
/// logged or shown), or the data directory's SQLite file. Returns it with
/// how the logs name it.
async fn open_database(config: &ServerConfig) -> Result<(Db, String), ServerError> {
    match config.database.as_deref() {
        None => {
            let path = config.data_dir.join("hangar.db");
            let db = Db::open(&path).await?;
            Ok((db, format!("sqlite://{}", path.display())))
        }
        Some(url) => {
            let shown = hangar_store::redact_url(url);
            match Db::connect(url).await {
                Ok(db) => Ok((db, shown)),
                Err(e) => Err(ServerError::Setup(format!(
                    "cannot open the database {shown}: {e}"
                ))),
            }
        }
    }
}

/// The artifact store `--artifacts` names: a directory or `file://PATH`
/// (default: the data directory's `artifacts/`), or `s3://BUCKET/PREFIX`
/// (object storage configured by the standard `AWS_*` variables, cached in
/// the data directory's `artifacts/`). Returns it with how the logs name it.
/// Object storage is not contacted here: a server starts while it is down
/// (a warning says so) and serves what its cache holds.
async fn open_artifacts(config: &ServerConfig) -> Result<(ArtifactStore, String), ServerError> {
    let cache = config.data_dir.join("artifacts");
    let store = ArtifactStore::connect_with(
        config.artifacts.as_deref(),
        cache,
        &config.artifact_settings,
    )
    .await
    .map_err(|e| {
        let shown = config.artifacts.as_deref().map_or_else(
            || "the data directory's artifacts".to_string(),
            hangar_store::redact_url,
        );
        ServerError::Setup(format!("cannot open the artifact store {shown}: {e}"))
    })?;
    if store.is_remote() {
        if let Err(e) = store.probe().await {
            tracing::warn!(error = %e, "object storage does not answer: pushes fail until it does; cached versions serve");
        }
    }
    let location = store.location();
    Ok((store, location))
}

/// Creates the data directory readable by the server's user only (0700);
/// warns when an existing one is open to others.
fn create_data_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                dir = %dir.display(),
                mode = format!("{:o}", mode & 0o777),
                "the data directory is open to other users (it holds credentials' hashes and the prediction log); `chmod 700` it"
            );
        }
        Ok(())
    }
    #[cfg(not(unix))]
    builder.create(dir)
}

/// Issues a consumer key for the example deployment (revoking the one
/// issued at the previous start), so that `hangar serve --example` can
/// print a command that works.
pub async fn example_key(state: &AppState, deployment: &str) -> Result<String, ServerError> {
    const NAME: &str = "example key (hangar serve --example)";
    for old in state.db.list_tokens("consumer", None).await? {
        if old.name == NAME && old.revoked_at.is_none() {
            state.db.revoke_token(&old.id).await?;
        }
    }
    let secret = auth::new_secret();
    state
        .db
        .create_token(&hangar_store::TokenRecord {
            id: secret.id.clone(),
            kind: "consumer".into(),
            user: None,
            secret_hash: secret.secret_hash.clone(),
            name: NAME.into(),
            deployments: vec![deployment.to_string()],
            purpose: "trying out the bundled example".into(),
            rate_limit: None,
            created_at: chrono::Utc::now(),
            created_by: "hangar".into(),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        })
        .await?;
    Ok(secret.token)
}

/// A model bundled with the binary, deployed by `hangar serve --example`.
#[derive(Debug, Clone)]
pub struct ExampleModel {
    pub model: &'static str,
    pub deployment: &'static str,
    pub bytes: &'static [u8],
    pub features: Vec<String>,
    pub card: ModelCard,
}

/// Registers and deploys the example unless it is already there. Idempotent.
pub async fn ensure_example(state: &AppState, example: ExampleModel) -> Result<(), ServerError> {
    // The team the example's card names exists, so that people can be given
    // roles in it (also in a data directory made before it was created).
    if let Some(team) = &example.card.owner_team {
        if !state.db.team_exists(team).await? {
            match state.db.create_team(team, "hangar").await {
                Ok(_) | Err(StoreError::Taken(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    if state.db.get_deployment(example.deployment).await.is_ok() {
        return Ok(());
    }
    let model = match state.db.get_model(example.model).await {
        Ok(m) => m,
        Err(StoreError::NotFound(_)) => {
            state
                .db
                .create_model(example.model, &example.card, "hangar")
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    if model.latest_version.is_none() {
        let mut upload = state.artifacts.begin(state.limits.max_upload_bytes).await?;
        upload.write(example.bytes).await?;
        let head = upload.head().to_vec();
        let staged = upload.finish().await?;
        let meta = VersionMeta {
            description: "bundled example".into(),
            features: Some(example.features.clone()),
            ..VersionMeta::default()
        };
        let (v, _) = crate::service::registry::register_version(
            state,
            example.model,
            None,
            staged,
            &head,
            meta,
            "hangar",
        )
        .await?;
        state
            .db
            .set_alias(example.model, "production", v.version, "hangar")
            .await?;
    }
    let target: VersionRef = format!("{}@production", example.model)
        .parse()
        .map_err(|e: hangar_core::model::VersionRefError| ServerError::Setup(e.to_string()))?;
    let routes = vec![hangar_core::Route {
        target,
        weight: 100,
    }];
    state
        .serving
        .apply(
            example.deployment,
            routes,
            None,
            None,
            "bundled example",
            "hangar",
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(artifacts: Option<&str>) -> (tempfile::TempDir, ServerConfig) {
        let dir = tempfile::tempdir().unwrap();
        let config = ServerConfig {
            data_dir: dir.path().to_path_buf(),
            database: None,
            artifacts: artifacts.map(str::to_string),
            artifact_settings: Vec::new(),
            ort_dylib: PathBuf::new(),
            limits: Limits::default(),
            inference_threads: None,
            inference_queue: 1,
            model_memory: 1,
            alert_interval: std::time::Duration::from_secs(1),
            prediction_retention_days: 1,
            aggregate_retention_days: 1,
            guardrail_interval: std::time::Duration::from_secs(1),
            key_rate_limit: 0.0,
            model_check: None,
            public_url: None,
        };
        (dir, config)
    }

    #[tokio::test]
    async fn artifacts_default_to_the_data_directory_or_go_where_named() {
        let (dir, c) = config(None);
        let (_, at) = open_artifacts(&c).await.unwrap();
        assert_eq!(at, dir.path().join("artifacts").display().to_string());
        let elsewhere = tempfile::tempdir().unwrap();
        for named in [
            elsewhere.path().display().to_string(),
            format!("file://{}", elsewhere.path().display()),
        ] {
            let (_, c) = config(Some(&named));
            let (_, at) = open_artifacts(&c).await.unwrap();
            assert_eq!(at, elsewhere.path().display().to_string(), "{named}");
        }
    }

    #[tokio::test]
    async fn a_bad_artifacts_location_is_refused_with_a_clear_message() {
        for (named, says) in [
            (
                "ftp://example.com/x",
                "expected a directory, file://PATH or s3://BUCKET/PREFIX",
            ),
            ("file://", "needs a directory"),
            ("s3:///prefix", "needs a bucket"),
        ] {
            let (_, c) = config(Some(named));
            let e = open_artifacts(&c).await.unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("cannot open the artifact store {named}: "))
                    && e.contains(says),
                "{named}: {e}"
            );
        }
    }

    #[tokio::test]
    async fn an_unreachable_database_at_start_is_named_without_its_password() {
        let (_dir, mut c) = config(None);
        // Nothing listens on port 1.
        c.database = Some("postgres://hangar:s3cret@127.0.0.1:1/hangar".into());
        let e = open_database(&c).await.unwrap_err().to_string();
        assert!(
            e.starts_with("cannot open the database postgres://hangar:***@127.0.0.1:1/hangar: "),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "{e}");
    }
}
