//! The wire contract's promises that a server and a client both rely on:
//! a body read and written again is the same JSON (null stays null, an
//! absent field stays absent, whole numbers stay whole), and a request with
//! a field the server does not know is refused instead of ignored.

use hangar_api::{Alert, AuditEntry, MonitoringReport, NewTeam};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// `body` parsed as `T` and written again.
fn round_trip<T: DeserializeOwned + Serialize>(body: &Value) -> Value {
    let typed: T = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{body} does not parse: {e}"));
    serde_json::to_value(typed).unwrap()
}

#[test]
fn an_alert_keeps_null_and_absent_apart() {
    let absent = json!({"rule": "r", "deployment": "d", "state": "pending",
                        "severity": "warning", "condition": "drift.share > 0.5"});
    assert_eq!(round_trip::<Alert>(&absent), absent);
    let null = json!({"rule": "r", "deployment": "d", "state": "resolved",
                      "severity": null, "condition": null, "since": null});
    assert_eq!(round_trip::<Alert>(&null), null);
    let full = json!({"rule": "r", "deployment": "d", "state": "firing",
                      "severity": "critical", "condition": "traffic.error_rate > 0.05",
                      "since": "2026-01-02T03:04:05Z", "value": 0.25, "acknowledged": false});
    assert_eq!(round_trip::<Alert>(&full), full);
}

#[test]
fn an_audit_detail_keeps_its_json_exactly() {
    let detail = json!({"path": "/api/v1/models", "count": 3, "delta": -2,
                        "ratio": 1.5, "big": 18446744073709551615u64,
                        "flags": [true, null, "x"], "nested": {"a": {}}});
    let entry = json!({"seq": 7, "at": "2026-01-02T03:04:05Z", "actor": "ada",
                       "address": "127.0.0.1", "action": "POST /api/v1/models",
                       "object": "models/credit", "outcome": "ok",
                       "detail": detail, "hash": "ab"});
    let back = round_trip::<AuditEntry>(&entry);
    assert_eq!(back, entry);
    assert!(back["detail"]["count"].is_u64() && back["detail"]["delta"].is_i64());
    let text = json!({"seq": 8, "at": "2026-01-02T03:04:05Z", "actor": "ada",
                      "address": "127.0.0.1", "action": "login", "object": "-",
                      "outcome": "ok", "detail": "not json", "hash": "cd"});
    assert_eq!(round_trip::<AuditEntry>(&text), text);
}

#[test]
fn an_empty_window_reports_no_figures() {
    let empty = json!({"deployment": "api", "from": "2026-01-01T00:00:00Z",
                       "to": "2026-01-02T00:00:00Z", "versions": [], "rows": 0,
                       "labeled_rows": 0, "message": "no predictions in this range yet"});
    let report: MonitoringReport = serde_json::from_value(empty.clone()).unwrap();
    assert!(report.figures.is_none());
    assert_eq!(serde_json::to_value(report).unwrap(), empty);
}

#[test]
fn a_request_with_an_unknown_field_is_refused() {
    let ok: NewTeam = serde_json::from_value(json!({"name": "credit"})).unwrap();
    assert_eq!(ok.name, "credit");
    let e = serde_json::from_value::<NewTeam>(json!({"name": "credit", "nmae": "x"}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `nmae`"), "{e}");
}
