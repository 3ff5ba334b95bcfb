//! A real server state (ONNX Runtime, inference pool, and the storage of
//! the backend under test) behind the in-process router, and request
//! helpers.
//!
//! The storage is the embedded default (a SQLite file and artifact files in
//! a temp dir), or with `HANGAR_TEST_BACKEND=postgres` a fresh PostgreSQL
//! database and a real S3 server of the test's own (`make test` runs the
//! suite both ways). Tests do not know which: the few that look at what is
//! stored go through [`TestServer::sql`].

#![allow(dead_code)]

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use hangar_server::{AppState, Limits, ServerConfig};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn ort() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("vendor/onnxruntime/libonnxruntime.so"))
}

pub fn reference_model(name: &str) -> Vec<u8> {
    std::fs::read(repo().join(format!("testdata/reference/models/{name}/model.onnx"))).unwrap()
}

pub fn features() -> Vec<String> {
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

/// Row 0 of the fixed reference inputs and the GBDT's answer for it.
pub fn first_row() -> Vec<f64> {
    let body: Value = serde_json::from_slice(
        &std::fs::read(repo().join("testdata/reference/fixed_inputs_200.request.json")).unwrap(),
    )
    .unwrap();
    body["inputs"][0]["data"].as_array().unwrap()[..22]
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

/// The administrator's token every test server is bootstrapped with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub app: Router,
    pub backing: Backing,
}

/// The storage a test server runs on, kept for its lifetime (and across a
/// restart).
pub enum Backing {
    /// SQLite and files in the data directory.
    Embedded,
    /// A PostgreSQL database and an S3 bucket of the test's own.
    Shared {
        database: hangar_testkit::TestDatabase,
        s3: hangar_testkit::S3Server,
    },
}

impl Backing {
    /// What `HANGAR_TEST_BACKEND` asks for: `postgres` (PostgreSQL + S3) or
    /// the embedded default.
    pub async fn from_env() -> Backing {
        match std::env::var("HANGAR_TEST_BACKEND").as_deref() {
            Ok("postgres") => Backing::Shared {
                database: hangar_testkit::TestDatabase::create().await,
                s3: hangar_testkit::S3Server::start(),
            },
            Ok("sqlite") | Ok("") | Err(_) => Backing::Embedded,
            Ok(other) => panic!("HANGAR_TEST_BACKEND={other}: expected sqlite or postgres"),
        }
    }

    /// Points `cfg` at this storage.
    pub fn apply(&self, cfg: &mut ServerConfig) {
        if let Backing::Shared { database, s3 } = self {
            cfg.database = Some(database.url().to_string());
            cfg.artifacts = Some(s3.url("hangar"));
            cfg.artifact_settings = s3.env();
        }
    }
}

pub fn config(dir: &std::path::Path, limits: Limits) -> ServerConfig {
    ServerConfig {
        data_dir: dir.to_path_buf(),
        database: None,
        artifacts: None,
        artifact_settings: Vec::new(),
        ort_dylib: ort(),
        limits,
        inference_threads: Some(2),
        inference_queue: 256,
        guardrail_interval: std::time::Duration::from_millis(100),
        model_memory: 1 << 30,
        prediction_retention_days: 30,
        aggregate_retention_days: 400,
        alert_interval: std::time::Duration::from_millis(200),
        key_rate_limit: 0.0,
        model_check: None,
        public_url: None,
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with_limits(Limits::default()).await
    }

    pub async fn with_limits(limits: Limits) -> Self {
        Self::with_config(|c| c.limits = limits).await
    }

    pub async fn with_config(change: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let backing = Backing::from_env().await;
        let mut cfg = config(dir.path(), Limits::default());
        backing.apply(&mut cfg);
        change(&mut cfg);
        let state = hangar_server::open(&cfg).await.unwrap();
        hangar_server::bootstrap_admin(&state, Some(ADMIN_TOKEN))
            .await
            .unwrap();
        let app = hangar_server::app(state.clone());
        TestServer {
            dir,
            state,
            app,
            backing,
        }
    }

    /// Opens the same storage again, as after a restart.
    pub async fn restart(self) -> Self {
        let TestServer {
            dir,
            state,
            backing,
            ..
        } = self;
        drop(state);
        let mut cfg = config(dir.path(), Limits::default());
        backing.apply(&mut cfg);
        let state = hangar_server::open(&cfg).await.unwrap();
        let app = hangar_server::app(state.clone());
        TestServer {
            dir,
            state,
            app,
            backing,
        }
    }

    /// Sends `req` as the administrator unless it carries its own
    /// credential (or `x-test-anonymous`, for calls without one).
    pub async fn send(
        &self,
        mut req: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        if req.headers_mut().remove("x-test-anonymous").is_none()
            && !req.headers().contains_key("authorization")
            && !req.headers().contains_key("cookie")
        {
            req.headers_mut().insert(
                "authorization",
                format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
            );
        }
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, headers, body)
    }

    pub async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(match body {
                Some(v) => Body::from(serde_json::to_vec(&v).unwrap()),
                None => Body::empty(),
            })
            .unwrap();
        let (status, _, bytes) = self.send(req).await;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, value)
    }

    pub async fn upload(
        &self,
        model: &str,
        bytes: &[u8],
        metadata: Option<Value>,
    ) -> (StatusCode, Value) {
        self.upload_to(&format!("/api/v1/models/{model}/versions"), bytes, metadata)
            .await
    }

    /// Pushes `bytes` (and `metadata`) as a multipart upload to `uri`, a
    /// versions route with its query.
    pub async fn upload_to(
        &self,
        uri: &str,
        bytes: &[u8],
        metadata: Option<Value>,
    ) -> (StatusCode, Value) {
        let boundary = "hangarboundary7d1";
        let mut body = Vec::new();
        if let Some(meta) = metadata {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{meta}\r\n").as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"artifact\"; filename=\"model.onnx\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let req = Request::builder()
            .method("POST")
            .uri(uri)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(Body::from(body))
            .unwrap();
        let (status, _, bytes) = self.send(req).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Creates model `name`, pushes `reference` as version 1 (with the
    /// reference feature names) and deploys it under `deployment`.
    pub async fn deploy_reference(&self, name: &str, reference: &str, deployment: &str) {
        let (s, _) = self
            .call(
                "POST",
                "/api/v1/models",
                Some(serde_json::json!({ "name": name })),
            )
            .await;
        assert!(s == StatusCode::CREATED || s == StatusCode::CONFLICT, "{s}");
        let (s, v) = self
            .upload(
                name,
                &reference_model(reference),
                Some(serde_json::json!({ "features": features() })),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let version = v["version"].as_u64().unwrap();
        let (s, v) = self
            .call(
                "PUT",
                &format!("/api/v1/deployments/{deployment}"),
                Some(serde_json::json!({ "model": format!("{name}:{version}") })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }

    pub async fn infer(&self, deployment: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            "POST",
            &format!("/v2/models/{deployment}/infer"),
            Some(body),
        )
        .await
    }
}

/// The sign-in form's cookie (`name=value`) and CSRF token, as a browser
/// gets them from `GET /login`.
pub async fn login_form(s: &TestServer) -> (String, String) {
    let req = Request::builder()
        .uri("/login")
        .header("x-test-anonymous", "1")
        .body(Body::empty())
        .unwrap();
    let (st, h, body) = s.send(req).await;
    assert_eq!(st, StatusCode::OK);
    let cookie = h["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let body = String::from_utf8(body).unwrap();
    let csrf = body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the sign-in form carries a CSRF token")
        .to_string();
    (cookie, csrf)
}

/// Posts the sign-in form as a browser does, with the form's cookie and
/// CSRF token; `fields` is the rest of the form (`user=…&password=…`).
pub async fn post_login(
    s: &TestServer,
    fields: &str,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let (cookie, csrf) = login_form(s).await;
    let req = Request::builder()
        .method("POST")
        .uri("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-test-anonymous", "1")
        .header("cookie", cookie)
        .body(Body::from(format!("csrf={csrf}&{fields}")))
        .unwrap();
    s.send(req).await
}

pub fn one_row_request() -> Value {
    serde_json::json!({
        "id": "req-1",
        "inputs": [{ "name": "input", "shape": [1, 22], "datatype": "FP32", "data": first_row() }]
    })
}

/// The password [`create_user`] gives every user.
pub const USER_PASSWORD: &str = "a long password 123";

/// Creates team `name` (as the administrator).
pub async fn create_team(s: &TestServer, name: &str) {
    let (st, t) = s
        .call("POST", "/api/v1/teams", Some(json!({"name": name})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
}

/// Creates user `name` with `role` in `team` and the password
/// [`USER_PASSWORD`] (as the administrator).
pub async fn create_user(s: &TestServer, name: &str, team: &str, role: &str) {
    let (st, u) = s
        .call(
            "POST",
            "/api/v1/users",
            Some(json!({"name": name, "team": team, "role": role, "password": USER_PASSWORD})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
}

/// Gives user `name` a further `role` in `team` (as the administrator).
pub async fn grant_role(s: &TestServer, name: &str, team: &str, role: &str) {
    let (st, r) = s
        .call(
            "POST",
            &format!("/api/v1/users/{name}/roles"),
            Some(json!({"team": team, "role": role})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
}

/// A new API token of `user` (issued by the administrator).
pub async fn token_for(s: &TestServer, user: &str) -> String {
    let (st, t) = s
        .call("POST", "/api/v1/tokens", Some(json!({"user": user})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    t["token"].as_str().unwrap().to_string()
}

/// [`create_user`], then a token of the new user.
pub async fn user_with_token(s: &TestServer, name: &str, team: &str, role: &str) -> String {
    create_user(s, name, team, role).await;
    token_for(s, name).await
}

/// A GET of `uri` by the holder of `token`.
pub fn get_with_token(uri: &str, token: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// Sends a JSON request as the holder of `token`.
pub async fn call_as(
    s: &TestServer,
    token: &str,
    method: &str,
    uri: &str,
    body: Value,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (st, _, bytes) = s.send(req).await;
    (st, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A connection to the test server's own database, whichever backend it is
/// on, for the tests that look at (or tamper with) what is stored. The
/// queries are plain SQL both backends read alike.
pub enum Sql {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl TestServer {
    pub async fn sql(&self) -> Sql {
        match &self.backing {
            Backing::Embedded => {
                let url = format!("sqlite://{}", self.dir.path().join("hangar.db").display());
                Sql::Sqlite(sqlx::SqlitePool::connect(&url).await.unwrap())
            }
            Backing::Shared { database, .. } => {
                Sql::Postgres(sqlx::PgPool::connect(database.url()).await.unwrap())
            }
        }
    }

    /// Every stored copy of the artifact with this hex digest: the file in
    /// the data directory (with object storage, the local cache's copy,
    /// when it has one) and the object in the bucket. Tampering with all of
    /// them is tampering with the artifact.
    pub fn artifact_copies(&self, hex: &str) -> Vec<PathBuf> {
        let rel = std::path::Path::new("sha256").join(&hex[..2]).join(hex);
        let mut copies = Vec::new();
        let local = self.dir.path().join("artifacts").join(&rel);
        if local.exists() {
            copies.push(local);
        }
        if let Backing::Shared { s3, .. } = &self.backing {
            copies.push(s3.bucket_dir().join("hangar").join(&rel));
        }
        assert!(!copies.is_empty(), "artifact {hex} is stored nowhere");
        copies
    }

    /// Is the storage the embedded default (SQLite and files)?
    pub fn embedded(&self) -> bool {
        matches!(self.backing, Backing::Embedded)
    }
}

impl Sql {
    /// One whole number (NULL reads as 0).
    pub async fn scalar(&self, query: &str) -> i64 {
        match self {
            Sql::Sqlite(p) => sqlx::query_scalar::<_, Option<i64>>(query)
                .fetch_one(p)
                .await
                .unwrap(),
            Sql::Postgres(p) => sqlx::query_scalar::<_, Option<i64>>(query)
                .fetch_one(p)
                .await
                .unwrap(),
        }
        .unwrap_or(0)
    }

    /// One row of two whole numbers.
    pub async fn pair(&self, query: &str) -> (i64, i64) {
        match self {
            Sql::Sqlite(p) => sqlx::query_as(query).fetch_one(p).await.unwrap(),
            Sql::Postgres(p) => sqlx::query_as(query).fetch_one(p).await.unwrap(),
        }
    }

    /// A column of nullable numbers, for a query with one text parameter
    /// written `$1` (SQLite reads `$1` too).
    pub async fn floats(&self, query: &str, param: &str) -> Vec<Option<f64>> {
        match self {
            Sql::Sqlite(p) => sqlx::query_scalar(query)
                .bind(param)
                .fetch_all(p)
                .await
                .unwrap(),
            Sql::Postgres(p) => sqlx::query_scalar(query)
                .bind(param)
                .fetch_all(p)
                .await
                .unwrap(),
        }
    }

    pub async fn execute(&self, query: &str) {
        match self {
            Sql::Sqlite(p) => drop(sqlx::query(query).execute(p).await.unwrap()),
            Sql::Postgres(p) => drop(sqlx::query(query).execute(p).await.unwrap()),
        }
    }

    /// Drops a trigger of `table` (each backend's syntax).
    pub async fn drop_trigger(&self, trigger: &str, table: &str) {
        match self {
            Sql::Sqlite(_) => self.execute(&format!("DROP TRIGGER {trigger}")).await,
            Sql::Postgres(_) => {
                self.execute(&format!("DROP TRIGGER {trigger} ON {table}"))
                    .await
            }
        }
    }

    pub async fn close(self) {
        match self {
            Sql::Sqlite(p) => p.close().await,
            Sql::Postgres(p) => p.close().await,
        }
    }
}
