//! The overview: every deployment's health at a glance.

use super::*;

pub(super) struct Row {
    pub(super) name: String,
    pub(super) level: HealthLevel,
    pub(super) html: String,
}

pub(crate) async fn overview(State(state): State<AppState>, Extension(a): Viewer) -> Response {
    match overview_body(&state, &a).await {
        Ok(body) => page("Overview", Section::Overview, Some(&a), &body),
        Err(e) => error_page(Some(&a), e),
    }
}

pub(super) async fn overview_body(state: &AppState, a: &Authenticated) -> Result<String, ApiError> {
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

pub(super) async fn overview_row(
    state: &AppState,
    d: &hangar_core::Deployment,
    team: &str,
) -> Result<Row, ApiError> {
    // Health is judged over the hour the overview shows: its traffic and
    // report are the figures of the card (computed once).
    let health = crate::service::health::of(state, &d.name).await?;
    let level = health.health.level;
    let traffic = &health.traffic;
    let report = health.report.as_deref();
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
    reasons_list(&mut h, &health.health.reasons);
    let error_rate = if traffic.requests > 0 {
        pct(traffic.errors as f64 / traffic.requests as f64)
    } else {
        "—".into()
    };
    let drift = match report.and_then(|r| r.drift_share.map(|s| (s, r))) {
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
    let fairness = match report.filter(|r| !r.fairness.is_empty()) {
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
    let firing: Vec<String> = health
        .firing
        .iter()
        .map(|f| format!("{} ({})", esc(&f.rule.name), esc(f.rule.severity.as_str())))
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
