//! Content-addressed artifact files: `artifacts/sha256/ab/abcd…`.
//!
//! An upload streams into a temporary file while hashing. A finished upload
//! is [`Staged`]: complete and fsynced, but still under `tmp/`, where the
//! caller checks it (does the model load? does the CSV parse?). Only
//! [`Staged::commit`] moves it to its content address, so a crash mid-upload
//! or a refused upload never leaves a file behind. At start, `tmp/` is
//! emptied and [`ArtifactStore::sweep_unreferenced`] removes addressed files
//! that no record names (a crash between the move and the record).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::fs;
use tokio::io::AsyncWriteExt;

use crate::StoreError;

#[derive(Debug, Clone)]
pub struct ArtifactStore {
    root: PathBuf,
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
    artifact: StoredArtifact,
}

/// An upload in progress. Dropping it without [`Upload::finish`] removes the
/// temporary file.
#[derive(Debug)]
pub struct Upload {
    file: Option<fs::File>,
    tmp: PathBuf,
    final_dir: PathBuf,
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
        Ok(ArtifactStore { root })
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
                return Err(StoreError::NotFound(format!("artifact {digest}")))
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
    /// artifact already stored is kept as it is.
    pub async fn commit(mut self) -> Result<StoredArtifact, StoreError> {
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
            } else {
                fs::rename(&tmp, &dest).await?;
                // Make the rename itself durable.
                if let Ok(d) = fs::File::open(&dir).await {
                    let _ = d.sync_all().await;
                }
            }
            Ok::<_, StoreError>(())
        }
        .await;
        if result.is_err() {
            let _ = fs::remove_file(&tmp).await;
        }
        result.map(|()| self.artifact.clone())
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
            Err(StoreError::NotFound(_))
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
