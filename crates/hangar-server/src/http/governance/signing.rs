//! Trusted signing keys and version signatures.

use super::*;

pub(super) fn trusted_out(k: hangar_store::TrustedKey) -> wire::TrustedKey {
    wire::TrustedKey {
        name: k.name,
        public_key: k.public_key,
        created_at: secs(k.created_at),
        created_by: k.created_by,
    }
}

pub(super) async fn list_trusted(
    State(state): State<AppState>,
) -> Result<Json<wire::TrustedKeyList>, ApiError> {
    let keys = state
        .db
        .list_trusted_keys()
        .await?
        .into_iter()
        .map(trusted_out)
        .collect();
    Ok(Json(wire::TrustedKeyList { keys }))
}

pub(super) async fn add_trusted(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<wire::NewTrustedKey>,
) -> Result<Response, ApiError> {
    validate_name(NameKind::Key, &body.name)?;
    let pk = body.public_key.trim().to_ascii_lowercase();
    let bytes: [u8; 32] = hex::decode(&pk)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidPublicKey,
                "public_key must be an Ed25519 public key: 32 bytes in hex",
            )
        })?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidPublicKey,
            "public_key is not a valid Ed25519 public key",
        )
    })?;
    let k = state
        .db
        .add_trusted_key(&body.name, &pk, &caller.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(trusted_out(k))).into_response())
}

pub(super) async fn add_signature(
    State(state): State<AppState>,
    Path((model, version)): Path<(String, String)>,
    JsonBody(body): JsonBody<wire::NewSignature>,
) -> Result<Response, ApiError> {
    let version = version_number(&version)?;
    let v = state.db.get_version(&model, version).await?;
    let pk = body.public_key.trim().to_ascii_lowercase();
    let sig = body.signature.trim().to_ascii_lowercase();
    crate::service::governance::verify(&v.digest, &pk, &sig).map_err(ApiError::bad_request)?;
    state.db.add_signature(&model, version, &pk, &sig).await?;
    let trusted = state
        .db
        .list_trusted_keys()
        .await?
        .into_iter()
        .find(|k| k.public_key == pk);
    Ok((
        StatusCode::CREATED,
        Json(wire::SignatureReceipt {
            model,
            version,
            digest: v.digest,
            public_key: pk,
            verified: true,
            trusted_key: trusted.map(|k| k.name),
        }),
    )
        .into_response())
}
