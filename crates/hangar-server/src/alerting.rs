//! Alert evaluation at the edge: every few seconds each rule is evaluated
//! for each deployment it applies to (the state machine is in
//! `hangar_core::alerts`), events are recorded, sent to the notification
//! channels (retried with backoff, every attempt logged), and a firing
//! guardrail rule rolls the canary back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use hangar_core::alerts::{
    default_rules, event_message, step, AlertEventKind, AlertRule, AlertState,
};
use hangar_core::window::WindowSummary;
use hangar_store::{AlertEventRecord, DeliveryRecord};

use crate::error::ApiError;
use crate::state::AppState;

/// Live alert states by (rule, deployment). Kept in memory: after a restart
/// alerts re-derive their state from the figures within one evaluation.
#[derive(Default)]
pub struct Alerting {
    states: Mutex<HashMap<(String, String), AlertState>>,
}

impl Alerting {
    pub fn snapshot(&self) -> Vec<((String, String), AlertState)> {
        let s = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = s.iter().map(|(k, v)| (k.clone(), *v)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn acknowledge(&self, rule: &str, deployment: &str) -> bool {
        let mut s = self.states.lock().unwrap_or_else(|p| p.into_inner());
        s.get_mut(&(rule.to_string(), deployment.to_string()))
            .is_some_and(AlertState::acknowledge)
    }

    fn get(&self, key: &(String, String)) -> AlertState {
        self.states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
            .unwrap_or_default()
    }

    fn set(&self, key: (String, String), state: AlertState) {
        self.states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, state);
    }
}

/// The rules that apply to a deployment: its own, then `*` rules, then the
/// defaults — a rule of the same name replaces a broader one.
pub fn rules_for(all: &[AlertRule], deployment: &str) -> Vec<AlertRule> {
    let mut out: Vec<AlertRule> = all
        .iter()
        .filter(|r| r.deployment == deployment)
        .cloned()
        .collect();
    for r in all
        .iter()
        .filter(|r| r.deployment == hangar_core::alerts::ANY_DEPLOYMENT)
    {
        if !out.iter().any(|o| o.name == r.name) {
            out.push(r.clone());
        }
    }
    for r in default_rules() {
        if !out.iter().any(|o| o.name == r.name) {
            out.push(r);
        }
    }
    out
}

fn now_secs() -> u64 {
    Utc::now().timestamp().max(0) as u64
}

/// Traffic of a deployment over a window: all its versions, or one.
pub fn traffic(
    state: &AppState,
    deployment: &str,
    secs: u64,
    version: Option<u32>,
) -> WindowSummary {
    let mut total = WindowSummary {
        requests: 0,
        errors: 0,
        p99_ms: None,
    };
    for (v, stats) in state.metrics.deployment_stats(deployment) {
        if version.is_some_and(|only| only != v) {
            continue;
        }
        let w = stats.window(secs);
        total.requests += w.requests;
        total.errors += w.errors;
        total.p99_ms = match (total.p99_ms, w.p99_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    total
}

/// One evaluation pass over every live deployment.
pub async fn evaluate(state: &AppState) -> Result<(), ApiError> {
    let stored = state.db.list_rules().await?;
    let now = now_secs();
    for d in state.serving.active() {
        let canary = (d.routes.len() == 2).then(|| d.routes[1].version.version);
        let mut reports: HashMap<(u64, Option<u32>), Option<hangar_core::monitor::WindowReport>> =
            HashMap::new();
        for rule in rules_for(&stored, &d.name) {
            // A guardrail judges the canary alone while there is one.
            let scope = if rule.guardrail { canary } else { None };
            let summary = traffic(state, &d.name, rule.window_secs, scope);
            let report = if rule.metric.needs_report() {
                let key = (rule.window_secs, scope);
                if let std::collections::hash_map::Entry::Vacant(slot) = reports.entry(key) {
                    let r = crate::api_monitoring::recent_report(
                        state,
                        &d.name,
                        rule.window_secs,
                        scope,
                    )
                    .await?;
                    slot.insert(r);
                }
                reports.get(&key).and_then(Option::as_ref)
            } else {
                None
            };
            let value = hangar_core::alerts::value_of(&rule.metric, report, &summary);
            let key = (rule.name.clone(), d.name.clone());
            let (next, event) = step(state.alerting.get(&key), &rule, value, now);
            state.alerting.set(key, next);
            let Some(event) = event else { continue };
            let message = event_message(&rule, &d.name, &event);
            tracing::warn!(rule = %rule.name, deployment = %d.name, kind = event.kind.as_str(), value = event.value, "{message}");
            let record = AlertEventRecord {
                id: 0,
                rule: rule.name.clone(),
                deployment: d.name.clone(),
                kind: event.kind.as_str().to_string(),
                severity: rule.severity.as_str().to_string(),
                value: Some(event.value),
                message: message.clone(),
                at: Utc::now(),
            };
            let id = state.db.add_alert_event(&record).await?;
            tokio::spawn(notify(state.clone(), id, rule.clone(), record));
            if rule.guardrail && matches!(event.kind, AlertEventKind::Firing) && canary.is_some() {
                let reason = format!("guardrail '{}' fired: {message}", rule.name);
                state
                    .serving
                    .guardrail_rollback(&d.name, d.revision.number, &reason)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Evaluates alerts every `every`.
pub async fn watch(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = evaluate(&state).await {
            tracing::error!(error = %e.message, "alert evaluation failed");
        }
    }
}

/// Sends an event to every channel: generic webhooks get the event as JSON,
/// Slack-compatible ones `{"text": ...}`. Three attempts with backoff; every
/// attempt is logged.
async fn notify(state: AppState, event_id: i64, rule: AlertRule, e: AlertEventRecord) {
    let channels = match state.db.list_channels().await {
        Ok(c) => c,
        Err(err) => {
            tracing::error!(error = %err, "cannot read notification channels");
            return;
        }
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build();
    let Ok(client) = client else { return };
    for c in channels {
        let body = if c.kind == "slack" {
            serde_json::json!({ "text": format!("[{}] {}", e.severity, e.message) })
        } else {
            serde_json::json!({
                "rule": e.rule,
                "deployment": e.deployment,
                "state": e.kind,
                "severity": e.severity,
                "value": e.value,
                "condition": rule.condition(),
                "metric": rule.metric.to_string(),
                "threshold": rule.threshold,
                "message": e.message,
                "at": e.at,
                "event_id": event_id,
            })
        };
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=3u32 {
            let result = client.post(&c.url).json(&body).send().await;
            let (ok, detail) = match result {
                Ok(r) if r.status().is_success() => (true, format!("HTTP {}", r.status().as_u16())),
                Ok(r) => (false, format!("HTTP {}", r.status().as_u16())),
                Err(err) => (false, err.to_string()),
            };
            let _ = state
                .db
                .add_delivery(&DeliveryRecord {
                    event_id,
                    channel: c.name.clone(),
                    attempt,
                    ok,
                    detail: detail.clone(),
                    at: Utc::now(),
                })
                .await;
            if ok {
                break;
            }
            tracing::warn!(channel = %c.name, attempt, detail, "alert delivery failed");
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
}
