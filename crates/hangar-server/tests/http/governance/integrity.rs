//! The audit chain caught after a row is edited directly in SQLite, and a
//! corrupted artifact that fails to load.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn the_audit_verifier_names_the_entry_edited_directly_in_sqlite() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    create_team(&s, "risk").await;
    create_user(&s, "val", "risk", "viewer").await;
    let (st, v) = s.call("GET", "/api/v1/audit/verify", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["ok"], true, "{v}");
    let n = v["entries"].as_u64().unwrap();
    assert!(n >= 5, "{v}");
    // Secrets never reach the log.
    let (_, log) = s.call("GET", "/api/v1/audit?limit=1000", None).await;
    let text = log.to_string();
    assert!(!text.contains(USER_PASSWORD));
    assert!(!text.contains(ADMIN_TOKEN));

    // Someone with access to the database edits entry 3: who did it.
    let pool = s.sql().await;
    pool.drop_trigger("audit_append_only", "audit_log").await;
    pool.execute("UPDATE audit_log SET actor = 'somebody-else' WHERE seq = 3")
        .await;
    let (_, v) = s.call("GET", "/api/v1/audit/verify", None).await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["first_break"]["seq"], 3, "{v}");
    assert!(v["first_break"]["message"]
        .as_str()
        .unwrap()
        .contains("edited"));
    // The dashboard's audit page says so, naming the entry.
    let req = axum::http::Request::builder()
        .uri("/audit")
        .body(axum::body::Body::empty())
        .unwrap();
    let (st, _, page) = s.send(req).await;
    assert_eq!(st, StatusCode::OK);
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("Tampered") && page.contains("The chain is broken at entry 3:"),
        "{page}"
    );

    // Put it back and delete entry 2 instead: the chain breaks at 3.
    pool.execute("UPDATE audit_log SET actor = 'admin' WHERE seq = 3")
        .await;
    let (_, v) = s.call("GET", "/api/v1/audit/verify", None).await;
    assert_eq!(v["ok"], true, "restored: {v}");
    pool.drop_trigger("audit_undeletable", "audit_log").await;
    pool.execute("DELETE FROM audit_log WHERE seq = 2").await;
    let (_, v) = s.call("GET", "/api/v1/audit/verify", None).await;
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_break"]["seq"], 3, "{v}");
    assert!(v["first_break"]["message"]
        .as_str()
        .unwrap()
        .contains("removed or reordered"));
    pool.close().await;
}

#[tokio::test]
async fn a_corrupted_artifact_fails_to_load_and_the_deployment_keeps_its_healthy_revision() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    let (st, v) = s.upload("credit", &reference_model("mlp"), None).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let hex = v["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap()
        .to_string();
    for path in s.artifact_copies(&hex) {
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
    }

    let (st, e) = s
        .call(
            "PUT",
            "/api/v1/deployments/credit-api",
            Some(json!({"model": "credit:2"})),
        )
        .await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("failed verification"),
        "{e}"
    );
    let (st, r) = s.infer("credit-api", one_row_request()).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["model_version"], "1", "still the healthy revision");
    let (_, d) = s.call("GET", "/api/v1/deployments/credit-api", None).await;
    assert_eq!(d["current"]["revision"], 1, "{d}");
}
