//! A deployment's health as the API and the dashboard show it: the level
//! and reasons (`hangar_core::health::assess`) from its firing alerts, its
//! traffic and its window report over the last hour. The report comes back
//! with the health, so a page that also shows the report's figures does
//! not compute it twice.

use std::sync::Arc;

use chrono::Utc;
use hangar_core::alerts::AlertRule;
use hangar_core::health::{assess, FiringAlert, Health, HealthInput};
use hangar_core::monitor::WindowReport;
use hangar_core::window::WindowSummary;

use crate::service::error::Error;
use crate::state::AppState;

/// The window health is judged over, in seconds.
pub const HEALTH_WINDOW_SECS: u64 = 3600;

/// A firing alert, owned.
#[derive(Debug, Clone)]
pub struct Firing {
    pub rule: AlertRule,
    pub value: f64,
    pub acknowledged: bool,
}

/// A deployment's health and what it was judged from.
#[derive(Debug, Clone)]
pub struct DeploymentHealth {
    pub deployment: String,
    pub health: Health,
    pub firing: Vec<Firing>,
    /// Requests and errors over [`HEALTH_WINDOW_SECS`].
    pub traffic: WindowSummary,
    /// The window report over [`HEALTH_WINDOW_SECS`]; `None` without
    /// predictions.
    pub report: Option<Arc<WindowReport>>,
}

/// The health of deployment `name` now.
pub async fn of(state: &AppState, name: &str) -> Result<DeploymentHealth, Error> {
    state.db.get_deployment(name).await?;
    let stored = state.db.list_rules().await?;
    let rules = crate::service::alerting::rules_for(&stored, name);
    let snapshot = state.alerting.snapshot();
    let firing: Vec<FiringAlert> = snapshot
        .iter()
        .filter(|((_, d), _)| d == name)
        .filter_map(|((rule, _), s)| {
            let rule = rules.iter().find(|r| &r.name == rule)?;
            FiringAlert::from_state(rule, s)
        })
        .collect();
    let traffic = crate::service::alerting::traffic(state, name, HEALTH_WINDOW_SECS, None);
    let report =
        crate::service::reports::recent_report(state, name, HEALTH_WINDOW_SECS, None).await?;
    let health = assess(&HealthInput {
        now_secs: Utc::now().timestamp().max(0) as u64,
        traffic: &traffic,
        traffic_window_secs: HEALTH_WINDOW_SECS,
        report: report.as_ref(),
        firing: &firing,
        positive_outcome: None,
    });
    Ok(DeploymentHealth {
        deployment: name.to_string(),
        health,
        firing: firing
            .iter()
            .map(|f| Firing {
                rule: f.rule.clone(),
                value: f.value,
                acknowledged: f.ack,
            })
            .collect(),
        traffic,
        report: report.map(Arc::new),
    })
}
