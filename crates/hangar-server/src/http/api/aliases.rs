//! Aliases: set, move, delete, resolve at a time, history.

use super::*;

pub(super) async fn list_aliases(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> Result<Json<wire::AliasList>, ApiError> {
    let aliases: Vec<_> = state
        .db
        .list_aliases(&model)
        .await?
        .into_iter()
        .map(|a| wire::Alias {
            model: model.clone(),
            alias: a.alias,
            version: Some(a.version),
            updated_at: Some(a.updated_at),
            updated_by: Some(a.updated_by),
            at: None,
        })
        .collect();
    Ok(Json(wire::AliasList { aliases }))
}

#[derive(Deserialize)]
pub(super) struct AtQuery {
    pub(super) at: Option<String>,
}

pub(crate) fn parse_time(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    // A bare date means the end of that day (UTC): "on 3 March".
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidTime,
                format!(
                "invalid time {raw:?}: use RFC 3339 (2026-03-03T12:00:00Z) or a date (2026-03-03)"
            ),
            )
        })
}

pub(super) async fn get_alias(
    State(state): State<AppState>,
    Path((model, alias)): Path<(String, String)>,
    Query(q): Query<AtQuery>,
) -> Result<Json<wire::Alias>, ApiError> {
    match q.at {
        Some(raw) => {
            let at = parse_time(&raw)?;
            let version = state.db.alias_at(&model, &alias, at).await?;
            Ok(Json(wire::Alias {
                model,
                alias,
                version,
                updated_at: None,
                updated_by: None,
                at: Some(at),
            }))
        }
        None => {
            let a = state.db.get_alias(&model, &alias).await?;
            Ok(Json(wire::Alias {
                model,
                alias: a.alias,
                version: Some(a.version),
                updated_at: Some(a.updated_at),
                updated_by: Some(a.updated_by),
                at: None,
            }))
        }
    }
}

pub(super) async fn set_alias(
    State(state): State<AppState>,
    Path((model, alias)): Path<(String, String)>,
    caller: Caller,
    JsonBody(body): JsonBody<wire::SetAlias>,
) -> Result<Json<wire::AliasEvent>, ApiError> {
    validate_name(NameKind::Alias, &alias)?;
    let who = caller.actor();
    let team = state
        .db
        .model_team(&model)
        .await?
        .ok_or_else(|| ApiError::missing(hangar_store::Missing::Model(model.clone())))?;
    let event = {
        // No deployment or risk tier changes between the check and the move.
        let _hold = state.serving.hold_changes().await;
        let live = alias == "production" || state.serving.alias_is_live(&model, &alias).await?;
        if live {
            // Moving an alias that production traffic follows is a deployment.
            require(
                &caller,
                Action::Deploy,
                &team,
                &format!("move the '{alias}' alias (production traffic follows it)"),
            )?;
            crate::service::governance::production_check(&state.db, &model, body.version).await?;
        }
        state
            .db
            .set_alias(&model, &alias, body.version, &who)
            .await?
    };
    state.serving.alias_moved(&model, &alias, &who).await?;
    Ok(Json(event_out(event)))
}

pub(super) async fn delete_alias(
    State(state): State<AppState>,
    Path((model, alias)): Path<(String, String)>,
    caller: Caller,
) -> Result<Json<wire::AliasEvent>, ApiError> {
    let event = state
        .db
        .delete_alias(&model, &alias, &caller.actor())
        .await?;
    Ok(Json(event_out(event)))
}

pub(super) async fn alias_history(
    State(state): State<AppState>,
    Path((model, alias)): Path<(String, String)>,
) -> Result<Json<wire::AliasHistory>, ApiError> {
    let events: Vec<_> = state
        .db
        .alias_history(&model, Some(&alias))
        .await?
        .into_iter()
        .map(event_out)
        .collect();
    Ok(Json(wire::AliasHistory { history: events }))
}

pub(super) async fn model_alias_history(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> Result<Json<wire::AliasHistory>, ApiError> {
    let events: Vec<_> = state
        .db
        .alias_history(&model, None)
        .await?
        .into_iter()
        .map(event_out)
        .collect();
    Ok(Json(wire::AliasHistory { history: events }))
}
