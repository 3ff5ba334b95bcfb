//! Content-addressed artifact files: `artifacts/sha256/ab/abcd…`.
//!
//! An upload streams into a temporary file while hashing. A finished upload
//! is [`Staged`]: complete and fsynced, but still under `tmp/`, where the
//! caller checks it (does the model load? does the CSV parse?). Only
//! [`Staged::commit`] moves it to its content address, so a crash mid-upload
//! or a refused upload never leaves a file behind. [`Staged::commit_with`]
//! also writes the record that names the file and takes the file back out
//! when that record cannot be written (a full disk), so a failed push leaves
//! nothing either. At start, `tmp/` is emptied and
//! [`ArtifactStore::sweep_unreferenced`] removes addressed files that no
//! record names (a crash between the move and the record).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::fs;
use tokio::io::AsyncWriteExt;

use crate::{Missing, StoreError};

#[derive(Debug, Clone)]
pub struct ArtifactStore {
    root: PathBuf,
    /// Held from a commit's move until its record is written (or the file
    /// taken back): see [`Staged::commit_with`].
    commits: Arc<tokio::sync::Mutex<()>>,
}

/// An artifact safely on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArtifact {
    /// `sha256:<hex>`
    pub digest: String,
    pub size_bytes: u64,
}

/// A complete, fsynced upload that is not yet addressable. Dropping it
/// without [`Staged::commit`] removes the file.
#[derive(Debug)]
pub struct Staged {
    tmp: Option<PathBuf>,
    final_dir: PathBuf,
    commits: Arc<tokio::sync::Mutex<()>>,
    artifact: StoredArtifact,
}

/// An upload in progress. Dropping it without [`Upload::finish`] removes the
/// temporary file.
#[derive(Debug)]
pub struct Upload {
    file: Option<fs::File>,
    tmp: PathBuf,
    final_dir: PathBuf,
    commits: Arc<tokio::sync::Mutex<()>>,
    hasher: Sha256,
    size: u64,
    limit: u64,
    head: Vec<u8>,
}

impl ArtifactStore {
    /// Opens (creating) the artifact directory and removes leftovers of
    /// interrupted uploads.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        fs::create_dir_all(root.join("sha256")).await?;
        fs::create_dir_all(root.join("tmp")).await?;
        let mut entries = fs::read_dir(root.join("tmp")).await?;
        while let Some(e) = entries.next_entry().await? {
            tracing::info!(path = %e.path().display(), "removing interrupted upload");
            let _ = fs::remove_file(e.path()).await;
        }
        Ok(ArtifactStore {
            root,
            commits: Arc::default(),
        })
    }

    fn path_of(&self, digest: &str) -> Result<PathBuf, StoreError> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| {
                h.len() == 64
                    && h.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            })
            .ok_or_else(|| StoreError::Invalid(format!("bad digest {digest:?}")))?;
        Ok(self.root.join("sha256").join(&hex[..2]).join(hex))
    }

    /// Starts an upload of at most `limit` bytes.
    pub async fn begin(&self, limit: u64) -> Result<Upload, StoreError> {
        let tmp = self
            .root
            .join("tmp")
            .join(format!("upload-{}", uuid::Uuid::new_v4()));
        // Readable by the server's user only, like the rest of the data
        // directory.
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(&tmp).await?;
        Ok(Upload {
            file: Some(file),
            tmp,
            final_dir: self.root.join("sha256"),
            commits: self.commits.clone(),
            hasher: Sha256::new(),
            size: 0,
            limit,
            head: Vec::new(),
        })
    }

    /// Reads an artifact and verifies it against its digest.
    pub async fn read_verified(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path_of(digest)?;
        let bytes = match fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(Missing::Artifact(digest.to_string())))
            }
            Err(e) => return Err(e.into()),
        };
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if actual != digest {
            return Err(StoreError::Corrupt {
                digest: digest.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Removes addressed files whose digest `keep` does not contain, and
    /// returns how many were removed. Only for start-up, before any upload
    /// can be in flight: an upload commits its file before its record.
    pub async fn sweep_unreferenced(
        &self,
        keep: &std::collections::HashSet<String>,
    ) -> Result<usize, StoreError> {
        let mut removed = 0;
        let mut dirs = fs::read_dir(self.root.join("sha256")).await?;
        while let Some(dir) = dirs.next_entry().await? {
            if !dir.file_type().await?.is_dir() {
                continue;
            }
            let mut files = fs::read_dir(dir.path()).await?;
            let mut left = 0;
            while let Some(f) = files.next_entry().await? {
                let name = f.file_name();
                let digest = format!("sha256:{}", name.to_string_lossy());
                if keep.contains(&digest) {
                    left += 1;
                    continue;
                }
                tracing::info!(%digest, "removing an artifact no version or baseline names");
                match fs::remove_file(f.path()).await {
                    Ok(()) => removed += 1,
                    Err(_) => left += 1,
                }
            }
            if left == 0 {
                let _ = fs::remove_dir(dir.path()).await;
            }
        }
        Ok(removed)
    }

    /// Path of a stored artifact, for streaming downloads.
    pub fn file_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        self.path_of(digest)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Upload {
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(StoreError::TooLarge { limit: self.limit });
        }
        if self.head.len() < 16 {
            let take = (16 - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| StoreError::Invalid("upload already finished".into()))?;
        file.write_all(chunk).await?;
        Ok(())
    }

    /// The first bytes written, for format detection.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Fsyncs the file and hashes it; the result is checked by the caller
    /// and then committed (or dropped, which removes it).
    pub async fn finish(mut self) -> Result<Staged, StoreError> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| StoreError::Invalid("upload already finished".into()))?;
        file.flush().await?;
        file.sync_all().await?;
        drop(file);
        let hex = hex::encode(self.hasher.clone().finalize());
        Ok(Staged {
            tmp: Some(std::mem::take(&mut self.tmp)),
            final_dir: self.final_dir.clone(),
            commits: self.commits.clone(),
            artifact: StoredArtifact {
                digest: format!("sha256:{hex}"),
                size_bytes: self.size,
            },
        })
    }
}

impl Staged {
    pub fn artifact(&self) -> &StoredArtifact {
        &self.artifact
    }

    /// Reads the staged bytes back and verifies them against the digest
    /// computed while they were written.
    pub async fn read_verified(&self) -> Result<Vec<u8>, StoreError> {
        let tmp = self
            .tmp
            .as_ref()
            .ok_or_else(|| StoreError::Invalid("upload already committed".into()))?;
        let bytes = fs::read(tmp).await?;
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if actual != self.artifact.digest {
            return Err(StoreError::Corrupt {
                digest: self.artifact.digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Moves the file into its content address (durably). An identical
    /// artifact already stored is kept as it is. A caller that then records
    /// the artifact should use [`Staged::commit_with`], which takes the file
    /// back when the record fails.
    pub async fn commit(self) -> Result<StoredArtifact, StoreError> {
        let _commit = self.commits.clone().lock_owned().await;
        self.place().await.map(|(artifact, _)| artifact)
    }

    /// Moves the file into its content address, then runs `record` (the
    /// database row that names it). When `record` fails — a full disk, for
    /// one — a file this commit put in place is removed again, so nothing
    /// is left behind; an identical file that was already there stays.
    ///
    /// Commits are serialised from the move to the record, so no other
    /// commit of the same bytes can find the file in place, keep it, and
    /// have its record name a file that is then removed.
    pub async fn commit_with<T, F, Fut>(self, record: F) -> Result<T, StoreError>
    where
        F: FnOnce(StoredArtifact) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let _commit = self.commits.clone().lock_owned().await;
        let (artifact, placed) = self.place().await?;
        match record(artifact).await {
            Ok(out) => Ok(out),
            Err(e) => {
                if let Some(path) = placed {
                    if let Err(rm) = fs::remove_file(&path).await {
                        // Swept at the next start: no record names it.
                        tracing::warn!(error = %rm, "could not remove an artifact whose record failed");
                    }
                }
                Err(e)
            }
        }
    }

    /// The move itself; says where the file went when this call put it
    /// there (`None` when an identical file was already stored).
    async fn place(mut self) -> Result<(StoredArtifact, Option<PathBuf>), StoreError> {
        let tmp = self
            .tmp
            .take()
            .ok_or_else(|| StoreError::Invalid("upload already committed".into()))?;
        let hex = &self.artifact.digest["sha256:".len()..];
        let dir = self.final_dir.join(&hex[..2]);
        let result = async {
            fs::create_dir_all(&dir).await?;
            let dest = dir.join(hex);
            if fs::try_exists(&dest).await? {
                fs::remove_file(&tmp).await?;
                Ok(None)
            } else {
                fs::rename(&tmp, &dest).await?;
                // Make the rename itself durable.
                if let Ok(d) = fs::File::open(&dir).await {
                    let _ = d.sync_all().await;
                }
                Ok::<_, StoreError>(Some(dest))
            }
        }
        .await;
        if result.is_err() {
            let _ = fs::remove_file(&tmp).await;
        }
        result.map(|placed| (self.artifact.clone(), placed))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(tmp) = &self.tmp {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
