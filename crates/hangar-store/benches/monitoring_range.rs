//! Monitoring at 1 000 rows/s (86.4 M rows a day), from aggregates:
//!
//! - `aggregate/record`: what the prediction log's writer spends per row to
//!   keep a minute's aggregate (bin counts, category counts, CBPE sums, the
//!   sample);
//! - `store/add_minute`: what the writer spends once a minute per deployment
//!   and version to write a closed minute (256-row sample) and merge it into
//!   its hour and day rows (full samples of 2 048 and 8 192 rows);
//! - `report/1_day`, `report/24_hours_unaligned`, `report/30_days_unaligned`:
//!   a window's report from the stored aggregates —
//!   the range plan, the reads, decoding, merging and every unlabelled
//!   figure (`aggregate_report`), i.e. what the monitoring endpoint does
//!   for a long window apart from HTTP and the labelled-row query.
//!
//! The stored aggregates have the size of real ones at 1 000 rows/s: every
//! minute, hour and day sample is full (256, 2 048 and 8 192 rows of 22
//! features), counts on every bin. They are built from the reference data
//! (features of `reference.csv` and `prod_b_covariate_drift.csv`, a
//! synthetic score), 20 000 rows per day rather than 86.4 M: the cost of a
//! report depends on the sizes of the aggregates, which are the same, not on
//! the counts in them.
//!
//! The store and report benches run on each backend through the same `Db`
//! calls and the same data, named after it: `store/sqlite/add_minute`,
//! `report/sqlite/1_day`, … on a real SQLite file, then
//! `store/postgres/add_minute`, `report/postgres/1_day`, … on a fresh
//! PostgreSQL database (`hangar_testkit::TestDatabase` on the server
//! `HANGAR_TEST_POSTGRES` names, default 127.0.0.1:5432), dropped at the
//! end.
//!
//! Run with `cargo bench -p hangar-store --bench monitoring_range`.

use std::path::{Path, PathBuf};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use hangar_core::monitor::aggregate::{
    aggregate_report, next_key, plan_range, Aggregate, Resolution, RowValues, REPORT_SAMPLE,
};
use hangar_core::monitor::{BaselineProfile, WindowRows};
use hangar_core::stats::evidently::ColumnKind;
use hangar_store::{AggregateKey, Db};

const DIGEST: &str = "bench";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Feature rows and labels of a reference CSV, in the model's feature order.
fn read_csv(name: &str) -> (Vec<String>, Vec<Vec<f64>>, Vec<bool>) {
    let text =
        std::fs::read_to_string(repo_root().join(format!("testdata/reference/data/{name}.csv")))
            .expect("reference data (testdata/reference)");
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("testdata/reference/schema.json")).unwrap(),
    )
    .unwrap();
    let names: Vec<String> = schema["model_input_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let cols: Vec<usize> = names
        .iter()
        .map(|n| header.iter().position(|h| h == n).unwrap())
        .collect();
    let label = header.iter().position(|h| *h == "label").unwrap();
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for l in lines {
        let cells: Vec<&str> = l.split(',').collect();
        rows.push(cols.iter().map(|&c| cells[c].parse().unwrap()).collect());
        labels.push(cells[label] == "1");
    }
    (names, rows, labels)
}

/// A made-up but deterministic score: a squashed weighted sum of the features.
fn score(row: &[f64]) -> f64 {
    let z: f64 = row
        .iter()
        .enumerate()
        .map(|(i, v)| (v / (1.0 + v.abs())) * if i % 2 == 0 { 0.7 } else { -0.4 })
        .sum();
    1.0 / (1.0 + (-z).exp())
}

struct Setup {
    profile: BaselineProfile,
    rows: Vec<(Vec<f64>, f64, f64)>,
}

fn setup() -> Setup {
    let (names, base, labels) = read_csv("reference");
    let categorical = ["employment_type", "housing_status"];
    let columns = names
        .iter()
        .enumerate()
        .map(|(j, n)| {
            let kind = if categorical.contains(&n.as_str()) {
                ColumnKind::Categorical
            } else {
                ColumnKind::Numerical
            };
            (n.clone(), kind, base.iter().map(|r| r[j]).collect())
        })
        .collect();
    let p1: Vec<f64> = base.iter().map(|r| score(r)).collect();
    let pred = p1.iter().map(|p| *p >= 0.5).collect();
    let profile = BaselineProfile::build(columns, Some((p1, pred)), Some(labels)).unwrap();
    let (_, prod, _) = read_csv("prod_b_covariate_drift");
    let rows = base
        .iter()
        .chain(&prod)
        .map(|r| {
            let p = score(r);
            (r.clone(), p, if p >= 0.5 { 1.0 } else { 0.0 })
        })
        .collect();
    Setup { profile, rows }
}

fn aggregate(s: &Setup, res: Resolution, n: usize, seed: &mut u64) -> Aggregate {
    let mut a = Aggregate::new(res.sample_cap(), Some((DIGEST, &s.profile)));
    let offset = (*seed as usize) % s.rows.len();
    for i in 0..n {
        let (f, p, l) = &s.rows[(offset + i) % s.rows.len()];
        let v = RowValues {
            features: f,
            score: Some(*p),
            predicted: Some(*l),
        };
        a.record(Some(&s.profile), v, next_key(seed));
    }
    a
}

/// 32 days of aggregates: every day, the hours of its first and last day
/// and the minutes of the hours at either end of the ranges benchmarked.
async fn fill(db: &Db, s: &Setup, first_day: i64) {
    let mut seed = 1;
    let key = |start| AggregateKey {
        deployment: "bench".into(),
        model: "credit".into(),
        version: 1,
        start,
    };
    for d in 0..32 {
        let a = aggregate(s, Resolution::Day, 20_000, &mut seed);
        db.put_aggregate(&key(first_day + d * 86_400), Resolution::Day, &a)
            .await
            .unwrap();
    }
    for day in [first_day, first_day + 30 * 86_400] {
        for h in 0..24 {
            let a = aggregate(s, Resolution::Hour, 6_000, &mut seed);
            db.put_aggregate(&key(day + h * 3600), Resolution::Hour, &a)
                .await
                .unwrap();
        }
        for hour in [day, day + 23 * 3600] {
            for m in 0..60 {
                let a = aggregate(s, Resolution::Minute, 1_000, &mut seed);
                db.put_aggregate(&key(hour + m * 60), Resolution::Minute, &a)
                    .await
                    .unwrap();
            }
        }
    }
}

async fn report(db: &Db, s: &Setup, from: i64, to: i64) -> (usize, usize) {
    let mut bodies = Vec::new();
    for (res, a, b) in plan_range(from, to) {
        bodies.extend(
            db.aggregate_bodies("bench", "credit", 1, res, a, b)
                .await
                .unwrap(),
        );
    }
    let parts = bodies
        .iter()
        .map(|b| Aggregate::decode(b).unwrap())
        .collect();
    let merged = Aggregate::merge_all_for(parts, DIGEST, REPORT_SAMPLE).unwrap();
    let r = aggregate_report(&s.profile, Some(DIGEST), &merged, &WindowRows::default());
    (bodies.len(), r.report.features.len() + r.sample_rows)
}

fn benches(c: &mut Criterion) {
    let s = setup();
    let mut g = c.benchmark_group("aggregate");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("record", |b| {
        let mut seed = 7;
        b.iter(|| black_box(aggregate(&s, Resolution::Minute, 10_000, &mut seed)))
    });
    g.finish();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = rt.block_on(Db::open(&dir.path().join("bench.db"))).unwrap();
    backend(c, &rt, &s, "sqlite", &db);
    rt.block_on(db.close());

    // A database of its own on the test server (HANGAR_TEST_POSTGRES),
    // dropped when the bench ends.
    let pg = rt.block_on(hangar_testkit::TestDatabase::create());
    let db = rt.block_on(Db::connect(pg.url())).unwrap();
    backend(c, &rt, &s, "postgres", &db);
    rt.block_on(db.close());
    drop(pg);
}

/// `store/NAME/add_minute` and `report/NAME/…` on one backend: the same
/// aggregates, written and read through `Db` as the server does.
fn backend(c: &mut Criterion, rt: &tokio::runtime::Runtime, s: &Setup, name: &str, db: &Db) {
    let first_day = 20_000 * 86_400;
    rt.block_on(fill(db, s, first_day));
    let mut g = c.benchmark_group("store");
    g.sample_size(20);
    let mut seed = 99;
    let minute = aggregate(s, Resolution::Minute, 1_000, &mut seed);
    let key = AggregateKey {
        deployment: "bench".into(),
        model: "credit".into(),
        version: 1,
        start: first_day + 5 * 86_400 + 600,
    };
    g.bench_function(format!("{name}/add_minute"), |b| {
        b.iter(|| rt.block_on(db.add_aggregate(&key, &minute)).unwrap())
    });
    g.finish();
    let mut g = c.benchmark_group("report");
    g.sample_size(10);
    let ranges = [
        ("1_day", first_day + 86_400, first_day + 2 * 86_400),
        // 00:30 to 00:30 the next day: 30 minutes, 23 hours, 30 minutes.
        (
            "24_hours_unaligned",
            first_day + 1800,
            first_day + 86_400 + 1800,
        ),
        // 23:30 on day 0 to 00:30 on day 31: minutes, hours, 29 days, hours, minutes.
        (
            "30_days_unaligned",
            first_day + 23 * 3600 + 1800,
            first_day + 30 * 86_400 + 1800,
        ),
    ];
    for (range, from, to) in ranges {
        let (pieces, _) = rt.block_on(report(db, s, from, to));
        eprintln!("{name} {range}: {pieces} aggregate rows read");
        g.bench_function(format!("{name}/{range}"), |b| {
            b.iter(|| black_box(rt.block_on(report(db, s, from, to))))
        });
    }
    g.finish();
}

criterion_group!(monitoring, benches);
criterion_main!(monitoring);
