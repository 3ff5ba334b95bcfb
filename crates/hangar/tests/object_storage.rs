//! `hangar serve --database postgres://… --artifacts s3://…`: the real
//! binary on the two shared backends (a fresh database on the test
//! PostgreSQL, a real S3 server on loopback: `hangar_testkit::S3Server`).
//!
//! While object storage is down, a push fails with 503
//! `artifacts_unavailable` and stores nothing, the loaded version keeps
//! serving, and a restarted server restores its deployment from its local
//! cache; once storage is back, pushes go through again.

mod common;

use std::time::{Duration, Instant};

use common::{read_json, reference, Server, ADMIN_TOKEN};
use hangar_testkit::{S3Server, TestDatabase};
use serde_json::{json, Value};

/// A push while object storage is down fails within this (a connection
/// timeout and a few quick retries, not object_store's default minutes).
const PROMPT: Duration = Duration::from_secs(30);

/// A one-row inference request to deployment `credit` as the
/// administrator; its status.
fn infer(server: &Server) -> u16 {
    let request = read_json(&reference("fixed_inputs_200.request.json"));
    let row: Vec<Value> = request["inputs"][0]["data"].as_array().unwrap()[..22].to_vec();
    let body =
        json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 22], "data": row}]});
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/v2/models/credit/infer", server.url))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

/// The number of versions of model `credit`.
fn versions(server: &Server) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listed: Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/api/v1/models/credit/versions", server.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    listed["versions"].as_array().map_or(0, Vec::len)
}

#[test]
fn pushes_wait_for_object_storage_while_loaded_and_cached_versions_serve() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create());
    let mut s3 = S3Server::start();
    let artifacts = s3.url("hangar");
    let mut server = Server::start_with_env(
        &["--database", db.url(), "--artifacts", &artifacts],
        &s3.env(),
    );
    let gbdt = reference("models/gbdt/model.onnx");
    let forest = reference("models/random_forest/model.onnx");
    server
        .hangar(&["model", "push", gbdt.to_str().unwrap(), "--name", "credit"])
        .ok();
    server
        .hangar(&["deploy", "credit", "--model", "credit:1"])
        .ok();
    assert_eq!(infer(&server), 200);
    assert!(
        server
            .log_text()
            .contains(&format!("artifacts in {artifacts}")),
        "the start-up line names the object storage:\n{}",
        server.log_text()
    );

    s3.stop();
    let started = Instant::now();
    let refused = server
        .hangar(&[
            "model",
            "push",
            forest.to_str().unwrap(),
            "--name",
            "credit",
        ])
        .error_line();
    let took = started.elapsed();
    assert!(
        refused.contains("artifact store is unavailable") && refused.contains("(HTTP 503)"),
        "{refused}"
    );
    assert!(took < PROMPT, "the refused push took {took:?}");
    assert_eq!(versions(&server), 1, "no version row for the refused push");
    assert_eq!(infer(&server), 200, "the loaded version serves");

    // A restart while storage is down restores the deployment from the
    // local cache.
    server.restart();
    assert_eq!(infer(&server), 200, "restored from the cache");

    s3.restart();
    let pushed = server
        .hangar(&[
            "model",
            "push",
            forest.to_str().unwrap(),
            "--name",
            "credit",
        ])
        .ok();
    assert!(
        pushed.stdout.starts_with("pushed credit version 2 "),
        "{pushed:#?}"
    );
    println!("object storage down: a push refused with 503 in {took:?}; serving went on, also after a restart");
    drop(server);
    drop(db);
}
