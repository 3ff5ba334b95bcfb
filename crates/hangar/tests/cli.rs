//! End to end: the real `hangar` binary as the server (`hangar serve` on a free
//! loopback port) and as the client, exactly as a person would use them.

mod common;

use std::time::{Duration, Instant};

use common::{read_json, reference, repo, table_rows, Server};
use serde_json::Value;

/// Who the server records as acting: the administrator whose token the
/// harness uses.
const ACTOR: &str = common::ADMIN;

fn feature_names() -> Vec<String> {
    read_json(&reference("schema.json"))["model_input_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The first `rows` rows of the reference request, as CSV under `features`.
fn reference_csv(features: &[String], rows: usize) -> String {
    let request = read_json(&reference("fixed_inputs_200.request.json"));
    let data = request["inputs"][0]["data"].as_array().unwrap();
    let mut csv = features.join(",") + "\n";
    for row in data.chunks(features.len()).take(rows) {
        let cells: Vec<String> = row
            .iter()
            .map(|v| v.as_f64().unwrap().to_string())
            .collect();
        csv += &(cells.join(",") + "\n");
    }
    csv
}

/// The named output of a V2 response.
fn output<'a>(response: &'a Value, name: &str) -> &'a Value {
    response["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no output {name:?} in {response}"))
}

/// How the table prints a probability: four decimals, trailing zeros dropped.
fn four_decimals(x: f64) -> String {
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[test]
fn push_alias_deploy_and_predict_round_trip() {
    let server = Server::start();
    let model = reference("models/gbdt/model.onnx");
    let model = model.to_str().unwrap();
    let features = feature_names();
    assert_eq!(features.len(), 22);
    let features_arg = features.join(",");

    // Pushing to a model that does not exist creates it.
    let pushed = server
        .hangar(&[
            "model",
            "push",
            model,
            "--name",
            "credit",
            "--features",
            &features_arg,
        ])
        .ok();
    assert!(
        pushed
            .stdout
            .starts_with("pushed credit version 1 (sha256:")
            && pushed.stdout.ends_with(", onnx)\n"),
        "{pushed:#?}"
    );
    assert!(
        pushed.stderr.contains("created model credit"),
        "{pushed:#?}"
    );

    // --meta is sorted into the version's fields; --output json is the server's object.
    let second = server
        .hangar(&[
            "model",
            "push",
            model,
            "--name",
            "credit",
            "--features",
            &features_arg,
            "--description",
            "same trees, more metadata",
            "--meta",
            "source_commit=3f2a9c1",
            "--meta",
            "training_run=run-42",
            "--meta",
            "metrics.auc=0.88",
            "--meta",
            "dataset=reference",
            "--output",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(second["version"], 2);
    assert_eq!(second["format"], "onnx");
    assert_eq!(second["source_commit"], "3f2a9c1");
    assert_eq!(second["training_run"], "run-42");
    assert_eq!(second["metrics"]["auc"], 0.88);
    assert_eq!(second["metadata"]["dataset"], "reference");
    assert_eq!(second["description"], "same trees, more metadata");
    assert_eq!(second["feature_names"].as_array().unwrap().len(), 22);
    assert_eq!(second["created_by"], ACTOR);

    let list = server.hangar(&["model", "list"]).ok();
    let lines: Vec<Vec<&str>> = list
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        ["NAME", "LATEST", "RISK", "ALIASES", "UPDATED"],
        "{list:#?}"
    );
    assert_eq!(lines[1][..4], ["credit", "2", "low", "-"], "{list:#?}");
    assert_eq!(lines.len(), 2, "{list:#?}");

    let list = server
        .hangar(&["model", "list", "--output", "json"])
        .ok()
        .json();
    assert_eq!(list["models"][0]["name"], "credit");

    // Aliases: created, then moved.
    let set = server
        .hangar(&["alias", "set", "credit", "production", "1"])
        .ok();
    assert_eq!(set.stdout, "production: (none) -> 1\n");

    let show = server.hangar(&["model", "show", "credit"]).ok();
    assert!(show.stdout.contains(&format!(" by {ACTOR}\n")), "{show:#?}");
    assert!(show.stdout.contains("aliases:"), "{show:#?}");
    let versions: Vec<Vec<&str>> = show
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("VERSION"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        versions[0],
        ["VERSION", "DIGEST", "FORMAT", "INPUTS", "CREATED", "ALIASES"],
        "{show:#?}"
    );
    assert_eq!(versions.len(), 3, "{show:#?}");
    assert_eq!(
        versions[1][..5],
        ["1", versions[1][1], "onnx", "input", "FP32[-1,22]"],
        "{show:#?}"
    );
    assert_eq!(versions[1].last(), Some(&"production"), "{show:#?}");
    assert_eq!(versions[2].last(), Some(&"-"), "{show:#?}");
    // Same bytes, same content address.
    assert_eq!(versions[1][1], versions[2][1]);

    let deployed = server
        .hangar(&["deploy", "credit-api", "--model", "credit@production"])
        .ok();
    for needle in [
        "credit-api",
        "revision:    1 (deploy)",
        "credit@production 100% → v1",
        "/v2/models/credit-api/infer",
    ] {
        assert!(deployed.stdout.contains(needle), "{needle}: {deployed:#?}");
    }

    // CSV rows in, one prediction per row out, matching the reference outputs.
    let expected = read_json(&reference("models/gbdt/expected_200.response.json"));
    let labels = output(&expected, "label")["data"].as_array().unwrap();
    let probabilities = output(&expected, "probabilities")["data"]
        .as_array()
        .unwrap();
    let csv = server.write("applicants.csv", &reference_csv(&features, 3));

    let table = server
        .hangar(&["predict", "credit-api", "--csv", &csv])
        .ok();
    let rows: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(rows.len(), 4, "{table:#?}");
    let mut header: Vec<&str> = rows[0].split_whitespace().collect();
    header.sort_unstable();
    assert_eq!(header, ["ROW", "label", "probabilities"], "{table:#?}");
    for (i, row) in rows[1..].iter().enumerate() {
        let p = |k: usize| four_decimals(probabilities[2 * i + k].as_f64().unwrap());
        assert!(row.starts_with(&format!("{i} ")), "{table:#?}");
        assert!(
            row.contains(&format!("[{}, {}]", p(0), p(1))),
            "row {i}: {table:#?}"
        );
        let label = labels[i].to_string();
        assert!(
            row.split_whitespace().any(|c| c == label),
            "row {i}: {table:#?}"
        );
    }

    let raw = server
        .hangar(&["predict", "credit-api", "--csv", &csv, "--output", "json"])
        .ok()
        .json();
    assert_eq!(
        output(&raw, "label")["data"].as_array().unwrap(),
        &labels[..3]
    );
    assert_eq!(
        output(&raw, "probabilities")["shape"],
        serde_json::json!([3, 2])
    );

    // A V2 request body goes through unchanged; all 200 reference rows agree.
    let request = reference("fixed_inputs_200.request.json");
    let raw = server
        .hangar(&[
            "predict",
            "credit-api",
            "--json",
            request.to_str().unwrap(),
            "--output",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(output(&raw, "label")["data"].as_array().unwrap(), labels);
    let got = output(&raw, "probabilities")["data"].as_array().unwrap();
    assert_eq!(got.len(), probabilities.len());
    for (g, e) in got.iter().zip(probabilities) {
        assert!(
            (g.as_f64().unwrap() - e.as_f64().unwrap()).abs() < 1e-5,
            "{g} vs {e}"
        );
    }

    // Moving the alias moves the deployment that follows it.
    let moved = server
        .hangar(&["alias", "set", "credit", "production", "2"])
        .ok();
    assert_eq!(moved.stdout, "production: 1 -> 2\n");
    let raw = server
        .hangar(&["predict", "credit-api", "--csv", &csv, "--output", "json"])
        .ok()
        .json();
    assert_eq!(raw["model_version"], "2", "{raw}");

    // Failures: the server's message and status, on one line.
    let err = server.hangar(&["model", "show", "nope"]).error_line();
    assert!(err.ends_with("(HTTP 404)"), "{err}");
    assert!(err.contains("nope"), "{err}");

    let err = server
        .hangar(&["alias", "set", "credit", "production", "9"])
        .error_line();
    assert!(err.contains("(HTTP 4"), "{err}");

    let wrong_columns = server.write("wrong.csv", "age,colour\n41,blue\n");
    let err = server
        .hangar(&["predict", "credit-api", "--csv", &wrong_columns])
        .error_line();
    assert!(err.ends_with("(HTTP 400)"), "{err}");

    let not_a_model = server.write("notes.txt", "not a model\n");
    let err = server
        .hangar(&["model", "push", &not_a_model, "--name", "credit"])
        .error_line();
    assert!(err.contains("(HTTP 4"), "{err}");
}

/// The lines of a table, each split into cells at runs of two or more spaces
/// (cells such as `credit:1 80% → v1` contain single spaces).
#[test]
fn canary_shadow_promote_rollback_and_history() {
    let server = Server::start();
    let gbdt = reference("models/gbdt/model.onnx");
    let logreg = reference("models/logreg/model.onnx");
    // credit:1 serves, credit:2 is the canary, credit:3 the shadow.
    for file in [&gbdt, &logreg, &logreg] {
        server
            .hangar(&["model", "push", file.to_str().unwrap(), "--name", "credit"])
            .ok();
    }

    let deployed = server
        .hangar(&[
            "deploy",
            "credit-api",
            "--model",
            "credit:1",
            "--canary",
            "credit:2=20",
            "--shadow",
            "credit:3",
            "--message",
            "logreg as canary",
            "--max-batch-size",
            "8",
            "--guardrail-max-error-rate",
            "0.5",
        ])
        .ok();
    for needle in [
        "deployment:  credit-api\n",
        "revision:    1 (deploy)\n",
        "routes:      credit:1 80% → v1, credit:2 20% → v2\n",
        "shadow:      credit:3 → v3\n",
        "message:     logreg as canary\n",
        "ready:       yes\n",
        &format!(
            "endpoint:    POST {}/v2/models/credit-api/infer\n",
            server.url
        ),
    ] {
        assert!(deployed.stdout.contains(needle), "{needle}: {deployed:#?}");
    }

    // Traffic, so the shadow has answers to compare.
    let request = reference("fixed_inputs_200.request.json");
    let request = request.to_str().unwrap();
    const REQUESTS: u64 = 4;
    for _ in 0..REQUESTS {
        server
            .hangar(&["predict", "credit-api", "--json", request])
            .ok();
    }
    // The shadow runs behind the callers' backs: poll, bounded, until it has seen them all.
    let deadline = Instant::now() + Duration::from_secs(20);
    let shown = loop {
        let shown = server
            .hangar(&["deployments", "show", "credit-api", "--output", "json"])
            .ok()
            .json();
        let a = &shown["current"]["shadow_agreement"];
        let seen: u64 = ["compared_requests", "dropped_requests", "failed_requests"]
            .iter()
            .map(|k| a[k].as_u64().unwrap_or(0))
            .sum();
        if seen == REQUESTS {
            break shown;
        }
        assert!(
            Instant::now() < deadline,
            "shadow never caught up: {shown:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(shown["current"]["revision"], 1, "{shown:#}");
    assert_eq!(shown["current"]["routes"][1]["weight"], 20, "{shown:#}");
    let compared = shown["current"]["shadow_agreement"]["compared_requests"]
        .as_u64()
        .unwrap();
    assert!(compared > 0, "{shown:#}");

    let show = server.hangar(&["deployments", "show", "credit-api"]).ok();
    for needle in [
        "revision:    1 (deploy)\n",
        &format!(" by {ACTOR}\n"),
        "routes:      credit:1 80% → v1, credit:2 20% → v2\n",
        "shadow credit:3 → v3 agreement:\n",
        &format!("  compared:        {compared} requests"),
        "  same label:      ",
        "% of ",
        "  mean |Δ score|:  ",
        "  dropped:         ",
        "settings:\n",
        "  max batch size:   8\n",
        "guardrails:\n",
        "  max error rate:  50%\n",
    ] {
        assert!(show.stdout.contains(needle), "{needle}: {show:#?}");
    }

    let list = server.hangar(&["deployments", "list"]).ok();
    let rows = table_rows(&list.stdout);
    assert_eq!(
        rows[0],
        ["NAME", "REVISION", "ROUTES", "SHADOW", "READY", "UPDATED"],
        "{list:#?}"
    );
    assert_eq!(
        rows[1][..5],
        [
            "credit-api",
            "1",
            "credit:1 80% → v1, credit:2 20% → v2",
            "credit:3 → v3",
            "yes"
        ],
        "{list:#?}"
    );
    assert_eq!(rows.len(), 2, "{list:#?}");

    // Promote: the canary takes all traffic; the shadow and settings stay.
    let promoted = server
        .hangar(&["promote", "credit-api", "--message", "logreg wins"])
        .ok();
    assert!(
        promoted
            .stdout
            .starts_with("promoted credit:2 to all traffic of credit-api\n"),
        "{promoted:#?}"
    );
    for needle in [
        "revision:    2 (promote)\n",
        "routes:      credit:2 100% → v2\n",
        "shadow:      credit:3 → v3\n",
    ] {
        assert!(promoted.stdout.contains(needle), "{needle}: {promoted:#?}");
    }
    let answer = server
        .hangar(&[
            "predict",
            "credit-api",
            "--json",
            request,
            "--output",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(answer["model_version"], "2", "{answer}");

    // Rollback without --to: the revision before, canary and all.
    let rolled = server.hangar(&["rollback", "credit-api"]).ok();
    assert!(
        rolled
            .stdout
            .starts_with("rolled credit-api back to revision 1\n"),
        "{rolled:#?}"
    );
    for needle in [
        "revision:    3 (rollback → 1)\n",
        "routes:      credit:1 80% → v1, credit:2 20% → v2\n",
    ] {
        assert!(rolled.stdout.contains(needle), "{needle}: {rolled:#?}");
    }

    // A plain deploy drops canary and shadow; there is nothing to promote then.
    let plain = server
        .hangar(&["deploy", "credit-api", "--model", "credit:2"])
        .ok();
    assert!(
        plain.stdout.contains("revision:    4 (deploy)\n")
            && plain.stdout.contains("routes:      credit:2 100% → v2\n")
            && plain.stdout.contains("shadow:      -\n"),
        "{plain:#?}"
    );
    let err = server.hangar(&["promote", "credit-api"]).error_line();
    assert!(
        err.contains("nothing to promote") && err.ends_with("(HTTP 400)"),
        "{err}"
    );

    // --to returns to any revision: canary, shadow and settings as they were.
    let rolled = server
        .hangar(&[
            "rollback",
            "credit-api",
            "--to",
            "1",
            "--message",
            "back to the canary",
            "--output",
            "json",
        ])
        .ok()
        .json();
    let current = &rolled["current"];
    assert_eq!(current["revision"], 5, "{rolled:#}");
    assert_eq!(current["kind"], "rollback", "{rolled:#}");
    assert_eq!(current["rolled_back_to"], 1, "{rolled:#}");
    assert_eq!(current["shadow"]["target"], "credit:3", "{rolled:#}");
    assert_eq!(current["settings"]["max_batch_size"], 8, "{rolled:#}");
    assert_eq!(current["actor"], ACTOR, "{rolled:#}");

    let history = server
        .hangar(&["deployments", "history", "credit-api"])
        .ok();
    let rows = table_rows(&history.stdout);
    assert_eq!(
        rows[0],
        ["REV", "WHEN", "WHO", "KIND", "ROUTES", "SHADOW", "MESSAGE"],
        "{history:#?}"
    );
    let canary = "credit:1 80% → v1, credit:2 20% → v2";
    let expected = [
        [
            "1",
            ACTOR,
            "deploy",
            canary,
            "credit:3 → v3",
            "logreg as canary",
        ],
        [
            "2",
            ACTOR,
            "promote",
            "credit:2 100% → v2",
            "credit:3 → v3",
            "logreg wins",
        ],
        ["3", ACTOR, "rollback → 1", canary, "credit:3 → v3", "-"],
        ["4", ACTOR, "deploy", "credit:2 100% → v2", "-", "-"],
        [
            "5",
            ACTOR,
            "rollback → 1",
            canary,
            "credit:3 → v3",
            "back to the canary",
        ],
    ];
    assert_eq!(rows.len(), expected.len() + 1, "{history:#?}");
    for (row, want) in rows[1..].iter().zip(expected) {
        // Skip WHEN (a time) between REV and WHO.
        let got: Vec<&str> = std::iter::once(row[0].as_str())
            .chain(row[2..].iter().map(String::as_str))
            .collect();
        assert_eq!(got, want, "{history:#?}");
    }
    let raw = server
        .hangar(&["deployments", "history", "credit-api", "--output", "json"])
        .ok()
        .json();
    let kinds: Vec<&str> = raw["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["deploy", "promote", "rollback", "deploy", "rollback"]
    );

    let past = server
        .hangar(&["deployments", "show", "credit-api", "--revision", "2"])
        .ok();
    assert!(
        past.stdout.contains("revision:    2 (promote)\n")
            && past.stdout.contains("message:     logreg wins\n"),
        "{past:#?}"
    );

    // Failures: the server's message on one line, exit code 1.
    let err = server
        .hangar(&["rollback", "credit-api", "--to", "99"])
        .error_line();
    assert!(err.contains("(HTTP 404)"), "{err}");
    let err = server.hangar(&["deployments", "show", "nope"]).error_line();
    assert!(err.contains("nope") && err.ends_with("(HTTP 404)"), "{err}");
    let err = server
        .hangar(&["deployments", "history", "nope"])
        .error_line();
    assert!(err.ends_with("(HTTP 404)"), "{err}");
    let err = server
        .hangar(&[
            "deploy",
            "credit-api",
            "--model",
            "credit:1",
            "--canary",
            "credit:1=10",
        ])
        .error_line();
    assert!(
        err.contains("twice") && err.ends_with("(HTTP 400)"),
        "{err}"
    );
    let err = server
        .hangar(&[
            "deploy",
            "credit-api",
            "--model",
            "credit:1",
            "--shadow",
            "credit:1",
        ])
        .error_line();
    assert!(
        err.contains("shadow") && err.ends_with("(HTTP 400)"),
        "{err}"
    );

    // A malformed --canary is refused before any request: no new revision.
    for (canary, needle) in [
        ("credit:2", "MODEL:VERSION=PERCENT"),
        ("credit:2=150", "from 1 to 99"),
        ("credit=20", "MODEL:VERSION"),
    ] {
        let run = server.hangar(&[
            "deploy",
            "credit-api",
            "--model",
            "credit:1",
            "--canary",
            canary,
        ]);
        assert_eq!(run.code, Some(2), "{canary}: {run:#?}");
        assert!(run.stdout.is_empty(), "{run:#?}");
        assert!(
            run.stderr.starts_with("error: ") && run.stderr.contains(needle),
            "{canary}: {run:#?}"
        );
    }
    let raw = server
        .hangar(&["deployments", "history", "credit-api", "--output", "json"])
        .ok()
        .json();
    assert_eq!(raw["revisions"].as_array().unwrap().len(), 5, "{raw:#}");
}

/// Issue 18: a first push that the server refuses leaves no empty model
/// behind; a later push without --features says where its feature names
/// came from, or that it has none.
#[test]
fn a_refused_first_push_creates_no_model_and_feature_names_carry_over() {
    let server = Server::start();
    let bad = repo().join("testdata/models/unsupported_op.onnx");
    let err = server
        .hangar(&["model", "push", bad.to_str().unwrap(), "--name", "ghost"])
        .error_line();
    assert!(err.contains("Frobnicate"), "{err}");
    let list = server
        .hangar(&["model", "list", "--output", "json"])
        .ok()
        .json();
    assert_eq!(list, serde_json::json!({"models": []}), "no empty model");

    let features = feature_names().join(",");
    let gbdt = reference("models/gbdt/model.onnx");
    let first = server
        .hangar(&[
            "model",
            "push",
            gbdt.to_str().unwrap(),
            "--name",
            "credit",
            "--features",
            &features,
        ])
        .ok();
    assert!(first.stderr.contains("created model credit"), "{first:#?}");
    let logreg = reference("models/logreg/model.onnx");
    let second = server
        .hangar(&[
            "model",
            "push",
            logreg.to_str().unwrap(),
            "--name",
            "credit",
        ])
        .ok();
    assert!(
        second
            .stderr
            .contains("feature names as in credit:1, whose inputs are the same"),
        "{second:#?}"
    );
    let v2 = server
        .hangar(&["model", "show", "credit", "--output", "json"])
        .ok()
        .json();
    assert_eq!(
        v2["versions"][1]["feature_names"].as_array().map(Vec::len),
        Some(22),
        "{v2}"
    );
    let three = repo().join("testdata/models/three_columns.onnx");
    let third = server
        .hangar(&["model", "push", three.to_str().unwrap(), "--name", "credit"])
        .ok();
    assert!(
        third.stderr.contains("credit:3 has no feature names"),
        "{third:#?}"
    );
}

/// Issue 18: `hangar serve --example` creates the team its model belongs
/// to, so people can be given roles there.
#[test]
fn the_example_comes_with_its_team() {
    let server = Server::start_with(&["--example"]);
    let teams = server
        .hangar(&["team", "list", "--output", "json"])
        .ok()
        .json();
    let names: Vec<&str> = teams["teams"]
        .as_array()
        .unwrap_or_else(|| panic!("{teams}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"examples"), "{teams}");
    let model = server
        .hangar(&["model", "show", "credit-risk", "--output", "json"])
        .ok()
        .json();
    assert_eq!(model["model"]["owner_team"], "examples", "{model}");
}
