//! The Open Inference Protocol V2 routes.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn health_and_server_metadata() {
    let s = TestServer::start().await;
    let (st, b) = s.call("GET", "/v2/health/live", None).await;
    assert_eq!((st, b), (StatusCode::OK, json!({"live": true})));
    let (st, b) = s.call("GET", "/v2/health/ready", None).await;
    assert_eq!((st, b), (StatusCode::OK, json!({"ready": true})));
    let (st, b) = s.call("GET", "/v2", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["name"], "hangar");
    assert!(b["version"].is_string());
    assert!(b["extensions"].is_array());
}

#[tokio::test]
async fn model_metadata_and_readiness() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    let (st, m) = s.call("GET", "/v2/models/credit-api", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(m["name"], "credit-api");
    assert_eq!(m["versions"], json!(["1"]));
    assert_eq!(m["platform"], "onnxruntime_onnx");
    assert_eq!(
        m["inputs"],
        json!([{"name": "input", "datatype": "FP32", "shape": [-1, 22]}])
    );
    assert_eq!(
        m["outputs"][1],
        json!({"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]})
    );
    let (st, r) = s.call("GET", "/v2/models/credit-api/ready", None).await;
    assert_eq!((st, r["ready"].clone()), (StatusCode::OK, json!(true)));
    let (st, _) = s
        .call("GET", "/v2/models/credit-api/versions/1", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s
        .call("GET", "/v2/models/credit-api/versions/1/ready", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    for uri in [
        "/v2/models/nope",
        "/v2/models/nope/ready",
        "/v2/models/credit-api/versions/9",
        "/v2/models/credit-api/versions/x/ready",
    ] {
        let (st, e) = s.call("GET", uri, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{uri}");
        assert!(
            e["error"].is_string() && e.get("code").is_none(),
            "V2 error shape: {e}"
        );
    }
}

fn probabilities(r: &Value) -> Vec<f64> {
    let out = r["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "probabilities")
        .unwrap();
    out["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[tokio::test]
async fn inference_matches_the_reference_for_every_model() {
    let s = TestServer::start().await;
    let request: Value = serde_json::from_slice(
        &std::fs::read(repo().join("testdata/reference/fixed_inputs_200.request.json")).unwrap(),
    )
    .unwrap();
    for name in [
        "logreg",
        "gbdt",
        "random_forest",
        "mlp",
        "xgboost_gbdt",
        "lightgbm_gbdt",
    ] {
        s.deploy_reference(name, name, name).await;
        let (st, r) = s.infer(name, request.clone()).await;
        assert_eq!(st, StatusCode::OK, "{name}: {r}");
        let expected: Value = serde_json::from_slice(
            &std::fs::read(repo().join(format!(
                "testdata/reference/models/{name}/expected_200.response.json"
            )))
            .unwrap(),
        )
        .unwrap();
        for exp in expected["outputs"].as_array().unwrap() {
            let got = r["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["name"] == exp["name"])
                .unwrap();
            assert_eq!(got["shape"], exp["shape"], "{name}");
            assert_eq!(got["datatype"], exp["datatype"], "{name}");
            if exp["datatype"] == "INT64" {
                assert_eq!(got["data"], exp["data"], "{name}: labels");
            } else {
                let worst = got["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(exp["data"].as_array().unwrap())
                    .map(|(a, b)| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs())
                    .fold(0.0, f64::max);
                assert!(worst <= 1e-5, "{name}: max abs diff {worst}");
            }
        }
    }
}

#[tokio::test]
async fn flat_nested_and_named_feature_requests_agree() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    let row = first_row();
    let (st, flat) = s.infer("credit-api", one_row_request()).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(flat["id"], "req-1", "the request id is echoed");
    assert_eq!(flat["model_name"], "credit-api");
    let nested = json!({"inputs": [{"name": "input", "shape": [1, 22], "datatype": "FP32", "data": [row.clone()]}]});
    let (_, nested) = s.infer("credit-api", nested).await;
    assert_eq!(probabilities(&flat), probabilities(&nested));
    assert!(
        nested["id"].as_str().is_some_and(|id| !id.is_empty()),
        "an id is generated"
    );

    let instance: serde_json::Map<String, Value> = features()
        .into_iter()
        .zip(row.iter().map(|v| json!(v)))
        .collect();
    let (st, named) = s
        .infer(
            "credit-api",
            json!({"instances": [instance.clone(), instance]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{named}");
    let p = probabilities(&named);
    assert_eq!(&p[..2], probabilities(&flat).as_slice());
    assert_eq!(&p[2..], probabilities(&flat).as_slice());

    let (st, e) = s
        .infer("credit-api", json!({"instances": [{"age": 41}]}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        e["error"].as_str().unwrap().contains("missing feature"),
        "{e}"
    );
}

#[tokio::test]
async fn requested_outputs_are_honoured() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    let mut req = one_row_request();
    req["outputs"] = json!([{"name": "probabilities"}]);
    let (st, r) = s.infer("credit-api", req.clone()).await;
    assert_eq!(st, StatusCode::OK);
    let names: Vec<_> = r["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("probabilities")]);
    req["outputs"] = json!([{"name": "logits"}]);
    let (st, e) = s.infer("credit-api", req).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("unknown output 'logits'"),
        "{e}"
    );
}

#[tokio::test]
async fn every_client_mistake_is_a_400_that_says_what_is_wrong() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    let row = first_row();
    let cases = [
        (
            json!({"inputs": [{"name": "input", "shape": [1, 21], "datatype": "FP32", "data": &row[..21]}]}),
            "input 'input': expected shape [-1, 22] (-1 = any size), got [1, 21]",
        ),
        (
            json!({"inputs": [{"name": "input", "shape": [1, 22], "datatype": "FP64", "data": row}]}),
            "input 'input': expected datatype FP32, got FP64",
        ),
        (
            json!({"inputs": [{"name": "input", "shape": [2, 22], "datatype": "FP32", "data": row}]}),
            "shape [2, 22] holds 44 elements but data has 22",
        ),
        (
            json!({"inputs": [{"name": "x", "shape": [1, 22], "datatype": "FP32", "data": row}]}),
            "unknown input 'x'",
        ),
        (json!({"inputs": []}), "missing input 'input'"),
        (
            json!({"inputs": [{"name": "input", "shape": [1, 22], "datatype": "FP32", "data": vec!["a"; 22]}]}),
            "is not a valid FP32",
        ),
        (
            json!({"inputs": [{"name": "input", "shape": [1, 22], "datatype": "FLOAT32", "data": row}]}),
            "unknown datatype",
        ),
        (
            json!({"inputs": [{"name": "input", "shape": [1, 22], "datatype": "FP32"}]}),
            "has no \"data\"",
        ),
        (json!({"inputs": "nope"}), "invalid inference request"),
        (json!({}), "no \"inputs\""),
        (
            json!({"inputs": [{"name": "input", "shape": [4000000, 22], "datatype": "FP32", "data": [0]}]}),
            "exceeds the limit",
        ),
    ];
    for (body, want) in cases {
        let (st, e) = s.infer("credit-api", body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
        let msg = e["error"].as_str().unwrap();
        assert!(msg.contains(want), "{msg:?} should contain {want:?}");
    }
    let req = Request::builder()
        .method("POST")
        .uri("/v2/models/credit-api/infer")
        .body(Body::from("{\"inputs\": ["))
        .unwrap();
    let (st, _, _) = s.send(req).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = s.infer("nope", one_row_request()).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let s = TestServer::with_limits(hangar_server::Limits {
        max_request_bytes: 512,
        ..Default::default()
    })
    .await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    let big = json!({"inputs": [{"name": "input", "shape": [50, 22], "datatype": "FP32", "data": vec![0.5; 1100]}]});
    let (st, e) = s.infer("credit-api", big).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    assert!(e["error"].as_str().unwrap().contains("limit"));
}

#[tokio::test]
async fn the_versions_form_runs_that_version_of_the_deployed_model() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    s.upload("credit", &reference_model("logreg"), None).await;
    let (st, r) = s
        .call(
            "POST",
            "/v2/models/credit-api/versions/2/infer",
            Some(one_row_request()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["model_version"], "2");
    let (_, r1) = s
        .call(
            "POST",
            "/v2/models/credit-api/versions/1/infer",
            Some(one_row_request()),
        )
        .await;
    assert_eq!(r1["model_version"], "1");
    assert_ne!(probabilities(&r), probabilities(&r1));
    let (st, _) = s
        .call(
            "POST",
            "/v2/models/credit-api/versions/3/infer",
            Some(one_row_request()),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn binary_tensor_data_round_trips() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    let header = serde_json::to_vec(&json!({
        "inputs": [{"name": "input", "shape": [1, 22], "datatype": "FP32", "parameters": {"binary_data_size": 88}}],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": true}}]
    }))
    .unwrap();
    let mut body = header.clone();
    for v in first_row() {
        body.extend_from_slice(&(v as f32).to_le_bytes());
    }
    let req = Request::builder()
        .method("POST")
        .uri("/v2/models/credit-api/infer")
        .header("inference-header-content-length", header.len())
        .body(Body::from(body))
        .unwrap();
    let (st, headers, bytes) = s.send(req).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    let n: usize = headers["inference-header-content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let json_part: Value = serde_json::from_slice(&bytes[..n]).unwrap();
    assert_eq!(json_part["outputs"][0]["parameters"]["binary_data_size"], 8);
    let p: Vec<f32> = bytes[n..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let (_, flat) = s.infer("credit-api", one_row_request()).await;
    let want: Vec<f32> = probabilities(&flat).iter().map(|v| *v as f32).collect();
    assert_eq!(p, want);

    let req = Request::builder()
        .method("POST")
        .uri("/v2/models/credit-api/infer")
        .header("inference-header-content-length", "99999")
        .body(Body::from("{}"))
        .unwrap();
    let (st, _, _) = s.send(req).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn gzip_request_bodies_are_accepted_and_bounded_after_decoding() {
    use std::io::Write;
    let s = TestServer::with_limits(hangar_server::Limits {
        max_request_bytes: 4096,
        ..Default::default()
    })
    .await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    let gzip = |v: &Value| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&serde_json::to_vec(v).unwrap()).unwrap();
        enc.finish().unwrap()
    };
    let send = |body: Vec<u8>| {
        Request::builder()
            .method("POST")
            .uri("/v2/models/credit-api/infer")
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(Body::from(body))
            .unwrap()
    };
    let (st, _, bytes) = s.send(send(gzip(&one_row_request()))).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    // 20 000 zeros compress to almost nothing but decode past the limit.
    let bomb = json!({"inputs": [{"name": "input", "shape": [1000, 22], "datatype": "FP32", "data": vec![0; 22000]}]});
    let (st, _, _) = s.send(send(gzip(&bomb))).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
}

/// Issue 18: every `/v2` route, `/v2` itself included, answers a missing
/// credential in the protocol's error shape: `{"error": "…"}`, no `code`.
#[tokio::test]
async fn unauthenticated_v2_calls_get_the_protocols_error_shape() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    for (method, uri) in [
        ("GET", "/v2"),
        ("GET", "/v2/models/credit-api"),
        ("GET", "/v2/models/credit-api/ready"),
        ("POST", "/v2/models/credit-api/infer"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("x-test-anonymous", "1")
            .header("content-type", "application/json")
            .body(Body::from(if method == "POST" { "{}" } else { "" }))
            .unwrap();
        let (st, h, b) = s.send(req).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(h.contains_key("www-authenticate"), "{uri}");
        let body: Value = serde_json::from_slice(&b).unwrap();
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["error"], "{uri}: {body}");
    }
}
