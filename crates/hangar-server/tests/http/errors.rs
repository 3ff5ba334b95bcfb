//! Error codes end to end: each refusal names what went wrong with a
//! specific, stable `code` (docs/errors.md), under the status it always had.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

/// One request and the answer it must get: status, `code`, and a part of
/// the message.
async fn check(
    s: &TestServer,
    (method, uri, body): (&str, &str, Option<Value>),
    (status, code, message): (StatusCode, &str, &str),
) {
    let (st, e) = s.call(method, uri, body).await;
    assert_eq!(st, status, "{method} {uri}: {e}");
    assert_eq!(e["code"], code, "{method} {uri}: {e}");
    let text = e["error"].as_str().unwrap_or_default();
    assert!(text.contains(message), "{method} {uri}: {text}");
}

#[tokio::test]
async fn unknown_objects_are_named_in_the_code() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    let not_found = StatusCode::NOT_FOUND;
    for (request, answer) in [
        (
            ("GET", "/api/v1/models/nope", None),
            (not_found, "model_not_found", "model 'nope' not found"),
        ),
        (
            ("GET", "/api/v1/models/nope/versions/1", None),
            (not_found, "model_not_found", "model 'nope' not found"),
        ),
        (
            ("GET", "/api/v1/models/credit/versions/9", None),
            (
                not_found,
                "version_not_found",
                "version 9 of model 'credit' not found",
            ),
        ),
        (
            ("GET", "/api/v1/models/credit/aliases/production", None),
            (
                not_found,
                "alias_not_found",
                "alias 'production' of model 'credit' not found",
            ),
        ),
        (
            ("GET", "/api/v1/deployments/nope", None),
            (
                not_found,
                "deployment_not_found",
                "deployment 'nope' not found",
            ),
        ),
        (
            ("DELETE", "/api/v1/deployments/nope", None),
            (
                not_found,
                "deployment_not_found",
                "deployment 'nope' not found",
            ),
        ),
        (
            ("GET", "/api/v1/deployments/credit-api/revisions/9", None),
            (not_found, "revision_not_found", "revision 9"),
        ),
        // Deploying what does not exist names the missing part.
        (
            (
                "PUT",
                "/api/v1/deployments/credit-api",
                Some(json!({"model": "nope:1"})),
            ),
            (not_found, "model_not_found", "model 'nope' not found"),
        ),
        (
            (
                "PUT",
                "/api/v1/deployments/credit-api",
                Some(json!({"model": "credit:9"})),
            ),
            (
                not_found,
                "version_not_found",
                "version 9 of model 'credit'",
            ),
        ),
        (
            (
                "PUT",
                "/api/v1/deployments/credit-api",
                Some(json!({"model": "credit@production"})),
            ),
            (not_found, "alias_not_found", "alias 'production'"),
        ),
        // A route the API does not have stays the generic code.
        (
            ("GET", "/api/v1/nothing-here", None),
            (not_found, "not_found", "no such route"),
        ),
    ] {
        check(&s, request, answer).await;
    }
}

#[tokio::test]
async fn creating_what_exists_is_name_taken() {
    let s = TestServer::start().await;
    let create = ("POST", "/api/v1/models", Some(json!({"name": "credit"})));
    let (st, m) = s.call(create.0, create.1, create.2.clone()).await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    check(
        &s,
        create,
        (
            StatusCode::CONFLICT,
            "name_taken",
            "model 'credit' already exists",
        ),
    )
    .await;
    create_team(&s, "risk").await;
    check(
        &s,
        ("POST", "/api/v1/teams", Some(json!({"name": "risk"}))),
        (
            StatusCode::CONFLICT,
            "name_taken",
            "team 'risk' already exists",
        ),
    )
    .await;
}

#[tokio::test]
async fn routing_tables_that_cannot_be_served_are_invalid_routes() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    let bad = StatusCode::BAD_REQUEST;
    for (body, message) in [
        (
            json!({"routes": [{"model": "credit:1", "weight": 90}]}),
            "sum to 100",
        ),
        (json!({"routes": []}), "at least one route"),
        (
            json!({"routes": [{"model": "credit:1", "weight": 50}, {"model": "credit:1", "weight": 50}]}),
            "appears twice",
        ),
        (
            json!({"model": "credit:1", "shadow": "credit:1"}),
            "also takes live traffic",
        ),
        (
            json!({"model": "credit:1", "canary": {"model": "credit:1", "weight": 100}}),
            "invalid canary weight",
        ),
        (json!({"model": "credit"}), "credit"),
        (
            json!({"canary": {"model": "credit:1", "weight": 10}}),
            "\"canary\" needs \"model\"",
        ),
        (json!({"message": "nothing to serve"}), "missing \"model\""),
    ] {
        check(
            &s,
            ("PUT", "/api/v1/deployments/credit-api", Some(body)),
            (bad, "invalid_routes", message),
        )
        .await;
    }
    // Asking for a change the deployment's state does not allow.
    check(
        &s,
        ("POST", "/api/v1/deployments/credit-api/promote", None),
        (bad, "no_canary", "no canary"),
    )
    .await;
    check(
        &s,
        ("POST", "/api/v1/deployments/credit-api/rollback", None),
        (bad, "invalid_rollback", "nothing to roll back to"),
    )
    .await;
    // Nothing changed.
    let (_, d) = s.call("GET", "/api/v1/deployments/credit-api", None).await;
    assert_eq!(d["target"], "credit:1", "{d}");
}

#[tokio::test]
async fn a_model_of_another_team_is_answered_as_a_missing_one() {
    let s = TestServer::start().await;
    create_team(&s, "risk").await;
    create_team(&s, "fraud").await;
    let (st, m) = s
        .call(
            "POST",
            "/api/v1/models",
            Some(json!({"name": "credit", "owner_team": "risk"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    let token = user_with_token(&s, "eve", "fraud", "viewer").await;
    let hidden = call_as(&s, &token, "GET", "/api/v1/models/credit", Value::Null).await;
    let missing = call_as(&s, &token, "GET", "/api/v1/models/nope", Value::Null).await;
    assert_eq!(hidden.0, StatusCode::NOT_FOUND, "{}", hidden.1);
    assert_eq!(hidden.1["code"], "model_not_found", "{}", hidden.1);
    assert_eq!(hidden.1["error"], "model 'credit' not found");
    assert_eq!(missing.0, StatusCode::NOT_FOUND);
    assert_eq!(missing.1["code"], hidden.1["code"]);
}
