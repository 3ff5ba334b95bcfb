//! The whole move, end to end: an embedded install with versions, alias
//! moves, deployment revisions, logged predictions and audit entries is
//! copied by `hangar store copy` into a fresh PostgreSQL database and a real
//! S3 bucket, then served from them by a new server with an empty data
//! directory (a cold artifact cache), which answers as the embedded one did.

mod common;

use std::time::Duration;

use common::{hangar_env, read_json, reference, Server, ADMIN_TOKEN};
use serde_json::{json, Value};

struct Api {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Api {
    fn new() -> Api {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
        );
        Api {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: reqwest::Client::builder()
                .default_headers(headers)
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    fn get(&self, server: &Server, path: &str) -> Value {
        self.rt.block_on(async {
            let r = self
                .http
                .get(format!("{}{path}", server.url))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert_eq!(status, 200, "GET {path}: {body}");
            body
        })
    }

    fn infer(&self, server: &Server, body: &Value) -> Value {
        self.rt.block_on(async {
            let r = self
                .http
                .post(format!("{}/v2/models/credit-api/infer", server.url))
                .json(body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert_eq!(status, 200, "infer: {body}");
            body
        })
    }
}

/// What a user reads back, for comparison before and after the move.
fn answers(api: &Api, server: &Server, between: &str) -> Vec<(String, Value)> {
    let mut report = api.get(
        server,
        "/api/v1/deployments/credit-api/monitoring?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
    );
    // When the report was made is not an answer to compare.
    if let Some(o) = report.as_object_mut() {
        o.remove("generated_at");
    }
    let mut verify = api.get(server, "/api/v1/audit/verify");
    if let Some(o) = verify.as_object_mut() {
        o.remove("verified_at");
    }
    vec![
        (
            "versions".into(),
            api.get(server, "/api/v1/models/credit/versions"),
        ),
        (
            "alias history".into(),
            api.get(server, "/api/v1/models/credit/aliases/production/history"),
        ),
        (
            "alias at a past time".into(),
            api.get(
                server,
                &format!("/api/v1/models/credit/aliases/production?at={between}"),
            ),
        ),
        (
            "revisions".into(),
            api.get(server, "/api/v1/deployments/credit-api/revisions"),
        ),
        ("monitoring report".into(), report),
        ("audit verification".into(), verify),
    ]
}

#[test]
fn a_copied_install_is_served_from_postgres_and_s3_with_the_same_answers() {
    let api = Api::new();
    let pg = api.rt.block_on(hangar_testkit::TestDatabase::create());
    let s3 = hangar_testkit::S3Server::start();
    let request = read_json(&reference("fixed_inputs_200.request.json"));
    let body = json!({"inputs": request["inputs"]});

    // The embedded install: two versions, the alias moved from one to the
    // other, two revisions, predictions in the log.
    let mut embedded = Server::start();
    for (file, description) in [
        ("models/gbdt/model.onnx", "trees"),
        ("models/logreg/model.onnx", "linear"),
    ] {
        embedded
            .hangar(&[
                "model",
                "push",
                reference(file).to_str().unwrap(),
                "--name",
                "credit",
                "--description",
                description,
            ])
            .ok();
    }
    embedded
        .hangar(&["alias", "set", "credit", "production", "1"])
        .ok();
    std::thread::sleep(Duration::from_millis(20));
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    std::thread::sleep(Duration::from_millis(20));
    embedded
        .hangar(&["alias", "set", "credit", "production", "2"])
        .ok();
    embedded
        .hangar(&["deploy", "credit-api", "--model", "credit:1"])
        .ok();
    embedded
        .hangar(&["deploy", "credit-api", "--model", "credit@production"])
        .ok();
    let before_answer = api.infer(&embedded, &body);
    for _ in 0..4 {
        api.infer(&embedded, &body);
    }
    // A report flushes the log first: the rows are in the file when the
    // server is killed, and the copy reads the file as SQLite left it.
    let before = answers(&api, &embedded, &between);
    embedded.kill();

    // The move.
    let env: Vec<(String, String)> = s3.env();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let copied = hangar_env(
        &[
            "store",
            "copy",
            "--data-dir",
            embedded.data.to_str().unwrap(),
            "--to-database",
            pg.url(),
            "--to-artifacts",
            &s3.url("hangar"),
        ],
        &env_refs,
        None,
    )
    .ok();
    assert!(
        copied.stdout.contains("copied 2 artifact(s)"),
        "{copied:#?}"
    );

    // Served from PostgreSQL and S3, on an empty data directory.
    let shared = Server::start_with_env(
        &["--database", pg.url(), "--artifacts", &s3.url("hangar")],
        &env,
    );
    let after = answers(&api, &shared, &between);
    for ((what, b), (_, a)) in before.iter().zip(&after) {
        assert_eq!(a, b, "{what} differs after the move");
    }
    assert_eq!(
        before[2].1["version"], 1,
        "the alias's past: {}",
        before[2].1
    );
    let rows = before[4].1["rows"].as_u64().unwrap_or(0);
    assert!(
        rows >= 5 * 200,
        "the report reads the logged rows: {}",
        before[4].1
    );
    // The deployment's version loads from object storage into a cold cache
    // and answers as before.
    let after_answer = api.infer(&shared, &body);
    assert_eq!(after_answer["outputs"], before_answer["outputs"]);
    assert_eq!(after_answer["model_version"], "2");
    drop(shared);
    api.rt.block_on(async move { drop(pg) });
}
