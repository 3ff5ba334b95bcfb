//! `hangar store copy`, the library part: an embedded install with rows in
//! every table (made through the store's own methods, as the server makes
//! them) is copied into a fresh PostgreSQL database, and then
//!
//! - every table holds the same rows, value for value;
//! - the store on PostgreSQL answers every question as the SQLite one does
//!   (versions, `alias_at`, revisions, the audit chain with the same hashes,
//!   alerts, the prediction log and its aggregates);
//! - numbering continues where SQLite left off;
//! - a second copy into the same target is refused, naming a table.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::Utc;
use hangar_core::alerts::{AlertRule, Comparison, Severity};
use hangar_core::governance::verify_chain;
use hangar_core::monitor::aggregate::Resolution;
use hangar_store::copy::{self, CopyError, Progress};
use hangar_store::{AlertEventRecord, AuditFilter, Db, NewAuditEntry, StoredArtifact};
use hangar_testkit::TestDatabase;

mod install;

use install::{embedded, t, version};

/// Debug forms compared: every record type has one, not all have `PartialEq`.
fn same<T: std::fmt::Debug>(what: &str, sqlite: T, postgres: T) {
    assert_eq!(
        format!("{sqlite:#?}"),
        format!("{postgres:#?}"),
        "{what} differs"
    );
}

/// A value as either database gives it back, for comparing rows.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum V {
    Null,
    I(i64),
    F(f64),
    T(String),
    B(Vec<u8>),
}

fn sqlite_rows(path: &Path, table: &str) -> (Vec<String>, Vec<Vec<V>>) {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let n = columns.len();
    let mut rows: Vec<Vec<V>> = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => V::Null,
                        rusqlite::types::ValueRef::Integer(i) => V::I(i),
                        rusqlite::types::ValueRef::Real(x) => V::F(x),
                        rusqlite::types::ValueRef::Text(t) => {
                            V::T(String::from_utf8(t.to_vec()).unwrap())
                        }
                        rusqlite::types::ValueRef::Blob(b) => V::B(b.to_vec()),
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (columns, rows)
}

async fn postgres_rows(pool: &sqlx::PgPool, table: &str, columns: &[String]) -> Vec<Vec<V>> {
    use sqlx::{Column, Row, TypeInfo};
    let list = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(&format!("SELECT {list} FROM \"{table}\""))
        .fetch_all(pool)
        .await
        .unwrap();
    let mut out: Vec<Vec<V>> = rows
        .iter()
        .map(|r| {
            r.columns()
                .iter()
                .enumerate()
                .map(|(i, c)| match c.type_info().name() {
                    "INT8" | "INT4" | "INT2" => r
                        .try_get::<Option<i64>, _>(i)
                        .unwrap()
                        .map_or(V::Null, V::I),
                    "BOOL" => r
                        .try_get::<Option<bool>, _>(i)
                        .unwrap()
                        .map_or(V::Null, |b| V::I(i64::from(b))),
                    "FLOAT8" => r
                        .try_get::<Option<f64>, _>(i)
                        .unwrap()
                        .map_or(V::Null, V::F),
                    "TEXT" | "VARCHAR" => r
                        .try_get::<Option<String>, _>(i)
                        .unwrap()
                        .map_or(V::Null, V::T),
                    "BYTEA" => r
                        .try_get::<Option<Vec<u8>>, _>(i)
                        .unwrap()
                        .map_or(V::Null, V::B),
                    other => panic!("{table}.{}: unexpected type {other}", c.name()),
                })
                .collect()
        })
        .collect();
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

fn source_tables(path: &Path) -> Vec<String> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> '_sqlx_migrations' ORDER BY name",
        )
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_of_every_table_arrives_as_it_was() {
    let (dir, _) = embedded().await;
    let source = dir.path().join("hangar.db");
    let pg = TestDatabase::create().await;

    let plan = copy::plan(&source, pg.url()).await.unwrap();
    let planned: BTreeMap<String, u64> = plan.tables().map(|(t, n)| (t.to_string(), n)).collect();
    let mut last: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let report = plan
        .copy_rows(|p: Progress<'_>| {
            // Never past the total, never backwards.
            assert!(p.done <= p.total, "{p:?}");
            let before = last.insert(p.table.to_string(), (p.done, p.total));
            assert!(before.is_none_or(|(done, _)| done <= p.done), "{p:?}");
        })
        .await
        .unwrap();

    let tables = source_tables(&source);
    let pool = sqlx::PgPool::connect(pg.url()).await.unwrap();
    for table in &tables {
        let (columns, sqlite) = sqlite_rows(&source, table);
        assert!(!sqlite.is_empty(), "the install has no rows in {table}");
        let postgres = postgres_rows(&pool, table, &columns).await;
        assert_eq!(sqlite, postgres, "table {table}");
        // The plan counted them, progress reached the end, the report says so.
        let n = sqlite.len() as u64;
        assert_eq!(planned[table], n, "{table}");
        assert_eq!(last[table], (n, n), "{table}");
        assert!(report.tables.contains(&(table.clone(), n)), "{table}");
    }
    assert_eq!(report.tables.len(), tables.len());

    // Foreign-key order: parents before the tables that name them.
    let position = |t: &str| report.tables.iter().position(|(n, _)| n == t).unwrap();
    assert!(position("models") < position("model_versions"));
    assert!(position("model_versions") < position("aliases"));
    assert!(position("alert_events") < position("alert_deliveries"));
    assert!(position("users") < position("memberships"));

    // Each identity sequence continues after the copied ids: the next id
    // PostgreSQL generates is the one SQLite would.
    let conn = rusqlite::Connection::open(&source).unwrap();
    for table in [
        "alias_events",
        "alert_events",
        "alert_deliveries",
        "approvals",
        "predictions",
    ] {
        let sqlite_next: i64 = conn
            .query_row(
                &format!(
                    "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0), \
                     (SELECT MAX(id) FROM \"{table}\")) + 1"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        let postgres_next: i64 = sqlx::query_scalar(&format!(
            "SELECT nextval(pg_get_serial_sequence('{table}', 'id'))"
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(postgres_next, sqlite_next, "{table}");
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_copy_into_the_same_target_is_refused_naming_a_table() {
    let (dir, _) = embedded().await;
    let source = dir.path().join("hangar.db");
    let pg = TestDatabase::create().await;
    copy::copy_database(&source, pg.url(), |_| {})
        .await
        .unwrap();
    let err = copy::copy_database(&source, pg.url(), |_| {})
        .await
        .unwrap_err();
    match &err {
        CopyError::TargetNotEmpty { table, rows } => {
            assert!(*rows > 0);
            assert!(err.to_string().contains(&format!("'{table}'")), "{err}");
        }
        other => panic!("expected TargetNotEmpty, got {other:?}"),
    }

    // One row anywhere is enough, and the migrations' own `default` team
    // is not data.
    let fresh = TestDatabase::create().await;
    let db = Db::connect(fresh.url()).await.unwrap();
    db.put_rule(
        &AlertRule {
            name: "errors".into(),
            deployment: "*".into(),
            metric: "traffic.error_rate".parse().unwrap(),
            comparison: Comparison::Gt,
            threshold: 0.02,
            window_secs: 600,
            for_secs: 0,
            severity: Severity::Info,
            guardrail: false,
        },
        "root",
    )
    .await
    .unwrap();
    db.close().await;
    match copy::plan(&source, fresh.url()).await {
        Err(CopyError::TargetNotEmpty { table, rows }) => {
            assert_eq!((table.as_str(), rows), ("alert_rules", 1));
        }
        other => panic!("expected TargetNotEmpty, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_is_missing_or_not_at_this_schema_is_refused() {
    let pg = TestDatabase::create().await;
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        copy::plan(&empty.path().join("hangar.db"), pg.url()).await,
        Err(CopyError::NoSource { .. })
    ));

    let (dir, _) = embedded().await;
    let source = dir.path().join("hangar.db");
    let conn = rusqlite::Connection::open(&source).unwrap();
    let latest: i64 = conn
        .query_row("SELECT MAX(version) FROM _sqlx_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    conn.execute("DELETE FROM _sqlx_migrations WHERE version = ?1", [latest])
        .unwrap();
    drop(conn);
    match copy::plan(&source, pg.url()).await {
        Err(CopyError::SourceOlder { at, expected }) => {
            assert_eq!((at, expected), (latest - 1, latest));
        }
        other => panic!("expected SourceOlder, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_named_artifacts_are_copied_and_each_is_verified() {
    let (dir, _) = embedded().await;
    let source = dir.path().join("hangar.db");
    let pg = TestDatabase::create().await;
    let plan = copy::plan(&source, pg.url()).await.unwrap();
    let digests = plan.digests();
    // Three model files (one shared by two versions) and the baseline CSV.
    assert_eq!(digests.len(), 4);

    let target_dir = tempfile::tempdir().unwrap();
    let target = copy::open_artifact_target(
        &format!("file://{}", target_dir.path().display()),
        target_dir.path(),
    )
    .await
    .unwrap();
    let mut last = None;
    let done = copy::copy_artifacts(&dir.path().join("artifacts"), &target, &digests, |p| {
        last = Some(p)
    })
    .await
    .unwrap();
    assert_eq!(last, Some(done));
    assert_eq!((done.files, done.total_files), (4, 4));
    assert_eq!(done.bytes, done.total_bytes);
    for digest in &digests {
        target.read_verified(digest).await.unwrap();
    }
    // The orphan stayed behind.
    let copied = walk(&target_dir.path().join("sha256"));
    assert_eq!(copied, 4);

    // A file whose bytes do not match its name is refused.
    let bad = &digests[0];
    let hex = &bad["sha256:".len()..];
    std::fs::write(
        dir.path()
            .join("artifacts/sha256")
            .join(&hex[..2])
            .join(hex),
        b"tampered",
    )
    .unwrap();
    let other = tempfile::tempdir().unwrap();
    let target = copy::open_artifact_target(&other.path().display().to_string(), other.path())
        .await
        .unwrap();
    let err = copy::copy_artifacts(&dir.path().join("artifacts"), &target, &digests, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CopyError::Store(hangar_store::StoreError::Corrupt { digest, .. }) if digest == bad),
        "{err:?}"
    );
    assert!(target.read_verified(bad).await.is_err());
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_install_answers_the_same_on_postgres() {
    let (dir, moments) = embedded().await;
    let source = dir.path().join("hangar.db");
    let pg = TestDatabase::create().await;
    copy::copy_database(&source, pg.url(), |_| {})
        .await
        .unwrap();

    let lite = Db::open(&source).await.unwrap();
    let post = Db::connect(pg.url()).await.unwrap();

    // The registry.
    same(
        "models",
        lite.list_models().await.unwrap(),
        post.list_models().await.unwrap(),
    );
    for model in ["credit", "fraud"] {
        same(
            "versions",
            lite.list_versions(model).await.unwrap(),
            post.list_versions(model).await.unwrap(),
        );
        same(
            "aliases",
            lite.list_aliases(model).await.unwrap(),
            post.list_aliases(model).await.unwrap(),
        );
        same(
            "alias history",
            lite.alias_history(model, None).await.unwrap(),
            post.alias_history(model, None).await.unwrap(),
        );
    }
    for at in [
        moments.before_any,
        moments.after_first,
        moments.after_second,
        Utc::now(),
    ] {
        for alias in ["production", "staging"] {
            let answer = lite.alias_at("credit", alias, at).await.unwrap();
            assert_eq!(
                answer,
                post.alias_at("credit", alias, at).await.unwrap(),
                "{alias} at {at}"
            );
        }
    }
    assert_eq!(
        post.alias_at("credit", "production", moments.after_first)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        post.alias_at("credit", "production", moments.after_second)
            .await
            .unwrap(),
        Some(2)
    );

    // Deployments and revisions.
    same(
        "deployments",
        lite.list_deployments().await.unwrap(),
        post.list_deployments().await.unwrap(),
    );
    for d in ["credit-api", "fraud-api"] {
        same(
            "revisions",
            lite.list_revisions(d).await.unwrap(),
            post.list_revisions(d).await.unwrap(),
        );
    }
    same(
        "deployment teams",
        lite.deployment_teams().await.unwrap(),
        post.deployment_teams().await.unwrap(),
    );

    // Monitoring.
    same(
        "baseline",
        lite.get_baseline("credit", 1).await.unwrap(),
        post.get_baseline("credit", 1).await.unwrap(),
    );
    let (from, to) = (t(0), t(3600));
    same(
        "predictions",
        lite.predictions("credit-api", from, to, 100).await.unwrap(),
        post.predictions("credit-api", from, to, 100).await.unwrap(),
    );
    same(
        "labelled rows",
        lite.labelled_sample("credit-api", "credit", 1, from, to, 100)
            .await
            .unwrap(),
        post.labelled_sample("credit-api", "credit", 1, from, to, 100)
            .await
            .unwrap(),
    );
    for resolution in [Resolution::Minute, Resolution::Hour, Resolution::Day] {
        let (a, b) = (1_789_900_000, 1_790_100_000);
        same(
            "aggregate rows",
            lite.aggregate_rows("credit-api", resolution, a, b)
                .await
                .unwrap(),
            post.aggregate_rows("credit-api", resolution, a, b)
                .await
                .unwrap(),
        );
        same(
            "aggregate bodies",
            lite.aggregate_bodies("credit-api", "credit", 1, resolution, a, b)
                .await
                .unwrap(),
            post.aggregate_bodies("credit-api", "credit", 1, resolution, a, b)
                .await
                .unwrap(),
        );
    }

    // Governance and the audit chain, hashes and all.
    same(
        "teams",
        lite.list_teams().await.unwrap(),
        post.list_teams().await.unwrap(),
    );
    same(
        "users",
        lite.list_users().await.unwrap(),
        post.list_users().await.unwrap(),
    );
    for kind in ["api", "consumer"] {
        same(
            "tokens",
            lite.list_tokens(kind, None).await.unwrap(),
            post.list_tokens(kind, None).await.unwrap(),
        );
    }
    same(
        "decisions",
        lite.decisions("credit", 2).await.unwrap(),
        post.decisions("credit", 2).await.unwrap(),
    );
    same(
        "keys",
        lite.list_trusted_keys().await.unwrap(),
        post.list_trusted_keys().await.unwrap(),
    );
    same(
        "signatures",
        lite.signatures("credit", 2).await.unwrap(),
        post.signatures("credit", 2).await.unwrap(),
    );
    let filter = AuditFilter {
        teams: Some(vec!["risk".into()]),
        limit: 100,
        ..Default::default()
    };
    same(
        "audit (risk)",
        lite.list_audit(&filter).await.unwrap(),
        post.list_audit(&filter).await.unwrap(),
    );
    let (chain, head) = post.audit_chain().await.unwrap();
    same(
        "audit chain",
        lite.audit_chain().await.unwrap(),
        (chain.clone(), head.clone()),
    );
    verify_chain(&chain, head.as_ref().map(|(s, h)| (*s, h.as_str()))).unwrap();

    // Alerts.
    same(
        "rules",
        lite.list_rules().await.unwrap(),
        post.list_rules().await.unwrap(),
    );
    same(
        "events",
        lite.alert_events(None, 100).await.unwrap(),
        post.alert_events(None, 100).await.unwrap(),
    );
    same(
        "channels",
        lite.list_channels().await.unwrap(),
        post.list_channels().await.unwrap(),
    );
    same(
        "deliveries",
        lite.deliveries(100).await.unwrap(),
        post.deliveries(100).await.unwrap(),
    );

    // Numbering continues where SQLite left off, on both.
    let event = AlertEventRecord {
        id: 0,
        rule: "errors".into(),
        deployment: "credit-api".into(),
        kind: "firing".into(),
        severity: "critical".into(),
        value: Some(0.1),
        message: "again".into(),
        at: t(200),
    };
    assert_eq!(
        lite.add_alert_event(&event).await.unwrap(),
        post.add_alert_event(&event).await.unwrap()
    );
    let entry = NewAuditEntry {
        actor: "ada".into(),
        action: "after.copy".into(),
        object: "models/credit".into(),
        outcome: "ok".into(),
        detail: "{}".into(),
        teams: vec!["risk".into()],
        ..Default::default()
    };
    let (a, b) = (
        lite.append_audit(&entry).await.unwrap(),
        post.append_audit(&entry).await.unwrap(),
    );
    assert_eq!((a.seq, &a.prev_hash), (b.seq, &b.prev_hash));
    let (chain, head) = post.audit_chain().await.unwrap();
    verify_chain(&chain, head.as_ref().map(|(s, h)| (*s, h.as_str()))).unwrap();
    let v = version(
        StoredArtifact {
            digest: format!("sha256:{}", "ef".repeat(32)),
            size_bytes: 3,
        },
        4,
    );
    assert_eq!(
        lite.add_version("credit", &v, "ada").await.unwrap().version,
        post.add_version("credit", &v, "ada").await.unwrap().version
    );
    lite.close().await;
    post.close().await;
}
