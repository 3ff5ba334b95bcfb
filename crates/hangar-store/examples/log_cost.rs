//! The prediction log writer's cost per row, as CPU time and stored bytes:
//! 150 transactions of 2 700 rows (22 features, the GBDT's two outputs,
//! UUIDv7 request ids) in a fresh SQLite file, as requests of ROWS rows each;
//! CPU (user + system) and wall time per row over the last 120 transactions,
//! then the pages and payload per row of every table and index of the log
//! (SQLite's `dbstat`). CPU time and bytes move much less than criterion's
//! wall times on a shared machine.
//!
//! `cargo run --release -p hangar-store --example log_cost -- ROWS`
//! (docs/benchmarks.md).

use chrono::{Duration, Utc};
use hangar_store::{Db, LogRow};

/// This process's CPU time (user + system), in seconds (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    (ticks(11).unwrap_or(0.0) + ticks(12).unwrap_or(0.0)) / 100.0
}

fn main() {
    let rows_per_request: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .filter(|n| *n > 0)
        .expect("usage: log_cost ROWS (rows per request, e.g. 1 or 100)");
    const BATCH: usize = 2_700;
    const BATCHES: usize = 150;
    const WARM_UP: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(Db::open(&path)).unwrap();
    let mut writer = db.prediction_writer().unwrap();
    let values: Vec<f64> = (0..22).map(|i| f64::from(i as f32 / 7.0)).collect();
    let mut features = Vec::new();
    hangar_store::encode_features_into(&values, &mut features);
    let outputs = "{\"label\":[1],\"probabilities\":[0.25000000,0.75000000]}";
    let start = Utc::now() - Duration::hours(1);
    let (mut cpu, mut wall) = (0.0, std::time::Duration::ZERO);
    for k in 0..BATCHES {
        let ids: Vec<String> = (0..BATCH.div_ceil(rows_per_request))
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect();
        let at = start + Duration::milliseconds(k as i64 * 100);
        let (c0, t0) = (cpu_seconds(), std::time::Instant::now());
        writer
            .append(&mut |sink| {
                for i in 0..BATCH {
                    sink.push(&LogRow {
                        deployment: "credit-risk",
                        at,
                        request_id: &ids[i / rows_per_request],
                        row: (i % rows_per_request) as u32,
                        row_id: None,
                        revision: 3,
                        model: "credit",
                        version: 2,
                        features: &features,
                        outputs,
                        score: Some(0.75),
                        predicted: Some(1.0),
                        segments: "{}",
                        latency_us: 412,
                        purpose: None,
                    });
                }
            })
            .unwrap();
        if k >= WARM_UP {
            cpu += cpu_seconds() - c0;
            wall += t0.elapsed();
        }
    }
    drop(writer);
    let measured = ((BATCHES - WARM_UP) * BATCH) as f64;
    let rows = (BATCHES * BATCH) as f64;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT name, SUM(pgsize), SUM(payload) FROM dbstat \
             WHERE name LIKE 'prediction%' GROUP BY name ORDER BY name",
        )
        .unwrap();
    let tables: Vec<(String, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let pages: i64 = tables.iter().map(|t| t.1).sum();
    println!(
        "{rows_per_request} row(s) per request: CPU {:.2} µs/row, wall {:.2} µs/row, {:.1} bytes/row in pages",
        cpu * 1e6 / measured,
        wall.as_secs_f64() * 1e6 / measured,
        pages as f64 / rows
    );
    for (name, pages, payload) in tables {
        println!(
            "  {name}: {:.1} bytes/row in pages, {:.1} bytes/row of payload",
            pages as f64 / rows,
            payload as f64 / rows
        );
    }
}
