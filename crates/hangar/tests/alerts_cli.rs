//! End to end, alerting: the real `hangar` binary as the server (`hangar
//! serve` on a free loopback port) and as the client — a notification channel,
//! live traffic, a rule that fires on it, acknowledgement, the history, the
//! delivery to the channel, each deployment's health, and the errors.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::{free_port, hangar, reference, table_rows, Run, Server};
use serde_json::Value;

/// The server evaluates alerts every 10 s: a new rule fires within one or two
/// evaluations.
const FIRING_TIMEOUT: Duration = Duration::from_secs(40);
/// Rows of the test set sent in each prediction request.
const ROWS: usize = 5;
/// Prediction requests sent: what `traffic.requests` counts.
const REQUESTS: usize = 2;

/// A webhook on a loopback port that answers every POST with 200 and hands
/// each body to the test.
struct Webhook {
    url: String,
    bodies: mpsc::Receiver<Value>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/hangar", listener.local_addr().unwrap());
        let (send, bodies) = mpsc::channel();
        // Ends with the test process; it only ever answers on loopback.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if let Some(body) = Webhook::answer(stream) {
                    if send.send(body).is_err() {
                        return;
                    }
                }
            }
        });
        Webhook { url, bodies }
    }

    /// Reads one request (headers, then Content-Length bytes) and answers 200.
    fn answer(stream: TcpStream) -> Option<Value> {
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut reader = BufReader::new(stream.try_clone().ok()?);
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().ok()?;
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        let mut stream = stream;
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .ok()?;
        serde_json::from_slice(&body).ok()
    }

    /// The next body received, waiting at most `timeout`.
    fn next(&self, timeout: Duration) -> Value {
        self.bodies
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("no webhook call within {timeout:?}: {e}"))
    }
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

/// `columns` of the first `rows` rows of a reference CSV (plain numbers only:
/// no quoting to undo), as CSV with a header.
fn csv_sample(path: &Path, columns: &[String], rows: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let index: Vec<usize> = columns
        .iter()
        .map(|c| header.iter().position(|h| h == c).unwrap())
        .collect();
    let mut csv = columns.join(",") + "\n";
    for line in lines.take(rows) {
        let cells: Vec<&str> = line.split(',').collect();
        let picked: Vec<&str> = index.iter().map(|&i| cells[i]).collect();
        csv += &(picked.join(",") + "\n");
    }
    csv
}

/// Table rows split on runs of two or more spaces (cells may hold one).
/// The table row whose cells include all of `cells`.
#[track_caller]
fn row_with(run: &Run, cells: &[&str]) -> Vec<String> {
    table_rows(&run.stdout)
        .into_iter()
        .find(|r| cells.iter().all(|c| r.iter().any(|cell| cell == c)))
        .unwrap_or_else(|| panic!("no row with {cells:?}: {run:#?}"))
}

#[test]
fn a_rule_fires_on_live_traffic_is_acknowledged_and_shows_in_history_and_status() {
    let server = Server::start();
    let webhook = Webhook::start();

    // A channel first, so the alert is sent to it.
    let empty = server.hangar(&["alerts", "channels"]).ok();
    assert!(
        empty.stdout.starts_with("no notification channels;"),
        "{empty:#?}"
    );
    let added = server
        .hangar(&[
            "alerts",
            "channels",
            "add",
            "ops",
            "--kind",
            "webhook",
            "--url",
            &webhook.url,
        ])
        .ok();
    assert_eq!(
        added.stdout,
        format!("saved channel ops (webhook: {})\n", webhook.url)
    );
    let listed = server.hangar(&["alerts", "channels"]).ok();
    assert_eq!(
        table_rows(&listed.stdout)[0],
        ["NAME", "KIND", "URL", "CREATED", "BY"]
    );
    let ops = row_with(&listed, &["ops"]);
    assert_eq!(ops[1..3], ["webhook", webhook.url.as_str()], "{listed:#?}");
    assert_eq!(ops.last().map(String::as_str), Some(common::ADMIN));

    // A model, two deployments, and traffic on one of them.
    let model = reference("models/gbdt/model.onnx");
    let features = feature_names();
    assert_eq!(features.len(), 22);
    server
        .hangar(&[
            "model",
            "push",
            model.to_str().unwrap(),
            "--name",
            "credit",
            "--features",
            &features.join(","),
        ])
        .ok();
    server
        .hangar(&["deploy", "credit-api", "--model", "credit:1"])
        .ok();
    // Sorted before credit-api by name, after it by health.
    server
        .hangar(&["deploy", "a-quiet-api", "--model", "credit:1"])
        .ok();
    let rows = server.write(
        "rows.csv",
        &csv_sample(&reference("data/test.csv"), &features, ROWS),
    );
    for _ in 0..REQUESTS {
        let predicted = server
            .hangar(&["predict", "credit-api", "--csv", &rows])
            .ok();
        assert_eq!(predicted.stdout.lines().count(), ROWS + 1, "{predicted:#?}");
    }
    let requests = REQUESTS.to_string();

    // The defaults are there before any rule is written.
    let rules = server.hangar(&["alerts", "rules"]).ok();
    assert_eq!(
        table_rows(&rules.stdout)[0],
        [
            "NAME",
            "DEPLOYMENT",
            "SEVERITY",
            "CONDITION",
            "WINDOW",
            "FOR",
            "SOURCE"
        ]
    );
    assert_eq!(
        row_with(&rules, &["error-rate-high"]),
        [
            "error-rate-high",
            "all",
            "critical",
            "the share of failed requests above 5%",
            "5m",
            "2m",
            "default"
        ]
    );

    // A rule that holds at once: any traffic in the last hour.
    let saved = server
        .hangar(&[
            "alerts",
            "rules",
            "add",
            "busy",
            "--metric",
            "traffic.requests",
            "--comparison",
            ">=",
            "--threshold",
            "1",
            "--window",
            "1h",
            "--for",
            "0s",
            "--deployment",
            "credit-api",
        ])
        .ok();
    assert_eq!(
        saved.stdout,
        "saved rule busy (deployment credit-api): warning when the number of requests is \
         at or above 1 over 1h, at once\n"
    );
    let rules = server.hangar(&["alerts", "rules"]).ok();
    assert_eq!(
        row_with(&rules, &["busy"]),
        [
            "busy",
            "credit-api",
            "warning",
            "the number of requests at or above 1",
            "1h",
            "0s",
            "custom"
        ]
    );
    let raw = server
        .hangar(&["alerts", "rules", "--output", "json"])
        .ok()
        .json();
    assert_eq!(
        raw["rules"][0]["condition"], "traffic.requests >= 1",
        "{raw:#}"
    );
    assert_eq!(raw["defaults"].as_array().unwrap().len(), 4, "{raw:#}");

    // It fires at the next evaluation.
    server.poll(
        &["alerts", "list", "--output", "json"],
        FIRING_TIMEOUT,
        |run| {
            let alerts = run.json();
            alerts["alerts"]
                .as_array()?
                .iter()
                .any(|a| {
                    a["rule"] == "busy" && a["deployment"] == "credit-api" && a["state"] == "firing"
                })
                .then_some(())
        },
    );
    let list = server.hangar(&["alerts", "list"]).ok();
    assert_eq!(
        table_rows(&list.stdout)[0],
        [
            "STATE",
            "SEVERITY",
            "DEPLOYMENT",
            "RULE",
            "VALUE",
            "SINCE",
            "ACK"
        ]
    );
    let busy = row_with(&list, &["busy"]);
    assert_eq!(
        busy[..5],
        ["firing", "warning", "credit-api", "busy", requests.as_str()],
        "{list:#?}"
    );
    assert!(busy[5].ends_with(" UTC"), "{list:#?}");
    assert_eq!(busy[6], "no", "{list:#?}");

    // The channel got the event, and the delivery is logged.
    let sent = webhook.next(FIRING_TIMEOUT);
    assert_eq!(sent["rule"], "busy", "{sent:#}");
    assert_eq!(sent["deployment"], "credit-api", "{sent:#}");
    assert_eq!(sent["state"], "firing", "{sent:#}");
    let delivered = server.poll(&["alerts", "deliveries"], FIRING_TIMEOUT, |run| {
        (run.code == Some(0) && run.stdout.contains("delivered")).then(|| run.stdout.clone())
    });
    let rows_delivered = table_rows(&delivered);
    assert_eq!(
        rows_delivered[0],
        ["AT", "CHANNEL", "EVENT", "ATTEMPT", "RESULT", "DETAIL"]
    );
    assert_eq!(rows_delivered[1][1..5], ["ops", "1", "1", "delivered"]);

    // Acknowledged: it keeps firing, marked as seen.
    let acked = server
        .hangar(&["alerts", "ack", "busy", "--deployment", "credit-api"])
        .ok();
    assert_eq!(
        acked.stdout,
        "acknowledged busy on credit-api; it keeps firing until its condition no longer holds\n"
    );
    let list = server.hangar(&["alerts", "list"]).ok();
    let busy = row_with(&list, &["busy"]);
    assert_eq!((busy[0].as_str(), busy[6].as_str()), ("firing", "yes"));

    // The history, newest first: the acknowledgement, then the firing.
    let history = server
        .hangar(&["alerts", "history", "--deployment", "credit-api"])
        .ok();
    let table = table_rows(&history.stdout);
    assert_eq!(
        table[0],
        [
            "AT",
            "EVENT",
            "SEVERITY",
            "DEPLOYMENT",
            "RULE",
            "VALUE",
            "MESSAGE"
        ]
    );
    assert_eq!(
        table[1][1..],
        [
            "acknowledged",
            "-",
            "credit-api",
            "busy",
            "-",
            "acknowledged by admin"
        ],
        "{history:#?}"
    );
    assert_eq!(
        table[2][1..6],
        ["firing", "warning", "credit-api", "busy", requests.as_str()],
        "{history:#?}"
    );
    let raw = server
        .hangar(&["alerts", "history", "--limit", "1", "--output", "json"])
        .ok()
        .json();
    let events = raw["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{raw:#}");
    assert_eq!(events[0]["kind"], "acknowledged", "{raw:#}");
    let other = server
        .hangar(&["alerts", "history", "--deployment", "a-quiet-api"])
        .ok();
    assert_eq!(other.stdout, "no alert events for a-quiet-api yet\n");

    // Health in words: the troubled deployment first, with its reason.
    let status = server.hangar(&["status"]).ok();
    let lines: Vec<&str> = status.stdout.lines().collect();
    assert_eq!(
        lines[0], "2 deployments: 1 needs attention, 1 healthy",
        "{status:#?}"
    );
    assert_eq!(lines[1], "");
    assert_eq!(lines[2], "! needs attention  credit-api", "{status:#?}");
    assert!(
        lines[3].starts_with(&format!(
            "    - the number of requests is {REQUESTS}, at or above the alert line of 1"
        )) && lines[3].contains("alert \"busy\" firing for")
            && lines[3].contains("acknowledged"),
        "{status:#?}"
    );
    let quiet = lines
        .iter()
        .position(|l| *l == "✓ healthy          a-quiet-api")
        .unwrap_or_else(|| panic!("{status:#?}"));
    assert!(quiet > 3, "{status:#?}");
    assert_eq!(
        lines[quiet + 1],
        "    - no traffic in the last hour",
        "{status:#?}"
    );

    let one = server
        .hangar(&["status", "credit-api", "--output", "json"])
        .ok()
        .json();
    assert_eq!(one["deployment"], "credit-api", "{one:#}");
    assert_eq!(one["health"], "needs_attention", "{one:#}");
    assert!(!one["reasons"].as_array().unwrap().is_empty(), "{one:#}");
    let all = server.hangar(&["status", "--output", "json"]).ok().json();
    let order: Vec<&str> = all["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["deployment"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["credit-api", "a-quiet-api"], "{all:#}");

    // Deleting: the rule, then the channel; twice is an error.
    let deleted = server
        .hangar(&[
            "alerts",
            "rules",
            "delete",
            "busy",
            "--deployment",
            "credit-api",
        ])
        .ok();
    assert_eq!(
        deleted.stdout,
        "deleted rule busy (deployment credit-api)\n"
    );
    let rules = server
        .hangar(&["alerts", "rules", "--output", "json"])
        .ok()
        .json();
    assert_eq!(rules["rules"], serde_json::json!([]), "{rules:#}");
    let err = server
        .hangar(&[
            "alerts",
            "rules",
            "delete",
            "busy",
            "--deployment",
            "credit-api",
        ])
        .error_line();
    assert!(
        err.contains("alert rule 'busy' for 'credit-api' not found") && err.contains("HTTP 404"),
        "{err}"
    );
    let deleted = server.hangar(&["alerts", "channels", "delete", "ops"]).ok();
    assert_eq!(deleted.stdout, "deleted channel ops\n");
    let empty = server.hangar(&["alerts", "channels"]).ok();
    assert!(
        empty.stdout.starts_with("no notification channels;"),
        "{empty:#?}"
    );
    let err = server
        .hangar(&["alerts", "channels", "delete", "ops"])
        .error_line();
    assert!(err.contains("channel 'ops' not found"), "{err}");
}

#[test]
fn the_servers_refusals_arrive_as_one_error_line() {
    let server = Server::start();

    let err = server
        .hangar(&[
            "alerts",
            "rules",
            "add",
            "odd",
            "--metric",
            "traffic.bogus",
            "--comparison",
            ">",
            "--threshold",
            "1",
        ])
        .error_line();
    assert!(
        err.contains("unknown metric \"traffic.bogus\"") && err.ends_with("(HTTP 400)"),
        "{err}"
    );
    let err = server
        .hangar(&[
            "alerts",
            "rules",
            "add",
            "odd",
            "--metric",
            "traffic.error_rate",
            "--comparison",
            ">",
            "--threshold",
            "5",
        ])
        .error_line();
    assert!(err.contains("for 5% write 0.05"), "{err}");

    let err = server
        .hangar(&["alerts", "ack", "busy", "--deployment", "credit-api"])
        .error_line();
    // No such deployment: refused before looking for the alert.
    assert!(
        err.contains("deployment 'credit-api' not found") && err.contains("HTTP 404"),
        "{err}"
    );
    let err = server
        .hangar(&[
            "alerts",
            "channels",
            "add",
            "ops",
            "--kind",
            "webhook",
            "--url",
            "ftp://127.0.0.1/x",
        ])
        .error_line();
    assert!(err.contains("channel url must be an http:// URL"), "{err}");
    let err = server.hangar(&["status", "nowhere"]).error_line();
    assert!(
        err.contains("not found") && err.contains("HTTP 404"),
        "{err}"
    );

    // An empty server says what to do next.
    let status = server.hangar(&["status"]).ok();
    assert!(
        status.stdout.starts_with("no deployments yet;"),
        "{status:#?}"
    );
    let all = server.hangar(&["status", "--output", "json"]).ok().json();
    assert_eq!(all, serde_json::json!({"deployments": []}));
    let list = server.hangar(&["alerts", "list"]).ok();
    assert!(
        list.stdout
            .starts_with("no alerts: nothing is pending or firing"),
        "{list:#?}"
    );
    let history = server.hangar(&["alerts", "history"]).ok();
    assert_eq!(history.stdout, "no alert events yet\n");
    let deliveries = server.hangar(&["alerts", "deliveries"]).ok();
    assert_eq!(deliveries.stdout, "no alert events sent to channels yet\n");
}

#[test]
fn alert_commands_check_their_arguments_and_document_themselves() {
    let url = format!("http://127.0.0.1:{}", free_port());
    // Nothing listens at `url`.
    for args in [&["alerts", "list"][..], &["status"]] {
        let err = hangar(Some(&url), args).error_line();
        assert!(
            err.contains("cannot reach the Hangar server"),
            "{args:?}: {err}"
        );
    }

    // Bad arguments are usage errors (exit 2), before any request.
    for args in [
        &[
            "alerts",
            "rules",
            "add",
            "r",
            "--metric",
            "traffic.requests",
            "--comparison",
            ">",
            "--threshold",
            "1",
            "--window",
            "an hour",
        ][..],
        &[
            "alerts",
            "rules",
            "add",
            "r",
            "--metric",
            "traffic.requests",
            "--comparison",
            ">",
            "--threshold",
            "1",
            "--for",
            "10",
        ],
        &[
            "alerts",
            "rules",
            "add",
            "r",
            "--metric",
            "traffic.requests",
            "--comparison",
            "==",
            "--threshold",
            "1",
        ],
        &["alerts", "ack", "busy"],
        &["alerts", "history", "--limit", "none"],
        &["alerts", "channels", "add", "ops", "--kind", "webhook"],
        &["alerts", "bogus"],
        &["status", "Not A Name"],
    ] {
        let run = hangar(Some(&url), args);
        assert_eq!(run.code, Some(2), "{args:?}: {run:#?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:#?}");
    }
    let run = hangar(
        Some(&url),
        &[
            "alerts",
            "rules",
            "add",
            "r",
            "--metric",
            "traffic.requests",
            "--comparison",
            ">",
            "--threshold",
            "1",
            "--window",
            "an hour",
        ],
    );
    assert!(
        run.stderr.contains(
            "\"an hour\" is not a duration; expected a number with a unit: 30s, 10m, 1h, 7d"
        ),
        "{run:#?}"
    );

    for (args, needles) in [
        (
            &["alerts", "--help"][..],
            &[
                "list",
                "rules",
                "ack",
                "history",
                "channels",
                "deliveries",
                "--server",
                "--output",
                "Examples:",
            ][..],
        ),
        (
            &["alerts", "list", "--help"],
            &["STATE", "SINCE", "ACK", "Examples:"],
        ),
        (
            &["alerts", "rules", "add", "--help"],
            &[
                "--metric",
                "--comparison",
                "--threshold",
                "--deployment",
                "--window",
                "--for",
                "--severity",
                "--guardrail",
                "traffic.error_rate",
                "fairness.<attribute>.demographic_parity_ratio",
                "Examples:",
            ],
        ),
        (
            &["alerts", "rules", "delete", "--help"],
            &["--deployment", "Examples:"],
        ),
        (&["alerts", "ack", "--help"], &["--deployment", "Example:"]),
        (
            &["alerts", "history", "--help"],
            &["--deployment", "--limit", "Examples:"],
        ),
        (
            &["alerts", "channels", "add", "--help"],
            &["--kind", "--url", "webhook", "slack", "Examples:"],
        ),
        (&["alerts", "deliveries", "--help"], &["Examples:"]),
        (
            &["status", "--help"],
            &["✗ failing", "! needs attention", "✓ healthy", "Examples:"],
        ),
        (&["--help"], &["alerts", "status", "hangar alerts list"]),
    ] {
        let help = hangar(None, args).ok();
        for needle in needles {
            assert!(help.stdout.contains(needle), "{args:?} {needle}: {help:#?}");
        }
    }
}
