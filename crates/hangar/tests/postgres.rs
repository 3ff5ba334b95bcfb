//! `hangar serve --database postgres://…`: the real binary with its
//! metadata in PostgreSQL.
//!
//! - On a fresh database of the shared test server it serves, and a restart
//!   (`kill -9`, then the same flags) sees the same models and deployment;
//!   the password in the URL is never printed.
//! - An outage, on a private PostgreSQL the test stops and starts
//!   (`hangar_testkit::PrivatePostgres`): while it is down, inference on
//!   the loaded version answers 200 (with a consumer key and with a user's
//!   token, past the credential cache's lifetime), a key it has not read yet
//!   is answered 503 (not 401), management calls answer 503
//!   `database_unavailable` within seconds, and the prediction rows wait in
//!   the buffer; once it is back, management calls succeed again within a
//!   bounded time, every key works (a new one too), and every row answered
//!   during the outage is in the log.
//!
//! The outage figures it prints are in docs/reliability.md.

mod common;

use std::time::{Duration, Instant};

use common::{read_json, reference, Server, ADMIN_TOKEN};
use hangar_testkit::{PrivatePostgres, TestDatabase};
use serde_json::{json, Value};

/// How long the database stays down: past the credential cache's 10 s, so
/// that entries go stale during the outage and must stand in.
const OUTAGE: Duration = Duration::from_secs(14);
/// A management call during the outage answers within this.
const PROMPT: Duration = Duration::from_secs(5);
/// Once the database is back, management calls succeed within this.
const RECOVERY: Duration = Duration::from_secs(20);

/// What the test does over HTTP, on its own runtime.
struct Api {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    url: String,
    body: Value,
}

/// One answer: status, body, and how long it took.
struct Answer {
    status: u16,
    body: Value,
    took: Duration,
}

impl Api {
    fn new(server: &Server) -> Api {
        let request = read_json(&reference("fixed_inputs_200.request.json"));
        let first_row: Vec<Value> = request["inputs"][0]["data"].as_array().unwrap()[..22].to_vec();
        Api {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            url: server.url.clone(),
            body: json!({"inputs": [{
                "name": request["inputs"][0]["name"],
                "datatype": request["inputs"][0]["datatype"],
                "shape": [1, 22],
                "data": first_row,
            }]}),
        }
    }

    fn send(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> Answer {
        self.rt.block_on(async {
            let started = Instant::now();
            let mut req = self
                .http
                .request(method.parse().unwrap(), format!("{}{path}", self.url))
                .bearer_auth(token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            Answer {
                status,
                body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
                took: started.elapsed(),
            }
        })
    }

    /// A one-row inference request with id `id`.
    fn infer(&self, id: &str, token: &str) -> Answer {
        let mut body = self.body.clone();
        body["id"] = json!(id);
        self.send("POST", "/v2/models/credit/infer", token, Some(&body))
    }

    /// The request ids in the prediction log's export (which first flushes
    /// the log).
    fn logged(&self) -> std::collections::HashSet<String> {
        let a = self.send(
            "GET",
            "/api/v1/deployments/credit/predictions",
            ADMIN_TOKEN,
            None,
        );
        assert_eq!(a.status, 200, "the export: {}", a.body);
        let text = a.body.as_str().unwrap_or_default().to_owned();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let id = reader
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "request_id")
            .unwrap();
        reader
            .records()
            .map(|r| r.unwrap()[id].to_owned())
            .collect()
    }

    /// `hangar_prediction_log_dropped_total`, all reasons.
    fn dropped(&self) -> u64 {
        let a = self.send("GET", "/metrics", ADMIN_TOKEN, None);
        assert_eq!(a.status, 200);
        a.body
            .as_str()
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("hangar_prediction_log_dropped_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    }
}

/// Pushes the reference GBDT as `credit` version 1 and deploys it as
/// `credit`.
fn push_and_deploy(server: &Server) {
    let gbdt = reference("models/gbdt/model.onnx");
    server
        .hangar(&["model", "push", gbdt.to_str().unwrap(), "--name", "credit"])
        .ok();
    server
        .hangar(&["deploy", "credit", "--model", "credit:1"])
        .ok();
}

/// A new consumer key for deployment `credit`.
fn consumer_key(server: &Server) -> String {
    let issued = server
        .hangar(&[
            "consumer-key",
            "create",
            "--deployment",
            "credit",
            "--purpose",
            "outage test",
        ])
        .ok();
    issued
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("hgr_"))
        .map(|rest| format!("hgr_{rest}"))
        .unwrap_or_else(|| panic!("no key in {issued:#?}"))
}

#[test]
fn serving_on_postgres_survives_a_restart_and_never_prints_the_password() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create());
    // Trust authentication ignores the password: it is there to be hidden.
    let url = db.url().replacen(
        "postgres://postgres@",
        "postgres://postgres:not-shown-7f3a@",
        1,
    );
    assert!(url.contains("not-shown-7f3a"), "{url}");
    let mut server = Server::start_with(&["--database", &url]);
    push_and_deploy(&server);
    let api = Api::new(&server);
    let first = api.infer("before-restart", ADMIN_TOKEN);
    assert_eq!(first.status, 200, "{}", first.body);

    server.restart();
    let api = Api::new(&server);
    let models = server
        .hangar(&["model", "list", "--output", "json"])
        .ok()
        .json();
    assert!(
        models.to_string().contains("\"credit\""),
        "the model is still there: {models:#}"
    );
    let versions = api.send("GET", "/api/v1/models/credit/versions", ADMIN_TOKEN, None);
    assert_eq!(versions.status, 200);
    assert_eq!(versions.body["versions"].as_array().map(Vec::len), Some(1));
    let answer = api.infer("after-restart", ADMIN_TOKEN);
    assert_eq!(
        answer.status, 200,
        "the deployment is restored: {}",
        answer.body
    );
    let log = server.log_text();
    assert!(log.contains("postgres://postgres:***@"), "{log}");
    assert!(
        !log.contains("not-shown-7f3a"),
        "the password was printed:\n{log}"
    );
    drop(server);
    drop(db);
}

#[test]
fn a_database_outage_keeps_inference_answering_and_everything_recovers() {
    let mut pg = PrivatePostgres::start();
    let server = Server::start_with(&["--database", &pg.url()]);
    push_and_deploy(&server);
    let key = consumer_key(&server);
    // Issued before the outage, first used during it: nothing cached.
    let unseen = consumer_key(&server);
    let api = Api::new(&server);
    for (id, token) in [("before-key", key.as_str()), ("before-user", ADMIN_TOKEN)] {
        let a = api.infer(id, token);
        assert_eq!(a.status, 200, "{id}: {}", a.body);
    }
    let logged = api.logged();
    assert!(logged.contains("before-key") && logged.contains("before-user"));
    // Both credentials are freshly cached when the database goes.
    assert_eq!(
        api.send("GET", "/api/v1/models", ADMIN_TOKEN, None).status,
        200
    );

    pg.stop();
    let down = Instant::now();
    let mut sent = Vec::new();
    let mut slowest = Duration::ZERO;
    let mut management = Vec::new();
    let mut i = 0;
    while down.elapsed() < OUTAGE {
        let token = if i % 2 == 0 {
            key.as_str()
        } else {
            ADMIN_TOKEN
        };
        let id = format!("outage-{i:04}");
        let a = api.infer(&id, token);
        assert_eq!(
            a.status,
            200,
            "inference {}s into the outage ({}): {}\n{}",
            down.elapsed().as_secs(),
            if i % 2 == 0 {
                "consumer key"
            } else {
                "user token"
            },
            a.body,
            server.log_text()
        );
        slowest = slowest.max(a.took);
        sent.push(id);
        // A management call early in the outage and one once the cached
        // credentials have gone stale.
        if (i == 5 || (management.len() == 1 && down.elapsed() > Duration::from_secs(11)))
            && management.len() < 2
        {
            let m = api.send("GET", "/api/v1/models", ADMIN_TOKEN, None);
            assert_eq!(m.status, 503, "{}", m.body);
            assert_eq!(m.body["code"], "database_unavailable", "{}", m.body);
            assert!(
                m.took < PROMPT,
                "a management call took {:?} during the outage",
                m.took
            );
            management.push(m.took);
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(management.len(), 2, "both management calls were made");
    // A credential the server has not read cannot be checked: 503, not 401.
    let a = api.infer("outage-unseen", &unseen);
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(
        a.body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("database is unavailable"),
        "{}",
        a.body
    );
    assert!(a.took < PROMPT, "took {:?}", a.took);

    pg.start_again();
    let back = Instant::now();
    loop {
        let m = api.send("GET", "/api/v1/models", ADMIN_TOKEN, None);
        if m.status == 200 {
            break;
        }
        assert_eq!(m.body["code"], "database_unavailable", "{}", m.body);
        assert!(
            back.elapsed() < RECOVERY,
            "management calls did not recover within {RECOVERY:?}:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let recovered = back.elapsed();
    // Writes too: a new revision.
    server
        .hangar(&[
            "deploy",
            "credit",
            "--model",
            "credit:1",
            "--message",
            "after the outage",
        ])
        .ok();
    let fresh = consumer_key(&server);
    for (id, token) in [
        ("after-key", key.as_str()),
        ("after-user", ADMIN_TOKEN),
        ("after-unseen", unseen.as_str()),
        ("after-fresh", fresh.as_str()),
    ] {
        let a = api.infer(id, token);
        assert_eq!(a.status, 200, "{id}: {}", a.body);
    }
    // The rows kept in the buffer during the outage are written once the
    // writer finds the database again (it retries every second).
    let expected: Vec<String> = sent
        .iter()
        .cloned()
        .chain(["after-key", "after-user", "after-unseen", "after-fresh"].map(String::from))
        .collect();
    let deadline = Instant::now() + RECOVERY;
    let missing = loop {
        let logged = api.logged();
        let missing: Vec<String> = expected
            .iter()
            .filter(|id| !logged.contains(*id))
            .cloned()
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        missing.is_empty(),
        "{} rows answered during or after the outage are not in the log: {:?}…\n{}",
        missing.len(),
        &missing[..missing.len().min(5)],
        server.log_text()
    );
    assert_eq!(api.dropped(), 0, "no row was dropped");
    println!(
        "database outage: {} requests answered 200 during {:?} down (slowest {:?}); management \
         calls answered 503 database_unavailable in {:?}; after the restart management calls \
         succeeded within {:?} and every row was in the log",
        sent.len(),
        OUTAGE,
        slowest,
        management,
        recovered
    );
}
