//! Content-addressed artifacts: `sha256/ab/abcd…`, in a local directory
//! and, when one is configured, in S3-compatible object storage with the
//! local directory as its cache ([`remote`]).
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
//!
//! With object storage, a commit first sends the checked file to its
//! content-addressed object (create-only, so an object is never replaced),
//! then keeps it in the cache. A load reads the cache and, on a miss,
//! downloads the object into the cache, refusing one whose bytes do not
//! hash to its digest. The object store being unreachable fails pushes
//! ([`StoreError::ArtifactsUnavailable`]) but not loads of cached files.
//!
//! | location (`connect`)          | artifacts live in      | local directory |
//! |-------------------------------|------------------------|-----------------|
//! | none                          | the local directory    | the store       |
//! | `PATH` or `file://PATH`       | `PATH`                 | the store       |
//! | `s3://BUCKET/PREFIX`          | `PREFIX/sha256/ab/…`   | a cache         |

mod remote;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::fs;
use tokio::io::AsyncWriteExt;

use crate::{Missing, StoreError};
use remote::Remote;

/// The artifact store: a local directory, alone or as the cache of an S3
/// bucket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    root: PathBuf,
    /// Held from a commit's move until its record is written (or the file
    /// taken back): see [`Staged::commit_with`].
    commits: Arc<tokio::sync::Mutex<()>>,
    /// The object storage the local directory caches, if any.
    remote: Option<Remote>,
}

/// Where artifacts live, as a location names it (see [`ArtifactStore::connect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    /// The local directory passed alongside.
    Default,
    /// A directory that is the store itself.
    Dir(PathBuf),
    /// An S3 bucket and the prefix of its keys (no leading or trailing `/`).
    S3 { bucket: String, prefix: String },
}

impl Location {
    fn parse(url: Option<&str>) -> Result<Location, StoreError> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Location::Default);
        };
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StoreError::Invalid(format!(
                    "artifacts location {url:?}: s3:// needs a bucket (s3://BUCKET/PREFIX)"
                )));
            }
            return Ok(Location::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(StoreError::Invalid(format!(
                    "artifacts location {url:?}: file:// needs a directory (file:///var/lib/hangar/artifacts)"
                )));
            }
            return Ok(Location::Dir(PathBuf::from(path)));
        }
        if url.contains("://") {
            return Err(StoreError::Invalid(format!(
                "artifacts location {url:?}: expected a directory, file://PATH or s3://BUCKET/PREFIX"
            )));
        }
        Ok(Location::Dir(PathBuf::from(url)))
    }
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
    remote: Option<Remote>,
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
    remote: Option<Remote>,
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
            remote: None,
        })
    }

    /// Opens the artifact store a location names, `cache_root` being the
    /// local directory (the data directory's `artifacts`):
    ///
    /// - `None`: the local store in `cache_root`, as [`ArtifactStore::open`];
    /// - a directory, or `file://PATH`: the local store in that directory
    ///   (it is the store itself; `cache_root` is not used);
    /// - `s3://BUCKET/PREFIX`: objects `PREFIX/sha256/ab/abcd…` in an S3
    ///   bucket, configured by the standard variables (`AWS_ENDPOINT_URL`,
    ///   `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
    ///   `AWS_REGION`, `AWS_ALLOW_HTTP` for a plain-HTTP endpoint), with
    ///   `cache_root` as the local cache. An endpoint is addressed by path
    ///   (`ENDPOINT/BUCKET/KEY`, as MinIO and SeaweedFS expect) unless
    ///   `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`.
    ///
    /// Nothing is sent to the object store here, so a server starts (and
    /// serves what its cache holds) while the object store is down; see
    /// [`ArtifactStore::probe`].
    pub async fn connect(url: Option<&str>, cache_root: PathBuf) -> Result<Self, StoreError> {
        Self::connect_with(url, cache_root, &[]).await
    }

    /// [`ArtifactStore::connect`] with S3 settings given as `AWS_*` pairs,
    /// applied on top of the process environment (for callers that hold
    /// their settings elsewhere, and tests, which cannot safely change
    /// their own environment).
    pub async fn connect_with(
        url: Option<&str>,
        cache_root: PathBuf,
        settings: &[(String, String)],
    ) -> Result<Self, StoreError> {
        match Location::parse(url)? {
            Location::Default => Self::open(cache_root).await,
            Location::Dir(dir) => Self::open(dir).await,
            Location::S3 { bucket, prefix } => {
                let remote = Remote::s3(&bucket, &prefix, settings)?;
                let mut store = Self::open(cache_root).await?;
                tracing::info!(artifacts = %remote.url(), cache = %store.root.display(), "artifacts in object storage");
                store.remote = Some(remote);
                Ok(store)
            }
        }
    }

    /// Where artifacts live, for logs: the directory, or
    /// `s3://BUCKET/PREFIX (cache DIR)`.
    pub fn location(&self) -> String {
        match &self.remote {
            None => self.root.display().to_string(),
            Some(r) => format!("{} (cache {})", r.url(), self.root.display()),
        }
    }

    /// Whether artifacts live in object storage (the local directory being
    /// its cache).
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// Checks that the object store answers and accepts the credentials
    /// (one HEAD request); always `Ok` for a local store. For a start-up
    /// warning: the store works without it.
    pub async fn probe(&self) -> Result<(), StoreError> {
        match &self.remote {
            None => Ok(()),
            Some(r) => r.probe().await,
        }
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
            remote: self.remote.clone(),
            hasher: Sha256::new(),
            size: 0,
            limit,
            head: Vec::new(),
        })
    }

    /// Reads an artifact and verifies it against its digest. With object
    /// storage, a file missing from the cache is downloaded into it first
    /// (refused, and not cached, when its bytes do not match), and a cached
    /// file that no longer matches is dropped and downloaded again.
    pub async fn read_verified(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path_of(digest)?;
        match fs::read(&path).await {
            Ok(bytes) => {
                let actual = sha256_of(&bytes);
                if actual == digest {
                    return Ok(bytes);
                }
                let Some(remote) = &self.remote else {
                    return Err(StoreError::Corrupt {
                        digest: digest.to_string(),
                        actual,
                    });
                };
                tracing::warn!(%digest, %actual, "a cached artifact is corrupt: downloading it again");
                if let Err(e) = fs::remove_file(&path).await {
                    tracing::warn!(error = %e, "could not remove a corrupt cached artifact");
                }
                self.fetch(remote, digest, &path).await
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match &self.remote {
                None => Err(StoreError::NotFound(Missing::Artifact(digest.to_string()))),
                Some(remote) => self.fetch(remote, digest, &path).await,
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Downloads an object into `tmp/` while hashing it, checks it, reads
    /// it back, then moves it to its place in the cache. (The bytes were
    /// hashed on their way to the file a moment ago: hashing them again
    /// would only double the cost of a first load.)
    async fn fetch(
        &self,
        remote: &Remote,
        digest: &str,
        dest: &Path,
    ) -> Result<Vec<u8>, StoreError> {
        let hex = &digest["sha256:".len()..];
        let tmp = TmpFile(
            self.root
                .join("tmp")
                .join(format!("fetch-{}", uuid::Uuid::new_v4())),
        );
        let actual = format!("sha256:{}", remote.fetch(hex, &tmp.0).await?);
        if actual != digest {
            return Err(StoreError::Corrupt {
                digest: digest.to_string(),
                actual,
            });
        }
        // Read before the move: a failed commit of the same bytes may take
        // the cached file back at any time (see `Staged::commit_with`), and
        // then only the cache entry is lost, not this load.
        let bytes = fs::read(&tmp.0).await?;
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).await?;
        }
        // Replacing a file a concurrent load put there first is harmless:
        // both are the same verified bytes.
        fs::rename(&tmp.0, dest).await?;
        tmp.keep();
        Ok(bytes)
    }

    /// The path of an artifact in the local directory, downloaded into the
    /// cache first when it is missing there (verified while it arrives).
    /// A file already there is not hashed again: who reads it (a streamed
    /// download) verifies as it goes, or uses [`Self::read_verified`].
    pub async fn local_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        let path = self.path_of(digest)?;
        if fs::try_exists(&path).await? {
            return Ok(path);
        }
        match &self.remote {
            None => Err(StoreError::NotFound(Missing::Artifact(digest.to_string()))),
            Some(remote) => {
                self.fetch(remote, digest, &path).await?;
                Ok(path)
            }
        }
    }

    /// Removes addressed files whose digest `keep` does not contain, and
    /// returns how many were removed. Only for start-up, before any upload
    /// can be in flight: an upload commits its file before its record.
    ///
    /// Only the local directory is swept, never object storage: there,
    /// another replica may be between pushing an object and writing the
    /// record that names it. (Objects whose record failed stay: harmless,
    /// since a later push of the same bytes finds and reuses them.)
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

    /// Path of a stored artifact in the local directory, for streaming
    /// downloads; with object storage it may not be cached yet (see
    /// [`Self::local_path`]).
    pub fn file_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        self.path_of(digest)
    }

    /// The local directory: the store itself, or the cache of object
    /// storage.
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
            remote: self.remote.take(),
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
    ///
    /// With object storage the file is first sent to its object
    /// (create-only: an object already there is kept as it is), then kept
    /// in the cache; when the object store cannot be reached nothing is
    /// committed ([`StoreError::ArtifactsUnavailable`]).
    pub async fn commit(mut self) -> Result<StoredArtifact, StoreError> {
        self.push().await?;
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
    ///
    /// With object storage the object is created before the record is
    /// written (a record never names a missing object), and it stays when
    /// the record fails: another replica may have pushed the same bytes and
    /// be writing its own record, and a later push of them reuses it.
    pub async fn commit_with<T, F, Fut>(mut self, record: F) -> Result<T, StoreError>
    where
        F: FnOnce(StoredArtifact) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        self.push().await?;
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

    /// Sends the staged file to object storage, if there is one. Not under
    /// the commit lock: a long upload does not hold up other commits, and
    /// the lock only orders the local move against records.
    async fn push(&mut self) -> Result<(), StoreError> {
        let (Some(remote), Some(tmp)) = (&self.remote, &self.tmp) else {
            return Ok(());
        };
        let hex = &self.artifact.digest["sha256:".len()..];
        let pushed = remote.push(tmp, hex, self.artifact.size_bytes).await?;
        tracing::debug!(digest = %self.artifact.digest, ?pushed, "artifact in object storage");
        Ok(())
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

/// A temporary file removed when dropped, unless kept.
struct TmpFile(PathBuf);

impl TmpFile {
    /// It has been moved to its place: nothing to remove.
    fn keep(mut self) {
        self.0 = PathBuf::new();
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// `sha256:<hex>` of some bytes.
fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
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
mod tests;
