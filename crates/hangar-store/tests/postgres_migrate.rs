//! Several replicas starting at the same instant on one PostgreSQL database
//! migrate it exactly once: sqlx serialises `Migrator::run` under a
//! PostgreSQL advisory lock, and every replica but the first finds the
//! migrations applied.
//!
//! The replicas are real OS processes: the test runs its own binary again
//! (`current_exe`, filtered to the same test) with [`REPLICA_URL`] set, and
//! that run calls `Db::connect` instead of orchestrating. A file barrier
//! holds every replica until all three are ready, so they connect and
//! migrate together. The test reads the migrations directory at run time,
//! so it holds for whatever migrations exist.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hangar_store::Db;

/// Set in a replica's environment: the database it connects to.
const REPLICA_URL: &str = "HANGAR_TEST_MIGRATE_REPLICA_URL";
/// The barrier's directory: each replica writes `ready-N`, then waits for
/// `go`.
const BARRIER_DIR: &str = "HANGAR_TEST_MIGRATE_BARRIER";
const REPLICA_INDEX: &str = "HANGAR_TEST_MIGRATE_INDEX";

const REPLICAS: usize = 3;
/// Everything here takes well under a second; the bound only keeps a hung
/// replica from hanging the test run.
const BOUND: Duration = Duration::from_secs(60);

/// The PostgreSQL migrations as `(version, file name)`, in order.
fn migrations() -> Vec<(i64, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut found: Vec<(i64, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .map(|name| {
            let version = name.split('_').next().unwrap().parse().unwrap();
            (version, name)
        })
        .collect();
    found.sort();
    found
}

/// Waits until `done` holds, checking every millisecond, or panics after
/// [`BOUND`].
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < BOUND, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// This process as a replica: ready, wait for the others, connect.
fn replica(url: &str) {
    let barrier = PathBuf::from(std::env::var(BARRIER_DIR).unwrap());
    let index = std::env::var(REPLICA_INDEX).unwrap();
    std::fs::write(barrier.join(format!("ready-{index}")), b"").unwrap();
    wait_for("the go signal", || barrier.join("go").exists());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = Db::connect(url)
            .await
            .unwrap_or_else(|e| panic!("replica {index}: {e}"));
        db.close().await;
    });
}

/// Starts the replicas on `url`, releases them together and checks that
/// each one connected.
fn run_replicas(test: &str, url: &str) {
    let barrier = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<Child> = (0..REPLICAS)
        .map(|i| {
            Command::new(&exe)
                .args([test, "--exact", "--nocapture", "--test-threads=1"])
                .env(REPLICA_URL, url)
                .env(BARRIER_DIR, barrier.path())
                .env(REPLICA_INDEX, i.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    wait_for("every replica to be ready", || {
        (0..REPLICAS).all(|i| barrier.path().join(format!("ready-{i}")).exists())
    });
    std::fs::write(barrier.path().join("go"), b"").unwrap();

    let start = Instant::now();
    let mut failures = Vec::new();
    for (i, child) in children.iter_mut().enumerate() {
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > BOUND {
                // Ours, by its handle: no other process is touched.
                let _ = child.kill();
                break child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if !status.success() {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
            }
            let mut out = String::new();
            if let Some(mut stdout) = child.stdout.take() {
                let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
            }
            failures.push(format!("replica {i}: {status}\n{out}\n{err}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

/// `_sqlx_migrations` holds each migration of the directory once, applied.
async fn assert_migrated_once(url: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    let expected: Vec<(i64, bool)> = migrations().iter().map(|(v, _)| (*v, true)).collect();
    assert_eq!(applied, expected);
}

/// Applies the first `n` migrations only, as an older Hangar would have.
async fn migrate_partly(url: &str, n: usize) {
    let older = tempfile::tempdir().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    for (_, name) in migrations().iter().take(n) {
        std::fs::copy(dir.join(name), older.path().join(name)).unwrap();
    }
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::migrate::Migrator::new(older.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[test]
fn three_replicas_on_an_empty_database_migrate_it_once() {
    if let Ok(url) = std::env::var(REPLICA_URL) {
        return replica(&url);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pg = rt.block_on(hangar_testkit::TestDatabase::create());
    run_replicas(
        "three_replicas_on_an_empty_database_migrate_it_once",
        pg.url(),
    );
    rt.block_on(assert_migrated_once(pg.url()));
    rt.block_on(async move { drop(pg) });
}

#[test]
fn three_replicas_on_an_older_database_finish_its_migrations_once() {
    if let Ok(url) = std::env::var(REPLICA_URL) {
        return replica(&url);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pg = rt.block_on(hangar_testkit::TestDatabase::create());
    // Half of them applied already (none while there is only one).
    rt.block_on(migrate_partly(pg.url(), migrations().len() / 2));
    run_replicas(
        "three_replicas_on_an_older_database_finish_its_migrations_once",
        pg.url(),
    );
    rt.block_on(assert_migrated_once(pg.url()));
    rt.block_on(async move { drop(pg) });
}
