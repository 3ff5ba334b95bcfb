//! End to end: what the real `hangar` binary says when there is nothing to
//! show yet, when a request cannot be made or is refused for its size, when a
//! command line is wrong, and in its `--help`.

mod common;

use common::{free_port, hangar, reference, Server};

#[test]
fn no_deployments_yet_says_how_to_make_one() {
    let server = Server::start();
    let list = server.hangar(&["deployments", "list"]).ok();
    assert!(list.stdout.contains("hangar deploy"), "{list:#?}");
    let raw = server
        .hangar(&["deployments", "list", "--output", "json"])
        .ok()
        .json();
    assert_eq!(raw, serde_json::json!({"deployments": []}));
}

#[test]
fn uploads_over_the_servers_limit_say_so() {
    let server = Server::start_with(&["--max-upload-bytes", "100000"]);
    // Big enough that the server stops reading before the client is done
    // sending: it either gets the 413 or sees the connection cut, and must
    // explain both.
    let small = reference("models/gbdt/model.onnx");
    server
        .hangar(&["model", "push", small.to_str().unwrap(), "--name", "big"])
        .ok();
    let file = server.dir.path().join("big.onnx");
    let mut bytes = vec![0u8; 32 << 20];
    bytes[0] = 0x08;
    std::fs::write(&file, bytes).unwrap();
    let err = server
        .hangar(&["model", "push", file.to_str().unwrap(), "--name", "big"])
        .error_line();
    assert!(
        err.contains("upload limit") || err.contains("--max-upload-bytes"),
        "{err}"
    );
}

#[test]
fn unreachable_server_is_one_clear_error_line() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let err = hangar(None, &["model", "list", "--server", &url]).error_line();
    assert!(
        err.starts_with(&format!("error: cannot reach the Hangar server at {url}: ")),
        "{err}"
    );
    assert!(
        err.contains("hangar serve") && err.contains("--server"),
        "{err}"
    );
}

#[test]
fn local_mistakes_fail_before_any_request() {
    // Nothing listens here; each of these must fail without trying.
    let url = format!("http://127.0.0.1:{}", free_port());
    let err = hangar(
        Some(&url),
        &["model", "push", "/nonexistent/model.onnx", "--name", "m"],
    )
    .error_line();
    assert!(err.contains("cannot open /nonexistent/model.onnx"), "{err}");

    let err = hangar(
        Some(&url),
        &[
            "model",
            "push",
            "/nonexistent/model.onnx",
            "--name",
            "m",
            "--meta",
            "metrics.auc=high",
        ],
    )
    .error_line();
    assert!(err.contains("metrics.auc=high"), "{err}");

    let err = hangar(Some("https://example.invalid"), &["model", "list"]).error_line();
    assert!(err.contains("plain HTTP"), "{err}");
}

#[test]
fn usage_errors_exit_with_code_2() {
    for args in [
        &["predict", "credit-api"][..],
        &[
            "predict",
            "credit-api",
            "--json",
            "a.json",
            "--csv",
            "a.csv",
        ],
        &["deploy", "credit-api", "--model", "credit"],
        &[
            "deploy",
            "credit-api",
            "--model",
            "credit:1",
            "--canary",
            "credit:2",
        ],
        &[
            "deploy",
            "credit-api",
            "--model",
            "credit:1",
            "--canary",
            "credit:2=0",
        ],
        &[
            "deploy",
            "credit-api",
            "--model",
            "credit:1",
            "--max-batch-size",
            "0",
        ],
        &["promote"],
        &["rollback", "credit-api", "--to", "first"],
        &["deployments", "history"],
        &["model", "push", "m.onnx", "--name", "Not Valid"],
        &["alias", "set", "credit", "production", "zero"],
        &["model", "list", "--output", "yaml"],
    ] {
        let run = hangar(None, args);
        assert_eq!(run.code, Some(2), "{args:?}: {run:#?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:#?}");
    }
}

#[test]
fn help_documents_every_command_with_examples() {
    let top = hangar(None, &["--help"]).ok();
    for needle in ["model", "alias", "deploy", "predict", "serve", "Examples:"] {
        assert!(top.stdout.contains(needle), "{needle}: {top:#?}");
    }
    let push = hangar(None, &["model", "push", "--help"]).ok();
    for needle in [
        "--name",
        "--description",
        "--meta",
        "--features",
        "--server",
        "HANGAR_SERVER",
        "--output",
        "Examples:",
    ] {
        assert!(push.stdout.contains(needle), "{needle}: {push:#?}");
    }
    for needle in ["promote", "rollback", "deployments"] {
        assert!(top.stdout.contains(needle), "{needle}: {top:#?}");
    }
    let deploy = hangar(None, &["deploy", "--help"]).ok();
    for needle in [
        "--model",
        "--canary",
        "MODEL:VERSION=PERCENT",
        "--shadow",
        "--message",
        "--max-batch-size",
        "--max-queue-delay-us",
        "--queue-capacity",
        "--timeout-ms",
        "--max-concurrency",
        "--guardrail-max-error-rate",
        "--guardrail-max-p99-ms",
        "--guardrail-window-secs",
        "--guardrail-min-requests",
        "--server",
        "Examples:",
    ] {
        assert!(deploy.stdout.contains(needle), "{needle}: {deploy:#?}");
    }
    for (args, needles) in [
        (
            &["promote", "--help"][..],
            &["--message", "canary", "Examples:"][..],
        ),
        (&["rollback", "--help"], &["--to", "--message", "Examples:"]),
        (&["deployments", "--help"], &["list", "show", "history"]),
        (
            &["deployments", "show", "--help"],
            &["--revision", "agree", "Examples:"],
        ),
        (
            &["deployments", "history", "--help"],
            &["rollback", "Examples:"],
        ),
    ] {
        let help = hangar(None, args).ok();
        for needle in needles {
            assert!(help.stdout.contains(needle), "{args:?} {needle}: {help:#?}");
        }
    }
    let predict = hangar(None, &["predict", "--help"]).ok();
    for needle in ["--json", "--csv", "instances"] {
        assert!(predict.stdout.contains(needle), "{needle}: {predict:#?}");
    }
}
