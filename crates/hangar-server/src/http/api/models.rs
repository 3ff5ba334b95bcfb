//! Models: list, create, read, change the card, the deployments that use one.

use super::*;

/// The caller, as the permission layer authenticated it.
pub(crate) type Caller = axum::Extension<crate::auth::Authenticated>;

pub(super) fn team_of(card: &ModelCard) -> &str {
    card.owner_team
        .as_deref()
        .unwrap_or(hangar_core::governance::DEFAULT_TEAM)
}

/// Refuses unless the caller may do `action` in `team`.
pub(crate) fn require(
    caller: &Caller,
    action: Action,
    team: &str,
    what: &str,
) -> Result<(), ApiError> {
    Ok(crate::service::governance::require(
        &caller.principal,
        action,
        team,
        what,
    )?)
}

pub(super) async fn list_models(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<wire::ModelList>, ApiError> {
    let mut out = Vec::new();
    for m in state.db.list_models().await? {
        if !caller.principal.sees(team_of(&m.card)) {
            continue;
        }
        let aliases = state.db.list_aliases(&m.name).await?;
        out.push(model_out(m, aliases));
    }
    Ok(Json(wire::ModelList { models: out }))
}

pub(super) async fn create_model(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<wire::CreateModel>,
) -> Result<(StatusCode, Json<wire::Model>), ApiError> {
    validate_name(NameKind::Model, &body.name)?;
    let card = new_card(&state, &caller, body.card).await?;
    let m = state
        .db
        .create_model(&body.name, &card, &caller.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(model_out(m, Vec::new()))))
}

/// The card of a model about to be created, checked: without a team, a
/// model belongs to the creator's only team where they may push (or the
/// default team); the team must exist and the creator may push there.
pub(super) async fn new_card(
    state: &AppState,
    caller: &Caller,
    patch: CardPatch,
) -> Result<ModelCard, ApiError> {
    let mut card = patch.apply(ModelCard::default())?;
    if card.owner_team.is_none() {
        let mut teams: Vec<&str> = caller
            .principal
            .memberships()
            .iter()
            .filter(|(t, _)| caller.principal.can(Action::Push, t))
            .map(|(t, _)| t.as_str())
            .collect();
        teams.dedup();
        if let [only] = teams.as_slice() {
            card.owner_team = Some(only.to_string());
        }
    }
    check_team(state, caller, team_of(&card)).await?;
    Ok(card)
}

pub(super) async fn get_model(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> Result<Json<wire::Model>, ApiError> {
    let m = state.db.get_model(&model).await?;
    let aliases = state.db.list_aliases(&model).await?;
    Ok(Json(model_out(m, aliases)))
}

/// A model may only be put in a team that exists and where the caller may push.
pub(super) async fn check_team(
    state: &AppState,
    caller: &Caller,
    team: &str,
) -> Result<(), ApiError> {
    if !state.db.team_exists(team).await? {
        return Err(ApiError::new(
            ErrorCode::TeamNotFound,
            format!(
            "team '{team}' not found; an administrator creates it with `hangar team create {team}`"
        ),
        ));
    }
    require(caller, Action::Push, team, "push models")
}

pub(super) async fn update_model(
    State(state): State<AppState>,
    Path(model): Path<String>,
    caller: Caller,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    JsonBody(patch): JsonBody<CardPatch>,
) -> Result<Json<wire::Model>, ApiError> {
    // What is deployed must not change between the checks and the write.
    let _hold = state.serving.hold_changes().await;
    let current = state.db.get_model(&model).await?;
    let old_team = team_of(&current.card).to_string();
    let was_high = current.card.risk_tier == RiskTier::High;
    let card = patch.apply(current.card)?;
    let new_team = team_of(&card).to_string();
    let mut moving = Vec::new();
    if new_team != old_team {
        check_team(&state, &caller, &new_team).await?;
        moving = deployments_of(&state, &model, &old_team).await?;
        if !moving.is_empty() {
            for team in [&old_team, &new_team] {
                if !caller.principal.can(Action::Deploy, team) {
                    return Err(ApiError::new(
                        ErrorCode::Forbidden,
                        format!(
                            "moving {model} to team '{new_team}' moves its deployments ({}) with it, which needs \
                             the deploy permission in team '{old_team}' and in team '{new_team}'; {} has none in team '{team}'",
                            moving.join(", "),
                            caller.principal.name
                        ),
                    ));
                }
            }
        }
    }
    if card.risk_tier == RiskTier::High && !was_high {
        crate::service::governance::raise_to_high_check(&state.db, &model).await?;
    }
    let m = state.db.update_card_moving(&model, &card, &moving).await?;
    state.auth.forget_team(true, &model);
    for d in &moving {
        state.auth.forget_team(false, d);
        tracing::info!(deployment = %d, model = %model, from = %old_team, to = %new_team, "deployment moved to another team with its model");
        crate::auth::append(
            &state,
            hangar_store::NewAuditEntry {
                actor: caller.actor(),
                address: peer
                    .as_ref()
                    .map(|p| p.0 .0.ip().to_string())
                    .unwrap_or_else(|| "local".into()),
                action: "PATCH /api/v1/models/{model}".into(),
                object: format!("deployments/{d}"),
                outcome: "ok".into(),
                detail: serde_json::json!({
                    "moved": {"from_team": old_team, "to_team": new_team, "with_model": model}
                })
                .to_string(),
                // Both teams' admins and approvers see the move.
                teams: vec![old_team.clone(), new_team.clone()],
            },
        )
        .await;
    }
    let aliases = state.db.list_aliases(&model).await?;
    let mut out = model_out(m, aliases);
    out.deployments_moved = moving;
    Ok(Json(out))
}

/// A model's deployments: those of its team whose every route and shadow
/// serve it. They follow the model to another team. A deployment of its
/// team that also serves other models cannot follow it, so the move is
/// refused, naming it.
pub(super) async fn deployments_of(
    state: &AppState,
    model: &str,
    team: &str,
) -> Result<Vec<String>, ApiError> {
    let teams = state.db.deployment_teams().await?;
    let mut own = Vec::new();
    let mut mixed = Vec::new();
    for d in state.db.list_deployments().await? {
        if teams.get(&d.name).map(String::as_str) != Some(team) {
            continue;
        }
        let t = &d.current.table;
        let models: std::collections::BTreeSet<&str> = t
            .routes
            .iter()
            .map(|r| r.target.model.as_str())
            .chain(t.shadow.iter().map(|s| s.target.model.as_str()))
            .collect();
        if !models.contains(model) {
            continue;
        }
        if models.len() == 1 {
            own.push(d.name.clone());
        } else {
            let others: Vec<&str> = models.into_iter().filter(|m| *m != model).collect();
            mixed.push(format!("{} (also serves {})", d.name, others.join(", ")));
        }
    }
    if !mixed.is_empty() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "{model} cannot move to another team: its deployments move with it, but {} of team '{team}' \
                 also serve other models; deploy {model} or the others alone there first",
                mixed.join(", ")
            ),
        ));
    }
    Ok(own)
}
