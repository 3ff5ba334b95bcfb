//! Baselines: a version's training data (CSV, streamed into the artifact
//! store), profiled against the version's own outputs and kept only when it
//! profiles; profiles are built from the stored CSV on first use and cached.

use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use futures_util::{Stream, StreamExt};
use hangar_core::monitor::BaselineProfile;
use hangar_store::BaselineRecord;

use crate::service::error::{Error, ErrorCode};
use crate::service::monitoring;
use crate::state::AppState;

/// How an uploaded baseline is read.
pub struct BaselineUpload {
    /// Columns to treat as categorical.
    pub categorical: Vec<String>,
    /// The column holding true outcomes, if any.
    pub label_column: Option<String>,
}

/// Stores `chunks` (within the upload limit) as the baseline of
/// `model:version`, once it profiles; answers the record and its profile.
pub async fn put(
    state: &AppState,
    model: &str,
    version: u32,
    how: BaselineUpload,
    actor: &str,
    mut chunks: impl Stream<Item = std::io::Result<Bytes>> + Unpin,
) -> Result<(BaselineRecord, Arc<BaselineProfile>), Error> {
    let v = state.db.get_version(model, version).await?;
    let features = v.feature_names.clone().ok_or_else(|| {
        Error::new(ErrorCode::InvalidBaseline, "this version has no feature names; push it with --features so baseline columns can be matched")
    })?;
    let mut upload = state.artifacts.begin(state.limits.max_upload_bytes).await?;
    while let Some(chunk) = chunks.next().await {
        let chunk =
            chunk.map_err(|e| Error::bad_request(format!("could not read the upload: {e}")))?;
        upload.write(&chunk).await?;
    }
    let staged = upload.finish().await?;
    let bytes = staged.read_verified().await?;
    let loaded = state.serving.load(&v).await?;
    let label = how.label_column.clone();
    let cats = how.categorical.clone();
    let profile = tokio::task::spawn_blocking(move || {
        let data = monitoring::parse_baseline(&bytes, &features, &cats, label.as_deref())?;
        monitoring::profile(&loaded, data)
    })
    .await
    .map_err(Error::internal)??;
    // Only a CSV that profiled is kept; a refused one is dropped with its
    // file, and so is one whose record cannot be written (a full disk).
    let record = staged
        .commit_with(|artifact| async {
            let record = BaselineRecord {
                model: v.model.clone(),
                version: v.version,
                digest: artifact.digest,
                label_column: how.label_column,
                categorical: how.categorical,
                rows: profile.rows as u64,
                created_at: Utc::now(),
                created_by: actor.to_string(),
            };
            state.db.put_baseline(&record).await.map(|()| record)
        })
        .await?;
    let profile = Arc::new(profile);
    state
        .baselines
        .put(&v.model, v.version, &record.digest, profile.clone());
    tracing::info!(model = %v.model, version = v.version, rows = record.rows, "baseline profiled");
    Ok((record, profile))
}

/// The profile of a version's baseline, built from its stored CSV on first use.
pub async fn baseline_profile(
    state: &AppState,
    model: &str,
    version: u32,
) -> Result<(BaselineRecord, Arc<BaselineProfile>), Error> {
    let record = match state.db.get_baseline(model, version).await {
        Ok(r) => r,
        Err(hangar_store::StoreError::NotFound(_)) => {
            return Err(monitoring::missing_baseline(model, version))
        }
        Err(e) => return Err(e.into()),
    };
    if let Some((digest, p)) = state.baselines.get_with_digest(model, version) {
        if digest == record.digest {
            return Ok((record, p));
        }
    }
    let v = state.db.get_version(model, version).await?;
    let features = v.feature_names.clone().unwrap_or_default();
    let bytes = state.artifacts.read_verified(&record.digest).await?;
    let loaded = state.serving.load(&v).await?;
    let (cats, label) = (record.categorical.clone(), record.label_column.clone());
    let profile = tokio::task::spawn_blocking(move || {
        let data = monitoring::parse_baseline(&bytes, &features, &cats, label.as_deref())?;
        monitoring::profile(&loaded, data)
    })
    .await
    .map_err(Error::internal)??;
    let profile = Arc::new(profile);
    state
        .baselines
        .put(model, version, &record.digest, profile.clone());
    Ok((record, profile))
}
