//! Shared server state handed to every handler.

use std::sync::Arc;

use hangar_runtime::InferencePool;
use hangar_store::{ArtifactStore, Db};

use crate::metrics::Metrics;
use crate::service::alerting::Alerting;
use crate::service::monitoring::{Baselines, PredictionLog};
use crate::service::serving::Serving;

/// Size limits that protect the server from oversized input.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest inference request body, in bytes.
    pub max_request_bytes: usize,
    /// Largest artifact upload, in bytes.
    pub max_upload_bytes: u64,
    /// Most elements one input tensor may hold.
    pub max_tensor_elements: usize,
    /// Timeouts for stalled connections and the cap on open ones.
    pub connections: crate::http::listen::ConnectionLimits,
    /// Largest feedback upload (CSV or JSON), in bytes.
    pub max_feedback_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 32 * 1024 * 1024,
            max_upload_bytes: 2 * 1024 * 1024 * 1024,
            max_tensor_elements: 16 * 1024 * 1024,
            connections: crate::http::listen::ConnectionLimits::default(),
            max_feedback_bytes: 64 * 1024 * 1024,
        }
    }
}

pub struct Inner {
    pub db: Db,
    pub artifacts: ArtifactStore,
    pub pool: InferencePool,
    pub serving: Arc<Serving>,
    pub metrics: Arc<Metrics>,
    pub log: PredictionLog,
    pub baselines: Baselines,
    pub label_rules: crate::service::feedback::LabelRules,
    pub alerting: Alerting,
    pub auth: crate::auth::Auth,
    pub limits: Limits,
    /// How new artifacts are loaded in a child process first, if at all.
    pub model_check: Option<crate::model_check::ModelCheck>,
    /// Cookies carry `Secure`: the server is reached over HTTPS.
    pub secure_cookies: bool,
}

/// Cheap to clone; everything lives behind one `Arc`.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
