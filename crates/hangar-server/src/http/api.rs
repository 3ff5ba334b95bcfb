//! The management API under `/api/v1/`: models, versions, aliases and
//! deployments. Wire types here are separate from the domain types and
//! converted explicitly.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use chrono::{DateTime, Utc};
use hangar_core::{
    validate_name, AliasEvent, ArtifactFormat, Deployment, DeploymentSettings, Model, ModelCard,
    ModelVersion, NameKind, Revision, RevisionKind, RiskTier, Route, Signature, TensorSpec,
    VersionRef,
};
use hangar_store::{AliasState, NewVersion, Staged};
use serde::{Deserialize, Serialize};

use crate::http::auth::Routes;
use crate::http::error::{ApiError, ErrorCode};
use crate::service::serving::runtime_error;
use crate::state::AppState;
use hangar_core::governance::Action;

pub(crate) fn routes(r: Routes) -> Routes {
    r.add("GET", "/api/v1/openapi.json", openapi)
        .add("GET", "/api/v1/models", list_models)
        .add("POST", "/api/v1/models", create_model)
        .add("GET", "/api/v1/models/{model}", get_model)
        .add("PATCH", "/api/v1/models/{model}", update_model)
        .add("GET", "/api/v1/models/{model}/versions", list_versions)
        .add_with(
            "POST",
            "/api/v1/models/{model}/versions",
            post(push_version).layer(DefaultBodyLimit::disable()),
        )
        .add(
            "GET",
            "/api/v1/models/{model}/versions/{version}",
            get_version,
        )
        .add(
            "GET",
            "/api/v1/models/{model}/versions/{version}/artifact",
            download_artifact,
        )
        .add("GET", "/api/v1/models/{model}/aliases", list_aliases)
        .add("GET", "/api/v1/models/{model}/aliases/{alias}", get_alias)
        .add("PUT", "/api/v1/models/{model}/aliases/{alias}", set_alias)
        .add(
            "DELETE",
            "/api/v1/models/{model}/aliases/{alias}",
            delete_alias,
        )
        .add(
            "GET",
            "/api/v1/models/{model}/aliases/{alias}/history",
            alias_history,
        )
        .add(
            "GET",
            "/api/v1/models/{model}/alias-history",
            model_alias_history,
        )
        .add("GET", "/api/v1/deployments", list_deployments)
        .add("GET", "/api/v1/deployments/{name}", get_deployment)
        .add("PUT", "/api/v1/deployments/{name}", put_deployment)
        .add("DELETE", "/api/v1/deployments/{name}", delete_deployment)
        .add(
            "GET",
            "/api/v1/deployments/{name}/revisions",
            list_revisions,
        )
        .add(
            "GET",
            "/api/v1/deployments/{name}/revisions/{revision}",
            get_revision,
        )
        .add("POST", "/api/v1/deployments/{name}/promote", promote)
        .add("POST", "/api/v1/deployments/{name}/rollback", rollback)
}

const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Who is making the change: the authenticated principal's name, set by
/// the permission layer (`auth::authorize`) in an internal header that a
/// client cannot supply.
pub(crate) fn actor(headers: &HeaderMap) -> String {
    headers
        .get(crate::http::auth::PRINCIPAL_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|s| {
            s.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "anonymous".to_string())
}

/// JSON body extraction with our error shape.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(ApiError::bad_request(format!(
                "invalid JSON body: {}",
                e.body_text()
            ))),
        }
    }
}

// ---- wire types -------------------------------------------------------------

#[derive(Serialize)]
struct ModelOut {
    name: String,
    description: String,
    owner_team: Option<String>,
    intended_use: Option<String>,
    out_of_scope_uses: Vec<String>,
    risk_tier: &'static str,
    tags: Vec<String>,
    latest_version: Option<u32>,
    aliases: BTreeMap<String, u32>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    created_by: String,
    /// After a move to another team: the deployments that moved with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    deployments_moved: Vec<String>,
}

fn model_out(m: Model, aliases: Vec<AliasState>) -> ModelOut {
    ModelOut {
        name: m.name,
        description: m.card.description,
        owner_team: m.card.owner_team,
        intended_use: m.card.intended_use,
        out_of_scope_uses: m.card.out_of_scope_uses,
        risk_tier: m.card.risk_tier.as_str(),
        tags: m.card.tags,
        latest_version: m.latest_version,
        aliases: aliases.into_iter().map(|a| (a.alias, a.version)).collect(),
        created_at: m.created_at,
        updated_at: m.updated_at,
        created_by: m.created_by,
        deployments_moved: Vec::new(),
    }
}

#[derive(Serialize)]
struct SpecOut {
    name: String,
    datatype: &'static str,
    shape: Vec<i64>,
}

#[derive(Serialize)]
struct SignatureOut {
    inputs: Vec<SpecOut>,
    outputs: Vec<SpecOut>,
}

fn signature_out(s: &Signature) -> SignatureOut {
    let conv = |v: &[TensorSpec]| {
        v.iter()
            .map(|t| SpecOut {
                name: t.name.clone(),
                datatype: t.datatype.as_str(),
                shape: t.shape.clone(),
            })
            .collect()
    };
    SignatureOut {
        inputs: conv(&s.inputs),
        outputs: conv(&s.outputs),
    }
}

#[derive(Serialize)]
struct VersionOut {
    model: String,
    version: u32,
    digest: String,
    size_bytes: u64,
    format: &'static str,
    signature: SignatureOut,
    feature_names: Option<Vec<String>>,
    description: String,
    source_commit: Option<String>,
    training_run: Option<String>,
    metrics: BTreeMap<String, f64>,
    metadata: BTreeMap<String, String>,
    created_at: DateTime<Utc>,
    created_by: String,
}

fn version_out(v: ModelVersion) -> VersionOut {
    VersionOut {
        signature: signature_out(&v.signature),
        model: v.model,
        version: v.version,
        digest: v.digest,
        size_bytes: v.size_bytes,
        format: v.format.as_str(),
        feature_names: v.feature_names,
        description: v.description,
        source_commit: v.source_commit,
        training_run: v.training_run,
        metrics: v.metrics,
        metadata: v.metadata,
        created_at: v.created_at,
        created_by: v.created_by,
    }
}

#[derive(Serialize)]
struct AliasEventOut {
    model: String,
    alias: String,
    from_version: Option<u32>,
    to_version: Option<u32>,
    actor: String,
    at: DateTime<Utc>,
}

fn event_out(e: AliasEvent) -> AliasEventOut {
    AliasEventOut {
        model: e.model,
        alias: e.alias,
        from_version: e.from_version,
        to_version: e.to_version,
        actor: e.actor,
        at: e.at,
    }
}

#[derive(Serialize)]
struct AliasOut {
    model: String,
    alias: String,
    version: Option<u32>,
    updated_at: Option<DateTime<Utc>>,
    updated_by: Option<String>,
    /// Set when the answer is for a point in time (`?at=`).
    at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct RouteOut {
    target: String,
    weight: u8,
    version: u32,
}

#[derive(Serialize)]
struct ShadowOut {
    target: String,
    version: u32,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GuardrailsWire {
    #[serde(default)]
    max_error_rate: Option<f64>,
    #[serde(default)]
    max_p99_ms: Option<f64>,
    #[serde(default)]
    window_secs: Option<u64>,
    #[serde(default)]
    min_requests: Option<u64>,
}

/// Deployment settings on the wire; in a request, absent fields keep their
/// current value.
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SettingsWire {
    #[serde(default)]
    max_batch_size: Option<u32>,
    #[serde(default)]
    max_queue_delay_us: Option<u64>,
    #[serde(default)]
    queue_capacity: Option<u32>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    max_concurrency: Option<u32>,
    #[serde(default)]
    guardrails: Option<GuardrailsWire>,
    /// Segment attributes recorded with each prediction (never fed to the model).
    #[serde(default)]
    segments: Option<Vec<String>>,
    /// The request field identifying a row, for feedback by row id.
    #[serde(default)]
    row_id: Option<String>,
    #[serde(default)]
    log_predictions: Option<bool>,
    /// Serve only versions signed by a trusted key.
    #[serde(default)]
    require_signed: Option<bool>,
}

fn settings_out(s: &DeploymentSettings) -> SettingsWire {
    SettingsWire {
        max_batch_size: Some(s.max_batch_size),
        max_queue_delay_us: Some(s.max_queue_delay_us),
        queue_capacity: Some(s.queue_capacity),
        timeout_ms: s.timeout_ms,
        max_concurrency: s.max_concurrency,
        guardrails: Some(GuardrailsWire {
            max_error_rate: s.guardrails.max_error_rate,
            max_p99_ms: s.guardrails.max_p99_ms,
            window_secs: Some(s.guardrails.window_secs),
            min_requests: Some(s.guardrails.min_requests),
        }),
        segments: Some(s.segments.clone()),
        row_id: s.row_id.clone(),
        log_predictions: Some(s.log_predictions),
        require_signed: Some(s.require_signed),
    }
}

impl SettingsWire {
    fn apply(self, mut s: DeploymentSettings) -> DeploymentSettings {
        if let Some(v) = self.max_batch_size {
            s.max_batch_size = v;
        }
        if let Some(v) = self.max_queue_delay_us {
            s.max_queue_delay_us = v;
        }
        if let Some(v) = self.queue_capacity {
            s.queue_capacity = v;
        }
        if self.timeout_ms.is_some() {
            s.timeout_ms = self.timeout_ms;
        }
        if self.max_concurrency.is_some() {
            s.max_concurrency = self.max_concurrency;
        }
        if let Some(segments) = self.segments {
            s.segments = segments;
        }
        if self.row_id.is_some() {
            s.row_id = self.row_id.filter(|r| !r.is_empty());
        }
        if let Some(log) = self.log_predictions {
            s.log_predictions = log;
        }
        if let Some(r) = self.require_signed {
            s.require_signed = r;
        }
        if let Some(g) = self.guardrails {
            if g.max_error_rate.is_some() {
                s.guardrails.max_error_rate = g.max_error_rate;
            }
            if g.max_p99_ms.is_some() {
                s.guardrails.max_p99_ms = g.max_p99_ms;
            }
            if let Some(w) = g.window_secs {
                s.guardrails.window_secs = w;
            }
            if let Some(m) = g.min_requests {
                s.guardrails.min_requests = m;
            }
        }
        s
    }
}

#[derive(Serialize)]
struct AgreementOut {
    compared_requests: u64,
    dropped_requests: u64,
    failed_requests: u64,
    label_rows: u64,
    same_label_rate: Option<f64>,
    score_values: u64,
    mean_abs_score_diff: Option<f64>,
}

#[derive(Serialize)]
struct RevisionOut {
    deployment: String,
    revision: u32,
    kind: &'static str,
    /// For a rollback: the revision returned to.
    rolled_back_to: Option<u32>,
    /// For a guardrail rollback: the revision whose canary was removed, and why.
    guardrail_from: Option<u32>,
    reason: Option<String>,
    /// For an alias move: the alias followed.
    alias: Option<String>,
    routes: Vec<RouteOut>,
    shadow: Option<ShadowOut>,
    settings: SettingsWire,
    message: String,
    actor: String,
    at: DateTime<Utc>,
    shadow_agreement: Option<AgreementOut>,
}

fn revision_out(state: &AppState, r: Revision) -> RevisionOut {
    let (rolled_back_to, guardrail_from, reason, alias) = match &r.kind {
        RevisionKind::Deploy | RevisionKind::Promote => (None, None, None, None),
        RevisionKind::Rollback { to } => (Some(*to), None, None, None),
        RevisionKind::Guardrail { from, reason } => (None, Some(*from), Some(reason.clone()), None),
        RevisionKind::AliasMoved { model, alias } => {
            (None, None, None, Some(format!("{model}@{alias}")))
        }
    };
    let shadow_agreement = r
        .table
        .shadow
        .as_ref()
        .and_then(|_| state.serving.agreement(&r.deployment, r.number))
        .map(|a| AgreementOut {
            compared_requests: a.compared_requests,
            dropped_requests: a.dropped_requests,
            failed_requests: a.failed_requests,
            label_rows: a.label_rows,
            same_label_rate: a.same_label_rate,
            score_values: a.score_values,
            mean_abs_score_diff: a.mean_abs_score_diff,
        });
    RevisionOut {
        kind: r.kind.name(),
        rolled_back_to,
        guardrail_from,
        reason,
        alias,
        routes: r
            .table
            .routes
            .iter()
            .map(|x| RouteOut {
                target: x.target.to_string(),
                weight: x.weight,
                version: x.version,
            })
            .collect(),
        shadow: r.table.shadow.as_ref().map(|s| ShadowOut {
            target: s.target.to_string(),
            version: s.version,
        }),
        settings: settings_out(&r.settings),
        shadow_agreement,
        deployment: r.deployment,
        revision: r.number,
        message: r.message,
        actor: r.actor,
        at: r.at,
    }
}

#[derive(Serialize)]
struct DeploymentOut {
    name: String,
    /// The primary route's model, target and version.
    model: String,
    target: String,
    version: u32,
    ready: bool,
    error: Option<String>,
    endpoint: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    updated_by: String,
    current: RevisionOut,
}

/// A deployment as it serves: the live revision when it is serving (a
/// revision being made live right now is reported once it answers), else
/// the stored one.
fn deployment_out(state: &AppState, mut d: Deployment) -> DeploymentOut {
    let live = state.serving.deployment(&d.name);
    let ready = live.is_some();
    if let Some(live) = live {
        d.current = live.revision.clone();
    }
    let primary = &d.current.table.routes[0];
    DeploymentOut {
        error: state.serving.failure(&d.name),
        endpoint: format!("/v2/models/{}/infer", d.name),
        model: primary.target.model.clone(),
        target: primary.target.to_string(),
        version: primary.version,
        ready,
        created_at: d.created_at,
        updated_at: d.current.at,
        updated_by: d.current.actor.clone(),
        current: revision_out(state, d.current),
        name: d.name,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateModel {
    name: String,
    #[serde(flatten)]
    card: CardPatch,
}

/// Fields of a model card; absent fields keep their value.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CardPatch {
    description: Option<String>,
    owner_team: Option<Option<String>>,
    intended_use: Option<Option<String>>,
    out_of_scope_uses: Option<Vec<String>>,
    risk_tier: Option<String>,
    tags: Option<Vec<String>>,
}

const MAX_TEXT: usize = 16 * 1024;

impl CardPatch {
    fn apply(self, mut card: ModelCard) -> Result<ModelCard, ApiError> {
        let long = |s: &str| s.len() > MAX_TEXT;
        if let Some(d) = self.description {
            card.description = d;
        }
        if let Some(t) = self.owner_team {
            card.owner_team = t;
        }
        if let Some(u) = self.intended_use {
            card.intended_use = u;
        }
        if let Some(o) = self.out_of_scope_uses {
            card.out_of_scope_uses = o;
        }
        if let Some(r) = self.risk_tier {
            card.risk_tier = r
                .parse::<RiskTier>()
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
        if let Some(t) = self.tags {
            card.tags = t;
        }
        let texts = [
            Some(&card.description),
            card.owner_team.as_ref(),
            card.intended_use.as_ref(),
        ];
        if texts.into_iter().flatten().any(|s| long(s))
            || card
                .out_of_scope_uses
                .iter()
                .chain(&card.tags)
                .any(|s| long(s))
            || card.out_of_scope_uses.len() + card.tags.len() > 256
        {
            return Err(ApiError::bad_request(format!(
                "model card fields are limited to {MAX_TEXT} bytes each and 256 list entries"
            )));
        }
        Ok(card)
    }
}

// ---- models ------------------------------------------------------------------

/// The caller, as the permission layer authenticated it.
pub(crate) type Caller = axum::Extension<crate::http::auth::Authenticated>;

fn team_of(card: &ModelCard) -> &str {
    card.owner_team
        .as_deref()
        .unwrap_or(hangar_core::governance::DEFAULT_TEAM)
}

/// Refuses unless the caller may do `action` in `team`.
pub(crate) fn require(
    caller: &Caller,
    action: Action,
    team: &str,
    what: &str,
) -> Result<(), ApiError> {
    if caller.principal.can(action, team) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("{} may not {what} in team '{team}'", caller.principal.name),
        ))
    }
}

async fn list_models(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut out = Vec::new();
    for m in state.db.list_models().await? {
        if !caller.principal.sees(team_of(&m.card)) {
            continue;
        }
        let aliases = state.db.list_aliases(&m.name).await?;
        out.push(model_out(m, aliases));
    }
    Ok(Json(serde_json::json!({ "models": out })))
}

async fn create_model(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    JsonBody(body): JsonBody<CreateModel>,
) -> Result<(StatusCode, Json<ModelOut>), ApiError> {
    validate_name(NameKind::Model, &body.name)?;
    let card = new_card(&state, &caller, body.card).await?;
    let m = state
        .db
        .create_model(&body.name, &card, &actor(&headers))
        .await?;
    Ok((StatusCode::CREATED, Json(model_out(m, Vec::new()))))
}

/// The card of a model about to be created, checked: without a team, a
/// model belongs to the creator's only team where they may push (or the
/// default team); the team must exist and the creator may push there.
async fn new_card(
    state: &AppState,
    caller: &Caller,
    patch: CardPatch,
) -> Result<ModelCard, ApiError> {
    let mut card = patch.apply(ModelCard::default())?;
    if card.owner_team.is_none() {
        let mut teams: Vec<&str> = caller
            .principal
            .memberships()
            .iter()
            .filter(|(t, _)| caller.principal.can(Action::Push, t))
            .map(|(t, _)| t.as_str())
            .collect();
        teams.dedup();
        if let [only] = teams.as_slice() {
            card.owner_team = Some(only.to_string());
        }
    }
    check_team(state, caller, team_of(&card)).await?;
    Ok(card)
}

async fn get_model(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> Result<Json<ModelOut>, ApiError> {
    let m = state.db.get_model(&model).await?;
    let aliases = state.db.list_aliases(&model).await?;
    Ok(Json(model_out(m, aliases)))
}

/// A model may only be put in a team that exists and where the caller may push.
async fn check_team(state: &AppState, caller: &Caller, team: &str) -> Result<(), ApiError> {
    if !state.db.team_exists(team).await? {
        return Err(ApiError::not_found(format!(
            "team '{team}' not found; an administrator creates it with `hangar team create {team}`"
        )));
    }
    require(caller, Action::Push, team, "push models")
}

async fn update_model(
    State(state): State<AppState>,
    Path(model): Path<String>,
    headers: HeaderMap,
    caller: Caller,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    JsonBody(patch): JsonBody<CardPatch>,
) -> Result<Json<ModelOut>, ApiError> {
    // What is deployed must not change between the checks and the write.
    let _hold = state.serving.hold_changes().await;
    let current = state.db.get_model(&model).await?;
    let old_team = team_of(&current.card).to_string();
    let was_high = current.card.risk_tier == RiskTier::High;
    let card = patch.apply(current.card)?;
    let new_team = team_of(&card).to_string();
    let mut moving = Vec::new();
    if new_team != old_team {
        check_team(&state, &caller, &new_team).await?;
        moving = deployments_of(&state, &model, &old_team).await?;
        if !moving.is_empty() {
            for team in [&old_team, &new_team] {
                if !caller.principal.can(Action::Deploy, team) {
                    return Err(ApiError::new(
                        ErrorCode::Forbidden,
                        format!(
                            "moving {model} to team '{new_team}' moves its deployments ({}) with it, which needs \
                             the deploy permission in team '{old_team}' and in team '{new_team}'; {} has none in team '{team}'",
                            moving.join(", "),
                            caller.principal.name
                        ),
                    ));
                }
            }
        }
    }
    if card.risk_tier == RiskTier::High && !was_high {
        crate::service::governance::raise_to_high_check(&state.db, &model).await?;
    }
    let m = state.db.update_card_moving(&model, &card, &moving).await?;
    state.auth.forget_team(true, &model);
    for d in &moving {
        state.auth.forget_team(false, d);
        tracing::info!(deployment = %d, model = %model, from = %old_team, to = %new_team, "deployment moved to another team with its model");
        crate::http::auth::append(
            &state,
            hangar_store::NewAuditEntry {
                actor: actor(&headers),
                address: peer
                    .as_ref()
                    .map(|p| p.0 .0.ip().to_string())
                    .unwrap_or_else(|| "local".into()),
                action: "PATCH /api/v1/models/{model}".into(),
                object: format!("deployments/{d}"),
                outcome: "ok".into(),
                detail: serde_json::json!({
                    "moved": {"from_team": old_team, "to_team": new_team, "with_model": model}
                })
                .to_string(),
                // Both teams' admins and approvers see the move.
                teams: vec![old_team.clone(), new_team.clone()],
            },
        )
        .await;
    }
    let aliases = state.db.list_aliases(&model).await?;
    let mut out = model_out(m, aliases);
    out.deployments_moved = moving;
    Ok(Json(out))
}

/// A model's deployments: those of its team whose every route and shadow
/// serve it. They follow the model to another team. A deployment of its
/// team that also serves other models cannot follow it, so the move is
/// refused, naming it.
async fn deployments_of(
    state: &AppState,
    model: &str,
    team: &str,
) -> Result<Vec<String>, ApiError> {
    let teams = state.db.deployment_teams().await?;
    let mut own = Vec::new();
    let mut mixed = Vec::new();
    for d in state.db.list_deployments().await? {
        if teams.get(&d.name).map(String::as_str) != Some(team) {
            continue;
        }
        let t = &d.current.table;
        let models: std::collections::BTreeSet<&str> = t
            .routes
            .iter()
            .map(|r| r.target.model.as_str())
            .chain(t.shadow.iter().map(|s| s.target.model.as_str()))
            .collect();
        if !models.contains(model) {
            continue;
        }
        if models.len() == 1 {
            own.push(d.name.clone());
        } else {
            let others: Vec<&str> = models.into_iter().filter(|m| *m != model).collect();
            mixed.push(format!("{} (also serves {})", d.name, others.join(", ")));
        }
    }
    if !mixed.is_empty() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "{model} cannot move to another team: its deployments move with it, but {} of team '{team}' \
                 also serve other models; deploy {model} or the others alone there first",
                mixed.join(", ")
            ),
        ));
    }
    Ok(own)
}

// ---- versions ----------------------------------------------------------------

/// The `metadata` part of an upload.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VersionMeta {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub features: Option<Vec<String>>,
    #[serde(default)]
    pub source_commit: Option<String>,
    #[serde(default)]
    pub training_run: Option<String>,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

async fn list_versions(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let versions: Vec<_> = state
        .db
        .list_versions(&model)
        .await?
        .into_iter()
        .map(version_out)
        .collect();
    Ok(Json(serde_json::json!({ "versions": versions })))
}

pub(crate) fn version_number(raw: &str) -> Result<u32, ApiError> {
    raw.parse::<u32>().ok().filter(|&v| v > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid version {:?}: versions are numbers 1, 2, 3…",
            raw.chars().take(32).collect::<String>()
        ))
    })
}

async fn get_version(
    State(state): State<AppState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<VersionOut>, ApiError> {
    Ok(Json(version_out(
        state
            .db
            .get_version(&model, version_number(&version)?)
            .await?,
    )))
}

async fn download_artifact(
    State(state): State<AppState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let v = state
        .db
        .get_version(&model, version_number(&version)?)
        .await?;
    let bytes = state.artifacts.read_verified(&v.digest).await?;
    let mut response = Response::new(Body::from(bytes));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(d) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}-{}.{}\"",
        v.model,
        v.version,
        v.format.as_str()
    )) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    if let Ok(d) = HeaderValue::from_str(&v.digest) {
        h.insert("x-hangar-digest", d);
    }
    Ok(response)
}

/// Registers a staged upload: checks that it runs, reads its signature,
/// moves the file into the store and records the new version; a refused
/// upload is dropped with its file. With `create`, a model that does not
/// exist yet is created with that card together with its first version,
/// and only if that version is accepted. Says whether the model was
/// created.
///
/// Feature names come from `meta`, else from the model file, else from the
/// model's latest version when its inputs are exactly the new version's.
pub async fn register_version(
    state: &AppState,
    model: &str,
    create: Option<&ModelCard>,
    staged: Staged,
    head: &[u8],
    meta: VersionMeta,
    actor: &str,
) -> Result<(ModelVersion, bool), ApiError> {
    let format = ArtifactFormat::sniff(head).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnsupportedModel,
            "unrecognised artifact format: Hangar serves ONNX files (.onnx) in this release",
        )
    })?;
    let bytes = staged.read_verified().await?;
    if let Some(check) = &state.model_check {
        crate::model_check::check(check, &bytes)
            .await
            .map_err(|e| match e {
                crate::model_check::CheckError::Unavailable(_) => ApiError::internal(e),
                refused => ApiError::new(ErrorCode::UnsupportedModel, refused.to_string()),
            })?;
    }
    let runtime = state.serving.runtime().clone();
    let loaded = tokio::task::spawn_blocking(move || runtime.load(&bytes))
        .await
        .map_err(ApiError::internal)?
        .map_err(runtime_error)?;
    let mut feature_names = meta.features.or_else(|| loaded.declared_feature_names());
    if feature_names.is_none() {
        feature_names = inherited_features(state, model, loaded.signature()).await?;
    }
    if let Some(names) = &feature_names {
        let spec = hangar_core::features::tabular_input(loaded.signature())
            .map_err(|e| ApiError::bad_request(format!("feature names given, but {e}")))?;
        if spec.shape[1] >= 0 && spec.shape[1] as usize != names.len() {
            return Err(ApiError::bad_request(format!(
                "{} feature names given but the model's input '{}' has {} columns",
                names.len(),
                spec.name,
                spec.shape[1]
            )));
        }
        if let Some(dup) = names
            .iter()
            .enumerate()
            .find(|(i, n)| names[..*i].contains(n))
        {
            return Err(ApiError::bad_request(format!(
                "feature name '{}' given twice",
                dup.1
            )));
        }
    }
    // The file goes into the store, then the row that names it; if the
    // row cannot be written (a full disk), the file is taken back out.
    Ok(staged
        .commit_with(|artifact| async move {
            let new = NewVersion {
                artifact,
                format,
                signature: loaded.signature().clone(),
                feature_names,
                description: meta.description,
                source_commit: meta.source_commit,
                training_run: meta.training_run,
                metrics: meta.metrics,
                metadata: meta.metadata,
            };
            state
                .db
                .add_version_creating(model, create, &new, actor)
                .await
        })
        .await?)
}

/// The feature names of the model's latest version, when its inputs are
/// exactly `signature`'s (same names, datatypes and shapes).
async fn inherited_features(
    state: &AppState,
    model: &str,
    signature: &Signature,
) -> Result<Option<Vec<String>>, ApiError> {
    let latest = match state.db.get_model(model).await {
        Ok(m) => m.latest_version,
        Err(hangar_store::StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let Some(latest) = latest else {
        return Ok(None);
    };
    let previous = state.db.get_version(model, latest).await?;
    Ok(previous
        .feature_names
        .filter(|_| previous.signature.inputs == signature.inputs))
}

/// `POST /api/v1/models/{model}/versions?create=true[&owner_team=T]`: push
/// the first version of a model that does not exist yet.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PushQuery {
    #[serde(default)]
    create: bool,
    owner_team: Option<String>,
}

async fn push_version(
    State(state): State<AppState>,
    Path(model): Path<String>,
    Query(query): Query<PushQuery>,
    headers: HeaderMap,
    caller: Caller,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    // Fail fast, before streaming a large file, when the model is unknown
    // (and not to be created) or may not be created.
    let create = match state.db.get_model(&model).await {
        // (The permission layer checked the model's team, unless the model
        // appeared since; then it is checked here.)
        Ok(m) => {
            require(&caller, Action::Push, team_of(&m.card), "push versions")?;
            None
        }
        Err(hangar_store::StoreError::NotFound(_)) if query.create => {
            validate_name(NameKind::Model, &model)?;
            let patch = CardPatch {
                owner_team: query.owner_team.map(Some),
                ..CardPatch::default()
            };
            Some(new_card(&state, &caller, patch).await?)
        }
        Err(e) => return Err(e.into()),
    };
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(format!("invalid multipart upload: {}", e.body_text()))
    };
    let mut artifact = None;
    let mut meta = VersionMeta::default();
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        match field.name() {
            Some("artifact") => {
                let mut upload = state.artifacts.begin(state.limits.max_upload_bytes).await?;
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    upload.write(&chunk).await?;
                }
                if upload.size() == 0 {
                    return Err(ApiError::bad_request("the artifact part is empty"));
                }
                let head = upload.head().to_vec();
                artifact = Some((upload.finish().await?, head));
            }
            Some("metadata") => {
                let mut raw = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    raw.extend_from_slice(&chunk);
                    if raw.len() > 1024 * 1024 {
                        return Err(ApiError::new(ErrorCode::PayloadTooLarge, "the metadata part is limited to 1 MiB"));
                    }
                }
                meta = serde_json::from_slice(&raw)
                    .map_err(|e| ApiError::bad_request(format!("invalid metadata JSON: {e}")))?;
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unexpected multipart field {:?}: send 'artifact' (the model file) and optionally 'metadata' (JSON)",
                    other.unwrap_or("")
                )))
            }
        }
    }
    let (artifact, head) = artifact.ok_or_else(|| {
        ApiError::bad_request("missing multipart field 'artifact' (the model file)")
    })?;
    let (v, created) = register_version(
        &state,
        &model,
        create.as_ref(),
        artifact,
        &head,
        meta,
        &actor(&headers),
    )
    .await?;
    tracing::info!(model = %v.model, version = v.version, digest = %v.digest, created_model = created, "version pushed");
    let mut out = serde_json::to_value(version_out(v)).map_err(ApiError::internal)?;
    if let (true, Some(card), Some(map)) = (created, &create, out.as_object_mut()) {
        map.insert(
            "created_model".into(),
            serde_json::json!({ "name": model, "owner_team": card.owner_team }),
        );
    }
    Ok((StatusCode::CREATED, Json(out)))
}

// ---- aliases -----------------------------------------------------------------

async fn list_aliases(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let aliases: Vec<_> = state
        .db
        .list_aliases(&model)
        .await?
        .into_iter()
        .map(|a| AliasOut {
            model: model.clone(),
            alias: a.alias,
            version: Some(a.version),
            updated_at: Some(a.updated_at),
            updated_by: Some(a.updated_by),
            at: None,
        })
        .collect();
    Ok(Json(serde_json::json!({ "aliases": aliases })))
}

#[derive(Deserialize)]
struct AtQuery {
    at: Option<String>,
}

pub(crate) fn parse_time(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    // A bare date means the end of that day (UTC): "on 3 March".
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid time {raw:?}: use RFC 3339 (2026-03-03T12:00:00Z) or a date (2026-03-03)"
            ))
        })
}

async fn get_alias(
    State(state): State<AppState>,
    Path((model, alias)): Path<(String, String)>,
    Query(q): Query<AtQuery>,
) -> Result<Json<AliasOut>, ApiError> {
    match q.at {
        Some(raw) => {
            let at = parse_time(&raw)?;
            let version = state.db.alias_at(&model, &alias, at).await?;
            Ok(Json(AliasOut {
                model,
                alias,
                version,
                updated_at: None,
                updated_by: None,
                at: Some(at),
            }))
        }
        None => {
            let a = state.db.get_alias(&model, &alias).await?;
            Ok(Json(AliasOut {
                model,
                alias: a.alias,
                version: Some(a.version),
                updated_at: Some(a.updated_at),
                updated_by: Some(a.updated_by),
                at: None,
            }))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetAlias {
    version: u32,
}

async fn set_alias(
    State(state): State<AppState>,
    Path((model, alias)): Path<(String, String)>,
    headers: HeaderMap,
    caller: Caller,
    JsonBody(body): JsonBody<SetAlias>,
) -> Result<Json<AliasEventOut>, ApiError> {
    validate_name(NameKind::Alias, &alias)?;
    let who = actor(&headers);
    let team = state
        .db
        .model_team(&model)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("model '{model}' not found")))?;
    let event = {
        // No deployment or risk tier changes between the check and the move.
        let _hold = state.serving.hold_changes().await;
        let live = alias == "production" || state.serving.alias_is_live(&model, &alias).await?;
        if live {
            // Moving an alias that production traffic follows is a deployment.
            require(
                &caller,
                Action::Deploy,
                &team,
                &format!("move the '{alias}' alias (production traffic follows it)"),
            )?;
            crate::service::governance::production_check(&state.db, &model, body.version).await?;
        }
        state
            .db
            .set_alias(&model, &alias, body.version, &who)
            .await?
    };
    state.serving.alias_moved(&model, &alias, &who).await?;
    Ok(Json(event_out(event)))
}

async fn delete_alias(
    State(state): State<AppState>,
    Path((model, alias)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<AliasEventOut>, ApiError> {
    let event = state
        .db
        .delete_alias(&model, &alias, &actor(&headers))
        .await?;
    Ok(Json(event_out(event)))
}

async fn alias_history(
    State(state): State<AppState>,
    Path((model, alias)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let events: Vec<_> = state
        .db
        .alias_history(&model, Some(&alias))
        .await?
        .into_iter()
        .map(event_out)
        .collect();
    Ok(Json(serde_json::json!({ "history": events })))
}

async fn model_alias_history(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let events: Vec<_> = state
        .db
        .alias_history(&model, None)
        .await?
        .into_iter()
        .map(event_out)
        .collect();
    Ok(Json(serde_json::json!({ "history": events })))
}

// ---- deployments ---------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteIn {
    /// `model:VERSION` or `model@ALIAS`.
    model: String,
    weight: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutDeployment {
    /// The primary: `model:VERSION` or `model@ALIAS` (or give `routes`).
    #[serde(default)]
    model: Option<String>,
    /// With `model`: a canary taking `weight` percent.
    #[serde(default)]
    canary: Option<RouteIn>,
    /// The full table, weights summing to 100.
    #[serde(default)]
    routes: Option<Vec<RouteIn>>,
    /// A version or alias that gets a copy of every request.
    #[serde(default)]
    shadow: Option<String>,
    #[serde(default)]
    settings: Option<SettingsWire>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RevisionAction {
    #[serde(default)]
    to: Option<u32>,
    #[serde(default)]
    message: Option<String>,
}

fn version_ref(raw: &str) -> Result<VersionRef, ApiError> {
    raw.parse()
        .map_err(|e: hangar_core::model::VersionRefError| ApiError::bad_request(e.to_string()))
}

fn message_of(m: Option<String>) -> Result<String, ApiError> {
    let m = m.unwrap_or_default();
    if m.len() > 4096 {
        return Err(ApiError::bad_request("message is limited to 4096 bytes"));
    }
    Ok(m)
}

async fn list_deployments(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let teams = state.db.deployment_teams().await?;
    let mut out = Vec::new();
    for d in state.db.list_deployments().await? {
        if teams.get(&d.name).is_some_and(|t| caller.principal.sees(t)) {
            out.push(deployment_out(&state, d));
        }
    }
    Ok(Json(serde_json::json!({ "deployments": out })))
}

async fn get_deployment(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<DeploymentOut>, ApiError> {
    let d = state.db.get_deployment(&name).await?;
    Ok(Json(deployment_out(&state, d)))
}

async fn put_deployment(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    caller: Caller,
    JsonBody(body): JsonBody<PutDeployment>,
) -> Result<Json<DeploymentOut>, ApiError> {
    validate_name(NameKind::Deployment, &name)?;
    // The permission checks and the settings merge see the deployment as
    // the change will replace it: two changes at once cannot lose one's
    // settings, nor pass a check against a state that is already gone.
    let held = state.serving.hold_changes().await;
    if let Some(team) = state.db.deployment_team(&name).await? {
        if !caller.principal.sees(&team) {
            return Err(ApiError::not_found(format!(
                "deployment '{name}' not found"
            )));
        }
        require(&caller, Action::Deploy, &team, "deploy")?;
    }
    let targets: Vec<String> = body
        .model
        .iter()
        .chain(body.canary.iter().map(|c| &c.model))
        .chain(body.routes.iter().flatten().map(|r| &r.model))
        .chain(body.shadow.iter())
        .map(|t| t.split([':', '@']).next().unwrap_or_default().to_string())
        .collect();
    for model in &targets {
        match state.db.model_team(model).await? {
            Some(team) if caller.principal.sees(&team) => require(
                &caller,
                Action::Deploy,
                &team,
                &format!("deploy model '{model}'"),
            )?,
            Some(_) => return Err(ApiError::not_found(format!("model '{model}' not found"))),
            // A missing model: resolving the routes answers 404.
            None => {}
        }
    }
    let routes = match (body.model, body.canary, body.routes) {
        (Some(primary), canary, None) => {
            let canary = canary.map(|c| Ok::<_, ApiError>((version_ref(&c.model)?, c.weight))).transpose()?;
            hangar_core::routing::with_canary(version_ref(&primary)?, canary)
                .map_err(|e| ApiError::bad_request(e.to_string()))?
        }
        (None, None, Some(routes)) => routes
            .into_iter()
            .map(|r| Ok(Route { target: version_ref(&r.model)?, weight: r.weight }))
            .collect::<Result<Vec<_>, ApiError>>()?,
        (None, Some(_), _) => return Err(ApiError::bad_request("\"canary\" needs \"model\" (the primary)")),
        (Some(_), _, Some(_)) => return Err(ApiError::bad_request("give either \"model\" (with an optional \"canary\") or \"routes\", not both")),
        (None, None, None) => {
            return Err(ApiError::bad_request("missing \"model\" (e.g. \"credit-risk:3\" or \"credit-risk@production\") or \"routes\""))
        }
    };
    let shadow = body.shadow.as_deref().map(version_ref).transpose()?;
    let settings = match body.settings {
        Some(patch) => Some(patch.apply(state.serving.settings_held(&held, &name).await?)),
        None => None,
    };
    let message = message_of(body.message)?;
    state
        .serving
        .apply_held(
            &held,
            &name,
            routes,
            shadow,
            settings,
            &message,
            &actor(&headers),
        )
        .await?;
    drop(held);
    Ok(Json(deployment_out(
        &state,
        state.db.get_deployment(&name).await?,
    )))
}

async fn delete_deployment(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.serving.remove(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_revisions(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let out: Vec<_> = state
        .db
        .list_revisions(&name)
        .await?
        .into_iter()
        .map(|r| revision_out(&state, r))
        .collect();
    Ok(Json(serde_json::json!({ "revisions": out })))
}

async fn get_revision(
    State(state): State<AppState>,
    Path((name, revision)): Path<(String, String)>,
) -> Result<Json<RevisionOut>, ApiError> {
    let n = revision
        .parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| ApiError::bad_request("revisions are numbers 1, 2, 3…"))?;
    Ok(Json(revision_out(
        &state,
        state.db.get_revision(&name, n).await?,
    )))
}

/// An optional JSON body (empty means defaults).
fn optional_body<T: serde::de::DeserializeOwned + Default>(raw: &[u8]) -> Result<T, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

async fn promote(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<DeploymentOut>, ApiError> {
    let action: RevisionAction = optional_body(&body)?;
    if action.to.is_some() {
        return Err(ApiError::bad_request("promote takes no \"to\""));
    }
    state
        .serving
        .promote(&name, &message_of(action.message)?, &actor(&headers))
        .await?;
    Ok(Json(deployment_out(
        &state,
        state.db.get_deployment(&name).await?,
    )))
}

async fn rollback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<DeploymentOut>, ApiError> {
    let action: RevisionAction = optional_body(&body)?;
    state
        .serving
        .rollback(
            &name,
            action.to,
            &message_of(action.message)?,
            &actor(&headers),
        )
        .await?;
    Ok(Json(deployment_out(
        &state,
        state.db.get_deployment(&name).await?,
    )))
}
