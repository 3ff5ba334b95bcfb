//! Deployments: create, swap atomically, follow aliases, survive restarts.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_deployment_serves_the_version_it_points_at() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    let (st, d) = s.call("GET", "/api/v1/deployments/credit-api", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(d["target"], "credit:1");
    assert_eq!(d["version"], 1);
    assert_eq!(d["ready"], true);
    assert_eq!(d["endpoint"], "/v2/models/credit-api/infer");
    assert_eq!(d["updated_by"], "admin");
    let (st, r) = s.infer("credit-api", one_row_request()).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["model_version"], "1");
    let (_, list) = s.call("GET", "/api/v1/deployments", None).await;
    assert_eq!(list["deployments"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_deployment_requests_change_nothing() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    for (body, status) in [
        (json!({"model": "credit"}), StatusCode::BAD_REQUEST),
        (json!({"model": "credit:0"}), StatusCode::BAD_REQUEST),
        (json!({"model": "credit:9"}), StatusCode::NOT_FOUND),
        (json!({"model": "nope:1"}), StatusCode::NOT_FOUND),
        (json!({"model": "credit@production"}), StatusCode::NOT_FOUND),
        (json!({"version": 1}), StatusCode::BAD_REQUEST),
    ] {
        let (st, e) = s
            .call("PUT", "/api/v1/deployments/credit-api", Some(body.clone()))
            .await;
        assert_eq!(st, status, "{body} -> {e}");
        assert!(e["error"].is_string());
    }
    let (st, _) = s
        .call(
            "PUT",
            "/api/v1/deployments/Bad_Name",
            Some(json!({"model": "credit:1"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (_, d) = s.call("GET", "/api/v1/deployments/credit-api", None).await;
    assert_eq!(d["target"], "credit:1");
    let (st, _) = s.call("GET", "/api/v1/deployments/nope", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s.call("DELETE", "/api/v1/deployments/nope", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s
        .call("DELETE", "/api/v1/deployments/credit-api", None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.infer("credit-api", one_row_request()).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_deployment_following_an_alias_moves_with_it() {
    let s = TestServer::start().await;
    s.call("POST", "/api/v1/models", Some(json!({"name": "credit"})))
        .await;
    s.upload("credit", &reference_model("gbdt"), None).await;
    s.upload("credit", &reference_model("logreg"), None).await;
    s.call(
        "PUT",
        "/api/v1/models/credit/aliases/production",
        Some(json!({"version": 1})),
    )
    .await;
    let (st, d) = s
        .call(
            "PUT",
            "/api/v1/deployments/credit-api",
            Some(json!({"model": "credit@production"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["version"], 1);
    let (_, r) = s.infer("credit-api", one_row_request()).await;
    assert_eq!(r["model_version"], "1");

    s.call(
        "PUT",
        "/api/v1/models/credit/aliases/production",
        Some(json!({"version": 2})),
    )
    .await;
    let (_, d) = s.call("GET", "/api/v1/deployments/credit-api", None).await;
    assert_eq!(d["version"], 2);
    assert_eq!(d["target"], "credit@production");
    let (_, r) = s.infer("credit-api", one_row_request()).await;
    assert_eq!(r["model_version"], "2");
}

#[tokio::test]
async fn deployments_survive_a_restart() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    let s = s.restart().await;
    let (st, r) = s.infer("credit-api", one_row_request()).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["model_version"], "1");
}

#[tokio::test]
async fn a_corrupted_artifact_fails_its_deployment_only() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    s.deploy_reference("other", "logreg", "other-api").await;
    // Corrupt the gbdt artifact on disk behind the server's back.
    let (_, v) = s
        .call("GET", "/api/v1/models/credit/versions/1", None)
        .await;
    let hex = v["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap()
        .to_string();
    for path in s.artifact_copies(&hex) {
        std::fs::write(&path, b"tampered").unwrap();
    }

    let s = s.restart().await;
    let (st, e) = s.infer("credit-api", one_row_request()).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("failed verification"),
        "{e}"
    );
    let (st, _) = s.call("GET", "/v2/models/credit-api/ready", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (_, d) = s.call("GET", "/api/v1/deployments/credit-api", None).await;
    assert_eq!(d["ready"], false);
    let (st, _) = s.infer("other-api", one_row_request()).await;
    assert_eq!(st, StatusCode::OK, "the healthy deployment keeps serving");
    let (st, _) = s.call("GET", "/v2/health/ready", None).await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swapping_versions_under_load_fails_no_request() {
    let s = Arc::new(TestServer::start().await);
    s.call("POST", "/api/v1/models", Some(json!({"name": "credit"})))
        .await;
    s.upload("credit", &reference_model("gbdt"), None).await;
    s.upload("credit", &reference_model("mlp"), None).await;
    s.call(
        "PUT",
        "/api/v1/deployments/credit-api",
        Some(json!({"model": "credit:1"})),
    )
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (s, stop, ok) = (s.clone(), stop.clone(), ok.clone());
        clients.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (st, r) = s.infer("credit-api", one_row_request()).await;
                if st == StatusCode::OK && (r["model_version"] == "1" || r["model_version"] == "2")
                {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failures.push(format!("{st} {r}"));
                }
            }
            failures
        }));
    }
    for i in 0..10 {
        let target = if i % 2 == 0 { "credit:2" } else { "credit:1" };
        let (st, d) = s
            .call(
                "PUT",
                "/api/v1/deployments/credit-api",
                Some(json!({"model": target})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{d}");
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let failures = c.await.unwrap();
        assert!(
            failures.is_empty(),
            "failed requests during swaps: {failures:?}"
        );
    }
    assert!(ok.load(Ordering::Relaxed) > 0);
}

/// Two settings patches sent at once both take effect: each is merged into
/// the settings current when its change runs, not when its request arrived.
#[tokio::test]
async fn concurrent_settings_patches_both_take_effect() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "api").await;
    for i in 0..8u64 {
        let batch = s.call(
            "PUT",
            "/api/v1/deployments/api",
            Some(json!({ "model": "credit:1", "settings": { "max_batch_size": 10 + i } })),
        );
        let timeout = s.call(
            "PUT",
            "/api/v1/deployments/api",
            Some(json!({ "model": "credit:1", "settings": { "timeout_ms": 1000 + i } })),
        );
        let ((a, va), (b, vb)) = tokio::join!(batch, timeout);
        assert_eq!(a, StatusCode::OK, "{va}");
        assert_eq!(b, StatusCode::OK, "{vb}");
        let (st, d) = s.call("GET", "/api/v1/deployments/api", None).await;
        assert_eq!(st, StatusCode::OK, "{d}");
        let settings = &d["current"]["settings"];
        assert_eq!(settings["max_batch_size"], 10 + i, "round {i}: {settings}");
        assert_eq!(settings["timeout_ms"], 1000 + i, "round {i}: {settings}");
    }
}

/// A shadow must be a version that serves no live traffic, named directly
/// or through an alias that resolves to a live version; a refused change
/// leaves the deployment as it was.
#[tokio::test]
async fn a_shadow_that_is_the_live_version_is_refused_however_it_is_named() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "api").await;
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/models/credit/aliases/staging",
            Some(json!({ "version": 1 })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    for shadow in ["credit:1", "credit@staging"] {
        let (st, e) = s
            .call(
                "PUT",
                "/api/v1/deployments/api",
                Some(json!({ "model": "credit:1", "shadow": shadow })),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{shadow}: {e}");
        assert!(
            e["error"]
                .as_str()
                .unwrap()
                .contains("also takes live traffic"),
            "{shadow}: {e}"
        );
    }
    let (_, d) = s.call("GET", "/api/v1/deployments/api", None).await;
    assert_eq!(d["current"]["revision"], 1, "{d}");
    assert_eq!(d["current"]["shadow"], serde_json::Value::Null, "{d}");
}
