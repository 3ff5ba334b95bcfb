//! Deployments: revisions, promotion and rollback, inference and health.

use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::{Client, ClientError, Fetched};

/// What `PUT /api/v1/deployments/{name}` is asked to make the new revision.
pub use hangar_api::PutDeployment as DeployRequest;
pub use hangar_api::RouteIn as CanaryRoute;
pub use hangar_api::{
    Agreement, Deployment, DeploymentList, Guardrails, Revision, RevisionList, Route, Settings,
    Shadow,
};
/// Settings and guardrails in a request: only what was given is sent.
pub use hangar_api::{GuardrailsPatch, SettingsPatch};

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
fn revision_action(to: Option<u32>, message: Option<&str>) -> hangar_api::RevisionAction {
    hangar_api::RevisionAction {
        to,
        message: message.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_api::{GuardrailsPatch, SettingsPatch};
    use serde_json::json;

    #[test]
    fn deploy_requests_send_only_what_was_given() {
        let plain = DeployRequest {
            model: Some("credit:3".into()),
            ..DeployRequest::default()
        };
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            json!({"model": "credit:3"})
        );
        let full = DeployRequest {
            model: Some("credit:3".into()),
            canary: Some(CanaryRoute {
                model: "credit:4".into(),
                weight: 10,
            }),
            routes: None,
            shadow: Some("credit:5".into()),
            settings: Some(SettingsPatch {
                max_batch_size: Some(8),
                guardrails: Some(GuardrailsPatch {
                    max_error_rate: Some(0.05),
                    ..GuardrailsPatch::default()
                }),
                ..SettingsPatch::default()
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
        let json = |a| serde_json::to_value(a).unwrap();
        assert_eq!(json(revision_action(None, None)), json!({}));
        assert_eq!(
            json(revision_action(Some(2), Some("bad canary"))),
            json!({"to": 2, "message": "bad canary"})
        );
    }
}
