//! The alerting API: rules, live alerts and their history, acknowledgement,
//! notification channels and deliveries, and each deployment's health.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{TimeZone, Utc};
use hangar_api as wire;
use hangar_core::alerts::{default_rules, AlertRule, AlertState, ANY_DEPLOYMENT};
use hangar_store::ChannelRecord;
use serde::Deserialize;

use crate::auth::Routes;
use crate::http::api::JsonBody;
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

fn rule_out(r: &AlertRule) -> wire::AlertRule {
    wire::AlertRule {
        name: r.name.clone(),
        deployment: r.deployment.clone(),
        metric: r.metric.to_string(),
        comparison: r.comparison.as_str().to_owned(),
        threshold: r.threshold,
        window_secs: r.window_secs,
        for_secs: r.for_secs,
        severity: r.severity.as_str().to_owned(),
        guardrail: r.guardrail,
        condition: r.condition(),
        description: r.metric.describe().to_string(),
    }
}

/// A time in seconds; `None` (sent as `null`) when out of range.
fn ts(secs: u64) -> Option<chrono::DateTime<Utc>> {
    Utc.timestamp_opt(secs as i64, 0).single()
}

fn state_out(rule: &str, deployment: &str, s: &AlertState, rules: &[AlertRule]) -> wire::Alert {
    let r = rules.iter().find(|r| r.name == rule);
    let (since, value, acknowledged) = match *s {
        AlertState::Inactive => (None, None, None),
        AlertState::Pending { since, value } => (Some(ts(since)), Some(value), None),
        AlertState::Firing { since, value, ack } => (Some(ts(since)), Some(value), Some(ack)),
        AlertState::Resolved { at, value } => (Some(ts(at)), Some(value), None),
    };
    wire::Alert {
        rule: rule.to_owned(),
        deployment: deployment.to_owned(),
        state: s.name().to_owned(),
        severity: r.map(|r| r.severity.as_str().to_owned()),
        condition: r.map(AlertRule::condition),
        since,
        value,
        acknowledged,
    }
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
) -> Result<Json<wire::AlertList>, ApiError> {
    let mine = visible(&state, &caller).await?;
    let alerts = alerts(&state)
        .await?
        .into_iter()
        .filter(|a| mine.contains(&a.deployment))
        .collect();
    Ok(Json(wire::AlertList { alerts }))
}

/// Alerts that are pending, firing or just resolved.
pub(crate) async fn alerts(state: &AppState) -> Result<Vec<wire::Alert>, ApiError> {
    let stored = state.db.list_rules().await?;
    let mut out = Vec::new();
    for ((rule, deployment), s) in state.alerting.snapshot() {
        if matches!(s, AlertState::Inactive) {
            continue;
        }
        let rules = crate::service::alerting::rules_for(&stored, &deployment);
        out.push(state_out(&rule, &deployment, &s, &rules));
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
) -> Result<Json<wire::AlertEventList>, ApiError> {
    let mine = visible(&state, &caller).await?;
    let events = state
        .db
        .alert_events(q.deployment.as_deref(), q.limit.unwrap_or(200).min(10_000))
        .await?;
    let events = events
        .into_iter()
        .filter(|e| mine.contains(&e.deployment))
        .map(|e| wire::AlertEvent {
            id: e.id,
            rule: e.rule,
            deployment: e.deployment,
            kind: e.kind,
            severity: e.severity,
            value: e.value,
            message: e.message,
            at: e.at,
        })
        .collect();
    Ok(Json(wire::AlertEventList { events }))
}

async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<wire::AlertRuleList>, ApiError> {
    let mine = visible(&state, &caller).await?;
    let rules = state
        .db
        .list_rules()
        .await?
        .iter()
        .filter(|r| r.deployment == ANY_DEPLOYMENT || mine.contains(&r.deployment))
        .map(rule_out)
        .collect();
    let defaults = default_rules().iter().map(rule_out).collect();
    Ok(Json(wire::AlertRuleList { rules, defaults }))
}

async fn put_rule(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<wire::NewAlertRule>,
) -> Result<(StatusCode, Json<wire::AlertRule>), ApiError> {
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
    state.db.put_rule(&rule, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(rule_out(&rule))))
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

async fn ack(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<wire::AckAlert>,
) -> Result<Json<wire::Acknowledged>, ApiError> {
    manage(&state, &caller, &body.deployment).await?;
    if !state.alerting.acknowledge(&body.rule, &body.deployment) {
        return Err(ApiError::new(
            ErrorCode::AlertNotFound,
            format!("no firing alert '{}' on '{}'", body.rule, body.deployment),
        ));
    }
    let who = caller.actor();
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
    Ok(Json(wire::Acknowledged {
        rule: body.rule,
        deployment: body.deployment,
        acknowledged: true,
    }))
}

/// A channel as the API shows it; `to` and `from` only for e-mail.
fn channel_out(c: &ChannelRecord) -> wire::Channel {
    let email = c.email_from.is_some();
    wire::Channel {
        name: c.name.clone(),
        kind: c.kind.clone(),
        url: c.url.clone(),
        to: email.then(|| c.email_to.clone()),
        from: c.email_from.clone(),
        created_at: None,
        created_by: None,
    }
}

async fn list_channels(State(state): State<AppState>) -> Result<Json<wire::ChannelList>, ApiError> {
    let channels = state
        .db
        .list_channels()
        .await?
        .iter()
        .map(|c| wire::Channel {
            created_at: Some(c.created_at),
            created_by: Some(c.created_by.clone()),
            ..channel_out(c)
        })
        .collect();
    Ok(Json(wire::ChannelList { channels }))
}

async fn put_channel(
    State(state): State<AppState>,
    Path(name): Path<String>,
    caller: Caller,
    JsonBody(body): JsonBody<wire::NewChannel>,
) -> Result<Json<wire::Channel>, ApiError> {
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
        created_by: caller.actor(),
    };
    state.db.put_channel(&c).await?;
    Ok(Json(channel_out(&c)))
}

async fn delete_channel(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.db.delete_channel(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn deliveries(State(state): State<AppState>) -> Result<Json<wire::DeliveryList>, ApiError> {
    let deliveries = state
        .db
        .deliveries(500)
        .await?
        .into_iter()
        .map(|d| wire::Delivery {
            event_id: d.event_id,
            channel: d.channel,
            attempt: d.attempt,
            ok: d.ok,
            detail: d.detail,
            at: d.at,
        })
        .collect();
    Ok(Json(wire::DeliveryList { deliveries }))
}

/// Health at a glance: level and reasons in plain words.
async fn health(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<wire::Health>, ApiError> {
    Ok(Json(health_out(
        &crate::service::health::of(&state, &name).await?,
    )))
}

/// A deployment's health as the API answers it.
pub(crate) fn health_out(h: &crate::service::health::DeploymentHealth) -> wire::Health {
    wire::Health {
        deployment: h.deployment.clone(),
        health: h.health.level.as_str().to_owned(),
        label: h.health.level.label().to_owned(),
        reasons: h.health.reasons.clone(),
        firing: h
            .firing
            .iter()
            .map(|f| wire::FiringAlert {
                rule: f.rule.name.clone(),
                severity: f.rule.severity.as_str().to_owned(),
                value: f.value,
                acknowledged: f.acknowledged,
            })
            .collect(),
    }
}
