//! The artifact copy: files named by the source's rows, streamed into the
//! target artifact store and verified against their names on the way.

use std::path::{Path, PathBuf};

use super::{ArtifactProgress, CopyError};
use crate::{ArtifactStore, Missing, StoreError};

/// Where a data directory's artifact directory keeps `digest`
/// (`sha256/ab/abcd…`), computed here rather than by opening an
/// [`ArtifactStore`] on the source, which would tidy (write to) it.
fn artifact_path(root: &Path, digest: &str) -> Result<PathBuf, StoreError> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        })
        .ok_or_else(|| StoreError::Invalid(format!("bad digest {digest:?}")))?;
    Ok(root.join("sha256").join(&hex[..2]).join(hex))
}

/// Opens the artifact store a `--to-artifacts` URL names: a directory,
/// `file://PATH` or `s3://BUCKET/PREFIX` (S3 settings from the standard
/// `AWS_*` variables). For object storage `cache` is the copying process's
/// local cache: a directory of its own, which the caller removes afterwards.
pub async fn open_artifact_target(url: &str, cache: &Path) -> Result<ArtifactStore, CopyError> {
    let path = url.strip_prefix("file://").unwrap_or(url);
    if path.is_empty() || (path.contains("://") && !url.starts_with("s3://")) {
        return Err(CopyError::ArtifactTarget(
            url.to_string(),
            "expected a directory, file://PATH or s3://BUCKET/PREFIX".into(),
        ));
    }
    Ok(ArtifactStore::connect(Some(url), cache.to_path_buf()).await?)
}

/// Copies the artifacts named by `digests` from the artifact directory
/// `from` (a data directory's `artifacts/`) into `to`, streaming each file
/// through an upload of the target store (so it is hashed on the way and
/// committed under its address only when complete) and refusing any file
/// whose content does not hash to its name. An artifact the target already
/// holds is kept as it is (content addressing: same name, same bytes).
pub async fn copy_artifacts(
    from: &Path,
    to: &ArtifactStore,
    digests: &[String],
    mut progress: impl FnMut(ArtifactProgress),
) -> Result<ArtifactProgress, CopyError> {
    let mut files = Vec::with_capacity(digests.len());
    let mut state = ArtifactProgress {
        bytes: 0,
        total_bytes: 0,
        files: 0,
        total_files: digests.len() as u64,
    };
    for digest in digests {
        let path = artifact_path(from, digest)?;
        let size = match tokio::fs::metadata(&path).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(Missing::Artifact(digest.clone())).into())
            }
            Err(e) => return Err(StoreError::from(e).into()),
        };
        state.total_bytes += size;
        files.push((digest, path));
    }
    progress(state);
    let mut buf = vec![0u8; 1 << 20];
    for (digest, path) in files {
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(StoreError::from)?;
        let mut upload = to.begin(u64::MAX).await?;
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf)
                .await
                .map_err(StoreError::from)?;
            if n == 0 {
                break;
            }
            upload.write(&buf[..n]).await?;
            state.bytes += n as u64;
            progress(state);
        }
        let staged = upload.finish().await?;
        if staged.artifact().digest != *digest {
            return Err(StoreError::Corrupt {
                digest: digest.clone(),
                actual: staged.artifact().digest.clone(),
            }
            .into());
        }
        staged.commit().await?;
        state.files += 1;
        progress(state);
    }
    Ok(state)
}
