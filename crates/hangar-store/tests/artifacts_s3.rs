//! Artifacts in S3-compatible object storage, against a real S3 server
//! (`s3s-fs` on loopback with SigV4 checked, started by each test:
//! `hangar_testkit::S3Server`). What one process pushes another loads;
//! objects are created, never replaced; a corrupt object never reaches a
//! cache; an unreachable store fails pushes but not cached loads; large
//! files go up in parts and a killed upload leaves nothing visible.
//!
//! Some tests run a second process: this test binary again, running only
//! [`child`] with `HANGAR_ARTIFACTS_CHILD` saying what to do, configured by
//! the standard `AWS_*` variables alone, as a server would be.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hangar_store::{ArtifactStore, StoreError, StoredArtifact};
use hangar_testkit::S3Server;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};

/// Every test's bound: a hang fails instead of stalling the suite.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The key prefix the tests give Hangar.
const PREFIX: &str = "hangar/artifacts";

async fn bounded<F: std::future::Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("the test finished in time");
}

/// A store on `server` with `cache` as its local directory.
async fn store_on(server: &S3Server, cache: &Path) -> ArtifactStore {
    ArtifactStore::connect_with(
        Some(&server.url(PREFIX)),
        cache.to_path_buf(),
        &server.env(),
    )
    .await
    .unwrap()
}

/// A client of the bucket of its own, to look behind Hangar's back.
fn bucket(server: &S3Server) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(server.endpoint())
        .with_bucket_name(server.bucket())
        .with_access_key_id(server.access_key())
        .with_secret_access_key(server.secret_key())
        .with_region("us-east-1")
        .with_allow_http(true)
        .build()
        .unwrap()
}

fn hex_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The object key of some content: `PREFIX/sha256/ab/abcd…`.
fn key_of(bytes: &[u8]) -> Key {
    let hex = hex_of(bytes);
    Key::from(format!("{PREFIX}/sha256/{}/{hex}", &hex[..2]))
}

async fn push(store: &ArtifactStore, body: &[u8]) -> Result<StoredArtifact, StoreError> {
    let mut up = store.begin(1 << 30).await?;
    for chunk in body.chunks(1 << 20) {
        up.write(chunk).await?;
    }
    up.finish().await?.commit().await
}

/// Deterministic bytes that do not compress or repeat (splitmix64).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Files under a directory, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

async fn listed(bucket: &AmazonS3) -> Vec<String> {
    bucket
        .list(Some(&Key::from(PREFIX)))
        .map(|m| m.unwrap().location.to_string())
        .collect()
        .await
}

/// Runs this binary's [`child`] with `role` and `vars` (plus the server's
/// `AWS_*` variables): the other process. Its output goes to `log`, shown
/// when it fails.
fn child_command(server: &S3Server, role: &str, vars: &[(&str, String)], log: &Path) -> Command {
    let out = std::fs::File::create(log).unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env("HANGAR_ARTIFACTS_CHILD", role)
        .env("HANGAR_ARTIFACTS_URL", server.url(PREFIX))
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    // Whatever the parent's environment holds, the child sees the server's.
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    server.apply_env(&mut cmd);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// Waits for a child within a bound, killing it if it overruns.
fn wait_bounded(child: &mut std::process::Child, bound: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child process did not finish within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The other process. Does nothing unless `HANGAR_ARTIFACTS_CHILD` says
/// what to do; then its store is configured by `ArtifactStore::connect`
/// from the environment alone.
#[tokio::test]
async fn child() {
    let Ok(role) = std::env::var("HANGAR_ARTIFACTS_CHILD") else {
        return;
    };
    let url = std::env::var("HANGAR_ARTIFACTS_URL").unwrap();
    let cache = PathBuf::from(std::env::var("HANGAR_ARTIFACTS_CACHE").unwrap());
    let store = ArtifactStore::connect(Some(&url), cache).await.unwrap();
    match role.as_str() {
        // Loads a digest and checks its bytes' hash.
        "load" => {
            let digest = std::env::var("HANGAR_ARTIFACTS_DIGEST").unwrap();
            let bytes = store.read_verified(&digest).await.unwrap();
            assert_eq!(format!("sha256:{}", hex_of(&bytes)), digest);
            println!("loaded {} bytes", bytes.len());
        }
        // Pushes a large artifact; the parent kills it on the way.
        "push-large" => {
            let size: usize = std::env::var("HANGAR_ARTIFACTS_SIZE")
                .unwrap()
                .parse()
                .unwrap();
            let body = noise(size, 7);
            let a = push(&store, &body).await.unwrap();
            println!("pushed {}", a.digest);
        }
        other => panic!("unknown child role {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_pushed_by_one_process_is_loaded_by_another_from_s3() {
    bounded(async {
        let server = S3Server::start();
        let cache = tempfile::tempdir().unwrap();
        let store = store_on(&server, cache.path()).await;
        assert!(store.is_remote());
        let body = b"an onnx model, say".to_vec();
        let a = push(&store, &body).await.unwrap();
        assert_eq!(a.digest, format!("sha256:{}", hex_of(&body)));
        assert_eq!(a.size_bytes, body.len() as u64);

        // In the bucket under its content address, and nothing else there.
        let bucket = bucket(&server);
        assert_eq!(listed(&bucket).await, vec![key_of(&body).to_string()]);
        let remote = bucket.get(&key_of(&body)).await.unwrap().bytes().await;
        assert_eq!(remote.unwrap().as_ref(), body.as_slice());
        // And in this process's cache.
        assert_eq!(store.read_verified(&a.digest).await.unwrap(), body);

        // Another process with an empty cache, configured by AWS_* alone.
        let other_cache = tempfile::tempdir().unwrap();
        let log = server.dir().join("child.log");
        let mut child = child_command(
            &server,
            "load",
            &[
                ("HANGAR_ARTIFACTS_DIGEST", a.digest.clone()),
                (
                    "HANGAR_ARTIFACTS_CACHE",
                    other_cache.path().display().to_string(),
                ),
            ],
            &log,
        )
        .spawn()
        .unwrap();
        let status = wait_bounded(&mut child, Duration::from_secs(60));
        assert!(
            status.success(),
            "the other process failed ({status}):\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        // It kept what it loaded in its cache, and nothing half-done.
        let cached = files_under(other_cache.path());
        assert_eq!(cached.len(), 1, "{cached:?}");
        assert_eq!(std::fs::read(&cached[0]).unwrap(), body);
        assert!(cached[0].ends_with(format!("sha256/{}/{}", &hex_of(&body)[..2], hex_of(&body))));

        // A third store here, with an empty cache, loads it the same way,
        // and its second load is served from the cache (the server is
        // gone by then).
        let third_cache = tempfile::tempdir().unwrap();
        let third = store_on(&server, third_cache.path()).await;
        assert!(!third.file_path(&a.digest).unwrap().exists());
        let path = third.local_path(&a.digest).await.unwrap();
        assert_eq!(std::fs::read(path).unwrap(), body);
        assert_eq!(third.read_verified(&a.digest).await.unwrap(), body);
        let mut server = server;
        server.stop();
        assert_eq!(third.read_verified(&a.digest).await.unwrap(), body);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_push_of_the_same_digest_never_replaces_the_object() {
    bounded(async {
        let server = S3Server::start();
        let bucket = bucket(&server);
        let cache = tempfile::tempdir().unwrap();
        let store = store_on(&server, cache.path()).await;

        // The same bytes twice, from two stores: one object, untouched by
        // the second push.
        let body = b"the same model twice".to_vec();
        let first = push(&store, &body).await.unwrap();
        let before = bucket.head(&key_of(&body)).await.unwrap();
        let other_cache = tempfile::tempdir().unwrap();
        let other = store_on(&server, other_cache.path()).await;
        assert_eq!(push(&other, &body).await.unwrap(), first);
        let after = bucket.head(&key_of(&body)).await.unwrap();
        assert_eq!(after.e_tag, before.e_tag);
        assert_eq!(after.last_modified, before.last_modified);
        assert_eq!(listed(&bucket).await.len(), 1);

        // Proof that nothing is written over an object: whatever sits at
        // a digest's key stays there, in one put (small) and in parts
        // (large, looked up before uploading).
        for body in [b"small, one put".to_vec(), noise(20 << 20, 1)] {
            let key = key_of(&body);
            bucket
                .put(&key, PutPayload::from_static(b"planted first"))
                .await
                .unwrap();
            let planted = bucket.head(&key).await.unwrap();
            push(&store, &body).await.unwrap();
            let now = bucket.head(&key).await.unwrap();
            assert_eq!(now.e_tag, planted.e_tag);
            assert_eq!(now.size, planted.size);
            let bytes = bucket.get(&key).await.unwrap().bytes().await.unwrap();
            assert_eq!(bytes.as_ref(), b"planted first");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_object_is_refused_and_never_cached() {
    bounded(async {
        let server = S3Server::start();
        let bucket = bucket(&server);
        let cache = tempfile::tempdir().unwrap();
        let store = store_on(&server, cache.path()).await;
        let body = b"model bytes as pushed".to_vec();
        let a = push(&store, &body).await.unwrap();
        // Someone changes the object behind Hangar's back.
        bucket
            .put(&key_of(&body), PutPayload::from_static(b"tampered"))
            .await
            .unwrap();

        let fresh = tempfile::tempdir().unwrap();
        let reader = store_on(&server, fresh.path()).await;
        match reader.read_verified(&a.digest).await {
            Err(StoreError::Corrupt { digest, actual }) => {
                assert_eq!(digest, a.digest);
                assert_eq!(actual, format!("sha256:{}", hex_of(b"tampered")));
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        // Nothing reached the cache, not even a temporary file.
        assert_eq!(files_under(fresh.path()), Vec::<PathBuf>::new());

        // A digest nobody pushed is not found (not corrupt, not down).
        let missing = format!("sha256:{}", hex_of(b"never pushed"));
        assert!(matches!(
            reader.read_verified(&missing).await,
            Err(StoreError::NotFound(hangar_store::Missing::Artifact(d))) if d == missing
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_cached_file_is_downloaded_again() {
    bounded(async {
        let server = S3Server::start();
        let cache = tempfile::tempdir().unwrap();
        let store = store_on(&server, cache.path()).await;
        let body = b"bit rot in the cache".to_vec();
        let a = push(&store, &body).await.unwrap();
        std::fs::write(store.file_path(&a.digest).unwrap(), b"rotten").unwrap();
        assert_eq!(store.read_verified(&a.digest).await.unwrap(), body);
        assert_eq!(
            std::fs::read(store.file_path(&a.digest).unwrap()).unwrap(),
            body
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_s3_down_a_push_fails_as_unavailable_and_cached_loads_go_on() {
    bounded(async {
        let mut server = S3Server::start();
        let cache = tempfile::tempdir().unwrap();
        let store = store_on(&server, cache.path()).await;
        let cached = push(&store, b"pushed while it was up").await.unwrap();
        let elsewhere = b"pushed by another replica".to_vec();
        let other_cache = tempfile::tempdir().unwrap();
        let other = store_on(&server, other_cache.path()).await;
        let not_cached = push(&other, &elsewhere).await.unwrap();
        assert!(store.probe().await.is_ok());

        server.stop();
        let started = Instant::now();
        let mut up = store.begin(1024).await.unwrap();
        up.write(b"pushed while it is down").await.unwrap();
        let staged = up.finish().await.unwrap();
        let digest = staged.artifact().digest.clone();
        let recorded = std::sync::atomic::AtomicBool::new(false);
        let result = staged
            .commit_with(|_| async {
                recorded.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert!(!recorded.into_inner(), "no record without the object");
        assert!(
            matches!(result, Err(StoreError::ArtifactsUnavailable(_))),
            "{result:?}"
        );
        // Refused within seconds, not after minutes of retries.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
        // Nothing of it was kept.
        assert!(matches!(
            store.read_verified(&digest).await,
            Err(StoreError::ArtifactsUnavailable(_))
        ));
        assert!(!store.file_path(&digest).unwrap().exists());
        assert_eq!(
            std::fs::read_dir(cache.path().join("tmp")).unwrap().count(),
            0
        );
        // What is cached is still served; what is not, is unavailable.
        assert_eq!(
            store.read_verified(&cached.digest).await.unwrap(),
            b"pushed while it was up"
        );
        assert!(matches!(
            store.read_verified(&not_cached.digest).await,
            Err(StoreError::ArtifactsUnavailable(_))
        ));
        assert!(matches!(
            store.probe().await,
            Err(StoreError::ArtifactsUnavailable(_))
        ));

        // It comes back by itself when the server does.
        server.restart();
        assert_eq!(
            store.read_verified(&not_cached.digest).await.unwrap(),
            elsewhere
        );
        push(&store, b"pushed while it is down").await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_refused_as_unavailable() {
    bounded(async {
        let server = S3Server::start();
        let cache = tempfile::tempdir().unwrap();
        let mut settings = server.env();
        for (k, v) in &mut settings {
            if k == "AWS_SECRET_ACCESS_KEY" {
                v.push_str("-wrong");
            }
        }
        let store = ArtifactStore::connect_with(
            Some(&server.url(PREFIX)),
            cache.path().to_path_buf(),
            &settings,
        )
        .await
        .unwrap();
        let result = push(&store, b"signed with the wrong key").await;
        assert!(
            matches!(result, Err(StoreError::ArtifactsUnavailable(_))),
            "{result:?}"
        );
        assert!(listed(&bucket(&server)).await.is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_artifact_goes_up_in_parts_and_comes_back_whole() {
    bounded(async {
        let server = S3Server::start();
        let bucket = bucket(&server);
        let cache = tempfile::tempdir().unwrap();
        let store = store_on(&server, cache.path()).await;
        let body = noise(64 << 20, 42);
        let a = push(&store, &body).await.unwrap();
        assert_eq!(a.size_bytes, 64 << 20);

        let meta = bucket.head(&key_of(&body)).await.unwrap();
        assert_eq!(meta.size, 64 << 20);
        // A multipart upload's ETag ends in its number of parts: 8 of
        // 8 MiB.
        let etag = meta.e_tag.unwrap();
        assert!(etag.trim_matches('"').ends_with("-8"), "{etag}");

        let fresh = tempfile::tempdir().unwrap();
        let reader = store_on(&server, fresh.path()).await;
        let loaded = reader.read_verified(&a.digest).await.unwrap();
        assert!(loaded == body, "the large artifact came back changed");
        // local_path finds it cached now.
        assert_eq!(
            reader.local_path(&a.digest).await.unwrap(),
            reader.file_path(&a.digest).unwrap()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_during_a_multipart_upload_leaves_no_visible_object() {
    bounded(async {
        let server = S3Server::start();
        let bucket = bucket(&server);
        let cache = tempfile::tempdir().unwrap();
        let size = 64usize << 20;
        let log = server.dir().join("child.log");
        let mut child = child_command(
            &server,
            "push-large",
            &[
                ("HANGAR_ARTIFACTS_SIZE", size.to_string()),
                ("HANGAR_ARTIFACTS_CACHE", cache.path().display().to_string()),
            ],
            &log,
        )
        .spawn()
        .unwrap();

        // s3s-fs keeps the parts of an upload in progress as
        // `.upload_id-*.part-N` files beside the buckets: the first one
        // means the upload is under way.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let parts = std::fs::read_dir(server.data_dir())
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(".part-"))
                .count();
            if parts > 0 {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "the child finished before its upload was seen"
            );
            assert!(Instant::now() < deadline, "no part of the upload appeared");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child finished too soon"
        );
        // kill -9, by its PID.
        child.kill().unwrap();
        child.wait().unwrap();

        // Its parts are on the server, but no object is visible.
        let parts_left = std::fs::read_dir(server.data_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".part-"))
            .count();
        assert!(parts_left > 0);
        assert_eq!(listed(&bucket).await, Vec::<String>::new());
        let body = noise(size, 7);
        let key = key_of(&body);
        assert!(matches!(
            bucket.head(&key).await,
            Err(object_store::Error::NotFound { .. })
        ));
        // A later process on the same cache sweeps the killed one's staged
        // file, and pushes the same bytes whole.
        let store = store_on(&server, cache.path()).await;
        assert_eq!(files_under(cache.path()), Vec::<PathBuf>::new());
        let a = push(&store, &body).await.unwrap();
        assert_eq!(bucket.head(&key).await.unwrap().size, size as u64);
        assert_eq!(listed(&bucket).await, vec![key.to_string()]);
        assert_eq!(a.size_bytes, size as u64);
    })
    .await;
}

#[tokio::test]
async fn a_directory_or_file_url_is_a_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let unused = dir.path().join("unused-cache");
    for url in [
        dir.path().join("plain").display().to_string(),
        format!("file://{}", dir.path().join("by-url").display()),
    ] {
        let store = ArtifactStore::connect(Some(&url), unused.clone())
            .await
            .unwrap();
        assert!(!store.is_remote());
        let a = push(&store, b"local").await.unwrap();
        assert_eq!(store.read_verified(&a.digest).await.unwrap(), b"local");
        assert!(store.file_path(&a.digest).unwrap().starts_with(dir.path()));
        assert!(store.probe().await.is_ok());
    }
    assert!(
        !unused.exists(),
        "an explicit directory is the store itself"
    );
    let default = ArtifactStore::connect(None, dir.path().join("default"))
        .await
        .unwrap();
    assert_eq!(default.root(), dir.path().join("default"));
    for bad in ["s3://", "gs://bucket/x", "file://"] {
        assert!(
            matches!(
                ArtifactStore::connect(Some(bad), unused.clone()).await,
                Err(StoreError::Invalid(_))
            ),
            "{bad}"
        );
    }
}
