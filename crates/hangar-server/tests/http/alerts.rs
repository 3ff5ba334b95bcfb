//! Alerts end to end: a drifted batch fires an alert that reaches a real
//! webhook receiver on loopback; a biased canary is rolled back by a
//! fairness guardrail.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::*;
use crate::monitoring::{read, send_raw};

/// A webhook receiver on a free loopback port that keeps what it receives.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(v);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

/// Sends `rows` rows of a reference batch (features, group, row_id).
async fn send_rows(
    s: &TestServer,
    deployment: &str,
    batch: &str,
    rows: usize,
) -> Vec<(String, String)> {
    let text = read(&format!("testdata/reference/data/{batch}.csv"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let names = features();
    let mut labels = Vec::new();
    let all: Vec<Vec<&str>> = lines.take(rows).map(|l| l.split(',').collect()).collect();
    // Small requests, so a weighted split sends many of them each way.
    for chunk in all.chunks(50) {
        let instances: Vec<Value> = chunk
            .iter()
            .map(|cells| {
                let mut obj = serde_json::Map::new();
                for (h, c) in header.iter().zip(cells) {
                    if names.iter().any(|n| n == h) {
                        obj.insert(h.to_string(), json!(c.parse::<f64>().unwrap()));
                    } else if *h == "group" {
                        obj.insert("group".into(), json!(c.parse::<i64>().unwrap()));
                    } else if *h == "row_id" {
                        obj.insert("row_id".into(), json!(format!("{batch}:{c}")));
                    } else if *h == "label" {
                        labels.push((format!("{batch}:{}", cells[0]), c.to_string()));
                    }
                }
                Value::Object(obj)
            })
            .collect();
        let (st, r) = s.infer(deployment, json!({ "instances": instances })).await;
        assert_eq!(st, StatusCode::OK, "{r}");
    }
    labels
}

async fn wait_for<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drifted_batch_fires_an_alert_that_reaches_a_webhook() {
    let s = TestServer::start().await;
    let (url, received) = receiver().await;
    let (st, c) = s
        .call(
            "PUT",
            "/api/v1/alerts/channels/ops",
            Some(json!({"kind": "webhook", "url": url})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    s.call("POST", "/api/v1/models", Some(json!({"name": "credit"})))
        .await;
    s.upload(
        "credit",
        &reference_model("gbdt"),
        Some(json!({"features": features()})),
    )
    .await;
    let (st, b) = send_raw(
        &s,
        "PUT",
        "/api/v1/models/credit/versions/1/baseline?label_column=label&categorical=employment_type,housing_status",
        "text/csv",
        std::fs::read(repo().join("testdata/reference/data/reference.csv")).unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    s.call(
        "PUT",
        "/api/v1/deployments/api",
        Some(json!({"model": "credit:1", "settings": {"segments": ["group"], "row_id": "row_id"}})),
    )
    .await;
    let (st, r) = s
        .call(
            "POST",
            "/api/v1/alerts/rules",
            Some(json!({"name": "inputs-drift", "deployment": "api", "metric": "drift.share", "comparison": ">=",
                        "threshold": 0.1, "window_secs": 3600, "for_secs": 0, "severity": "warning"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    send_rows(&s, "api", "prod_b_covariate_drift", 2000).await;

    let hook = wait_for("the webhook", async || {
        received
            .lock()
            .unwrap()
            .iter()
            .find(|v| v["rule"] == "inputs-drift" && v["state"] == "firing")
            .cloned()
    })
    .await;
    assert_eq!(hook["deployment"], "api");
    assert_eq!(hook["severity"], "warning");
    assert!(hook["value"].as_f64().unwrap() >= 0.1, "{hook}");
    assert!(hook["message"].as_str().unwrap().contains("api"), "{hook}");

    let (_, alerts) = s.call("GET", "/api/v1/alerts", None).await;
    let firing = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "inputs-drift")
        .unwrap()
        .clone();
    assert_eq!(firing["state"], "firing");
    // The dashboard's alerts page shows the same alert, in words.
    let req = axum::http::Request::builder()
        .uri("/alerts")
        .body(axum::body::Body::empty())
        .unwrap();
    let (st, _, page) = s.send(req).await;
    assert_eq!(st, StatusCode::OK);
    let page = String::from_utf8(page).unwrap();
    let row = page
        .split("<tr>")
        .find(|r| r.contains("inputs-drift"))
        .unwrap_or_else(|| panic!("no inputs-drift row on the alerts page: {page}"));
    assert!(row.contains("Firing") && row.contains(">api<"), "{row}");
    assert!(
        row.contains("warning") && row.contains("drift.share"),
        "{row}"
    );
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/alerts/ack",
            Some(json!({"rule": "inputs-drift", "deployment": "api"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, h) = s.call("GET", "/api/v1/deployments/api/health", None).await;
    assert_eq!(h["health"], "needs_attention", "{h}");
    assert!(
        h["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("drift")),
        "{h}"
    );
    let (_, d) = s.call("GET", "/api/v1/alerts/deliveries", None).await;
    assert!(
        d["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["ok"] == true && d["channel"] == "ops"),
        "{d}"
    );
    let (_, ev) = s
        .call("GET", "/api/v1/alerts/events?deployment=api", None)
        .await;
    let kinds: Vec<_> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(
        kinds.contains(&"firing".to_string()) && kinds.contains(&"acknowledged".to_string()),
        "{kinds:?}"
    );

    // Bad rules are refused with the reason.
    for body in [
        json!({"name": "x", "metric": "drift.nonsense", "comparison": ">", "threshold": 1}),
        json!({"name": "x", "metric": "traffic.error_rate", "comparison": ">", "threshold": 5}),
        json!({"name": "x", "metric": "drift.share", "comparison": "~", "threshold": 0.5}),
    ] {
        let (st, e) = s
            .call("POST", "/api/v1/alerts/rules", Some(body.clone()))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_biased_canary_is_rolled_back_by_a_fairness_guardrail() {
    let s = TestServer::start().await;
    let (url, received) = receiver().await;
    s.call(
        "PUT",
        "/api/v1/alerts/channels/ops",
        Some(json!({"kind": "slack", "url": url})),
    )
    .await;
    s.call("POST", "/api/v1/models", Some(json!({"name": "credit"})))
        .await;
    s.upload(
        "credit",
        &reference_model("logreg"),
        Some(json!({"features": features()})),
    )
    .await;
    s.upload(
        "credit",
        &reference_model("gbdt"),
        Some(json!({"features": features()})),
    )
    .await;
    let settings = json!({"segments": ["group"], "row_id": "row_id"});
    s.call(
        "PUT",
        "/api/v1/deployments/api",
        Some(json!({"model": "credit:1", "settings": settings})),
    )
    .await;
    let (st, d) = s
        .call(
            "PUT",
            "/api/v1/deployments/api",
            Some(json!({"model": "credit:1", "canary": {"model": "credit:2", "weight": 50}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    // The four-fifths rule as a guardrail of this deployment.
    let (st, r) = s
        .call(
            "POST",
            "/api/v1/alerts/rules",
            Some(json!({"name": "fair-approvals", "deployment": "api", "metric": "fairness.group.demographic_parity_ratio",
                        "comparison": "<", "threshold": 0.8, "window_secs": 3600, "for_secs": 0, "severity": "critical",
                        "guardrail": true})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let labels = send_rows(&s, "api", "test", 3000).await;
    let mut csv = String::from("row_id,label\n");
    for (id, l) in labels {
        csv.push_str(&format!("{id},{l}\n"));
    }
    let (st, f) = send_raw(
        &s,
        "POST",
        "/api/v1/deployments/api/feedback",
        "text/csv",
        csv.into_bytes(),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{f}");

    let current = wait_for("the guardrail rollback", async || {
        let (_, d) = s.call("GET", "/api/v1/deployments/api", None).await;
        (d["current"]["kind"] == "guardrail_rollback").then(|| d["current"].clone())
    })
    .await;
    assert_eq!(
        current["routes"],
        json!([{"target": "credit:1", "weight": 100, "version": 1}])
    );
    assert!(
        current["reason"]
            .as_str()
            .unwrap()
            .contains("fair-approvals"),
        "{current}"
    );
    let slack = wait_for("the slack message", async || {
        received
            .lock()
            .unwrap()
            .iter()
            .find(|v| {
                v["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("fair-approvals"))
            })
            .cloned()
    })
    .await;
    assert!(
        slack["text"].as_str().unwrap().starts_with("[critical]"),
        "{slack}"
    );
    let (_, r) = s.infer("api", one_row_request()).await;
    assert_eq!(r["model_version"], "1");
}
