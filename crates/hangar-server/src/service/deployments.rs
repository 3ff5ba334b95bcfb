//! Creating or changing a deployment on a caller's behalf: the permission
//! checks that depend on what the change names (the deployment's team, each
//! model's team) and the merge of a settings patch happen under the
//! deployment-change lock, against the state the change replaces — two
//! changes at once cannot lose one's settings, nor pass a check against a
//! state that is already gone.

use hangar_core::governance::{Action, Principal};
use hangar_core::{validate_name, DeploymentSettings, NameKind, Revision, Route, VersionRef};
use hangar_store::{Missing, StoreError};

use crate::service::error::Error;
use crate::service::governance::require;
use crate::state::AppState;

/// A change to a deployment's routing table, shadow and settings.
pub struct Change<F> {
    pub routes: Vec<Route>,
    pub shadow: Option<VersionRef>,
    /// Merges the caller's settings patch into the settings current when the
    /// change runs; `None` keeps them.
    pub settings: Option<F>,
    pub message: String,
}

/// Creates deployment `name` or gives it a new revision, as `who`
/// (recorded as `actor`).
pub async fn put<F>(
    state: &AppState,
    who: &Principal,
    actor: &str,
    name: &str,
    change: Change<F>,
) -> Result<Revision, Error>
where
    F: FnOnce(DeploymentSettings) -> DeploymentSettings,
{
    validate_name(NameKind::Deployment, name)?;
    let held = state.serving.hold_changes().await;
    if let Some(team) = state.db.deployment_team(name).await? {
        if !who.sees(&team) {
            return Err(StoreError::NotFound(Missing::Deployment(name.to_string())).into());
        }
        require(who, Action::Deploy, &team, "deploy")?;
    }
    let mut models: Vec<&str> = change
        .routes
        .iter()
        .map(|r| r.target.model.as_str())
        .chain(change.shadow.iter().map(|s| s.model.as_str()))
        .collect();
    models.dedup();
    for model in models {
        match state.db.model_team(model).await? {
            Some(team) if who.sees(&team) => require(
                who,
                Action::Deploy,
                &team,
                &format!("deploy model '{model}'"),
            )?,
            Some(_) => return Err(StoreError::NotFound(Missing::Model(model.to_string())).into()),
            // A missing model: resolving the routes answers that.
            None => {}
        }
    }
    let settings = match change.settings {
        Some(merge) => Some(merge(state.serving.settings_held(&held, name).await?)),
        None => None,
    };
    state
        .serving
        .apply_held(
            &held,
            name,
            change.routes,
            change.shadow,
            settings,
            &change.message,
            actor,
        )
        .await
}
