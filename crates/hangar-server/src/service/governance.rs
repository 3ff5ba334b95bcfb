//! Governance checks that need the store: four-eyes approval of high-risk
//! versions and Ed25519 signatures by trusted keys. The decisions themselves
//! are `hangar_core::governance`'s.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use hangar_core::governance::{production_allowed, Action, FourEyesError, Principal};
use hangar_core::RiskTier;
use hangar_store::{Db, StoreError};

use crate::service::error::{Error, ErrorCode};

/// Refuses production traffic to a high-risk version without approval.
/// Refuses unless `who` may do `action` in `team`; `what` says what was
/// asked, in the refusal.
pub fn require(who: &Principal, action: Action, team: &str, what: &str) -> Result<(), Error> {
    if who.can(action, team) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::Forbidden,
            format!("{} may not {what} in team '{team}'", who.name),
        ))
    }
}

pub(crate) async fn production_check(db: &Db, model: &str, version: u32) -> Result<(), Error> {
    let m = db.get_model(model).await?;
    if m.card.risk_tier != RiskTier::High {
        return Ok(());
    }
    let v = db.get_version(model, version).await?;
    let decisions: Vec<_> = db
        .decisions(model, version)
        .await?
        .iter()
        .map(|d| d.decision())
        .collect();
    production_allowed(model, version, true, &v.digest, &v.created_by, &decisions)
        .map_err(|e| Error::new(ErrorCode::ApprovalRequired, e.to_string()))
}

/// Refuses to make `model` high-risk while a version of it that lacks
/// four-eyes approval gets production traffic (a route weight above zero
/// on any deployment, or the `production` alias): the rule of a high-risk
/// model would not hold the moment the card changed. The message names
/// each such version and where it serves.
pub(crate) async fn raise_to_high_check(db: &Db, model: &str) -> Result<(), Error> {
    let mut serving: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for d in db.list_deployments().await? {
        for r in d.current.table.routes.iter() {
            if r.weight > 0 && r.target.model == model {
                serving
                    .entry(r.version)
                    .or_default()
                    .push(format!("{}% of deployment {}", r.weight, d.name));
            }
        }
    }
    match db.get_alias(model, "production").await {
        Ok(a) => serving
            .entry(a.version)
            .or_default()
            .push("the production alias".into()),
        Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let mut refused = Vec::new();
    for (version, uses) in serving {
        let v = db.get_version(model, version).await?;
        let decisions: Vec<_> = db
            .decisions(model, version)
            .await?
            .iter()
            .map(|d| d.decision())
            .collect();
        let why =
            match production_allowed(model, version, true, &v.digest, &v.created_by, &decisions) {
                Ok(()) => continue,
                Err(FourEyesError::NotApproved { pushed_by, .. }) => {
                    format!("pushed by {pushed_by}, not approved")
                }
                Err(FourEyesError::Rejected { by, .. }) => format!("rejected by {by}"),
            };
        refused.push(format!("{model}:{version} ({}; {why})", uses.join(", ")));
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::ApprovalRequired,
        format!(
            "{model} cannot become high-risk while versions without four-eyes approval get production traffic: {}. \
             Have an approver other than the pusher approve them (`hangar approve {model}:VERSION`), \
             or move that traffic to approved versions first",
            refused.join("; ")
        ),
    ))
}

/// Refuses a version without a valid signature by a trusted key.
pub(crate) async fn signature_check(db: &Db, model: &str, version: u32) -> Result<(), Error> {
    let v = db.get_version(model, version).await?;
    let trusted = db.list_trusted_keys().await?;
    let signatures = db.signatures(model, version).await?;
    let ok = signatures.iter().any(|s| {
        trusted.iter().any(|k| k.public_key == s.public_key)
            && verify(&v.digest, &s.public_key, &s.signature).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::ApprovalRequired,
            format!(
                "{model}:{version} carries no valid signature by a trusted key, and this deployment requires one \
                 (push with `hangar model push --sign KEY`, trust the key with `hangar keys trust`)"
            ),
        ))
    }
}

/// Checks an Ed25519 signature (hex) by `public_key` (hex) over the
/// version's digest string (`sha256:<hex>`, as bytes).
pub(crate) fn verify(digest: &str, public_key: &str, signature: &str) -> Result<(), String> {
    let key: [u8; 32] = hex::decode(public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the public key must be 32 bytes in hex")?;
    let sig: [u8; 64] = hex::decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature must be 64 bytes in hex")?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| "not a valid Ed25519 public key")?;
    key.verify(digest.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| "the signature does not match this version's digest and key".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn signatures_verify_over_the_digest() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let digest = "sha256:00ff";
        let sig = key.sign(digest.as_bytes());
        let pk = hex::encode(key.verifying_key().as_bytes());
        assert!(verify(digest, &pk, &hex::encode(sig.to_bytes())).is_ok());
        assert!(verify("sha256:00fe", &pk, &hex::encode(sig.to_bytes())).is_err());
        assert!(verify(digest, "zz", &hex::encode(sig.to_bytes())).is_err());
        assert!(verify(digest, &pk, "00").is_err());
    }
}
