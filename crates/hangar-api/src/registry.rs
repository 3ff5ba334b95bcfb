//! The registry: models and their cards, versions, aliases.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A registered model with its card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Model {
    pub name: String,
    pub description: String,
    pub owner_team: Option<String>,
    pub intended_use: Option<String>,
    pub out_of_scope_uses: Vec<String>,
    /// `low`, `medium` or `high`.
    pub risk_tier: String,
    pub tags: Vec<String>,
    pub latest_version: Option<u32>,
    /// Alias name → version.
    pub aliases: BTreeMap<String, u32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: String,
    /// After a move to another team: the deployments that moved with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments_moved: Vec<String>,
}

/// `GET /api/v1/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelList {
    pub models: Vec<Model>,
}

/// `POST /api/v1/models`: a name and the card's fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateModel {
    pub name: String,
    #[serde(flatten)]
    pub card: CardPatch,
}

/// Fields of a model card (`PATCH /api/v1/models/{model}`); absent fields
/// keep their value, and `null` clears the ones that may be empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub owner_team: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub intended_use: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_scope_uses: Option<Vec<String>>,
    /// `low`, `medium` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// One input or output tensor of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TensorSpec {
    pub name: String,
    /// The Open Inference Protocol's datatype: `FP32`, `INT64`, …
    pub datatype: String,
    /// `-1` for a dimension of any size.
    pub shape: Vec<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Signature {
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// One immutable version of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Version {
    pub model: String,
    pub version: u32,
    /// `sha256:…` of the artifact.
    pub digest: String,
    pub size_bytes: u64,
    /// `onnx`.
    pub format: String,
    pub signature: Signature,
    /// Column names of the 2-D input, when the version has them.
    pub feature_names: Option<Vec<String>>,
    pub description: String,
    pub source_commit: Option<String>,
    pub training_run: Option<String>,
    pub metrics: BTreeMap<String, f64>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// In a push's answer only: the model this first version created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_model: Option<CreatedModel>,
}

/// The model a push with `?create=true` created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedModel {
    pub name: String,
    pub owner_team: Option<String>,
}

/// `GET /api/v1/models/{model}/versions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionList {
    pub versions: Vec<Version>,
}

/// The `metadata` part of a version upload; everything is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionMeta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Column names of the 2-D input (else read from the file, else the
    /// previous version's when its inputs are the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_run: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// A multipart version upload (`POST /api/v1/models/{model}/versions`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct VersionUpload {
    /// The model file.
    #[schema(value_type = String, format = Binary)]
    pub artifact: Vec<u8>,
    /// JSON, optional.
    pub metadata: Option<VersionMeta>,
}

/// An alias and the version it names; for a point in time (`?at=`) only
/// the version and `at` are set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Alias {
    pub model: String,
    pub alias: String,
    pub version: Option<u32>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
    /// Set when the answer is for a point in time (`?at=`).
    pub at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/models/{model}/aliases`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AliasList {
    pub aliases: Vec<Alias>,
}

/// `PUT /api/v1/models/{model}/aliases/{alias}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAlias {
    pub version: u32,
}

/// An alias set, moved or deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AliasEvent {
    pub model: String,
    pub alias: String,
    pub from_version: Option<u32>,
    pub to_version: Option<u32>,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// An alias's (or a model's every alias's) moves, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AliasHistory {
    pub history: Vec<AliasEvent>,
}
