//! Four-eyes approvals of high-risk versions.

use super::*;

pub(super) fn decision_json(d: &ApprovalRecord) -> Value {
    json!({
        "decision": if d.approved { "approved" } else { "rejected" },
        "digest": d.digest,
        "comment": d.comment,
        "by": d.by,
        "at": ts(d.at),
    })
}

pub(super) async fn list_decisions(
    State(state): State<AppState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let version = version_number(&version)?;
    let v = state.db.get_version(&model, version).await?;
    let decisions = state.db.decisions(&model, version).await?;
    let status =
        match crate::service::governance::production_check(&state.db, &model, version).await {
            Ok(()) => json!({"production_allowed": true, "reason": null}),
            Err(e) => json!({"production_allowed": false, "reason": e.message()}),
        };
    let signatures: Vec<Value> = state
        .db
        .signatures(&model, version)
        .await?
        .into_iter()
        .map(|s| json!({"public_key": s.public_key, "at": ts(s.created_at)}))
        .collect();
    Ok(Json(json!({
        "model": model,
        "version": version,
        "digest": v.digest,
        "pushed_by": v.created_by,
        "decisions": decisions.iter().map(decision_json).collect::<Vec<_>>(),
        "production_allowed": status["production_allowed"],
        "reason": status["reason"],
        "signatures": signatures,
    })))
}

#[derive(Deserialize)]
pub(super) struct DecisionBody {
    pub(super) decision: String,
    pub(super) comment: String,
}

pub(super) async fn decide(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    Path((model, version)): Path<(String, String)>,
    JsonBody(body): JsonBody<DecisionBody>,
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
    Ok((StatusCode::CREATED, Json(decision_json(&record))).into_response())
}
