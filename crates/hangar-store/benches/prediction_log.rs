//! The prediction log's write cost per row, in a real SQLite file:
//!
//! - `append/2700_rows`: one writer transaction of 2 700 one-row requests
//!   (what the writer gathers in 100 ms at 27 000 requests/s), each row with
//!   22 features, the GBDT's two outputs, a UUIDv7 request id — the table
//!   and every index the schema keeps.
//! - `append/2700_rows_in_27_requests`: the same rows as 27 requests of 100
//!   rows each (batched clients).
//!
//! The file already holds 200 000 rows before measuring, so the indexes
//! are past the size of SQLite's page cache, as on a live server.
//!
//! Run with `cargo bench -p hangar-store --bench prediction_log`.

use chrono::{Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hangar_store::{Db, LogRow, PredictionLog};

const BATCH: usize = 2_700;

struct Request {
    id: String,
    features: Vec<u8>,
    outputs: String,
}

fn requests(n: usize, seed: u64) -> Vec<Request> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let values: Vec<f64> = (0..22)
                .map(|_| f64::from((next() % 10_000) as f32 / 7.0))
                .collect();
            let mut features = Vec::new();
            hangar_store::encode_features_into(&values, &mut features);
            let p = (next() % 1_000) as f64 / 1_000.0;
            Request {
                id: uuid::Uuid::now_v7().to_string(),
                features,
                outputs: format!(
                    "{{\"label\":[{}],\"probabilities\":[{:.8},{:.8}]}}",
                    u8::from(p > 0.5),
                    1.0 - p,
                    p
                ),
            }
        })
        .collect()
}

/// Appends `batch` as requests of `rows` rows each (the request id and time
/// of each request's first row).
fn append(
    writer: &mut dyn PredictionLog,
    batch: &[Request],
    at: chrono::DateTime<Utc>,
    rows: usize,
) -> u64 {
    writer
        .append(&mut |sink| {
            for (i, r) in batch.iter().enumerate() {
                let first = &batch[i - i % rows];
                let score = (i % 1_000) as f64 / 1_000.0;
                sink.push(&LogRow {
                    deployment: "credit-risk",
                    at: at + Duration::microseconds((i - i % rows) as i64 * 37),
                    request_id: &first.id,
                    row: (i % rows) as u32,
                    row_id: None,
                    revision: 3,
                    model: "credit",
                    version: 2,
                    features: &r.features,
                    outputs: &r.outputs,
                    score: Some(score),
                    predicted: Some(f64::from(u8::from(score > 0.5))),
                    segments: "{}",
                    latency_us: 412,
                    purpose: None,
                });
            }
        })
        .unwrap()
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(Db::open(&dir.path().join("bench.db"))).unwrap();
    let mut writer = db.prediction_writer().unwrap();
    let start = Utc::now() - Duration::hours(1);
    for k in 0..(200_000 / BATCH) {
        let batch = requests(BATCH, k as u64 + 1);
        append(
            &mut *writer,
            &batch,
            start + Duration::milliseconds(k as i64 * 100),
            1,
        );
    }
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(30);
    let mut at = Utc::now();
    let mut seed = 1_000;
    for (name, rows) in [("2700_rows", 1), ("2700_rows_in_27_requests", 100)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    // Fresh (time-ordered) request ids for every batch, as on
                    // a live server.
                    seed += 1;
                    requests(BATCH, seed)
                },
                |batch| {
                    at += Duration::milliseconds(100);
                    append(&mut *writer, &batch, at, rows)
                },
                criterion::BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(prediction_log, benches);
criterion_main!(prediction_log);
