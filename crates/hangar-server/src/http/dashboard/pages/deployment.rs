//! One deployment's page: health, traffic, drift, performance, fairness, revisions.

use super::*;

#[derive(Deserialize)]
pub(crate) struct DeploymentQuery {
    pub(super) range: Option<String>,
    pub(super) confirm: Option<String>,
    pub(super) done: Option<String>,
    pub(super) error: Option<String>,
}

pub(super) const RANGES: [(&str, i64); 4] = [
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

pub(super) async fn deployment_body(
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
    let health = crate::service::health::of(state, name).await?;
    let level = health.health.level;
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
    reasons_list(&mut out, &health.health.reasons);

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
    let report = crate::http::monitoring::report(state, name, from, to, None).await?;
    if let Some(f) = &report.figures {
        let _ = write!(
            out,
            r#"<p class="hint">Drift, performance and fairness below are for {}:{}, the version that answered most rows in this range.</p>"#,
            esc(&f.model),
            f.version
        );
    }
    out.push_str(&errors_section(state, name));
    out.push_str(&drift_section(&report));
    out.push_str(&performance_section(&report, name));
    out.push_str(&fairness_section(&report));
    out.push_str(&timeline(&revisions));
    Ok(out)
}

pub(super) fn actions(
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
pub(super) async fn time_charts(
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
pub(super) fn errors_section(state: &AppState, name: &str) -> String {
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

pub(super) fn drift_section(report: &wire::MonitoringReport) -> String {
    let mut out = String::from(
        r#"<section aria-labelledby="drift-h"><h2 id="drift-h">Input drift</h2><p class="explain">PSI (population stability index) says how far a feature's values in this range moved from the training data: below 0.1 is stable, 0.1 to 0.25 a moderate shift, above 0.25 a major shift. "Drifted" is decided by the statistical test named in the table.</p>"#,
    );
    let figures = report.figures.as_ref();
    let Some(features) = figures.map(|f| &f.features).filter(|f| !f.is_empty()) else {
        let msg = report
            .message
            .as_deref()
            .unwrap_or("no predictions in this range yet");
        let _ = write!(
            out,
            r#"<p class="empty">No drift figures: {}. Drift needs a baseline (the training data): <code>hangar model push … --baseline train.csv</code>.</p></section>"#,
            esc(msg)
        );
        return out;
    };
    let psi = |v: &wire::ColumnDrift| finite(v.psi).unwrap_or(0.0);
    let mut rows: Vec<(&String, &wire::ColumnDrift)> = features.iter().collect();
    rows.sort_by(|x, y| psi(y.1).total_cmp(&psi(x.1)).then(x.0.cmp(y.0)));
    if let Some(share) = figures.and_then(|f| finite(f.drift_share)) {
        let drifted = rows.iter().filter(|(_, v)| v.drifted).count();
        let chip = if figures.and_then(|f| f.dataset_drifted) == Some(true) {
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
            let psi = psi(v);
            Bar {
                label: (*k).clone(),
                value: psi,
                class: if v.drifted || psi > PSI_MAJOR {
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
            show(v.psi, 3),
            esc(&v.test),
            show(v.test_score, 3),
            if v.drifted {
                status("bad", "✕", "Drifted")
            } else {
                status("ok", "✓", "No")
            }
        );
    }
    out.push_str("</tbody></table></details></section>");
    out
}

pub(super) fn performance_section(report: &wire::MonitoringReport, name: &str) -> String {
    let mut out = String::from(
        r#"<section aria-labelledby="perf-h"><h2 id="perf-h">Performance</h2><p class="explain">Measured on the predictions whose true outcome has arrived; estimated from the model's own confidence before that (so a drop shows before the outcomes do).</p>"#,
    );
    let figures = report.figures.as_ref();
    let measured = figures
        .and_then(|f| f.performance.as_ref())
        .map(|p| [p.accuracy, p.precision, p.recall, p.f1, p.roc_auc]);
    let estimated = figures
        .and_then(|f| f.estimated_performance.as_ref())
        .map(|p| [p.accuracy, p.precision, p.recall, p.f1, p.roc_auc]);
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
    for (i, m) in metrics.into_iter().enumerate() {
        if let Some(v) = measured.and_then(|p| finite(p[i])) {
            bars.push(Bar {
                label: format!("{m} (measured)"),
                value: v,
                class: "s1",
            });
        }
        if let Some(v) = estimated.and_then(|p| finite(p[i])) {
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
        report.labeled_rows
    );
    for (i, m) in metrics.into_iter().enumerate() {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{m}</th><td>{}</td><td>{}</td></tr>",
            measured.map_or("—".into(), |p| show(p[i], 3)),
            estimated.map_or("—".into(), |p| show(p[i], 3)),
        );
    }
    out.push_str("</tbody></table></details></section>");
    out
}

pub(super) fn fairness_section(report: &wire::MonitoringReport) -> String {
    let mut out = String::from(
        r#"<section aria-labelledby="fair-h"><h2 id="fair-h">Fairness</h2><p class="explain">How often each group gets the positive decision, relative to the group that gets it most. Below 0.8 (the four-fifths rule) a group is treated markedly worse.</p>"#,
    );
    let Some(attrs) = report
        .figures
        .as_ref()
        .map(|f| &f.fairness)
        .filter(|f| !f.is_empty())
    else {
        out.push_str(r#"<p class="empty">No groups recorded — name a segment attribute when deploying (<code>hangar deploy NAME --model M:V --segment group</code>) and send it with each prediction.</p></section>"#);
        return out;
    };
    for (attr, f) in attrs {
        let groups = &f.groups;
        let top = groups
            .values()
            .filter_map(|g| finite(g.selection_rate))
            .fold(0.0f64, f64::max);
        let ratio = |g: &wire::GroupRates| {
            let s = finite(g.selection_rate).unwrap_or(0.0);
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
        let dpr = finite(f.demographic_parity_ratio);
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
        for (k, g) in groups {
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td></tr>",
                esc(k),
                g.count,
                show(g.selection_rate, 3),
                ratio(g),
                show(g.tpr, 3),
                show(g.fpr, 3),
            );
        }
        out.push_str("</tbody></table></details>");
    }
    out.push_str("</section>");
    out
}

pub(super) fn timeline(revisions: &[hangar_core::Revision]) -> String {
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
