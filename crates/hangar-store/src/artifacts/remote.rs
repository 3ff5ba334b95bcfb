//! The object-storage side of the artifact store: S3-compatible storage
//! (AWS, MinIO, Ceph, SeaweedFS, R2 …) through the `object_store` crate,
//! under the same content address as the local files,
//! `PREFIX/sha256/ab/abcd…`.
//!
//! Objects are only ever created, never replaced: a push happens after the
//! digest is known and re-hashes what it sends. A file up to
//! [`MULTIPART_THRESHOLD`] goes up in one conditional put
//! (`If-None-Match: *`), so a second push of the same digest leaves the
//! first object as it is. A larger file goes up in parts, read from the
//! staged file a chunk at a time, after a look-up of its key (the
//! completion of a multipart upload cannot be made conditional through
//! object_store: see [`Remote::push`]); an interrupted multipart upload is
//! never completed, so it leaves no visible object. A load streams the
//! object into a temporary file while hashing it, so a corrupt object
//! never reaches the cache.
//!
//! Every failure of the object store itself (unreachable, refusing the
//! credentials, a server error) is [`StoreError::ArtifactsUnavailable`]:
//! pushes fail with a clear answer, while loads from the local cache go on.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as Key;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig, WriteMultipart,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Missing, StoreError};

/// Files up to this size go up in one conditional PUT (read whole: small);
/// larger ones in parts.
pub(crate) const MULTIPART_THRESHOLD: u64 = 16 << 20;
/// The size of one part of a multipart upload (S3 wants at least 5 MiB for
/// every part but the last; 8 MiB parts reach 78 GiB in 10 000 parts).
const PART_SIZE: usize = 8 << 20;
/// Parts sent at once. With the part being filled, at most
/// `(PARTS_IN_FLIGHT + 1) * PART_SIZE` bytes of an upload are in memory,
/// whatever the artifact's size.
const PARTS_IN_FLIGHT: usize = 2;
/// One read from the staged file.
const READ_CHUNK: usize = 1 << 20;

/// An S3 bucket and the prefix under which artifacts are kept.
#[derive(Debug, Clone)]
pub(crate) struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: Key,
    /// `s3://BUCKET/PREFIX`, for messages.
    url: String,
}

/// What a push found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Created,
    /// An object with this digest was there already (the same content:
    /// the key is its digest); it was left as it is.
    AlreadyThere,
}

impl Remote {
    /// An S3 bucket configured from the standard `AWS_*` variables
    /// (`AmazonS3Builder::from_env`: `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
    /// `AWS_ALLOW_HTTP` …), with `settings` (the same names) applied on top.
    /// Nothing is sent until the first push or load.
    pub(crate) fn s3(
        bucket: &str,
        prefix: &str,
        settings: &[(String, String)],
    ) -> Result<Remote, StoreError> {
        let mut builder = AmazonS3Builder::from_env();
        for (name, value) in settings {
            // The same mapping from_env applies to the environment.
            let key: AmazonS3ConfigKey = name
                .to_ascii_lowercase()
                .parse()
                .map_err(|_| StoreError::Invalid(format!("unknown S3 setting {name}")))?;
            builder = builder.with_config(key, value);
        }
        let endpoint = [AmazonS3ConfigKey::Endpoint, AmazonS3ConfigKey::S3Endpoint]
            .iter()
            .any(|k| builder.get_config_value(k).is_some());
        let virtual_hosted = builder
            .get_config_value(&AmazonS3ConfigKey::VirtualHostedStyleRequest)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if endpoint && !virtual_hosted {
            // MinIO, SeaweedFS, Ceph and the like are addressed by path
            // (ENDPOINT/BUCKET/KEY): their bucket is no host name.
            builder = builder.with_virtual_hosted_style_request(false);
        }
        let connect_timeout = AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout);
        if builder.get_config_value(&connect_timeout).is_none() {
            builder = builder.with_config(connect_timeout, "5s");
        }
        // object_store's default retries for up to 3 minutes; a push to an
        // unreachable store must fail within seconds (the server answers
        // 503 and the client may retry), so a few quick retries only.
        builder = builder.with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 3,
            retry_timeout: Duration::from_secs(15),
        });
        let store = builder
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| StoreError::Invalid(format!("S3 settings for bucket {bucket}: {e}")))?;
        let prefix_key = Key::parse(prefix)
            .map_err(|e| StoreError::Invalid(format!("S3 prefix {prefix:?}: {e}")))?;
        let url = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        Ok(Remote {
            store: Arc::new(store),
            prefix: prefix_key,
            url,
        })
    }

    /// `s3://BUCKET/PREFIX`
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The object key of a digest's hex: `PREFIX/sha256/ab/abcd…`.
    pub(crate) fn key(&self, hex: &str) -> Key {
        self.prefix.clone().join("sha256").join(&hex[..2]).join(hex)
    }

    fn unavailable(&self, what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::ArtifactsUnavailable(format!("{what} ({}): {e}", self.url))
    }

    /// Asks the object store about a key that is never written: answers
    /// whether it is reachable and accepts the credentials.
    pub(crate) async fn probe(&self) -> Result<(), StoreError> {
        let key = self.prefix.clone().join("sha256").join("probe");
        match self.store.head(&key).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.unavailable("probe", e)),
        }
    }

    /// Sends the staged file `file` whose SHA-256 is `hex`, create-only.
    /// The bytes are hashed again as they are read: if they no longer
    /// match (the staged file changed), nothing is created.
    pub(crate) async fn push(
        &self,
        file: &Path,
        hex: &str,
        size: u64,
    ) -> Result<Pushed, StoreError> {
        let key = self.key(hex);
        if size <= MULTIPART_THRESHOLD {
            let bytes = tokio::fs::read(file).await?;
            check_digest(hex, &hex::encode(Sha256::digest(&bytes)))?;
            return self.put_create(&key, bytes).await;
        }
        // object_store (0.14) completes a multipart upload unconditionally:
        // its `If-None-Match: *` on CompleteMultipartUpload is only used
        // inside copy_if_not_exists, and neither `put_multipart_opts` nor
        // `MultipartStore::complete_multipart` take a put mode. So the key
        // is looked up first. Two pushes of the same digest racing past
        // this check both complete: the object is then written twice with
        // the same bytes (the key is their digest, checked again below
        // before completing), which changes its ETag and date, never its
        // content.
        match self.store.head(&key).await {
            Ok(_) => return Ok(Pushed::AlreadyThere),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.unavailable("look up before a multipart upload", e)),
        }
        let upload = self
            .store
            .put_multipart(&key)
            .await
            .map_err(|e| self.unavailable("start a multipart upload", e))?;
        let mut parts = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        match self.send_parts(&mut parts, file, hex).await {
            Ok(()) => {
                parts
                    .finish()
                    .await
                    .map_err(|e| self.unavailable("complete a multipart upload", e))?;
                Ok(Pushed::Created)
            }
            Err(e) => {
                // Never completed, so never visible; aborting frees the
                // parts now (a bucket lifecycle rule that aborts incomplete
                // uploads covers a process that dies before this).
                if let Err(abort) = parts.abort().await {
                    tracing::warn!(error = %abort, "could not abort a failed multipart upload");
                }
                Err(e)
            }
        }
    }

    async fn put_create(&self, key: &Key, bytes: Vec<u8>) -> Result<Pushed, StoreError> {
        let payload = PutPayload::from(bytes);
        let create = PutOptions::from(PutMode::Create);
        match self.store.put_opts(key, payload.clone(), create).await {
            Ok(_) => Ok(Pushed::Created),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(Pushed::AlreadyThere),
            // Conditional puts turned off (`AWS_CONDITIONAL_PUT=disabled`,
            // for a store that rejects them): look, then put.
            Err(object_store::Error::NotImplemented { .. }) => {
                match self.store.head(key).await {
                    Ok(_) => return Ok(Pushed::AlreadyThere),
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(self.unavailable("look up before a put", e)),
                }
                self.store
                    .put(key, payload)
                    .await
                    .map_err(|e| self.unavailable("put", e))?;
                Ok(Pushed::Created)
            }
            Err(e) => Err(self.unavailable("put", e)),
        }
    }

    /// Reads the staged file a chunk at a time into the upload's parts,
    /// waiting while `PARTS_IN_FLIGHT` parts are being sent, and checks the
    /// bytes sent against the digest before the caller completes.
    async fn send_parts(
        &self,
        parts: &mut WriteMultipart,
        file: &Path,
        hex: &str,
    ) -> Result<(), StoreError> {
        let mut file = tokio::fs::File::open(file).await?;
        let mut buf = vec![0u8; READ_CHUNK];
        let mut hasher = Sha256::new();
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            parts
                .wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map_err(|e| self.unavailable("upload a part", e))?;
            parts.write(&buf[..n]);
        }
        check_digest(hex, &hex::encode(hasher.finalize()))
    }

    /// Streams the object of `hex` into `dest` (a new file) while hashing
    /// it, fsyncs it, and returns the hex of what arrived; the caller
    /// compares it. An object that is not there is `NotFound`.
    pub(crate) async fn fetch(&self, hex: &str, dest: &Path) -> Result<String, StoreError> {
        let key = self.key(hex);
        let got = match self.store.get(&key).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StoreError::NotFound(Missing::Artifact(format!(
                    "sha256:{hex}"
                ))))
            }
            Err(e) => return Err(self.unavailable("download", e)),
        };
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut out = options.open(dest).await?;
        let mut hasher = Sha256::new();
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.unavailable("download", e))?;
            hasher.update(&chunk);
            out.write_all(&chunk).await?;
        }
        out.flush().await?;
        out.sync_all().await?;
        Ok(hex::encode(hasher.finalize()))
    }
}

/// The bytes about to be sent hash to what the upload computed.
fn check_digest(expected: &str, actual: &str) -> Result<(), StoreError> {
    if expected == actual {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            digest: format!("sha256:{expected}"),
            actual: format!("sha256:{actual}"),
        })
    }
}
