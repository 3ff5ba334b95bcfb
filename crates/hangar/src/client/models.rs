//! Models and their versions: the registry, version uploads, cards and aliases.

use reqwest::multipart::{Form, Part};
use serde_json::Value;

use super::{items, transport, Client, ClientError, Fetched};

/// The `metadata` part of a version upload.
pub use hangar_api::VersionMeta as NewVersion;
pub use hangar_api::{AliasEvent as AliasMove, Model, TensorSpec, Version};

/// The artifact of a version upload: a body of known length, usually a stream.
#[derive(Debug)]
pub struct Artifact {
    pub file_name: String,
    pub length: u64,
    pub body: reqwest::Body,
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
        let list: Fetched<hangar_api::ModelList> =
            self.call(self.http.get(url.clone()), &url).await?;
        Ok(items(list.raw, "models", list.body.models))
    }

    pub async fn list_versions(&self, model: &str) -> Result<Vec<Fetched<Version>>, ClientError> {
        let url = self.url(&["api", "v1", "models", model, "versions"]);
        let list: Fetched<hangar_api::VersionList> =
            self.call(self.http.get(url.clone()), &url).await?;
        Ok(items(list.raw, "versions", list.body.versions))
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
        let body = hangar_api::SetAlias { version };
        self.call(self.http.put(url.clone()).json(&body), &url)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
