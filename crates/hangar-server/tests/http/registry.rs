//! Models, versions and aliases through `/api/v1`.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn models_are_created_listed_and_carry_a_card() {
    let s = TestServer::start().await;
    let (st, _) = s
        .call("POST", "/api/v1/teams", Some(json!({"name": "risk"})))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, m) = s
        .call(
            "POST",
            "/api/v1/models",
            Some(json!({"name": "credit-risk", "description": "scores applications", "risk_tier": "high",
                        "owner_team": "risk", "intended_use": "pre-screening", "out_of_scope_uses": ["hiring"], "tags": ["tabular"]})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    assert_eq!(m["risk_tier"], "high");
    assert_eq!(m["created_by"], "admin");
    assert_eq!(m["latest_version"], json!(null));

    let (st, e) = s
        .call(
            "POST",
            "/api/v1/models",
            Some(json!({"name": "credit-risk"})),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(e["code"], "name_taken");

    let (st, list) = s.call("GET", "/api/v1/models", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["models"].as_array().unwrap().len(), 1);

    let (st, m) = s
        .call(
            "PATCH",
            "/api/v1/models/credit-risk",
            Some(json!({"description": "v2 card", "risk_tier": "medium"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{m}");
    assert_eq!(m["description"], "v2 card");
    assert_eq!(m["risk_tier"], "medium");
    assert_eq!(m["owner_team"], "risk", "fields not sent keep their value");
}

#[tokio::test]
async fn bad_model_requests_are_400_or_404_with_a_reason() {
    let s = TestServer::start().await;
    let (st, e) = s
        .call(
            "POST",
            "/api/v1/models",
            Some(json!({"name": "Credit Risk"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(e["code"], "invalid_name");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("[a-z0-9][a-z0-9._-]{0,62}"),
        "{e}"
    );
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/models",
            Some(json!({"name": "a".repeat(64)})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, e) = s
        .call(
            "POST",
            "/api/v1/models",
            Some(json!({"name": "m", "risk_tier": "extreme"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        e["error"].as_str().unwrap().contains("low, medium or high"),
        "{e}"
    );
    let (st, e) = s
        .call(
            "POST",
            "/api/v1/models",
            Some(json!({"name": "m", "colour": "red"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/models")
        .header("content-type", "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let (st, _, _) = s.send(req).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, e) = s.call("GET", "/api/v1/models/nope", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(e["code"], "model_not_found");
    let (st, _) = s
        .call(
            "PATCH",
            "/api/v1/models/nope",
            Some(json!({"description": "x"})),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, e) = s.call("GET", "/api/v1/no-such-route", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(e["error"].as_str().unwrap().contains("openapi.json"));
}

#[tokio::test]
async fn a_pushed_version_records_digest_format_signature_and_metadata() {
    let s = TestServer::start().await;
    s.call("POST", "/api/v1/models", Some(json!({"name": "gbdt"})))
        .await;
    let bytes = reference_model("gbdt");
    let (st, v) = s
        .upload(
            "gbdt",
            &bytes,
            Some(json!({"description": "first", "features": features(), "source_commit": "abc123",
                        "training_run": "run-7", "metrics": {"auc": 0.8637}, "metadata": {"dataset": "credit-2026"}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["version"], 1);
    assert_eq!(v["format"], "onnx");
    assert_eq!(
        v["digest"],
        "sha256:c8a4166aa3fc01cfb45f05e686a2d83c90123559f0dc6d38056b3a275a299755"
    );
    assert_eq!(v["size_bytes"], bytes.len());
    assert_eq!(
        v["signature"]["inputs"],
        json!([{"name": "input", "datatype": "FP32", "shape": [-1, 22]}])
    );
    assert_eq!(
        v["signature"]["outputs"],
        json!([{"name": "label", "datatype": "INT64", "shape": [-1]}, {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]}])
    );
    assert_eq!(v["source_commit"], "abc123");
    assert_eq!(v["metrics"]["auc"], 0.8637);
    assert_eq!(v["metadata"]["dataset"], "credit-2026");
    assert_eq!(v["feature_names"].as_array().unwrap().len(), 22);

    let (st, v2) = s.upload("gbdt", &reference_model("mlp"), None).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(v2["version"], 2);
    // Same inputs as version 1: its feature names carry over (issue 18).
    assert_eq!(v2["feature_names"], v["feature_names"]);

    let (_, list) = s.call("GET", "/api/v1/models/gbdt/versions", None).await;
    assert_eq!(list["versions"].as_array().unwrap().len(), 2);
    let (st, got) = s.call("GET", "/api/v1/models/gbdt/versions/1", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got["digest"], v["digest"]);
    let (_, m) = s.call("GET", "/api/v1/models/gbdt", None).await;
    assert_eq!(m["latest_version"], 2);

    let req = Request::builder()
        .uri("/api/v1/models/gbdt/versions/1/artifact")
        .body(Body::empty())
        .unwrap();
    let (st, headers, body) = s.send(req).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body, bytes, "download returns the exact artifact");
    assert_eq!(headers["x-hangar-digest"], v["digest"].as_str().unwrap());
}

/// Issue 11, defect 1: a model whose tensor names another file (ONNX external
/// data, a plain relative location) would have ONNX Runtime read that file
/// from the server's working directory and serve its bytes. Both files name
/// a tensor `secret` kept outside the model: `external_data.onnx` points at
/// `Cargo.toml`, which exists in the test's working directory (ONNX Runtime
/// served its first 16 bytes before the fix), `external_data_missing.onnx`
/// at a file that does not exist. Both are refused, with the same message.
#[tokio::test]
async fn models_that_reference_other_files_are_refused_without_revealing_them() {
    let s = TestServer::start().await;
    s.call("POST", "/api/v1/models", Some(json!({"name": "m"})))
        .await;
    assert!(std::path::Path::new("Cargo.toml").is_file());
    let mut messages = Vec::new();
    for file in ["external_data.onnx", "external_data_missing.onnx"] {
        let bytes = std::fs::read(repo().join("testdata/models").join(file)).unwrap();
        let (st, e) = s.upload("m", &bytes, None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{file}: {e}");
        assert_eq!(e["code"], "unsupported_model", "{e}");
        let message = e["error"].as_str().unwrap().to_string();
        assert!(message.contains("separate file"), "{message}");
        assert!(message.contains("'secret'"), "{message}");
        for leak in ["Cargo.toml", "no-such-file", "/", "exist"] {
            assert!(!message.contains(leak), "{leak:?} in {message}");
        }
        messages.push(message);
    }
    assert_eq!(messages[0], messages[1]);
    let (_, versions) = s.call("GET", "/api/v1/models/m/versions", None).await;
    assert_eq!(versions["versions"], json!([]), "{versions}");
}

#[tokio::test]
async fn models_that_cannot_run_are_refused_at_push_naming_the_reason() {
    let s = TestServer::start().await;
    s.call("POST", "/api/v1/models", Some(json!({"name": "m"})))
        .await;
    let unsupported = std::fs::read(repo().join("testdata/models/unsupported_op.onnx")).unwrap();
    let (st, e) = s.upload("m", &unsupported, None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(e["code"], "unsupported_model");
    assert!(e["error"].as_str().unwrap().contains("Frobnicate"), "{e}");

    let (st, e) = s.upload("m", b"{\"learner\": {}}", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("unrecognised artifact format"),
        "{e}"
    );

    let (st, _) = s.upload("m", b"\x08\x07not really onnx", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let (st, e) = s
        .upload(
            "m",
            &reference_model("gbdt"),
            Some(json!({"features": ["a", "b"]})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("2 feature names given"),
        "{e}"
    );

    let (st, _) = s.upload("nope", &reference_model("gbdt"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, e) = s
        .upload("m", &reference_model("gbdt"), Some(json!({"bogus": 1})))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");

    // No version was created by any refused push.
    let (_, list) = s.call("GET", "/api/v1/models/m/versions", None).await;
    assert_eq!(list["versions"], json!([]));
}

#[tokio::test]
async fn uploads_over_the_limit_are_413_and_leave_nothing_behind() {
    let s = TestServer::with_limits(hangar_server::Limits {
        max_upload_bytes: 1000,
        ..Default::default()
    })
    .await;
    s.call("POST", "/api/v1/models", Some(json!({"name": "m"})))
        .await;
    let (st, e) = s.upload("m", &reference_model("gbdt"), None).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    let tmp = s.dir.path().join("artifacts/tmp");
    assert_eq!(std::fs::read_dir(tmp).unwrap().count(), 0);
    let (_, list) = s.call("GET", "/api/v1/models/m/versions", None).await;
    assert_eq!(list["versions"], json!([]));
}

#[tokio::test]
async fn uploads_without_an_artifact_are_refused() {
    let s = TestServer::start().await;
    s.call("POST", "/api/v1/models", Some(json!({"name": "m"})))
        .await;
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/models/m/versions")
        .header("content-type", "multipart/form-data; boundary=xyz")
        .body(Body::from(
            "--xyz\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{}\r\n--xyz--\r\n",
        ))
        .unwrap();
    let (st, _, body) = s.send(req).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("missing multipart field 'artifact'"));
    let (st, _) = s.call("GET", "/api/v1/models/m/versions/0", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = s.call("GET", "/api/v1/models/m/versions/7", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn alias_moves_are_kept_and_answer_which_version_was_live_when() {
    let s = TestServer::start().await;
    s.call("POST", "/api/v1/models", Some(json!({"name": "m"})))
        .await;
    s.upload("m", &reference_model("gbdt"), None).await;
    s.upload("m", &reference_model("logreg"), None).await;

    let (st, e) = s
        .call(
            "PUT",
            "/api/v1/models/m/aliases/production",
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{e}");
    assert_eq!(
        (e["from_version"].clone(), e["to_version"].clone()),
        (json!(null), json!(1))
    );
    assert_eq!(e["actor"], "admin");
    let first_at = e["at"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let (_, e) = s
        .call(
            "PUT",
            "/api/v1/models/m/aliases/production",
            Some(json!({"version": 2})),
        )
        .await;
    assert_eq!(
        (e["from_version"].clone(), e["to_version"].clone()),
        (json!(1), json!(2))
    );

    let (_, a) = s
        .call("GET", "/api/v1/models/m/aliases/production", None)
        .await;
    assert_eq!(a["version"], 2);
    let (_, a) = s
        .call(
            "GET",
            &format!("/api/v1/models/m/aliases/production?at={first_at}"),
            None,
        )
        .await;
    assert_eq!(a["version"], 1, "{a}");
    let (_, a) = s
        .call(
            "GET",
            "/api/v1/models/m/aliases/production?at=2020-03-03",
            None,
        )
        .await;
    assert_eq!(a["version"], json!(null), "not set before it existed");
    let (st, _) = s
        .call(
            "GET",
            "/api/v1/models/m/aliases/production?at=yesterday",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let (_, m) = s.call("GET", "/api/v1/models/m", None).await;
    assert_eq!(m["aliases"], json!({"production": 2}));
    let (st, e) = s
        .call("DELETE", "/api/v1/models/m/aliases/production", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(e["to_version"], json!(null));
    let (_, h) = s
        .call("GET", "/api/v1/models/m/aliases/production/history", None)
        .await;
    let moves: Vec<_> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from_version"].clone(), e["to_version"].clone()))
        .collect();
    assert_eq!(
        moves,
        vec![
            (json!(null), json!(1)),
            (json!(1), json!(2)),
            (json!(2), json!(null))
        ]
    );
    let (_, h) = s.call("GET", "/api/v1/models/m/alias-history", None).await;
    assert_eq!(h["history"].as_array().unwrap().len(), 3);

    let (st, _) = s
        .call(
            "PUT",
            "/api/v1/models/m/aliases/staging",
            Some(json!({"version": 9})),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s
        .call(
            "PUT",
            "/api/v1/models/m/aliases/Bad!",
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = s
        .call("DELETE", "/api/v1/models/m/aliases/staging", None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, list) = s.call("GET", "/api/v1/models/m/aliases", None).await;
    assert_eq!(list["aliases"], json!([]));
}

/// Issue 11, defect 9: every refused upload used to stay under
/// `artifacts/sha256/` (and survive restarts). A refused model or baseline
/// now leaves nothing behind, and files no record names (left by an older
/// release or by a crash between storing a file and recording it) are swept
/// at start.
#[tokio::test]
async fn refused_uploads_leave_no_files_and_orphans_are_swept_at_start() {
    let s = TestServer::start().await;
    s.deploy_reference("m", "logreg", "api").await;
    let kept = stored_artifacts(&s);
    assert_eq!(kept.len(), 1, "{kept:?}");

    // A model that cannot run, garbage, one with the wrong feature count.
    let unsupported = std::fs::read(repo().join("testdata/models/unsupported_op.onnx")).unwrap();
    let (st, _) = s.upload("m", &unsupported, None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = s.upload("m", b"\x08\x07not really onnx", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = s
        .upload(
            "m",
            &reference_model("gbdt"),
            Some(json!({"features": ["a", "b"]})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // A baseline CSV that does not match the model.
    let req = Request::builder()
        .method("PUT")
        .uri("/api/v1/models/m/versions/1/baseline")
        .header("content-type", "text/csv")
        .body(Body::from("age,income\n1,2\n"))
        .unwrap();
    let (st, _, _) = s.send(req).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(stored_artifacts(&s), kept);
    assert_eq!(
        std::fs::read_dir(s.dir.path().join("artifacts/tmp"))
            .unwrap()
            .count(),
        0
    );

    // An orphan from before: removed at the next start, the version kept.
    let orphan = "ab".to_string() + &"0".repeat(62);
    let dir = s.dir.path().join("artifacts/sha256/ab");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(&orphan), b"left behind").unwrap();
    assert_eq!(stored_artifacts(&s).len(), 2);
    let s = s.restart().await;
    assert_eq!(stored_artifacts(&s), kept);
    let (st, body) = s.infer("api", one_row_request()).await;
    assert_eq!(st, StatusCode::OK, "{body}");
}

/// Issue 18: the first push of a new model creates it only if the version is
/// accepted; a refused push leaves no empty model behind.
#[tokio::test]
async fn a_refused_first_push_leaves_no_model_behind() {
    let s = TestServer::start().await;
    let unsupported = std::fs::read(repo().join("testdata/models/unsupported_op.onnx")).unwrap();
    let (st, e) = s
        .upload_to(
            "/api/v1/models/ghost/versions?create=true",
            &unsupported,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["code"], "unsupported_model");
    let (st, _) = s.call("GET", "/api/v1/models/ghost", None).await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "the refused push created no model"
    );
    // Without create=true an unknown model is still 404.
    let (st, _) = s
        .upload_to(
            "/api/v1/models/ghost/versions",
            &reference_model("gbdt"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Into a team that does not exist: refused before anything is stored.
    let (st, e) = s
        .upload_to(
            "/api/v1/models/ghost/versions?create=true&owner_team=nowhere",
            &reference_model("gbdt"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("team 'nowhere'"),
        "{e}"
    );
    // Accepted, the model and its first version appear together.
    let (st, _) = s
        .call("POST", "/api/v1/teams", Some(json!({"name": "risk"})))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, v) = s
        .upload_to(
            "/api/v1/models/ghost/versions?create=true&owner_team=risk",
            &reference_model("gbdt"),
            Some(json!({"features": features()})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["version"], 1);
    assert_eq!(
        v["created_model"],
        json!({"name": "ghost", "owner_team": "risk"})
    );
    let (_, m) = s.call("GET", "/api/v1/models/ghost", None).await;
    assert_eq!(m["owner_team"], "risk");
    assert_eq!(m["latest_version"], 1);
    // A second push with create=true goes to the existing model.
    let (st, v) = s
        .upload_to(
            "/api/v1/models/ghost/versions?create=true",
            &reference_model("gbdt"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["version"], 2);
    assert!(v.get("created_model").is_none(), "{v}");
}

/// Issue 18: a version pushed without feature names takes the latest
/// version's when its inputs are exactly the same, and only then.
#[tokio::test]
async fn feature_names_are_inherited_from_the_latest_version_with_the_same_inputs() {
    let s = TestServer::start().await;
    s.call("POST", "/api/v1/models", Some(json!({"name": "m"})))
        .await;
    let (st, v) = s
        .upload(
            "m",
            &reference_model("gbdt"),
            Some(json!({"features": features()})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = s.upload("m", &reference_model("logreg"), None).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(
        v["feature_names"],
        json!(features()),
        "same inputs: inherited"
    );
    // Named features given explicitly win.
    let mut renamed = features();
    renamed[0] = "years".into();
    let (_, v) = s
        .upload(
            "m",
            &reference_model("mlp"),
            Some(json!({"features": renamed})),
        )
        .await;
    assert_eq!(v["feature_names"][0], "years");
    // Different inputs: nothing to inherit.
    let (st, _) = s
        .call("POST", "/api/v1/models", Some(json!({"name": "n"})))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, v) = s
        .upload(
            "n",
            &reference_model("gbdt"),
            Some(json!({"features": features()})),
        )
        .await;
    assert_eq!(v["version"], 1);
    let three = std::fs::read(repo().join("testdata/models/three_columns.onnx")).unwrap();
    let (st, v) = s.upload("n", &three, None).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(
        v["feature_names"],
        json!(null),
        "other inputs: nothing inherited"
    );
}

/// Files under the artifact store's content addresses.
fn stored_artifacts(s: &TestServer) -> Vec<String> {
    let mut out = Vec::new();
    let root = s.dir.path().join("artifacts/sha256");
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap();
        for f in std::fs::read_dir(dir.path()).unwrap() {
            out.push(f.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}
