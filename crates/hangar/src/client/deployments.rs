//! Deployments: revisions, promotion and rollback, inference and health.

use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Client, ClientError, Fetched};

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

impl Client {
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

    pub async fn health(&self, deployment: &str) -> Result<Fetched<Health>, ClientError> {
        let url = self.url(&["api", "v1", "deployments", deployment, "health"]);
        self.call(self.http.get(url.clone()), &url).await
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
