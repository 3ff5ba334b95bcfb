//! A typed HTTP client for Hangar's management API (`/api/v1`) and inference
//! API (`/v2`).
//!
//! The wire types here mirror the server's JSON. They are deliberately separate
//! from `hangar_core`'s domain types and only as strict as the CLI needs:
//! unknown fields are ignored and missing optional ones default, so a newer
//! server does not break an older CLI. Every response also keeps its raw JSON
//! for `--output json`.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What a 401 tells the user to do.
pub const LOGIN_HINT: &str =
    "run `hangar login` (or pass --token / set HANGAR_TOKEN) with a valid token";

/// Why a request did not produce the expected response.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a non-2xx status.
    #[error("{message} (HTTP {})", status.as_u16())]
    Api {
        status: StatusCode,
        /// The server's stable error code, when it sent one.
        code: Option<String>,
        message: String,
    },
    #[error(
        "cannot reach the Hangar server at {server}: {cause} \
         (start one with `hangar serve`, or point --server / HANGAR_SERVER at a running server)"
    )]
    Unreachable { server: String, cause: String },
    #[error("request to {url} failed: {cause}")]
    Transport { url: String, cause: String },
    /// The server hung up while the request body was still being sent; it
    /// usually answered first (e.g. 413), but that answer is lost.
    #[error("the server closed the connection while {url} was being sent ({cause})")]
    ConnectionClosed { url: String, cause: String },
    #[error("unexpected response from {url}: {cause}")]
    Decode { url: String, cause: String },
}

impl ClientError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Api { status, .. } if *status == StatusCode::NOT_FOUND)
    }

    pub fn is_unauthenticated(&self) -> bool {
        matches!(self, ClientError::Api { status, .. } if *status == StatusCode::UNAUTHORIZED)
    }
}

/// A decoded response body together with the JSON it came from.
#[derive(Debug)]
pub struct Fetched<T> {
    pub raw: Value,
    pub body: T,
}

#[derive(Debug, Deserialize)]
pub struct Model {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub owner_team: Option<String>,
    #[serde(default)]
    pub intended_use: Option<String>,
    #[serde(default)]
    pub out_of_scope_uses: Vec<String>,
    #[serde(default)]
    pub risk_tier: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub latest_version: Option<u32>,
    #[serde(default)]
    pub aliases: BTreeMap<String, u32>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
    #[serde(default)]
    pub created_by: String,
}

#[derive(Debug, Deserialize)]
struct ModelList {
    models: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct VersionList {
    versions: Vec<Value>,
}

#[derive(Debug, Deserialize)]
pub struct Version {
    pub version: u32,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub signature: Signature,
    /// Column names of the 2-D input, when the version has them.
    #[serde(default)]
    pub feature_names: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: String,
    /// In a push's answer: the model this first version created.
    #[serde(default)]
    pub created_model: Option<CreatedModel>,
}

#[derive(Debug, Deserialize)]
pub struct CreatedModel {
    #[serde(default)]
    pub owner_team: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Signature {
    #[serde(default)]
    pub inputs: Vec<TensorSpec>,
}

#[derive(Debug, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    #[serde(default)]
    pub datatype: String,
    #[serde(default)]
    pub shape: Vec<i64>,
}

/// The `metadata` part of a version upload.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct NewVersion {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training_run: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// The artifact of a version upload: a body of known length, usually a stream.
#[derive(Debug)]
pub struct Artifact {
    pub file_name: String,
    pub length: u64,
    pub body: reqwest::Body,
}

#[derive(Debug, Deserialize)]
pub struct AliasMove {
    pub alias: String,
    pub from_version: Option<u32>,
    pub to_version: Option<u32>,
}

/// What `PUT /api/v1/deployments/{name}` is asked to make the new revision.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct DeployRequest {
    /// The primary route: `MODEL:VERSION` or `MODEL@ALIAS`.
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryRoute>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<String>,
    /// Only what was given; the server keeps the rest as it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<Settings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, PartialEq, Serialize)]
pub struct CanaryRoute {
    pub model: String,
    /// Percent of traffic.
    pub weight: u8,
}

/// A deployment's serving settings. In a request, `None` means "keep"; in a
/// response the server fills every field it knows.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
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
    pub guardrails: Option<Guardrails>,
    /// Request fields recorded with each prediction as segments (fairness, per-group
    /// reports); never fed to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<String>>,
    /// The request field naming a row, so feedback can find its prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_predictions: Option<bool>,
    /// Serve only versions signed by a trusted key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signed: Option<bool>,
}

/// When the server takes a misbehaving canary out of traffic by itself.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guardrails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_p99_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct Deployment {
    pub name: String,
    /// The primary route's target and version.
    #[serde(default)]
    pub target: String,
    pub version: Option<u32>,
    #[serde(default)]
    pub ready: bool,
    /// Why the deployment is not serving, when it is not.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
    /// The revision being served (servers before revisions did not send it).
    #[serde(default)]
    pub current: Option<Revision>,
}

#[derive(Debug, Deserialize)]
pub struct DeploymentList {
    pub deployments: Vec<Deployment>,
}

/// One immutable revision of a deployment: its routing table and settings.
#[derive(Debug, Deserialize)]
pub struct Revision {
    #[serde(default)]
    pub deployment: String,
    pub revision: u32,
    /// `deploy`, `promote`, `rollback`, `alias_moved`, `guardrail_rollback`, or
    /// whatever a newer server adds.
    #[serde(default)]
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
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub shadow: Option<Shadow>,
    #[serde(default)]
    pub settings: Settings,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub at: String,
    #[serde(default)]
    pub shadow_agreement: Option<Agreement>,
}

#[derive(Debug, Deserialize)]
pub struct RevisionList {
    pub revisions: Vec<Revision>,
}

/// A live route: the target as asked for, its share of traffic in percent, and
/// the version it resolved to.
#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    pub target: String,
    pub weight: u32,
    pub version: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Shadow {
    pub target: String,
    pub version: u32,
}

/// How the shadow's answers compared with the answers callers got.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Agreement {
    #[serde(default)]
    pub compared_requests: u64,
    #[serde(default)]
    pub dropped_requests: u64,
    #[serde(default)]
    pub failed_requests: u64,
    #[serde(default)]
    pub label_rows: u64,
    #[serde(default)]
    pub same_label_rate: Option<f64>,
    #[serde(default)]
    pub score_values: u64,
    #[serde(default)]
    pub mean_abs_score_diff: Option<f64>,
}

#[derive(Debug, Deserialize)]
pub struct InferResponse {
    #[serde(default)]
    pub outputs: Vec<OutputTensor>,
}

#[derive(Debug, Deserialize)]
pub struct OutputTensor {
    pub name: String,
    #[serde(default)]
    pub shape: Vec<u64>,
    #[serde(default)]
    pub data: Vec<Value>,
}

/// A version's profiled baseline (`PUT|GET .../versions/{v}/baseline`).
#[derive(Debug, Deserialize)]
pub struct Baseline {
    #[serde(default)]
    pub model: String,
    pub version: u32,
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub label_column: Option<String>,
    #[serde(default)]
    pub features: Vec<BaselineFeature>,
    /// Share of positive labels, when a label column was given.
    #[serde(default)]
    pub label_rate: Option<f64>,
    /// Whether the scores were calibrated (isotonic) for performance estimation.
    #[serde(default)]
    pub calibrated: bool,
    /// The model's in-sample performance on its baseline, when labels were given.
    #[serde(default)]
    pub performance: Option<Performance>,
    #[serde(default)]
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
pub struct BaselineFeature {
    pub name: String,
    /// `numeric` or `categorical`.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub mean: Option<f64>,
}

/// How a baseline's CSV is read: which column holds the true label, which
/// features are categories rather than numbers.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BaselineColumns {
    pub label_column: Option<String>,
    pub categorical: Vec<String>,
}

/// A request body of known length, read as it is sent.
#[derive(Debug)]
pub struct Upload {
    pub length: u64,
    pub body: reqwest::Body,
}

/// Binary classification metrics. Every figure is optional: the server sends
/// `null` where one is undefined (e.g. AUC with one class).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Performance {
    #[serde(default)]
    pub n: Option<u64>,
    #[serde(default)]
    pub accuracy: Option<f64>,
    #[serde(default)]
    pub precision: Option<f64>,
    #[serde(default)]
    pub recall: Option<f64>,
    #[serde(default)]
    pub f1: Option<f64>,
    #[serde(default)]
    pub roc_auc: Option<f64>,
    #[serde(default)]
    pub log_loss: Option<f64>,
    #[serde(default)]
    pub brier: Option<f64>,
    #[serde(default)]
    pub positive_rate_true: Option<f64>,
    #[serde(default)]
    pub positive_rate_pred: Option<f64>,
    #[serde(default)]
    pub confusion: Option<Confusion>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct Confusion {
    #[serde(default)]
    pub tn: u64,
    #[serde(default)]
    pub fp: u64,
    #[serde(default, rename = "fn")]
    pub fn_: u64,
    #[serde(default)]
    pub tp: u64,
}

/// What `POST .../feedback` made of the labels sent.
#[derive(Debug, Deserialize)]
pub struct FeedbackReceipt {
    pub received: u64,
    pub updated: u64,
    /// The keys that matched no logged prediction, as sent back:
    /// `{"row_id"}` or `{"request_id", "row"}` (the first 1 000).
    #[serde(default)]
    pub unknown: Vec<Value>,
    /// How many keys matched nothing (a server that does not say: the
    /// list's length).
    #[serde(default)]
    pub unknown_count: Option<u64>,
    /// Lines refused, `{"line" (CSV) or "item" (JSON), "error"}` (the first
    /// 1 000).
    #[serde(default)]
    pub rejected: Vec<Value>,
    #[serde(default)]
    pub rejected_count: u64,
}

impl FeedbackReceipt {
    pub fn unknown_count(&self) -> u64 {
        self.unknown_count.unwrap_or(self.unknown.len() as u64)
    }
}

/// The time range of a report or export; `None` leaves the server's default
/// (the last 24 hours, up to now).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Window {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl Window {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(from) = &self.from {
            q.push(("from", from.clone()));
        }
        if let Some(to) = &self.to {
            q.push(("to", to.clone()));
        }
        q
    }
}

/// `GET .../monitoring`: every monitoring figure of a deployment over a window.
#[derive(Debug, Deserialize)]
pub struct MonitoringReport {
    #[serde(default)]
    pub deployment: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// Rows answered by each version in the window.
    #[serde(default)]
    pub versions: Vec<VersionRows>,
    /// The version reported on (absent when the window is empty).
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub labeled_rows: u64,
    #[serde(default)]
    pub features: BTreeMap<String, ColumnDrift>,
    #[serde(default)]
    pub outputs: BTreeMap<String, ColumnDrift>,
    #[serde(default)]
    pub drift_share: Option<f64>,
    #[serde(default)]
    pub dataset_drifted: Option<bool>,
    #[serde(default)]
    pub performance: Option<Performance>,
    #[serde(default)]
    pub fairness: BTreeMap<String, Fairness>,
    #[serde(default)]
    pub estimated_performance: Option<Performance>,
    #[serde(default)]
    pub baseline: Option<BaselineSummary>,
    /// Why figures are missing (no predictions yet, no baseline).
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VersionRows {
    pub model: String,
    pub version: u32,
    pub rows: u64,
}

/// One column's drift against the baseline.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ColumnDrift {
    /// `numeric` or `categorical`.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub psi: Option<f64>,
    #[serde(default)]
    pub ks_pvalue: Option<f64>,
    #[serde(default)]
    pub chi2_pvalue: Option<f64>,
    #[serde(default)]
    pub drifted: bool,
    /// The test that decided `drifted` (Evidently's name, e.g. `wasserstein`).
    #[serde(default)]
    pub test: String,
    #[serde(default)]
    pub test_score: Option<f64>,
    #[serde(default)]
    pub test_threshold: Option<f64>,
}

/// Group rates and parity figures for one segment attribute.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Fairness {
    #[serde(default)]
    pub groups: BTreeMap<String, GroupRates>,
    #[serde(default)]
    pub demographic_parity_difference: Option<f64>,
    #[serde(default)]
    pub demographic_parity_ratio: Option<f64>,
    #[serde(default)]
    pub equalized_odds_difference: Option<f64>,
    #[serde(default)]
    pub equalized_odds_ratio: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct GroupRates {
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub selection_rate: Option<f64>,
    #[serde(default)]
    pub tpr: Option<f64>,
    #[serde(default)]
    pub fpr: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct BaselineSummary {
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub calibrated: bool,
    #[serde(default)]
    pub label_rate: Option<f64>,
}

/// A live alert (`GET /api/v1/alerts`): one rule on one deployment that is
/// pending, firing or just resolved.
#[derive(Debug, Clone, Deserialize)]
pub struct Alert {
    pub rule: String,
    pub deployment: String,
    /// `pending`, `firing`, `resolved`, or whatever a newer server adds.
    pub state: String,
    #[serde(default)]
    pub severity: Option<String>,
    /// The rule's condition as written: `traffic.error_rate > 0.05`.
    #[serde(default)]
    pub condition: Option<String>,
    /// When it started pending or firing, or when it resolved.
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub value: Option<f64>,
    /// Only a firing alert can be acknowledged; absent otherwise.
    #[serde(default)]
    pub acknowledged: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct AlertList {
    pub alerts: Vec<Alert>,
}

/// One entry of the alert history: a change of state or an acknowledgement.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertEvent {
    pub rule: String,
    pub deployment: String,
    /// `pending`, `firing`, `resolved`, `acknowledged`, …
    pub kind: String,
    /// Empty for acknowledgements.
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub at: String,
}

#[derive(Debug, Deserialize)]
pub struct AlertEventList {
    pub events: Vec<AlertEvent>,
}

/// An alert rule as the server stores (or builds in) it.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertRule {
    pub name: String,
    /// A deployment, or `*` for every deployment.
    pub deployment: String,
    pub metric: String,
    pub comparison: String,
    pub threshold: f64,
    pub window_secs: u64,
    #[serde(default)]
    pub for_secs: u64,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub guardrail: bool,
    /// The metric in plain words: `the share of failed requests`.
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
pub struct AlertRuleList {
    /// Rules written by people.
    pub rules: Vec<AlertRule>,
    /// The rules every deployment gets unless a rule of the same name replaces one.
    #[serde(default)]
    pub defaults: Vec<AlertRule>,
}

/// What `POST /api/v1/alerts/rules` is asked to store; `None` leaves the
/// server's default (every deployment, a one-hour window, firing at once,
/// severity warning).
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct NewAlertRule {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    pub metric: String,
    pub comparison: String,
    pub threshold: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub guardrail: bool,
}

/// Where alert events are sent.
#[derive(Debug, Clone, Deserialize)]
pub struct Channel {
    pub name: String,
    /// `webhook`, `slack`, or whatever a newer server adds.
    pub kind: String,
    #[serde(default)]
    pub url: String,
    /// Recipients, for e-mail channels.
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub created_by: String,
}

/// What `PUT /api/v1/alerts/channels/{name}` is asked to make the channel;
/// `to` and `from` (e-mail) are sent only when given.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct NewChannel {
    pub kind: String,
    pub url: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ChannelList {
    pub channels: Vec<Channel>,
}

/// One attempt to send an alert event to a channel.
#[derive(Debug, Clone, Deserialize)]
pub struct Delivery {
    pub event_id: i64,
    pub channel: String,
    #[serde(default)]
    pub attempt: u32,
    pub ok: bool,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub at: String,
}

#[derive(Debug, Deserialize)]
pub struct DeliveryList {
    pub deliveries: Vec<Delivery>,
}

/// A deployment's health at a glance (`GET .../deployments/{name}/health`).
#[derive(Debug, Clone, Deserialize)]
pub struct Health {
    pub deployment: String,
    /// `healthy`, `needs_attention`, `failing`, or whatever a newer server adds.
    pub health: String,
    /// The level for people: `Needs attention`.
    #[serde(default)]
    pub label: String,
    /// Most serious first, in plain words.
    #[serde(default)]
    pub reasons: Vec<String>,
}

#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    /// The server as the user gave it, for messages.
    server: String,
}

impl Client {
    /// A client for the server and token of a command's global options: the
    /// token is --token / HANGAR_TOKEN, else the one `hangar login` stored
    /// for this server, else none (every route but health then answers 401).
    pub fn connect(args: &crate::cli::ClientArgs) -> anyhow::Result<Client> {
        let token = match &args.token {
            Some(t) if !t.trim().is_empty() => Some(t.trim().to_owned()),
            _ => crate::credentials::Store::open()
                .ok()
                .and_then(|store| store.token(&args.server)),
        };
        Client::with_token(&args.server, token.as_deref())
    }

    /// Checks `server` and prepares a client without a credential.
    #[cfg(test)]
    pub fn new(server: &str) -> anyhow::Result<Client> {
        Client::with_token(server, None)
    }

    /// Checks `server` and prepares a client sending `token` as a bearer
    /// credential; nothing is sent yet.
    pub fn with_token(server: &str, token: Option<&str>) -> anyhow::Result<Client> {
        let mut base = Url::parse(server).map_err(|e| {
            anyhow::anyhow!(
                "invalid --server {server:?}: {e}; expected a URL like {}",
                crate::cli::DEFAULT_SERVER
            )
        })?;
        match base.scheme() {
            "http" => {}
            "https" => anyhow::bail!(
                "invalid --server {server:?}: this build of hangar speaks plain HTTP only; \
                 put TLS in front of it at a proxy and use an http:// URL from inside"
            ),
            other => anyhow::bail!("invalid --server {server:?}: unsupported scheme {other:?}; expected http://HOST:PORT"),
        }
        if base.host_str().is_none() {
            anyhow::bail!("invalid --server {server:?}: no host; expected http://HOST:PORT");
        }
        // A server mounted under a path prefix keeps it for every request.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.set_query(None);
        base.set_fragment(None);

        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                anyhow::anyhow!("the token contains characters a header cannot carry")
            })?;
            // Kept out of reqwest's debug output.
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("hangar/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Client {
            http,
            base,
            server: server.trim_end_matches('/').to_owned(),
        })
    }

    /// An absolute URL for `segments` under the server's base; each segment is
    /// percent-encoded, so names can never change the path's shape.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("http URLs have path segments")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// The server's base URL joined with a server-given absolute path.
    pub fn absolute(&self, path: &str) -> String {
        match self.base.join(path.trim_start_matches('/')) {
            Ok(url) => url.to_string(),
            Err(_) => path.to_owned(),
        }
    }

    pub async fn get_model(&self, name: &str) -> Result<Fetched<Model>, ClientError> {
        let url = self.url(&["api", "v1", "models", name]);
        self.call(self.http.get(url.clone()), &url).await
    }

    /// Creates a model, owned by `team` when one is given.
    /// Every model, with the raw JSON of each.
    pub async fn list_models(&self) -> Result<Vec<Fetched<Model>>, ClientError> {
        let url = self.url(&["api", "v1", "models"]);
        let list: Fetched<ModelList> = self.call(self.http.get(url.clone()), &url).await?;
        list.body
            .models
            .into_iter()
            .map(|m| decode(&url, m))
            .collect()
    }

    pub async fn list_versions(&self, model: &str) -> Result<Vec<Fetched<Version>>, ClientError> {
        let url = self.url(&["api", "v1", "models", model, "versions"]);
        let list: Fetched<VersionList> = self.call(self.http.get(url.clone()), &url).await?;
        list.body
            .versions
            .into_iter()
            .map(|v| decode(&url, v))
            .collect()
    }

    pub async fn get_version(
        &self,
        model: &str,
        version: u32,
    ) -> Result<Fetched<Version>, ClientError> {
        let version = version.to_string();
        let url = self.url(&["api", "v1", "models", model, "versions", &version]);
        self.call(self.http.get(url.clone()), &url).await
    }

    /// Pushes a version. With `create` (`Some(team)`, `Some(None)`: the
    /// server picks the team), a model that does not exist yet is created
    /// with it, only if the server accepts the version.
    pub async fn push_version(
        &self,
        model: &str,
        create: Option<Option<&str>>,
        metadata: &NewVersion,
        artifact: Artifact,
    ) -> Result<Fetched<Version>, ClientError> {
        let mut url = self.url(&["api", "v1", "models", model, "versions"]);
        if let Some(team) = create {
            url.query_pairs_mut().append_pair("create", "true");
            if let Some(team) = team {
                url.query_pairs_mut().append_pair("owner_team", team);
            }
        }
        let metadata = serde_json::to_string(metadata).map_err(|e| ClientError::Decode {
            url: url.to_string(),
            cause: e.to_string(),
        })?;
        let artifact = Part::stream_with_length(artifact.body, artifact.length)
            .file_name(artifact.file_name)
            .mime_str("application/octet-stream")
            .map_err(|e| transport(&url, &e))?;
        // Metadata first: the server can check it before the artifact arrives.
        let form = Form::new()
            .part(
                "metadata",
                Part::text(metadata)
                    .mime_str("application/json")
                    .map_err(|e| transport(&url, &e))?,
            )
            .part("artifact", artifact);
        self.call(self.http.post(url.clone()).multipart(form), &url)
            .await
    }

    /// Changes the fields of a model card that `patch` carries.
    pub async fn update_card(
        &self,
        model: &str,
        patch: &Value,
    ) -> Result<Fetched<Model>, ClientError> {
        let url = self.url(&["api", "v1", "models", model]);
        self.call(self.http.patch(url.clone()).json(patch), &url)
            .await
    }

    pub async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: u32,
    ) -> Result<Fetched<AliasMove>, ClientError> {
        let url = self.url(&["api", "v1", "models", model, "aliases", alias]);
        let body = json!({ "version": version });
        self.call(self.http.put(url.clone()).json(&body), &url)
            .await
    }

    /// Creates the deployment or gives it a new revision.
    pub async fn deploy(
        &self,
        name: &str,
        request: &DeployRequest,
    ) -> Result<Fetched<Deployment>, ClientError> {
        let url = self.url(&["api", "v1", "deployments", name]);
        self.call(self.http.put(url.clone()).json(request), &url)
            .await
    }

    pub async fn list_deployments(&self) -> Result<Fetched<DeploymentList>, ClientError> {
        let url = self.url(&["api", "v1", "deployments"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    pub async fn get_deployment(&self, name: &str) -> Result<Fetched<Deployment>, ClientError> {
        let url = self.url(&["api", "v1", "deployments", name]);
        self.call(self.http.get(url.clone()), &url).await
    }

    /// Every revision of a deployment, oldest first.
    pub async fn list_revisions(&self, name: &str) -> Result<Fetched<RevisionList>, ClientError> {
        let url = self.url(&["api", "v1", "deployments", name, "revisions"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    pub async fn get_revision(
        &self,
        name: &str,
        revision: u32,
    ) -> Result<Fetched<Revision>, ClientError> {
        let revision = revision.to_string();
        let url = self.url(&["api", "v1", "deployments", name, "revisions", &revision]);
        self.call(self.http.get(url.clone()), &url).await
    }

    /// Sends all traffic to the canary, as a new revision.
    pub async fn promote(
        &self,
        name: &str,
        message: Option<&str>,
    ) -> Result<Fetched<Deployment>, ClientError> {
        let url = self.url(&["api", "v1", "deployments", name, "promote"]);
        let body = revision_action(None, message);
        self.call(self.http.post(url.clone()).json(&body), &url)
            .await
    }

    /// Returns to an earlier revision's table and settings (by default the one
    /// before the current), as a new revision.
    pub async fn rollback(
        &self,
        name: &str,
        to: Option<u32>,
        message: Option<&str>,
    ) -> Result<Fetched<Deployment>, ClientError> {
        let url = self.url(&["api", "v1", "deployments", name, "rollback"]);
        let body = revision_action(to, message);
        self.call(self.http.post(url.clone()).json(&body), &url)
            .await
    }

    /// Sends `body` (JSON bytes) unchanged to the deployment's infer route.
    pub async fn infer(
        &self,
        deployment: &str,
        body: Vec<u8>,
    ) -> Result<Fetched<InferResponse>, ClientError> {
        let url = self.url(&["v2", "models", deployment, "infer"]);
        let request = self
            .http
            .request(Method::POST, url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        self.call(request, &url).await
    }

    /// Uploads a version's training data (CSV) to be profiled as its baseline.
    pub async fn put_baseline(
        &self,
        model: &str,
        version: u32,
        columns: &BaselineColumns,
        csv: Upload,
    ) -> Result<Fetched<Baseline>, ClientError> {
        let url = self.baseline_url(model, version);
        let mut query = Vec::new();
        if let Some(label) = &columns.label_column {
            query.push(("label_column", label.clone()));
        }
        if !columns.categorical.is_empty() {
            query.push(("categorical", columns.categorical.join(",")));
        }
        let request = self
            .http
            .put(url.clone())
            .query(&query)
            .header(CONTENT_TYPE, "text/csv")
            .header(CONTENT_LENGTH, csv.length)
            .body(csv.body);
        self.call(request, &url).await
    }

    pub async fn get_baseline(
        &self,
        model: &str,
        version: u32,
    ) -> Result<Fetched<Baseline>, ClientError> {
        let url = self.baseline_url(model, version);
        self.call(self.http.get(url.clone()), &url).await
    }

    fn baseline_url(&self, model: &str, version: u32) -> Url {
        let version = version.to_string();
        self.url(&[
            "api", "v1", "models", model, "versions", &version, "baseline",
        ])
    }

    /// Sends true outcomes for logged predictions; `content_type` says whether
    /// `body` is CSV or JSON.
    pub async fn feedback(
        &self,
        deployment: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> Result<Fetched<FeedbackReceipt>, ClientError> {
        let url = self.url(&["api", "v1", "deployments", deployment, "feedback"]);
        let request = self
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, content_type)
            .body(body);
        self.call(request, &url).await
    }

    pub async fn monitoring(
        &self,
        deployment: &str,
        window: &Window,
        version: Option<u32>,
    ) -> Result<Fetched<MonitoringReport>, ClientError> {
        let url = self.url(&["api", "v1", "deployments", deployment, "monitoring"]);
        let mut query = window.query();
        if let Some(v) = version {
            query.push(("version", v.to_string()));
        }
        self.call(self.http.get(url.clone()).query(&query), &url)
            .await
    }

    /// The prediction log over `window` as CSV: the response, for the caller to
    /// stream (it can be large).
    pub async fn predictions_csv(
        &self,
        deployment: &str,
        window: &Window,
    ) -> Result<reqwest::Response, ClientError> {
        let url = self.url(&["api", "v1", "deployments", deployment, "predictions"]);
        let response = self
            .send(self.http.get(url.clone()).query(&window.query()), &url)
            .await?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.map_err(|e| transport(&url, &e))?;
            return Err(api_error(status, &bytes));
        }
        Ok(response)
    }

    /// Alerts that are pending, firing or just resolved, on every deployment.
    pub async fn list_alerts(&self) -> Result<Fetched<AlertList>, ClientError> {
        let url = self.url(&["api", "v1", "alerts"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    /// The alert history, newest first.
    pub async fn alert_events(
        &self,
        deployment: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Fetched<AlertEventList>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "events"]);
        let mut query = Vec::new();
        if let Some(d) = deployment {
            query.push(("deployment", d.to_owned()));
        }
        if let Some(n) = limit {
            query.push(("limit", n.to_string()));
        }
        self.call(self.http.get(url.clone()).query(&query), &url)
            .await
    }

    pub async fn list_alert_rules(&self) -> Result<Fetched<AlertRuleList>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "rules"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    /// Creates the rule, or replaces the one of the same name and deployment.
    pub async fn put_alert_rule(
        &self,
        rule: &NewAlertRule,
    ) -> Result<Fetched<AlertRule>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "rules"]);
        self.call(self.http.post(url.clone()).json(rule), &url)
            .await
    }

    /// Deletes the rule `name` of `deployment` (`*`: the rule for every deployment).
    pub async fn delete_alert_rule(&self, name: &str, deployment: &str) -> Result<(), ClientError> {
        let url = self.url(&["api", "v1", "alerts", "rules", name]);
        let request = self
            .http
            .delete(url.clone())
            .query(&[("deployment", deployment)]);
        self.call_no_content(request, &url).await
    }

    pub async fn acknowledge_alert(
        &self,
        rule: &str,
        deployment: &str,
    ) -> Result<Fetched<Value>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "ack"]);
        let body = json!({ "rule": rule, "deployment": deployment });
        self.call(self.http.post(url.clone()).json(&body), &url)
            .await
    }

    pub async fn list_channels(&self) -> Result<Fetched<ChannelList>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "channels"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    /// Creates the channel or changes it.
    pub async fn put_channel(
        &self,
        name: &str,
        channel: &NewChannel,
    ) -> Result<Fetched<Channel>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "channels", name]);
        self.call(self.http.put(url.clone()).json(channel), &url)
            .await
    }

    pub async fn delete_channel(&self, name: &str) -> Result<(), ClientError> {
        let url = self.url(&["api", "v1", "alerts", "channels", name]);
        self.call_no_content(self.http.delete(url.clone()), &url)
            .await
    }

    /// The latest attempts to send alert events to channels, newest first.
    pub async fn deliveries(&self) -> Result<Fetched<DeliveryList>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "deliveries"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    pub async fn health(&self, deployment: &str) -> Result<Fetched<Health>, ClientError> {
        let url = self.url(&["api", "v1", "deployments", deployment, "health"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    /// `GET` of a management route whose JSON the command reads as is.
    pub async fn get_json(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, ClientError> {
        let url = self.url(segments);
        let fetched: Fetched<Value> = self
            .call(self.http.get(url.clone()).query(query), &url)
            .await?;
        Ok(fetched.raw)
    }

    /// `method` with a JSON body, answered with JSON.
    pub async fn send_json(
        &self,
        method: Method,
        segments: &[&str],
        body: &Value,
    ) -> Result<Value, ClientError> {
        let url = self.url(segments);
        let request = self.http.request(method, url.clone()).json(body);
        let fetched: Fetched<Value> = self.call(request, &url).await?;
        Ok(fetched.raw)
    }

    /// `DELETE`, answered with JSON.
    pub async fn delete_json(&self, segments: &[&str]) -> Result<Value, ClientError> {
        let url = self.url(segments);
        let fetched: Fetched<Value> = self.call(self.http.delete(url.clone()), &url).await?;
        Ok(fetched.raw)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<Fetched<T>, ClientError> {
        let response = self.send(request, url).await?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport(url, &e))?;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        let raw: Value = serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            url: url.to_string(),
            cause: format!("not JSON ({e})"),
        })?;
        decode(url, raw)
    }

    /// For requests answered with no body (`204 No Content`).
    async fn call_no_content(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<(), ClientError> {
        let response = self.send(request, url).await?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| transport(url, &e))?;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        Ok(())
    }

    /// Sends the request; any status is a response, only transport failures are errors.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<reqwest::Response, ClientError> {
        request.send().await.map_err(|e| {
            if e.is_connect() {
                ClientError::Unreachable {
                    server: self.server.clone(),
                    cause: root_cause(&e),
                }
            } else if connection_closed(&e) {
                ClientError::ConnectionClosed {
                    url: url.to_string(),
                    cause: root_cause(&e),
                }
            } else {
                transport(url, &e)
            }
        })
    }
}

fn decode<T: DeserializeOwned>(url: &Url, raw: Value) -> Result<Fetched<T>, ClientError> {
    match T::deserialize(&raw) {
        Ok(body) => Ok(Fetched { raw, body }),
        Err(e) => Err(ClientError::Decode {
            url: url.to_string(),
            cause: e.to_string(),
        }),
    }
}

/// The body of `promote` and `rollback`: only the fields that were given.
fn revision_action(to: Option<u32>, message: Option<&str>) -> Value {
    let mut body = serde_json::Map::new();
    if let Some(to) = to {
        body.insert("to".into(), json!(to));
    }
    if let Some(message) = message {
        body.insert("message".into(), json!(message));
    }
    Value::Object(body)
}

/// The server's `{"error": "..."}` message, or the start of whatever it sent;
/// a 401 also says how to get a valid token.
fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
        #[serde(default)]
        code: Option<String>,
    }
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => (e.code, e.error),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let first_line = text.lines().map(str::trim).find(|l| !l.is_empty());
            let message = match first_line {
                Some(line) => line.chars().take(200).collect(),
                None => status
                    .canonical_reason()
                    .unwrap_or("request failed")
                    .to_owned(),
            };
            (None, message)
        }
    };
    let message = if status == StatusCode::UNAUTHORIZED && !message.contains("hangar login") {
        format!("{}; {LOGIN_HINT}", message.trim_end_matches('.'))
    } else {
        message
    };
    ClientError::Api {
        status,
        code,
        message,
    }
}

fn transport(url: &Url, err: &reqwest::Error) -> ClientError {
    let cause = if err.is_timeout() {
        "timed out".to_owned()
    } else {
        causes(err)
    };
    ClientError::Transport {
        url: url.to_string(),
        cause,
    }
}

/// Whether the peer reset or closed the connection under us.
fn connection_closed(err: &reqwest::Error) -> bool {
    let mut next = err.source();
    while let Some(cause) = next {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            );
        }
        next = cause.source();
    }
    false
}

/// The innermost cause, e.g. `Connection refused (os error 111)`.
fn root_cause(err: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The causes below reqwest's own "error sending request" line, joined.
fn causes(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        next = cause.source();
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_carry_the_servers_message_and_status() {
        let e = api_error(
            StatusCode::NOT_FOUND,
            br#"{"error": "model 'x' not found", "code": "not_found"}"#,
        );
        assert_eq!(e.to_string(), "model 'x' not found (HTTP 404)");
        assert!(e.is_not_found());

        let e = api_error(
            StatusCode::BAD_GATEWAY,
            b"\n<html>upstream down</html>\nmore",
        );
        assert_eq!(e.to_string(), "<html>upstream down</html> (HTTP 502)");

        let e = api_error(StatusCode::CONFLICT, b"");
        assert_eq!(e.to_string(), "Conflict (HTTP 409)");
        assert!(!e.is_not_found());
    }

    #[test]
    fn unauthenticated_errors_say_how_to_log_in() {
        for body in [
            &br#"{"error": "this token has been revoked.", "code": "unauthenticated"}"#[..],
            b"",
        ] {
            let e = api_error(StatusCode::UNAUTHORIZED, body);
            assert!(e.is_unauthenticated());
            let text = e.to_string();
            assert!(
                text.ends_with(
                    "; run `hangar login` (or pass --token / set HANGAR_TOKEN) with a valid token (HTTP 401)"
                ),
                "{text}"
            );
        }
        let e = api_error(
            StatusCode::UNAUTHORIZED,
            br#"{"error": "this token has been revoked."}"#,
        );
        assert!(
            e.to_string()
                .starts_with("this token has been revoked; run"),
            "{e}"
        );
    }

    #[test]
    fn urls_keep_the_base_path_and_encode_segments() {
        let c = Client::new("http://h:1/hangar").unwrap();
        assert_eq!(
            c.url(&["api", "v1", "models", "a b"]).as_str(),
            "http://h:1/hangar/api/v1/models/a%20b"
        );
        assert_eq!(
            c.absolute("/v2/models/d/infer"),
            "http://h:1/hangar/v2/models/d/infer"
        );
        let c = Client::new("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            c.url(&["v2", "models", "d", "infer"]).as_str(),
            "http://127.0.0.1:8080/v2/models/d/infer"
        );
    }

    #[test]
    fn servers_must_be_plain_http_urls() {
        for bad in ["127.0.0.1:8080", "https://h", "ftp://h", "not a url"] {
            assert!(Client::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deploy_requests_send_only_what_was_given() {
        let plain = DeployRequest {
            model: "credit:3".into(),
            ..DeployRequest::default()
        };
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            json!({"model": "credit:3"})
        );
        let full = DeployRequest {
            model: "credit:3".into(),
            canary: Some(CanaryRoute {
                model: "credit:4".into(),
                weight: 10,
            }),
            shadow: Some("credit:5".into()),
            settings: Some(Settings {
                max_batch_size: Some(8),
                guardrails: Some(Guardrails {
                    max_error_rate: Some(0.05),
                    ..Guardrails::default()
                }),
                ..Settings::default()
            }),
            message: Some("try v4".into()),
        };
        assert_eq!(
            serde_json::to_value(&full).unwrap(),
            json!({
                "model": "credit:3",
                "canary": {"model": "credit:4", "weight": 10},
                "shadow": "credit:5",
                "settings": {"max_batch_size": 8, "guardrails": {"max_error_rate": 0.05}},
                "message": "try v4",
            })
        );
    }

    #[test]
    fn revision_actions_send_only_what_was_given() {
        assert_eq!(revision_action(None, None), json!({}));
        assert_eq!(
            revision_action(Some(2), Some("bad canary")),
            json!({"to": 2, "message": "bad canary"})
        );
    }

    #[test]
    fn alert_rules_send_only_what_was_given() {
        let plain = NewAlertRule {
            name: "busy".into(),
            metric: "traffic.requests".into(),
            comparison: ">=".into(),
            threshold: 1.0,
            ..NewAlertRule::default()
        };
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            json!({"name": "busy", "metric": "traffic.requests", "comparison": ">=", "threshold": 1.0})
        );
        let full = NewAlertRule {
            deployment: Some("credit-api".into()),
            window_secs: Some(600),
            for_secs: Some(0),
            severity: Some("critical".into()),
            guardrail: true,
            ..plain
        };
        assert_eq!(
            serde_json::to_value(&full).unwrap(),
            json!({
                "name": "busy", "deployment": "credit-api", "metric": "traffic.requests",
                "comparison": ">=", "threshold": 1.0, "window_secs": 600, "for_secs": 0,
                "severity": "critical", "guardrail": true,
            })
        );
    }

    #[test]
    fn channels_send_recipients_and_sender_only_when_given() {
        let webhook = NewChannel {
            kind: "webhook".into(),
            url: "http://h/x".into(),
            ..NewChannel::default()
        };
        assert_eq!(
            serde_json::to_value(&webhook).unwrap(),
            json!({"kind": "webhook", "url": "http://h/x"})
        );
        let email = NewChannel {
            kind: "email".into(),
            url: "smtp://mail:25".into(),
            to: vec!["a@example.com".into()],
            from: Some("hangar@example.com".into()),
        };
        assert_eq!(
            serde_json::to_value(&email).unwrap(),
            json!({"kind": "email", "url": "smtp://mail:25", "to": ["a@example.com"], "from": "hangar@example.com"})
        );
    }

    #[test]
    fn version_metadata_omits_what_was_not_given() {
        let meta = NewVersion {
            features: Some(vec!["a".into()]),
            ..NewVersion::default()
        };
        assert_eq!(
            serde_json::to_value(&meta).unwrap(),
            json!({"features": ["a"]})
        );
    }
}
