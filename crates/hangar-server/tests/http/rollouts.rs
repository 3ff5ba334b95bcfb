//! Revisions, traffic splits, routing keys, shadow, promote and rollback,
//! queues, deadlines, guardrails and metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

/// Model `credit` with versions 1 = gbdt, 2 = logreg, 3 = mlp, 4 = slow.
async fn credit(s: &TestServer) {
    s.call("POST", "/api/v1/models", Some(json!({"name": "credit"})))
        .await;
    for bytes in [
        reference_model("gbdt"),
        reference_model("logreg"),
        reference_model("mlp"),
        std::fs::read(repo().join("testdata/models/slow.onnx")).unwrap(),
    ] {
        let (st, v) = s
            .upload("credit", &bytes, Some(json!({"features": features()})))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
}

async fn put(s: &TestServer, body: Value) -> Value {
    let (st, d) = s
        .call("PUT", "/api/v1/deployments/api", Some(body.clone()))
        .await;
    assert_eq!(st, StatusCode::OK, "{body} -> {d}");
    d
}

fn rows_request(rows: usize) -> Value {
    let row = first_row();
    let data: Vec<f64> = (0..rows).flat_map(|_| row.clone()).collect();
    json!({"inputs": [{"name": "input", "shape": [rows, 22], "datatype": "FP32", "data": data}]})
}

async fn infer_with(
    s: &TestServer,
    body: &Value,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder()
        .method("POST")
        .uri("/v2/models/api/infer")
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (st, h, bytes) = s
        .send(
            req.body(Body::from(serde_json::to_vec(body).unwrap()))
                .unwrap(),
        )
        .await;
    (st, h, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_canary_takes_its_share_and_a_routing_key_sticks_to_one_route() {
    let s = TestServer::start().await;
    credit(&s).await;
    let d = put(&s, json!({"model": "credit:1", "canary": {"model": "credit:2", "weight": 30}, "message": "try logreg"})).await;
    assert_eq!(
        d["current"]["routes"],
        json!([
            {"target": "credit:1", "weight": 70, "version": 1},
            {"target": "credit:2", "weight": 30, "version": 2}
        ])
    );
    assert_eq!(d["current"]["message"], "try logreg");

    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..400 {
        let (st, r) = s.infer("api", one_row_request()).await;
        assert_eq!(st, StatusCode::OK);
        *counts
            .entry(r["model_version"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let canary = counts.get("2").copied().unwrap_or(0) as f64 / 400.0;
    assert!(
        (0.2..0.4).contains(&canary),
        "canary share {canary}: {counts:?}"
    );

    for key in ["alice", "bob", "carol", "dave"] {
        let mut seen = std::collections::HashSet::new();
        for i in 0..20 {
            let (st, _, r) = if i % 2 == 0 {
                infer_with(&s, &one_row_request(), &[("x-hangar-routing-key", key)]).await
            } else {
                let mut body = one_row_request();
                body["parameters"] = json!({"routing_key": key});
                infer_with(&s, &body, &[]).await
            };
            assert_eq!(st, StatusCode::OK);
            seen.insert(r["model_version"].as_str().unwrap().to_string());
        }
        assert_eq!(seen.len(), 1, "key {key} reached {seen:?}");
    }
}

#[tokio::test]
async fn promote_and_rollback_are_revisions_with_history() {
    let s = TestServer::start().await;
    credit(&s).await;
    put(&s, json!({"model": "credit:1"})).await;
    put(
        &s,
        json!({"model": "credit:1", "canary": {"model": "credit:2", "weight": 10}}),
    )
    .await;
    let (st, d) = s
        .call(
            "POST",
            "/api/v1/deployments/api/promote",
            Some(json!({"message": "looks good"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["current"]["revision"], 3);
    assert_eq!(d["current"]["kind"], "promote");
    assert_eq!(
        d["current"]["routes"],
        json!([{"target": "credit:2", "weight": 100, "version": 2}])
    );
    let (_, r) = s.infer("api", one_row_request()).await;
    assert_eq!(r["model_version"], "2");

    let (st, e) = s
        .call("POST", "/api/v1/deployments/api/promote", None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "no canary left: {e}");

    let started = Instant::now();
    let (st, d) = s
        .call("POST", "/api/v1/deployments/api/rollback", None)
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "rollback took {:?}",
        started.elapsed()
    );
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["current"]["revision"], 4);
    assert_eq!(d["current"]["kind"], "rollback");
    assert_eq!(d["current"]["rolled_back_to"], 2);
    assert_eq!(
        d["current"]["routes"][1]["version"], 2,
        "the canary table of revision 2 is back"
    );

    let (st, d) = s
        .call(
            "POST",
            "/api/v1/deployments/api/rollback",
            Some(json!({"to": 1, "message": "all back"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        d["current"]["routes"],
        json!([{"target": "credit:1", "weight": 100, "version": 1}])
    );
    let (_, r) = s.infer("api", one_row_request()).await;
    assert_eq!(r["model_version"], "1");

    for (body, status) in [
        (json!({"to": 5}), StatusCode::BAD_REQUEST),
        (json!({"to": 99}), StatusCode::NOT_FOUND),
        (json!({"bogus": 1}), StatusCode::BAD_REQUEST),
    ] {
        let (st, e) = s
            .call(
                "POST",
                "/api/v1/deployments/api/rollback",
                Some(body.clone()),
            )
            .await;
        assert_eq!(st, status, "{body}: {e}");
    }
    let (st, _) = s
        .call("POST", "/api/v1/deployments/nope/rollback", None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let (_, h) = s
        .call("GET", "/api/v1/deployments/api/revisions", None)
        .await;
    let kinds: Vec<_> = h["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["deploy", "deploy", "promote", "rollback", "rollback"]
    );
    assert!(h["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["actor"] == "admin"));
    let (st, r) = s
        .call("GET", "/api/v1/deployments/api/revisions/2", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(r["routes"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_tables_and_settings_are_refused() {
    let s = TestServer::start().await;
    credit(&s).await;
    for body in [
        json!({"routes": [{"model": "credit:1", "weight": 60}, {"model": "credit:2", "weight": 30}]}),
        json!({"routes": [{"model": "credit:1", "weight": 50}, {"model": "credit:1", "weight": 50}]}),
        json!({"model": "credit:1", "canary": {"model": "credit:2", "weight": 100}}),
        json!({"model": "credit:1", "shadow": "credit:1"}),
        json!({"model": "credit:1", "routes": [{"model": "credit:1", "weight": 100}]}),
        json!({"model": "credit:1", "settings": {"max_batch_size": 0}}),
        json!({"model": "credit:1", "settings": {"guardrails": {"max_error_rate": 3}}}),
        json!({"canary": {"model": "credit:2", "weight": 10}}),
    ] {
        let (st, e) = s
            .call("PUT", "/api/v1/deployments/api", Some(body.clone()))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {e}");
    }
    let (st, _) = s.call("GET", "/api/v1/deployments/api", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "nothing was created");
}

#[tokio::test]
async fn following_an_alias_makes_a_revision_when_it_moves() {
    let s = TestServer::start().await;
    credit(&s).await;
    s.call(
        "PUT",
        "/api/v1/models/credit/aliases/production",
        Some(json!({"version": 1})),
    )
    .await;
    put(&s, json!({"model": "credit@production"})).await;
    s.call(
        "PUT",
        "/api/v1/models/credit/aliases/production",
        Some(json!({"version": 3})),
    )
    .await;
    let (_, d) = s.call("GET", "/api/v1/deployments/api", None).await;
    assert_eq!(d["current"]["revision"], 2);
    assert_eq!(d["current"]["kind"], "alias_moved");
    assert_eq!(d["current"]["alias"], "credit@production");
    assert_eq!(d["version"], 3);
}

#[tokio::test]
async fn the_shadow_sees_every_request_and_never_answers() {
    let s = TestServer::start().await;
    credit(&s).await;
    put(&s, json!({"model": "credit:1", "shadow": "credit:3"})).await;
    for _ in 0..30 {
        let (st, r) = s.infer("api", rows_request(5)).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(r["model_version"], "1");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let agreement = loop {
        let (_, d) = s.call("GET", "/api/v1/deployments/api", None).await;
        let a = d["current"]["shadow_agreement"].clone();
        if a["compared_requests"] == 30 || Instant::now() > deadline {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(agreement["compared_requests"], 30, "{agreement}");
    assert_eq!(agreement["label_rows"], 150);
    let same = agreement["same_label_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&same));
    let diff = agreement["mean_abs_score_diff"].as_f64().unwrap();
    assert!(
        diff > 0.0 && diff < 1.0,
        "gbdt and mlp differ a little: {diff}"
    );
    let (_, m) = s.call("GET", "/metrics", None).await;
    assert!(m
        .as_str()
        .unwrap()
        .contains("hangar_shadow_compared_total{deployment=\"api\"} 30"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_sheds_with_429_and_an_expired_deadline_gets_504() {
    let s = Arc::new(TestServer::start().await);
    credit(&s).await;
    // Batching off so each request is its own job; room for one waiting request.
    put(
        &s,
        json!({"model": "credit:4", "settings": {"max_batch_size": 1, "queue_capacity": 1}}),
    )
    .await;
    // Occupy both inference workers with long requests.
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.infer("api", rows_request(4000)).await.0 })
        })
        .collect();
    // Wait until both have been handed to the workers.
    let t = Instant::now();
    loop {
        let (_, stats) = s.call("GET", "/v2/models/api/stats", None).await;
        if stats["model_stats"][0]["execution_count"] == 2 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the long requests never started: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // One request waits in the queue with a deadline it cannot meet…
    let waiting = {
        let s = s.clone();
        tokio::spawn(async move {
            infer_with(&s, &one_row_request(), &[("x-hangar-deadline-ms", "50")]).await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    // …and the next finds the queue full.
    let (st, h, e) = infer_with(&s, &one_row_request(), &[]).await;
    assert_eq!(
        st,
        StatusCode::TOO_MANY_REQUESTS,
        "{e} after {:?}",
        t.elapsed()
    );
    assert_eq!(h["retry-after"], "1");
    let (st, _, e) = waiting.await.unwrap();
    assert_eq!(st, StatusCode::GATEWAY_TIMEOUT, "{e}");
    for b in busy {
        assert_eq!(b.await.unwrap(), StatusCode::OK);
    }
    let (_, m) = s.call("GET", "/metrics", None).await;
    let m = m.as_str().unwrap().to_string();
    assert!(
        m.contains("hangar_shed_requests_total{deployment=\"api\",version=\"4\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("hangar_timed_out_requests_total{deployment=\"api\",version=\"4\"} 1"),
        "{m}"
    );
    let (st, e) = s
        .call("POST", "/v2/models/api/infer", Some(one_row_request()))
        .await;
    assert_eq!(st, StatusCode::OK, "{e}");
    let req = Request::builder()
        .method("POST")
        .uri("/v2/models/api/infer")
        .header("x-hangar-deadline-ms", "soon")
        .body(Body::from(serde_json::to_vec(&one_row_request()).unwrap()))
        .unwrap();
    assert_eq!(s.send(req).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_are_batched_and_answered_row_for_row() {
    let s = Arc::new(TestServer::start().await);
    credit(&s).await;
    put(&s, json!({"model": "credit:3", "settings": {"max_batch_size": 32, "max_queue_delay_us": 2000}})).await;
    let (_, single) = s.infer("api", one_row_request()).await;
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { (i, s.infer("api", rows_request(1 + i % 3)).await) })
        })
        .collect();
    for t in tasks {
        let (i, (st, r)) = t.await.unwrap();
        assert_eq!(st, StatusCode::OK, "{r}");
        let probs = r["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "probabilities")
            .unwrap();
        assert_eq!(probs["shape"], json!([1 + i % 3, 2]));
        let single_probs = single["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "probabilities")
            .unwrap();
        assert_eq!(
            probs["data"][0], single_probs["data"][0],
            "each request gets its own rows back"
        );
    }
    let (_, stats) = s.call("GET", "/v2/models/api/stats", None).await;
    let st = &stats["model_stats"][0];
    assert_eq!(st["version"], "3");
    let executions = st["execution_count"].as_u64().unwrap();
    let inferences = st["inference_count"].as_u64().unwrap();
    assert_eq!(inferences, 41);
    assert!(
        executions < inferences,
        "some requests shared a batch: {executions} executions for {inferences} requests"
    );
    let (_, m) = s.call("GET", "/metrics", None).await;
    assert!(m
        .as_str()
        .unwrap()
        .contains("hangar_batch_size_rows_bucket"));
}

#[tokio::test]
async fn a_canary_breaking_its_latency_guardrail_is_rolled_back_automatically() {
    let s = TestServer::start().await;
    credit(&s).await;
    put(&s, json!({"model": "credit:1"})).await;
    put(
        &s,
        json!({"model": "credit:1", "canary": {"model": "credit:4", "weight": 50},
               "settings": {"guardrails": {"max_p99_ms": 10, "window_secs": 30, "min_requests": 5}}}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let current = loop {
        let _ = s.infer("api", rows_request(200)).await;
        let (_, d) = s.call("GET", "/api/v1/deployments/api", None).await;
        if d["current"]["kind"] == "guardrail_rollback" || Instant::now() > deadline {
            break d["current"].clone();
        }
    };
    assert_eq!(current["kind"], "guardrail_rollback", "{current}");
    assert_eq!(current["guardrail_from"], 2);
    assert!(
        current["reason"].as_str().unwrap().contains("p99 latency"),
        "{current}"
    );
    assert_eq!(current["actor"], "hangar");
    assert_eq!(
        current["routes"],
        json!([{"target": "credit:1", "weight": 100, "version": 1}])
    );
    for _ in 0..10 {
        let (_, r) = s.infer("api", one_row_request()).await;
        assert_eq!(r["model_version"], "1");
    }
}

#[tokio::test]
async fn metrics_and_statistics_count_requests_by_status() {
    let s = TestServer::start().await;
    credit(&s).await;
    put(&s, json!({"model": "credit:1"})).await;
    for _ in 0..3 {
        s.infer("api", one_row_request()).await;
    }
    let (st, _) = s.infer("api", json!({"inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let req = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let (st, h, body) = s.send(req).await;
    assert_eq!(st, StatusCode::OK);
    assert!(h["content-type"].to_str().unwrap().contains("openmetrics"));
    let text = String::from_utf8(body).unwrap();
    for line in [
        "hangar_inference_requests_total{deployment=\"api\",version=\"1\",status=\"200\"} 3",
        "hangar_inference_requests_total{deployment=\"api\",version=\"1\",status=\"400\"} 1",
        "hangar_request_duration_seconds_count{deployment=\"api\",version=\"1\"} 4",
        "hangar_queue_duration_seconds_count{deployment=\"api\",version=\"1\"} 3",
        "hangar_loaded_models 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains("hangar_model_memory_bytes{model=\"credit\",version=\"1\"}"));
    let (st, stats) = s.call("GET", "/v2/models/api/versions/1/stats", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(stats["model_stats"][0]["inference_count"], 3);
    assert!(
        stats["model_stats"][0]["inference_stats"]["compute_infer"]["ns"]
            .as_u64()
            .unwrap()
            > 0
    );
    let (st, _) = s.call("GET", "/v2/models/nope/stats", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

/// One revision change as the test saw it.
struct Change {
    started: Instant,
    finished: Instant,
    revision: u64,
    versions: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_revisions_and_rollbacks_under_load_fail_no_request() {
    let s = Arc::new(TestServer::start().await);
    credit(&s).await;
    let d = put(&s, json!({"model": "credit:1"})).await;
    let changes = Arc::new(Mutex::new(vec![Change {
        started: Instant::now(),
        finished: Instant::now(),
        revision: d["current"]["revision"].as_u64().unwrap(),
        versions: vec!["1".into()],
    }]));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..6)
        .map(|c| {
            let (s, stop) = (s.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let t0 = Instant::now();
                    let key = format!("client-{c}-{i}");
                    let (st, h, r) = infer_with(
                        &s,
                        &rows_request(1 + (i % 4) as usize),
                        &[("x-hangar-routing-key", &key)],
                    )
                    .await;
                    let t1 = Instant::now();
                    let revision = h
                        .get("x-hangar-revision")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    seen.push((
                        t0,
                        t1,
                        st,
                        r["model_version"].as_str().map(str::to_string),
                        revision,
                    ));
                    i += 1;
                }
                seen
            })
        })
        .collect();
    let tables = [
        json!({"model": "credit:2"}),
        json!({"model": "credit:1", "canary": {"model": "credit:3", "weight": 20}}),
        json!({"model": "credit:3", "shadow": "credit:2"}),
        json!({"routes": [{"model": "credit:1", "weight": 50}, {"model": "credit:2", "weight": 50}]}),
    ];
    for i in 0..20 {
        let started = Instant::now();
        let (st, d) = if i % 2 == 0 {
            s.call(
                "PUT",
                "/api/v1/deployments/api",
                Some(tables[(i / 2) % tables.len()].clone()),
            )
            .await
        } else {
            s.call("POST", "/api/v1/deployments/api/rollback", None)
                .await
        };
        assert_eq!(st, StatusCode::OK, "{d}");
        let finished = Instant::now();
        let versions = d["current"]["routes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["weight"].as_u64().unwrap() > 0)
            .map(|r| r["version"].to_string())
            .collect();
        changes.lock().unwrap().push(Change {
            started,
            finished,
            revision: d["current"]["revision"].as_u64().unwrap(),
            versions,
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let changes = std::mem::take(&mut *changes.lock().unwrap());
    let mut total = 0;
    for c in clients {
        for (t0, t1, st, version, revision) in c.await.unwrap() {
            total += 1;
            assert_eq!(st, StatusCode::OK, "a request failed during the revisions");
            let (version, revision) = (version.unwrap(), revision.unwrap());
            let i = changes
                .iter()
                .position(|c| c.revision == revision)
                .expect("answered by a known revision");
            let change = &changes[i];
            assert!(
                change.versions.contains(&version),
                "version {version} is not in revision {revision}"
            );
            // Active during the request: it went live before the request ended,
            // and was not replaced before the request began.
            assert!(
                change.started <= t1,
                "revision {revision} answered before it was applied"
            );
            if let Some(next) = changes.get(i + 1) {
                assert!(
                    next.finished >= t0,
                    "revision {revision} answered after it was replaced"
                );
            }
        }
    }
    assert!(total > 100, "only {total} requests were made");
    assert_eq!(changes.len(), 21);
}

fn loaded_models(metrics: &Value) -> Vec<String> {
    metrics
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("hangar_model_memory_bytes{"))
        .map(|l| l.split('}').next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn idle_versions_stay_loaded_within_the_memory_budget_and_go_least_recently_used_first() {
    // Two inference instances per version: a version takes 2 × its file size.
    let size = |m: &str| {
        2 * std::fs::metadata(repo().join(format!("testdata/reference/models/{m}/model.onnx")))
            .unwrap()
            .len()
    };
    let budget = size("gbdt") + size("mlp") + size("logreg") + 1000;
    let s = TestServer::with_config(|c| c.model_memory = budget).await;
    s.call("POST", "/api/v1/models", Some(json!({"name": "m"})))
        .await;
    for name in ["gbdt", "mlp", "logreg", "xgboost_gbdt", "random_forest"] {
        let (st, v) = s.upload("m", &reference_model(name), None).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    // v1 gbdt, v2 mlp, v3 logreg, v4 xgboost, v5 random forest.
    for v in [1, 2, 3] {
        put(&s, json!({"model": format!("m:{v}")})).await;
    }
    let (_, m) = s.call("GET", "/metrics", None).await;
    assert_eq!(
        loaded_models(&m).len(),
        3,
        "idle versions within the budget stay loaded: {:?}",
        loaded_models(&m)
    );
    // xgboost needs room: the least recently used idle version (gbdt) goes.
    put(&s, json!({"model": "m:4"})).await;
    let (_, m) = s.call("GET", "/metrics", None).await;
    let loaded = loaded_models(&m);
    assert!(
        !loaded.iter().any(|l| l.contains("version=\"1\"")),
        "{loaded:?}"
    );
    assert!(
        loaded.iter().any(|l| l.contains("version=\"4\"")),
        "{loaded:?}"
    );
    // The random forest cannot fit even with every idle version gone.
    let (st, e) = s
        .call(
            "PUT",
            "/api/v1/deployments/api",
            Some(json!({"model": "m:5"})),
        )
        .await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert_eq!(e["code"], "memory_budget");
    let (st, r) = s.infer("api", one_row_request()).await;
    assert_eq!(
        (st, r["model_version"].clone()),
        (StatusCode::OK, json!("4")),
        "still serving the last good revision"
    );
    // An evicted version is reloaded on demand, making room from idle ones.
    put(&s, json!({"model": "m:2"})).await;
    let (st, r) = s
        .call(
            "POST",
            "/v2/models/api/versions/1/infer",
            Some(one_row_request()),
        )
        .await;
    assert_eq!(
        (st, r["model_version"].clone()),
        (StatusCode::OK, json!("1")),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deployment_at_its_concurrency_limit_sheds_with_429() {
    let s = Arc::new(TestServer::start().await);
    credit(&s).await;
    put(
        &s,
        json!({"model": "credit:4", "settings": {"max_concurrency": 1}}),
    )
    .await;
    let long = {
        let s = s.clone();
        tokio::spawn(async move { s.infer("api", rows_request(4000)).await.0 })
    };
    // Wait until the long request holds the deployment's only slot.
    let t = Instant::now();
    loop {
        let (_, stats) = s.call("GET", "/v2/models/api/stats", None).await;
        if stats["model_stats"][0]["execution_count"] == 1 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the long request never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (st, h, e) = infer_with(&s, &one_row_request(), &[]).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{e}");
    assert_eq!(h["retry-after"], "1");
    assert!(
        e["error"].as_str().unwrap().contains("concurrency limit"),
        "{e}"
    );
    assert_eq!(long.await.unwrap(), StatusCode::OK);
    let (st, _) = s.infer("api", one_row_request()).await;
    assert_eq!(st, StatusCode::OK, "the slot is free again");
}
