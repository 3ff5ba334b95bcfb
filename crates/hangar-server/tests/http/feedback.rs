//! Feedback and the prediction log under hostile or careless input: request
//! ids are capped and stored once per request, labels are checked against
//! the model's classes, bad row numbers never reach another row, and a large
//! upload neither locks the database nor exceeds its own size limit.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use crate::common::*;
use crate::monitoring::send_raw;

async fn sql(s: &TestServer) -> Sql {
    s.sql().await
}

async fn scalar(pool: &Sql, query: &str) -> i64 {
    pool.scalar(query).await
}

/// A request of `rows` copies of the first reference row.
fn request(id: Option<&str>, rows: usize) -> Value {
    let row = first_row();
    let data: Vec<f64> = (0..rows).flat_map(|_| row.iter().copied()).collect();
    let mut body = json!({"inputs": [{"name": "input", "shape": [rows, 22], "datatype": "FP32", "data": data}]});
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    body
}

async fn feedback_csv(s: &TestServer, deployment: &str, csv: &str) -> (StatusCode, Value) {
    send_raw(
        s,
        "POST",
        &format!("/api/v1/deployments/{deployment}/feedback"),
        "text/csv",
        csv.as_bytes().to_vec(),
    )
    .await
}

/// The stored labels of a request's rows (flushed first), by row.
async fn labels_of(s: &TestServer, pool: &Sql, request_id: &str) -> Vec<Option<f64>> {
    s.state.log.flush().await;
    pool.floats(
        "SELECT p.label FROM prediction_requests q JOIN predictions p ON p.id - p.row = q.id \
         WHERE q.request_id = $1 ORDER BY p.row",
        request_id,
    )
    .await
}

#[tokio::test]
async fn a_request_id_past_128_bytes_is_refused_and_one_is_stored_once_per_request() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "api").await;

    // The body's id and the X-Request-Id header alike.
    let (st, e) = s.infer("api", request(Some(&"i".repeat(129)), 1)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("129 bytes long; at most 128 bytes"),
        "{e}"
    );
    for header in ["h".repeat(129), "h".repeat(210_000)] {
        let req = Request::builder()
            .method("POST")
            .uri("/v2/models/api/infer")
            .header("content-type", "application/json")
            .header("x-request-id", header.as_str())
            .body(Body::from(serde_json::to_vec(&request(None, 1)).unwrap()))
            .unwrap();
        let (st, _, body) = s.send(req).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        let e: Value = serde_json::from_slice(&body).unwrap();
        assert!(e["error"].as_str().unwrap().contains("X-Request-Id"), "{e}");
    }
    s.state.log.flush().await;
    let pool = sql(&s).await;
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM predictions").await, 0);

    // 128 bytes are accepted and echoed.
    let longest = "a".repeat(128);
    let (st, r) = s.infer("api", request(Some(&longest), 1)).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["id"], longest);

    // What a request of 1 000 rows adds to the log's tables, by its id's
    // length: the id is stored once (row and index entry), not per row.
    // SQLite: the bytes its pages hold for the log's tables and indexes;
    // PostgreSQL: the bytes of the log's rows (its pages are 8 KiB).
    let stored = match pool {
        Sql::Sqlite(_) => "SELECT SUM(payload) FROM dbstat WHERE name LIKE 'prediction%'",
        Sql::Postgres(_) => {
            "SELECT (SELECT COALESCE(SUM(pg_column_size(p.*)), 0) FROM predictions p) \
             + (SELECT COALESCE(SUM(pg_column_size(q.*)), 0) FROM prediction_requests q)"
        }
    };
    let mut growth = Vec::new();
    for id in [longest.as_str(), "short1"] {
        s.state.log.flush().await;
        let before = scalar(&pool, stored).await;
        let (st, r) = s.infer("api", request(Some(id), 1_000)).await;
        assert_eq!(st, StatusCode::OK, "{r}");
        s.state.log.flush().await;
        growth.push(scalar(&pool, stored).await - before);
    }
    let extra = growth[0] - growth[1];
    assert!(
        extra < 4_096,
        "a 128-byte id over 1 000 rows cost {extra} bytes more than a 6-byte one (stored per row it was 244 000)"
    );
    assert!(
        growth[0] < 1_000 * 300,
        "{} bytes for 1 000 rows of 22 features",
        growth[0]
    );
    assert_eq!(
        scalar(&pool, "SELECT COUNT(*) FROM prediction_requests").await,
        3,
        "one entry per request"
    );
    assert_eq!(
        scalar(&pool, "SELECT COUNT(*) FROM predictions").await,
        2_001
    );
    // Feedback still reaches any row of the request.
    let (st, f) = feedback_csv(
        &s,
        "api",
        &format!("request_id,row,label\n{longest},0,1\nshort1,999,0\n"),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{f}");
    assert_eq!(f["updated"], 2);
    assert_eq!(labels_of(&s, &pool, "short1").await[999], Some(0.0));
}

#[tokio::test]
async fn labels_outside_the_models_classes_are_rejected_by_line() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "api").await;
    let (st, _) = s.infer("api", request(Some("req-v"), 8)).await;
    assert_eq!(st, StatusCode::OK);
    let pool = sql(&s).await;

    let csv = "request_id,row,label\nreq-v,0,1\nreq-v,1,0\nreq-v,2,2\nreq-v,3,0.5\n\
               req-v,4,-1\nreq-v,5,7\nreq-v,6,-3.5\nreq-v,7,1.0\nreq-v,8,1\n";
    let (st, f) = feedback_csv(&s, "api", csv).await;
    assert_eq!(st, StatusCode::OK, "{f}");
    assert_eq!(f["received"], 9);
    assert_eq!(f["updated"], 3, "{f}");
    assert_eq!(f["unknown"], json!([{"request_id": "req-v", "row": 8}]));
    assert_eq!(f["rejected_count"], 5);
    let lines: Vec<u64> = f["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![4, 5, 6, 7, 8]);
    assert_eq!(
        f["rejected"][0]["error"],
        "label 2 is not one of the model's classes (0, 1) (the prediction was made by credit:1)"
    );
    assert_eq!(
        labels_of(&s, &pool, "req-v").await,
        vec![
            Some(1.0),
            Some(0.0),
            None,
            None,
            None,
            None,
            None,
            Some(1.0)
        ]
    );

    // The JSON form, numbered by item; every item rejected is a 400 that
    // lists them, and changes nothing.
    let (st, f) = s
        .call(
            "POST",
            "/api/v1/deployments/api/feedback",
            Some(json!({"feedback": [
                {"request_id": "req-v", "row": 2, "label": 2},
                {"request_id": "req-v", "row": 3, "label": -1},
            ]})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{f}");
    assert_eq!(f["code"], "invalid_feedback");
    assert!(
        f["error"].as_str().unwrap().starts_with(
            "no feedback applied: every line was rejected (item 0: label 2 is not one of the model's classes"
        ),
        "{f}"
    );
    assert_eq!(f["rejected"][1]["item"], 1);
    assert_eq!(labels_of(&s, &pool, "req-v").await[2..4], [None, None]);

    // A regressor takes any number.
    let (st, _) = s
        .call("POST", "/api/v1/models", Some(json!({"name": "reg"})))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let bytes = std::fs::read(repo().join("testdata/models/regressor.onnx")).unwrap();
    let (st, v) = s
        .upload("reg", &bytes, Some(json!({"features": features()})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/deployments/reg-api",
            Some(json!({"model": "reg:1"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, r) = s.infer("reg-api", request(Some("req-r"), 3)).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let (st, f) = feedback_csv(
        &s,
        "reg-api",
        "request_id,row,label\nreq-r,0,-3.5\nreq-r,1,1e6\nreq-r,2,NaN\n",
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{f}");
    assert_eq!(
        (f["updated"].as_u64(), f["rejected_count"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        f["rejected"][0],
        json!({"line": 4, "error": "label \"NaN\" is not a number"})
    );
    assert_eq!(
        labels_of(&s, &pool, "req-r").await,
        vec![Some(-3.5), Some(1e6), None]
    );
}

#[tokio::test]
async fn bad_row_numbers_are_rejected_and_never_reach_row_0() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "api").await;
    let (st, _) = s.infer("api", request(Some("req-r"), 2)).await;
    assert_eq!(st, StatusCode::OK);
    let pool = sql(&s).await;
    let (st, f) = feedback_csv(&s, "api", "request_id,row,label\nreq-r,0,1\n").await;
    assert_eq!(st, StatusCode::OK, "{f}");

    // Every line bad: 400, each named by its line; row 0 keeps its label.
    let (st, f) = feedback_csv(
        &s,
        "api",
        "request_id,row,label\nreq-r,-1,0\nreq-r,99999999999999999999,0\nreq-r,1.5,0\n",
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{f}");
    let rejected: Vec<(u64, String)> = f["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(rejected.len(), 3);
    for ((line, error), (want_line, cell)) in
        rejected
            .iter()
            .zip([(2, "-1"), (3, "99999999999999999999"), (4, "1.5")])
    {
        assert_eq!(*line, want_line);
        assert!(
            error.starts_with(&format!("row \"{cell}\" is not a row number")),
            "{error}"
        );
    }
    assert!(
        f["error"]
            .as_str()
            .unwrap()
            .contains("line 2: row \"-1\" is not a row number"),
        "{f}"
    );
    assert_eq!(labels_of(&s, &pool, "req-r").await, vec![Some(1.0), None]);

    // Mixed with good lines: the good ones apply, the bad ones are listed
    // (JSON alike, by item).
    let (st, f) = feedback_csv(&s, "api", "request_id,row,label\nreq-r,-1,0\nreq-r,1,0\n").await;
    assert_eq!(st, StatusCode::OK, "{f}");
    assert_eq!(f["rejected"][0]["line"], 2);
    assert_eq!(f["updated"], 1);
    let (st, f) = s
        .call(
            "POST",
            "/api/v1/deployments/api/feedback",
            Some(json!({"feedback": [
                {"request_id": "req-r", "row": -1, "label": 0},
                {"request_id": "req-r", "row": 1.5, "label": 0},
                {"request_id": "req-r", "row": 1, "label": 1},
            ]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{f}");
    assert_eq!(f["rejected_count"], 2);
    assert_eq!(f["rejected"][1]["item"], 1);
    assert_eq!(
        labels_of(&s, &pool, "req-r").await,
        vec![Some(1.0), Some(1.0)]
    );
}

#[tokio::test]
async fn feedback_has_its_own_size_limit() {
    let s = TestServer::with_limits(hangar_server::Limits {
        max_feedback_bytes: 40_000,
        // The inference limit does not apply to feedback.
        max_request_bytes: 1_000,
        ..Default::default()
    })
    .await;
    s.deploy_reference("credit", "gbdt", "api").await;
    let line = |i: usize| format!("req-{i:06},0,1\n");
    let csv = |n: usize| {
        let mut c = String::from("request_id,row,label\n");
        (0..n).for_each(|i| c.push_str(&line(i)));
        c
    };
    // 1 500 lines (23 KB): within the limit, though 23 times the request limit.
    let (st, f) = feedback_csv(&s, "api", &csv(1_500)).await;
    assert_eq!(st, StatusCode::OK, "{f}");
    assert_eq!(f["unknown_count"], 1_500);
    assert_eq!(
        f["unknown"].as_array().unwrap().len(),
        1_000,
        "listed up to 1 000"
    );

    // A declared length past the limit is refused before anything is read.
    let big = csv(3_000);
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/deployments/api/feedback")
        .header("content-type", "text/csv")
        .header("content-length", big.len())
        .body(Body::from(big.clone()))
        .unwrap();
    let (st, _, body) = s.send(req).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    let e: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("--max-feedback-bytes"),
        "{e}"
    );

    // A streamed one (3 000 lines, 45 KB, in chunks of 4 KB) stops where it
    // passes the limit, saying what was applied before: two batches.
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(4_000)
        .map(|c| Ok(String::from_utf8(c.to_vec()).unwrap()))
        .collect();
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/deployments/api/feedback")
        .header("content-type", "text/csv")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let (st, _, body) = s.send(req).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    let e: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("the first 2000 lines were processed before it (0 labels applied)"),
        "{e}"
    );

    // JSON past the limit: nothing applied.
    let items: Vec<Value> = (0..2_000)
        .map(|i| json!({"request_id": format!("req-{i}"), "label": 1}))
        .collect();
    let (st, e) = s
        .call(
            "POST",
            "/api/v1/deployments/api/feedback",
            Some(json!({ "feedback": items })),
        )
        .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
}

/// Logs `requests` requests of `rows` rows each for version 1 of `credit`
/// in `deployment`, straight through the log's writer.
/// The writer blocks (it is meant for a blocking thread): it runs on a
/// thread of its own here.
fn log_rows(s: &TestServer, deployment: &str, requests: usize, rows: u32) {
    let mut w = s.state.db.prediction_writer().unwrap();
    std::thread::scope(|scope| {
        scope
            .spawn(move || write_rows(&mut *w, deployment, requests, rows))
            .join()
            .unwrap()
    });
}

fn write_rows(
    w: &mut dyn hangar_store::PredictionLog,
    deployment: &str,
    requests: usize,
    rows: u32,
) {
    let mut features = Vec::new();
    hangar_store::encode_features_into(&first_row(), &mut features);
    let at = chrono::Utc::now();
    for chunk in (0..requests).collect::<Vec<_>>().chunks(50) {
        let ids: Vec<String> = chunk.iter().map(|i| format!("fb-{i}")).collect();
        w.append(&mut |sink| {
            for id in &ids {
                for row in 0..rows {
                    sink.push(&hangar_store::LogRow {
                        deployment,
                        at,
                        request_id: id,
                        row,
                        row_id: None,
                        revision: 1,
                        model: "credit",
                        version: 1,
                        features: &features,
                        outputs: "{\"label\":[1],\"probabilities\":[0.25,0.75]}",
                        score: Some(0.75),
                        predicted: Some(1.0),
                        segments: "{}",
                        latency_us: 100,
                        purpose: None,
                    });
                }
            }
        })
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_feedback_upload_lets_deploys_pushes_and_the_log_write_meanwhile() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "api").await;
    const REQUESTS: usize = 200;
    const ROWS: u32 = 1_000;
    log_rows(&s, "api", REQUESTS, ROWS);
    let mut csv = String::from("request_id,row,label\n");
    for i in 0..REQUESTS {
        for row in 0..ROWS {
            csv.push_str(&format!("fb-{i},{row},{}\n", row % 2));
        }
    }
    let pool = sql(&s).await;
    let labelled = "SELECT COUNT(*) FROM predictions WHERE label IS NOT NULL";

    let app = s.app.clone();
    let upload = tokio::spawn(async move {
        use tower::ServiceExt;
        let req = Request::builder()
            .method("POST")
            .uri("/api/v1/deployments/api/feedback")
            .header("content-type", "text/csv")
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .body(Body::from(csv))
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, serde_json::from_slice::<Value>(&bytes).unwrap())
    });
    // Once labels are being written (or half a second into the upload, for
    // a server that writes them all at the end), the other writers go: a
    // model is created and a version pushed, deployments are changed,
    // predictions are made and logged.
    let started = std::time::Instant::now();
    while scalar(&pool, labelled).await == 0 && started.elapsed().as_millis() < 500 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (st, m) = s
        .call("POST", "/api/v1/models", Some(json!({"name": "second"})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "creating a model: {m}");
    let (st, v) = s
        .upload(
            "second",
            &reference_model("logreg"),
            Some(json!({"features": features()})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "pushing a version: {v}");
    let (st, d) = s
        .call(
            "PUT",
            "/api/v1/deployments/api",
            Some(json!({"model": "credit:1", "shadow": "second:1"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "deploying: {d}");
    let (st, d) = s
        .call(
            "PUT",
            "/api/v1/deployments/other",
            Some(json!({"model": "second:1"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "deploying: {d}");
    for i in 0..40 {
        let (st, r) = s.infer("api", request(Some(&format!("live-{i}")), 5)).await;
        assert_eq!(st, StatusCode::OK, "{r}");
    }
    s.state.log.flush().await;
    let during = scalar(&pool, labelled).await;
    let (st, f) = upload.await.unwrap();
    assert!(
        during < i64::from(ROWS) * REQUESTS as i64,
        "the other writes finished while feedback was still running ({during} labels by then)"
    );
    assert_eq!(st, StatusCode::OK, "{f}");
    assert_eq!(f["updated"], 200_000);
    assert_eq!(f["rejected_count"], 0);
    assert_eq!(scalar(&pool, labelled).await, 200_000);
    // Every prediction made meanwhile was logged: none dropped, no failed
    // write.
    s.state.log.flush().await;
    assert_eq!(
        scalar(
            &pool,
            "SELECT COUNT(*) FROM prediction_requests WHERE request_id LIKE 'live-%'"
        )
        .await,
        40
    );
    assert_eq!(
        s.state
            .log
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}
