//! Governance: teams, users and their roles; API tokens and consumer keys;
//! approvals, signatures and trusted signing keys; the audit log; login and
//! who am I.
//!
//! Times are sent to the second (`2026-01-02T03:04:05Z`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A team (`GET /api/v1/teams`, `POST /api/v1/teams`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Team {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// `GET /api/v1/teams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TeamList {
    pub teams: Vec<Team>,
}

/// `POST /api/v1/teams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    pub name: String,
}

/// A role held in a team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Membership {
    pub team: String,
    /// `admin`, `maintainer`, `data-scientist`, `approver` or `viewer`.
    pub role: String,
}

/// A user (`GET /api/v1/users`, `POST /api/v1/users`, a role given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub name: String,
    /// A Hangar administrator.
    pub superuser: bool,
    pub roles: Vec<Membership>,
    /// Whether the user has a password (never the password itself).
    pub password: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub disabled: bool,
}

/// `GET /api/v1/users`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
}

/// `POST /api/v1/users`: a role needs both `team` and `role`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// At least 12 characters; without one, the user logs in with a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default)]
    pub superuser: bool,
}

/// `POST /api/v1/users/{user}/roles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRole {
    pub team: String,
    pub role: String,
}

/// An API token, metrics token or consumer key; its secret is never shown
/// again after it is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Token {
    pub id: String,
    /// `api`, `metrics` or `consumer`.
    pub kind: String,
    /// The user an API token acts as; `null` for metrics tokens and
    /// consumer keys.
    pub user: Option<String>,
    pub name: String,
    /// The deployments a consumer key may call.
    pub deployments: Vec<String>,
    /// A consumer key's declared purpose.
    pub purpose: String,
    /// A consumer key's requests per second.
    pub rate_limit: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<Token>,
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Another user (Hangar administrators); the caller by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `30d`, `12h`, `90m` or an RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `api` (the default: acts as its user) or `metrics` (reads /metrics
    /// and nothing else; administrators only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A token just created (`POST /api/v1/tokens`): with its secret, shown
/// this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: Token,
    /// The secret: `hgr_<id>_<secret>`.
    #[serde(rename = "token")]
    pub secret: String,
}

/// `GET /api/v1/consumer-keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsumerKeyList {
    pub keys: Vec<Token>,
}

/// `POST /api/v1/consumer-keys`: the deployments the key may call
/// (`deployment`, `deployments` or both) and what it is for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsumerKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    #[serde(default)]
    pub deployments: Vec<String>,
    pub purpose: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Requests per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<f64>,
}

/// What a model behind a new consumer key may and may not be used for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyModel {
    pub model: String,
    pub intended_use: Option<String>,
    pub out_of_scope_uses: Vec<String>,
    pub risk_tier: String,
}

/// A consumer key just issued: with its secret, shown this once, and the
/// model cards of the models its deployments serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedConsumerKey {
    #[serde(flatten)]
    pub key: Token,
    #[serde(rename = "token")]
    pub secret: String,
    pub models: Vec<KeyModel>,
}

/// A four-eyes decision on a version (`POST
/// /api/v1/models/{model}/versions/{version}/approvals`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    /// `approved` or `rejected`.
    pub decision: String,
    /// The exact digest decided on.
    pub digest: String,
    pub comment: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// Approve or reject a version: what was checked, in the comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDecision {
    /// `approve` or `reject`.
    pub decision: String,
    /// 1 to 2000 characters.
    pub comment: String,
}

/// A signature attached to a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionSignature {
    pub public_key: String,
    pub at: DateTime<Utc>,
}

/// `GET /api/v1/models/{model}/versions/{version}/approvals`: decisions,
/// signatures, and whether the version may receive production traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Approvals {
    pub model: String,
    pub version: u32,
    pub digest: String,
    pub pushed_by: String,
    pub decisions: Vec<Decision>,
    pub production_allowed: bool,
    /// Why production traffic is refused; `null` when it is allowed.
    pub reason: Option<String>,
    pub signatures: Vec<VersionSignature>,
}

/// A signing key trusted for `require_signed` deployments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrustedKey {
    pub name: String,
    /// Ed25519 public key, 32 bytes in hex.
    pub public_key: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// `GET /api/v1/trusted-keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrustedKeyList {
    pub keys: Vec<TrustedKey>,
}

/// `POST /api/v1/trusted-keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrustedKey {
    pub name: String,
    /// Ed25519 public key, 32 bytes in hex.
    pub public_key: String,
}

/// `POST /api/v1/models/{model}/versions/{version}/signatures`: an Ed25519
/// signature over the version's digest string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSignature {
    pub public_key: String,
    pub signature: String,
}

/// A signature attached and verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SignatureReceipt {
    pub model: String,
    pub version: u32,
    pub digest: String,
    pub public_key: String,
    pub verified: bool,
    /// The trusted key's name, if the public key is one; else `null`.
    pub trusted_key: Option<String>,
}

/// An entry of the audit log (`GET /api/v1/audit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    /// RFC 3339, as recorded.
    pub at: String,
    pub actor: String,
    pub address: String,
    pub action: String,
    pub object: String,
    pub outcome: String,
    /// What changed: a JSON value (a string when the recorded detail is
    /// not JSON).
    #[schema(value_type = Object)]
    pub detail: Detail,
    pub hash: String,
}

/// Any JSON value: an audit entry's detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Detail {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    String(String),
    Array(Vec<Detail>),
    Object(std::collections::BTreeMap<String, Detail>),
}

/// `GET /api/v1/audit`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditLog {
    pub entries: Vec<AuditEntry>,
}

/// `GET /api/v1/audit/verify`: the hash chain's verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditVerification {
    pub ok: bool,
    /// Entries checked.
    pub entries: u64,
    /// Where the chain breaks; `null` when it is intact.
    pub first_break: Option<ChainBreak>,
}

/// The first entry where the audit chain breaks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChainBreak {
    pub seq: i64,
    pub message: String,
}

/// `POST /api/v1/login`: a user name and password for an API token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
    /// `30d`, `12h`, `90m` or an RFC 3339 time; 30 days by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// The API token a login issued: its secret, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoginToken {
    pub id: String,
    /// The secret: `hgr_<id>_<secret>`.
    pub token: String,
    pub user: String,
    pub expires_at: DateTime<Utc>,
}

/// `GET /api/v1/whoami`: the authenticated principal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Whoami {
    pub name: String,
    /// `user` or `consumer_key`.
    pub kind: String,
    pub superuser: bool,
    pub roles: Vec<Membership>,
    /// A consumer key's declared purpose; `null` otherwise.
    pub purpose: Option<String>,
    /// The id of the credential the request came with.
    pub token_id: String,
}
