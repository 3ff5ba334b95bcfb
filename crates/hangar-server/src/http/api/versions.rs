//! Versions: push (upload and register), list, read, download.

use super::*;

pub(super) async fn list_versions(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> Result<Json<wire::VersionList>, ApiError> {
    let versions: Vec<_> = state
        .db
        .list_versions(&model)
        .await?
        .into_iter()
        .map(version_out)
        .collect();
    Ok(Json(wire::VersionList { versions }))
}

pub(crate) fn version_number(raw: &str) -> Result<u32, ApiError> {
    raw.parse::<u32>().ok().filter(|&v| v > 0).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidVersion,
            format!(
                "invalid version {:?}: versions are numbers 1, 2, 3…",
                raw.chars().take(32).collect::<String>()
            ),
        )
    })
}

pub(super) async fn get_version(
    State(state): State<AppState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<wire::Version>, ApiError> {
    Ok(Json(version_out(
        state
            .db
            .get_version(&model, version_number(&version)?)
            .await?,
    )))
}

pub(super) async fn download_artifact(
    State(state): State<AppState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let v = state
        .db
        .get_version(&model, version_number(&version)?)
        .await?;
    let bytes = state.artifacts.read_verified(&v.digest).await?;
    let mut response = Response::new(Body::from(bytes));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(d) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}-{}.{}\"",
        v.model,
        v.version,
        v.format.as_str()
    )) {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    if let Ok(d) = HeaderValue::from_str(&v.digest) {
        h.insert("x-hangar-digest", d);
    }
    Ok(response)
}

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
) -> Result<(ModelVersion, bool), ApiError> {
    let format = ArtifactFormat::sniff(head).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnsupportedModel,
            "unrecognised artifact format: Hangar serves ONNX files (.onnx) in this release",
        )
    })?;
    let bytes = staged.read_verified().await?;
    if let Some(check) = &state.model_check {
        crate::model_check::check(check, &bytes)
            .await
            .map_err(|e| match e {
                crate::model_check::CheckError::Unavailable(_) => ApiError::internal(e),
                refused => ApiError::new(ErrorCode::UnsupportedModel, refused.to_string()),
            })?;
    }
    let runtime = state.serving.runtime().clone();
    let loaded = tokio::task::spawn_blocking(move || runtime.load(&bytes))
        .await
        .map_err(ApiError::internal)?
        .map_err(runtime_error)?;
    let mut feature_names = meta.features.or_else(|| loaded.declared_feature_names());
    if feature_names.is_none() {
        feature_names = inherited_features(state, model, loaded.signature()).await?;
    }
    if let Some(names) = &feature_names {
        let spec = hangar_core::features::tabular_input(loaded.signature()).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidFeatures,
                format!("feature names given, but {e}"),
            )
        })?;
        if spec.shape[1] >= 0 && spec.shape[1] as usize != names.len() {
            return Err(ApiError::new(
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
            return Err(ApiError::new(
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
pub(super) async fn inherited_features(
    state: &AppState,
    model: &str,
    signature: &Signature,
) -> Result<Option<Vec<String>>, ApiError> {
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

/// `POST /api/v1/models/{model}/versions?create=true[&owner_team=T]`: push
/// the first version of a model that does not exist yet.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct PushQuery {
    #[serde(default)]
    pub(super) create: bool,
    pub(super) owner_team: Option<String>,
}

pub(super) async fn push_version(
    State(state): State<AppState>,
    Path(model): Path<String>,
    Query(query): Query<PushQuery>,
    headers: HeaderMap,
    caller: Caller,
    mut multipart: Multipart,
) -> Result<(StatusCode, Json<wire::Version>), ApiError> {
    // Fail fast, before streaming a large file, when the model is unknown
    // (and not to be created) or may not be created.
    let create = match state.db.get_model(&model).await {
        // (The permission layer checked the model's team, unless the model
        // appeared since; then it is checked here.)
        Ok(m) => {
            require(&caller, Action::Push, team_of(&m.card), "push versions")?;
            None
        }
        Err(hangar_store::StoreError::NotFound(_)) if query.create => {
            validate_name(NameKind::Model, &model)?;
            let patch = CardPatch {
                owner_team: query.owner_team.map(Some),
                ..CardPatch::default()
            };
            Some(new_card(&state, &caller, patch).await?)
        }
        Err(e) => return Err(e.into()),
    };
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(format!("invalid multipart upload: {}", e.body_text()))
    };
    let mut artifact = None;
    let mut meta = VersionMeta::default();
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        match field.name() {
            Some("artifact") => {
                let mut upload = state.artifacts.begin(state.limits.max_upload_bytes).await?;
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    upload.write(&chunk).await?;
                }
                if upload.size() == 0 {
                    return Err(ApiError::bad_request("the artifact part is empty"));
                }
                let head = upload.head().to_vec();
                artifact = Some((upload.finish().await?, head));
            }
            Some("metadata") => {
                let mut raw = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    raw.extend_from_slice(&chunk);
                    if raw.len() > 1024 * 1024 {
                        return Err(ApiError::new(ErrorCode::PayloadTooLarge, "the metadata part is limited to 1 MiB"));
                    }
                }
                meta = serde_json::from_slice(&raw)
                    .map_err(|e| ApiError::bad_request(format!("invalid metadata JSON: {e}")))?;
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unexpected multipart field {:?}: send 'artifact' (the model file) and optionally 'metadata' (JSON)",
                    other.unwrap_or("")
                )))
            }
        }
    }
    let (artifact, head) = artifact.ok_or_else(|| {
        ApiError::bad_request("missing multipart field 'artifact' (the model file)")
    })?;
    let (v, created) = register_version(
        &state,
        &model,
        create.as_ref(),
        artifact,
        &head,
        meta,
        &actor(&headers),
    )
    .await?;
    tracing::info!(model = %v.model, version = v.version, digest = %v.digest, created_model = created, "version pushed");
    let mut out = version_out(v);
    if let (true, Some(card)) = (created, create) {
        out.created_model = Some(wire::CreatedModel {
            name: model,
            owner_team: card.owner_team,
        });
    }
    Ok((StatusCode::CREATED, Json(out)))
}
