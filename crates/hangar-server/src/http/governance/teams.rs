//! Teams and users, and the roles people hold in teams.

use super::*;

pub(super) fn team_out(t: &hangar_store::TeamRecord) -> wire::Team {
    wire::Team {
        name: t.name.clone(),
        created_at: secs(t.created_at),
        created_by: t.created_by.clone(),
    }
}

pub(super) async fn list_teams(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
) -> Result<Json<wire::TeamList>, ApiError> {
    let teams = state
        .db
        .list_teams()
        .await?
        .iter()
        .filter(|t| a.principal.sees(&t.name))
        .map(team_out)
        .collect();
    Ok(Json(wire::TeamList { teams }))
}

pub(super) async fn create_team(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<wire::NewTeam>,
) -> Result<Response, ApiError> {
    validate_name(NameKind::Team, &body.name)?;
    let t = state.db.create_team(&body.name, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(team_out(&t))).into_response())
}

pub(super) fn memberships_out(m: &[(String, Role)]) -> Vec<wire::Membership> {
    m.iter()
        .map(|(t, r)| wire::Membership {
            team: t.clone(),
            role: r.as_str().to_owned(),
        })
        .collect()
}

pub(super) fn user_out(u: &hangar_store::UserRecord) -> wire::User {
    wire::User {
        name: u.name.clone(),
        superuser: u.superuser,
        roles: memberships_out(&u.memberships),
        password: u.password_hash.is_some(),
        created_at: secs(u.created_at),
        created_by: u.created_by.clone(),
        disabled: u.disabled,
    }
}

pub(super) async fn list_users(
    State(state): State<AppState>,
) -> Result<Json<wire::UserList>, ApiError> {
    let users = state.db.list_users().await?.iter().map(user_out).collect();
    Ok(Json(wire::UserList { users }))
}

pub(super) const MIN_PASSWORD: usize = 12;

pub(super) async fn password_hash(password: Option<String>) -> Result<Option<String>, ApiError> {
    match password {
        None => Ok(None),
        Some(p) if p.chars().count() < MIN_PASSWORD => Err(ApiError::new(
            ErrorCode::InvalidPassword,
            format!("the password is too short: at least {MIN_PASSWORD} characters"),
        )),
        Some(p) if p.len() > 1024 => Err(ApiError::new(
            ErrorCode::InvalidPassword,
            "the password is too long",
        )),
        Some(p) => tokio::task::spawn_blocking(move || auth::hash_password(&p))
            .await
            .map_err(ApiError::internal)?
            .map(Some),
    }
}

pub(super) fn membership(
    team: Option<String>,
    role: Option<String>,
) -> Result<Vec<(String, Role)>, ApiError> {
    match (team, role) {
        (None, None) => Ok(vec![]),
        (Some(t), Some(r)) => {
            validate_name(NameKind::Team, &t)?;
            let role = r
                .parse::<Role>()
                .map_err(|e| ApiError::new(ErrorCode::InvalidRole, e.to_string()))?;
            Ok(vec![(t, role)])
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidRole,
            "give both a team and a role",
        )),
    }
}

pub(super) async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<wire::NewUser>,
) -> Result<Response, ApiError> {
    validate_name(NameKind::User, &body.name)?;
    let roles = membership(body.team, body.role)?;
    for (t, _) in &roles {
        if !state.db.team_exists(t).await? {
            return Err(ApiError::new(
                ErrorCode::TeamNotFound,
                format!("team '{t}' not found; create it with `hangar team create {t}`"),
            ));
        }
    }
    let hash = password_hash(body.password).await?;
    let u = state
        .db
        .create_user(
            &body.name,
            hash.as_deref(),
            body.superuser,
            &roles,
            &caller.actor(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user_out(&u))).into_response())
}

pub(super) async fn add_role(
    State(state): State<AppState>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<wire::GrantRole>,
) -> Result<Json<wire::User>, ApiError> {
    let roles = membership(Some(body.team), Some(body.role))?;
    let (team, role) = &roles[0];
    if !state.db.team_exists(team).await? {
        return Err(ApiError::missing(hangar_store::Missing::Team(team.clone())));
    }
    state.db.get_user(&user).await?;
    let u = state.db.add_membership(&user, team, *role).await?;
    state.auth.forget_all();
    Ok(Json(user_out(&u)))
}
