//! The audit page.

use super::*;

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    pub(super) actor: Option<String>,
    pub(super) object: Option<String>,
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
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

pub(super) async fn audit_body(
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
    let verify = crate::http::governance::verify(state).await?;
    let mut out = String::from("<h1>Audit log</h1>");
    match (&verify.first_break, verify.ok) {
        (None, true) => {
            let _ = write!(
                out,
                r#"<p class="notice ok">{} The chain of {} entries verifies: nothing was edited, removed or reordered.</p>"#,
                status("ok", "✓", "Intact"),
                verify.entries
            );
        }
        (broken, _) => {
            let _ = write!(
                out,
                r#"<p class="notice bad" role="alert">{} The chain is broken at entry {}: {}</p>"#,
                status("bad", "✕", "Tampered"),
                broken.as_ref().map_or("—".into(), |b| b.seq.to_string()),
                esc(broken.as_ref().map_or("", |b| b.message.as_str()))
            );
        }
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
