//! Four-eyes approval: a high-risk version needs a second person's approval
//! before production traffic, and a model becomes high-risk only once its
//! serving versions are approved.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use super::model_in;
use crate::common::*;

#[tokio::test]
async fn a_high_risk_version_needs_a_second_persons_approval_before_production_traffic() {
    let s = TestServer::start().await;
    create_team(&s, "risk").await;
    // Dana pushes models and may also approve; Alex approves; Max deploys.
    let dana = user_with_token(&s, "dana", "risk", "data-scientist").await;
    grant_role(&s, "dana", "risk", "approver").await;
    let alex = user_with_token(&s, "alex", "risk", "approver").await;
    let max = user_with_token(&s, "max", "risk", "maintainer").await;
    let (st, m) = call_as(
        &s,
        &dana,
        "POST",
        "/api/v1/models",
        json!({"name": "loan", "risk_tier": "high"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    assert_eq!(
        m["owner_team"], "risk",
        "a model goes to its creator's only team"
    );
    // Dana pushes version 1 (through the multipart upload, as herself).
    let boundary = "b0undary";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"artifact\"; filename=\"m.onnx\"\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes();
    body.extend_from_slice(&reference_model("gbdt"));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (st, _, b) = s
        .send(
            Request::builder()
                .method("POST")
                .uri("/api/v1/models/loan/versions")
                .header("authorization", format!("Bearer {dana}"))
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["created_by"], "dana");
    // A low-risk model in the same team serves; loan:1 may shadow it.
    let (st, m) = call_as(
        &s,
        &dana,
        "POST",
        "/api/v1/models",
        json!({"name": "basic"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    let (st, v) = s.upload("basic", &reference_model("logreg"), None).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, d) = call_as(
        &s,
        &max,
        "PUT",
        "/api/v1/deployments/loan-api",
        json!({"model": "basic:1", "shadow": "loan:1"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "shadow traffic needs no approval: {d}");

    // Production traffic is refused until approval, with the reason.
    let (st, e) = call_as(
        &s,
        &max,
        "PUT",
        "/api/v1/deployments/loan-api",
        json!({"model": "basic:1", "canary": {"model": "loan:1", "weight": 10}}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["code"], "approval_required");
    assert!(e["error"].as_str().unwrap().contains("loan:1"), "{e}");
    let (st, e) = call_as(
        &s,
        &max,
        "PUT",
        "/api/v1/models/loan/aliases/production",
        json!({"version": 1}),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "the production alias is production traffic: {e}"
    );

    // The pusher cannot approve her own version, even as an approver.
    let (st, e) = call_as(
        &s,
        &dana,
        "POST",
        "/api/v1/models/loan/versions/1/approvals",
        json!({"decision": "approve", "comment": "looks fine"}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert!(e["error"].as_str().unwrap().contains("four eyes"), "{e}");
    // A maintainer is no approver.
    let (st, _) = call_as(
        &s,
        &max,
        "POST",
        "/api/v1/models/loan/versions/1/approvals",
        json!({"decision": "approve", "comment": "ok"}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // A comment is required.
    let (st, _) = call_as(
        &s,
        &alex,
        "POST",
        "/api/v1/models/loan/versions/1/approvals",
        json!({"decision": "approve", "comment": " "}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // A rejection keeps it out.
    let (st, _) = call_as(
        &s,
        &alex,
        "POST",
        "/api/v1/models/loan/versions/1/approvals",
        json!({"decision": "reject", "comment": "fairness report missing"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, e) = call_as(
        &s,
        &max,
        "PUT",
        "/api/v1/deployments/loan-api",
        json!({"model": "loan:1"}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("rejected by alex"),
        "{e}"
    );
    // A second person's approval of this exact digest lets it in.
    let (st, a) = call_as(
        &s,
        &alex,
        "POST",
        "/api/v1/models/loan/versions/1/approvals",
        json!({"decision": "approve", "comment": "fairness report reviewed"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    assert!(a["digest"].as_str().unwrap().starts_with("sha256:"));
    let (st, d) = call_as(
        &s,
        &max,
        "PUT",
        "/api/v1/deployments/loan-api",
        json!({"model": "loan:1"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    let (st, a) = s
        .call("GET", "/api/v1/models/loan/versions/1/approvals", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(a["production_allowed"], true);
    assert_eq!(a["pushed_by"], "dana");
    assert_eq!(a["decisions"].as_array().unwrap().len(), 2);
    // The audit log holds both decisions and the deployments, by name.
    let (_, log) = s
        .call("GET", "/api/v1/audit?object=models/loan", None)
        .await;
    let approvals: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"] == "POST /api/v1/models/{model}/versions/{version}/approvals"
                && e["outcome"] == "ok"
        })
        .collect();
    assert_eq!(approvals.len(), 2, "{log}");
    assert!(approvals.iter().all(|e| e["actor"] == "alex"));
}

/// Issue 18: a model becomes high-risk only when no version of it gets
/// production traffic without four-eyes approval; the refusal names them.
#[tokio::test]
async fn raising_a_model_to_high_risk_waits_until_its_serving_versions_are_approved() {
    let s = TestServer::start().await;
    create_team(&s, "risk").await;
    let alex = user_with_token(&s, "alex", "risk", "approver").await;
    model_in(&s, "loan", "risk", "loan-api", "gbdt").await;
    let (st, _) = s
        .call(
            "PUT",
            "/api/v1/models/loan/aliases/production",
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = s.upload("loan", &reference_model("logreg"), None).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");

    let (st, e) = s
        .call(
            "PATCH",
            "/api/v1/models/loan",
            Some(json!({"risk_tier": "high"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["code"], "approval_required");
    let msg = e["error"].as_str().unwrap();
    assert!(
        msg.contains("loan:1 (100% of deployment loan-api, the production alias; pushed by admin, not approved)"),
        "{msg}"
    );
    assert!(!msg.contains("loan:2"), "version 2 serves nothing: {msg}");
    let (_, m) = s.call("GET", "/api/v1/models/loan", None).await;
    assert_eq!(m["risk_tier"], "low", "the refused change changed nothing");

    // Other fields of the card can still change.
    let (st, m) = s
        .call(
            "PATCH",
            "/api/v1/models/loan",
            Some(json!({"intended_use": "pre-screening"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{m}");

    // Approved by someone other than its pusher, it may become high-risk.
    let (st, a) = call_as(
        &s,
        &alex,
        "POST",
        "/api/v1/models/loan/versions/1/approvals",
        json!({"decision": "approve", "comment": "validation report reviewed"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    let (st, m) = s
        .call(
            "PATCH",
            "/api/v1/models/loan",
            Some(json!({"risk_tier": "high"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{m}");
    assert_eq!(m["risk_tier"], "high");
    // From now on the unapproved version 2 gets no production traffic.
    let (st, e) = s
        .call(
            "PUT",
            "/api/v1/deployments/loan-api",
            Some(json!({"model": "loan:2"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
}
