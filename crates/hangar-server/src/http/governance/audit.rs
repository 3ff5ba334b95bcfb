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

pub(super) fn audit_out(e: &AuditEntry) -> wire::AuditEntry {
    wire::AuditEntry {
        seq: e.seq,
        at: e.at.clone(),
        actor: e.actor.clone(),
        address: e.address.clone(),
        action: e.action.clone(),
        object: e.object.clone(),
        outcome: e.outcome.clone(),
        detail: serde_json::from_str(&e.detail)
            .unwrap_or_else(|_| wire::Detail::String(e.detail.clone())),
        hash: e.hash.clone(),
    }
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
) -> Result<Json<wire::AuditLog>, ApiError> {
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
    Ok(Json(wire::AuditLog {
        entries: entries.iter().map(audit_out).collect(),
    }))
}

pub(super) async fn verify_audit(
    State(state): State<AppState>,
) -> Result<Json<wire::AuditVerification>, ApiError> {
    Ok(Json(verify(&state).await?))
}

/// The audit chain's verification.
pub(crate) async fn verify(state: &AppState) -> Result<wire::AuditVerification, ApiError> {
    auth::flush_denials(state, true).await;
    let (entries, head) = state.db.audit_chain().await?;
    let n = entries.len();
    let result = tokio::task::spawn_blocking(move || {
        verify_chain(&entries, head.as_ref().map(|(s, h)| (*s, h.as_str())))
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(wire::AuditVerification {
        ok: result.is_ok(),
        entries: n as u64,
        first_break: result.err().map(|b| {
            let seq = match &b {
                hangar_core::governance::ChainBreak::Edited { seq }
                | hangar_core::governance::ChainBreak::Broken { seq, .. } => *seq,
                hangar_core::governance::ChainBreak::Truncated { last_seq, .. } => *last_seq + 1,
            };
            wire::ChainBreak {
                seq,
                message: b.to_string(),
            }
        }),
    })
}
