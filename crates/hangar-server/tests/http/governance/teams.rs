//! A model's deployments move with it to another team.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::model_in;
use crate::common::*;

/// Issue 18: a model's deployments move with it to another team (audited),
/// only for someone who may deploy in both teams, and not when one of them
/// also serves another model.
#[tokio::test]
async fn a_models_deployments_move_with_it_to_another_team() {
    let s = TestServer::start().await;
    create_team(&s, "risk").await;
    create_team(&s, "credit").await;
    let maria = user_with_token(&s, "maria", "credit", "maintainer").await;
    let dora = user_with_token(&s, "dora", "risk", "data-scientist").await;
    grant_role(&s, "dora", "credit", "data-scientist").await;
    model_in(&s, "scorer", "risk", "scorer-api", "gbdt").await;
    let (st, _) = call_as(
        &s,
        &maria,
        "GET",
        "/api/v1/deployments/scorer-api",
        json!(null),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "another team's deployment is hidden"
    );

    // A data scientist of both teams may move models, not deployments.
    let (st, e) = call_as(
        &s,
        &dora,
        "PATCH",
        "/api/v1/models/scorer",
        json!({"owner_team": "credit"}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    let msg = e["error"].as_str().unwrap();
    assert!(
        msg.contains("scorer-api") && msg.contains("deploy permission"),
        "{e}"
    );
    let (_, m) = s.call("GET", "/api/v1/models/scorer", None).await;
    assert_eq!(m["owner_team"], "risk", "a refused move changes nothing");

    // The administrator moves it: the deployment follows, in one step.
    let (st, m) = s
        .call(
            "PATCH",
            "/api/v1/models/scorer",
            Some(json!({"owner_team": "credit", "description": "moved"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{m}");
    assert_eq!(m["owner_team"], "credit");
    assert_eq!(m["deployments_moved"], json!(["scorer-api"]));
    let (st, d) = call_as(
        &s,
        &maria,
        "GET",
        "/api/v1/deployments/scorer-api",
        json!(null),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "the new team's maintainer sees it: {d}");
    let (st, r) = call_as(
        &s,
        &maria,
        "PUT",
        "/api/v1/deployments/scorer-api",
        json!({"model": "scorer:1", "message": "ours now"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "...and may deploy it: {r}");
    assert_eq!(
        s.state
            .db
            .deployment_team("scorer-api")
            .await
            .unwrap()
            .as_deref(),
        Some("credit")
    );
    // The move is in the audit log under the deployment's name.
    let (_, log) = s
        .call("GET", "/api/v1/audit?object=deployments/scorer-api", None)
        .await;
    let entries = log["entries"].as_array().unwrap();
    let moved = entries
        .iter()
        .find(|e| e["action"] == "PATCH /api/v1/models/{model}")
        .unwrap_or_else(|| panic!("no audit entry for the move: {log}"));
    assert_eq!(moved["actor"], "admin");
    let detail: Value = match &moved["detail"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        other => other.clone(),
    };
    assert_eq!(
        detail["moved"],
        json!({"from_team": "risk", "to_team": "credit", "with_model": "scorer"}),
        "{moved}"
    );

    // A deployment that also serves another model of the team cannot follow.
    model_in(&s, "basic", "credit", "mixed-api", "logreg").await;
    let (st, d) = s
        .call(
            "PUT",
            "/api/v1/deployments/mixed-api",
            Some(json!({"model": "basic:1", "canary": {"model": "scorer:1", "weight": 10}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    let (st, e) = s
        .call(
            "PATCH",
            "/api/v1/models/scorer",
            Some(json!({"owner_team": "risk"})),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("mixed-api (also serves basic)"),
        "{e}"
    );
    assert_eq!(
        s.state
            .db
            .deployment_team("scorer-api")
            .await
            .unwrap()
            .as_deref(),
        Some("credit"),
        "nothing moved"
    );
}
