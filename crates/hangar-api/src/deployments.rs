//! Deployments: routing tables, settings, revisions, promotion and rollback.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A deployment as it serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Deployment {
    pub name: String,
    /// The primary route's model, target and version.
    pub model: String,
    pub target: String,
    pub version: u32,
    pub ready: bool,
    /// Why the deployment is not serving, when it is not.
    pub error: Option<String>,
    /// The inference route, `/v2/models/{name}/infer`.
    pub endpoint: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    /// The revision being served. Always sent; servers before revisions
    /// did not, so a client reads its absence as "unknown".
    #[serde(default)]
    pub current: Option<Revision>,
}

/// `GET /api/v1/deployments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeploymentList {
    pub deployments: Vec<Deployment>,
}

/// One immutable revision of a deployment: its routing table and settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Revision {
    pub deployment: String,
    pub revision: u32,
    /// `deploy`, `promote`, `rollback`, `guardrail_rollback`, `alias_moved`,
    /// or whatever a newer server adds.
    pub kind: String,
    /// For a rollback: the revision returned to.
    #[serde(default)]
    pub rolled_back_to: Option<u32>,
    /// For a guardrail rollback: the revision whose canary was removed, and why.
    #[serde(default)]
    pub guardrail_from: Option<u32>,
    #[serde(default)]
    pub reason: Option<String>,
    /// For an alias move: the `model@alias` followed.
    #[serde(default)]
    pub alias: Option<String>,
    pub routes: Vec<Route>,
    #[serde(default)]
    pub shadow: Option<Shadow>,
    pub settings: Settings,
    pub message: String,
    pub actor: String,
    pub at: DateTime<Utc>,
    /// With a shadow: how its answers compared with the answers callers got.
    #[serde(default)]
    pub shadow_agreement: Option<Agreement>,
}

/// `GET /api/v1/deployments/{name}/revisions`, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevisionList {
    pub revisions: Vec<Revision>,
}

/// A live route: the target as asked for, its share of traffic in percent,
/// and the version it resolved to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Route {
    /// `model:VERSION` or `model@ALIAS`.
    pub target: String,
    pub weight: u8,
    pub version: u32,
}

/// The version that gets a copy of every request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Shadow {
    pub target: String,
    pub version: u32,
}

/// How the shadow's answers compared with the answers callers got.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Agreement {
    pub compared_requests: u64,
    pub dropped_requests: u64,
    pub failed_requests: u64,
    pub label_rows: u64,
    pub same_label_rate: Option<f64>,
    pub score_values: u64,
    pub mean_abs_score_diff: Option<f64>,
}

/// A revision's serving settings as the server reports them (every field it
/// knows; `null` where a limit is off).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Settings {
    #[serde(default)]
    pub max_batch_size: Option<u32>,
    #[serde(default)]
    pub max_queue_delay_us: Option<u64>,
    #[serde(default)]
    pub queue_capacity: Option<u32>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    #[serde(default)]
    pub guardrails: Option<Guardrails>,
    /// Request fields recorded with each prediction as segments (fairness,
    /// per-group reports); never fed to the model.
    #[serde(default)]
    pub segments: Option<Vec<String>>,
    /// The request field naming a row, so feedback can find its prediction.
    #[serde(default)]
    pub row_id: Option<String>,
    #[serde(default)]
    pub log_predictions: Option<bool>,
    /// Serve only versions signed by a trusted key.
    #[serde(default)]
    pub require_signed: Option<bool>,
}

/// When the server takes a misbehaving canary out of traffic by itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Guardrails {
    #[serde(default)]
    pub max_error_rate: Option<f64>,
    #[serde(default)]
    pub max_p99_ms: Option<f64>,
    #[serde(default)]
    pub window_secs: Option<u64>,
    #[serde(default)]
    pub min_requests: Option<u64>,
}

/// Settings in a request: absent fields keep their current value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queue_delay_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_capacity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrails: Option<GuardrailsPatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<String>>,
    /// An empty string clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_predictions: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signed: Option<bool>,
}

/// Guardrails in a request: absent fields keep their current value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardrailsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p99_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<u64>,
}

/// A route in a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteIn {
    /// `model:VERSION` or `model@ALIAS`.
    pub model: String,
    /// Percent of traffic.
    pub weight: u8,
}

/// `PUT /api/v1/deployments/{name}`: what the new revision should be.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutDeployment {
    /// The primary: `model:VERSION` or `model@ALIAS` (or give `routes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// With `model`: a canary taking `weight` percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<RouteIn>,
    /// The full table, weights summing to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<RouteIn>>,
    /// A version or alias that gets a copy of every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<String>,
    /// Only what is given changes; the rest keeps its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<SettingsPatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The optional body of `promote` and `rollback`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevisionAction {
    /// Rollback only: the revision to return to (default: the one before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
