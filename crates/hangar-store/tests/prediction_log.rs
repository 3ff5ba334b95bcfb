//! The prediction log in a real SQLite file: rows written by the bulk
//! writer are found by time window through the per-minute id ranges
//! (`prediction_spans`), for interleaved deployments and rows whose times
//! are not in the order they were logged; pruning removes exactly the old
//! rows; a database written before the spans existed is migrated. A
//! request's id is stored once however many rows it has, feedback finds any
//! of its rows, and a database written with the id in every row is migrated.

use chrono::{DateTime, Duration, TimeZone, Utc};
use hangar_store::{Db, FeedbackKey, FoundRow, LogRow};

/// Rolls a file back to the schema before migration 0010 (request ids in
/// every row).
const BEFORE_0010: &str = "DROP TABLE prediction_requests;
     ALTER TABLE predictions ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
     CREATE INDEX predictions_by_request ON predictions (deployment, request_id, row);
     DELETE FROM _sqlx_migrations WHERE version >= 10;";

/// The rows `keys` name in deployment `d`.
fn find(db: &Db, d: &str, keys: &[FeedbackKey]) -> Vec<FoundRow> {
    let mut w = db.feedback_writer().unwrap();
    let (mut versions, mut found) = (Vec::new(), Vec::new());
    w.find(d, keys, &mut versions, &mut found).unwrap();
    found
}

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + s, 0).unwrap() + Duration::microseconds(250)
}

/// Logs one row per (deployment, second offset), in the order given.
fn log(db: &Db, rows: &[(&str, i64)]) {
    let mut w = db.prediction_writer().unwrap();
    let ids: Vec<String> = (0..rows.len())
        .map(|i| format!("req-{i}-{}", rows[i].1))
        .collect();
    let segments: Vec<String> = rows.iter().map(|(_, s)| format!("{{\"s\":{s}}}")).collect();
    let mut features = Vec::new();
    hangar_store::encode_features_into(&[1.0, 2.5], &mut features);
    let written = w
        .append(&mut |sink| {
            for (i, (d, s)) in rows.iter().enumerate() {
                sink.push(&LogRow {
                    deployment: d,
                    at: t(*s),
                    request_id: &ids[i],
                    row: 0,
                    row_id: None,
                    revision: 1,
                    model: "m",
                    version: 1,
                    features: &features,
                    outputs: "{\"label\":[1]}",
                    score: Some(0.7),
                    predicted: Some(1.0),
                    segments: &segments[i],
                    latency_us: *s as u64,
                    purpose: None,
                });
            }
        })
        .unwrap();
    assert_eq!(written, rows.len() as u64);
}

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

#[tokio::test]
async fn windows_find_exactly_their_rows_through_the_minute_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("hangar.db")).await.unwrap();
    // Two deployments interleaved over four minutes, in two batches, with
    // some rows logged after rows of a later minute.
    let mut first = Vec::new();
    for s in (0..180).step_by(3) {
        first.push(("a", s));
        first.push(("b", s + 1));
    }
    first.push(("a", 59)); // late row of minute 0, after minute 2's rows
    log(&db, &first);
    let second: Vec<(&str, i64)> = vec![("a", 30), ("a", 200), ("b", 61), ("a", 239)];
    log(&db, &second);

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
    // No row twice: a value (a second) appears at most as often as rows
    // with it exist in the window (second 30 has two rows).
    let rows = expect(0, 60);
    for v in &sample {
        let picked = sample.iter().filter(|x| *x == v).count();
        let exist = rows.iter().filter(|x| *x == v).count();
        assert!(
            picked <= exist,
            "second {v} drawn {picked} times, {exist} rows"
        );
    }

    // Pruning before second 61 removes minute 0 and second 60 of minute 1.
    let before = db
        .count_predictions("a", t(0), t(1_000), 1_000_000)
        .await
        .unwrap()
        + db.count_predictions("b", t(0), t(1_000), 1_000_000)
            .await
            .unwrap();
    let pruned = db
        .prune_predictions(t(61) - Duration::microseconds(250))
        .await
        .unwrap();
    let older = first.iter().chain(&second).filter(|(_, s)| *s < 61).count() as u64;
    assert_eq!(pruned, older);
    assert!(window(&db, "a", 0, 61).await.is_empty());
    assert_eq!(window(&db, "a", 61, 240).await, expect(61, 240));
    let after = db
        .count_predictions("a", t(0), t(1_000), 1_000_000)
        .await
        .unwrap()
        + db.count_predictions("b", t(0), t(1_000), 1_000_000)
            .await
            .unwrap();
    assert_eq!(after, before - older);
}

#[tokio::test]
async fn rows_logged_before_the_minute_ranges_existed_are_found_after_migrating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hangar.db");
    drop(Db::open(&path).await.unwrap());
    // Undo 0008 (later migrations do not touch these tables, and stay
    // applied) and log as the writer before it did (no ranges recorded),
    // then reopen: the migration fills them in.
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(&format!(
            "{BEFORE_0010}
             DROP TABLE prediction_spans; CREATE INDEX predictions_by_time ON predictions (deployment, at);
             DELETE FROM _sqlx_migrations WHERE version = 8;"
        ))
        .unwrap();
        for (i, s) in [0i64, 10, 70, 130, 135].iter().enumerate() {
            let at = t(*s).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            c.execute(
                "INSERT INTO predictions (deployment, at, request_id, row, revision, model, version, inputs, outputs, latency_us) \
                 VALUES ('a', ?1, ?2, 0, 1, 'm', 1, '[1.0]', '{}', ?3)",
                rusqlite::params![at, format!("old-{i}"), s],
            )
            .unwrap();
        }
    }
    let db = Db::open(&path).await.unwrap();
    assert_eq!(window(&db, "a", 0, 200).await, vec![0, 10, 70, 130, 135]);
    assert_eq!(window(&db, "a", 10, 131).await, vec![10, 70, 130]);
    log(&db, &[("a", 140)]);
    assert_eq!(window(&db, "a", 130, 200).await, vec![130, 135, 140]);
}

#[tokio::test]
async fn past_the_limit_labelled_rows_are_a_uniform_sample_of_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("hangar.db")).await.unwrap();
    // 1 000 rows over 1 000 seconds; the first 900 get a label, and a
    // different model's row is labelled too (it must not count).
    let rows: Vec<(&str, i64)> = (0..1_000).map(|s| ("a", s)).collect();
    log(&db, &rows);
    let keys: Vec<FeedbackKey> = (0..900)
        .map(|i| FeedbackKey::Request {
            request_id: format!("req-{i}-{i}"),
            row: 0,
        })
        .collect();
    let found = find(&db, "a", &keys);
    assert_eq!(found.len(), 900);
    let labels: Vec<(i64, f64)> = found
        .iter()
        .map(|f| (f.id, f64::from(f.key as u32 % 2)))
        .collect();
    let mut w = db.feedback_writer().unwrap();
    assert_eq!(w.apply(&labels, Utc::now()).unwrap(), 900);

    // Within the limit: every labelled row of the window.
    let (total, all) = db
        .labelled_sample("a", "m", 1, t(0), t(1_000), 1_000)
        .await
        .unwrap();
    assert_eq!((total, all.len()), (900, 900));
    let (total, none) = db
        .labelled_sample("a", "other", 1, t(0), t(1_000), 1_000)
        .await
        .unwrap();
    assert_eq!((total, none.len()), (0, 0));

    // Past it: the count of the window and `limit` rows drawn from all of
    // it, not the newest. Labels alternate, so a uniform sample has about
    // as many of each; the newest 100 would too, but they would all have
    // row latencies (their second) of 800 and more.
    let (total, sample) = db
        .labelled_sample("a", "m", 1, t(0), t(1_000), 100)
        .await
        .unwrap();
    assert_eq!((total, sample.len()), (900, 100));
    let ones = sample.iter().filter(|r| r.label == 1.0).count();
    assert!((25..=75).contains(&ones), "{ones} of 100 labelled 1");
    // Each sampled row's second is in its segments: drawn from the whole
    // window (the newest 100 would all be from second 800 on), none twice,
    // none unlabelled (seconds 900 and on).
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

/// Logs one request of `rows` rows with `request_id`.
fn log_request(db: &Db, d: &str, request_id: &str, rows: u32, second: i64) {
    let mut w = db.prediction_writer().unwrap();
    let mut features = Vec::new();
    hangar_store::encode_features_into(&[1.0, 2.5], &mut features);
    let written = w
        .append(&mut |sink| {
            for row in 0..rows {
                sink.push(&LogRow {
                    deployment: d,
                    at: t(second),
                    request_id,
                    row,
                    row_id: None,
                    revision: 1,
                    model: "m",
                    version: 1,
                    features: &features,
                    outputs: "{\"label\":[1]}",
                    score: Some(0.7),
                    predicted: Some(1.0),
                    segments: "{}",
                    latency_us: u64::from(row),
                    purpose: None,
                });
            }
        })
        .unwrap();
    assert_eq!(written, u64::from(rows));
}

fn stored(path: &std::path::Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn a_request_id_is_stored_once_however_many_rows_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hangar.db");
    let db = Db::open(&path).await.unwrap();
    let long = "x".repeat(128);
    log_request(&db, "a", "short", 3, 0);
    log_request(&db, "a", &long, 2_000, 1);
    log_request(&db, "b", &long, 1, 2);
    assert_eq!(stored(&path, "SELECT COUNT(*) FROM prediction_requests"), 3);
    assert_eq!(
        stored(
            &path,
            "SELECT SUM(length(request_id)) FROM prediction_requests"
        ),
        5 + 128 + 128,
        "one copy per request, not one per row"
    );
    // Every row reads back with its request's id.
    let rows = db.predictions("a", t(0), t(10), 10_000).await.unwrap();
    assert_eq!(rows.len(), 2_003);
    assert!(rows[..3].iter().all(|r| r.request_id == "short"));
    assert!(rows[3..].iter().all(|r| r.request_id == long));
    assert_eq!(rows[1_500].row, 1_497);

    // Feedback finds row r of a request, in its deployment only.
    let key = |request_id: &str, row| FeedbackKey::Request {
        request_id: request_id.to_string(),
        row,
    };
    let found = find(
        &db,
        "a",
        &[
            key(&long, 1_999),
            key(&long, 2_000),
            key("short", 2),
            key("nope", 0),
        ],
    );
    assert_eq!(found.iter().map(|f| f.key).collect::<Vec<_>>(), vec![0, 2]);
    let mut w = db.feedback_writer().unwrap();
    let labels: Vec<(i64, f64)> = found.iter().map(|f| (f.id, 1.0)).collect();
    assert_eq!(w.apply(&labels, Utc::now()).unwrap(), 2);
    let labelled: Vec<(String, u32)> = db
        .predictions("a", t(0), t(10), 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.label.is_some())
        .map(|r| (r.request_id, r.row))
        .collect();
    assert_eq!(labelled, vec![("short".into(), 2), (long.clone(), 1_999)]);
    assert_eq!(find(&db, "b", &[key(&long, 0)]).len(), 1);
    assert_eq!(find(&db, "b", &[key("short", 0)]).len(), 0);

    // Pruning takes a request's id with its rows.
    db.prune_predictions(t(2)).await.unwrap();
    assert_eq!(stored(&path, "SELECT COUNT(*) FROM prediction_requests"), 1);
}

#[tokio::test]
async fn rows_must_follow_their_request_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hangar.db");
    let db = Db::open(&path).await.unwrap();
    let mut w = db.prediction_writer().unwrap();
    let row = |row| LogRow {
        deployment: "a",
        at: t(0),
        request_id: "r",
        row,
        row_id: None,
        revision: 1,
        model: "m",
        version: 1,
        features: &[],
        outputs: "{}",
        score: None,
        predicted: None,
        segments: "{}",
        latency_us: 0,
        purpose: None,
    };
    for rows in [vec![1], vec![0, 2], vec![0, 1, 1]] {
        let e = w
            .append(&mut |sink| rows.iter().for_each(|r| sink.push(&row(*r))))
            .unwrap_err();
        assert!(e.to_string().contains("does not follow"), "{rows:?}: {e}");
    }
    assert_eq!(stored(&path, "SELECT COUNT(*) FROM predictions"), 0);
}

#[tokio::test]
async fn request_ids_logged_in_every_row_are_moved_to_one_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hangar.db");
    drop(Db::open(&path).await.unwrap());
    // Roll the file back to the schema before 0010 and log as those writers
    // did: the request id in every row, a request's rows consecutive.
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(BEFORE_0010).unwrap();
        for (i, (request, row)) in [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("a", 0)]
            .iter()
            .enumerate()
        {
            let at = t(i as i64).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            c.execute(
                "INSERT INTO predictions (deployment, at, request_id, row, revision, model, version, inputs, outputs, latency_us) \
                 VALUES ('d', ?1, ?2, ?3, 1, 'm', 1, '[1.0]', '{}', ?4)",
                rusqlite::params![at, request, row, i as i64],
            )
            .unwrap();
        }
        c.execute(
            "INSERT INTO prediction_spans (deployment, minute, first_id, last_id, rows) VALUES ('d', ?1, 1, 5, 5)",
            [t(0).timestamp() / 60 * 60],
        )
        .unwrap();
    }
    let db = Db::open(&path).await.unwrap();
    let rows = db.predictions("d", t(0), t(10), 100).await.unwrap();
    let ids: Vec<(&str, u32)> = rows
        .iter()
        .map(|r| (r.request_id.as_str(), r.row))
        .collect();
    assert_eq!(ids, vec![("a", 0), ("a", 1), ("a", 2), ("b", 0), ("a", 0)]);
    assert_eq!(stored(&path, "SELECT COUNT(*) FROM prediction_requests"), 3);
    assert_eq!(
        stored(
            &path,
            "SELECT COUNT(*) FROM pragma_table_info('predictions') WHERE name = 'request_id'"
        ),
        0,
        "the column is gone"
    );
    let key = |request_id: &str, row| FeedbackKey::Request {
        request_id: request_id.to_string(),
        row,
    };
    // Request "a" was sent twice: both of its row 0s, its only row 2.
    let found = find(&db, "d", &[key("a", 0), key("a", 2), key("b", 1)]);
    assert_eq!(
        found.iter().map(|f| (f.key, f.id)).collect::<Vec<_>>(),
        vec![(0, 1), (0, 5), (1, 3)]
    );
    // New rows go on from there.
    log_request(&db, "d", "c", 2, 6);
    assert_eq!(find(&db, "d", &[key("c", 1)]).len(), 1);
}
