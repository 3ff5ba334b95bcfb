//! The dashboard's pages and its two actions (promote, roll back). Each
//! page reads through the same functions as the API route it mirrors.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::{DateTime, Duration, Utc};
use hangar_core::governance::Action;
use hangar_core::health::HealthLevel;
use hangar_store::AuditFilter;
use serde::Deserialize;
use serde_json::Value;

use super::charts::{bar_chart, fmt_num, line_chart, Bar, Series};
use super::{error_page, esc, page, time, url, Section};
use crate::http::auth::{form_field, Authenticated};
use crate::http::error::ApiError;
use crate::state::AppState;

/// The window the overview's figures cover.
const OVERVIEW_SECS: u64 = 3600;
/// Most prediction rows read for a deployment page's time charts.
const CHART_ROWS: u64 = 200_000;
/// Points on a time chart.
const BUCKETS: usize = 30;
/// A group selected at less than this share of the most-selected group's
/// rate fails the four-fifths rule.
const FOUR_FIFTHS: f64 = 0.8;
/// PSI past which a feature's shift is major (the default alert's line).
const PSI_MAJOR: f64 = 0.25;

type Viewer = Extension<Authenticated>;

fn level_of(s: &str) -> HealthLevel {
    match s {
        "failing" => HealthLevel::Failing,
        "needs_attention" => HealthLevel::NeedsAttention,
        _ => HealthLevel::Healthy,
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

fn opt_f(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

fn show(v: &Value, digits: usize) -> String {
    opt_f(v).map_or_else(|| "—".into(), |x| format!("{x:.digits$}"))
}

async fn team_of_deployment(state: &AppState, name: &str) -> Result<String, ApiError> {
    Ok(state.db.deployment_team(name).await?.unwrap_or_default())
}

// ---- login ---------------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    error: Option<String>,
    next: Option<String>,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = q
        .next
        .filter(|n| crate::http::auth::safe_next(n).is_some())
        .unwrap_or_else(|| "/".into());
    let error = q.error.is_some().then_some(
        "That user name and password did not match. Try again, or ask a Hangar administrator to reset your password.",
    );
    login_page(&state, &headers, &next, error)
}

/// The sign-in form, with `notice` (an error) above it, going to `next`
/// (already checked to be a path of this server) once signed in. The form
/// carries the CSRF token of the `hangar_login` cookie, which is set here
/// unless the browser already holds one.
pub(crate) fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    next: &str,
    notice: Option<&str>,
) -> Response {
    use crate::http::auth::{self, LOGIN_COOKIE};
    let (secret, fresh) =
        match auth::cookie(headers, LOGIN_COOKIE).filter(|c| auth::is_login_secret(c)) {
            Some(c) => (c, false),
            None => (auth::random_hex(32), true),
        };
    let error = notice.map_or_else(String::new, |n| {
        format!(r#"<p class="notice bad" role="alert">{}</p>"#, esc(n))
    });
    let body = format!(
        r#"<section class="login">
<h1>Sign in to Hangar</h1>
<p>See whether your models are healthy, drifting or treating people unfairly, and act on them.</p>
{error}
<form method="post" action="/login" class="stack">
<input type="hidden" name="csrf" value="{}">
<input type="hidden" name="next" value="{}">
<label for="user">User name</label>
<input id="user" name="user" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" class="primary">Sign in</button>
</form>
<p class="hint">No account yet? An administrator creates one with <code>hangar user create NAME --team TEAM --role viewer --password-stdin</code>.</p>
</section>"#,
        esc(&auth::login_csrf_token(&secret)),
        esc(next)
    );
    let mut resp = page("Sign in", Section::None, None, &body);
    if fresh {
        let cookie = auth::set_cookie(LOGIN_COOKIE, &secret, "/login", None, state.secure_cookies);
        if let Ok(v) = header::HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    resp
}

// ---- overview ------------------------------------------------------------

struct Row {
    name: String,
    level: HealthLevel,
    html: String,
}

pub(crate) async fn overview(State(state): State<AppState>, Extension(a): Viewer) -> Response {
    match overview_body(&state, &a).await {
        Ok(body) => page("Overview", Section::Overview, Some(&a), &body),
        Err(e) => error_page(Some(&a), e),
    }
}

async fn overview_body(state: &AppState, a: &Authenticated) -> Result<String, ApiError> {
    let teams = state.db.deployment_teams().await?;
    let mut rows = Vec::new();
    for d in state.db.list_deployments().await? {
        let team = teams.get(&d.name).cloned().unwrap_or_default();
        if !a.principal.sees(&team) {
            continue;
        }
        rows.push(overview_row(state, &d, &team).await?);
    }
    rows.sort_by(|x, y| y.level.cmp(&x.level).then(x.name.cmp(&y.name)));
    let mut out = String::from("<h1>Overview</h1>");
    if rows.is_empty() {
        out.push_str(r#"<section class="empty"><h2>No deployments yet</h2><p>Nothing you can see is serving predictions. Push a model and deploy it:</p><pre><code>hangar model push model.onnx --name credit-risk
hangar deploy credit-risk --model credit-risk:1</code></pre><p>Then send a prediction to <code>/v2/models/credit-risk/infer</code>; it appears here within seconds.</p></section>"#);
        return Ok(out);
    }
    let count = |l: HealthLevel| rows.iter().filter(|r| r.level == l).count();
    let (bad, warn, ok) = (
        count(HealthLevel::Failing),
        count(HealthLevel::NeedsAttention),
        count(HealthLevel::Healthy),
    );
    let headline = if bad > 0 {
        format!("{bad} of {} deployments failing", rows.len())
    } else if warn > 0 {
        format!("{warn} of {} deployments need attention", rows.len())
    } else {
        format!("All {} deployments healthy", rows.len())
    };
    let overall = if bad > 0 {
        HealthLevel::Failing
    } else if warn > 0 {
        HealthLevel::NeedsAttention
    } else {
        HealthLevel::Healthy
    };
    let _ = write!(
        out,
        r#"<section class="summary {}" aria-label="Summary"><p class="headline">{} {}</p><ul class="counts"><li>{}: {bad}</li><li>{}: {warn}</li><li>{}: {ok}</li></ul><p class="hint">Figures cover the last hour.</p></section>"#,
        match overall {
            HealthLevel::Failing => "bad",
            HealthLevel::NeedsAttention => "warn",
            HealthLevel::Healthy => "ok",
        },
        badge(overall),
        esc(&headline),
        badge(HealthLevel::Failing),
        badge(HealthLevel::NeedsAttention),
        badge(HealthLevel::Healthy),
    );
    out.push_str(r#"<ul class="cards">"#);
    for r in rows {
        out.push_str(&r.html);
    }
    out.push_str("</ul>");
    Ok(out)
}

async fn overview_row(
    state: &AppState,
    d: &hangar_core::Deployment,
    team: &str,
) -> Result<Row, ApiError> {
    let health = crate::http::alerts::health_json(state, &d.name).await?;
    let level = level_of(health["health"].as_str().unwrap_or_default());
    let traffic = crate::service::alerting::traffic(state, &d.name, OVERVIEW_SECS, None);
    let report =
        crate::service::reports::recent_report(state, &d.name, OVERVIEW_SECS, None).await?;
    let mut h = String::new();
    let _ = write!(
        h,
        r#"<li class="card {}"><h2><a href="/deployments/{}">{}</a></h2><p class="meta">{}Team {}</p>"#,
        match level {
            HealthLevel::Failing => "bad",
            HealthLevel::NeedsAttention => "warn",
            HealthLevel::Healthy => "ok",
        },
        url(&d.name),
        esc(&d.name),
        badge(level),
        esc(team)
    );
    reasons_list(&mut h, &health);
    let error_rate = if traffic.requests > 0 {
        pct(traffic.errors as f64 / traffic.requests as f64)
    } else {
        "—".into()
    };
    let drift = match report.as_ref().and_then(|r| r.drift_share.map(|s| (s, r))) {
        None => status("none", "–", "No baseline or no traffic"),
        Some((share, r)) if r.dataset_drifted == Some(true) => status(
            "bad",
            "✕",
            &format!("Drifting ({} of features)", pct(share)),
        ),
        Some((share, _)) if share > 0.0 => {
            status("warn", "!", &format!("{} of features shifted", pct(share)))
        }
        Some(_) => status("ok", "✓", "Inputs look like training data"),
    };
    let fairness = match report.as_ref().filter(|r| !r.fairness.is_empty()) {
        None => status("none", "–", "No segments recorded"),
        Some(r) => {
            let worst = r
                .fairness
                .values()
                .map(|f| f.demographic_parity_ratio)
                .fold(f64::INFINITY, f64::min);
            if worst < FOUR_FIFTHS {
                status("bad", "✕", &format!("Below four-fifths (ratio {worst:.2})"))
            } else {
                status("ok", "✓", &format!("Fair (ratio {worst:.2})"))
            }
        }
    };
    let mut versions = String::new();
    for route in &d.current.table.routes {
        let _ = write!(
            versions,
            "<li>{} (v{}) — {} %</li>",
            esc(&route.target.to_string()),
            route.version,
            route.weight
        );
    }
    if let Some(s) = &d.current.table.shadow {
        let _ = write!(
            versions,
            "<li>{} (v{}) — shadow, no live traffic</li>",
            esc(&s.target.to_string()),
            s.version
        );
    }
    let _ = write!(
        h,
        r#"<dl class="figures"><div><dt>Requests</dt><dd>{}</dd></div><div><dt>Error rate</dt><dd>{}</dd></div><div><dt>p99 latency</dt><dd>{}</dd></div><div><dt>Drift</dt><dd>{drift}</dd></div><div><dt>Fairness</dt><dd>{fairness}</dd></div></dl><h3>Serving</h3><ul class="versions">{versions}</ul>"#,
        traffic.requests,
        error_rate,
        traffic
            .p99_ms
            .map_or_else(|| "—".into(), |p| format!("{p:.0} ms")),
    );
    let firing: Vec<String> = health["firing"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            format!(
                "{} ({})",
                esc(f["rule"].as_str().unwrap_or_default()),
                esc(f["severity"].as_str().unwrap_or_default())
            )
        })
        .collect();
    if firing.is_empty() {
        h.push_str(r#"<p class="hint">No alerts firing.</p>"#);
    } else {
        let _ = write!(
            h,
            r#"<p class="alerts"><strong>Alerts firing:</strong> {}</p>"#,
            firing.join(", ")
        );
    }
    if traffic.requests == 0 && report.is_none() {
        let _ = write!(
            h,
            r#"<p class="hint">No traffic in the last hour — send a prediction to <code>/v2/models/{}/infer</code>.</p>"#,
            esc(&d.name)
        );
    }
    h.push_str("</li>");
    Ok(Row {
        name: d.name.clone(),
        level,
        html: h,
    })
}

// ---- deployment ----------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct DeploymentQuery {
    range: Option<String>,
    confirm: Option<String>,
    done: Option<String>,
    error: Option<String>,
}

const RANGES: [(&str, i64); 4] = [
    ("1h", 3600),
    ("24h", 86400),
    ("7d", 7 * 86400),
    ("30d", 30 * 86400),
];

pub(crate) async fn deployment(
    State(state): State<AppState>,
    Extension(a): Viewer,
    Path(name): Path<String>,
    Query(q): Query<DeploymentQuery>,
) -> Response {
    match deployment_body(&state, &a, &name, &q).await {
        Ok(body) => page(&name, Section::Overview, Some(&a), &body),
        Err(e) => error_page(Some(&a), e),
    }
}

async fn deployment_body(
    state: &AppState,
    a: &Authenticated,
    name: &str,
    q: &DeploymentQuery,
) -> Result<String, ApiError> {
    let d = state.db.get_deployment(name).await?;
    let team = team_of_deployment(state, name).await?;
    let can_deploy = a.principal.can(Action::Deploy, &team);
    let (range, secs) = RANGES
        .iter()
        .find(|(r, _)| Some(*r) == q.range.as_deref())
        .copied()
        .unwrap_or(RANGES[1]);
    let to = Utc::now() + Duration::seconds(1);
    let from = to - Duration::seconds(secs);
    let health = crate::http::alerts::health_json(state, name).await?;
    let level = level_of(health["health"].as_str().unwrap_or_default());
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<p class="crumbs"><a href="/">Overview</a> › {}</p><h1>{} {}</h1><p class="meta">Team {} · revision {} · model {}</p>"#,
        esc(name),
        esc(name),
        badge(level),
        esc(&team),
        d.current.number,
        d.current
            .table
            .routes
            .first()
            .map(|r| esc(&r.target.model))
            .map(|m| format!(r#"<a href="/models/{}">{m}</a>"#, url(&m)))
            .unwrap_or_default()
    );
    if let Some(done) = &q.done {
        let _ = write!(
            out,
            r#"<p class="notice ok" role="status">Done: {} recorded as revision {}.</p>"#,
            esc(done),
            d.current.number
        );
    }
    if let Some(e) = &q.error {
        let _ = write!(
            out,
            r#"<p class="notice bad" role="alert">Not done: {}</p>"#,
            esc(e)
        );
    }
    reasons_list(&mut out, &health);

    // Traffic split and actions.
    out.push_str(r#"<section aria-labelledby="split"><h2 id="split">Serving now</h2><table><thead><tr><th scope="col">Target</th><th scope="col">Version</th><th scope="col">Share of traffic</th></tr></thead><tbody>"#);
    for r in &d.current.table.routes {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td class="serving-version">{}</td><td>{} %</td></tr>"#,
            esc(&r.target.to_string()),
            r.version,
            r.weight
        );
    }
    if let Some(s) = &d.current.table.shadow {
        let _ = write!(
            out,
            r#"<tr><td>{} (shadow)</td><td>{}</td><td>copy of traffic, answers only compared</td></tr>"#,
            esc(&s.target.to_string()),
            s.version
        );
    }
    out.push_str("</tbody></table>");
    let revisions = state.db.list_revisions(name).await?;
    if can_deploy {
        out.push_str(&actions(a, name, &d, revisions.len(), q.confirm.as_deref()));
    }
    out.push_str("</section>");

    // Range selector.
    out.push_str(r#"<nav class="ranges" aria-label="Time range"><span>Range:</span>"#);
    for (r, _) in RANGES {
        let current = if r == range {
            r#" aria-current="true" class="on""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<a href="/deployments/{}?range={r}"{current}>{r}</a>"#,
            url(name)
        );
    }
    out.push_str("</nav>");

    out.push_str(&time_charts(state, name, from, to).await?);
    let report = crate::http::monitoring::report_body(state, name, from, to, None).await?;
    if let (Some(model), Some(version)) = (report["model"].as_str(), report["version"].as_u64()) {
        let _ = write!(
            out,
            r#"<p class="hint">Drift, performance and fairness below are for {}:{version}, the version that answered most rows in this range.</p>"#,
            esc(model)
        );
    }
    out.push_str(&errors_section(state, name));
    out.push_str(&drift_section(&report));
    out.push_str(&performance_section(&report, name));
    out.push_str(&fairness_section(&report));
    out.push_str(&timeline(&revisions));
    Ok(out)
}

fn actions(
    a: &Authenticated,
    name: &str,
    d: &hangar_core::Deployment,
    revisions: usize,
    confirm: Option<&str>,
) -> String {
    let csrf = esc(a.csrf.as_deref().unwrap_or_default());
    let has_canary = d.current.table.routes.len() == 2;
    let mut out = String::from(r#"<div class="actions" id="actions">"#);
    match confirm {
        Some(kind @ ("rollback" | "promote")) => {
            let (what, verb) = if kind == "rollback" {
                (
                    "Roll back to the previous routing table. Traffic moves at once; this is recorded as a new revision.",
                    "Confirm roll back",
                )
            } else {
                (
                    "Promote the canary to all traffic. This is recorded as a new revision.",
                    "Confirm promote",
                )
            };
            let _ = write!(
                out,
                r#"<form method="post" action="/deployments/{}/{kind}" class="confirm stack" aria-labelledby="confirm-h"><h3 id="confirm-h">Are you sure?</h3><p>{what}</p><input type="hidden" name="csrf" value="{csrf}"><label for="message">Why (recorded in the timeline)</label><textarea id="message" name="message" rows="2" maxlength="4096" required></textarea><div class="row"><button type="submit" class="danger">{verb}</button><a class="button" href="/deployments/{}#actions">Cancel</a></div></form>"#,
                url(name),
                url(name)
            );
        }
        _ => {
            if revisions > 1 {
                let _ = write!(
                    out,
                    r#"<a class="button danger" href="/deployments/{}?confirm=rollback#actions">Roll back…</a>"#,
                    url(name)
                );
            }
            if has_canary {
                let _ = write!(
                    out,
                    r#"<a class="button" href="/deployments/{}?confirm=promote#actions">Promote canary…</a>"#,
                    url(name)
                );
            }
        }
    }
    out.push_str("</div>");
    out
}

/// Traffic and latency over the range, from the prediction log.
async fn time_charts(
    state: &AppState,
    name: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<String, ApiError> {
    state.log.flush().await;
    let records = state.db.predictions(name, from, to, CHART_ROWS).await?;
    let (f, t) = (from.timestamp() as f64, to.timestamp() as f64);
    let width = ((t - f) / BUCKETS as f64).max(1.0);
    let mut buckets: Vec<(u64, Vec<u64>)> = vec![(0, Vec::new()); BUCKETS];
    for r in &records {
        let i = (((r.at.timestamp() as f64 - f) / width) as usize).min(BUCKETS - 1);
        buckets[i].0 += 1;
        buckets[i].1.push(r.latency_us);
    }
    let mut out = String::from(
        r#"<section aria-labelledby="traffic-h"><h2 id="traffic-h">Traffic and latency</h2>"#,
    );
    if records.is_empty() {
        let _ = write!(
            out,
            r#"<p class="empty">No predictions in this range — send one with <code>curl -X POST /v2/models/{}/infer</code> (or <code>hangar predict {}</code>).</p></section>"#,
            esc(name),
            esc(name)
        );
        return Ok(out);
    }
    let per_min = width / 60.0;
    let mid = |i: usize| f + width * (i as f64 + 0.5);
    let traffic = Series {
        name: "Predictions per minute".into(),
        points: buckets
            .iter()
            .enumerate()
            .map(|(i, b)| (mid(i), b.0 as f64 / per_min))
            .collect(),
        class: "s1",
    };
    let quant = |v: &mut Vec<u64>, q: f64| -> f64 {
        v.sort_unstable();
        let idx = ((v.len() as f64 - 1.0) * q).round() as usize;
        v[idx] as f64 / 1000.0
    };
    let mut lat: [Vec<(f64, f64)>; 3] = Default::default();
    let mut table = String::new();
    for (i, b) in buckets.iter_mut().enumerate() {
        if b.1.is_empty() {
            continue;
        }
        let p = [
            quant(&mut b.1, 0.5),
            quant(&mut b.1, 0.95),
            quant(&mut b.1, 0.99),
        ];
        for k in 0..3 {
            lat[k].push((mid(i), p[k]));
        }
        let at = DateTime::from_timestamp(mid(i) as i64, 0).unwrap_or(from);
        let _ = write!(
            table,
            "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            time(at),
            b.0,
            p[0],
            p[1],
            p[2]
        );
    }
    let [p50, p95, p99] = lat;
    out.push_str(r#"<div class="grid2"><figure>"#);
    out.push_str(&line_chart(
        "traffic",
        "Predictions per minute",
        &format!(
            "Rows predicted per minute over the range, {} in total.",
            records.len()
        ),
        "rows/min",
        (f, t),
        &[traffic],
    ));
    out.push_str("<figcaption>Predictions per minute (rows).</figcaption></figure><figure>");
    out.push_str(&line_chart(
        "latency",
        "Latency percentiles",
        "Median, 95th and 99th percentile of the time to answer, in milliseconds.",
        "ms",
        (f, t),
        &[
            Series {
                name: "p50".into(),
                points: p50,
                class: "s1",
            },
            Series {
                name: "p95".into(),
                points: p95,
                class: "s2",
            },
            Series {
                name: "p99".into(),
                points: p99,
                class: "s3",
            },
        ],
    ));
    out.push_str("<figcaption>Latency percentiles (ms).</figcaption></figure></div>");
    let _ = write!(
        out,
        r#"<details><summary>Traffic and latency as a table</summary><table><thead><tr><th scope="col">Around</th><th scope="col">Rows</th><th scope="col">p50 ms</th><th scope="col">p95 ms</th><th scope="col">p99 ms</th></tr></thead><tbody>{table}</tbody></table></details></section>"#
    );
    Ok(out)
}

/// Requests and errors per version, from the in-memory outcome windows.
fn errors_section(state: &AppState, name: &str) -> String {
    let mut bars = Vec::new();
    let mut table = String::new();
    for (v, stats) in state.metrics.deployment_stats(name) {
        let w = stats.window(OVERVIEW_SECS);
        if w.requests == 0 {
            continue;
        }
        let rate = w.errors as f64 / w.requests as f64 * 100.0;
        bars.push(Bar {
            label: format!("version {v}"),
            value: rate,
            class: if rate > 5.0 {
                "bad"
            } else if rate > 1.0 {
                "warn"
            } else {
                "ok"
            },
        });
        let _ = write!(
            table,
            "<tr><td>{v}</td><td>{}</td><td>{}</td><td>{rate:.2} %</td></tr>",
            w.requests, w.errors
        );
    }
    let mut out = String::from(
        r#"<section aria-labelledby="errors-h"><h2 id="errors-h">Errors</h2><p class="explain">Share of requests that failed in the last hour, per version (counted by this server since it started).</p>"#,
    );
    if bars.is_empty() {
        out.push_str(r#"<p class="empty">No requests in the last hour.</p></section>"#);
        return out;
    }
    out.push_str(&bar_chart(
        "errors",
        "Error rate per version",
        "Percentage of failed requests per version in the last hour; above 5 % needs attention.",
        "%",
        &bars,
        None,
        Some((5.0, "5 % line")),
    ));
    let _ = write!(
        out,
        r#"<details><summary>Errors as a table</summary><table><thead><tr><th scope="col">Version</th><th scope="col">Requests</th><th scope="col">Errors</th><th scope="col">Error rate</th></tr></thead><tbody>{table}</tbody></table></details></section>"#
    );
    out
}

fn drift_section(report: &Value) -> String {
    let mut out = String::from(
        r#"<section aria-labelledby="drift-h"><h2 id="drift-h">Input drift</h2><p class="explain">PSI (population stability index) says how far a feature's values in this range moved from the training data: below 0.1 is stable, 0.1 to 0.25 a moderate shift, above 0.25 a major shift. "Drifted" is decided by the statistical test named in the table.</p>"#,
    );
    let Some(features) = report["features"].as_object().filter(|f| !f.is_empty()) else {
        let msg = report["message"]
            .as_str()
            .unwrap_or("no predictions in this range yet");
        let _ = write!(
            out,
            r#"<p class="empty">No drift figures: {}. Drift needs a baseline (the training data): <code>hangar model push … --baseline train.csv</code>.</p></section>"#,
            esc(msg)
        );
        return out;
    };
    let mut rows: Vec<(&String, &Value)> = features.iter().collect();
    rows.sort_by(|x, y| {
        let p = |v: &Value| opt_f(&v["psi"]).unwrap_or(0.0);
        p(y.1).total_cmp(&p(x.1)).then(x.0.cmp(y.0))
    });
    if let Some(share) = opt_f(&report["drift_share"]) {
        let drifted = rows
            .iter()
            .filter(|(_, v)| v["drifted"].as_bool() == Some(true))
            .count();
        let chip = if report["dataset_drifted"].as_bool() == Some(true) {
            status("bad", "✕", "Inputs drifting")
        } else if drifted > 0 {
            status("warn", "!", "Some inputs shifted")
        } else {
            status("ok", "✓", "Inputs stable")
        };
        let _ = write!(
            out,
            "<p>{chip} {drifted} of {} features drifted ({}); the inputs as a whole count as drifting from half of them.</p>",
            rows.len(),
            pct(share),
        );
    }
    let bars: Vec<Bar> = rows
        .iter()
        .map(|(k, v)| {
            let psi = opt_f(&v["psi"]).unwrap_or(0.0);
            Bar {
                label: (*k).clone(),
                value: psi,
                class: if v["drifted"].as_bool() == Some(true) || psi > PSI_MAJOR {
                    "bad"
                } else if psi > 0.1 {
                    "warn"
                } else {
                    "ok"
                },
            }
        })
        .collect();
    out.push_str(&bar_chart(
        "drift",
        "PSI per feature, worst first",
        "Population stability index of each input feature against the training data; the line marks 0.25, a major shift.",
        "PSI",
        &bars,
        None,
        Some((PSI_MAJOR, "0.25 major shift")),
    ));
    out.push_str(r#"<details><summary>Drift per feature as a table</summary><table><thead><tr><th scope="col">Feature</th><th scope="col">PSI</th><th scope="col">Test</th><th scope="col">Score</th><th scope="col">Drifted</th></tr></thead><tbody>"#);
    for (k, v) in rows {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(k),
            show(&v["psi"], 3),
            esc(v["test"].as_str().unwrap_or("—")),
            show(&v["test_score"], 3),
            if v["drifted"].as_bool() == Some(true) {
                status("bad", "✕", "Drifted")
            } else {
                status("ok", "✓", "No")
            }
        );
    }
    out.push_str("</tbody></table></details></section>");
    out
}

fn performance_section(report: &Value, name: &str) -> String {
    let mut out = String::from(
        r#"<section aria-labelledby="perf-h"><h2 id="perf-h">Performance</h2><p class="explain">Measured on the predictions whose true outcome has arrived; estimated from the model's own confidence before that (so a drop shows before the outcomes do).</p>"#,
    );
    let measured = report["performance"].as_object();
    let estimated = report["estimated_performance"].as_object();
    if measured.is_none() && estimated.is_none() {
        let _ = write!(
            out,
            r#"<p class="empty">No outcomes yet — send true labels with <code>hangar feedback {} labels.csv</code>; an estimate needs a baseline with labels.</p></section>"#,
            esc(name)
        );
        return out;
    }
    let metrics = ["accuracy", "precision", "recall", "f1", "roc_auc"];
    let mut bars = Vec::new();
    for m in metrics {
        if let Some(v) = measured.and_then(|p| opt_f(&p[m])) {
            bars.push(Bar {
                label: format!("{m} (measured)"),
                value: v,
                class: "s1",
            });
        }
        if let Some(v) = estimated.and_then(|p| opt_f(&p[m])) {
            bars.push(Bar {
                label: format!("{m} (estimated)"),
                value: v,
                class: "s2",
            });
        }
    }
    out.push_str(&bar_chart(
        "perf",
        "Performance, measured and estimated",
        "Classification metrics from 0 to 1; measured from true outcomes, estimated by confidence-based performance estimation.",
        "",
        &bars,
        Some(1.0),
        None,
    ));
    let _ = write!(
        out,
        r#"<details><summary>Performance as a table</summary><table><thead><tr><th scope="col">Metric</th><th scope="col">Measured ({} labelled rows)</th><th scope="col">Estimated</th></tr></thead><tbody>"#,
        report["labeled_rows"].as_u64().unwrap_or(0)
    );
    for m in metrics {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{m}</th><td>{}</td><td>{}</td></tr>",
            measured.map_or("—".into(), |p| show(&p[m], 3)),
            estimated.map_or("—".into(), |p| show(&p[m], 3)),
        );
    }
    out.push_str("</tbody></table></details></section>");
    out
}

fn fairness_section(report: &Value) -> String {
    let mut out = String::from(
        r#"<section aria-labelledby="fair-h"><h2 id="fair-h">Fairness</h2><p class="explain">How often each group gets the positive decision, relative to the group that gets it most. Below 0.8 (the four-fifths rule) a group is treated markedly worse.</p>"#,
    );
    let Some(attrs) = report["fairness"].as_object().filter(|f| !f.is_empty()) else {
        out.push_str(r#"<p class="empty">No groups recorded — name a segment attribute when deploying (<code>hangar deploy NAME --model M:V --segment group</code>) and send it with each prediction.</p></section>"#);
        return out;
    };
    for (attr, f) in attrs {
        let groups: BTreeMap<&String, &Value> = f["groups"]
            .as_object()
            .map(|g| g.iter().collect())
            .unwrap_or_default();
        let top = groups
            .values()
            .filter_map(|g| opt_f(&g["selection_rate"]))
            .fold(0.0f64, f64::max);
        let ratio = |g: &Value| {
            let s = opt_f(&g["selection_rate"]).unwrap_or(0.0);
            if top > 0.0 {
                s / top
            } else {
                1.0
            }
        };
        let bars: Vec<Bar> = groups
            .iter()
            .map(|(k, g)| Bar {
                label: (*k).clone(),
                value: ratio(g),
                class: if ratio(g) < FOUR_FIFTHS { "bad" } else { "ok" },
            })
            .collect();
        let dpr = opt_f(&f["demographic_parity_ratio"]);
        let _ = write!(
            out,
            "<h3>By {}</h3><p>Demographic parity ratio {} {}</p>",
            esc(attr),
            dpr.map_or("—".into(), |d| format!("{d:.2}")),
            match dpr {
                Some(d) if d < FOUR_FIFTHS => status("bad", "✕", "below the four-fifths line"),
                Some(_) => status("ok", "✓", "within the four-fifths line"),
                None => String::new(),
            }
        );
        out.push_str(&bar_chart(
            &format!("fair-{}", url(attr)),
            &format!("Selection rate by {attr}, relative to the highest"),
            "Each group's rate of positive decisions divided by the highest group's; the line marks 0.8, the four-fifths rule.",
            "",
            &bars,
            Some(1.0),
            Some((FOUR_FIFTHS, "0.8 four-fifths")),
        ));
        out.push_str(r#"<details><summary>Groups as a table</summary><table><thead><tr><th scope="col">Group</th><th scope="col">Rows</th><th scope="col">Selection rate</th><th scope="col">Relative</th><th scope="col">True positive rate</th><th scope="col">False positive rate</th></tr></thead><tbody>"#);
        for (k, g) in &groups {
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td></tr>",
                esc(k),
                g["count"].as_u64().unwrap_or(0),
                show(&g["selection_rate"], 3),
                ratio(g),
                show(&g["tpr"], 3),
                show(&g["fpr"], 3),
            );
        }
        out.push_str("</tbody></table></details>");
    }
    out.push_str("</section>");
    out
}

fn timeline(revisions: &[hangar_core::Revision]) -> String {
    let mut out = String::from(
        r#"<section aria-labelledby="rev-h"><h2 id="rev-h">Revision timeline</h2><ol class="timeline" reversed>"#,
    );
    for r in revisions.iter().rev() {
        let table: Vec<String> = r
            .table
            .routes
            .iter()
            .map(|x| format!("{} (v{}) {} %", x.target, x.version, x.weight))
            .collect();
        let (class, kind) = match &r.kind {
            hangar_core::RevisionKind::Rollback { to } => {
                ("rollback", format!("Rollback to revision {to}"))
            }
            hangar_core::RevisionKind::Guardrail { from, reason } => (
                "rollback",
                format!("Automatic rollback of revision {from}: {reason}"),
            ),
            hangar_core::RevisionKind::Promote => ("", "Promote".to_string()),
            hangar_core::RevisionKind::AliasMoved { model, alias } => {
                ("", format!("Alias {model}@{alias} moved"))
            }
            hangar_core::RevisionKind::Deploy => ("", "Deploy".to_string()),
        };
        let _ = write!(
            out,
            r#"<li class="rev {class}" data-revision="{}"><p><strong>Revision {}</strong>{} · {} · by {} · {}</p><p>{}</p>{}</li>"#,
            r.number,
            r.number,
            if Some(r.number) == revisions.last().map(|l| l.number) {
                " (serving now)"
            } else {
                ""
            },
            if class == "rollback" {
                r#"<span class="chip warn"><span aria-hidden="true">↩</span> "#.to_string()
                    + &esc(&kind)
                    + "</span>"
            } else {
                esc(&kind)
            },
            esc(&r.actor),
            time(r.at),
            esc(&table.join(", ")),
            if r.message.is_empty() {
                String::new()
            } else {
                format!(r#"<p class="message">“{}”</p>"#, esc(&r.message))
            }
        );
    }
    out.push_str("</ol></section>");
    out
}

// ---- actions -------------------------------------------------------------

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

fn message_field(body: &[u8]) -> String {
    form_field(body, "message")
        .unwrap_or_default()
        .chars()
        .take(4096)
        .collect()
}

pub(crate) async fn rollback(
    State(state): State<AppState>,
    Extension(a): Viewer,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let message = message_field(&body);
    let done = state
        .serving
        .rollback(&name, None, &message, &a.principal.name)
        .await;
    after_action(&name, "roll back", done.map(|_| ()).map_err(ApiError::from))
}

pub(crate) async fn promote(
    State(state): State<AppState>,
    Extension(a): Viewer,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let message = message_field(&body);
    let done = state
        .serving
        .promote(&name, &message, &a.principal.name)
        .await;
    after_action(&name, "promote", done.map(|_| ()).map_err(ApiError::from))
}

fn after_action(name: &str, what: &str, done: Result<(), ApiError>) -> Response {
    match done {
        Ok(()) => see_other(&format!("/deployments/{}?done={}", url(name), url(what))),
        Err(e) => {
            let msg = if crate::http::error::status(e.code).is_server_error() {
                "the change could not be made; the cause is in the server log".to_string()
            } else {
                e.message
            };
            see_other(&format!(
                "/deployments/{}?error={}#actions",
                url(name),
                url(&msg)
            ))
        }
    }
}

// ---- models --------------------------------------------------------------

pub(crate) async fn models(State(state): State<AppState>, Extension(a): Viewer) -> Response {
    let body = async {
        let mut out = String::from("<h1>Models</h1>");
        let mut rows = String::new();
        for m in state.db.list_models().await? {
            let team = state.db.model_team(&m.name).await?.unwrap_or_default();
            if !a.principal.sees(&team) {
                continue;
            }
            let _ = write!(
                rows,
                r#"<tr><th scope="row"><a href="/models/{}">{}</a></th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                url(&m.name),
                esc(&m.name),
                esc(&team),
                esc(m.card.risk_tier.as_str()),
                m.latest_version.map_or("—".into(), |v| v.to_string()),
                esc(&m.card.description)
            );
        }
        if rows.is_empty() {
            out.push_str(r#"<p class="empty">No models you can see yet — push one with <code>hangar model push model.onnx --name NAME</code>.</p>"#);
        } else {
            let _ = write!(
                out,
                r#"<table><thead><tr><th scope="col">Model</th><th scope="col">Team</th><th scope="col">Risk tier</th><th scope="col">Latest version</th><th scope="col">Description</th></tr></thead><tbody>{rows}</tbody></table>"#
            );
        }
        Ok::<_, ApiError>(out)
    }
    .await;
    match body {
        Ok(b) => page("Models", Section::Models, Some(&a), &b),
        Err(e) => error_page(Some(&a), e),
    }
}

pub(crate) async fn model(
    State(state): State<AppState>,
    Extension(a): Viewer,
    Path(name): Path<String>,
) -> Response {
    match model_body(&state, &name).await {
        Ok(b) => page(&name, Section::Models, Some(&a), &b),
        Err(e) => error_page(Some(&a), e),
    }
}

async fn model_body(state: &AppState, name: &str) -> Result<String, ApiError> {
    let m = state.db.get_model(name).await?;
    let team = state.db.model_team(name).await?.unwrap_or_default();
    let card = &m.card;
    let mut out = String::new();
    let tier = card.risk_tier.as_str();
    let tier_chip = match tier {
        "high" => status("bad", "▲", "High risk: needs a second person's approval"),
        "medium" => status("warn", "■", "Medium risk"),
        _ => status("ok", "●", &format!("Risk tier: {tier}")),
    };
    let _ = write!(
        out,
        r#"<p class="crumbs"><a href="/models">Models</a> › {}</p><h1>{}</h1><p class="meta">Team {} · created by {} · {}</p><section class="card-doc" aria-labelledby="card-h"><h2 id="card-h">Model card</h2><p>{}</p><p>{tier_chip}</p><dl class="kv"><dt>Intended use</dt><dd>{}</dd><dt>Out of scope</dt><dd>{}</dd><dt>Tags</dt><dd>{}</dd></dl></section>"#,
        esc(name),
        esc(name),
        esc(&team),
        esc(&m.created_by),
        time(m.created_at),
        if card.description.is_empty() {
            "No description yet.".to_string()
        } else {
            esc(&card.description)
        },
        card.intended_use.as_deref().map_or_else(
            || "Not stated — write it with <code>hangar model card</code>.".into(),
            esc
        ),
        if card.out_of_scope_uses.is_empty() {
            "None listed.".to_string()
        } else {
            format!(
                "<ul><li>{}</li></ul>",
                card.out_of_scope_uses
                    .iter()
                    .map(|u| esc(u))
                    .collect::<Vec<_>>()
                    .join("</li><li>")
            )
        },
        if card.tags.is_empty() {
            "—".to_string()
        } else {
            esc(&card.tags.join(", "))
        },
    );
    let trusted: Vec<String> = state
        .db
        .list_trusted_keys()
        .await?
        .into_iter()
        .map(|k| k.public_key)
        .collect();
    out.push_str(r#"<section aria-labelledby="versions-h"><h2 id="versions-h">Versions</h2><div class="scroll"><table class="stack-sm"><thead><tr><th scope="col">Version</th><th scope="col">Digest</th><th scope="col">Signature</th><th scope="col">Approval</th><th scope="col">Lineage</th><th scope="col">Metrics</th></tr></thead><tbody>"#);
    let versions = state.db.list_versions(name).await?;
    for v in versions.iter().rev() {
        let sigs = state.db.signatures(name, v.version).await?;
        let signature = if sigs.is_empty() {
            status("none", "–", "Unsigned")
        } else if sigs.iter().any(|s| trusted.contains(&s.public_key)) {
            status("ok", "✓", "Signed by a trusted key")
        } else {
            status("warn", "!", "Signed, key not trusted")
        };
        let decisions = state.db.decisions(name, v.version).await?;
        let approval =
            match crate::service::governance::production_check(&state.db, name, v.version).await {
                Ok(()) if decisions.iter().any(|d| d.approved) => {
                    let by: Vec<&str> = decisions
                        .iter()
                        .filter(|d| d.approved)
                        .map(|d| d.by.as_str())
                        .collect();
                    status("ok", "✓", &format!("Approved by {}", by.join(", ")))
                }
                Ok(()) => status("ok", "✓", "No approval needed"),
                Err(e) => status("warn", "!", e.message()),
            };
        let lineage = [
            Some(format!("pushed by {}", v.created_by)),
            v.source_commit.as_ref().map(|c| format!("commit {c}")),
            v.training_run.as_ref().map(|r| format!("run {r}")),
        ]
        .into_iter()
        .flatten()
        .map(|s| esc(&s))
        .collect::<Vec<_>>()
        .join("<br>");
        let metrics = v
            .metrics
            .iter()
            .map(|(k, x)| format!("{}: {}", esc(k), fmt_num(*x)))
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = write!(
            out,
            r#"<tr><th scope="row">Version {}</th><td data-label="Digest"><code title="{}">{}…</code></td><td data-label="Signature">{signature}</td><td data-label="Approval">{approval}</td><td data-label="Lineage">{lineage}<br>{}</td><td data-label="Metrics">{}</td></tr>"#,
            v.version,
            esc(&v.digest),
            esc(&v.digest.chars().take(19).collect::<String>()),
            time(v.created_at),
            if metrics.is_empty() {
                "—".into()
            } else {
                metrics
            }
        );
    }
    if versions.is_empty() {
        out.push_str(r#"<tr><td colspan="6">No versions yet — push one with <code>hangar model push</code>.</td></tr>"#);
    }
    out.push_str("</tbody></table></div></section>");

    out.push_str(r#"<section aria-labelledby="aliases-h"><h2 id="aliases-h">Aliases</h2>"#);
    let aliases = state.db.list_aliases(name).await?;
    if aliases.is_empty() {
        out.push_str(r#"<p class="empty">No aliases — point one at a version with <code>hangar alias set MODEL production VERSION</code>.</p>"#);
    } else {
        out.push_str(r#"<table><thead><tr><th scope="col">Alias</th><th scope="col">Version</th><th scope="col">Set by</th><th scope="col">When</th></tr></thead><tbody>"#);
        for al in &aliases {
            let _ = write!(
                out,
                r#"<tr><th scope="row">{}</th><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                esc(&al.alias),
                al.version,
                esc(&al.updated_by),
                time(al.updated_at)
            );
        }
        out.push_str("</tbody></table>");
    }
    let history = state.db.alias_history(name, None).await?;
    if !history.is_empty() {
        out.push_str(r#"<h3>History</h3><ol class="timeline" reversed>"#);
        for e in history.iter().rev() {
            let v = |x: Option<u32>| x.map_or("nothing".into(), |v| format!("version {v}"));
            let _ = write!(
                out,
                "<li><strong>{}</strong>: {} → {} · by {} · {}</li>",
                esc(&e.alias),
                v(e.from_version),
                v(e.to_version),
                esc(&e.actor),
                time(e.at)
            );
        }
        out.push_str("</ol>");
    }
    out.push_str("</section>");
    Ok(out)
}

// ---- alerts --------------------------------------------------------------

pub(crate) async fn alerts(State(state): State<AppState>, Extension(a): Viewer) -> Response {
    let body = async {
        let teams = state.db.deployment_teams().await?;
        let sees = |d: &str| teams.get(d).is_some_and(|t| a.principal.sees(t));
        let mut out = String::from("<h1>Alerts</h1><h2>Now</h2>");
        let current: Vec<Value> = crate::http::alerts::alerts_json(&state)
            .await?
            .into_iter()
            .filter(|x| sees(x["deployment"].as_str().unwrap_or_default()))
            .collect();
        if current.is_empty() {
            out.push_str(r#"<p class="empty">No alerts are firing or pending. Default rules watch drift, the four-fifths line and error rate; add your own with <code>hangar alerts rules</code>.</p>"#);
        } else {
            out.push_str(r#"<div class="scroll"><table><thead><tr><th scope="col">State</th><th scope="col">Deployment</th><th scope="col">Rule</th><th scope="col">Severity</th><th scope="col">Condition</th><th scope="col">Value</th><th scope="col">Since</th></tr></thead><tbody>"#);
            for x in &current {
                let st = x["state"].as_str().unwrap_or_default();
                let since = x["since"]
                    .as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map_or("—".into(), |t| time(t.with_timezone(&Utc)));
                let dep = x["deployment"].as_str().unwrap_or_default();
                let _ = write!(
                    out,
                    r#"<tr><td>{}</td><td><a href="/deployments/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{since}</td></tr>"#,
                    match st {
                        "firing" => status("bad", "✕", "Firing"),
                        "pending" => status("warn", "!", "Pending"),
                        other => status("ok", "✓", other),
                    },
                    url(dep),
                    esc(dep),
                    esc(x["rule"].as_str().unwrap_or_default()),
                    esc(x["severity"].as_str().unwrap_or_default()),
                    esc(x["condition"].as_str().unwrap_or_default()),
                    show(&x["value"], 3)
                );
            }
            out.push_str("</tbody></table></div>");
        }
        out.push_str("<h2>History</h2>");
        let events: Vec<_> = state
            .db
            .alert_events(None, 200)
            .await?
            .into_iter()
            .filter(|e| sees(&e.deployment))
            .collect();
        if events.is_empty() {
            out.push_str(r#"<p class="empty">No alert has fired yet.</p>"#);
        } else {
            out.push_str(r#"<div class="scroll"><table><thead><tr><th scope="col">When</th><th scope="col">Deployment</th><th scope="col">Rule</th><th scope="col">Event</th><th scope="col">Severity</th><th scope="col">Message</th></tr></thead><tbody>"#);
            for e in events {
                let _ = write!(
                    out,
                    r#"<tr><td>{}</td><td><a href="/deployments/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                    time(e.at),
                    url(&e.deployment),
                    esc(&e.deployment),
                    esc(&e.rule),
                    esc(&e.kind),
                    esc(&e.severity),
                    esc(&e.message)
                );
            }
            out.push_str("</tbody></table></div>");
        }
        Ok::<_, ApiError>(out)
    }
    .await;
    match body {
        Ok(b) => page("Alerts", Section::Alerts, Some(&a), &b),
        Err(e) => error_page(Some(&a), e),
    }
}

// ---- audit ---------------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    actor: Option<String>,
    object: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

pub(crate) async fn audit(
    State(state): State<AppState>,
    Extension(a): Viewer,
    Query(q): Query<AuditQuery>,
) -> Response {
    match audit_body(&state, &a, &q).await {
        Ok(b) => page("Audit log", Section::Audit, Some(&a), &b),
        Err(e) => error_page(Some(&a), e),
    }
}

async fn audit_body(
    state: &AppState,
    a: &Authenticated,
    q: &AuditQuery,
) -> Result<String, ApiError> {
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
    let filter = AuditFilter {
        actor: nonempty(&q.actor),
        object: nonempty(&q.object),
        from: nonempty(&q.from)
            .as_deref()
            .map(crate::http::api::parse_time)
            .transpose()?,
        to: nonempty(&q.to)
            .as_deref()
            .map(crate::http::api::parse_time)
            .transpose()?,
        teams: crate::http::governance::audit_scope(&a.principal),
        limit: 500,
    };
    let verify = crate::http::governance::verify_json(state).await?;
    let mut out = String::from("<h1>Audit log</h1>");
    if verify["ok"].as_bool() == Some(true) {
        let _ = write!(
            out,
            r#"<p class="notice ok">{} The chain of {} entries verifies: nothing was edited, removed or reordered.</p>"#,
            status("ok", "✓", "Intact"),
            verify["entries"]
        );
    } else {
        let _ = write!(
            out,
            r#"<p class="notice bad" role="alert">{} The chain is broken at entry {}: {}</p>"#,
            status("bad", "✕", "Tampered"),
            verify["first_break"]["seq"],
            esc(verify["first_break"]["message"]
                .as_str()
                .unwrap_or_default())
        );
    }
    let v = |s: &Option<String>| esc(s.as_deref().unwrap_or_default());
    let _ = write!(
        out,
        r#"<form method="get" action="/audit" class="filters" role="search"><div><label for="f-actor">Who</label><input id="f-actor" name="actor" value="{}"></div><div><label for="f-object">What (starts with)</label><input id="f-object" name="object" value="{}" placeholder="deployments/credit-risk"></div><div><label for="f-from">From (UTC)</label><input id="f-from" name="from" value="{}" placeholder="2026-01-31T00:00:00Z"></div><div><label for="f-to">To (UTC)</label><input id="f-to" name="to" value="{}"></div><div class="row"><button type="submit" class="primary">Filter</button><a class="button" href="/audit">Clear</a></div></form>"#,
        v(&q.actor),
        v(&q.object),
        v(&q.from),
        v(&q.to)
    );
    let entries = state.db.list_audit(&filter).await?;
    if entries.is_empty() {
        out.push_str(r#"<p class="empty">No entries match.</p>"#);
        return Ok(out);
    }
    out.push_str(r#"<div class="scroll"><table><thead><tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Who</th><th scope="col">From</th><th scope="col">Action</th><th scope="col">Object</th><th scope="col">Outcome</th></tr></thead><tbody>"#);
    for e in entries {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.seq,
            DateTime::parse_from_rfc3339(&e.at)
                .map_or_else(|_| esc(&e.at), |t| time(t.with_timezone(&Utc))),
            esc(&e.actor),
            esc(&e.address),
            esc(&e.action),
            esc(&e.object),
            esc(&e.outcome)
        );
    }
    out.push_str("</tbody></table></div>");
    Ok(out)
}

/// A health's reasons, in words, as a list (nothing when there are none).
fn reasons_list(out: &mut String, health: &Value) {
    let reasons: Vec<String> = health["reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(esc))
        .collect();
    if !reasons.is_empty() {
        let _ = write!(
            out,
            r#"<ul class="reasons"><li>{}</li></ul>"#,
            reasons.join("</li><li>")
        );
    }
}
