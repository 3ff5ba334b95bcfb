//! Models and their versions: the registry, version uploads, cards and aliases.

use std::collections::BTreeMap;

use reqwest::multipart::{Form, Part};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{decode, transport, Client, ClientError, Fetched};

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

impl Client {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
