//! Every pushed model is loaded first in a child process (`hangar
//! validate-model`, the binary re-executing itself), so a model that crashes
//! or hangs ONNX Runtime is refused instead of taking the server down
//! (issue 11). Against the real binary, on loopback.

mod common;

use std::time::{Duration, Instant};

use common::{http_status, reference, repo, Server};

#[test]
fn a_model_that_never_finishes_loading_is_refused_and_the_server_keeps_serving() {
    let server = Server::start_with(&["--model-check-timeout", "2"]);
    let gbdt = reference("models/gbdt/model.onnx");
    server
        .hangar(&["model", "push", gbdt.to_str().unwrap(), "--name", "credit"])
        .ok();
    server
        .hangar(&["deploy", "credit-api", "--model", "credit:1"])
        .ok();

    // Its warm-up is a Loop of 2^62 iterations: in-process it would hold a
    // thread forever; the child is killed after 2 s.
    let forever = repo().join("testdata/models/loop_forever.onnx");
    let start = Instant::now();
    let err = server
        .hangar(&[
            "model",
            "push",
            forever.to_str().unwrap(),
            "--name",
            "credit",
        ])
        .error_line();
    let took = start.elapsed();
    assert!(err.contains("did not finish loading"), "{err}");
    assert!(err.contains("(HTTP 400)"), "{err}");
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(30), "{took:?}");

    // The child's own refusal comes back as it is (ONNX Runtime's reason).
    let unsupported = repo().join("testdata/models/unsupported_op.onnx");
    let err = server
        .hangar(&[
            "model",
            "push",
            unsupported.to_str().unwrap(),
            "--name",
            "credit",
        ])
        .error_line();
    assert!(err.contains("Frobnicate"), "{err}");

    // Nothing was registered, and the deployment still answers.
    let versions = server
        .hangar(&["model", "show", "credit", "--output", "json"])
        .ok()
        .json();
    assert_eq!(versions["model"]["latest_version"], 1, "{versions}");
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        1,
        "{versions}"
    );
    assert_eq!(http_status(server.addr, "/v2/health/ready"), Some(200));
    let out = server
        .hangar(&[
            "predict",
            "credit-api",
            "--json",
            reference("fixed_inputs_200.request.json").to_str().unwrap(),
            "--output",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(out["model_name"], "credit-api", "{out}");
}

/// The hidden subcommand itself: one JSON line, exit status 0 or 1.
#[test]
fn validate_model_prints_its_verdict() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let ort = std::env::var_os("ORT_DYLIB_PATH")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo().join("vendor/onnxruntime/libonnxruntime.so"));
    let run = |file: &std::path::Path| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hangar"))
            .args(["validate-model", "--ort-dylib"])
            .arg(&ort)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&std::fs::read(file).unwrap())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), line)
    };
    let (code, line) = run(&reference("models/logreg/model.onnx"));
    assert_eq!((code, line), (Some(0), serde_json::json!({"ok": true})));
    let (code, line) = run(&repo().join("testdata/models/external_data.onnx"));
    assert_eq!(code, Some(1));
    assert!(
        line["error"].as_str().unwrap().contains("separate file"),
        "{line}"
    );
}
