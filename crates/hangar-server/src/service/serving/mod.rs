//! What answers traffic now: loaded model versions, and per deployment its
//! current revision made live (routes with their queues, the shadow).
//!
//! **Invariants:** a revision is made live only after every version it
//! routes to is loaded and warmed up, so the previous revision keeps
//! answering until then; requests in flight hold an `Arc` to the revision
//! they started on and finish there; a version is unloaded only when nothing
//! (no live revision, no request) holds it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hangar_core::routing::{self, RoutingError};
use hangar_core::{
    DataType, DeploymentSettings, ModelVersion, ResolvedRoute, ResolvedShadow, Revision,
    RevisionKind, Route, RoutingTable, Signature, Tensor, TensorData, VersionRef, VersionSelector,
};
use hangar_runtime::{InferencePool, LoadedModel, Runtime, RuntimeError};
use hangar_store::{ArtifactStore, Db, StoreError};
use tokio::sync::{mpsc, OnceCell, Semaphore};

use crate::metrics::Metrics;
use crate::service::batch::{BatchObserver, BatchSettings, Batcher};
use crate::service::error::{Error, ErrorCode};

mod changes;

/// A model version loaded into memory and ready to serve.
pub struct LoadedVersion {
    pub model: String,
    pub version: u32,
    pub digest: String,
    pub signature: Signature,
    pub feature_names: Option<Vec<String>>,
    pub runtime: Arc<dyn LoadedModel>,
}

/// One route of a live revision.
pub struct ActiveRoute {
    pub target: VersionRef,
    pub weight: u8,
    pub version: Arc<LoadedVersion>,
    pub batcher: Batcher,
}

/// The shadow of a live revision: a bounded hand-off queue to a task that
/// runs the shadow and compares its answers with the primary's.
pub struct ShadowRoute {
    pub target: VersionRef,
    pub version: Arc<LoadedVersion>,
    tx: mpsc::Sender<ShadowJob>,
}

struct ShadowJob {
    inputs: Vec<Tensor>,
    primary: Vec<Tensor>,
}

/// Agreement between primary and shadow answers, per revision.
#[derive(Default)]
pub struct Agreement {
    pub compared: AtomicU64,
    pub dropped: AtomicU64,
    pub failed: AtomicU64,
    sums: Mutex<AgreementSums>,
}

#[derive(Default, Clone, Copy)]
struct AgreementSums {
    label_rows: u64,
    label_same: u64,
    score_values: u64,
    score_abs_diff: f64,
}

/// A snapshot of [`Agreement`].
#[derive(Debug, Clone, PartialEq)]
pub struct AgreementSnapshot {
    pub compared_requests: u64,
    pub dropped_requests: u64,
    pub failed_requests: u64,
    pub label_rows: u64,
    pub same_label_rate: Option<f64>,
    pub score_values: u64,
    pub mean_abs_score_diff: Option<f64>,
}

impl Agreement {
    pub fn snapshot(&self) -> AgreementSnapshot {
        let s = *self.sums.lock().unwrap_or_else(|p| p.into_inner());
        AgreementSnapshot {
            compared_requests: self.compared.load(Ordering::Relaxed),
            dropped_requests: self.dropped.load(Ordering::Relaxed),
            failed_requests: self.failed.load(Ordering::Relaxed),
            label_rows: s.label_rows,
            same_label_rate: (s.label_rows > 0).then(|| s.label_same as f64 / s.label_rows as f64),
            score_values: s.score_values,
            mean_abs_score_diff: (s.score_values > 0)
                .then(|| s.score_abs_diff / s.score_values as f64),
        }
    }

    /// Compares labels (the `label` output, else the first integer output)
    /// and scores (the `probabilities` output, else the first float output).
    fn compare(&self, primary: &[Tensor], shadow: &[Tensor]) {
        fn pick<'a>(ts: &'a [Tensor], name: &str, ok: fn(DataType) -> bool) -> Option<&'a Tensor> {
            ts.iter()
                .find(|t| t.name == name)
                .or_else(|| ts.iter().find(|t| ok(t.datatype())))
        }
        let int = |d: DataType| {
            matches!(
                d,
                DataType::Int64 | DataType::Int32 | DataType::Bytes | DataType::Bool
            )
        };
        let float = |d: DataType| matches!(d, DataType::Fp32 | DataType::Fp64);
        let mut sums = self.sums.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(a), Some(b)) = (pick(primary, "label", int), pick(shadow, "label", int)) {
            if a.shape == b.shape && a.datatype() == b.datatype() {
                let same = match (&a.data, &b.data) {
                    (TensorData::Int64(x), TensorData::Int64(y)) => {
                        x.iter().zip(y).filter(|(p, q)| p == q).count()
                    }
                    (TensorData::Int32(x), TensorData::Int32(y)) => {
                        x.iter().zip(y).filter(|(p, q)| p == q).count()
                    }
                    (TensorData::Bytes(x), TensorData::Bytes(y)) => {
                        x.iter().zip(y).filter(|(p, q)| p == q).count()
                    }
                    (TensorData::Bool(x), TensorData::Bool(y)) => {
                        x.iter().zip(y).filter(|(p, q)| p == q).count()
                    }
                    _ => 0,
                };
                sums.label_rows += a.data.len() as u64;
                sums.label_same += same as u64;
            }
        }
        if let (Some(a), Some(b)) = (
            pick(primary, "probabilities", float),
            pick(shadow, "probabilities", float),
        ) {
            if a.shape == b.shape {
                let diff: Option<f64> = match (&a.data, &b.data) {
                    (TensorData::Fp32(x), TensorData::Fp32(y)) => {
                        Some(x.iter().zip(y).map(|(p, q)| f64::from((p - q).abs())).sum())
                    }
                    (TensorData::Fp64(x), TensorData::Fp64(y)) => {
                        Some(x.iter().zip(y).map(|(p, q)| (p - q).abs()).sum())
                    }
                    _ => None,
                };
                if let Some(d) = diff {
                    sums.score_values += a.data.len() as u64;
                    sums.score_abs_diff += d;
                }
            }
        }
    }
}

/// Why a deployment would shed a request right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saturation {
    ConcurrencyLimit(u32),
    QueuesFull(u32),
}

/// A deployment's current revision, live.
pub struct ActiveDeployment {
    pub name: String,
    pub revision: Revision,
    pub routes: Vec<ActiveRoute>,
    pub weights: Vec<u8>,
    pub shadow: Option<ShadowRoute>,
    pub concurrency: Option<Arc<Semaphore>>,
    pub agreement: Arc<Agreement>,
}

impl ActiveDeployment {
    /// Why a request would be refused at once, were it sent now: the
    /// deployment is at its concurrency limit, or every route that takes
    /// traffic has a full queue (with the first such route's version).
    /// Checked before a request's body is read, so shedding costs no reading
    /// or parsing. `None` when some route could take the request.
    pub fn saturated(&self) -> Option<Saturation> {
        if self
            .concurrency
            .as_ref()
            .is_some_and(|s| s.available_permits() == 0)
        {
            return Some(Saturation::ConcurrencyLimit(self.routes[0].version.version));
        }
        let mut live = self.routes.iter().filter(|r| r.weight > 0).peekable();
        let first = live.peek().map(|r| r.version.version)?;
        live.all(|r| r.batcher.is_full())
            .then_some(Saturation::QueuesFull(first))
    }

    /// Hands a copy of a request and the primary's answer to the shadow.
    /// Never waits: a full shadow queue drops the copy and counts it.
    pub fn offer_shadow(&self, metrics: &Metrics, inputs: Vec<Tensor>, primary: Vec<Tensor>) {
        if let Some(shadow) = &self.shadow {
            if shadow.tx.try_send(ShadowJob { inputs, primary }).is_err() {
                self.agreement.dropped.fetch_add(1, Ordering::Relaxed);
                metrics.record_shadow_dropped(&self.name);
            }
        }
    }
}

type Key = (String, u32);

/// How long a request waits for a version loaded on its behalf.
const ON_DEMAND_LOAD_WAIT: Duration = Duration::from_secs(30);

/// A loaded (or loading) version and when it was last used.
#[derive(Default)]
struct Slot {
    cell: OnceCell<Arc<LoadedVersion>>,
    last_used: AtomicU64,
}

impl Slot {
    /// Loaded, and held by nothing but the cache.
    fn idle(&self) -> Option<u64> {
        self.cell
            .get()
            .filter(|v| Arc::strong_count(v) == 1)
            .map(|v| v.runtime.memory_bytes())
    }
}

struct RouteObserver {
    metrics: Arc<Metrics>,
    deployment: String,
    version: u32,
}

impl BatchObserver for RouteObserver {
    fn batch(&self, size: usize) {
        self.metrics
            .record_batch(&self.deployment, self.version, size);
    }
    fn expired(&self) {
        self.metrics.record_timeout(&self.deployment, self.version);
    }
}

pub struct Serving {
    db: Db,
    artifacts: ArtifactStore,
    runtime: Arc<dyn Runtime>,
    pool: InferencePool,
    metrics: Arc<Metrics>,
    loaded: Mutex<HashMap<Key, Arc<Slot>>>,
    /// Budget for loaded versions, in bytes (approximate).
    model_memory: u64,
    /// Use counter for least-recently-used eviction.
    clock: AtomicU64,
    deployments: RwLock<HashMap<String, Arc<ActiveDeployment>>>,
    agreements: Mutex<HashMap<(String, u32), Arc<Agreement>>>,
    /// Deployments that could not be restored at start, with the reason.
    failed: RwLock<HashMap<String, String>>,
    /// Serialises deployment changes (the request path never takes it).
    changes: tokio::sync::Mutex<()>,
    ready: AtomicBool,
}

/// Why a model could not be made ready to serve.
/// Proof that the deployment-change lock is held ([`Serving::hold_changes`]).
pub(crate) struct ChangeGuard<'a>(#[allow(dead_code)] tokio::sync::MutexGuard<'a, ()>);

pub fn runtime_error(e: RuntimeError) -> Error {
    match e {
        RuntimeError::Unsupported(_) | RuntimeError::WarmUp(_) | RuntimeError::Refused(_) => {
            Error::new(ErrorCode::UnsupportedModel, e.to_string())
        }
        RuntimeError::Library { .. } | RuntimeError::Inference(_) => Error::internal(e),
    }
}

/// A routing table, settings or revision change that core refused.
pub fn routing_error(e: RoutingError) -> Error {
    let code = match &e {
        RoutingError::NoRoutes
        | RoutingError::TooManyRoutes { .. }
        | RoutingError::WeightSum(_)
        | RoutingError::Duplicate(_)
        | RoutingError::ShadowIsLive(_)
        | RoutingError::CanaryWeight(_) => ErrorCode::InvalidRoutes,
        RoutingError::NoCanary => ErrorCode::NoCanary,
        RoutingError::NothingToRollBack | RoutingError::RollbackToCurrent(_) => {
            ErrorCode::InvalidRollback
        }
        RoutingError::Settings(_) => ErrorCode::InvalidSettings,
    };
    Error::new(code, e.to_string())
}

impl Serving {
    pub fn new(
        db: Db,
        artifacts: ArtifactStore,
        runtime: Arc<dyn Runtime>,
        pool: InferencePool,
        metrics: Arc<Metrics>,
        model_memory: u64,
    ) -> Self {
        Serving {
            model_memory,
            clock: AtomicU64::new(0),
            db,
            artifacts,
            runtime,
            pool,
            metrics,
            loaded: Mutex::new(HashMap::new()),
            deployments: RwLock::new(HashMap::new()),
            agreements: Mutex::new(HashMap::new()),
            failed: RwLock::new(HashMap::new()),
            changes: tokio::sync::Mutex::new(()),
            ready: AtomicBool::new(false),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Holds off deployment changes while a change that depends on what is
    /// deployed is checked and written: a model card change (a move to
    /// another team, a rise to high risk), or a deployment change whose
    /// permission checks and settings merge must see the state it replaces
    /// ([`Serving::apply_held`]).
    pub(crate) async fn hold_changes(&self) -> ChangeGuard<'_> {
        ChangeGuard(self.changes.lock().await)
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

    pub fn active(&self) -> Vec<Arc<ActiveDeployment>> {
        self.deployments
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Why a known deployment is not serving, if it failed to restore.
    pub fn failure(&self, name: &str) -> Option<String> {
        self.failed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Shadow agreement of a revision, if it had a shadow that answered.
    pub fn agreement(&self, deployment: &str, revision: u32) -> Option<AgreementSnapshot> {
        let map = self.agreements.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(deployment.to_string(), revision))
            .map(|a| a.snapshot())
    }

    /// (model, version, bytes) of every loaded version.
    pub fn loaded(&self) -> Vec<(String, u32, u64)> {
        let loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = loaded
            .values()
            .filter_map(|c| c.cell.get())
            .map(|v| (v.model.clone(), v.version, v.runtime.memory_bytes()))
            .collect();
        out.sort();
        out
    }

    /// Loads (once, shared by concurrent callers) and warms up a version.
    /// The artifact is verified against its digest on every load.
    pub async fn load(&self, v: &ModelVersion) -> Result<Arc<LoadedVersion>, Error> {
        let slot = {
            let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
            loaded
                .entry((v.model.clone(), v.version))
                .or_default()
                .clone()
        };
        slot.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        let loaded = slot
            .cell
            .get_or_try_init(|| async {
                self.make_room(&v.model, v.version, self.runtime.estimate_memory(v.size_bytes))?;
                let bytes = self.artifacts.read_verified(&v.digest).await.map_err(|e| match e {
                    StoreError::Corrupt { .. } | StoreError::NotFound(_) => {
                        tracing::error!(model = %v.model, version = v.version, error = %e, "artifact failed verification");
                        Error::new(
                            ErrorCode::NotReady,
                            format!(
                                "version {} of model '{}' cannot be loaded: its artifact failed verification",
                                v.version, v.model
                            ),
                        )
                    }
                    other => Error::from(other),
                })?;
                let runtime = self.runtime.clone();
                let model = tokio::task::spawn_blocking(move || runtime.load(&bytes))
                    .await
                    .map_err(Error::internal)?
                    .map_err(runtime_error)?;
                tracing::info!(model = %v.model, version = v.version, "model version loaded");
                Ok::<_, Error>(Arc::new(LoadedVersion {
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

    async fn load_number(&self, model: &str, version: u32) -> Result<Arc<LoadedVersion>, Error> {
        let v = self.db.get_version(model, version).await?;
        self.load(&v).await
    }

    /// A version of the model behind a deployment (the `/versions/{v}` routes).
    pub async fn version_of(
        &self,
        d: &ActiveDeployment,
        version: u32,
    ) -> Result<Arc<LoadedVersion>, Error> {
        let primary = &d.routes[0].version;
        if let Some(r) = d
            .routes
            .iter()
            .find(|r| r.version.version == version && r.version.model == primary.model)
        {
            return Ok(r.version.clone());
        }
        // A request that needs a version loaded on demand waits, but bounded;
        // the load itself goes on for the next request.
        match tokio::time::timeout(
            ON_DEMAND_LOAD_WAIT,
            self.load_number(&primary.model, version),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorCode::NotReady,
                format!(
                    "version {version} of '{}' is still loading; retry shortly",
                    primary.model
                ),
            )),
        }
    }

    fn batcher(
        &self,
        deployment: &str,
        version: Arc<LoadedVersion>,
        settings: &DeploymentSettings,
    ) -> Batcher {
        let observer = Arc::new(RouteObserver {
            metrics: self.metrics.clone(),
            deployment: deployment.to_string(),
            version: version.version,
        });
        Batcher::start(
            version,
            self.pool.clone(),
            BatchSettings {
                max_batch_size: settings.max_batch_size as usize,
                max_queue_delay: Duration::from_micros(settings.max_queue_delay_us),
                queue_capacity: settings.queue_capacity as usize,
            },
            observer,
        )
    }

    /// Loads every version of a table (before anything changes).
    async fn load_table(
        &self,
        table: &RoutingTable,
    ) -> Result<(Vec<Arc<LoadedVersion>>, Option<Arc<LoadedVersion>>), Error> {
        let mut routes = Vec::with_capacity(table.routes.len());
        for r in &table.routes {
            routes.push(self.load_number(&r.target.model, r.version).await?);
        }
        let shadow = match &table.shadow {
            Some(s) => Some(self.load_number(&s.target.model, s.version).await?),
            None => None,
        };
        Ok((routes, shadow))
    }

    /// Makes a stored revision live: builds its queues and swaps it in.
    fn install(
        &self,
        revision: Revision,
        routes: Vec<Arc<LoadedVersion>>,
        shadow: Option<Arc<LoadedVersion>>,
    ) {
        let name = revision.deployment.clone();
        let settings = &revision.settings;
        let agreement = {
            let mut map = self.agreements.lock().unwrap_or_else(|p| p.into_inner());
            map.entry((name.clone(), revision.number))
                .or_default()
                .clone()
        };
        let active_routes: Vec<ActiveRoute> = revision
            .table
            .routes
            .iter()
            .zip(routes)
            .map(|(r, v)| ActiveRoute {
                target: r.target.clone(),
                weight: r.weight,
                batcher: self.batcher(&name, v.clone(), settings),
                version: v,
            })
            .collect();
        let shadow = revision.table.shadow.as_ref().zip(shadow).map(|(s, v)| {
            let batcher = self.batcher(&name, v.clone(), settings);
            let (tx, rx) = mpsc::channel(256);
            tokio::spawn(shadow_task(
                rx,
                batcher,
                agreement.clone(),
                self.metrics.clone(),
                name.clone(),
            ));
            ShadowRoute {
                target: s.target.clone(),
                version: v,
                tx,
            }
        });
        let active = Arc::new(ActiveDeployment {
            weights: revision.table.weights(),
            concurrency: settings
                .max_concurrency
                .map(|n| Arc::new(Semaphore::new(n as usize))),
            name: name.clone(),
            routes: active_routes,
            shadow,
            agreement,
            revision,
        });
        self.deployments
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone(), active);
        self.failed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&name);
    }

    /// Unloads idle versions (held by no live revision and no request),
    /// least recently used first, until those loaded fit in the budget with
    /// `room` to spare. Idle versions that fit stay loaded, so a rollback to
    /// them is instant.
    fn evict(&self, loaded: &mut HashMap<Key, Arc<Slot>>, room: u64) -> u64 {
        // Failed or abandoned loads leave empty slots behind.
        loaded.retain(|_, slot| slot.cell.get().is_some() || Arc::strong_count(slot) > 1);
        let mut used: u64 = loaded
            .values()
            .filter_map(|s| s.cell.get())
            .map(|v| v.runtime.memory_bytes())
            .sum();
        let mut idle: Vec<(u64, Key, u64)> = loaded
            .iter()
            .filter_map(|(k, s)| {
                s.idle()
                    .map(|m| (s.last_used.load(Ordering::Relaxed), k.clone(), m))
            })
            .collect();
        idle.sort();
        for (_, key, bytes) in idle {
            if used.saturating_add(room) <= self.model_memory {
                break;
            }
            loaded.remove(&key);
            used -= bytes;
            tracing::info!(model = %key.0, version = key.1, bytes, "idle model version unloaded");
        }
        used
    }

    /// Admission before a load: evicts idle versions as needed, or refuses
    /// when the versions in use leave no room.
    fn make_room(&self, model: &str, version: u32, needed: u64) -> Result<(), Error> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let used = self.evict(&mut loaded, needed);
        if used.saturating_add(needed) > self.model_memory {
            return Err(Error::new(
                ErrorCode::MemoryBudget,
                format!(
                    "version {version} of '{model}' needs about {needed} bytes, but the versions in use take {used} of the {} byte model memory budget (--model-memory)",
                    self.model_memory
                ),
            ));
        }
        Ok(())
    }

    /// Applies the memory budget after a change.
    pub fn collect_garbage(&self) {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        self.evict(&mut loaded, 0);
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

async fn shadow_task(
    mut rx: mpsc::Receiver<ShadowJob>,
    batcher: Batcher,
    agreement: Arc<Agreement>,
    metrics: Arc<Metrics>,
    deployment: String,
) {
    while let Some(job) = rx.recv().await {
        match batcher.submit(job.inputs, Vec::new(), None).await {
            Ok(done) => {
                agreement.compare(&job.primary, &done.outputs);
                agreement.compared.fetch_add(1, Ordering::Relaxed);
                metrics.record_shadow_compared(&deployment);
            }
            Err(_) => {
                agreement.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Watches live canaries and rolls back those that break their guardrails.
pub async fn guardrail_watch(serving: Arc<Serving>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for d in serving.active() {
            let g = &d.revision.settings.guardrails;
            if d.routes.len() != 2 || (g.max_error_rate.is_none() && g.max_p99_ms.is_none()) {
                continue;
            }
            let canary = &d.routes[1];
            // Only what happened since this revision went live counts.
            let age = chrono::Utc::now()
                .signed_duration_since(d.revision.at)
                .num_seconds()
                .max(1) as u64;
            let window = g.window_secs.min(age);
            let summary = serving
                .metrics()
                .stats(&d.name, canary.version.version)
                .window(window);
            if let Some(reason) = hangar_core::window::guardrail_breach(g, &summary) {
                let reason = format!(
                    "{reason} (canary {} version {})",
                    canary.target, canary.version.version
                );
                if let Err(e) = serving
                    .guardrail_rollback(&d.name, d.revision.number, &reason)
                    .await
                {
                    tracing::error!(deployment = %d.name, error = %e, "guardrail rollback failed");
                }
            }
        }
    }
}
