//! The audit chain on both backends: numbering, hashing, the listing
//! filters, and the chain staying whole while four processes append to it
//! at once.

use std::time::Duration;

use super::governance::*;
use chrono::{DateTime, Utc};
use hangar_core::governance::{verify_chain, GENESIS_HASH};
use hangar_store::{AuditFilter, Db, NewAuditEntry};

// ---- the audit log ----------------------------------------------------------

crate::contract!(
    an_empty_audit_log_has_no_head_and_verifies,
    |db: Db| async move {
        let (entries, head) = db.audit_chain().await.unwrap();
        assert!(entries.is_empty());
        assert_eq!(head, None);
        assert_eq!(verify_chain(&entries, None), Ok(()));
        assert!(db.list_audit(&filter(10)).await.unwrap().is_empty());
    }
);

crate::contract!(
    audit_entries_are_numbered_and_chained,
    |db: Db| async move {
        let mut written = Vec::new();
        for i in 0..5 {
            let e = db
                .append_audit(&NewAuditEntry {
                    detail: format!("{{\"i\":{i}}}"),
                    ..entry("alice", "models/credit", &["risk"])
                })
                .await
                .unwrap();
            written.push(e);
        }
        assert_eq!(
            written.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(written[0].prev_hash, GENESIS_HASH);
        for pair in written.windows(2) {
            assert_eq!(pair[1].prev_hash, pair[0].hash);
        }
        for e in &written {
            assert_eq!(e.hash, e.compute_hash());
            assert_eq!(e.detail, format!("{{\"i\":{}}}", e.seq - 1));
        }

        let (entries, head) = db.audit_chain().await.unwrap();
        assert_eq!(entries, written);
        assert_eq!(head, Some((5, written[4].hash.clone())));
        assert_eq!(
            verify_chain(&entries, head.as_ref().map(|(s, h)| (*s, h.as_str()))),
            Ok(())
        );

        // Newest first, as many as asked (at least one).
        let listed = db.list_audit(&filter(3)).await.unwrap();
        assert_eq!(
            listed,
            written[2..].iter().rev().cloned().collect::<Vec<_>>()
        );
        assert_eq!(seqs(&db, &filter(0)).await, [5]);
    }
);

crate::contract!(audit_listing_filters, |db: Db| async move {
    let objects = [
        ("alice", "models/credit", &["risk"][..]),          // 1
        ("bob", "models/credit/versions/3", &["risk"][..]), // 2
        ("alice", "models/credit2", &["growth"][..]),       // 3
        ("bob", "deployments/scoring", &["risk", "growth"][..]), // 4
        ("carol", "users/dave", &[][..]),                   // 5
        ("alice", "models/a_b%c/versions/1", &["risk"][..]), // 6
        ("alice", "models/axbyc/versions/1", &["risk"][..]), // 7
        ("bob", "models/Credit/versions/9", &["risk", "risk"][..]), // 8
    ];
    let mut times = Vec::new();
    for (actor, object, teams) in objects {
        times.push(
            db.append_audit(&entry(actor, object, teams))
                .await
                .unwrap()
                .at,
        );
    }
    let f = |mut f: AuditFilter| {
        f.limit = 100;
        f
    };
    assert_eq!(
        seqs(
            &db,
            &f(AuditFilter {
                actor: Some("alice".into()),
                ..Default::default()
            })
        )
        .await,
        [7, 6, 3, 1]
    );
    // An object and everything under it, and nothing that merely starts
    // with the same letters; the prefix's letters match in either case, as
    // SQLite's LIKE matches them.
    assert_eq!(
        seqs(
            &db,
            &f(AuditFilter {
                object: Some("models/credit".into()),
                ..Default::default()
            })
        )
        .await,
        [8, 2, 1]
    );
    assert_eq!(
        seqs(
            &db,
            &f(AuditFilter {
                object: Some("models/credit/versions/3".into()),
                ..Default::default()
            })
        )
        .await,
        [2]
    );
    // `%` and `_` in the filter are themselves, not wildcards.
    assert_eq!(
        seqs(
            &db,
            &f(AuditFilter {
                object: Some("models/a_b%c".into()),
                ..Default::default()
            })
        )
        .await,
        [6]
    );
    assert_eq!(
        seqs(
            &db,
            &f(AuditFilter {
                actor: Some("bob".into()),
                object: Some("models".into()),
                ..Default::default()
            })
        )
        .await,
        [8, 2]
    );
    // A team sees the entries that concern it; no team, only the unowned
    // entry's readers (administrators) — never with a team filter.
    assert_eq!(
        seqs(
            &db,
            &f(AuditFilter {
                teams: Some(vec!["growth".into()]),
                ..Default::default()
            })
        )
        .await,
        [4, 3]
    );
    assert_eq!(
        seqs(
            &db,
            &f(AuditFilter {
                teams: Some(vec!["growth".into(), "risk".into()]),
                ..Default::default()
            })
        )
        .await,
        [8, 7, 6, 4, 3, 2, 1]
    );
    assert!(seqs(
        &db,
        &f(AuditFilter {
            teams: Some(vec![]),
            ..Default::default()
        })
    )
    .await
    .is_empty());
    // From is inclusive, to exclusive.
    let from = instant_of(&times[2]);
    let to = instant_of(&times[5]);
    assert_eq!(
        seqs(
            &db,
            &f(AuditFilter {
                from: Some(from),
                to: Some(to),
                ..Default::default()
            })
        )
        .await,
        [5, 4, 3]
    );
    assert_eq!(
        seqs(
            &db,
            &f(AuditFilter {
                from: Some(from),
                to: Some(to),
                teams: Some(vec!["risk".into()]),
                limit: 1,
                ..Default::default()
            })
        )
        .await,
        [4]
    );
    assert_eq!(
        seqs(
            &db,
            &AuditFilter {
                teams: Some(vec!["risk".into()]),
                limit: 2,
                ..Default::default()
            }
        )
        .await,
        [8, 7]
    );
});

/// An entry's stored time as an instant.
fn instant_of(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

// ---- four processes, one chain ---------------------------------------------

/// Set in a child process: the database it appends to.
const APPENDER_URL: &str = "HANGAR_TEST_AUDIT_APPENDER_URL";
/// Set in a child process: its number, part of its actor name.
const APPENDER_ID: &str = "HANGAR_TEST_AUDIT_APPENDER_ID";
/// Entries each child appends.
const PER_PROCESS: usize = 50;
const PROCESSES: usize = 4;
/// What a child prints once connected, before it waits for the start.
const READY: &str = "audit appender ready";

/// Not a test on its own: the body of a child process of
/// [`four_processes_append_to_one_chain`] (this test binary run again with
/// [`APPENDER_URL`] set). Connects, says it is ready, waits for a line on
/// stdin (so that all children start appending together), appends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_appender_process() {
    let Ok(url) = std::env::var(APPENDER_URL) else {
        return;
    };
    let id = std::env::var(APPENDER_ID).unwrap();
    let db = Db::connect(&url).await.unwrap();
    println!("{READY}");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    for i in 0..PER_PROCESS {
        db.append_audit(&NewAuditEntry {
            detail: format!("{{\"i\":{i}}}"),
            ..entry(&format!("appender-{id}"), "models/credit", &["risk"])
        })
        .await
        .unwrap();
    }
    db.close().await;
}

async fn four_processes_append(url: &str) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::process::Command;

    // Migrated before the children start (their own connect then finds
    // nothing to do): this test is about appends.
    let db = Db::connect(url).await.unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut children = Vec::new();
    for id in 0..PROCESSES {
        let child = Command::new(&exe)
            .args([
                "audit::audit_appender_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(APPENDER_URL, url)
            .env(APPENDER_ID, id.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        children.push(child);
    }
    let bounded = Duration::from_secs(120);
    tokio::time::timeout(bounded, async {
        let mut drains = Vec::new();
        for child in &mut children {
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            // The harness may print on the same line first ("test … ").
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains(READY) {
                    break;
                }
            }
            // Read to the end: a child whose stdout is closed would fail
            // writing its test result.
            drains.push(tokio::spawn(async move {
                let mut rest = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    rest.push(line);
                }
                rest.join("\n")
            }));
        }
        // All connected: start them together.
        for child in &mut children {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(b"go\n").await.unwrap();
        }
        for (child, drain) in children.iter_mut().zip(drains) {
            let status = child.wait().await.unwrap();
            let output = drain.await.unwrap();
            assert!(status.success(), "an appender failed: {status}\n{output}");
        }
    })
    .await
    .expect("the appenders finish within two minutes");

    let (entries, head) = db.audit_chain().await.unwrap();
    let total = (PROCESSES * PER_PROCESS) as i64;
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    assert_eq!(head, Some((total, entries.last().unwrap().hash.clone())));
    assert_eq!(
        verify_chain(&entries, head.as_ref().map(|(s, h)| (*s, h.as_str()))),
        Ok(())
    );
    // Every process's entries are there, in the order it wrote them.
    for id in 0..PROCESSES {
        let actor = format!("appender-{id}");
        let details: Vec<&str> = entries
            .iter()
            .filter(|e| e.actor == actor)
            .map(|e| e.detail.as_str())
            .collect();
        let expected: Vec<String> = (0..PER_PROCESS).map(|i| format!("{{\"i\":{i}}}")).collect();
        assert_eq!(details, expected, "{actor}");
    }
    let risk = db
        .list_audit(&AuditFilter {
            teams: Some(vec!["risk".into()]),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(risk.len(), PROCESSES * PER_PROCESS);
    db.close().await;
}

mod four_processes_append_to_one_chain {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let pg = hangar_testkit::TestDatabase::create().await;
        four_processes_append(pg.url()).await;
    }

    /// The embedded backend keeps its promise too (BEGIN IMMEDIATE and the
    /// busy timeout serialise the processes).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hangar.db").display());
        four_processes_append(&url).await;
    }
}
