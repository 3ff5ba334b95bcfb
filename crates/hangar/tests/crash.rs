//! Crash consistency: the real `hangar serve` killed with SIGKILL (`kill -9`
//! of its process id) in the middle of a deploy, of a monitoring aggregate
//! roll-up and of a large feedback upload, then started again on the same
//! data directory. After every kill:
//!
//! - the SQLite file, as the crash left it, passes `PRAGMA integrity_check`
//!   and `PRAGMA foreign_key_check` (opened read-only by the test);
//! - `hangar audit verify` passes;
//! - no revision is half-applied: `hangar deployments history` is numbered
//!   without a gap, the current revision is the last one, an inference is
//!   answered by that revision (`X-Hangar-Revision`) and its version, and
//!   every acknowledged deploy (answered 200) is in the history, with the
//!   version it asked for, and in the audit log;
//! - every acknowledged prediction row is present, and a request's rows are
//!   all there or none.
//!
//! **Acknowledged**, for a prediction row, means: its request was answered
//! 200 before a call that flushes the prediction log returned (the
//! predictions export, a monitoring report, a feedback upload: each waits
//! until what was recorded before it is committed). A request answered
//! since the last flush has its rows in the log's buffer, which the writer
//! commits within its batch wait (100 ms) plus one batch's write, longer
//! when another writer holds the database; a kill in that window loses
//! them. The tests check that no lost row was answered more than
//! [`LOSS_BOUND`] before the kill (plus, during a feedback upload, the time
//! the upload had held the database), and print the largest gap seen.
//!
//! The kills are placed by a seeded generator (the same every run): a random
//! 0–50 ms after a loop of back-to-back deploys or of roll-ups got under
//! way, or a random point of the n-th of five slices of twice a feedback
//! upload's measured duration. The figures each test prints
//! (`cargo test -p hangar --test crash -- --nocapture`) are in
//! docs/reliability.md.

mod common;
#[path = "common/crash.rs"]
mod harness;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};

use harness::{flush, infer_body, serial, traffic, Crashes, DEPLOYMENT, SEED, WARM_UP};

#[test]
fn kill_9_during_deploys_leaves_the_last_committed_revision_serving() {
    let _serial = serial();
    let mut c = Crashes::new(SEED);
    c.push_and_deploy();
    // Deploys sent (message → version) and acknowledged (message →
    // revision), over every crash.
    let mut sent: BTreeMap<String, u32> = BTreeMap::new();
    let mut acked: BTreeMap<String, u64> = BTreeMap::new();
    let mut current_version = 1;
    let (mut committed, mut unaudited) = (0, 0);
    for i in 0..8 {
        let delay = c.rng.delay(Duration::from_millis(50));
        let tag = format!("deploy-{i}");
        let first = 3 - current_version;
        let ((mine, failures), killed, _) = c.crash(&tag, delay, |http, url, progress| {
            let tag = tag.clone();
            async move {
                // Back to back, alternating the two versions.
                let mut mine = Vec::new();
                let mut failures = Vec::new();
                progress.arm();
                for n in 0.. {
                    let version = if n % 2 == 0 { first } else { 3 - first };
                    let message = format!("{tag}-{n:04}");
                    progress.started.fetch_add(1, Ordering::SeqCst);
                    let r = http
                        .put(format!("{url}/api/v1/deployments/{DEPLOYMENT}"))
                        .json(&json!({"model": format!("credit:{version}"), "message": message}))
                        .send()
                        .await;
                    let answer = match r {
                        Ok(r) => (r.status().as_u16(), r.json::<Value>().await),
                        Err(_) => return (mine, failures),
                    };
                    mine.push((message.clone(), version, None));
                    match answer {
                        (200, Ok(body)) => {
                            mine.last_mut().unwrap().2 = body["current"]["revision"].as_u64();
                            progress.finished.fetch_add(1, Ordering::SeqCst);
                        }
                        // Cut off mid-answer by the kill.
                        (200, Err(_)) => return (mine, failures),
                        (status, body) => failures.push((status, format!("{body:?}"))),
                    }
                }
                unreachable!()
            }
        });
        assert!(failures.is_empty(), "deploys failed: {failures:?}");
        // The deploy in flight at the kill was sent too: it may or may not
        // have been committed.
        let in_flight = format!("{tag}-{:04}", mine.len());
        sent.insert(
            in_flight,
            if mine.len() % 2 == 0 {
                first
            } else {
                3 - first
            },
        );
        for (message, version, revision) in mine {
            sent.insert(message.clone(), version);
            if let Some(r) = revision {
                acked.insert(message, r);
            }
        }
        c.restart(killed, Duration::ZERO);
        let revisions = c.check_revisions();
        current_version = revisions.last().unwrap()["routes"][0]["version"]
            .as_u64()
            .unwrap() as u32;
        // Each acknowledged deploy is one revision, with its version; a
        // revision of these crashes is one of the deploys sent.
        let mut seen = HashSet::new();
        for r in &revisions[1..] {
            let message = r["message"].as_str().unwrap();
            let version = *sent
                .get(message)
                .unwrap_or_else(|| panic!("revision {r:#} is no deploy that was sent"));
            assert_eq!(r["routes"][0]["version"], version, "{r:#}");
            assert!(seen.insert(message.to_owned()), "{message} committed twice");
            if let Some(&revision) = acked.get(message) {
                assert_eq!(r["revision"], revision, "{r:#}");
            }
        }
        for message in acked.keys() {
            assert!(
                seen.contains(message),
                "acknowledged deploy {message} is not in the history"
            );
        }
        // And each is audited: the entry is appended before the answer.
        let audit = c
            .server
            .hangar(&["audit", "list", "--limit", "10000", "--output", "json"])
            .ok()
            .json()
            .to_string();
        let audited =
            |m: &str| audit.contains(&format!("{m}\\\"")) || audit.contains(&format!("{m}\""));
        for message in acked.keys() {
            assert!(
                audited(message),
                "acknowledged deploy {message} is not in the audit log"
            );
        }
        // A deploy committed but killed before its answer may have no
        // entry (the entry is appended after the change): counted, and
        // documented in docs/security.md.
        unaudited = seen.iter().filter(|m| !audited(m)).count();
        committed = seen.len();
        c.check_traffic();
    }
    assert!(
        c.figures.mid_operation * 2 >= c.figures.kills,
        "most kills should land while a deploy is in flight: {:?}",
        c.figures
    );
    c.report("deploys");
    println!(
        "deploys: {} sent, {} acknowledged, {committed} committed ({unaudited} of them, killed \
         between the commit and the audit entry, without one)",
        sent.len(),
        acked.len(),
    );
}

/// One aggregate row of the store, as the test reads it from the file.
struct AggregateRow {
    resolution: String,
    start: i64,
    rows: i64,
}

/// Every aggregate decodes, its `rows` column is the decoded count, and
/// each hour (day) holds exactly the rows of its minutes (hours): a minute
/// and its roll-ups are written in one transaction. Returns how many rows
/// were checked and the rows in [`DEPLOYMENT`]'s minutes.
fn check_aggregates(db: &Path) -> (usize, i64) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT deployment, model, version, resolution, start, rows, body FROM monitoring_aggregates",
        )
        .unwrap();
    let mut by_key: BTreeMap<(String, String, i64), Vec<AggregateRow>> = BTreeMap::new();
    let all: Vec<_> = stmt
        .query_map([], |r| {
            Ok((
                (
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ),
                AggregateRow {
                    resolution: r.get(3)?,
                    start: r.get(4)?,
                    rows: r.get(5)?,
                },
                r.get::<_, Vec<u8>>(6)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let count = all.len();
    for (key, row, body) in all {
        let decoded = hangar_core::monitor::aggregate::Aggregate::decode(&body)
            .unwrap_or_else(|e| panic!("aggregate {key:?} {} {}: {e}", row.resolution, row.start));
        assert_eq!(
            decoded.rows as i64, row.rows,
            "{key:?} {} {}",
            row.resolution, row.start
        );
        by_key.entry(key).or_default().push(row);
    }
    let mut minute_rows = 0;
    for (key, rows) in &by_key {
        let sum = |resolution: &str, from: i64, len: i64| -> i64 {
            rows.iter()
                .filter(|r| r.resolution == resolution && r.start >= from && r.start < from + len)
                .map(|r| r.rows)
                .sum()
        };
        for r in rows {
            match r.resolution.as_str() {
                "hour" => assert_eq!(
                    r.rows,
                    sum("minute", r.start, 3600),
                    "{key:?} hour {}",
                    r.start
                ),
                "day" => assert_eq!(
                    r.rows,
                    sum("hour", r.start, 86_400),
                    "{key:?} day {}",
                    r.start
                ),
                _ if key.0 == DEPLOYMENT => minute_rows += r.rows,
                _ => {}
            }
        }
    }
    (count, minute_rows)
}

/// Deployments besides [`DEPLOYMENT`] in the roll-up test: each open minute
/// is rolled up in its own transaction, so a flush spends most of its time
/// in roll-ups.
const EXTRA_DEPLOYMENTS: usize = 20;

#[test]
fn kill_9_during_aggregate_roll_ups_keeps_each_minute_and_its_hour_and_day_together() {
    let _serial = serial();
    let mut c = Crashes::new(SEED ^ 1);
    c.push_and_deploy();
    c.rt.block_on(async {
        for d in 0..EXTRA_DEPLOYMENTS {
            let r = c
                .http
                .put(format!("{}/api/v1/deployments/agg-{d:02}", c.server.url))
                .json(&json!({"model": "credit:1"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    });
    let mut reports = 0;
    let mut aggregates = (0, 0);
    for i in 0..8 {
        let delay = c.rng.delay(Duration::from_millis(50));
        let (answered, killed, _) = c.crash(
            &format!("rollup-{i}"),
            delay,
            |http, url, progress| async move {
                // Rows for every extra deployment, all the time: each has an
                // open minute at every flush.
                let feeding = {
                    let (http, url, progress) = (http.clone(), url.clone(), progress.clone());
                    tokio::spawn(async move {
                        for round in 0.. {
                            for d in 0..EXTRA_DEPLOYMENTS {
                                let r = http
                                    .post(format!("{url}/v2/models/agg-{d:02}/infer"))
                                    .json(&infer_body(1, &format!("agg-{round}")))
                                    .send()
                                    .await;
                                let Ok(r) = r else { return };
                                assert_eq!(r.status(), 200, "inference on agg-{d:02}");
                                if r.bytes().await.is_err() {
                                    return;
                                }
                            }
                            if round == 1 {
                                progress.arm();
                            }
                        }
                    })
                };
                // Back-to-back flushes of the log: each writes the rows recorded
                // so far, then every open minute, each merged into its hour and
                // day in one transaction; every tenth is a monitoring report,
                // which reads them.
                let mut answered = 0;
                progress.under_way().await;
                loop {
                    progress.started.fetch_add(1, Ordering::SeqCst);
                    let done = if answered % 10 == 9 {
                        match http
                            .get(format!("{url}/api/v1/deployments/{DEPLOYMENT}/monitoring"))
                            .send()
                            .await
                        {
                            Ok(r) => {
                                assert_eq!(r.status(), 200, "monitoring report");
                                r.bytes().await.is_ok()
                            }
                            Err(_) => false,
                        }
                    } else {
                        flush(&http, &url).await == Some(true)
                    };
                    if !done {
                        let _ = feeding.await;
                        return answered;
                    }
                    answered += 1;
                    progress.finished.fetch_add(1, Ordering::SeqCst);
                }
            },
        );
        reports += answered;
        let db = c.server.data.join("hangar.db");
        // Checked as the crash left the file, before the restart writes.
        aggregates = check_aggregates(&db);
        c.restart(killed, Duration::ZERO);
        c.check_traffic();
        // Aggregates never count a row the log does not have (rows enter
        // them only once stored; the minutes open at a kill are lost).
        let stored: usize = c.stored_rows().values().sum();
        assert!(
            aggregates.1 <= stored as i64,
            "aggregates count {} rows, the log has {stored}",
            aggregates.1
        );
        c.check_revisions();
    }
    assert!(aggregates.0 > 0, "no aggregate was written");
    assert!(
        c.figures.mid_operation * 2 >= c.figures.kills,
        "most kills should land while a roll-up is in flight: {:?}",
        c.figures
    );
    c.report("roll-ups");
    println!(
        "roll-ups: {reports} flushes answered before the kills; {} aggregate rows checked, {} rows in minutes",
        aggregates.0, aggregates.1
    );
}

/// Prediction rows labelled per upload: `BLOCKS` blocks of
/// `BLOCK_REQUESTS` requests of `BLOCK_ROWS` rows; upload `b` labels
/// exactly the rows of block `b`.
const BLOCKS: usize = 6;
const BLOCK_REQUESTS: usize = 10;
const BLOCK_ROWS: usize = 1000;

fn label(block: usize, request: usize, row: u32) -> f64 {
    ((block + request + row as usize) % 2) as f64
}

/// The feedback CSV of block `b`: one line per row, by request id and row.
fn feedback_csv(block: usize) -> String {
    let mut csv = String::from("request_id,row,label\n");
    for q in 0..BLOCK_REQUESTS {
        for row in 0..BLOCK_ROWS as u32 {
            csv += &format!("fb{block}-{q:03},{row},{}\n", label(block, q, row));
        }
    }
    csv
}

#[test]
fn kill_9_during_a_large_feedback_upload_applies_it_whole_or_not_at_all() {
    let _serial = serial();
    let mut c = Crashes::new(SEED ^ 2);
    c.push_and_deploy();
    // The rows to label, block by block (each block's own time range).
    let mut ranges = Vec::new();
    for b in 0..BLOCKS {
        let from = Utc::now();
        c.rt.block_on(async {
            for q in 0..BLOCK_REQUESTS {
                let r = c
                    .http
                    .post(format!("{}/v2/models/{DEPLOYMENT}/infer", c.server.url))
                    .json(&infer_body(BLOCK_ROWS, &format!("fb{b}-{q:03}")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
            }
        });
        ranges.push((from, Utc::now() + chrono::Duration::milliseconds(1)));
    }
    c.traffic_from = Some(Utc::now());
    // Block 0 uninterrupted: is it applied, and how long does it take? As
    // in the crashes: on a server just started, with traffic beside it.
    assert_eq!(c.rt.block_on(flush(&c.http, &c.server.url)), Some(true));
    c.server.restart();
    let (http, url) = (c.http.clone(), c.server.url.clone());
    let upload = |http: reqwest::Client, url: String, block: usize| async move {
        http.post(format!("{url}/api/v1/deployments/{DEPLOYMENT}/feedback"))
            .header("content-type", "text/csv")
            .body(feedback_csv(block))
            .send()
            .await
    };
    // With the background traffic beside it, as in the crashes (its rows
    // are not checked: no kill).
    let (r, took) = c.rt.block_on(async {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let beside = tokio::spawn(traffic(
            http.clone(),
            url.clone(),
            "calibration".into(),
            Arc::default(),
            stop.clone(),
        ));
        tokio::time::sleep(WARM_UP).await;
        let t = Instant::now();
        let r = upload(http, url, 0).await.unwrap();
        let took = t.elapsed();
        stop.store(true, Ordering::SeqCst);
        beside.await.unwrap();
        (r, took)
    });
    assert_eq!(r.status(), 200, "{}", c.server.log_text());
    let labels = |c: &Crashes, b: usize| -> Vec<Option<f64>> {
        let rows = c.export(Some(ranges[b]));
        let mine: Vec<_> = rows
            .into_iter()
            .filter(|(id, _, _)| id.starts_with(&format!("fb{b}-")))
            .collect();
        assert_eq!(mine.len(), BLOCK_REQUESTS * BLOCK_ROWS, "block {b}'s rows");
        mine.into_iter()
            .map(|(id, row, l)| {
                let q: usize = id[id.find('-').unwrap() + 1..].parse().unwrap();
                if let Some(l) = l {
                    assert_eq!(
                        l,
                        label(b, q, row),
                        "{id} row {row}: a label that was never sent"
                    );
                }
                l
            })
            .collect()
    };
    assert!(
        labels(&c, 0).iter().all(Option::is_some),
        "the uninterrupted upload labelled every row"
    );
    let mut outcomes = BTreeMap::<&str, usize>::new();
    // How long an upload takes: the calibration, then the last upload
    // that finished before its kill (a loaded machine varies a lot).
    let mut estimate = took;
    for b in 1..BLOCKS {
        // Spread over twice an upload's estimated duration (body, parsing,
        // the database's work, the answer): uploads after a kill run up to
        // half as long again as the calibration, and the last kills may
        // come after the answer. Kill `b` lands at a random point of the
        // `b`-th of `BLOCKS - 1` equal slices of that.
        let slice = estimate * 2 / (BLOCKS as u32 - 1);
        let delay = slice * (b as u32 - 1) + c.rng.delay(slice);
        let ((status, finished), killed, op_age) = c.crash(
            &format!("feedback-{b}"),
            delay,
            |http, url, progress| async move {
                progress.arm();
                progress.started.fetch_add(1, Ordering::SeqCst);
                let t = Instant::now();
                let status = upload(http, url, b).await.ok().map(|r| r.status().as_u16());
                if status.is_some() {
                    progress.finished.fetch_add(1, Ordering::SeqCst);
                }
                (status, t.elapsed())
            },
        );
        if status.is_some() {
            estimate = finished;
        }
        // Rows answered during the upload waited for its transaction.
        c.restart(killed, op_age);
        c.check_traffic();
        c.check_revisions();
        let got = labels(&c, b);
        let applied = got.iter().filter(|l| l.is_some()).count();
        if status == Some(200) {
            assert_eq!(
                applied,
                got.len(),
                "an acknowledged upload is applied whole"
            );
        } else {
            assert!(status.is_none(), "upload {b} answered {status:?}");
        }
        let outcome = match applied {
            0 => "not applied",
            n if n == got.len() => "applied whole",
            _ => "applied in part",
        };
        *outcomes.entry(outcome).or_default() += 1;
        // The next block is untouched.
        if b + 1 < BLOCKS {
            assert!(
                labels(&c, b + 1).iter().all(Option::is_none),
                "block {} untouched",
                b + 1
            );
        }
    }
    assert!(
        c.figures.mid_operation > 0,
        "no kill landed during an upload: {:?}",
        c.figures
    );
    c.report("feedback");
    println!(
        "feedback: uploads of {} lines ({} bytes), {} ms uninterrupted; after the kills: {outcomes:?}",
        BLOCK_REQUESTS * BLOCK_ROWS,
        feedback_csv(0).len(),
        took.as_millis()
    );
}
