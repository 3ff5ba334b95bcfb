//! End to end, monitoring: the real `hangar` binary as the server (`hangar
//! serve` on a free loopback port) and as the client — a baseline pushed with
//! the model, segments and row ids on the deployment, live predictions on
//! drifted data, labels fed back by row id, the report, and the export.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use serde_json::Value;

const HANGAR: &str = env!("CARGO_BIN_EXE_hangar");
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Rows of the drifted production sample sent for prediction.
const ROWS: usize = 300;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn reference(path: &str) -> PathBuf {
    repo().join("testdata/reference").join(path)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What one run of the client printed, and how it exited.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        self
    }

    /// A failure reported the house way: exit code 1 and one `error:` line.
    #[track_caller]
    fn error_line(self) -> String {
        assert_eq!(self.code, Some(1), "expected exit code 1: {self:#?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line on stderr: {self:#?}");
        assert!(lines[0].starts_with("error: "), "{self:#?}");
        assert!(self.stdout.is_empty(), "{self:#?}");
        lines[0].to_owned()
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// Runs the client with a clean environment: only loopback, no proxies.
fn hangar(server: Option<&str>, args: &[&str]) -> Run {
    hangar_with_stdin(server, args, None)
}

/// [`hangar`] with `stdin` piped in.
fn hangar_with_stdin(server: Option<&str>, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::new(HANGAR);
    cmd.args(args)
        .env("USER", "e2e-tester")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "HANGAR_SERVER",
        "http_proxy",
        "HTTP_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    if let Some(url) = server {
        cmd.env("HANGAR_SERVER", url);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(bytes) = stdin {
        // Written before waiting: the client reads stdin whole before it sends.
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// `hangar serve` in a child process, killed (by its handle) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    url: String,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        let ort = repo().join("vendor/onnxruntime/libonnxruntime.so");
        assert!(
            ort.is_file(),
            "{} is missing; run scripts/fetch-onnxruntime.sh",
            ort.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = dir.path().join("server.log");
        let log_file = File::create(&log).unwrap();
        let mut cmd = Command::new(HANGAR);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--addr")
            .arg(addr.to_string())
            .env("ORT_DYLIB_PATH", &ort)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        for var in ["HANGAR_CONFIG", "HANGAR_DATA_DIR", "HANGAR_ADDR"] {
            cmd.env_remove(var);
        }
        let mut server = Server {
            child: cmd.spawn().unwrap(),
            addr,
            url: format!("http://{addr}"),
            log,
            dir,
        };
        server.wait_until_ready();
        server
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if http_status(self.addr, "/v2/health/ready") == Some(200) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the server exited ({status}) before it was ready:\n{}",
                    self.log_text()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "the server was not ready within {READY_TIMEOUT:?}:\n{}",
                    self.log_text()
                );
            }
            // Polling a bounded number of times, not sleeping in place of a signal.
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn hangar(&self, args: &[&str]) -> Run {
        hangar(Some(&self.url), args)
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    /// A file in the test's own temporary directory.
    fn write(&self, name: &str, contents: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

/// The status code of a plain `GET`, or `None` if nothing answered.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

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
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

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
    let fixed = hangar_with_stdin(
        Some(&server.url),
        &[
            "model",
            "baseline",
            "plain:2",
            "-",
            "--label-column",
            "label",
        ],
        Some(head.as_bytes()),
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
