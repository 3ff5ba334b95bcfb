//! The models' pages: list, one model with its versions, card and approvals.

use super::*;

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

pub(super) async fn model_body(state: &AppState, name: &str) -> Result<String, ApiError> {
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
