//! The alerting API: rules, live alerts and their history, acknowledgement,
//! notification channels and deliveries, and each deployment's health.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{TimeZone, Utc};
use hangar_core::alerts::{default_rules, AlertRule, AlertState, ANY_DEPLOYMENT};
use hangar_store::ChannelRecord;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Routes;
use crate::http::api::{actor, JsonBody};
use crate::http::api::{require, Caller};
use crate::http::error::{ApiError, ErrorCode};
use crate::state::AppState;
use hangar_core::governance::Action;

pub(crate) fn routes(r: Routes) -> Routes {
    r.add("GET", "/api/v1/alerts", list_alerts)
        .add("GET", "/api/v1/alerts/events", events)
        .add("GET", "/api/v1/alerts/rules", list_rules)
        .add("POST", "/api/v1/alerts/rules", put_rule)
        .add("DELETE", "/api/v1/alerts/rules/{name}", delete_rule)
        .add("POST", "/api/v1/alerts/ack", ack)
        .add("GET", "/api/v1/alerts/channels", list_channels)
        .add("PUT", "/api/v1/alerts/channels/{name}", put_channel)
        .add("DELETE", "/api/v1/alerts/channels/{name}", delete_channel)
        .add("GET", "/api/v1/alerts/deliveries", deliveries)
        .add("GET", "/api/v1/deployments/{name}/health", health)
}

fn rule_json(r: &AlertRule) -> Value {
    json!({
        "name": r.name,
        "deployment": r.deployment,
        "metric": r.metric.to_string(),
        "comparison": r.comparison.as_str(),
        "threshold": r.threshold,
        "window_secs": r.window_secs,
        "for_secs": r.for_secs,
        "severity": r.severity.as_str(),
        "guardrail": r.guardrail,
        "condition": r.condition(),
        "description": r.metric.describe(),
    })
}

fn ts(secs: u64) -> Value {
    Utc.timestamp_opt(secs as i64, 0)
        .single()
        .map_or(Value::Null, |t| json!(t))
}

fn state_json(rule: &str, deployment: &str, s: &AlertState, rules: &[AlertRule]) -> Value {
    let r = rules.iter().find(|r| r.name == rule);
    let mut v = json!({
        "rule": rule,
        "deployment": deployment,
        "state": s.name(),
        "severity": r.map(|r| r.severity.as_str()),
        "condition": r.map(AlertRule::condition),
    });
    match *s {
        AlertState::Inactive => {}
        AlertState::Pending { since, value } => {
            v["since"] = ts(since);
            v["value"] = json!(value);
        }
        AlertState::Firing { since, value, ack } => {
            v["since"] = ts(since);
            v["value"] = json!(value);
            v["acknowledged"] = json!(ack);
        }
        AlertState::Resolved { at, value } => {
            v["since"] = ts(at);
            v["value"] = json!(value);
        }
    }
    v
}

/// Alerts that are pending, firing or just resolved.
/// Which deployments the caller sees (alerts of others are left out).
async fn visible(state: &AppState, caller: &Caller) -> Result<Vec<String>, ApiError> {
    Ok(state
        .db
        .deployment_teams()
        .await?
        .into_iter()
        .filter(|(_, team)| caller.principal.sees(team))
        .map(|(name, _)| name)
        .collect())
}

/// Refuses unless the caller may manage alerts of `deployment` (`*`, every
/// deployment, is for Hangar administrators).
async fn manage(state: &AppState, caller: &Caller, deployment: &str) -> Result<(), ApiError> {
    if deployment == ANY_DEPLOYMENT {
        return if caller.principal.is_superuser() {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                "rules for every deployment are set by a Hangar administrator; name a deployment",
            ))
        };
    }
    match state.db.deployment_team(deployment).await? {
        Some(team) if caller.principal.sees(&team) => {
            require(caller, Action::Deploy, &team, "manage alerts")
        }
        _ => Err(ApiError::missing(hangar_store::Missing::Deployment(
            deployment.to_string(),
        ))),
    }
}

async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let mine = visible(&state, &caller).await?;
    let alerts: Vec<Value> = alerts_json(&state)
        .await?
        .into_iter()
        .filter(|a| mine.iter().any(|d| a["deployment"] == d.as_str()))
        .collect();
    Ok(Json(json!({ "alerts": alerts })))
}

/// Alerts that are pending, firing or just resolved, as JSON objects.
pub(crate) async fn alerts_json(state: &AppState) -> Result<Vec<Value>, ApiError> {
    let stored = state.db.list_rules().await?;
    let mut out = Vec::new();
    for ((rule, deployment), s) in state.alerting.snapshot() {
        if matches!(s, AlertState::Inactive) {
            continue;
        }
        let rules = crate::service::alerting::rules_for(&stored, &deployment);
        out.push(state_json(&rule, &deployment, &s, &rules));
    }
    Ok(out)
}

#[derive(Deserialize)]
struct EventsQuery {
    deployment: Option<String>,
    limit: Option<u32>,
}

async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let mine = visible(&state, &caller).await?;
    let events = state
        .db
        .alert_events(q.deployment.as_deref(), q.limit.unwrap_or(200).min(10_000))
        .await?;
    let out: Vec<_> = events
        .iter()
        .filter(|e| mine.contains(&e.deployment))
        .map(|e| json!({"id": e.id, "rule": e.rule, "deployment": e.deployment, "kind": e.kind, "severity": e.severity, "value": e.value, "message": e.message, "at": e.at}))
        .collect();
    Ok(Json(json!({ "events": out })))
}

async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let mine = visible(&state, &caller).await?;
    let rules: Vec<_> = state
        .db
        .list_rules()
        .await?
        .iter()
        .filter(|r| r.deployment == ANY_DEPLOYMENT || mine.contains(&r.deployment))
        .map(rule_json)
        .collect();
    let defaults: Vec<_> = default_rules().iter().map(rule_json).collect();
    Ok(Json(json!({ "rules": rules, "defaults": defaults })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleIn {
    name: String,
    #[serde(default)]
    deployment: Option<String>,
    metric: String,
    comparison: String,
    threshold: f64,
    #[serde(default)]
    window_secs: Option<u64>,
    #[serde(default)]
    for_secs: Option<u64>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    guardrail: bool,
}

async fn put_rule(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    JsonBody(body): JsonBody<RuleIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    manage(
        &state,
        &caller,
        body.deployment.as_deref().unwrap_or(ANY_DEPLOYMENT),
    )
    .await?;
    let bad = |e: hangar_core::alerts::AlertError| {
        ApiError::new(ErrorCode::InvalidAlertRule, e.to_string())
    };
    let rule = AlertRule {
        name: body.name,
        deployment: body
            .deployment
            .unwrap_or_else(|| ANY_DEPLOYMENT.to_string()),
        metric: body.metric.parse().map_err(bad)?,
        comparison: body.comparison.parse().map_err(bad)?,
        threshold: body.threshold,
        window_secs: body.window_secs.unwrap_or(3600),
        for_secs: body.for_secs.unwrap_or(0),
        severity: body
            .severity
            .as_deref()
            .unwrap_or("warning")
            .parse()
            .map_err(bad)?,
        guardrail: body.guardrail,
    };
    rule.validate().map_err(bad)?;
    state.db.put_rule(&rule, &actor(&headers)).await?;
    Ok((StatusCode::CREATED, Json(rule_json(&rule))))
}

#[derive(Deserialize)]
struct DeleteRuleQuery {
    deployment: Option<String>,
}

async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<DeleteRuleQuery>,
) -> Result<StatusCode, ApiError> {
    let deployment = q.deployment.as_deref().unwrap_or(ANY_DEPLOYMENT);
    let exists = state
        .db
        .list_rules()
        .await?
        .iter()
        .any(|r| r.name == name && r.deployment == deployment);
    if !exists {
        return Err(ApiError::missing(hangar_store::Missing::AlertRule {
            name,
            deployment: deployment.to_string(),
        }));
    }
    manage(&state, &caller, deployment).await?;
    state.db.delete_rule(&name, deployment).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AckIn {
    rule: String,
    deployment: String,
}

async fn ack(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    JsonBody(body): JsonBody<AckIn>,
) -> Result<Json<Value>, ApiError> {
    manage(&state, &caller, &body.deployment).await?;
    if !state.alerting.acknowledge(&body.rule, &body.deployment) {
        return Err(ApiError::new(
            ErrorCode::AlertNotFound,
            format!("no firing alert '{}' on '{}'", body.rule, body.deployment),
        ));
    }
    let who = actor(&headers);
    state
        .db
        .add_alert_event(&hangar_store::AlertEventRecord {
            id: 0,
            rule: body.rule.clone(),
            deployment: body.deployment.clone(),
            kind: "acknowledged".into(),
            severity: String::new(),
            value: None,
            message: format!("acknowledged by {who}"),
            at: Utc::now(),
        })
        .await?;
    Ok(Json(
        json!({ "rule": body.rule, "deployment": body.deployment, "acknowledged": true }),
    ))
}

/// A channel as the API shows it; `to` and `from` only for e-mail.
fn channel_json(c: &ChannelRecord) -> Value {
    let mut v = json!({"name": c.name, "kind": c.kind, "url": c.url});
    if let Some(from) = &c.email_from {
        v["to"] = json!(c.email_to);
        v["from"] = json!(from);
    }
    v
}

async fn list_channels(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let out: Vec<_> = state
        .db
        .list_channels()
        .await?
        .iter()
        .map(|c| {
            let mut v = channel_json(c);
            v["created_at"] = json!(c.created_at);
            v["created_by"] = json!(c.created_by);
            v
        })
        .collect();
    Ok(Json(json!({ "channels": out })))
}

/// `{"kind": "webhook"|"slack", "url": "http://..."}` or
/// `{"kind": "email", "url": "smtp://HOST:PORT", "to": [...], "from": "..."}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelIn {
    kind: String,
    url: String,
    #[serde(default)]
    to: Option<Vec<String>>,
    #[serde(default)]
    from: Option<String>,
}

async fn put_channel(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ChannelIn>,
) -> Result<Json<Value>, ApiError> {
    hangar_core::validate_name(hangar_core::NameKind::Alias, &name)?;
    let (email_to, email_from) = match body.kind.as_str() {
        "webhook" | "slack" => {
            if body.to.is_some() || body.from.is_some() {
                return Err(ApiError::new(
                    ErrorCode::InvalidChannel,
                    format!(
                        "\"to\" and \"from\" are for email channels, not {}",
                        body.kind
                    ),
                ));
            }
            if !body.url.starts_with("http://") || body.url.len() > 2048 {
                return Err(ApiError::new(ErrorCode::InvalidChannel,
                    "channel url must be an http:// URL (https needs the TLS build, not in this release)",
                ));
            }
            (Vec::new(), None)
        }
        "email" => {
            let target = crate::service::alerting::EmailTarget::parse(
                &body.url,
                body.to.as_deref().unwrap_or_default(),
                body.from.as_deref().unwrap_or_default(),
            )
            .map_err(|e| ApiError::new(ErrorCode::InvalidChannel, e))?;
            // Stored as parsed, so what is shown is what will be used.
            (
                target.to.iter().map(ToString::to_string).collect(),
                Some(target.from.to_string()),
            )
        }
        _ => return Err(ApiError::new(
            ErrorCode::InvalidChannel,
            "channel kind must be webhook (JSON), slack (Slack-compatible webhook) or email (SMTP)",
        )),
    };
    let c = ChannelRecord {
        name: name.clone(),
        kind: body.kind,
        url: body.url,
        email_to,
        email_from,
        created_at: Utc::now(),
        created_by: actor(&headers),
    };
    state.db.put_channel(&c).await?;
    Ok(Json(channel_json(&c)))
}

async fn delete_channel(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.db.delete_channel(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn deliveries(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let out: Vec<_> = state
        .db
        .deliveries(500)
        .await?
        .iter()
        .map(|d| json!({"event_id": d.event_id, "channel": d.channel, "attempt": d.attempt, "ok": d.ok, "detail": d.detail, "at": d.at}))
        .collect();
    Ok(Json(json!({ "deliveries": out })))
}

/// Health at a glance: level and reasons in plain words.
async fn health(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(health_json(
        &crate::service::health::of(&state, &name).await?,
    )))
}

/// A deployment's health as the API answers it.
pub(crate) fn health_json(h: &crate::service::health::DeploymentHealth) -> Value {
    json!({
        "deployment": h.deployment,
        "health": h.health.level.as_str(),
        "label": h.health.level.label(),
        "reasons": h.health.reasons,
        "firing": h.firing.iter().map(|f| json!({"rule": f.rule.name, "severity": f.rule.severity.as_str(), "value": f.value, "acknowledged": f.acknowledged})).collect::<Vec<_>>(),
    })
}
