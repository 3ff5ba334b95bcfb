//! Observability as typed events: each `record_*` both updates the
//! Prometheus metrics (served at `/metrics`) and the per-version statistics
//! (Triton's statistics extension, guardrail windows), so they never disagree.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hangar_core::window::{OutcomeWindow, WindowSummary};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub deployment: String,
    pub version: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabels {
    pub deployment: String,
    pub version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeploymentLabels {
    pub deployment: String,
}

/// Why prediction rows were dropped: `buffer_full` (requests outpaced the
/// writer) or `write_failed` (the database refused the batch, e.g. a full
/// disk).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
    pub version: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 50 µs doubling to ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 13))
}

/// Cumulative statistics of one version within one deployment.
#[derive(Default)]
pub struct VersionStats {
    pub success_count: AtomicU64,
    pub success_ns: AtomicU64,
    pub fail_count: AtomicU64,
    pub fail_ns: AtomicU64,
    pub queue_ns: AtomicU64,
    pub infer_ns: AtomicU64,
    pub executions: AtomicU64,
    pub last_inference_ms: AtomicU64,
    window: Mutex<Option<OutcomeWindow>>,
}

impl VersionStats {
    /// Outcomes over the last `secs` seconds.
    pub fn window(&self, secs: u64) -> WindowSummary {
        let guard = self.window.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(w) => w.summary(now_secs(), secs),
            None => WindowSummary {
                requests: 0,
                errors: 0,
                p99_ms: None,
            },
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A count reported in a log line at most once per 10 s.
#[derive(Default)]
struct Throttled {
    /// Second of the last line.
    at: AtomicU64,
    /// Counted since the last line.
    pending: AtomicU64,
}

impl Throttled {
    /// Adds `n`; returns the count to report when a line is due.
    fn add(&self, n: u64) -> Option<u64> {
        let now = now_secs();
        let last = self.at.load(Ordering::Relaxed);
        let pending = self.pending.fetch_add(n, Ordering::Relaxed) + n;
        if now >= last + 10
            && self
                .at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.pending.fetch_sub(pending, Ordering::Relaxed);
            Some(pending)
        } else {
            None
        }
    }
}

/// Longest guardrail window kept, in seconds.
const WINDOW_SECS: usize = 3600;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<VersionLabels>,
    queue_latency: HistogramFamily<VersionLabels>,
    infer_latency: HistogramFamily<VersionLabels>,
    batch_size: HistogramFamily<VersionLabels>,
    queue_depth: Family<VersionLabels, Gauge>,
    shed: Family<VersionLabels, Counter>,
    timed_out: Family<VersionLabels, Counter>,
    shadow_dropped: Family<DeploymentLabels, Counter>,
    shadow_compared: Family<DeploymentLabels, Counter>,
    loaded_models: Gauge,
    model_memory: Family<ModelLabels, Gauge>,
    log_dropped: Family<DropLabels, Counter>,
    log_full_warning: Throttled,
    log_failed_warning: Throttled,
    /// Second of the last shedding warning, and sheds since.
    shed_warned: AtomicU64,
    shed_unwarned: AtomicU64,
    stats: Mutex<HashMap<(String, u32), Arc<VersionStats>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hangar");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "inference_requests",
            "Inference requests by deployment, version and HTTP status",
            requests.clone(),
        );
        let latency: HistogramFamily<VersionLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "request_duration_seconds",
            "Total inference request latency",
            latency.clone(),
        );
        let queue_latency: HistogramFamily<VersionLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "queue_duration_seconds",
            "Time requests waited in the version's queue",
            queue_latency.clone(),
        );
        let infer_latency: HistogramFamily<VersionLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "inference_duration_seconds",
            "Model execution time per batch",
            infer_latency.clone(),
        );
        let batch_size: HistogramFamily<VersionLabels> =
            Family::new_with_constructor(batch_histogram);
        registry.register(
            "batch_size_rows",
            "Rows per executed batch",
            batch_size.clone(),
        );
        let queue_depth = Family::<VersionLabels, Gauge>::default();
        registry.register(
            "queue_depth",
            "Requests waiting in the version's queue",
            queue_depth.clone(),
        );
        let shed = Family::<VersionLabels, Counter>::default();
        registry.register(
            "shed_requests",
            "Requests refused with 429 (queue full or concurrency limit)",
            shed.clone(),
        );
        let timed_out = Family::<VersionLabels, Counter>::default();
        registry.register(
            "timed_out_requests",
            "Requests whose deadline passed (504)",
            timed_out.clone(),
        );
        let shadow_dropped = Family::<DeploymentLabels, Counter>::default();
        registry.register(
            "shadow_dropped",
            "Shadow copies dropped because the shadow queue was full",
            shadow_dropped.clone(),
        );
        let shadow_compared = Family::<DeploymentLabels, Counter>::default();
        registry.register(
            "shadow_compared",
            "Shadow answers compared with the primary's",
            shadow_compared.clone(),
        );
        let loaded_models = Gauge::default();
        registry.register(
            "loaded_models",
            "Model versions loaded in memory",
            loaded_models.clone(),
        );
        let model_memory = Family::<ModelLabels, Gauge>::default();
        registry.register(
            "model_memory_bytes",
            "Approximate memory of each loaded model version",
            model_memory.clone(),
        );
        let log_dropped = Family::<DropLabels, Counter>::default();
        registry.register(
            "prediction_log_dropped",
            "Prediction rows dropped: the prediction log's buffer was full (reason buffer_full) or the database refused to store them, e.g. a full disk (reason write_failed)",
            log_dropped.clone(),
        );
        Metrics {
            log_dropped,
            log_full_warning: Throttled::default(),
            log_failed_warning: Throttled::default(),
            shed_warned: AtomicU64::new(0),
            shed_unwarned: AtomicU64::new(0),
            registry,
            requests,
            latency,
            queue_latency,
            infer_latency,
            batch_size,
            queue_depth,
            shed,
            timed_out,
            shadow_dropped,
            shadow_compared,
            loaded_models,
            model_memory,
            stats: Mutex::new(HashMap::new()),
        }
    }

    fn labels(deployment: &str, version: u32) -> VersionLabels {
        VersionLabels {
            deployment: deployment.to_string(),
            version: version.to_string(),
        }
    }

    pub fn stats(&self, deployment: &str, version: u32) -> Arc<VersionStats> {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats
            .entry((deployment.to_string(), version))
            .or_default()
            .clone()
    }

    /// All statistics of one deployment, by version.
    pub fn deployment_stats(&self, deployment: &str) -> Vec<(u32, Arc<VersionStats>)> {
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = stats
            .iter()
            .filter(|((d, _), _)| d == deployment)
            .map(|((_, v), s)| (*v, s.clone()))
            .collect();
        out.sort_by_key(|(v, _)| *v);
        out
    }

    /// One finished inference request (any outcome that reached a version).
    /// Counts one inference call by its outcome. The `status` label is the
    /// HTTP status the same outcome gets on the REST routes, for gRPC calls
    /// too, so one series answers "how many failed" for both.
    pub fn record_outcome(
        &self,
        deployment: &str,
        version: u32,
        outcome: Result<(), crate::service::error::ErrorCode>,
        total: Duration,
    ) {
        let status = match outcome {
            Ok(()) => 200,
            Err(code) => crate::http::error::status(code).as_u16(),
        };
        self.record_request(deployment, version, status, total);
    }

    pub fn record_request(&self, deployment: &str, version: u32, status: u16, total: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                deployment: deployment.to_string(),
                version: version.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&Self::labels(deployment, version))
            .observe(total.as_secs_f64());
        let s = self.stats(deployment, version);
        let error = status >= 500;
        if error {
            s.fail_count.fetch_add(1, Ordering::Relaxed);
            s.fail_ns.fetch_add(nanos(total), Ordering::Relaxed);
        } else if status < 400 {
            s.success_count.fetch_add(1, Ordering::Relaxed);
            s.success_ns.fetch_add(nanos(total), Ordering::Relaxed);
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            s.last_inference_ms.store(ms, Ordering::Relaxed);
        }
        let mut w = s.window.lock().unwrap_or_else(|p| p.into_inner());
        w.get_or_insert_with(|| OutcomeWindow::new(WINDOW_SECS))
            .record(now_secs(), total.as_micros() as u64, error);
    }

    pub fn record_execution(
        &self,
        deployment: &str,
        version: u32,
        queue: Duration,
        infer: Duration,
    ) {
        let l = Self::labels(deployment, version);
        self.queue_latency
            .get_or_create(&l)
            .observe(queue.as_secs_f64());
        self.infer_latency
            .get_or_create(&l)
            .observe(infer.as_secs_f64());
        let s = self.stats(deployment, version);
        s.queue_ns.fetch_add(nanos(queue), Ordering::Relaxed);
        s.infer_ns.fetch_add(nanos(infer), Ordering::Relaxed);
    }

    pub fn record_batch(&self, deployment: &str, version: u32, rows: usize) {
        self.batch_size
            .get_or_create(&Self::labels(deployment, version))
            .observe(rows as f64);
        self.stats(deployment, version)
            .executions
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a shed request; warns at most once a second (with the count
    /// since the last warning): shedding happens when the server is busiest,
    /// and a line per refusal would add to the load and flood the log.
    pub fn record_shed(&self, deployment: &str, version: u32) {
        self.shed
            .get_or_create(&Self::labels(deployment, version))
            .inc();
        let now = now_secs();
        let last = self.shed_warned.load(Ordering::Relaxed);
        let pending = self.shed_unwarned.fetch_add(1, Ordering::Relaxed) + 1;
        if now > last
            && self
                .shed_warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.shed_unwarned.fetch_sub(pending, Ordering::Relaxed);
            tracing::warn!(
                deployment,
                version,
                shed = pending,
                "requests shed (queue full or concurrency limit reached) since the last warning"
            );
        }
    }

    pub fn record_timeout(&self, deployment: &str, version: u32) {
        tracing::warn!(deployment, version, "request deadline passed before it ran");
        self.timed_out
            .get_or_create(&Self::labels(deployment, version))
            .inc();
    }

    pub fn record_shadow_dropped(&self, deployment: &str) {
        self.shadow_dropped
            .get_or_create(&DeploymentLabels {
                deployment: deployment.to_string(),
            })
            .inc();
    }

    /// Counts prediction rows dropped because the buffer was full; warns at
    /// most once per 10 s (with the count since the last warning) so a full
    /// buffer cannot flood the log.
    pub fn record_log_dropped(&self, rows: u64) {
        self.log_dropped
            .get_or_create(&DropLabels {
                reason: "buffer_full",
            })
            .inc_by(rows);
        if let Some(pending) = self.log_full_warning.add(rows) {
            tracing::warn!(
                rows = pending,
                "prediction log buffer full: rows dropped since the last warning"
            );
        }
    }

    /// Counts the rows of a batch the database refused (a full disk, a
    /// locked or failing file): they are dropped, not retried, and the
    /// writer goes on with the next batch. Logged at most once per 10 s,
    /// with the count since the last line and the latest cause.
    pub fn record_log_write_failed(&self, rows: u64, cause: &dyn std::fmt::Display) {
        self.log_dropped
            .get_or_create(&DropLabels {
                reason: "write_failed",
            })
            .inc_by(rows);
        if let Some(pending) = self.log_failed_warning.add(rows) {
            tracing::error!(
                rows = pending,
                error = %cause,
                "prediction log write failed: rows dropped since the last report"
            );
        }
    }

    pub fn record_shadow_compared(&self, deployment: &str) {
        self.shadow_compared
            .get_or_create(&DeploymentLabels {
                deployment: deployment.to_string(),
            })
            .inc();
    }

    pub fn set_queue_depth(&self, deployment: &str, version: u32, depth: usize) {
        self.queue_depth
            .get_or_create(&Self::labels(deployment, version))
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// The loaded versions and their memory, replacing the previous picture.
    pub fn set_loaded(&self, loaded: &[(String, u32, u64)]) {
        self.loaded_models.set(loaded.len() as i64);
        self.model_memory.clear();
        for (model, version, bytes) in loaded {
            self.model_memory
                .get_or_create(&ModelLabels {
                    model: model.clone(),
                    version: version.to_string(),
                })
                .set(i64::try_from(*bytes).unwrap_or(i64::MAX));
        }
    }

    /// OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("metrics encoding failed");
        }
        out
    }
}
