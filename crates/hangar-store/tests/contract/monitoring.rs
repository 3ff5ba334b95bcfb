//! Monitoring on both backends: the prediction log written by the bulk
//! writer and read back by time window (through the per-minute id ranges),
//! in the order it was logged, with each request's id once per request;
//! feedback finding rows by row id or (request id, row) and labelling them;
//! labelled samples; the aggregates (stored, merged, counted, read, pruned);
//! pruning of the log; baselines.
//!
//! The writers are blocking: the tests call them on a blocking thread
//! (`spawn_blocking`), as the server does.

use chrono::{DateTime, Duration, TimeZone, Utc};
use hangar_store::{Db, FeedbackKey, FoundRow, LogRow, StoreError};

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + s, 0).unwrap() + Duration::microseconds(250)
}

/// One row of a test request: (deployment, second, request id, row, row id).
#[derive(Clone)]
struct Row {
    deployment: String,
    second: i64,
    request_id: String,
    row: u32,
    row_id: Option<String>,
    model: String,
    version: u32,
}

impl Row {
    /// Row 0 of a request of its own, named after its position and second
    /// (`req-{i}-{second}`).
    fn single(i: usize, deployment: &str, second: i64) -> Row {
        Row {
            deployment: deployment.to_string(),
            second,
            request_id: format!("req-{i}-{second}"),
            row: 0,
            row_id: None,
            model: "m".into(),
            version: 1,
        }
    }
}

/// Appends `rows` in one batch on a blocking thread; the writer's answer.
async fn append(db: &Db, rows: Vec<Row>) -> Result<u64, StoreError> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = db.prediction_writer()?;
        let mut features = Vec::new();
        hangar_store::encode_features_into(&[1.0, 2.5], &mut features);
        let segments: Vec<String> = rows
            .iter()
            .map(|r| format!("{{\"s\":{}}}", r.second))
            .collect();
        w.append(&mut |sink| {
            for (r, segments) in rows.iter().zip(&segments) {
                sink.push(&LogRow {
                    deployment: &r.deployment,
                    at: t(r.second),
                    request_id: &r.request_id,
                    row: r.row,
                    row_id: r.row_id.as_deref(),
                    revision: 1,
                    model: &r.model,
                    version: r.version,
                    features: &features,
                    outputs: "{\"label\":[1]}",
                    score: Some(0.7),
                    predicted: Some(1.0),
                    segments,
                    latency_us: r.second as u64,
                    purpose: None,
                });
            }
        })
    })
    .await
    .unwrap()
}

/// Logs one single-row request per (deployment, second), in the order given.
async fn log(db: &Db, rows: &[(&str, i64)]) {
    let rows: Vec<Row> = rows
        .iter()
        .enumerate()
        .map(|(i, (d, s))| Row::single(i, d, *s))
        .collect();
    let n = rows.len() as u64;
    assert_eq!(append(db, rows).await.unwrap(), n);
}

/// Logs one request of `rows` rows.
async fn log_request(db: &Db, d: &str, request_id: &str, rows: u32, second: i64) {
    let rows: Vec<Row> = (0..rows)
        .map(|row| Row {
            deployment: d.to_string(),
            second,
            request_id: request_id.to_string(),
            row,
            row_id: None,
            model: "m".into(),
            version: 1,
        })
        .collect();
    let n = rows.len() as u64;
    assert_eq!(append(db, rows).await.unwrap(), n);
}

/// The rows `keys` name in deployment `d`, and the versions they point into.
async fn find(db: &Db, d: &str, keys: Vec<FeedbackKey>) -> (Vec<FoundRow>, Vec<(String, u32)>) {
    let db = db.clone();
    let d = d.to_string();
    tokio::task::spawn_blocking(move || {
        let mut w = db.feedback_writer().unwrap();
        let (mut versions, mut found) = (Vec::new(), Vec::new());
        w.find(&d, &keys, &mut versions, &mut found).unwrap();
        (found, versions)
    })
    .await
    .unwrap()
}

async fn apply(db: &Db, labels: Vec<(i64, f64)>) -> u64 {
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        db.feedback_writer()
            .unwrap()
            .apply(&labels, Utc::now())
            .unwrap()
    })
    .await
    .unwrap()
}

fn key(request_id: &str, row: u32) -> FeedbackKey {
    FeedbackKey::Request {
        request_id: request_id.to_string(),
        row,
    }
}

/// The latencies (= seconds) of deployment `d`'s rows in `[from, to)`, sorted.
async fn window(db: &Db, d: &str, from: i64, to: i64) -> Vec<u64> {
    let mut got: Vec<u64> = db
        .predictions(d, t(from), t(to), 1_000_000)
        .await
        .unwrap()
        .iter()
        .map(|r| r.latency_us)
        .collect();
    got.sort();
    got
}

async fn count_all(db: &Db, d: &str) -> u64 {
    db.count_predictions(d, t(-100_000), t(100_000), u64::MAX)
        .await
        .unwrap()
}

crate::contract!(
    windows_find_exactly_their_rows_through_the_minute_ranges,
    |db: Db| async move {
        // Two deployments interleaved over four minutes, in two batches,
        // with some rows logged after rows of a later minute.
        let mut first = Vec::new();
        for s in (0..180).step_by(3) {
            first.push(("a", s));
            first.push(("b", s + 1));
        }
        first.push(("a", 59)); // late row of minute 0, after minute 2's rows
        log(&db, &first).await;
        let second: Vec<(&str, i64)> = vec![("a", 30), ("a", 200), ("b", 61), ("a", 239)];
        log(&db, &second).await;

        let all_a: Vec<i64> = first
            .iter()
            .chain(&second)
            .filter(|(d, _)| *d == "a")
            .map(|(_, s)| *s)
            .collect();
        let expect = |from: i64, to: i64| {
            let mut v: Vec<u64> = all_a
                .iter()
                .filter(|s| **s >= from && **s < to)
                .map(|s| *s as u64)
                .collect();
            v.sort();
            v
        };
        for (from, to) in [
            (0, 240),
            (0, 60),
            (59, 61),
            (30, 31),
            (45, 200),
            (200, 240),
            (61, 62),
            (300, 400),
            (-60, 0),
        ] {
            assert_eq!(
                window(&db, "a", from, to).await,
                expect(from, to),
                "window [{from}, {to})"
            );
        }
        assert_eq!(
            db.count_predictions("a", t(0), t(240), 10).await.unwrap(),
            10,
            "counting stops at the limit"
        );
        assert_eq!(
            db.count_predictions("a", t(0), t(60), 1_000).await.unwrap(),
            expect(0, 60).len() as u64
        );
        assert_eq!(window(&db, "b", 60, 62).await, vec![61, 61]);
        assert_eq!(window(&db, "c", 0, 240).await, Vec::<u64>::new());
        assert_eq!(
            db.count_predictions("c", t(0), t(240), 10).await.unwrap(),
            0
        );
        // A limit keeps the first rows logged.
        let firsts: Vec<u64> = db
            .predictions("a", t(0), t(240), 3)
            .await
            .unwrap()
            .iter()
            .map(|r| r.latency_us)
            .collect();
        assert_eq!(firsts, vec![0, 3, 6]);

        // A sample is drawn from the window's rows, without repeats.
        let mut sample: Vec<u64> = db
            .sample_predictions("a", t(0), t(60), 5)
            .await
            .unwrap()
            .iter()
            .map(|r| r.latency_us)
            .collect();
        assert_eq!(sample.len(), 5);
        sample.sort();
        let rows = expect(0, 60);
        for v in &sample {
            let picked = sample.iter().filter(|x| *x == v).count();
            let exist = rows.iter().filter(|x| *x == v).count();
            assert!(
                picked <= exist,
                "second {v} drawn {picked} times, {exist} rows"
            );
        }
        // Past the window's size, a sample is every row.
        let mut every: Vec<u64> = db
            .sample_predictions("a", t(0), t(60), 1_000)
            .await
            .unwrap()
            .iter()
            .map(|r| r.latency_us)
            .collect();
        every.sort();
        assert_eq!(every, rows);

        // Pruning before second 61 removes minute 0 and second 60 of minute 1.
        let before = count_all(&db, "a").await + count_all(&db, "b").await;
        let pruned = db
            .prune_predictions(t(61) - Duration::microseconds(250))
            .await
            .unwrap();
        let older = first.iter().chain(&second).filter(|(_, s)| *s < 61).count() as u64;
        assert_eq!(pruned, older);
        assert!(window(&db, "a", 0, 61).await.is_empty());
        assert_eq!(window(&db, "a", 61, 240).await, expect(61, 240));
        let after = count_all(&db, "a").await + count_all(&db, "b").await;
        assert_eq!(after, before - older);
        assert_eq!(db.prune_predictions(t(0)).await.unwrap(), 0);

        // Rows logged after pruning are found as before.
        log(&db, &[("a", 101)]).await;
        assert_eq!(window(&db, "a", 100, 102).await, vec![101]);
    }
);

crate::contract!(a_row_reads_back_as_it_was_logged, |db: Db| async move {
    let mut features = Vec::new();
    hangar_store::encode_features_into(&[0.1, -3.0, 1e300], &mut features);
    let d2 = db.clone();
    let written = tokio::task::spawn_blocking(move || {
        let mut w = d2.prediction_writer().unwrap();
        w.append(&mut |sink| {
            for row in 0..2 {
                sink.push(&LogRow {
                    deployment: "credit",
                    at: t(5),
                    request_id: "r-1",
                    row,
                    row_id: Some(["cust-7", "cust-8"][row as usize]),
                    revision: 3,
                    model: "credit-model",
                    version: 2,
                    features: &features,
                    outputs: "{\"label\":[1],\"probabilities\":[0.2,0.8]}",
                    score: if row == 0 { Some(0.8) } else { None },
                    predicted: if row == 0 { Some(1.0) } else { None },
                    segments: "{\"region\":\"eu\"}",
                    latency_us: 1234,
                    purpose: if row == 1 { Some("shadow") } else { None },
                });
            }
        })
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(written, 2);
    let rows = db.predictions("credit", t(0), t(10), 10).await.unwrap();
    assert_eq!(rows.len(), 2);
    let r = &rows[0];
    assert_eq!(r.deployment, "credit");
    assert_eq!(r.at, t(5));
    assert_eq!((r.request_id.as_str(), r.row), ("r-1", 0));
    assert_eq!(r.row_id.as_deref(), Some("cust-7"));
    assert_eq!(
        (r.revision, r.model.as_str(), r.version),
        (3, "credit-model", 2)
    );
    assert_eq!(r.inputs, vec![0.1, -3.0, 1e300]);
    assert_eq!(r.outputs, "{\"label\":[1],\"probabilities\":[0.2,0.8]}");
    assert_eq!((r.score, r.predicted), (Some(0.8), Some(1.0)));
    assert_eq!(r.segments, "{\"region\":\"eu\"}");
    assert_eq!(r.latency_us, 1234);
    assert_eq!((r.purpose.clone(), r.label), (None, None));
    let r = &rows[1];
    assert_eq!((r.request_id.as_str(), r.row), ("r-1", 1));
    assert_eq!((r.score, r.predicted), (None, None));
    assert_eq!(r.purpose.as_deref(), Some("shadow"));

    // An empty batch writes nothing and is no error.
    let d2 = db.clone();
    let written = tokio::task::spawn_blocking(move || {
        d2.prediction_writer().unwrap().append(&mut |_| {}).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(written, 0);
});

crate::contract!(
    a_request_id_is_kept_once_however_many_rows_it_has,
    |db: Db| async move {
        let long = "x".repeat(128);
        log_request(&db, "a", "short", 3, 0).await;
        log_request(&db, "a", &long, 2_000, 1).await;
        log_request(&db, "b", &long, 1, 2).await;
        // Every row reads back with its request's id, in the order logged.
        let rows = db.predictions("a", t(0), t(10), 10_000).await.unwrap();
        assert_eq!(rows.len(), 2_003);
        assert!(rows[..3].iter().all(|r| r.request_id == "short"));
        assert!(rows[3..].iter().all(|r| r.request_id == long));
        assert_eq!(
            rows.iter().map(|r| r.row).collect::<Vec<_>>(),
            (0..3).chain(0..2_000).collect::<Vec<_>>()
        );

        // Feedback finds row r of a request, in its deployment only.
        let (found, versions) = find(
            &db,
            "a",
            vec![
                key(&long, 1_999),
                key(&long, 2_000),
                key("short", 2),
                key("nope", 0),
            ],
        )
        .await;
        assert_eq!(found.iter().map(|f| f.key).collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(versions, vec![("m".to_string(), 1)]);
        let labels: Vec<(i64, f64)> = found.iter().map(|f| (f.id, 1.0)).collect();
        assert_eq!(apply(&db, labels).await, 2);
        let labelled: Vec<(String, u32)> = db
            .predictions("a", t(0), t(10), 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.label.is_some())
            .map(|r| (r.request_id, r.row))
            .collect();
        assert_eq!(labelled, vec![("short".into(), 2), (long.clone(), 1_999)]);
        assert_eq!(find(&db, "b", vec![key(&long, 0)]).await.0.len(), 1);
        assert_eq!(find(&db, "b", vec![key("short", 0)]).await.0.len(), 0);

        // Pruning takes a request with its rows: feedback no longer finds it.
        db.prune_predictions(t(2)).await.unwrap();
        assert_eq!(find(&db, "a", vec![key("short", 0)]).await.0.len(), 0);
        assert_eq!(find(&db, "b", vec![key(&long, 0)]).await.0.len(), 1);
    }
);

crate::contract!(
    rows_must_follow_their_request_in_order,
    |db: Db| async move {
        for rows in [vec![1], vec![0, 2], vec![0, 1, 1]] {
            let batch: Vec<Row> = rows
                .iter()
                .map(|&row| Row {
                    row,
                    ..Row::single(0, "a", 0)
                })
                .collect();
            let e = append(&db, batch).await.unwrap_err();
            assert!(e.to_string().contains("does not follow"), "{rows:?}: {e}");
        }
        assert_eq!(
            count_all(&db, "a").await,
            0,
            "a refused batch writes nothing"
        );
        // A request may continue in the same batch after another's rows
        // only as a new request (row 0 again).
        let batch = vec![
            Row::single(0, "a", 0),
            Row {
                row: 1,
                ..Row::single(0, "a", 0)
            },
            Row::single(1, "a", 0),
        ];
        assert_eq!(append(&db, batch).await.unwrap(), 3);
    }
);

crate::contract!(
    feedback_finds_rows_by_row_id_in_key_order,
    |db: Db| async move {
        let row = |i: usize, second, row_id: &str, version| Row {
            row_id: Some(row_id.to_string()),
            version,
            ..Row::single(i, "a", second)
        };
        append(
            &db,
            vec![
                row(0, 0, "cust-1", 1),
                row(1, 1, "cust-2", 2),
                row(2, 2, "cust-1", 2),
                Row {
                    deployment: "b".into(),
                    ..row(3, 3, "cust-2", 1)
                },
                Row::single(4, "a", 4),
            ],
        )
        .await
        .unwrap();
        let ids: Vec<(String, u32)> = db
            .predictions("a", t(0), t(10), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.request_id, r.version))
            .collect();
        assert_eq!(ids.len(), 4);
        let (found, versions) = find(
            &db,
            "a",
            vec![
                FeedbackKey::RowId("cust-2".into()),
                key("req-4-4", 0),
                FeedbackKey::RowId("nobody".into()),
                FeedbackKey::RowId("cust-1".into()),
                key("req-0-0", 0),
            ],
        )
        .await;
        // Keys in order, a key's rows in the order they were logged;
        // versions listed as first met.
        let keys: Vec<(usize, usize)> = found.iter().map(|f| (f.key, f.version)).collect();
        assert_eq!(keys, vec![(0, 0), (1, 1), (3, 1), (3, 0), (4, 1)]);
        assert_eq!(versions, vec![("m".to_string(), 2), ("m".to_string(), 1)]);
        assert!(found[2].id < found[3].id);
        assert_eq!(found[2].id, found[4].id, "cust-1's first row is req-0-0");

        // Known versions keep their place; new ones are appended.
        let db2 = db.clone();
        let (found, versions) = tokio::task::spawn_blocking(move || {
            let mut w = db2.feedback_writer().unwrap();
            let mut versions = vec![("m".to_string(), 1), ("other".to_string(), 9)];
            let mut found = vec![FoundRow {
                key: 99,
                id: 0,
                version: 0,
            }];
            w.find(
                "a",
                &[FeedbackKey::RowId("cust-2".into())],
                &mut versions,
                &mut found,
            )
            .unwrap();
            (found, versions)
        })
        .await
        .unwrap();
        assert_eq!(found.len(), 1, "found is cleared first");
        assert_eq!(found[0].version, 2);
        assert_eq!(versions.len(), 3);

        // A row labelled twice in one batch keeps the last label, and
        // counts twice; unknown ids count nothing.
        let id = found[0].id;
        assert_eq!(apply(&db, vec![(id, 0.0), (id, 1.0), (-5, 1.0)]).await, 2);
        assert_eq!(apply(&db, vec![]).await, 0);
        let labelled: Vec<Option<f64>> = db
            .predictions("a", t(0), t(10), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.label)
            .collect();
        assert_eq!(labelled, vec![None, Some(1.0), None, None]);
    }
);

crate::contract!(
    an_id_with_a_nul_byte_is_logged_and_found,
    |db: Db| async move {
        let odd = "a\0b";
        append(
            &db,
            vec![
                Row {
                    request_id: odd.into(),
                    row_id: Some(odd.into()),
                    ..Row::single(0, "a", 0)
                },
                Row::single(1, "a", 1),
            ],
        )
        .await
        .unwrap();
        assert_eq!(count_all(&db, "a").await, 2, "the batch is written");
        let (found, _) = find(&db, "a", vec![key(odd, 0), FeedbackKey::RowId(odd.into())]).await;
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].id, found[1].id);
    }
);

crate::contract!(
    past_the_limit_labelled_rows_are_a_uniform_sample_of_the_window,
    |db: Db| async move {
        // 1 000 rows over 1 000 seconds; the first 900 get a label, and a
        // different model's row is labelled too (it must not count).
        let mut rows: Vec<Row> = (0..1_000)
            .map(|s| Row::single(s as usize, "a", s))
            .collect();
        rows.push(Row {
            model: "other".into(),
            ..Row::single(1_000, "a", 5)
        });
        append(&db, rows).await.unwrap();
        let mut keys: Vec<FeedbackKey> =
            (0..900).map(|i| key(&format!("req-{i}-{i}"), 0)).collect();
        keys.push(key("req-1000-5", 0));
        let (found, versions) = find(&db, "a", keys).await;
        assert_eq!(found.len(), 901);
        assert_eq!(versions.len(), 2);
        let labels: Vec<(i64, f64)> = found
            .iter()
            .map(|f| (f.id, f64::from(f.key as u32 % 2)))
            .collect();
        assert_eq!(apply(&db, labels).await, 901);

        // Within the limit: every labelled row of the window.
        let (total, all) = db
            .labelled_sample("a", "m", 1, t(0), t(1_000), 1_000)
            .await
            .unwrap();
        assert_eq!((total, all.len()), (900, 900));
        assert!(all
            .iter()
            .all(|r| r.score == Some(0.7) && r.predicted == Some(1.0)));
        let (total, narrow) = db
            .labelled_sample("a", "m", 1, t(10), t(20), 1_000)
            .await
            .unwrap();
        assert_eq!((total, narrow.len()), (10, 10));
        for (model, version) in [("other", 1), ("m", 2), ("nope", 1)] {
            let (total, rows) = db
                .labelled_sample("b", model, version, t(0), t(1_000), 1_000)
                .await
                .unwrap();
            assert_eq!((total, rows.len()), (0, 0));
        }
        let (total, other) = db
            .labelled_sample("a", "other", 1, t(0), t(1_000), 1_000)
            .await
            .unwrap();
        assert_eq!((total, other.len()), (1, 1));

        // Past it: the count of the window and `limit` rows drawn from all
        // of it, not the newest. Labels alternate, so a uniform sample has
        // about as many of each.
        let (total, sample) = db
            .labelled_sample("a", "m", 1, t(0), t(1_000), 100)
            .await
            .unwrap();
        assert_eq!((total, sample.len()), (900, 100));
        let ones = sample.iter().filter(|r| r.label == 1.0).count();
        assert!((25..=75).contains(&ones), "{ones} of 100 labelled 1");
        // Each sampled row's second is in its segments: drawn from the
        // whole window, none twice, none unlabelled (seconds 900 and on).
        let mut seconds: Vec<i64> = sample
            .iter()
            .map(|r| {
                serde_json::from_str::<serde_json::Value>(&r.segments).unwrap()["s"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        seconds.sort();
        seconds.dedup();
        assert_eq!(seconds.len(), 100);
        assert!(seconds.iter().all(|s| *s < 900));
        assert!(
            seconds.iter().filter(|s| **s < 450).count() >= 20,
            "{seconds:?}"
        );
    }
);

crate::contract!(
    writers_in_parallel_keep_each_request_consecutive,
    |db: Db| async move {
        // Four writers at once, each with its own connection, logging
        // batches of requests of 1 to 7 rows into the same minutes.
        let mut writers = Vec::new();
        for w in 0..4u32 {
            let db = db.clone();
            writers.push(tokio::task::spawn_blocking(move || {
                let mut log = db.prediction_writer().unwrap();
                let mut features = Vec::new();
                hangar_store::encode_features_into(&[f64::from(w)], &mut features);
                for batch in 0..10u32 {
                    let requests: Vec<(String, u32)> = (0..20u32)
                        .map(|i| (format!("w{w}-b{batch}-r{i}"), 1 + (i + w) % 7))
                        .collect();
                    log.append(&mut |sink| {
                        for (id, rows) in &requests {
                            for row in 0..*rows {
                                sink.push(&LogRow {
                                    deployment: "d",
                                    at: t(i64::from(batch * 7 + w)),
                                    request_id: id,
                                    row,
                                    row_id: None,
                                    revision: 1,
                                    model: "m",
                                    version: 1,
                                    features: &features,
                                    outputs: "{}",
                                    score: None,
                                    predicted: None,
                                    segments: "{}",
                                    latency_us: u64::from(row),
                                    purpose: None,
                                });
                            }
                        }
                    })
                    .unwrap();
                }
            }));
        }
        for w in writers {
            w.await.unwrap();
        }
        let expected: u64 = (0..4u32)
            .map(|w| 10 * (0..20u32).map(|i| u64::from(1 + (i + w) % 7)).sum::<u64>())
            .sum();
        let rows = db.predictions("d", t(0), t(100), 100_000).await.unwrap();
        assert_eq!(rows.len() as u64, expected);
        assert_eq!(count_all(&db, "d").await, expected);
        // In log order, every request's rows come together: 0, 1, … n-1.
        let mut i = 0;
        let mut requests = 0;
        while i < rows.len() {
            let id = &rows[i].request_id;
            let n = 1 + id
                .rsplit('r')
                .next()
                .and_then(|r| r.parse::<u32>().ok())
                .map(|r| {
                    let w: u32 = id[1..2].parse().unwrap();
                    (r + w) % 7
                })
                .unwrap() as usize;
            for (row, r) in rows[i..i + n].iter().enumerate() {
                assert_eq!((&r.request_id, r.row), (id, row as u32));
            }
            i += n;
            requests += 1;
        }
        assert_eq!(requests, 4 * 10 * 20);
        // Feedback reaches the last row of any request.
        let (found, _) = find(&db, "d", vec![key("w3-b9-r19", (19 + 3) % 7)]).await;
        assert_eq!(found.len(), 1);
    }
);

crate::contract!(a_large_batch_is_written_whole, |db: Db| async move {
    // 10 000 rows in requests of 100, over two minutes.
    let rows: Vec<Row> = (0..10_000u32)
        .map(|i| Row {
            request_id: format!("q{}", i / 100),
            row: i % 100,
            ..Row::single(0, "big", i64::from(i / 100))
        })
        .collect();
    assert_eq!(append(&db, rows).await.unwrap(), 10_000);
    assert_eq!(count_all(&db, "big").await, 10_000);
    assert_eq!(window(&db, "big", 60, 61).await.len(), 100);
    let (found, _) = find(&db, "big", vec![key("q99", 99), key("q0", 0)]).await;
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].id - found[1].id, 9_999);
});
