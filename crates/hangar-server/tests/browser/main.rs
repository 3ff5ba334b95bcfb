//! The dashboard in a real browser: Debian's Chromium, headless, driven
//! through ChromeDriver against a real server on a loopback port. The data
//! (users, a model with two versions and a baseline, a deployment with
//! drifted traffic and outcomes) is made through the real API first.
//!
//! Screenshots of the overview, a deployment page and a model page at 1280
//! and 390 CSS pixels wide go to `target/screenshots/`, and to
//! `docs/screenshots/` (committed, shown in the README) when
//! `HANGAR_SCREENSHOTS` is set (`make screenshots`).

mod webdriver;

use std::path::PathBuf;
use std::time::Duration;

use hangar_server::{Limits, ServerConfig};
use serde_json::{json, Value};
use webdriver::{Driver, Session};

const ADMIN: &str = "browser-test-admin-token-0123456789";
const PASSWORD: &str = "correct horse battery staple";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn features() -> Vec<String> {
    let schema: Value = serde_json::from_slice(
        &std::fs::read(repo().join("testdata/reference/schema.json")).unwrap(),
    )
    .unwrap();
    schema["model_input_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The API as the administrator.
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(m, format!("{}{path}", self.base))
            .bearer_auth(ADMIN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v
    }

    async fn raw(&self, method: &str, path: &str, kind: &str, body: Vec<u8>) -> Value {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = self
            .http
            .request(m, format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .header("content-type", kind)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v
    }

    async fn push(&self, model: &str, reference: &str, meta: Value) -> u64 {
        let bytes =
            std::fs::read(repo().join(format!("testdata/reference/models/{reference}/model.onnx")))
                .unwrap();
        let form = reqwest::multipart::Form::new()
            .text("metadata", meta.to_string())
            .part(
                "artifact",
                reqwest::multipart::Part::bytes(bytes).file_name("model.onnx"),
            );
        let r = self
            .http
            .post(format!("{}/api/v1/models/{model}/versions", self.base))
            .bearer_auth(ADMIN)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "push: {status} {v}");
        v["version"].as_u64().unwrap()
    }

    /// Sends `rows` rows of a reference batch as named-feature requests with
    /// the segment and row id, then their true outcomes.
    async fn replay(&self, deployment: &str, batch: &str, rows: usize) {
        let text =
            std::fs::read_to_string(repo().join(format!("testdata/reference/data/{batch}.csv")))
                .unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let names = features();
        let data: Vec<Vec<&str>> = lines.take(rows).map(|l| l.split(',').collect()).collect();
        for chunk in data.chunks(250) {
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
                        }
                    }
                    Value::Object(obj)
                })
                .collect();
            self.call(
                "POST",
                &format!("/v2/models/{deployment}/infer"),
                Some(json!({ "instances": instances })),
            )
            .await;
        }
        let label = header.iter().position(|h| *h == "label").unwrap();
        let id = header.iter().position(|h| *h == "row_id").unwrap();
        let mut csv = String::from("row_id,label\n");
        for cells in &data {
            csv.push_str(&format!("{batch}:{},{}\n", cells[id], cells[label]));
        }
        self.raw(
            "POST",
            &format!("/api/v1/deployments/{deployment}/feedback"),
            "text/csv",
            csv.into_bytes(),
        )
        .await;
    }
}

fn config(dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        data_dir: dir.to_path_buf(),
        database: None,
        artifacts: None,
        artifact_settings: Vec::new(),
        ort_dylib: std::env::var_os("ORT_DYLIB_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("vendor/onnxruntime/libonnxruntime.so")),
        limits: Limits::default(),
        inference_threads: Some(2),
        inference_queue: 256,
        guardrail_interval: Duration::from_millis(200),
        model_memory: 1 << 30,
        prediction_retention_days: 30,
        aggregate_retention_days: 400,
        alert_interval: Duration::from_millis(300),
        key_rate_limit: 0.0,
        model_check: None,
        public_url: None,
    }
}

/// Makes the test's world through the real API.
async fn seed(api: &Api) {
    api.call("POST", "/api/v1/teams", Some(json!({"name": "risk"})))
        .await;
    for (user, role) in [("maria", "maintainer"), ("victor", "viewer")] {
        api.call(
            "POST",
            "/api/v1/users",
            Some(json!({"name": user, "team": "risk", "role": role, "password": PASSWORD})),
        )
        .await;
    }
    api.call(
        "POST",
        "/api/v1/models",
        Some(json!({
            "name": "credit",
            "owner_team": "risk",
            "description": "Probability that a consumer loan applicant defaults within 12 months.",
            "intended_use": "Ranking consumer loan applications for manual review by the credit team.",
            "out_of_scope_uses": ["Automated rejection without human review", "Employment or insurance decisions"],
            "risk_tier": "medium",
            "tags": ["credit", "tabular"],
        })),
    )
    .await;
    let meta = |what: &str, auc: f64| {
        json!({
            "features": features(),
            "description": what,
            "source_commit": "4f2c9e1",
            "training_run": "run-2026-11-20",
            "metrics": {"roc_auc": auc},
        })
    };
    let v1 = api
        .push("credit", "gbdt", meta("gradient-boosted trees", 0.87))
        .await;
    let v2 = api
        .push("credit", "logreg", meta("logistic regression", 0.84))
        .await;
    let reference = std::fs::read(repo().join("testdata/reference/data/reference.csv")).unwrap();
    for v in [v1, v2] {
        api.raw(
            "PUT",
            &format!("/api/v1/models/credit/versions/{v}/baseline?label_column=label&categorical=employment_type,housing_status"),
            "text/csv",
            reference.clone(),
        )
        .await;
    }
    api.call(
        "PUT",
        "/api/v1/models/credit/aliases/production",
        Some(json!({"version": v1})),
    )
    .await;
    let settings = json!({"segments": ["group"], "row_id": "row_id"});
    // credit-api: revision 1 serves v1, revision 2 moves to v2; then drifted traffic.
    for (v, msg) in [
        (v1, "first release"),
        (v2, "logistic regression for explainability"),
    ] {
        api.call(
            "PUT",
            "/api/v1/deployments/credit-api",
            Some(json!({"model": format!("credit:{v}"), "settings": settings, "message": msg})),
        )
        .await;
    }
    api.replay("credit-api", "prod_b_covariate_drift", 2000)
        .await;
    // credit-batch: a quiet, healthy one.
    api.call(
        "PUT",
        "/api/v1/deployments/credit-batch",
        Some(json!({"model": format!("credit:{v1}"), "settings": settings, "message": "nightly scoring"})),
    )
    .await;
    api.replay("credit-batch", "prod_a_no_drift", 1000).await;
}

async fn login(s: &Session, base: &str, user: &str) {
    s.goto(&format!("{base}/login")).await;
    s.must("#user").await.type_text(user).await;
    s.must("#password").await.type_text(PASSWORD).await;
    s.must("button[type=submit]").await.click().await;
    s.wait_for_url(&format!("{base}/")).await;
    s.wait_for_text("Signed in as").await;
}

fn save(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
        .join("screenshots");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join(name), png).unwrap();
    // The committed copies change only when asked (`make screenshots`), so
    // a test run leaves a clone as it found it.
    if std::env::var_os("HANGAR_SCREENSHOTS").is_some() {
        let docs = repo().join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(name), png).unwrap();
    }
}

async fn screenshots(s: &Session, base: &str, page: &str, name: &str) {
    s.goto(&format!("{base}{page}")).await;
    for (width, max) in [(1280, 4000), (390, 6000)] {
        let png = s.screenshot(width, max).await;
        save(&format!("{name}-{width}.png"), &png);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintainer_rolls_back_from_the_page_and_a_viewer_cannot() {
    tokio::time::timeout(Duration::from_secs(300), scenario())
        .await
        .expect("the browser test finishes within 5 minutes");
}

async fn scenario() {
    let driver = Driver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let state = hangar_server::open(&config(dir.path())).await.unwrap();
    hangar_server::bootstrap_admin(&state, Some(ADMIN))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hangar_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let api = Api {
        base: base.clone(),
        http: http.clone(),
    };
    seed(&api).await;
    // Let the alert loop see the drift.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The maintainer signs in through the form and opens the overview.
    let s = driver.session().await;
    login(&s, &base, "maria").await;
    let overview = s.wait_for_text("credit-batch").await;
    assert!(overview.contains("credit-api"), "{overview}");
    assert!(overview.contains("credit-batch"), "{overview}");
    let first = s.must(".cards > li h2 a").await.text().await;
    assert_eq!(first, "credit-api", "what needs attention comes first");
    s.must("a[href='/deployments/credit-api']")
        .await
        .click()
        .await;
    s.wait_for_url(&format!("{base}/deployments/credit-api"))
        .await;
    let page = s.wait_for_text("Revision timeline").await;
    for want in [
        "Serving now",
        "Input drift",
        "Drifted",
        "Fairness",
        "Revision timeline",
        "logistic regression for explainability",
    ] {
        assert!(
            page.contains(want),
            "the deployment page shows {want:?}:\n{page}"
        );
    }
    assert_eq!(s.must(".serving-version").await.text().await, "2");
    assert!(
        s.find("svg.chart title").await.is_some(),
        "charts are labelled"
    );
    screenshots(&s, &base, "/", "overview").await;
    screenshots(&s, &base, "/models/credit", "model").await;

    // Roll back from the page, through the confirmation step.
    s.goto(&format!("{base}/deployments/credit-api")).await;
    s.must("a.button.danger").await.click().await;
    s.wait_for_text("Are you sure?").await;
    s.must("#message")
        .await
        .type_text("drift on income after the switch")
        .await;
    s.must("form.confirm button[type=submit]")
        .await
        .click()
        .await;
    s.wait_for_text("Done: roll back").await;
    assert_eq!(
        s.must(".serving-version").await.text().await,
        "1",
        "the serving version changed back"
    );
    let newest = s.must(".timeline li.rev").await.text().await;
    assert!(newest.contains("Revision 3"), "{newest}");
    assert!(newest.contains("Rollback to revision 1"), "{newest}");
    assert!(newest.contains("maria"), "{newest}");
    assert!(
        newest.contains("drift on income after the switch"),
        "{newest}"
    );
    let d = api
        .call("GET", "/api/v1/deployments/credit-api", None)
        .await;
    assert_eq!(d["current"]["revision"], 3, "{d}");
    // The deployment page after the rollback: the timeline marks it.
    screenshots(&s, &base, "/deployments/credit-api?range=1h", "deployment").await;
    s.quit().await;

    // The viewer sees the page but no button to change it.
    let v = driver.session().await;
    login(&v, &base, "victor").await;
    v.goto(&format!("{base}/deployments/credit-api")).await;
    v.wait_for_text("Revision timeline").await;
    assert!(
        v.find("a.button.danger").await.is_none(),
        "no rollback button for a viewer"
    );
    assert!(!v.text().await.contains("Roll back…"));
    v.quit().await;

    // ...and the server refuses the viewer's POST anyway (session + CSRF).
    // Signing in takes the form's own cookie and CSRF token.
    let form = http.get(format!("{base}/login")).send().await.unwrap();
    let login_cookie = form
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let form = form.text().await.unwrap();
    let login_csrf = form
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the sign-in form carries a CSRF token")
        .to_string();
    let r = http
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &login_cookie)
        .body(format!(
            "csrf={login_csrf}&user=victor&password={}",
            PASSWORD.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = http
        .get(format!("{base}/deployments/credit-api"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the sign-out form carries the CSRF token")
        .to_string();
    let r = http
        .post(format!("{base}/deployments/credit-api/rollback"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&message=let+me"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a viewer may not roll back");
    let d = api
        .call("GET", "/api/v1/deployments/credit-api", None)
        .await;
    assert_eq!(d["current"]["revision"], 3, "nothing changed: {d}");

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}
