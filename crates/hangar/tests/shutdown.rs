//! Graceful shutdown: on SIGTERM the real `hangar serve` stops taking new
//! connections, lets the request in flight finish, and exits cleanly.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Kills the server if the test fails before it stops on its own.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .env(
            "ORT_DYLIB_PATH",
            repo().join("vendor/onnxruntime/libonnxruntime.so"),
        )
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Guard(child);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http
        .get(format!("{base}/v2/health/ready"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(Instant::now() < deadline, "server not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    let pid = server.0.id().to_string();
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
        if let Some(s) = server.0.try_wait().unwrap() {
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
