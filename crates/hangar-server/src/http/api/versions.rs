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
    let (v, created) = crate::service::registry::register_version(
        &state,
        &model,
        create.as_ref(),
        artifact,
        &head,
        meta,
        &caller.actor(),
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
