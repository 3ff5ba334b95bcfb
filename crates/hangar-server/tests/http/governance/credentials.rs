//! Consumer keys (their deployment, purpose and rate) and password sessions
//! (their CSRF token).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Duration, Utc};
use hangar_server::auth::{self};
use serde_json::{json, Value};

use super::consumer_key;
use crate::common::*;

#[tokio::test]
async fn consumer_keys_serve_their_deployment_for_their_purpose_within_their_rate() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    s.deploy_reference("other", "logreg", "other-api").await;
    let (st, _) = s
        .call("PATCH", "/api/v1/models/credit", Some(json!({"intended_use": "pre-screening of loan applications", "out_of_scope_uses": ["hiring", "insurance pricing"]})))
        .await;
    assert_eq!(st, StatusCode::OK);
    let k = consumer_key(&s, "credit-api", Some(2.0)).await;
    assert_eq!(
        k["models"][0]["out_of_scope_uses"],
        json!(["hiring", "insurance pricing"]),
        "{k}"
    );
    assert_eq!(k["purpose"], "loan pre-screening");
    let token = k["token"].as_str().unwrap().to_string();
    let infer = |deployment: &str| {
        Request::builder()
            .method("POST")
            .uri(format!("/v2/models/{deployment}/infer"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(one_row_request().to_string()))
            .unwrap()
    };
    let (st, _, b) = s.send(infer("credit-api")).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    // The prediction is logged with the key's purpose.
    let mut logged = Vec::new();
    for _ in 0..50 {
        logged = s
            .state
            .db
            .predictions(
                "credit-api",
                Utc::now() - Duration::hours(1),
                Utc::now() + Duration::hours(1),
                10,
            )
            .await
            .unwrap();
        if !logged.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].purpose.as_deref(), Some("loan pre-screening"));
    let (st, _, b) = s.send(infer("other-api")).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));
    assert!(String::from_utf8_lossy(&b).contains("not issued for deployment 'other-api'"));
    // The key's rate: 2 per second with a burst of 2.
    let mut limited = None;
    for _ in 0..5 {
        let (st, h, _) = s.send(infer("credit-api")).await;
        if st == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(h);
            break;
        }
    }
    let h = limited.expect("the key was never rate limited");
    assert_eq!(h["retry-after"], "1");
    // Management routes answer in their own shape, with the code.
    let (st, _, b) = s.send(get_with_token("/api/v1/whoami", &token)).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        serde_json::from_slice::<Value>(&b).unwrap()["code"],
        "rate_limited"
    );
    // A key cannot manage anything.
    let (st, _, _) = s.send(get_with_token("/api/v1/models", &token)).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Revoked, it stops working at once.
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/consumer-keys/{}", k["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (st, _, _) = s.send(infer("credit-api")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn passwords_log_in_and_sessions_need_their_csrf_token_to_change_anything() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    create_user(&s, "mia", "default", "maintainer").await;
    let login = |pw: &str| format!("user=mia&password={pw}");
    let (st, h, _) = post_login(&s, &login("wrong+password+123")).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert_eq!(h["location"], "/login?error=1");
    let (st, h, _) = post_login(&s, &login("a+long+password+123")).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let cookie = h["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let with_cookie = |method: &str, uri: &str, csrf: Option<&str>| {
        let mut r = Request::builder()
            .method(method)
            .uri(uri)
            .header("cookie", &session)
            .header("content-type", "application/json");
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        r.body(Body::from("{}")).unwrap()
    };
    let (st, _, b) = s.send(with_cookie("GET", "/api/v1/whoami", None)).await;
    assert_eq!(st, StatusCode::OK);
    let me: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(me["name"], "mia");
    // A change without the CSRF token is refused, and with it allowed.
    let (st, _, _) = s
        .send(with_cookie(
            "POST",
            "/api/v1/deployments/credit-api/rollback",
            None,
        ))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let token = session.split_once('=').unwrap().1;
    let (_, hash) = auth::token_parts(token);
    let csrf = auth::csrf_token(&hash);
    let (st, _, b) = s
        .send(with_cookie(
            "POST",
            "/api/v1/deployments/credit-api/rollback",
            Some(&csrf),
        ))
        .await;
    assert_ne!(st, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));
    assert_ne!(st, StatusCode::UNAUTHORIZED);
    // A session cookie is not a bearer token and vice versa.
    let (st, _, _) = s.send(get_with_token("/api/v1/whoami", token)).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // A browser without a session is sent to the login form; the API answers 401.
    let page = |uri: &str| {
        Request::builder()
            .uri(uri)
            .header("accept", "text/html,application/xhtml+xml")
            .header("x-test-anonymous", "1")
            .body(Body::empty())
            .unwrap()
    };
    let (st, h, _) = s.send(page("/deployments/credit-api?range=24h")).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert_eq!(
        h["location"],
        "/login?next=/deployments/credit-api%3Frange%3D24h"
    );
    let (st, _, _) = s.send(page("/api/v1/models")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // Security headers on every answer.
    let (_, h, _) = s.send(with_cookie("GET", "/api/v1/whoami", None)).await;
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
}
