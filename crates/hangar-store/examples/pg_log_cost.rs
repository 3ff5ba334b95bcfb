//! The prediction log on PostgreSQL: how long a batch of 10 000 rows takes
//! to write, by three ways of sending it, alternating in rounds on one
//! fresh database (on `HANGAR_TEST_POSTGRES`'s server):
//!
//! - `copy`: the store's writer (`Db::prediction_writer`), `COPY … FROM
//!   STDIN (FORMAT binary)` of buffers encoded as the rows are pushed;
//! - `values`: multi-row `INSERT … VALUES (…), (…)` of the same rows, as
//!   many rows per statement as PostgreSQL's 65 535 parameters allow;
//! - `unnest`: one `INSERT … SELECT * FROM UNNEST($1, …, $16)` of the rows
//!   as 16 arrays.
//!
//! Each does the whole batch as the writer does: a block of ids reserved,
//! the rows, the request ids (once per request) and the minute ranges, in
//! one transaction. Rows are the GBDT's (22 features, two outputs, UUIDv7
//! request ids), ROWS per request. Wall time per batch (median and mean
//! over the measured rounds) and this process's CPU time per row (the
//! client's share; PostgreSQL's own work is in the wall time).
//!
//! `cargo run --release -p hangar-store --example pg_log_cost -- [ROWS]`
//! (docs/benchmarks.md).

use std::time::{Duration as Elapsed, Instant};

use chrono::{DateTime, Duration, Utc};
use hangar_store::{Db, LogRow};
use sqlx::{PgPool, Postgres, QueryBuilder};

const BATCH: usize = 10_000;
const ROUNDS: usize = 24;
const WARM_UP: usize = 4;
const OUTPUTS: &str = "{\"label\":[1],\"probabilities\":[0.25000000,0.75000000]}";
const COLUMNS: &str = "id, deployment, at, \"row\", row_id, revision, model, version, \
     features, inputs, outputs, score, predicted, segments, latency_us, purpose";

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

/// One batch's rows, owned (what the INSERT methods bind).
struct Batch {
    at: DateTime<Utc>,
    request_ids: Vec<String>,
    rows_per_request: usize,
    features: Vec<u8>,
}

impl Batch {
    fn row(&self, i: usize) -> LogRow<'_> {
        LogRow {
            deployment: "credit-risk",
            at: self.at,
            request_id: &self.request_ids[i / self.rows_per_request],
            row: (i % self.rows_per_request) as u32,
            row_id: None,
            revision: 3,
            model: "credit",
            version: 2,
            features: &self.features,
            outputs: OUTPUTS,
            score: Some(0.75),
            predicted: Some(1.0),
            segments: "{}",
            latency_us: 412,
            purpose: None,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Copy,
    Values,
    Unnest,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Copy => "copy",
            Method::Values => "values",
            Method::Unnest => "unnest",
        }
    }
}

/// Reserves `n` ids as the writer does; returns the first.
async fn reserve(pool: &PgPool, n: i64) -> i64 {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
        .bind(0x4847_4c31i32)
        .execute(&mut *tx)
        .await
        .unwrap();
    let last: i64 = sqlx::query_scalar(
        "SELECT setval(pg_get_serial_sequence('predictions', 'id'), \
         nextval(pg_get_serial_sequence('predictions', 'id')) + $1 - 1)",
    )
    .bind(n)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    last - n + 1
}

/// The INSERT methods: the same work as the writer, by statements.
async fn insert(pool: &PgPool, b: &Batch, method: Method) {
    let base = reserve(pool, BATCH as i64).await;
    let at = b.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut tx = pool.begin().await.unwrap();
    match method {
        Method::Values => {
            // 16 parameters a row, at most 65 535 a statement.
            for chunk in (0..BATCH).collect::<Vec<_>>().chunks(65_535 / 16) {
                let mut q: QueryBuilder<Postgres> =
                    QueryBuilder::new(format!("INSERT INTO predictions ({COLUMNS}) "));
                q.push_values(chunk, |mut v, &i| {
                    let r = b.row(i);
                    v.push_bind(base + i as i64)
                        .push_bind(r.deployment)
                        .push_bind(&at)
                        .push_bind(i64::from(r.row))
                        .push_bind(r.row_id)
                        .push_bind(i64::from(r.revision))
                        .push_bind(r.model)
                        .push_bind(i64::from(r.version))
                        .push_bind(r.features)
                        .push_bind("")
                        .push_bind(r.outputs)
                        .push_bind(r.score)
                        .push_bind(r.predicted)
                        .push_bind(r.segments)
                        .push_bind(r.latency_us as i64)
                        .push_bind(r.purpose);
                });
                q.build().execute(&mut *tx).await.unwrap();
            }
            let starts: Vec<usize> = (0..BATCH).step_by(b.rows_per_request).collect();
            for chunk in starts.chunks(65_535 / 2) {
                let mut q: QueryBuilder<Postgres> =
                    QueryBuilder::new("INSERT INTO prediction_requests (id, request_id) ");
                q.push_values(chunk, |mut v, &i| {
                    v.push_bind(base + i as i64).push_bind(b.row(i).request_id);
                });
                q.build().execute(&mut *tx).await.unwrap();
            }
        }
        Method::Unnest => {
            let rows: Vec<LogRow<'_>> = (0..BATCH).map(|i| b.row(i)).collect();
            let ints = |f: &dyn Fn(usize, &LogRow<'_>) -> i64| -> Vec<i64> {
                rows.iter().enumerate().map(|(i, r)| f(i, r)).collect()
            };
            sqlx::query(&format!(
                "INSERT INTO predictions ({COLUMNS}) SELECT * FROM UNNEST($1::bigint[], $2::text[], \
                 $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::text[], $8::bigint[], \
                 $9::bytea[], $10::text[], $11::text[], $12::float8[], $13::float8[], $14::text[], \
                 $15::bigint[], $16::text[])"
            ))
            .bind(ints(&|i, _| base + i as i64))
            .bind(rows.iter().map(|r| r.deployment).collect::<Vec<_>>())
            .bind(vec![at.as_str(); BATCH])
            .bind(ints(&|_, r| i64::from(r.row)))
            .bind(rows.iter().map(|r| r.row_id).collect::<Vec<_>>())
            .bind(ints(&|_, r| i64::from(r.revision)))
            .bind(rows.iter().map(|r| r.model).collect::<Vec<_>>())
            .bind(ints(&|_, r| i64::from(r.version)))
            .bind(rows.iter().map(|r| r.features).collect::<Vec<_>>())
            .bind(vec![""; BATCH])
            .bind(rows.iter().map(|r| r.outputs).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.score).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.predicted).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.segments).collect::<Vec<_>>())
            .bind(ints(&|_, r| r.latency_us as i64))
            .bind(rows.iter().map(|r| r.purpose).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .unwrap();
            let starts: Vec<usize> = (0..BATCH).step_by(b.rows_per_request).collect();
            sqlx::query(
                "INSERT INTO prediction_requests (id, request_id) \
                 SELECT * FROM UNNEST($1::bigint[], $2::text[])",
            )
            .bind(starts.iter().map(|&i| base + i as i64).collect::<Vec<_>>())
            .bind(
                starts
                    .iter()
                    .map(|&i| b.row(i).request_id)
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        Method::Copy => unreachable!("the writer"),
    }
    let minute = b.at.timestamp().div_euclid(60) * 60;
    sqlx::query(
        "INSERT INTO prediction_spans (deployment, minute, first_id, last_id, rows) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (deployment, minute) DO UPDATE SET \
         first_id = LEAST(prediction_spans.first_id, excluded.first_id), \
         last_id = GREATEST(prediction_spans.last_id, excluded.last_id), \
         rows = prediction_spans.rows + excluded.rows",
    )
    .bind("credit-risk")
    .bind(minute)
    .bind(base)
    .bind(base + BATCH as i64 - 1)
    .bind(BATCH as i64)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

fn main() {
    let rows_per_request: usize = match std::env::args().nth(1) {
        None => 1,
        Some(a) => a
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .expect("usage: pg_log_cost [ROWS] (rows per request, e.g. 1 or 100)"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pg = rt.block_on(hangar_testkit::TestDatabase::create());
    let db = rt.block_on(Db::connect(pg.url())).unwrap();
    let pool = rt.block_on(PgPool::connect(pg.url())).unwrap();
    // The writer drives its queries with the runtime it was made on.
    let _entered = rt.enter();
    let mut writer = db.prediction_writer().unwrap();

    let values: Vec<f64> = (0..22).map(|i| f64::from(i as f32 / 7.0)).collect();
    let mut features = Vec::new();
    hangar_store::encode_features_into(&values, &mut features);
    let start = Utc::now() - Duration::hours(1);
    let methods = [Method::Copy, Method::Values, Method::Unnest];
    let mut times: Vec<Vec<Elapsed>> = vec![Vec::new(); methods.len()];
    let mut cpu = vec![0.0; methods.len()];
    for round in 0..ROUNDS {
        for (m, &method) in methods.iter().enumerate() {
            let batch = Batch {
                at: start + Duration::milliseconds((round * methods.len() + m) as i64 * 100),
                request_ids: (0..BATCH.div_ceil(rows_per_request))
                    .map(|_| uuid::Uuid::now_v7().to_string())
                    .collect(),
                rows_per_request,
                features: features.clone(),
            };
            let (c0, t0) = (cpu_seconds(), Instant::now());
            if method == Method::Copy {
                let written = writer
                    .append(&mut |sink| {
                        for i in 0..BATCH {
                            sink.push(&batch.row(i));
                        }
                    })
                    .unwrap();
                assert_eq!(written, BATCH as u64);
            } else {
                rt.block_on(insert(&pool, &batch, method));
            }
            if round >= WARM_UP {
                times[m].push(t0.elapsed());
                cpu[m] += cpu_seconds() - c0;
            }
        }
    }
    let measured = ((ROUNDS - WARM_UP) * BATCH) as f64;
    println!(
        "{BATCH} rows a batch, {rows_per_request} row(s) per request, {} rounds:",
        ROUNDS - WARM_UP
    );
    for (m, method) in methods.iter().enumerate() {
        let t = &mut times[m];
        t.sort();
        let mean = t.iter().sum::<Elapsed>().as_secs_f64() / t.len() as f64;
        println!(
            "  {:<6}  median {:6.1} ms/batch, mean {:6.1} ms/batch ({:>7.0} rows/s), client CPU {:.2} µs/row",
            method.name(),
            t[t.len() / 2].as_secs_f64() * 1e3,
            mean * 1e3,
            BATCH as f64 / mean,
            cpu[m] * 1e6 / measured
        );
    }
    drop(writer);
    rt.block_on(db.close());
    rt.block_on(pool.close());
}
