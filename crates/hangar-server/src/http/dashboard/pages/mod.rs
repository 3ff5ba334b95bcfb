//! The dashboard's pages and its two actions (promote, roll back). Each
//! page reads through the same functions as the API route it mirrors.

use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Duration, Utc};
use hangar_api as wire;
use hangar_core::alerts::{FOUR_FIFTHS, PSI_MAJOR};
use hangar_core::governance::Action;
use hangar_core::health::HealthLevel;
use hangar_store::AuditFilter;
use serde::Deserialize;

use super::charts::{bar_chart, fmt_num, line_chart, Bar, Series};
use super::{error_page, esc, page, time, url, Section};
use crate::auth::{form_field, Authenticated};
use crate::http::error::ApiError;
use crate::state::AppState;

/// The window the overview's figures cover.
const OVERVIEW_SECS: u64 = crate::service::health::HEALTH_WINDOW_SECS;
/// Most prediction rows read for a deployment page's time charts.
const CHART_ROWS: u64 = 200_000;
/// Points on a time chart.
const BUCKETS: usize = 30;

type Viewer = Extension<Authenticated>;

/// A health's reasons, in words, as a list (nothing when there are none).
fn reasons_list(out: &mut String, reasons: &[String]) {
    if !reasons.is_empty() {
        let items: Vec<String> = reasons.iter().map(|r| esc(r)).collect();
        let _ = write!(
            out,
            r#"<ul class="reasons"><li>{}</li></ul>"#,
            items.join("</li><li>")
        );
    }
}

/// Health in words, icon and colour (never colour alone).
fn badge(level: HealthLevel) -> String {
    let (class, icon) = match level {
        HealthLevel::Healthy => ("ok", "✓"),
        HealthLevel::NeedsAttention => ("warn", "!"),
        HealthLevel::Failing => ("bad", "✕"),
    };
    format!(
        r#"<span class="badge {class}"><span class="icon" aria-hidden="true">{icon}</span> {}</span>"#,
        level.label()
    )
}

/// A yes/no/unknown status chip with words.
fn status(class: &str, icon: &str, text: &str) -> String {
    format!(
        r#"<span class="chip {class}"><span aria-hidden="true">{icon}</span> {}</span>"#,
        esc(text)
    )
}

fn pct(v: f64) -> String {
    format!("{:.1} %", v * 100.0)
}

/// A figure that can be shown: present and finite.
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn show(v: Option<f64>, digits: usize) -> String {
    finite(v).map_or_else(|| "—".into(), |x| format!("{x:.digits$}"))
}

async fn team_of_deployment(state: &AppState, name: &str) -> Result<String, ApiError> {
    Ok(state.db.deployment_team(name).await?.unwrap_or_default())
}

mod actions;
mod alerts;
mod audit;
mod deployment;
mod login;
mod models;
mod overview;
#[allow(unused_imports)]
pub use actions::*;
#[allow(unused_imports)]
pub use alerts::*;
#[allow(unused_imports)]
pub use audit::*;
#[allow(unused_imports)]
pub use deployment::*;
#[allow(unused_imports)]
pub use login::*;
#[allow(unused_imports)]
pub use models::*;
#[allow(unused_imports)]
pub use overview::*;
