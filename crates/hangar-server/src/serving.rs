//! What answers traffic now: loaded model versions and the deployment table.
//!
//! **Invariant:** a deployment's entry is swapped only after its new version
//! is loaded and warmed up, so the old version keeps answering until then;
//! requests in flight hold an `Arc` to the version they started on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use hangar_core::{Deployment, ModelVersion, Signature, VersionRef, VersionSelector};
use hangar_runtime::{LoadedModel, Runtime, RuntimeError};
use hangar_store::{ArtifactStore, Db, StoreError};
use tokio::sync::OnceCell;

use crate::error::{ApiError, ErrorCode};

/// A model version loaded into memory and ready to serve.
pub struct LoadedVersion {
    pub model: String,
    pub version: u32,
    pub digest: String,
    pub signature: Signature,
    pub feature_names: Option<Vec<String>>,
    pub runtime: Arc<dyn LoadedModel>,
}

/// A deployment as it serves now.
pub struct ActiveDeployment {
    pub name: String,
    pub target: VersionRef,
    pub serving: Arc<LoadedVersion>,
}

type Key = (String, u32);

pub struct Serving {
    db: Db,
    artifacts: ArtifactStore,
    runtime: Arc<dyn Runtime>,
    loaded: Mutex<HashMap<Key, Arc<OnceCell<Arc<LoadedVersion>>>>>,
    deployments: RwLock<HashMap<String, Arc<ActiveDeployment>>>,
    /// Deployments that could not be restored at start, with the reason.
    failed: RwLock<HashMap<String, String>>,
    /// Serialises deployment changes (the request path never takes it).
    changes: tokio::sync::Mutex<()>,
    ready: AtomicBool,
}

/// Why a model could not be made ready to serve.
pub fn runtime_error(e: RuntimeError) -> ApiError {
    match e {
        RuntimeError::Unsupported(_) | RuntimeError::WarmUp(_) => {
            ApiError::new(ErrorCode::UnsupportedModel, e.to_string())
        }
        RuntimeError::Library { .. } | RuntimeError::Inference(_) => ApiError::internal(e),
    }
}

impl Serving {
    pub fn new(db: Db, artifacts: ArtifactStore, runtime: Arc<dyn Runtime>) -> Self {
        Serving {
            db,
            artifacts,
            runtime,
            loaded: Mutex::new(HashMap::new()),
            deployments: RwLock::new(HashMap::new()),
            failed: RwLock::new(HashMap::new()),
            changes: tokio::sync::Mutex::new(()),
            ready: AtomicBool::new(false),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// The deployment serving under `name`, if any.
    pub fn deployment(&self, name: &str) -> Option<Arc<ActiveDeployment>> {
        self.deployments
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Why a known deployment is not serving, if it failed to restore.
    pub fn failure(&self, name: &str) -> Option<String> {
        self.failed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Loads (once, shared by concurrent callers) and warms up a version.
    /// The artifact is verified against its digest on every load.
    pub async fn load(&self, v: &ModelVersion) -> Result<Arc<LoadedVersion>, ApiError> {
        let cell = {
            let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
            loaded
                .entry((v.model.clone(), v.version))
                .or_default()
                .clone()
        };
        let loaded = cell
            .get_or_try_init(|| async {
                let bytes = self.artifacts.read_verified(&v.digest).await.map_err(|e| match e {
                    StoreError::Corrupt { .. } | StoreError::NotFound(_) => {
                        tracing::error!(model = %v.model, version = v.version, error = %e, "artifact failed verification");
                        ApiError::new(
                            ErrorCode::NotReady,
                            format!("version {} of model '{}' cannot be loaded: its artifact failed verification", v.version, v.model),
                        )
                    }
                    other => ApiError::from(other),
                })?;
                let runtime = self.runtime.clone();
                let model = tokio::task::spawn_blocking(move || runtime.load(&bytes))
                    .await
                    .map_err(ApiError::internal)?
                    .map_err(runtime_error)?;
                tracing::info!(model = %v.model, version = v.version, "model version loaded");
                Ok::<_, ApiError>(Arc::new(LoadedVersion {
                    model: v.model.clone(),
                    version: v.version,
                    digest: v.digest.clone(),
                    signature: model.signature().clone(),
                    feature_names: v.feature_names.clone(),
                    runtime: model,
                }))
            })
            .await?;
        Ok(loaded.clone())
    }

    /// A version of the model behind a deployment (the `/versions/{v}` routes).
    pub async fn version_of(
        &self,
        d: &ActiveDeployment,
        version: u32,
    ) -> Result<Arc<LoadedVersion>, ApiError> {
        if d.serving.version == version {
            return Ok(d.serving.clone());
        }
        let v = self.db.get_version(&d.serving.model, version).await?;
        self.load(&v).await
    }

    fn install(&self, name: &str, target: VersionRef, serving: Arc<LoadedVersion>) {
        let active = Arc::new(ActiveDeployment {
            name: name.to_string(),
            target,
            serving,
        });
        self.deployments
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), active);
        self.failed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    /// Creates or changes a deployment: resolve, load and warm up, record,
    /// then swap. On any failure the deployment keeps serving what it served.
    pub async fn apply(
        &self,
        name: &str,
        target: VersionRef,
        actor: &str,
    ) -> Result<Deployment, ApiError> {
        let _guard = self.changes.lock().await;
        let version = self.db.resolve(&target).await?;
        let loaded = self.load(&version).await?;
        let stored = self
            .db
            .put_deployment(name, &target, version.version, actor)
            .await?;
        self.install(name, target, loaded);
        self.collect_garbage();
        tracing::info!(deployment = name, target = %stored.target, version = stored.version, actor, "deployment applied");
        Ok(stored)
    }

    pub async fn remove(&self, name: &str) -> Result<(), ApiError> {
        let _guard = self.changes.lock().await;
        self.db.delete_deployment(name).await?;
        self.deployments
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.failed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.collect_garbage();
        Ok(())
    }

    /// Deployments that follow `model@alias` move with it. A failure to load
    /// the new version leaves them on their current one (and is logged).
    pub async fn alias_moved(&self, model: &str, alias: &str, actor: &str) -> Result<(), ApiError> {
        let _guard = self.changes.lock().await;
        for d in self.db.list_deployments().await? {
            let follows = d.target.model == model
                && matches!(&d.target.selector, VersionSelector::Alias(a) if a == alias);
            if !follows {
                continue;
            }
            let version = match self.db.resolve(&d.target).await {
                Ok(v) => v,
                Err(StoreError::NotFound(_)) => {
                    tracing::warn!(deployment = %d.name, "followed alias was deleted; the deployment keeps its version");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if version.version == d.version && self.deployment(&d.name).is_some() {
                continue;
            }
            match self.load(&version).await {
                Ok(loaded) => {
                    self.db
                        .put_deployment(&d.name, &d.target, version.version, actor)
                        .await?;
                    self.install(&d.name, d.target.clone(), loaded);
                    tracing::info!(deployment = %d.name, version = version.version, "deployment followed its alias");
                }
                Err(e) => {
                    tracing::error!(deployment = %d.name, error = %e.message, "could not follow alias; keeping the current version");
                }
            }
        }
        self.collect_garbage();
        Ok(())
    }

    /// Brings back every stored deployment at start. One that cannot load is
    /// reported (not ready) instead of stopping the server.
    pub async fn restore(&self) -> Result<(), ApiError> {
        let _guard = self.changes.lock().await;
        for d in self.db.list_deployments().await? {
            let result = async {
                let v = self.db.get_version(&d.target.model, d.version).await?;
                self.load(&v).await
            }
            .await;
            match result {
                Ok(loaded) => self.install(&d.name, d.target.clone(), loaded),
                Err(e) => {
                    tracing::error!(deployment = %d.name, error = %e.message, "deployment could not be restored");
                    self.failed
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(d.name.clone(), e.message);
                }
            }
        }
        self.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Unloads versions nothing holds any more (no deployment, no request).
    fn collect_garbage(&self) {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        loaded.retain(|(model, version), cell| match cell.get() {
            // Still loading: keep.
            None => Arc::strong_count(cell) > 1,
            Some(v) => {
                let keep = Arc::strong_count(v) > 1;
                if !keep {
                    tracing::info!(model = %model, version, "model version unloaded");
                }
                keep
            }
        });
    }

    pub fn loaded_count(&self) -> usize {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|c| c.get().is_some())
            .count()
    }
}
