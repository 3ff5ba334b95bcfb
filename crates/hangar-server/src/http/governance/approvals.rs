//! Four-eyes approvals of high-risk versions.

use super::*;

pub(super) fn decision_out(d: &ApprovalRecord) -> wire::Decision {
    wire::Decision {
        decision: if d.approved { "approved" } else { "rejected" }.to_owned(),
        digest: d.digest.clone(),
        comment: d.comment.clone(),
        by: d.by.clone(),
        at: secs(d.at),
    }
}

pub(super) async fn list_decisions(
    State(state): State<AppState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<wire::Approvals>, ApiError> {
    let version = version_number(&version)?;
    let v = state.db.get_version(&model, version).await?;
    let decisions = state.db.decisions(&model, version).await?;
    let reason =
        match crate::service::governance::production_check(&state.db, &model, version).await {
            Ok(()) => None,
            Err(e) => Some(e.message().to_string()),
        };
    let signatures = state
        .db
        .signatures(&model, version)
        .await?
        .into_iter()
        .map(|s| wire::VersionSignature {
            public_key: s.public_key,
            at: secs(s.created_at),
        })
        .collect();
    Ok(Json(wire::Approvals {
        model,
        version,
        digest: v.digest,
        pushed_by: v.created_by,
        decisions: decisions.iter().map(decision_out).collect(),
        production_allowed: reason.is_none(),
        reason,
        signatures,
    }))
}

pub(super) async fn decide(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    Path((model, version)): Path<(String, String)>,
    JsonBody(body): JsonBody<wire::NewDecision>,
) -> Result<Response, ApiError> {
    let version = version_number(&version)?;
    let approved = match body.decision.as_str() {
        "approve" | "approved" => true,
        "reject" | "rejected" => false,
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidDecision,
                format!(
                    "decision must be approve or reject, not {:?}",
                    other.chars().take(20).collect::<String>()
                ),
            ))
        }
    };
    let comment = body.comment.trim().to_string();
    if comment.is_empty() || comment.len() > 2000 {
        return Err(ApiError::new(
            ErrorCode::InvalidDecision,
            "a decision carries a comment (1 to 2000 characters) saying what was checked",
        ));
    }
    let v = state.db.get_version(&model, version).await?;
    if !may_decide(&a.principal.name, &v.created_by) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "four eyes: {} pushed {model}:{version} and cannot also approve or reject it; another approver must",
                a.principal.name
            ),
        ));
    }
    let record = ApprovalRecord {
        model: model.clone(),
        version,
        digest: v.digest.clone(),
        approved,
        comment,
        by: a.principal.name.clone(),
        at: Utc::now(),
    };
    state.db.add_decision(&record).await?;
    Ok((StatusCode::CREATED, Json(decision_out(&record))).into_response())
}
