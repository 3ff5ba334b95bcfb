//! End to end, monitoring: the real `hangar` binary as the server (`hangar
//! serve` on a free loopback port) and as the client — a baseline pushed with
//! the model, segments and row ids on the deployment, live predictions on
//! drifted data, labels fed back by row id, the report, and the export.

mod common;

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;

use common::{free_port, hangar, reference, table_rows, Server};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use serde_json::Value;

const ROWS: usize = 300;

fn feature_names() -> Vec<String> {
    let schema: Value =
        serde_json::from_slice(&std::fs::read(reference("schema.json")).unwrap()).unwrap();
    schema["model_input_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// One production sample: the header and the first `rows` rows, by column name.
struct Sample {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Sample {
    /// The reference CSVs hold plain numbers only: no quoting to undo.
    fn read(path: &Path, rows: usize) -> Sample {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let header = lines
            .next()
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect();
        let rows = lines
            .take(rows)
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect();
        Sample { header, rows }
    }

    /// `columns` of every row, as CSV with a header.
    fn csv(&self, columns: &[String]) -> String {
        let index: Vec<usize> = columns
            .iter()
            .map(|c| self.header.iter().position(|h| h == c).unwrap())
            .collect();
        let mut csv = columns.join(",") + "\n";
        for row in &self.rows {
            let cells: Vec<&str> = index.iter().map(|&i| row[i].as_str()).collect();
            csv += &(cells.join(",") + "\n");
        }
        csv
    }

    fn column(&self, name: &str) -> Vec<String> {
        let i = self.header.iter().position(|h| h == name).unwrap();
        self.rows.iter().map(|r| r[i].clone()).collect()
    }
}

/// Table rows split on runs of two or more spaces (cells may hold one).
#[test]
fn baseline_feedback_monitor_and_export_on_covariate_drift() {
    let server = Server::start();
    let model = reference("models/gbdt/model.onnx");
    let training = reference("data/reference.csv");
    let features = feature_names();
    assert_eq!(features.len(), 22);

    // The model and its baseline in one command.
    let pushed = server
        .hangar(&[
            "model",
            "push",
            model.to_str().unwrap(),
            "--name",
            "credit",
            "--features",
            &features.join(","),
            "--baseline",
            training.to_str().unwrap(),
            "--label-column",
            "label",
            "--categorical",
            "employment_type,housing_status",
        ])
        .ok();
    let lines: Vec<&str> = pushed.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{pushed:#?}");
    assert!(
        lines[0].starts_with("pushed credit version 1 (sha256:"),
        "{pushed:#?}"
    );
    assert!(
        lines[1].starts_with(
            "baseline for credit:1: 20000 rows, 22 features (2 categorical); labels from label ("
        ),
        "{pushed:#?}"
    );
    assert!(
        lines[1].contains("positive): in-sample accuracy 0.") && lines[1].contains(", AUC 0."),
        "{pushed:#?}"
    );
    assert!(lines[1].contains("; calibrated: "), "{pushed:#?}");

    let baseline = server
        .hangar(&["model", "baseline", "credit:1", "--output", "json"])
        .ok()
        .json();
    assert_eq!(baseline["rows"], 20000, "{baseline:#}");
    assert_eq!(baseline["label_column"], "label", "{baseline:#}");
    assert_eq!(baseline["features"].as_array().unwrap().len(), 22);
    let accuracy = baseline["performance"]["accuracy"].as_f64().unwrap();
    assert!((0.5..1.0).contains(&accuracy), "{baseline:#}");

    // Segments and row ids are settings of the deployment.
    server
        .hangar(&[
            "deploy",
            "credit-api",
            "--model",
            "credit:1",
            "--segment",
            "group",
            "--row-id",
            "row_id",
        ])
        .ok();
    let shown = server.hangar(&["deployments", "show", "credit-api"]).ok();
    for needle in [
        "  segments:         group\n",
        "  row id:           row_id\n",
        "  prediction log:   on\n",
    ] {
        assert!(shown.stdout.contains(needle), "{needle}: {shown:#?}");
    }

    // Live traffic: the first rows of the sample with covariate drift on income;
    // `group` and `row_id` ride along and are stripped before the model.
    let sample = Sample::read(&reference("data/prod_b_covariate_drift.csv"), ROWS);
    let mut columns = features.clone();
    columns.extend(["group".to_owned(), "row_id".to_owned()]);
    let rows_csv = server.write("rows.csv", &sample.csv(&columns));
    let predicted = server
        .hangar(&["predict", "credit-api", "--csv", &rows_csv])
        .ok();
    assert_eq!(predicted.stdout.lines().count(), ROWS + 1, "{predicted:#?}");

    // Labels by row id, with one id that was never predicted.
    let mut labels_csv = sample.csv(&["row_id".to_owned(), "label".to_owned()]);
    labels_csv += "no-such-row,1\n";
    let labels = server.write("labels.csv", &labels_csv);
    let fed = server.hangar(&["feedback", "credit-api", &labels]).ok();
    assert_eq!(
        fed.stdout,
        format!(
            "received {} labels, updated {ROWS} predictions\n\
             \n\
             1 unknown (no logged prediction has this id):\n\
             ROW_ID\n\
             no-such-row\n",
            ROWS + 1
        ),
        "{fed:#?}"
    );
    // Nothing matching at all is a failure.
    let nothing = server.write("nothing.csv", "row_id,label\nghost-1,1\nghost-2,0\n");
    let err = server
        .hangar(&["feedback", "credit-api", &nothing])
        .error_line();
    assert!(
        err.contains("no label matched a logged prediction of credit-api (2 sent;")
            && err.contains("row_id ghost-1, row_id ghost-2"),
        "{err}"
    );

    // Labels the model could not have predicted are rejected by line; with
    // nothing else in the file that is a failure naming them.
    let first = labels_csv.lines().nth(1).unwrap().to_owned();
    let first_id = first.split(',').next().unwrap();
    let bad = server.write(
        "bad.csv",
        &format!("row_id,label\n{first_id},2\n{first_id},0.5\n"),
    );
    let err = server
        .hangar(&["feedback", "credit-api", &bad])
        .error_line();
    assert!(
        err.contains(
            "no feedback applied: every line was rejected (line 2: label 2 is not one of the model's classes (0, 1)"
        ) && err.contains("line 3: label 0.5"),
        "{err}"
    );
    // Beside good lines, the good ones are applied, the rejected ones
    // listed, and the exit code says so.
    let mixed = server.write(
        "mixed.csv",
        &format!("row_id,label\n{first}\n{first_id},7\n"),
    );
    let run = server.hangar(&["feedback", "credit-api", &mixed]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stdout.starts_with(
            "received 2 labels, updated 1 prediction, rejected 1\n\n1 rejected:\nLINE  ERROR\n3     label 7 is not one of"
        ),
        "{run:#?}"
    );
    assert!(
        run.stderr
            .contains("1 of 2 lines were rejected (listed above); the others were applied"),
        "{run:#?}"
    );

    // The report: rows, drift worst first with income among the drifted,
    // performance on the labelled rows, fairness by group.
    let report = server.hangar(&["monitor", "credit-api"]).ok();
    let text = &report.stdout;
    for needle in [
        "deployment:  credit-api\n",
        "version:     credit:1\n",
        &format!("rows:        {ROWS} ({ROWS} labelled)\n"),
        "baseline:    20000 rows, label rate ",
        " features drifted (",
        "\nperformance:\n",
        &format!("ACTUAL ({ROWS} labelled)"),
        "ESTIMATED (CBPE)",
        "BASELINE (in-sample)",
        "\nfairness by group:\n",
        "four-fifths rule",
    ] {
        assert!(text.contains(needle), "{needle}: {report:#?}");
    }
    let table = table_rows(text);
    let header = table
        .iter()
        .position(|r| r.first().map(String::as_str) == Some("FEATURE"))
        .unwrap_or_else(|| panic!("no feature table: {report:#?}"));
    assert_eq!(
        table[header],
        ["FEATURE", "KIND", "PSI", "P-VALUE", "TEST", "SCORE", "DRIFTED"],
        "{report:#?}"
    );
    let feature_rows = &table[header + 1..header + 1 + features.len()];
    let income = feature_rows
        .iter()
        .find(|r| r[0] == "income")
        .unwrap_or_else(|| panic!("no income row: {report:#?}"));
    assert_eq!(income[1], "numeric", "{report:#?}");
    assert_eq!(
        income.last().map(String::as_str),
        Some("yes"),
        "{report:#?}"
    );
    // Worst first: every drifted feature before every other.
    let verdicts: Vec<&str> = feature_rows.iter().map(|r| r[6].as_str()).collect();
    let first_no = verdicts
        .iter()
        .position(|v| *v == "no")
        .unwrap_or(verdicts.len());
    assert!(
        verdicts[first_no..].iter().all(|v| *v == "no"),
        "{report:#?}"
    );
    let accuracy_row = table
        .iter()
        .find(|r| r.first().map(String::as_str) == Some("accuracy"))
        .unwrap_or_else(|| panic!("no accuracy row: {report:#?}"));
    assert_eq!(accuracy_row.len(), 4, "{report:#?}");

    let raw = server
        .hangar(&["monitor", "credit-api", "--output", "json"])
        .ok()
        .json();
    assert_eq!(raw["deployment"], "credit-api", "{raw:#}");
    assert_eq!(raw["model"], "credit");
    assert_eq!(raw["version"], 1);
    assert_eq!(raw["rows"], ROWS);
    assert_eq!(raw["labeled_rows"], ROWS);
    assert_eq!(raw["features"].as_object().unwrap().len(), 22, "{raw:#}");
    assert_eq!(raw["features"]["income"]["drifted"], true, "{raw:#}");
    assert_eq!(raw["features"]["income"]["kind"], "numeric");
    assert_eq!(
        raw["features"]["housing_status"]["kind"], "categorical",
        "{raw:#}"
    );
    assert!(raw["drift_share"].as_f64().unwrap() > 0.0, "{raw:#}");
    assert_eq!(raw["performance"]["n"], ROWS, "{raw:#}");
    assert!(raw["performance"]["accuracy"].as_f64().unwrap() > 0.5);
    assert!(
        raw["estimated_performance"]["accuracy"].is_number(),
        "{raw:#}"
    );
    let groups = raw["fairness"]["group"]["groups"].as_object().unwrap();
    assert_eq!(
        groups
            .values()
            .map(|g| g["count"].as_u64().unwrap())
            .sum::<u64>(),
        ROWS as u64,
        "{raw:#}"
    );
    assert_eq!(raw["baseline"]["rows"], 20000);

    // A window with nothing in it says so.
    let empty = server
        .hangar(&[
            "monitor",
            "credit-api",
            "--from",
            "2020-01-01",
            "--to",
            "2020-01-02",
        ])
        .ok();
    assert!(
        empty.stdout.contains("rows:        0 (0 labelled)")
            && empty.stdout.contains("no predictions in this window"),
        "{empty:#?}"
    );

    // The export: the server's CSV as it is...
    let csv_path = server.path("predictions.csv");
    let exported = server
        .hangar(&["export", "predictions", "credit-api", "-o", &csv_path])
        .ok();
    assert!(
        exported
            .stdout
            .starts_with(&format!("wrote {ROWS} predictions to {csv_path} (CSV, ")),
        "{exported:#?}"
    );
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), ROWS + 1);
    assert_eq!(
        lines[0],
        "at,request_id,row,row_id,revision,model,version,inputs,outputs,score,predicted,segments,latency_us,label"
    );
    assert!(!Path::new(&format!("{csv_path}.part")).exists());
    let streamed = server
        .hangar(&["export", "predictions", "credit-api", "--from", "1h"])
        .ok();
    assert_eq!(streamed.stdout, csv);

    // ...and as Parquet, typed and readable by the parquet crate.
    let parquet_path = server.path("predictions.parquet");
    let exported = server
        .hangar(&[
            "export",
            "predictions",
            "credit-api",
            "-o",
            &parquet_path,
            "--output",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(exported["rows"], ROWS, "{exported:#}");
    assert_eq!(exported["format"], "parquet");
    let reader = SerializedFileReader::new(File::open(&parquet_path).unwrap()).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), ROWS as i64);
    let mut row_ids = BTreeSet::new();
    let mut labelled = 0;
    for row in reader.get_row_iter(None).unwrap() {
        for (name, field) in row.unwrap().get_column_iter() {
            match (name.as_str(), field) {
                ("row_id", Field::Str(id)) => {
                    row_ids.insert(id.clone());
                }
                ("label", Field::Double(_)) => labelled += 1,
                ("at", f) => assert!(matches!(f, Field::TimestampMicros(_)), "{f:?}"),
                ("model", f) => assert_eq!(f, &Field::Str("credit".into())),
                _ => {}
            }
        }
    }
    assert_eq!(labelled, ROWS);
    assert_eq!(
        row_ids,
        sample.column("row_id").into_iter().collect::<BTreeSet<_>>()
    );

    // With the prediction log off, new traffic is served but not recorded.
    server
        .hangar(&[
            "deploy",
            "credit-api",
            "--model",
            "credit:1",
            "--no-prediction-log",
        ])
        .ok();
    let shown = server.hangar(&["deployments", "show", "credit-api"]).ok();
    assert!(
        shown.stdout.contains("  prediction log:   off\n")
            && shown.stdout.contains("  segments:         group\n"),
        "{shown:#?}"
    );
    server
        .hangar(&["predict", "credit-api", "--csv", &rows_csv])
        .ok();
    let raw = server
        .hangar(&["monitor", "credit-api", "--output", "json"])
        .ok()
        .json();
    assert_eq!(raw["rows"], ROWS, "{raw:#}");
}

#[test]
fn baselines_are_checked_against_the_version_before_upload() {
    let server = Server::start();
    let model = reference("models/gbdt/model.onnx");
    let training = reference("data/reference.csv");
    server
        .hangar(&["model", "push", model.to_str().unwrap(), "--name", "plain"])
        .ok();
    let err = server
        .hangar(&["model", "baseline", "plain:1", training.to_str().unwrap()])
        .error_line();
    assert!(err.contains("has no feature names"), "{err}");

    let err = server
        .hangar(&["model", "baseline", "plain@production"])
        .error_line();
    assert!(err.contains("no alias \"production\""), "{err}");

    let err = server
        .hangar(&["model", "baseline", "plain:1"])
        .error_line();
    assert!(err.contains("has no baseline"), "{err}");

    // A refused baseline leaves the version pushed and says how to retry.
    let features = feature_names().join(",");
    let err = server
        .hangar(&[
            "model",
            "push",
            model.to_str().unwrap(),
            "--name",
            "plain",
            "--features",
            &features,
            "--baseline",
            training.to_str().unwrap(),
            "--label-column",
            "outcome",
        ])
        .error_line();
    assert!(
        err.contains("pushed plain version 2, but its baseline was not stored")
            && err.contains("'outcome'")
            && err.contains("hangar model baseline plain:2 FILE"),
        "{err}"
    );
    // The retry, from stdin: the first 500 training rows.
    let text = std::fs::read_to_string(&training).unwrap();
    let head: String = text.lines().take(501).map(|l| format!("{l}\n")).collect();
    let fixed = server
        .hangar_with_stdin(
            &[
                "model",
                "baseline",
                "plain:2",
                "-",
                "--label-column",
                "label",
            ],
            head.as_bytes(),
        )
        .ok();
    assert!(
        fixed
            .stdout
            .starts_with("baseline for plain:2: 500 rows, 22 features; labels from label ("),
        "{fixed:#?}"
    );
    let shown = server.hangar(&["model", "baseline", "plain:2"]).ok();
    assert!(shown.stdout.contains("rows:          500\n"), "{shown:#?}");
}

#[test]
fn monitoring_commands_fail_in_one_line_and_document_themselves() {
    let url = format!("http://127.0.0.1:{}", free_port());
    // Local mistakes fail before any request (nothing listens at `url`).
    let err = hangar(
        Some(&url),
        &["feedback", "credit-api", "/nonexistent/labels.csv"],
    )
    .error_line();
    assert!(err.contains("cannot read /nonexistent/labels.csv"), "{err}");
    let err = hangar(
        Some(&url),
        &[
            "export",
            "predictions",
            "credit-api",
            "-o",
            "/nonexistent/x.parquet",
        ],
    )
    .error_line();
    assert!(err.contains("cannot write /nonexistent/x.parquet"), "{err}");
    let err = hangar(Some(&url), &["monitor", "credit-api"]).error_line();
    assert!(err.contains("cannot reach the Hangar server"), "{err}");

    for args in [
        &["monitor", "credit-api", "--from", "last tuesday"][..],
        &["feedback", "credit-api"],
        &["export", "predictions", "credit-api", "--to", "soon"],
        &[
            "model",
            "push",
            "m.onnx",
            "--name",
            "m",
            "--baseline",
            "t.csv",
        ],
    ] {
        let run = hangar(None, args);
        assert_eq!(run.code, Some(2), "{args:?}: {run:#?}");
    }

    for (args, needles) in [
        (
            &["model", "push", "--help"][..],
            &["--baseline", "--label-column", "--categorical"][..],
        ),
        (
            &["model", "baseline", "--help"],
            &[
                "MODEL:VERSION",
                "--label-column",
                "--categorical",
                "Examples:",
            ],
        ),
        (
            &["deploy", "--help"],
            &["--segment", "--row-id", "--no-prediction-log"],
        ),
        (
            &["feedback", "--help"],
            &[
                "row_id,label",
                "request_id,row,label",
                "--json",
                "Examples:",
            ],
        ),
        (
            &["monitor", "--help"],
            &[
                "--from",
                "--to",
                "--version",
                "four-fifths",
                "--server",
                "Examples:",
            ],
        ),
        (
            &["export", "predictions", "--help"],
            &["-o", ".parquet", "--from", "--output", "Examples:"],
        ),
    ] {
        let help = hangar(None, args).ok();
        for needle in needles {
            assert!(help.stdout.contains(needle), "{args:?} {needle}: {help:#?}");
        }
    }
}
