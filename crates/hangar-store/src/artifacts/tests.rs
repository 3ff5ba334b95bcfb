//! The local artifact store and URL parsing (object storage has its own
//! tests, against a real S3 server, in `tests/artifacts_s3.rs`).

use super::*;

/// What each artifacts location names.
#[test]
fn locations_are_parsed() {
    fn check(url: Option<&str>, expected: Result<Location, ()>) {
        assert_eq!(Location::parse(url).map_err(|_| ()), expected, "{url:?}");
    }
    let s3 = |bucket: &str, prefix: &str| {
        Ok(Location::S3 {
            bucket: bucket.into(),
            prefix: prefix.into(),
        })
    };
    let dir = |p: &str| Ok(Location::Dir(PathBuf::from(p)));
    check(None, Ok(Location::Default));
    check(Some(""), Ok(Location::Default));
    check(
        Some("/var/lib/hangar/artifacts"),
        dir("/var/lib/hangar/artifacts"),
    );
    check(Some("relative/dir"), dir("relative/dir"));
    check(Some("file:///srv/artifacts"), dir("/srv/artifacts"));
    check(Some("s3://models/hangar"), s3("models", "hangar"));
    check(Some("s3://models/a/b/"), s3("models", "a/b"));
    check(Some("s3://models"), s3("models", ""));
    check(Some("s3://models/"), s3("models", ""));
    check(Some("s3://"), Err(()));
    check(Some("s3:///prefix"), Err(()));
    check(Some("file://"), Err(()));
    check(Some("gs://bucket/prefix"), Err(()));
}

/// The object key is the local layout under the prefix; nothing is
/// sent when connecting.
#[tokio::test]
async fn object_keys_are_content_addressed_under_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let settings: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_ACCESS_KEY_ID", "k"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    let hex = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
    for (url, key) in [
        (
            "s3://models/hangar/prod",
            format!("hangar/prod/sha256/b9/{hex}"),
        ),
        ("s3://models", format!("sha256/b9/{hex}")),
    ] {
        let store = ArtifactStore::connect_with(Some(url), dir.path().join("cache"), &settings)
            .await
            .unwrap();
        let remote = store.remote.as_ref().unwrap();
        assert_eq!(remote.key(hex).to_string(), key);
        assert!(store.location().starts_with(url), "{}", store.location());
    }
    let bad = [("AWS_NO_SUCH_SETTING".to_string(), "1".to_string())];
    assert!(matches!(
        ArtifactStore::connect_with(Some("s3://models"), dir.path().join("c"), &bad).await,
        Err(StoreError::Invalid(_))
    ));
}

#[tokio::test]
async fn upload_is_content_addressed_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).await.unwrap();
    let mut up = store.begin(1024).await.unwrap();
    up.write(b"hello ").await.unwrap();
    up.write(b"world").await.unwrap();
    let staged = up.finish().await.unwrap();
    // Checked before it is addressable.
    assert_eq!(staged.read_verified().await.unwrap(), b"hello world");
    assert!(store
        .read_verified(&staged.artifact().digest)
        .await
        .is_err());
    let a = staged.commit().await.unwrap();
    assert_eq!(
        a.digest,
        "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    );
    assert_eq!(a.size_bytes, 11);
    assert_eq!(
        store.read_verified(&a.digest).await.unwrap(),
        b"hello world"
    );
    // tmp is empty after finishing
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}

#[tokio::test]
async fn oversize_and_abandoned_uploads_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).await.unwrap();
    let mut up = store.begin(4).await.unwrap();
    assert!(matches!(
        up.write(b"12345").await,
        Err(StoreError::TooLarge { limit: 4 })
    ));
    drop(up);
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("sha256"))
            .unwrap()
            .count(),
        0
    );
}

/// Issue 11, defect 9: a refused upload (staged, checked, dropped)
/// leaves nothing anywhere.
#[tokio::test]
async fn a_staged_upload_that_is_dropped_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).await.unwrap();
    let mut up = store.begin(100).await.unwrap();
    up.write(b"refused model").await.unwrap();
    let staged = up.finish().await.unwrap();
    assert_eq!(staged.read_verified().await.unwrap(), b"refused model");
    drop(staged);
    for sub in ["tmp", "sha256"] {
        assert_eq!(
            std::fs::read_dir(dir.path().join(sub)).unwrap().count(),
            0,
            "{sub}"
        );
    }
}

async fn staged(store: &ArtifactStore, body: &[u8]) -> Staged {
    let mut up = store.begin(100).await.unwrap();
    up.write(body).await.unwrap();
    up.finish().await.unwrap()
}

fn addressed_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("sha256"))
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum()
}

/// Issue 11 (a full disk): the file is placed, the record that would
/// name it fails, and the file goes again: nothing is left behind.
#[tokio::test]
async fn a_commit_whose_record_fails_takes_its_file_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).await.unwrap();
    let result: Result<(), _> = staged(&store, b"no room for its row")
        .await
        .commit_with(|a| async move {
            // The file is in place while the record is written.
            assert!(store.file_path(&a.digest).unwrap().is_file());
            Err(StoreError::StorageFull("database or disk is full".into()))
        })
        .await;
    assert!(matches!(result, Err(StoreError::StorageFull(_))));
    assert_eq!(addressed_files(dir.path()), 0);
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}

/// The same bytes stored before (another version names them) stay when
/// a later commit of them fails to record.
#[tokio::test]
async fn a_failed_record_keeps_an_identical_file_stored_before() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).await.unwrap();
    let kept = staged(&store, b"shared bytes")
        .await
        .commit_with(|a| async move { Ok(a) })
        .await
        .unwrap();
    let result: Result<(), _> = staged(&store, b"shared bytes")
        .await
        .commit_with(|_| async { Err(StoreError::Conflict("no".into())) })
        .await;
    assert!(result.is_err());
    assert_eq!(
        store.read_verified(&kept.digest).await.unwrap(),
        b"shared bytes"
    );
    assert_eq!(addressed_files(dir.path()), 1);
}

#[tokio::test]
async fn unreferenced_artifacts_are_swept_and_referenced_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).await.unwrap();
    let mut kept = Vec::new();
    for body in [b"kept".as_slice(), b"orphan"] {
        let mut up = store.begin(100).await.unwrap();
        up.write(body).await.unwrap();
        kept.push(up.finish().await.unwrap().commit().await.unwrap());
    }
    let keep = std::collections::HashSet::from([kept[0].digest.clone()]);
    assert_eq!(store.sweep_unreferenced(&keep).await.unwrap(), 1);
    assert_eq!(store.read_verified(&kept[0].digest).await.unwrap(), b"kept");
    assert!(matches!(
        store.read_verified(&kept[1].digest).await,
        Err(StoreError::NotFound(Missing::Artifact(d))) if d == kept[1].digest
    ));
    assert_eq!(store.sweep_unreferenced(&keep).await.unwrap(), 0);
}

#[tokio::test]
async fn leftovers_of_a_crash_are_swept_at_open() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    std::fs::write(dir.path().join("tmp/upload-x"), b"partial").unwrap();
    ArtifactStore::open(dir.path()).await.unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}

#[tokio::test]
async fn a_corrupted_file_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path()).await.unwrap();
    let mut up = store.begin(100).await.unwrap();
    up.write(b"model bytes").await.unwrap();
    let a = up.finish().await.unwrap().commit().await.unwrap();
    std::fs::write(store.file_path(&a.digest).unwrap(), b"tampered").unwrap();
    assert!(matches!(
        store.read_verified(&a.digest).await,
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.read_verified("sha256:../../etc").await,
        Err(StoreError::Invalid(_))
    ));
}
