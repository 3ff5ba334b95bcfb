//! Hostile and careless requests (issue 11): every answer is the API's JSON
//! error with the right status, never plain text, never a crash.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;

use crate::common::*;

async fn raw(
    s: &TestServer,
    method: &str,
    uri: &str,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let (st, h, body) = s.send(req).await;
    let v = serde_json::from_slice(&body).unwrap_or_else(|_| {
        panic!(
            "{method} {uri}: {st} answered non-JSON {:?}",
            String::from_utf8_lossy(&body)
        )
    });
    (st, h, v)
}

#[tokio::test]
async fn trace_options_and_unknown_methods_get_405_with_allow() {
    let s = TestServer::start().await;
    for (method, uri) in [
        ("TRACE", "/api/v1/models"),
        ("OPTIONS", "/api/v1/models"),
        ("TRACE", "/v2/health/live"),
        ("DELETE", "/v2/models/x/infer"),
    ] {
        let (st, h, v) = raw(&s, method, uri).await;
        assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}: {v}");
        assert_eq!(v["code"], "method_not_allowed", "{v}");
        let allow = h["allow"].to_str().unwrap();
        assert!(!allow.contains(method), "{allow}");
        assert!(!allow.is_empty());
    }
    let (_, h, _) = raw(&s, "TRACE", "/api/v1/models").await;
    assert_eq!(h["allow"], "GET, POST, HEAD");
    // HEAD is GET without a body, for every GET route.
    let req = Request::builder()
        .method("HEAD")
        .uri("/api/v1/models")
        .body(Body::empty())
        .unwrap();
    let (st, _, body) = s.send(req).await;
    assert_eq!(st, StatusCode::OK);
    assert!(body.is_empty());
}

#[tokio::test]
async fn names_that_are_not_utf8_get_a_json_error() {
    let s = TestServer::start().await;
    for uri in [
        "/api/v1/models/%FF",
        "/api/v1/models/%C3%28/versions",
        "/api/v1/deployments/%FFx",
    ] {
        let (st, _, v) = raw(&s, "GET", uri).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{uri}: {v}");
        assert_eq!(v["code"], "bad_request", "{uri}: {v}");
        assert!(v["error"].as_str().unwrap().len() > 5, "{v}");
    }
    // The V2 routes keep the protocol's shape: {"error"} only.
    let (st, _, v) = raw(&s, "GET", "/v2/models/%FF").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].is_string() && v.get("code").is_none(), "{v}");
}

/// The data directory holds token and password hashes and every team's
/// prediction log: created 0700, its files 0600 (it was 0755 and 0644).
#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_is_private_to_the_servers_user() {
    use std::os::unix::fs::PermissionsExt;
    let s = TestServer::with_config(|c| c.data_dir = c.data_dir.join("fresh/data")).await;
    s.deploy_reference("m", "logreg", "api").await;
    let (st, _) = s.infer("api", one_row_request()).await;
    assert_eq!(st, StatusCode::OK);
    s.state.log.flush().await;
    let data = s.dir.path().join("fresh/data");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    // The database file, when the database is the embedded one.
    let mut files = Vec::new();
    if s.embedded() {
        files.extend([data.join("hangar.db"), data.join("hangar.db-wal")]);
    }
    for dir in std::fs::read_dir(data.join("artifacts/sha256")).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    assert!(files.len() > 2 * usize::from(s.embedded()), "{files:?}");
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

/// CSV export: ids a client chose that a spreadsheet would run as a formula
/// (`=`, `+`, `-`, `@`) are written with a leading `'` (OWASP), numbers are
/// left alone.
#[tokio::test]
async fn exported_csv_cells_cannot_run_as_spreadsheet_formulas() {
    let s = TestServer::start().await;
    s.deploy_reference("m", "logreg", "api").await;
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/deployments/api",
            Some(serde_json::json!({"model": "m:1", "settings": {"row_id": "row_id"}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let names = features();
    let mut instance = serde_json::Map::new();
    for n in &names {
        instance.insert(n.clone(), serde_json::json!(-1.5));
    }
    instance.insert("row_id".into(), serde_json::json!("@SUM(A1:A9)"));
    let (st, r) = s
        .infer(
            "api",
            serde_json::json!({"id": "=HYPERLINK(\"http://evil.example\")", "instances": [instance]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let req = Request::builder()
        .uri("/api/v1/deployments/api/predictions")
        .body(Body::empty())
        .unwrap();
    let (st, _, body) = s.send(req).await;
    assert_eq!(st, StatusCode::OK);
    let mut reader = csv::Reader::from_reader(body.as_slice());
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let cell = |name: &str| row[header.iter().position(|h| h == name).unwrap()].to_string();
    assert_eq!(cell("request_id"), "'=HYPERLINK(\"http://evil.example\")");
    assert_eq!(cell("row_id"), "'@SUM(A1:A9)");
    for (i, c) in row.iter().enumerate() {
        assert!(
            !c.starts_with(['=', '+', '@', '\t', '\r']),
            "{}: {c}",
            &header[i]
        );
    }
}

/// A check process that dies by a signal (here it aborts itself, as ONNX
/// Runtime does on a fatal error) refuses the push, naming the signal; one
/// that overruns its time is killed and refuses it too. The server and its
/// deployments are untouched. (The real child, `hangar validate-model`, is
/// tested against the binary in crates/hangar/tests/model_check.rs.)
#[cfg(unix)]
#[tokio::test]
async fn a_model_check_that_crashes_or_hangs_refuses_the_push() {
    use hangar_server::model_check::ModelCheck;
    for (script, timeout, expect) in [
        ("cat >/dev/null; kill -ABRT $$", 10_000, "SIGABRT"),
        ("cat >/dev/null; kill -SEGV $$", 10_000, "SIGSEGV"),
        (
            "cat >/dev/null; exec sleep 30",
            300,
            "did not finish loading",
        ),
        (
            "cat >/dev/null; echo '{\"error\": \"the checker said no\"}'; exit 1",
            10_000,
            "the checker said no",
        ),
    ] {
        let s = TestServer::with_config(|c| {
            c.model_check = Some(ModelCheck {
                program: "/bin/sh".into(),
                args: vec!["-c".into(), script.into()],
                timeout: std::time::Duration::from_millis(timeout),
            })
        })
        .await;
        let (st, _) = s
            .call(
                "POST",
                "/api/v1/models",
                Some(serde_json::json!({"name": "m"})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        let start = std::time::Instant::now();
        let (st, e) = s.upload("m", &reference_model("logreg"), None).await;
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(st, StatusCode::BAD_REQUEST, "{script}: {e}");
        assert_eq!(e["code"], "unsupported_model", "{e}");
        assert!(
            e["error"].as_str().unwrap().contains(expect),
            "{script}: {e}"
        );
        let (_, versions) = s.call("GET", "/api/v1/models/m/versions", None).await;
        assert_eq!(versions["versions"], serde_json::json!([]), "{versions}");
    }
    // A check that passes lets the push through.
    let s = TestServer::with_config(|c| {
        c.model_check = Some(ModelCheck {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), "cat >/dev/null; echo '{\"ok\": true}'".into()],
            timeout: std::time::Duration::from_secs(10),
        })
    })
    .await;
    s.deploy_reference("m", "logreg", "api").await;
    let (st, _) = s.infer("api", one_row_request()).await;
    assert_eq!(st, StatusCode::OK);
}
