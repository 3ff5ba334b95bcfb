//! The alerts page.

use super::*;

pub(crate) async fn alerts(State(state): State<AppState>, Extension(a): Viewer) -> Response {
    let body = async {
        let teams = state.db.deployment_teams().await?;
        let sees = |d: &str| teams.get(d).is_some_and(|t| a.principal.sees(t));
        let mut out = String::from("<h1>Alerts</h1><h2>Now</h2>");
        let current: Vec<wire::Alert> = crate::http::alerts::alerts(&state)
            .await?
            .into_iter()
            .filter(|x| sees(&x.deployment))
            .collect();
        if current.is_empty() {
            out.push_str(r#"<p class="empty">No alerts are firing or pending. Default rules watch drift, the four-fifths line and error rate; add your own with <code>hangar alerts rules</code>.</p>"#);
        } else {
            out.push_str(r#"<div class="scroll"><table><thead><tr><th scope="col">State</th><th scope="col">Deployment</th><th scope="col">Rule</th><th scope="col">Severity</th><th scope="col">Condition</th><th scope="col">Value</th><th scope="col">Since</th></tr></thead><tbody>"#);
            for x in &current {
                let since = x.since.flatten().map_or("—".into(), time);
                let _ = write!(
                    out,
                    r#"<tr><td>{}</td><td><a href="/deployments/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{since}</td></tr>"#,
                    match x.state.as_str() {
                        "firing" => status("bad", "✕", "Firing"),
                        "pending" => status("warn", "!", "Pending"),
                        other => status("ok", "✓", other),
                    },
                    url(&x.deployment),
                    esc(&x.deployment),
                    esc(&x.rule),
                    esc(x.severity.as_deref().unwrap_or_default()),
                    esc(x.condition.as_deref().unwrap_or_default()),
                    show(x.value, 3)
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
