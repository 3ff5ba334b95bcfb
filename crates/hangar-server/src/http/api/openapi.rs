//! The OpenAPI document served at `GET /api/v1/openapi.json`, generated.
//!
//! How it is built, so that it cannot drift from what the server does:
//!
//! - **Paths** come from the permission table ([`crate::auth::RULES`]):
//!   every route the server answers (but the dashboard's HTML form posts
//!   `/login` and `/logout`) is a path of the document, with its path
//!   parameters read from the template and `security: []` when the route is
//!   public.
//! - **What each route takes and answers** is [`OPERATIONS`], one row per
//!   route: summary, query parameters, and the request and success bodies.
//!   A body whose type lives in `hangar-api` names the type
//!   ([`Body::Json`]), so its schema is the one utoipa derives from the
//!   very struct the handler returns; the bodies not in `hangar-api` (the
//!   inference protocol's) are `Body::Untyped` (a JSON object).
//! - **Schemas** (`components.schemas`) are collected by utoipa from the
//!   `hangar-api` types listed in [`Schemas`] (nested types are collected
//!   with them), plus `Error`, whose `code` enum is [`ErrorCode::ALL`], and
//!   the inference protocol's `V2Error`.
//!
//! A unit test checks that [`OPERATIONS`] and the permission table list the
//! same routes; the HTTP test `the_openapi_document_describes_every_route`
//! checks the served document: every route, and every typed body a schema
//! that resolves and has properties.

use std::sync::LazyLock;

use hangar_api as wire;
use serde_json::{json, Map, Value};
use utoipa::{OpenApi, ToSchema};

use crate::auth::{Policy, RULES};
use crate::http::error::ErrorCode;

/// The `hangar-api` types whose schemas the document carries.
#[derive(OpenApi)]
#[openapi(components(schemas(
    wire::ModelList,
    wire::Model,
    wire::CreateModel,
    wire::CardPatch,
    wire::VersionList,
    wire::Version,
    wire::VersionUpload,
    wire::CreatedModel,
    wire::AliasList,
    wire::Alias,
    wire::SetAlias,
    wire::AliasEvent,
    wire::AliasHistory,
    wire::DeploymentList,
    wire::Deployment,
    wire::PutDeployment,
    wire::RevisionList,
    wire::Revision,
    wire::RevisionAction,
    wire::Baseline,
    wire::FeedbackReceipt,
    wire::FeedbackRefused,
    wire::MonitoringReport,
    wire::AlertList,
    wire::AlertEventList,
    wire::AlertRuleList,
    wire::AlertRule,
    wire::NewAlertRule,
    wire::AckAlert,
    wire::Acknowledged,
    wire::ChannelList,
    wire::Channel,
    wire::NewChannel,
    wire::DeliveryList,
    wire::Health,
    wire::TeamList,
    wire::Team,
    wire::NewTeam,
    wire::UserList,
    wire::User,
    wire::NewUser,
    wire::GrantRole,
    wire::TokenList,
    wire::Token,
    wire::NewToken,
    wire::CreatedToken,
    wire::ConsumerKeyList,
    wire::NewConsumerKey,
    wire::CreatedConsumerKey,
    wire::KeyModel,
    wire::Approvals,
    wire::Decision,
    wire::NewDecision,
    wire::VersionSignature,
    wire::TrustedKeyList,
    wire::TrustedKey,
    wire::NewTrustedKey,
    wire::NewSignature,
    wire::SignatureReceipt,
    wire::AuditLog,
    wire::AuditEntry,
    wire::AuditVerification,
    wire::ChainBreak,
    wire::LoginRequest,
    wire::LoginToken,
    wire::Whoami,
)))]
struct Schemas;

/// A request or response body.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body {
    /// None.
    Empty,
    /// JSON of a `hangar-api` type: its schema's name.
    Json(fn() -> String),
    /// A multipart form whose parts are the type's fields.
    Multipart(fn() -> String),
    /// A JSON object not (yet) typed in `hangar-api`.
    Untyped,
    /// Other media types: CSV, an artifact, metrics text.
    Media(&'static [&'static str]),
}

/// One route: what it is for, what it takes and what it answers.
#[derive(Debug)]
pub(crate) struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    /// Query parameters: name, JSON type, description.
    pub query: &'static [(&'static str, &'static str, &'static str)],
    /// Header parameters: name, JSON type, description.
    pub headers: &'static [(&'static str, &'static str, &'static str)],
    pub request: Body,
    /// The success status.
    pub status: u16,
    pub response: Body,
}

/// A row of [`OPERATIONS`]: by default it takes nothing and answers 200
/// with a JSON object.
const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
) -> Op {
    Op {
        method,
        path,
        tag,
        summary,
        description: "",
        query: &[],
        headers: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Untyped,
    }
}

impl Op {
    const fn describe(self, description: &'static str) -> Op {
        Op {
            description,
            ..self
        }
    }

    const fn query(self, query: &'static [(&'static str, &'static str, &'static str)]) -> Op {
        Op { query, ..self }
    }

    const fn headers(self, headers: &'static [(&'static str, &'static str, &'static str)]) -> Op {
        Op { headers, ..self }
    }

    const fn takes(self, request: Body) -> Op {
        Op { request, ..self }
    }

    const fn answers(self, status: u16, response: Body) -> Op {
        Op {
            status,
            response,
            ..self
        }
    }
}

fn name<T: ToSchema>() -> String {
    T::name().into_owned()
}

/// Path parameters: type and description.
fn path_parameter(name: &str) -> (&'static str, &'static str) {
    match name {
        "model" => ("string", "Model name: [a-z0-9][a-z0-9._-]{0,62}"),
        "version" => ("string", "Version number (1, 2, 3…)"),
        "alias" => ("string", "Alias name, e.g. production"),
        "name" => ("string", "Deployment (or rule, or channel) name"),
        "revision" => ("string", "Revision number"),
        "user" => ("string", "User name"),
        "id" => ("string", "Token or consumer key id"),
        _ => ("string", ""),
    }
}

/// The tags, in the order a reader meets them.
const TAGS: [&str; 8] = [
    "registry",
    "aliases",
    "deployments",
    "inference",
    "operations",
    "monitoring",
    "alerts",
    "governance",
];

/// The document, built once.
pub(crate) static DOCUMENT: LazyLock<String> = LazyLock::new(|| document().to_string());

/// The whole document.
pub(crate) fn document() -> Value {
    let mut components =
        serde_json::to_value(Schemas::openapi().components).unwrap_or_else(|_| json!({}));
    let schemas = &mut components["schemas"];
    schemas["Error"] = json!({
        "type": "object",
        "description": "Every management API error: a message for people and a stable code (docs/errors.md).",
        "properties": {
            "error": {"type": "string"},
            "code": {"type": "string", "enum": ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()},
        },
        "required": ["error", "code"],
    });
    schemas["V2Error"] = json!({
        "type": "object",
        "description": "An inference protocol error (/v2/...).",
        "properties": {"error": {"type": "string"}},
        "required": ["error"],
    });
    components["securitySchemes"] = json!({"bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (hgr_<id>_<secret>) from POST /api/v1/login or POST /api/v1/tokens, an administrator token chosen by the operator, or a consumer key. The dashboard's session cookie is accepted too; with it, a change needs the session's CSRF token (header x-csrf-token).",
    }});
    components["responses"] = json!({
        "Unauthenticated": {
            "description": "No credential, or one that is unknown, expired or revoked (code unauthenticated)",
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer realm=\"hangar\""}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
        "Forbidden": {
            "description": "A valid principal without the permission (code forbidden)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    });

    let mut paths = Map::new();
    for rule in RULES
        .iter()
        .filter(|r| !matches!(r.path, "/login" | "/logout"))
    {
        let item = paths.entry(rule.path).or_insert_with(|| json!({}));
        let op = OPERATIONS
            .iter()
            .find(|op| op.method == rule.method && op.path == rule.path);
        item[rule.method.to_ascii_lowercase()] = operation(rule.path, rule.policy, op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Hangar",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Hangar's management API (/api/v1) and the Open Inference Protocol V2 over HTTP (/v2). Every route but the two health probes and POST /api/v1/login needs a credential: `Authorization: Bearer <token>` (an API token from POST /api/v1/login or POST /api/v1/tokens, or a consumer key from POST /api/v1/consumer-keys, which may only call inference and feedback routes of its deployments). Who may call each route is in the permission table (auth::RULES); another team's model or deployment answers 404, as if it did not exist. Changes record the authenticated caller and are written to the audit log. Management errors: {\"error\", \"code\"}; inference errors (/v2/...): {\"error\"}. A consumer key over its request rate gets 429 with Retry-After: 1. A 5xx never shows internal text: the cause is in the server log.",
        },
        "security": [{"bearerAuth": []}],
        "tags": TAGS.map(|t| json!({"name": t})),
        "paths": paths,
        "components": components,
    })
}

/// One operation of the document: the route's row of [`OPERATIONS`] (a
/// route without one still appears, with its parameters and errors).
fn operation(path: &str, policy: Policy, op: Option<&Op>) -> Value {
    let mut parameters: Vec<Value> = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let (kind, description) = path_parameter(name);
            json!({"name": name, "in": "path", "required": true,
                   "schema": {"type": kind}, "description": description})
        })
        .collect();
    let error = if path.starts_with("/v2") {
        "V2Error"
    } else {
        "Error"
    };
    let mut responses = json!({
        "default": {"description": "Error", "content": {"application/json": {
            "schema": {"$ref": format!("#/components/schemas/{error}")}}}},
    });
    let mut out = json!({});
    if policy == Policy::Public {
        out["security"] = json!([]);
    } else if error == "Error" {
        responses["401"] = json!({"$ref": "#/components/responses/Unauthenticated"});
        responses["403"] = json!({"$ref": "#/components/responses/Forbidden"});
    }
    if let Some(op) = op {
        out["summary"] = json!(op.summary);
        if !op.description.is_empty() {
            out["description"] = json!(op.description);
        }
        out["tags"] = json!([op.tag]);
        parameters.extend(op.query.iter().map(|(name, kind, description)| {
            json!({"name": name, "in": "query", "required": false,
                   "schema": {"type": kind}, "description": description})
        }));
        parameters.extend(op.headers.iter().map(|(name, kind, description)| {
            json!({"name": name, "in": "header", "required": false,
                   "schema": {"type": kind}, "description": description})
        }));
        if let Some(content) = content(op.request) {
            out["requestBody"] = json!({"required": true, "content": content});
        }
        let mut ok = json!({"description": match op.status {
            201 => "Created",
            204 => "No content",
            _ => "OK",
        }});
        if let Some(content) = content(op.response) {
            ok["content"] = content;
        }
        responses[op.status.to_string()] = ok;
    }
    if !parameters.is_empty() {
        out["parameters"] = Value::Array(parameters);
    }
    out["responses"] = responses;
    out
}

fn content(body: Body) -> Option<Value> {
    let schema_ref =
        |name: fn() -> String| json!({"$ref": format!("#/components/schemas/{}", name())});
    Some(match body {
        Body::Empty => return None,
        Body::Json(name) => json!({"application/json": {"schema": schema_ref(name)}}),
        Body::Multipart(name) => json!({"multipart/form-data": {"schema": schema_ref(name)}}),
        Body::Untyped => json!({"application/json": {"schema": {"type": "object"}}}),
        Body::Media(types) => Value::Object(
            types
                .iter()
                .map(|t| {
                    let schema = if *t == "application/json" {
                        json!({"type": "object"})
                    } else {
                        json!({"type": "string"})
                    };
                    (t.to_string(), json!({"schema": schema}))
                })
                .collect(),
        ),
    })
}

/// The headers an inference request may carry.
const INFER_HEADERS: &[(&str, &str, &str)] = &[
    (
        "Inference-Header-Content-Length",
        "integer",
        "Binary tensor data extension: length of the JSON header",
    ),
    (
        "X-Hangar-Routing-Key",
        "string",
        "The same key always reaches the same route of a revision (also parameters.routing_key)",
    ),
    (
        "X-Hangar-Deadline-Ms",
        "integer",
        "Deadline: a request still queued when it passes gets 504 and never runs",
    ),
];

/// Every route's summary, parameters and bodies.
pub(crate) static OPERATIONS: &[Op] = &[
    op("GET", "/api/v1/models", "registry", "List models").answers(200, Body::Json(name::<wire::ModelList>)),
    op("POST", "/api/v1/models", "registry", "Create a model with its card").takes(Body::Json(name::<wire::CreateModel>)).answers(201, Body::Json(name::<wire::Model>)),
    op("GET", "/api/v1/models/{model}", "registry", "Get a model, its card and aliases").answers(200, Body::Json(name::<wire::Model>)),
    op("PATCH", "/api/v1/models/{model}", "registry", "Update the model card (fields not sent keep their value)").describe("Moving a model to another team (owner_team) moves its deployments with it: those of its team whose every route and shadow serve it. That needs the deploy permission in both teams; a deployment of its team that also serves other models makes the move fail (409) naming it. Each moved deployment is recorded in the audit log (object deployments/NAME). Raising risk_tier to high is refused (403, approval_required) while a version of the model without four-eyes approval gets production traffic (a route weight above zero, or the production alias); the message names each version and where it serves.").takes(Body::Json(name::<wire::CardPatch>)).answers(200, Body::Json(name::<wire::Model>)),
    op("GET", "/api/v1/models/{model}/versions", "registry", "List versions").answers(200, Body::Json(name::<wire::VersionList>)),
    op("POST", "/api/v1/models/{model}/versions", "registry", "Upload an artifact as the next version (streamed, size-limited); refused with the reason if the model cannot run. With create=true, a model that does not exist yet is created with its first version, only if that version is accepted").describe("Feature names come from the metadata, else from the model file, else from the model's latest version when its inputs (names, datatypes, shapes) are exactly the new version's.").query(&[("create", "boolean", "Create the model if it does not exist yet (in owner_team, or the caller's only team where they may push, or the default team); a refused push creates nothing"), ("owner_team", "string", "With create=true: the new model's team (it must exist and the caller may push there)")]).takes(Body::Multipart(name::<wire::VersionUpload>)).answers(201, Body::Json(name::<wire::Version>)),
    op("GET", "/api/v1/models/{model}/versions/{version}", "registry", "Get a version").answers(200, Body::Json(name::<wire::Version>)),
    op("GET", "/api/v1/models/{model}/versions/{version}/artifact", "registry", "Download the artifact (verified against its digest; header X-Hangar-Digest)").answers(200, Body::Media(&["application/octet-stream"])),
    op("GET", "/api/v1/models/{model}/aliases", "aliases", "List aliases").answers(200, Body::Json(name::<wire::AliasList>)),
    op("GET", "/api/v1/models/{model}/aliases/{alias}", "aliases", "Where an alias points now, or at a past time with ?at=").query(&[("at", "string", "RFC 3339 time, or a date (end of that day, UTC)")]).answers(200, Body::Json(name::<wire::Alias>)),
    op("PUT", "/api/v1/models/{model}/aliases/{alias}", "aliases", "Set or move an alias (recorded in its history); deployments following it move too").takes(Body::Json(name::<wire::SetAlias>)).answers(200, Body::Json(name::<wire::AliasEvent>)),
    op("DELETE", "/api/v1/models/{model}/aliases/{alias}", "aliases", "Delete an alias (recorded in its history)").answers(200, Body::Json(name::<wire::AliasEvent>)),
    op("GET", "/api/v1/models/{model}/aliases/{alias}/history", "aliases", "Every move of one alias, oldest first").answers(200, Body::Json(name::<wire::AliasHistory>)),
    op("GET", "/api/v1/models/{model}/alias-history", "aliases", "Every move of every alias of the model, oldest first").answers(200, Body::Json(name::<wire::AliasHistory>)),
    op("GET", "/api/v1/deployments", "deployments", "List deployments").answers(200, Body::Json(name::<wire::DeploymentList>)),
    op("GET", "/api/v1/deployments/{name}", "deployments", "Get a deployment").answers(200, Body::Json(name::<wire::Deployment>)),
    op("PUT", "/api/v1/deployments/{name}", "deployments", "Create or change a deployment: a new revision (routes with weights, shadow, settings); its versions are loaded and warmed before it takes traffic").takes(Body::Json(name::<wire::PutDeployment>)).answers(200, Body::Json(name::<wire::Deployment>)),
    op("DELETE", "/api/v1/deployments/{name}", "deployments", "Delete a deployment").answers(204, Body::Empty),
    op("GET", "/v2", "inference", "Server metadata"),
    op("GET", "/v2/health/live", "inference", "Liveness"),
    op("GET", "/v2/health/ready", "inference", "Readiness: 200 once stored deployments are restored"),
    op("GET", "/v2/models/{name}", "inference", "Model metadata: inputs and outputs"),
    op("GET", "/v2/models/{name}/ready", "inference", "Model readiness (200 ready, 400 not ready)").answers(200, Body::Empty),
    op("POST", "/v2/models/{name}/infer", "inference", "Inference (Open Inference Protocol V2)").takes(Body::Media(&["application/json", "application/octet-stream"])).headers(INFER_HEADERS),
    op("GET", "/v2/models/{name}/versions/{version}", "inference", "Model metadata: inputs and outputs"),
    op("GET", "/v2/models/{name}/versions/{version}/ready", "inference", "Model readiness (200 ready, 400 not ready)").answers(200, Body::Empty),
    op("POST", "/v2/models/{name}/versions/{version}/infer", "inference", "Inference (Open Inference Protocol V2)").takes(Body::Media(&["application/json", "application/octet-stream"])).headers(INFER_HEADERS),
    op("GET", "/api/v1/deployments/{name}/revisions", "deployments", "Every revision, oldest first").answers(200, Body::Json(name::<wire::RevisionList>)),
    op("GET", "/api/v1/deployments/{name}/revisions/{revision}", "deployments", "One revision").answers(200, Body::Json(name::<wire::Revision>)),
    op("POST", "/api/v1/deployments/{name}/promote", "deployments", "Promote the canary to all traffic (a new revision)").takes(Body::Json(name::<wire::RevisionAction>)).answers(200, Body::Json(name::<wire::Deployment>)),
    op("POST", "/api/v1/deployments/{name}/rollback", "deployments", "Return to an earlier revision's table and settings (default: the previous one), atomically").takes(Body::Json(name::<wire::RevisionAction>)).answers(200, Body::Json(name::<wire::Deployment>)),
    op("GET", "/v2/models/{name}/stats", "inference", "Triton statistics extension: per version counts and cumulative times"),
    op("GET", "/v2/models/{name}/versions/{version}/stats", "inference", "Triton statistics extension for one version"),
    op("GET", "/metrics", "operations", "Prometheus metrics (OpenMetrics text): Hangar administrators and metrics tokens only, as they name every team's deployments").describe("The metrics cover every deployment of every team, so only a Hangar administrator or a metrics token (`POST /api/v1/tokens` with `{\"kind\": \"metrics\"}`, `hangar token create --metrics`) may read them; anyone else gets 403. A metrics token reads this route and nothing else: give it to a Prometheus scraper as its bearer token (`authorization: {type: Bearer, credentials_file: ...}` in the scrape config).").answers(200, Body::Media(&["application/openmetrics-text"])),
    op("GET", "/api/v1/openapi.json", "operations", "This document (OpenAPI 3.1)"),
    op("GET", "/api/v1/models/{model}/versions/{version}/baseline", "monitoring", "A version's baseline profile: features, bins, label rate and performance").answers(200, Body::Json(name::<wire::Baseline>)),
    op("PUT", "/api/v1/models/{model}/versions/{version}/baseline", "monitoring", "Upload a version's baseline (its training data as CSV with the version's feature names as columns; streamed, size-limited); profiled and kept").query(&[("label_column", "string", "The column holding the true label (enables baseline performance and CBPE)"), ("categorical", "string", "Comma-separated names of categorical features")]).takes(Body::Media(&["text/csv"])).answers(201, Body::Json(name::<wire::Baseline>)),
    op("GET", "/api/v1/models/{model}/versions/{version}/approvals", "governance", "Four-eyes decisions and signatures of a version, and whether it may receive production traffic").answers(200, Body::Json(name::<wire::Approvals>)),
    op("POST", "/api/v1/models/{model}/versions/{version}/approvals", "governance", "Approve or reject a version (its exact digest); the pusher may not decide").takes(Body::Json(name::<wire::NewDecision>)).answers(201, Body::Json(name::<wire::Decision>)),
    op("POST", "/api/v1/models/{model}/versions/{version}/signatures", "governance", "Attach an Ed25519 signature over the version's digest string (verified on receipt)").takes(Body::Json(name::<wire::NewSignature>)).answers(201, Body::Json(name::<wire::SignatureReceipt>)),
    op("POST", "/api/v1/deployments/{name}/feedback", "monitoring", "True outcomes by row id, or by request id and row; singly or in bulk (JSON or CSV, up to --max-feedback-bytes, 64 MiB by default)").describe("Applied in batches of 1000 lines, each in its own short transaction, so other changes (deploys, pushes, the prediction log) go on during a large upload; a CSV body is parsed as it arrives. A label must be one of the classes of the model version that made the prediction (the classes its file declares, else 0 to k-1 by its probabilities' width; any number for a regressor). A line with a row that is not a whole number from 0 to 4294967295, a label that is not a number or not one of the model's classes is rejected and reported by its line number (CSV, from 1 at the header) or index (JSON, from 0); the other lines are applied. When every line is rejected the answer is 400 with the same report.").takes(Body::Media(&["application/json", "text/csv"])).answers(200, Body::Json(name::<wire::FeedbackReceipt>)),
    op("GET", "/api/v1/deployments/{name}/monitoring", "monitoring", "Drift, performance, fairness and estimated performance over [from, to): exact from the raw rows up to 100000 rows, else from the aggregates").query(&[("from", "string", "RFC 3339 time or a date (default: 24 hours before to)"), ("to", "string", "RFC 3339 time or a date (default: now)"), ("version", "integer", "The version to report on (default: the one that answered most rows)")]).answers(200, Body::Json(name::<wire::MonitoringReport>)),
    op("GET", "/api/v1/deployments/{name}/predictions", "monitoring", "The prediction log of [from, to) as CSV, one line per prediction row (at most 5000000); `hangar export predictions -o FILE.parquet` converts it to Parquet").query(&[("from", "string", "RFC 3339 time or a date (default: 24 hours before to)"), ("to", "string", "RFC 3339 time or a date (default: now)")]).answers(200, Body::Media(&["text/csv"])),
    op("GET", "/api/v1/deployments/{name}/health", "alerts", "Health at a glance over the last hour: level and reasons in plain words, firing alerts")
    .answers(200, Body::Json(name::<wire::Health>)),
    op("GET", "/api/v1/alerts", "alerts", "Alerts pending, firing or just resolved, of the caller's teams' deployments")
    .answers(200, Body::Json(name::<wire::AlertList>)),
    op("GET", "/api/v1/alerts/events", "alerts", "Alert history, newest first").query(&[("deployment", "string", "Only this deployment"), ("limit", "integer", "Most events (default 200, at most 10000)")])
    .answers(200, Body::Json(name::<wire::AlertEventList>)),
    op("GET", "/api/v1/alerts/rules", "alerts", "Stored rules (of the caller's teams' deployments, and for every deployment) and the built-in defaults")
    .answers(200, Body::Json(name::<wire::AlertRuleList>)),
    op("POST", "/api/v1/alerts/rules", "alerts", "Create or replace a rule (by name and deployment); needs Deploy in the deployment's team, a rule for every deployment needs a Hangar administrator")
    .takes(Body::Json(name::<wire::NewAlertRule>))
    .answers(201, Body::Json(name::<wire::AlertRule>)),
    op("DELETE", "/api/v1/alerts/rules/{name}", "alerts", "Delete a rule").query(&[("deployment", "string", "The rule's deployment (default: *, every deployment)")]).answers(204, Body::Empty),
    op("POST", "/api/v1/alerts/ack", "alerts", "Acknowledge a firing alert (recorded in its history)")
    .takes(Body::Json(name::<wire::AckAlert>))
    .answers(200, Body::Json(name::<wire::Acknowledged>)),
    op("GET", "/api/v1/alerts/channels", "alerts", "Notification channels")
    .answers(200, Body::Json(name::<wire::ChannelList>)),
    op("PUT", "/api/v1/alerts/channels/{name}", "alerts", "Create or replace a notification channel: webhook (JSON), slack (Slack-compatible webhook) or email (SMTP)")
    .takes(Body::Json(name::<wire::NewChannel>))
    .answers(200, Body::Json(name::<wire::Channel>)),
    op("DELETE", "/api/v1/alerts/channels/{name}", "alerts", "Delete a notification channel").answers(204, Body::Empty),
    op("GET", "/api/v1/alerts/deliveries", "alerts", "The latest 500 notification attempts")
    .answers(200, Body::Json(name::<wire::DeliveryList>)),
    op("POST", "/api/v1/login", "governance", "Exchange a user name and password for an API token (what `hangar login` stores); 30 days unless expires says otherwise. Failed attempts back off per account and per address (429 with Retry-After)").takes(Body::Json(name::<wire::LoginRequest>)).answers(201, Body::Json(name::<wire::LoginToken>)),
    op("GET", "/api/v1/whoami", "governance", "The authenticated principal: name, kind, roles, and the token id").answers(200, Body::Json(name::<wire::Whoami>)),
    op("GET", "/api/v1/teams", "governance", "Teams (the caller's, or all for an administrator)").answers(200, Body::Json(name::<wire::TeamList>)),
    op("POST", "/api/v1/teams", "governance", "Create a team (Hangar administrators)").takes(Body::Json(name::<wire::NewTeam>)).answers(201, Body::Json(name::<wire::Team>)),
    op("GET", "/api/v1/users", "governance", "Users (Hangar administrators)").answers(200, Body::Json(name::<wire::UserList>)),
    op("POST", "/api/v1/users", "governance", "Create a user, optionally with a password and a role in a team (Hangar administrators)").takes(Body::Json(name::<wire::NewUser>)).answers(201, Body::Json(name::<wire::User>)),
    op("POST", "/api/v1/users/{user}/roles", "governance", "Give a user a role in a team (Hangar administrators)").takes(Body::Json(name::<wire::GrantRole>)).answers(200, Body::Json(name::<wire::User>)),
    op("GET", "/api/v1/tokens", "governance", "API tokens of the caller (or of another user, for an administrator), or the metrics tokens (administrators); secrets are never shown").query(&[("user", "string", "Another user (Hangar administrators)"), ("kind", "string", "api (default) or metrics: the metrics tokens (Hangar administrators)")]).answers(200, Body::Json(name::<wire::TokenList>)),
    op("POST", "/api/v1/tokens", "governance", "Create an API token for the caller (or another user, for an administrator), or a metrics token (administrators); the secret is shown once").takes(Body::Json(name::<wire::NewToken>)).answers(201, Body::Json(name::<wire::CreatedToken>)),
    op("DELETE", "/api/v1/tokens/{id}", "governance", "Revoke an API token (own, or any for an administrator); takes effect at once").answers(200, Body::Json(name::<wire::Token>)),
    op("GET", "/api/v1/consumer-keys", "governance", "Consumer keys of deployments the caller may deploy").answers(200, Body::Json(name::<wire::ConsumerKeyList>)),
    op("POST", "/api/v1/consumer-keys", "governance", "Issue a consumer key: may infer and send feedback on the named deployments only, with a declared purpose and a rate limit; the secret is shown once").takes(Body::Json(name::<wire::NewConsumerKey>)).answers(201, Body::Json(name::<wire::CreatedConsumerKey>)),
    op("DELETE", "/api/v1/consumer-keys/{id}", "governance", "Revoke a consumer key; takes effect at once").answers(200, Body::Json(name::<wire::Token>)),
    op("GET", "/api/v1/trusted-keys", "governance", "Signing keys trusted for require_signed deployments").answers(200, Body::Json(name::<wire::TrustedKeyList>)),
    op("POST", "/api/v1/trusted-keys", "governance", "Trust an Ed25519 public key (Hangar administrators)").takes(Body::Json(name::<wire::NewTrustedKey>)).answers(201, Body::Json(name::<wire::TrustedKey>)),
    op("GET", "/api/v1/audit", "governance", "The audit log: every change and denied requests (repeats from one address aggregated), newest first. Hangar administrators read every entry; team admins and approvers the entries of their teams").query(&[("actor", "string", "Only this actor"), ("object", "string", "Only this object (e.g. models/credit-risk)"), ("from", "string", "RFC 3339 time or a date"), ("to", "string", "RFC 3339 time or a date"), ("limit", "integer", "Most entries (default 200, at most 10000)")]).answers(200, Body::Json(name::<wire::AuditLog>)),
    op("GET", "/api/v1/audit/verify", "governance", "Verify the audit log's hash chain").answers(200, Body::Json(name::<wire::AuditVerification>)),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_permission_table_has_one_operation_and_no_other() {
        for rule in RULES
            .iter()
            .filter(|r| !matches!(r.path, "/login" | "/logout"))
        {
            let n = OPERATIONS
                .iter()
                .filter(|op| op.method == rule.method && op.path == rule.path)
                .count();
            assert_eq!(
                n, 1,
                "{} {} has {n} rows in OPERATIONS",
                rule.method, rule.path
            );
        }
        for op in OPERATIONS {
            assert!(
                RULES
                    .iter()
                    .any(|r| r.method == op.method && r.path == op.path),
                "OPERATIONS describes {} {}, which is not served",
                op.method,
                op.path
            );
        }
    }
}
