//! The registry's service work: a pushed file becomes a version only once
//! it is known to load (in a child process first, when configured), with
//! its signature read from the file and its feature names checked against
//! it; the file is committed to the store together with the row that names
//! it.

use hangar_api::VersionMeta;
use hangar_core::{ArtifactFormat, ModelCard, ModelVersion, Signature};
use hangar_store::{NewVersion, Staged};

use crate::service::error::{Error, ErrorCode};
use crate::service::serving::runtime_error;
use crate::state::AppState;

/// Registers a staged upload: checks that it runs, reads its signature,
/// moves the file into the store and records the new version; a refused
/// upload is dropped with its file. With `create`, a model that does not
/// exist yet is created with that card together with its first version,
/// and only if that version is accepted. Says whether the model was
/// created.
///
/// Feature names come from `meta`, else from the model file, else from the
/// model's latest version when its inputs are exactly the new version's.
pub async fn register_version(
    state: &AppState,
    model: &str,
    create: Option<&ModelCard>,
    staged: Staged,
    head: &[u8],
    meta: VersionMeta,
    actor: &str,
) -> Result<(ModelVersion, bool), Error> {
    let format = ArtifactFormat::sniff(head).ok_or_else(|| {
        Error::new(
            ErrorCode::UnsupportedModel,
            "unrecognised artifact format: Hangar serves ONNX files (.onnx) in this release",
        )
    })?;
    let bytes = staged.read_verified().await?;
    if let Some(check) = &state.model_check {
        crate::model_check::check(check, &bytes)
            .await
            .map_err(|e| match e {
                crate::model_check::CheckError::Unavailable(_) => Error::internal(e),
                refused => Error::new(ErrorCode::UnsupportedModel, refused.to_string()),
            })?;
    }
    let runtime = state.serving.runtime().clone();
    let loaded = tokio::task::spawn_blocking(move || runtime.load(&bytes))
        .await
        .map_err(Error::internal)?
        .map_err(runtime_error)?;
    let mut feature_names = meta.features.or_else(|| loaded.declared_feature_names());
    if feature_names.is_none() {
        feature_names = inherited_features(state, model, loaded.signature()).await?;
    }
    if let Some(names) = &feature_names {
        let spec = hangar_core::features::tabular_input(loaded.signature()).map_err(|e| {
            Error::new(
                ErrorCode::InvalidFeatures,
                format!("feature names given, but {e}"),
            )
        })?;
        if spec.shape[1] >= 0 && spec.shape[1] as usize != names.len() {
            return Err(Error::new(
                ErrorCode::InvalidFeatures,
                format!(
                    "{} feature names given but the model's input '{}' has {} columns",
                    names.len(),
                    spec.name,
                    spec.shape[1]
                ),
            ));
        }
        if let Some(dup) = names
            .iter()
            .enumerate()
            .find(|(i, n)| names[..*i].contains(n))
        {
            return Err(Error::new(
                ErrorCode::InvalidFeatures,
                format!("feature name '{}' given twice", dup.1),
            ));
        }
    }
    // The file goes into the store, then the row that names it; if the
    // row cannot be written (a full disk), the file is taken back out.
    Ok(staged
        .commit_with(|artifact| async move {
            let new = NewVersion {
                artifact,
                format,
                signature: loaded.signature().clone(),
                feature_names,
                description: meta.description,
                source_commit: meta.source_commit,
                training_run: meta.training_run,
                metrics: meta.metrics,
                metadata: meta.metadata,
            };
            state
                .db
                .add_version_creating(model, create, &new, actor)
                .await
        })
        .await?)
}

/// The feature names of the model's latest version, when its inputs are
/// exactly `signature`'s (same names, datatypes and shapes).
async fn inherited_features(
    state: &AppState,
    model: &str,
    signature: &Signature,
) -> Result<Option<Vec<String>>, Error> {
    let latest = match state.db.get_model(model).await {
        Ok(m) => m.latest_version,
        Err(hangar_store::StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let Some(latest) = latest else {
        return Ok(None);
    };
    let previous = state.db.get_version(model, latest).await?;
    Ok(previous
        .feature_names
        .filter(|_| previous.signature.inputs == signature.inputs))
}
