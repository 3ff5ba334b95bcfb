//! The audit log: list, filter by team, verify the hash chain.

use super::*;

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    #[serde(default)]
    pub(super) actor: Option<String>,
    #[serde(default)]
    pub(super) object: Option<String>,
    #[serde(default)]
    pub(super) from: Option<String>,
    #[serde(default)]
    pub(super) to: Option<String>,
    #[serde(default)]
    pub(super) limit: Option<u32>,
}

pub(super) fn audit_json(e: &AuditEntry) -> Value {
    json!({
        "seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "address": e.address,
        "action": e.action,
        "object": e.object,
        "outcome": e.outcome,
        "detail": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::String(e.detail.clone())),
        "hash": e.hash,
    })
}

/// The teams whose audit entries `p` may read: `None` for a Hangar
/// administrator (every entry), otherwise the teams where `p` holds a role
/// that reads the audit log (admin, approver). Entries of other teams, and
/// entries concerning no team, are left out.
pub(crate) fn audit_scope(p: &Principal) -> Option<Vec<String>> {
    if p.is_superuser() {
        return None;
    }
    let mut teams: Vec<String> = p
        .memberships()
        .iter()
        .filter(|(t, _)| p.can(Action::Audit, t))
        .map(|(t, _)| t.clone())
        .collect();
    teams.sort();
    teams.dedup();
    Some(teams)
}

pub(super) async fn list_audit(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = AuditFilter {
        actor: q.actor.filter(|s| !s.is_empty()),
        object: q.object.filter(|s| !s.is_empty()),
        from: q.from.as_deref().map(parse_time).transpose()?,
        to: q.to.as_deref().map(parse_time).transpose()?,
        teams: audit_scope(&a.principal),
        limit: q.limit.unwrap_or(200).min(10_000),
    };
    // Denials still being counted are written first, so the log read is
    // complete up to now.
    auth::flush_denials(&state, true).await;
    let entries = state.db.list_audit(&filter).await?;
    Ok(Json(
        json!({ "entries": entries.iter().map(audit_json).collect::<Vec<_>>() }),
    ))
}

pub(super) async fn verify_audit(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(verify_json(&state).await?))
}

/// The audit chain's verification as JSON (the API's and the dashboard's).
pub(crate) async fn verify_json(state: &AppState) -> Result<Value, ApiError> {
    auth::flush_denials(state, true).await;
    let (entries, head) = state.db.audit_chain().await?;
    let n = entries.len();
    let result = tokio::task::spawn_blocking(move || {
        verify_chain(&entries, head.as_ref().map(|(s, h)| (*s, h.as_str())))
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(match result {
        Ok(()) => json!({"ok": true, "entries": n, "first_break": null}),
        Err(b) => {
            let seq = match &b {
                hangar_core::governance::ChainBreak::Edited { seq }
                | hangar_core::governance::ChainBreak::Broken { seq, .. } => *seq,
                hangar_core::governance::ChainBreak::Truncated { last_seq, .. } => *last_seq + 1,
            };
            json!({"ok": false, "entries": n, "first_break": {"seq": seq, "message": b.to_string()}})
        }
    })
}
