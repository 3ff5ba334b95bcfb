//! Graceful shutdown: on SIGTERM the real `hangar serve` stops taking new
//! connections, lets the request in flight finish, and exits cleanly.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{repo, Server, ADMIN_TOKEN};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish() {
    // Started and ready; dropping it kills the server if the test fails
    // before it stops on its own.
    let mut server = Server::start();
    let base = server.url.clone();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // A deliberately slow model keeps one request busy for about a second.
    http.post(format!("{base}/api/v1/models"))
        .json(&json!({"name": "slow"}))
        .send()
        .await
        .unwrap();
    let bytes = std::fs::read(repo().join("testdata/models/slow.onnx")).unwrap();
    let form = reqwest::multipart::Form::new().part(
        "artifact",
        reqwest::multipart::Part::bytes(bytes).file_name("slow.onnx"),
    );
    let r = http
        .post(format!("{base}/api/v1/models/slow/versions"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = http
        .put(format!("{base}/api/v1/deployments/slow"))
        .json(&json!({"model": "slow:1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let rows = 4000;
    let body = json!({"inputs": [{"name": "input", "shape": [rows, 22], "datatype": "FP32", "data": vec![0.5; rows * 22]}]});
    let in_flight = {
        let (http, url) = (http.clone(), format!("{base}/v2/models/slow/infer"));
        tokio::spawn(async move { http.post(url).json(&body).send().await })
    };
    // Wait until the model is running it.
    loop {
        let stats: Value = http
            .get(format!("{base}/v2/models/slow/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if stats["model_stats"][0]["execution_count"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the long request never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());

    let response = in_flight
        .await
        .unwrap()
        .expect("the request in flight gets its answer");
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["outputs"][0]["shape"][0], rows);

    let stop = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < stop,
            "the server did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert!(
        http.get(format!("{base}/v2/health/live"))
            .send()
            .await
            .is_err(),
        "no new connections after shutdown"
    );
}
