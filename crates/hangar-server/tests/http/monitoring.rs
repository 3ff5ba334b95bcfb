//! Monitoring end to end: every production batch of the reference data is
//! replayed through the server with its baseline and labels, and every
//! figure is checked against the values computed with scipy, scikit-learn,
//! fairlearn, NannyML and Evidently (testdata/reference/expected).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use crate::common::*;

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap()
}

fn expected(name: &str) -> Value {
    serde_json::from_str(&read(&format!("testdata/reference/expected/{name}"))).unwrap()
}

/// `|got − want| ≤ 1e-9 · max(1, |want|)`, the reference README's tolerance.
fn close(got: &Value, want: &Value, what: &str) {
    let (g, w) = (
        got.as_f64().unwrap_or_else(|| panic!("{what}: got {got}")),
        want.as_f64().unwrap(),
    );
    assert!(
        (g - w).abs() <= 1e-9 * w.abs().max(1.0),
        "{what}: got {g}, expected {w}"
    );
}

/// p-values: within 1e-6 absolute or 1e-3 relative; underflow to 0 may be anything below 1e-300.
fn close_p(got: &Value, want: &Value, what: &str) {
    let (g, w) = (got.as_f64().unwrap(), want.as_f64().unwrap());
    let ok = (g - w).abs() <= 1e-6 || (g - w).abs() <= 1e-3 * w.abs() || (w == 0.0 && g < 1e-300);
    assert!(ok, "{what}: got {g}, expected {w}");
}

pub async fn send_raw(
    s: &TestServer,
    method: &str,
    uri: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap();
    let (st, _, bytes) = s.send(req).await;
    (st, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Replays a CSV batch as named-feature requests with the segment and row id.
async fn replay(s: &TestServer, deployment: &str, batch: &str) -> usize {
    let text = read(&format!("testdata/reference/data/{batch}.csv"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let names = features();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    for chunk in rows.chunks(500) {
        let instances: Vec<Value> = chunk
            .iter()
            .map(|cells| {
                let mut obj = serde_json::Map::new();
                for (h, c) in header.iter().zip(cells) {
                    if names.iter().any(|n| n == h) {
                        obj.insert(h.to_string(), json!(c.parse::<f64>().unwrap()));
                    } else if *h == "group" {
                        obj.insert("group".into(), json!(c.parse::<i64>().unwrap()));
                    } else if *h == "row_id" {
                        obj.insert("row_id".into(), json!(format!("{batch}:{c}")));
                    }
                }
                Value::Object(obj)
            })
            .collect();
        let (st, r) = s.infer(deployment, json!({ "instances": instances })).await;
        assert_eq!(st, StatusCode::OK, "{r}");
    }
    // The true outcomes arrive later, as CSV.
    let label_col = header.iter().position(|h| *h == "label").unwrap();
    let id_col = header.iter().position(|h| *h == "row_id").unwrap();
    let mut csv = String::from("row_id,label\n");
    for cells in &rows {
        csv.push_str(&format!("{batch}:{},{}\n", cells[id_col], cells[label_col]));
    }
    csv.push_str(&format!("{batch}:no-such-row,1\n"));
    let (st, f) = send_raw(
        s,
        "POST",
        &format!("/api/v1/deployments/{deployment}/feedback"),
        "text/csv",
        csv.into_bytes(),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{f}");
    assert_eq!(f["updated"], rows.len());
    assert_eq!(
        f["unknown"],
        json!([{ "row_id": format!("{batch}:no-such-row") }]),
        "unknown ids are reported back"
    );
    rows.len()
}

/// The aggregates the log writer kept for a replayed deployment (flushed by
/// the report) hold every row, binned against the baseline, and give the
/// exact report's counts-based figures.
async fn logged_aggregates_agree(s: &TestServer, deployment: &str, exact: &Value) {
    use hangar_core::monitor::aggregate::{aggregate_report, Aggregate, Resolution};
    use hangar_core::monitor::WindowRows;
    let (digest, profile) = s.state.baselines.get_with_digest("credit", 1).unwrap();
    let now = chrono::Utc::now().timestamp();
    for res in Resolution::ALL {
        let counts = s
            .state
            .db
            .aggregate_rows(deployment, res, now - 2 * 86_400, now + 86_400)
            .await
            .unwrap();
        assert_eq!(counts.len(), 1, "{res:?}");
        assert_eq!(counts[0].2, exact["rows"].as_u64().unwrap(), "{res:?} rows");
    }
    let parts = s
        .state
        .db
        .aggregate_bodies(
            deployment,
            "credit",
            1,
            Resolution::Day,
            now - 2 * 86_400,
            now + 86_400,
        )
        .await
        .unwrap()
        .iter()
        .map(|b| Aggregate::decode(b).unwrap())
        .collect();
    let merged = Aggregate::merge_all_for(parts, &digest, 100_000).unwrap();
    let r = aggregate_report(&profile, Some(&digest), &merged, &WindowRows::default());
    assert_eq!(r.binned_rows, exact["rows"].as_u64().unwrap());
    for (name, c) in &r.report.features {
        let what = format!("{deployment} aggregated {name}");
        close(
            &json!(c.psi),
            &exact["features"][name]["psi"],
            &format!("{what} psi"),
        );
        close(
            &json!(c.js_distance),
            &exact["features"][name]["js_distance"],
            &format!("{what} js"),
        );
    }
    let e = r.report.estimated_performance.unwrap();
    close(
        &json!(e.accuracy),
        &exact["estimated_performance"]["accuracy"],
        &format!("{deployment} aggregated estimated accuracy"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_production_batches_match_every_reference_figure() {
    let s = TestServer::start().await;
    s.call("POST", "/api/v1/models", Some(json!({"name": "credit"})))
        .await;
    let (st, v) = s
        .upload(
            "credit",
            &reference_model("gbdt"),
            Some(json!({"features": features()})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, b) = send_raw(
        &s,
        "PUT",
        "/api/v1/models/credit/versions/1/baseline?label_column=label&categorical=employment_type,housing_status",
        "text/csv",
        std::fs::read(repo().join("testdata/reference/data/reference.csv")).unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["rows"], 20000);
    assert_eq!(
        b["calibrated"], true,
        "NannyML decides to calibrate on this reference"
    );

    let drift = expected("drift.json");
    let performance = expected("performance.json");
    let fairness = expected("fairness.json");
    let cbpe = expected("cbpe.json");
    let evidently = expected("evidently_drift.json");
    for batch in [
        "test",
        "prod_a_no_drift",
        "prod_b_covariate_drift",
        "prod_c_drift_label_shift",
    ] {
        let deployment = batch.replace('_', "-");
        let (st, d) = s
            .call(
                "PUT",
                &format!("/api/v1/deployments/{deployment}"),
                Some(json!({"model": "credit:1", "settings": {"segments": ["group"], "row_id": "row_id"}})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{d}");
        let n = replay(&s, &deployment, batch).await;
        let (st, m) = s
            .call(
                "GET",
                &format!("/api/v1/deployments/{deployment}/monitoring"),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{m}");
        assert_eq!(m["rows"], n);
        assert_eq!(m["labeled_rows"], n);
        assert_eq!(m["exact"], true);
        logged_aggregates_agree(&s, &deployment, &m).await;

        // Drift per feature (drift.json), and Evidently's verdict per column.
        let want = &drift["batches"][batch]["features"];
        let ev = &evidently["batches"][batch];
        // drift.json also covers `group` and `label`, which are not model features.
        for feature in features() {
            let w = &want[&feature];
            let g = &m["features"][&feature];
            let what = format!("{batch}/{feature}");
            close(&g["psi"], &w["psi"], &format!("{what} psi"));
            close(&g["js_distance"], &w["js_distance"], &format!("{what} js"));
            if w.get("ks_statistic").is_some() {
                close(
                    &g["ks_statistic"],
                    &w["ks_statistic"],
                    &format!("{what} ks"),
                );
                close_p(&g["ks_pvalue"], &w["ks_pvalue"], &format!("{what} ks p"));
                close(
                    &g["wasserstein"],
                    &w["wasserstein"],
                    &format!("{what} wasserstein"),
                );
            } else {
                close(
                    &g["chi2_statistic"],
                    &w["chi2_statistic"],
                    &format!("{what} chi2"),
                );
                close_p(
                    &g["chi2_pvalue"],
                    &w["chi2_pvalue"],
                    &format!("{what} chi2 p"),
                );
            }
            let e = &ev["columns"][&feature];
            assert_eq!(g["test"], e["stattest"], "{what} test");
            assert_eq!(g["drifted"], e["drift_detected"], "{what} drifted");
            let (gs, es) = (
                g["test_score"].as_f64().unwrap(),
                e["drift_score"].as_f64().unwrap(),
            );
            assert!(
                (gs - es).abs() <= 1e-6 * es.abs(),
                "{what} evidently score {gs} vs {es}"
            );
        }
        close(
            &m["drift_share"],
            &ev["share_of_drifted_columns"],
            &format!("{batch} drift share"),
        );
        assert_eq!(m["dataset_drifted"], ev["dataset_drift"]);

        // Performance over the labelled rows (performance.json, gbdt).
        let p = &performance["batches"][batch]["gbdt"];
        for k in [
            "accuracy",
            "precision",
            "recall",
            "f1",
            "roc_auc",
            "log_loss",
            "brier",
        ] {
            close(&m["performance"][k], &p[k], &format!("{batch} {k}"));
        }
        let cm = &p["confusion_matrix_tn_fp_fn_tp"];
        let c = &m["performance"]["confusion"];
        assert_eq!(json!([c["tn"], c["fp"], c["fn"], c["tp"]]), *cm);

        // Fairness across `group` (fairness.json).
        let f = &fairness["batches"][batch];
        let g = &m["fairness"]["group"];
        for k in [
            "demographic_parity_difference",
            "demographic_parity_ratio",
            "equalized_odds_difference",
            "equalized_odds_ratio",
        ] {
            close(&g[k], &f[k], &format!("{batch} {k}"));
        }
        for group in ["0", "1"] {
            for k in ["selection_rate", "tpr", "fpr"] {
                close(
                    &g["groups"][group][k],
                    &f["by_group"][group][k],
                    &format!("{batch} group {group} {k}"),
                );
            }
            assert_eq!(g["groups"][group]["count"], f["by_group"][group]["count"]);
        }

        // Performance estimated before labels (cbpe.json), within 1e-6.
        let e = &cbpe["batches"][batch]["estimated"];
        for k in ["accuracy", "precision", "recall", "f1", "roc_auc"] {
            let (got, want) = (
                m["estimated_performance"][k].as_f64().unwrap(),
                e[k].as_f64().unwrap(),
            );
            assert!(
                (got - want).abs() <= 1e-6,
                "{batch} estimated {k}: {got} vs {want}"
            );
        }
    }
}

#[tokio::test]
async fn monitoring_inputs_are_validated_and_explained() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "api").await;
    let (st, e) = s
        .call("GET", "/api/v1/deployments/api/monitoring", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{e}");
    assert_eq!(e["rows"], 0);
    s.infer("api", one_row_request()).await;
    let (_, m) = s
        .call("GET", "/api/v1/deployments/api/monitoring", None)
        .await;
    assert_eq!(m["rows"], 1);
    assert_eq!(m["baseline"], Value::Null);
    assert!(m["message"].as_str().unwrap().contains("--baseline"), "{m}");
    let (st, _) = s
        .call(
            "GET",
            "/api/v1/deployments/api/monitoring?from=2026-01-02&to=2026-01-01",
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = s
        .call("GET", "/api/v1/deployments/nope/monitoring", None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, e) = s
        .call(
            "POST",
            "/api/v1/deployments/api/feedback",
            Some(json!({"feedback": [{"label": 1}]})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let (st, f) = s
        .call(
            "POST",
            "/api/v1/deployments/api/feedback",
            Some(json!({"feedback": [{"request_id": "req-1", "row": 0, "label": 1}]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{f}");
    assert_eq!(
        f["updated"], 1,
        "the prediction of request req-1 got its label"
    );
    let (st, e) = send_raw(
        &s,
        "PUT",
        "/api/v1/models/credit/versions/1/baseline",
        "text/csv",
        b"age,income\n1,2\n".to_vec(),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(e["error"].as_str().unwrap().contains("no column"), "{e}");
    let req = Request::builder()
        .uri("/api/v1/deployments/api/predictions")
        .body(Body::empty())
        .unwrap();
    let (st, h, body) = s.send(req).await;
    assert_eq!(st, StatusCode::OK);
    assert!(h["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = String::from_utf8(body).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().nth(1).unwrap().contains("req-1"));
}

/// Feature rows of a reference batch with the GBDT's score (p1) and label
/// for each, computed by the live server (through a scratch deployment).
async fn scored_batch(s: &TestServer, deployment: &str, batch: &str) -> Vec<(Vec<f64>, f64, f64)> {
    let text = read(&format!("testdata/reference/data/{batch}.csv"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let names = features();
    let cols: Vec<usize> = names
        .iter()
        .map(|n| header.iter().position(|h| h == n).unwrap())
        .collect();
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            cols.iter().map(|&c| cells[c].parse().unwrap()).collect()
        })
        .collect();
    let mut out = Vec::new();
    for chunk in rows.chunks(1000) {
        let (st, r) = s
            .infer(
                deployment,
                json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [chunk.len(), names.len()],
                    "data": chunk.iter().flatten().collect::<Vec<_>>()}]}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{r}");
        let output = |name: &str| {
            r["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["name"] == name)
                .unwrap()["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect::<Vec<f64>>()
        };
        let (labels, probabilities) = (output("label"), output("probabilities"));
        for (i, row) in chunk.iter().enumerate() {
            // The server logs FP32 inputs; so do the aggregates.
            let row = row.iter().map(|v| f64::from(*v as f32)).collect();
            out.push((row, probabilities[2 * i + 1], labels[i]));
        }
    }
    out
}

/// 30 days of aggregates for one deployment, written straight into its
/// store (as the log writer would have over a month), then a report over a
/// range that needs minutes, an hour and days: answered from the aggregates,
/// counts-based figures exactly as a direct computation over every row, the
/// sample-based ones close, and rows outside the range left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_day_window_is_answered_from_aggregates() {
    use hangar_core::monitor::aggregate::{next_key, Aggregate, Resolution, RowValues};
    use hangar_core::monitor::{window_report, WindowRows};
    use hangar_store::AggregateKey;
    use std::collections::BTreeMap;

    let s = TestServer::start().await;
    s.call("POST", "/api/v1/models", Some(json!({"name": "credit"})))
        .await;
    let (st, v) = s
        .upload(
            "credit",
            &reference_model("gbdt"),
            Some(json!({"features": features()})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, b) = send_raw(
        &s,
        "PUT",
        "/api/v1/models/credit/versions/1/baseline?label_column=label&categorical=employment_type,housing_status",
        "text/csv",
        std::fs::read(repo().join("testdata/reference/data/reference.csv")).unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    for d in ["scratch", "month"] {
        let (st, r) = s
            .call(
                "PUT",
                &format!("/api/v1/deployments/{d}"),
                Some(json!({"model": "credit:1", "settings": {"log_predictions": d == "scratch"}})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{r}");
    }
    let calm = scored_batch(&s, "scratch", "prod_a_no_drift").await;
    let drifted = scored_batch(&s, "scratch", "prod_b_covariate_drift").await;
    let (digest, profile) = s.state.baselines.get_with_digest("credit", 1).unwrap();

    let today = Resolution::Day.floor(chrono::Utc::now().timestamp());
    let first_day = today - 29 * 86_400;
    let from = first_day - 3600 - 120;
    let to = today + 86_400 + 60;
    let mut seed = 42;
    let mut all: Vec<&(Vec<f64>, f64, f64)> = Vec::new();
    let mut put = |res: Resolution, start: i64, rows: &[(Vec<f64>, f64, f64)], counted: bool| {
        let mut a = Aggregate::new(res.sample_cap(), Some((digest.as_str(), profile.as_ref())));
        for (f, p, l) in rows {
            let values = RowValues {
                features: f,
                score: Some(*p),
                predicted: Some(*l),
            };
            a.record(Some(&profile), values, next_key(&mut seed));
        }
        let key = AggregateKey {
            deployment: "month".into(),
            model: "credit".into(),
            version: 1,
            start,
        };
        (key, res, a, counted)
    };
    let mut writes = vec![
        // Two minutes, then an hour, before the first whole day.
        put(Resolution::Minute, from, &calm[..300], true),
        put(Resolution::Minute, from + 60, &drifted[..300], true),
        put(Resolution::Hour, first_day - 3600, &calm[300..2300], true),
        // One minute after the last whole day.
        put(Resolution::Minute, today + 86_400, &drifted[300..700], true),
        // Outside the range: the minute before it, and the day after.
        put(Resolution::Minute, from - 60, &drifted, false),
        put(Resolution::Day, today + 2 * 86_400, &drifted, false),
    ];
    for day in 0..30 {
        // Mostly calm days, with a drifted one every third day.
        let rows = if day % 3 == 2 { &drifted } else { &calm };
        writes.push(put(Resolution::Day, first_day + day * 86_400, rows, true));
    }
    for (key, res, agg, _) in &writes {
        s.state.db.put_aggregate(key, *res, agg).await.unwrap();
    }
    all.extend(calm[..300].iter());
    all.extend(drifted[..300].iter());
    all.extend(calm[300..2300].iter());
    all.extend(drifted[300..700].iter());
    for day in 0..30 {
        all.extend(if day % 3 == 2 {
            drifted.iter()
        } else {
            calm.iter()
        });
    }
    let total = all.len();
    assert_eq!(writes.iter().filter(|w| w.3).count(), 34);

    let iso = |t: i64| {
        chrono::DateTime::<chrono::Utc>::from_timestamp(t, 0)
            .unwrap()
            .to_rfc3339()
            .replace('+', "%2B")
    };
    let started = std::time::Instant::now();
    let (st, m) = s
        .call(
            "GET",
            &format!(
                "/api/v1/deployments/month/monitoring?from={}&to={}",
                iso(from),
                iso(to)
            ),
            None,
        )
        .await;
    let took = started.elapsed();
    assert_eq!(st, StatusCode::OK, "{m}");
    eprintln!(
        "30-day report over {total} rows took {took:?} (debug build; see bench/ for timings)"
    );
    assert_eq!(m["rows"], total);
    assert_eq!(m["exact"], false);
    assert_eq!(m["aggregates"]["binned_rows"], total);
    // A uniform sample at the smallest threshold of the pieces (the 400-row
    // minute kept 256), at most 100k rows.
    let sample = m["sample_size"].as_u64().unwrap();
    assert!(
        (80_000..=100_000).contains(&sample),
        "sample of {sample} rows"
    );
    assert_eq!(m["labeled_rows"], 0);
    assert_eq!(m["aggregates"]["labelled_rows"], 0);
    assert_eq!(m["aggregates"]["labelled_sampled"], false);

    // The direct computation: every row of the range in one exact window.
    let names = features();
    let rows = WindowRows {
        features: names
            .iter()
            .enumerate()
            .map(|(j, n)| (n.clone(), all.iter().map(|r| r.0[j]).collect()))
            .collect::<BTreeMap<_, _>>(),
        scores: all.iter().map(|r| r.1).collect(),
        predicted: all.iter().map(|r| r.2 == 1.0).collect(),
        labels: vec![None; total],
        segments: BTreeMap::new(),
    };
    let base = profile.clone();
    let want = tokio::task::spawn_blocking(move || window_report(&profile, &rows))
        .await
        .unwrap();
    let num = |v: &Value| v.as_f64().unwrap();
    for name in &names {
        let (g, w) = (&m["features"][name], &want.features[name]);
        let what = format!("30 days/{name}");
        close(&g["psi"], &json!(w.psi), &format!("{what} psi"));
        close(
            &g["js_distance"],
            &json!(w.js_distance),
            &format!("{what} js"),
        );
        if let Some(chi2) = w.chi2_statistic {
            close(&g["chi2_statistic"], &json!(chi2), &format!("{what} chi2"));
            close(
                &g["test_score"],
                &json!(w.verdict.score),
                &format!("{what} evidently"),
            );
        } else {
            // From a 100k-row uniform sample of 172k rows.
            let ks = (num(&g["ks_statistic"]) - w.ks_statistic.unwrap()).abs();
            assert!(ks < 0.01, "{what} ks off by {ks}");
            // Within 1 % of the baseline's spread (Evidently's normed score).
            let std = base
                .features
                .iter()
                .find(|f| &f.name == name)
                .unwrap()
                .numeric
                .std;
            let ws = (num(&g["wasserstein"]) - w.wasserstein.unwrap()).abs();
            assert!(
                ws <= 0.01 * std,
                "{what} wasserstein off by {ws} (std {std})"
            );
        }
        assert_eq!(g["test"], w.verdict.test.name(), "{what} test");
        assert_eq!(g["drifted"], w.verdict.drifted, "{what} drifted");
    }
    close(
        &m["outputs"]["score"]["psi"],
        &json!(want.outputs["score"].psi),
        "score psi",
    );
    close(
        &m["drift_share"],
        &json!(want.drift_share.unwrap()),
        "drift share",
    );
    assert_eq!(m["dataset_drifted"], json!(want.dataset_drifted.unwrap()));
    let e = want.estimated_performance.unwrap();
    for (k, w) in [
        ("accuracy", e.accuracy),
        ("precision", e.precision),
        ("recall", e.recall),
        ("f1", e.f1),
    ] {
        close(
            &m["estimated_performance"][k],
            &json!(w),
            &format!("estimated {k}"),
        );
    }
    let auc = num(&m["estimated_performance"]["roc_auc"]) - e.roc_auc.unwrap();
    assert!(auc.abs() < 0.005, "estimated roc_auc off by {auc}");
}

/// A model pushed without feature names still logs its predictions; its
/// report counts them, and what needs no names (traffic, outputs,
/// performance once labels arrive) is there, features named by position.
#[tokio::test]
async fn a_model_pushed_without_feature_names_reports_its_logged_rows() {
    let s = TestServer::start().await;
    let (st, v) = s
        .call("POST", "/api/v1/models", Some(json!({ "name": "anon" })))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = s.upload("anon", &reference_model("gbdt"), None).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["feature_names"], Value::Null, "{v}");
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/deployments/anon-api",
            Some(json!({ "model": "anon:1" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    for i in 0..3 {
        let mut body = one_row_request();
        body["id"] = json!(format!("req-{i}"));
        let (st, v) = s.infer("anon-api", body).await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    let (st, m) = s
        .call("GET", "/api/v1/deployments/anon-api/monitoring", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{m}");
    assert_eq!(m["rows"], 3, "{m}");
    assert_eq!(m["versions"][0]["rows"], 3, "{m}");
    assert_eq!(m["version"], 1, "{m}");
    assert_ne!(
        m["message"].as_str(),
        Some("no predictions in this range yet"),
        "{m}"
    );
    let (st, f) = s
        .call(
            "POST",
            "/api/v1/deployments/anon-api/feedback",
            Some(json!({"feedback": [
                {"request_id": "req-0", "row": 0, "label": 1},
                {"request_id": "req-1", "row": 0, "label": 0},
            ]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{f}");
    let (_, m) = s
        .call("GET", "/api/v1/deployments/anon-api/monitoring", None)
        .await;
    assert_eq!(m["rows"], 3, "{m}");
    assert_eq!(m["labeled_rows"], 2, "{m}");
    assert_eq!(m["performance"]["n"], 2, "{m}");
}
