//! `/api/v1` routes of governance: login, teams, users and roles, API
//! tokens, consumer keys, trusted signing keys, signatures, approvals and
//! the audit log. Who may call each is in `auth::RULES`.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use hangar_core::governance::{may_decide, verify_chain, Action, AuditEntry, Principal, Role};
use hangar_core::{validate_name, NameKind};
use hangar_store::{ApprovalRecord, AuditFilter, StoreError, TokenRecord};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::api::{parse_time, version_number, JsonBody};
use crate::http::auth::{self, Authenticated, ClientAddress, Routes};
use crate::http::error::{ApiError, ErrorCode};
use crate::service::denials::Denial;
use crate::service::throttle::Throttled;
use crate::state::AppState;

pub(crate) fn routes(r: Routes) -> Routes {
    r.add("POST", "/api/v1/login", login)
        .add("POST", "/login", login_form)
        .add("POST", "/logout", logout)
        .add("GET", "/api/v1/whoami", whoami)
        .add("GET", "/api/v1/teams", list_teams)
        .add("POST", "/api/v1/teams", create_team)
        .add("GET", "/api/v1/users", list_users)
        .add("POST", "/api/v1/users", create_user)
        .add("POST", "/api/v1/users/{user}/roles", add_role)
        .add("GET", "/api/v1/tokens", list_tokens)
        .add("POST", "/api/v1/tokens", create_token)
        .add("DELETE", "/api/v1/tokens/{id}", revoke_token)
        .add("GET", "/api/v1/consumer-keys", list_keys)
        .add("POST", "/api/v1/consumer-keys", create_key)
        .add("DELETE", "/api/v1/consumer-keys/{id}", revoke_key)
        .add("GET", "/api/v1/trusted-keys", list_trusted)
        .add("POST", "/api/v1/trusted-keys", add_trusted)
        .add(
            "POST",
            "/api/v1/models/{model}/versions/{version}/signatures",
            add_signature,
        )
        .add(
            "GET",
            "/api/v1/models/{model}/versions/{version}/approvals",
            list_decisions,
        )
        .add(
            "POST",
            "/api/v1/models/{model}/versions/{version}/approvals",
            decide,
        )
        .add("GET", "/api/v1/audit", list_audit)
        .add("GET", "/api/v1/audit/verify", verify_audit)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `30d`, `12h`, `90m` or an RFC 3339 time.
pub(crate) fn parse_expiry(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    let raw = raw.trim();
    let bad = || {
        ApiError::bad_request(format!(
            "invalid expiry {:?}: use a duration such as 30d, 12h or 90m, or an RFC 3339 time",
            raw.chars().take(40).collect::<String>()
        ))
    };
    if let Some((n, unit)) = raw
        .char_indices()
        .last()
        .map(|(i, c)| (&raw[..i], c))
        .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        let n: i64 = n.parse().map_err(|_| bad())?;
        let d = match unit {
            'd' => Duration::try_days(n),
            'h' => Duration::try_hours(n),
            'm' => Duration::try_minutes(n),
            _ => None,
        }
        .filter(|d| *d > Duration::zero() && *d <= Duration::days(3650))
        .ok_or_else(bad)?;
        return Ok(Utc::now() + d);
    }
    let t = parse_time(raw).map_err(|_| bad())?;
    if t <= Utc::now() {
        return Err(ApiError::bad_request("the expiry is in the past"));
    }
    Ok(t)
}

fn principal_json(p: &Principal) -> Value {
    json!({
        "name": p.name,
        "kind": if p.is_consumer_key() { "consumer_key" } else { "user" },
        "superuser": p.is_superuser(),
        "roles": p.memberships().iter().map(|(t, r)| json!({"team": t, "role": r.as_str()})).collect::<Vec<_>>(),
        "purpose": p.purpose(),
    })
}

// ---- login ----------------------------------------------------------------

#[derive(Deserialize)]
struct LoginBody {
    user: String,
    password: String,
    #[serde(default)]
    expires: Option<String>,
}

/// Checks a user's password; Argon2 runs off the async executor.
async fn check_password(state: &AppState, user: &str, password: &str) -> Result<(), ApiError> {
    let record = match state.db.get_user(user).await {
        Ok(u) if !u.disabled => u.password_hash,
        Ok(_) | Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || match record {
        Some(h) => auth::verify_password(&password, &h),
        None => {
            // Same work whether or not the user exists.
            let _ = auth::hash_password(&password);
            false
        }
    })
    .await
    .map_err(ApiError::internal)?;
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "wrong user name or password",
        ))
    }
}

/// Records a refused sign-in (a wrong password, a throttled attempt, a
/// form without its CSRF token) as a denial of `user` from `address`: the
/// first of its group is written at once, repeats are counted into one
/// entry. Refusals are grouped per account, except those of an address held
/// back as a whole (`per_address`), which are one group whatever names it
/// tries.
async fn refused_login(
    state: &AppState,
    action: &str,
    user: &str,
    address: &str,
    per_address: bool,
    outcome: &str,
    reason: String,
) {
    let user: String = user.chars().take(64).collect();
    let actor = if per_address {
        "-".to_string()
    } else {
        user.clone()
    };
    auth::record(
        state,
        Denial {
            object: format!("users/{user}"),
            actor,
            address: address.to_string(),
            action: action.to_string(),
            outcome: outcome.to_string(),
            reason,
            path: None,
            teams: Vec::new(),
        },
    )
    .await;
}

/// Why a sign-in failed.
enum LoginError {
    /// Too many failures for the account or from the address.
    Throttled(Throttled),
    /// Wrong user name or password (also: a disabled user).
    Wrong(ApiError),
    Internal(ApiError),
}

/// Checks a password within the sign-in throttle, and records refusals.
async fn sign_in(
    state: &AppState,
    action: &str,
    user: &str,
    password: &str,
    address: &str,
) -> Result<(), LoginError> {
    if let Err(t) = state.auth.throttle.begin(user, address, Instant::now()) {
        let reason = format!(
            "too many failed sign-ins {}; retry after {} s",
            if t.by == "account" {
                "for this account"
            } else {
                "from this address"
            },
            t.retry_after_secs()
        );
        let per_address = t.by == "address";
        refused_login(
            state,
            action,
            user,
            address,
            per_address,
            "throttled",
            reason,
        )
        .await;
        return Err(LoginError::Throttled(t));
    }
    match check_password(state, user, password).await {
        Ok(()) => {
            state.auth.throttle.succeeded(user, address, Instant::now());
            Ok(())
        }
        Err(e) if e.code == ErrorCode::Unauthenticated => {
            refused_login(
                state,
                action,
                user,
                address,
                false,
                "unauthenticated",
                e.message.clone(),
            )
            .await;
            Err(LoginError::Wrong(e))
        }
        Err(e) => Err(LoginError::Internal(e)),
    }
}

/// 429 with the throttle's `Retry-After`.
fn throttled_response(t: Throttled) -> Response {
    let mut resp = ApiError::new(
        ErrorCode::RateLimited,
        format!(
            "too many failed sign-ins; retry after {} s",
            t.retry_after_secs()
        ),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(t.retry_after_secs()));
    resp
}

async fn issue(
    state: &AppState,
    kind: &str,
    user: Option<&str>,
    name: &str,
    expires_at: Option<DateTime<Utc>>,
    actor: &str,
) -> Result<(auth::NewSecret, TokenRecord), ApiError> {
    let secret = auth::new_secret();
    let record = TokenRecord {
        id: secret.id.clone(),
        kind: kind.into(),
        user: user.map(String::from),
        secret_hash: secret.secret_hash.clone(),
        name: name.into(),
        deployments: vec![],
        purpose: String::new(),
        rate_limit: None,
        created_at: Utc::now(),
        created_by: actor.into(),
        expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    state.db.create_token(&record).await?;
    Ok((secret, record))
}

/// `POST /api/v1/login`: a password for an API token (what `hangar login`
/// stores), 30 days unless `expires` says otherwise.
async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddress>,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Response, ApiError> {
    match sign_in(
        &state,
        "POST /api/v1/login",
        &body.user,
        &body.password,
        &client.0,
    )
    .await
    {
        Ok(()) => {}
        Err(LoginError::Throttled(t)) => return Ok(throttled_response(t)),
        Err(LoginError::Wrong(e) | LoginError::Internal(e)) => return Err(e),
    }
    let expires = match body.expires.as_deref() {
        Some(e) => parse_expiry(e)?,
        None => Utc::now() + Duration::days(30),
    };
    let (secret, record) = issue(
        &state,
        "api",
        Some(&body.user),
        "hangar login",
        Some(expires),
        &body.user,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": record.id,
            "token": secret.token,
            "user": body.user,
            "expires_at": ts(expires),
        })),
    )
        .into_response())
}

/// `POST /login`: the dashboard's login form; sets the session cookie. The
/// form carries the CSRF token of its cookie (as every dashboard form
/// carries its session's); a sign-in goes only to a path of this server.
async fn login_form(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddress>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let user = auth::form_field(&body, "user").unwrap_or_default();
    let password = auth::form_field(&body, "password").unwrap_or_default();
    let next = auth::form_field(&body, "next")
        .filter(|n| auth::safe_next(n).is_some())
        .unwrap_or_else(|| "/".into());
    if !auth::login_csrf_ok(&headers, auth::form_field(&body, "csrf").as_deref()) {
        refused_login(
            &state,
            "POST /login",
            &user,
            &client.0,
            false,
            "forbidden",
            "missing or wrong CSRF token on the sign-in form".into(),
        )
        .await;
        let mut resp = crate::http::dashboard::login_page(
            &state,
            &headers,
            &next,
            Some("The sign-in form had expired or did not come from this server. Sign in again."),
        );
        *resp.status_mut() = StatusCode::FORBIDDEN;
        return resp;
    }
    match sign_in(&state, "POST /login", &user, &password, &client.0).await {
        Ok(()) => {}
        Err(LoginError::Throttled(t)) => {
            let notice = format!(
                "Too many failed sign-ins. Wait {} seconds, then try again.",
                t.retry_after_secs()
            );
            let mut resp =
                crate::http::dashboard::login_page(&state, &headers, &next, Some(&notice));
            *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(t.retry_after_secs()));
            return resp;
        }
        Err(LoginError::Wrong(_)) => {
            let to = if next == "/" {
                "/login?error=1".to_string()
            } else {
                format!("/login?error=1&next={}", crate::http::dashboard::url(&next))
            };
            let mut resp = redirect(&to, None);
            resp.extensions_mut().insert(auth::Refused);
            return resp;
        }
        Err(LoginError::Internal(e)) => return e.into_response(),
    }
    let expires = Utc::now() + Duration::from_std(auth::SESSION_TTL).unwrap_or(Duration::hours(12));
    match issue(
        &state,
        "session",
        Some(&user),
        "dashboard session",
        Some(expires),
        &user,
    )
    .await
    {
        Ok((secret, _)) => {
            let cookie = auth::set_cookie(
                auth::SESSION_COOKIE,
                &secret.token,
                "/",
                Some(auth::SESSION_TTL.as_secs()),
                state.secure_cookies,
            );
            redirect(&next, Some(cookie))
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /logout`: revokes the session and clears the cookie.
async fn logout(State(state): State<AppState>, Extension(a): Extension<Authenticated>) -> Response {
    if a.csrf.is_some() {
        let _ = state.db.revoke_token(&a.token_id).await;
        state.auth.forget(&a.token_id);
    }
    redirect(
        "/login",
        Some(auth::set_cookie(
            auth::SESSION_COOKIE,
            "",
            "/",
            Some(0),
            state.secure_cookies,
        )),
    )
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

async fn whoami(Extension(a): Extension<Authenticated>) -> Json<Value> {
    let mut v = principal_json(&a.principal);
    v["token_id"] = json!(a.token_id);
    Json(v)
}

// ---- teams and users --------------------------------------------------------

async fn list_teams(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
) -> Result<Json<Value>, ApiError> {
    let teams: Vec<Value> = state
        .db
        .list_teams()
        .await?
        .into_iter()
        .filter(|t| a.principal.sees(&t.name))
        .map(
            |t| json!({"name": t.name, "created_at": ts(t.created_at), "created_by": t.created_by}),
        )
        .collect();
    Ok(Json(json!({ "teams": teams })))
}

#[derive(Deserialize)]
struct TeamBody {
    name: String,
}

async fn create_team(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TeamBody>,
) -> Result<Response, ApiError> {
    validate_name(NameKind::Team, &body.name)?;
    let t = state
        .db
        .create_team(&body.name, &crate::http::api::actor(&headers))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": t.name, "created_at": ts(t.created_at), "created_by": t.created_by})),
    )
        .into_response())
}

fn user_json(u: &hangar_store::UserRecord) -> Value {
    json!({
        "name": u.name,
        "superuser": u.superuser,
        "roles": u.memberships.iter().map(|(t, r)| json!({"team": t, "role": r.as_str()})).collect::<Vec<_>>(),
        "password": u.password_hash.is_some(),
        "created_at": ts(u.created_at),
        "created_by": u.created_by,
        "disabled": u.disabled,
    })
}

async fn list_users(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let users: Vec<Value> = state.db.list_users().await?.iter().map(user_json).collect();
    Ok(Json(json!({ "users": users })))
}

#[derive(Deserialize)]
struct UserBody {
    name: String,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    superuser: bool,
}

const MIN_PASSWORD: usize = 12;

async fn password_hash(password: Option<String>) -> Result<Option<String>, ApiError> {
    match password {
        None => Ok(None),
        Some(p) if p.chars().count() < MIN_PASSWORD => Err(ApiError::bad_request(format!(
            "the password is too short: at least {MIN_PASSWORD} characters"
        ))),
        Some(p) if p.len() > 1024 => Err(ApiError::bad_request("the password is too long")),
        Some(p) => tokio::task::spawn_blocking(move || auth::hash_password(&p))
            .await
            .map_err(ApiError::internal)?
            .map(Some),
    }
}

fn membership(team: Option<String>, role: Option<String>) -> Result<Vec<(String, Role)>, ApiError> {
    match (team, role) {
        (None, None) => Ok(vec![]),
        (Some(t), Some(r)) => {
            validate_name(NameKind::Team, &t)?;
            let role = r
                .parse::<Role>()
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
            Ok(vec![(t, role)])
        }
        _ => Err(ApiError::bad_request("give both a team and a role")),
    }
}

async fn create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UserBody>,
) -> Result<Response, ApiError> {
    validate_name(NameKind::User, &body.name)?;
    let roles = membership(body.team, body.role)?;
    for (t, _) in &roles {
        if !state.db.team_exists(t).await? {
            return Err(ApiError::not_found(format!(
                "team '{t}' not found; create it with `hangar team create {t}`"
            )));
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
            &crate::http::api::actor(&headers),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user_json(&u))).into_response())
}

#[derive(Deserialize)]
struct RoleBody {
    team: String,
    role: String,
}

async fn add_role(
    State(state): State<AppState>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Json<Value>, ApiError> {
    let roles = membership(Some(body.team), Some(body.role))?;
    let (team, role) = &roles[0];
    if !state.db.team_exists(team).await? {
        return Err(ApiError::not_found(format!("team '{team}' not found")));
    }
    state.db.get_user(&user).await?;
    let u = state.db.add_membership(&user, team, *role).await?;
    state.auth.forget_all();
    Ok(Json(user_json(&u)))
}

// ---- API tokens -------------------------------------------------------------

fn token_json(t: &TokenRecord) -> Value {
    json!({
        "id": t.id,
        "kind": t.kind,
        "user": t.user,
        "name": t.name,
        "deployments": t.deployments,
        "purpose": t.purpose,
        "rate_limit": t.rate_limit,
        "created_at": ts(t.created_at),
        "created_by": t.created_by,
        "expires_at": t.expires_at.map(ts),
        "revoked_at": t.revoked_at.map(ts),
        "last_used_at": t.last_used_at.map(ts),
    })
}

#[derive(Deserialize)]
struct TokensQuery {
    #[serde(default)]
    user: Option<String>,
    /// `api` (the default) or `metrics` (administrators).
    #[serde(default)]
    kind: Option<String>,
}

/// Only a Hangar administrator issues, lists or revokes metrics tokens:
/// they read every team's metrics.
fn metrics_tokens_need_an_administrator(p: &Principal) -> Result<(), ApiError> {
    if p.is_superuser() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "metrics tokens read every team's metrics; only a Hangar administrator manages them",
        ))
    }
}

/// A token kind a caller may ask for by name.
fn token_kind(kind: Option<&str>) -> Result<&'static str, ApiError> {
    match kind.unwrap_or("api") {
        "api" => Ok("api"),
        "metrics" => Ok("metrics"),
        other => Err(ApiError::bad_request(format!(
            "unknown token kind {:?}: expected api or metrics",
            other.chars().take(20).collect::<String>()
        ))),
    }
}

async fn list_tokens(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    Query(q): Query<TokensQuery>,
) -> Result<Json<Value>, ApiError> {
    if token_kind(q.kind.as_deref())? == "metrics" {
        metrics_tokens_need_an_administrator(&a.principal)?;
        let tokens: Vec<Value> = state
            .db
            .list_tokens("metrics", None)
            .await?
            .iter()
            .map(token_json)
            .collect();
        return Ok(Json(json!({ "tokens": tokens })));
    }
    let user = match q.user {
        Some(u) if u != a.principal.name && !a.principal.is_superuser() => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "only a Hangar administrator may list another user's tokens",
            ))
        }
        Some(u) => u,
        None => a.principal.name.clone(),
    };
    let tokens: Vec<Value> = state
        .db
        .list_tokens("api", Some(&user))
        .await?
        .iter()
        .map(token_json)
        .collect();
    Ok(Json(json!({ "tokens": tokens })))
}

#[derive(Deserialize)]
struct TokenBody {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    expires: Option<String>,
    /// `api` (the default: acts as its user) or `metrics` (reads /metrics
    /// and nothing else; administrators only).
    #[serde(default)]
    kind: Option<String>,
}

async fn create_token(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Response, ApiError> {
    if token_kind(body.kind.as_deref())? == "metrics" {
        metrics_tokens_need_an_administrator(&a.principal)?;
        if body.user.is_some() {
            return Err(ApiError::bad_request(
                "a metrics token belongs to no user: leave out `user`",
            ));
        }
        let expires = body.expires.as_deref().map(parse_expiry).transpose()?;
        let name: String = body.name.unwrap_or_default().chars().take(100).collect();
        let (secret, record) =
            issue(&state, "metrics", None, &name, expires, &a.principal.name).await?;
        let mut v = token_json(&record);
        v["token"] = json!(secret.token);
        return Ok((StatusCode::CREATED, Json(v)).into_response());
    }
    let user = body.user.unwrap_or_else(|| a.principal.name.clone());
    if user != a.principal.name && !a.principal.is_superuser() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only a Hangar administrator may create a token for another user",
        ));
    }
    state.db.get_user(&user).await?;
    let expires = body.expires.as_deref().map(parse_expiry).transpose()?;
    let name: String = body.name.unwrap_or_default().chars().take(100).collect();
    let (secret, record) = issue(
        &state,
        "api",
        Some(&user),
        &name,
        expires,
        &a.principal.name,
    )
    .await?;
    let mut v = token_json(&record);
    v["token"] = json!(secret.token);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn revoke_token(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = state.db.get_token(&id).await?;
    let own = t.user.as_deref() == Some(a.principal.name.as_str());
    if t.kind == "consumer" || !(own || a.principal.is_superuser()) {
        // Another user's token, a consumer key, or (for anyone but an
        // administrator) a metrics token: as if it did not exist.
        return Err(ApiError::not_found(format!("token '{id}' not found")));
    }
    let t = state.db.revoke_token(&id).await?;
    state.auth.forget(&id);
    Ok(Json(token_json(&t)))
}

// ---- consumer keys ----------------------------------------------------------

#[derive(Deserialize)]
struct KeyBody {
    #[serde(default)]
    deployment: Option<String>,
    #[serde(default)]
    deployments: Vec<String>,
    purpose: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    expires: Option<String>,
    #[serde(default)]
    rate_limit: Option<f64>,
}

/// Checks the principal may issue keys for `deployment`; returns the
/// model cards of the models it serves now.
async fn key_scope(
    state: &AppState,
    p: &Principal,
    deployment: &str,
) -> Result<Vec<Value>, ApiError> {
    let team = state
        .db
        .deployment_team(deployment)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("deployment '{deployment}' not found")))?;
    if !p.sees(&team) {
        return Err(ApiError::not_found(format!(
            "deployment '{deployment}' not found"
        )));
    }
    if !p.can(Action::Deploy, &team) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "{} may not issue keys for deployment '{deployment}' (team '{team}')",
                p.name
            ),
        ));
    }
    let d = state.db.get_deployment(deployment).await?;
    let mut cards = Vec::new();
    for r in &d.current.table.routes {
        let m = state.db.get_model(&r.target.model).await?;
        cards.push(json!({
            "model": m.name,
            "intended_use": m.card.intended_use,
            "out_of_scope_uses": m.card.out_of_scope_uses,
            "risk_tier": m.card.risk_tier.as_str(),
        }));
    }
    Ok(cards)
}

async fn create_key(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    JsonBody(body): JsonBody<KeyBody>,
) -> Result<Response, ApiError> {
    let mut deployments = body.deployments;
    deployments.extend(body.deployment);
    deployments.sort();
    deployments.dedup();
    if deployments.is_empty() {
        return Err(ApiError::bad_request(
            "name at least one deployment the key may call",
        ));
    }
    let purpose = body.purpose.trim().to_string();
    if purpose.is_empty() || purpose.len() > 500 {
        return Err(ApiError::bad_request(
            "declare the key's purpose (1 to 500 characters): what the predictions are used for",
        ));
    }
    if let Some(r) = body.rate_limit {
        if !(r.is_finite() && r > 0.0) {
            return Err(ApiError::bad_request(
                "rate_limit must be a positive number of requests per second",
            ));
        }
    }
    let mut cards = Vec::new();
    for d in &deployments {
        cards.extend(key_scope(&state, &a.principal, d).await?);
    }
    let expires = body.expires.as_deref().map(parse_expiry).transpose()?;
    let secret = auth::new_secret();
    let record = TokenRecord {
        id: secret.id.clone(),
        kind: "consumer".into(),
        user: None,
        secret_hash: secret.secret_hash.clone(),
        name: body.name.unwrap_or_default().chars().take(100).collect(),
        deployments,
        purpose,
        rate_limit: body.rate_limit,
        created_at: Utc::now(),
        created_by: a.principal.name.clone(),
        expires_at: expires,
        revoked_at: None,
        last_used_at: None,
    };
    state.db.create_token(&record).await?;
    let mut v = token_json(&record);
    v["token"] = json!(secret.token);
    v["models"] = json!(cards);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn visible_key(state: &AppState, p: &Principal, t: &TokenRecord) -> Result<bool, ApiError> {
    for d in &t.deployments {
        if let Some(team) = state.db.deployment_team(d).await? {
            if p.can(Action::Deploy, &team) {
                return Ok(true);
            }
        }
    }
    Ok(p.is_superuser())
}

async fn list_keys(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
) -> Result<Json<Value>, ApiError> {
    let mut keys = Vec::new();
    for t in state.db.list_tokens("consumer", None).await? {
        if visible_key(&state, &a.principal, &t).await? {
            keys.push(token_json(&t));
        }
    }
    Ok(Json(json!({ "keys": keys })))
}

async fn revoke_key(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = state.db.get_token(&id).await?;
    if t.kind != "consumer" || !visible_key(&state, &a.principal, &t).await? {
        return Err(ApiError::not_found(format!(
            "consumer key '{id}' not found"
        )));
    }
    let t = state.db.revoke_token(&id).await?;
    state.auth.forget(&id);
    Ok(Json(token_json(&t)))
}

// ---- signing ----------------------------------------------------------------

async fn list_trusted(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let keys: Vec<Value> = state
        .db
        .list_trusted_keys()
        .await?
        .into_iter()
        .map(|k| json!({"name": k.name, "public_key": k.public_key, "created_at": ts(k.created_at), "created_by": k.created_by}))
        .collect();
    Ok(Json(json!({ "keys": keys })))
}

#[derive(Deserialize)]
struct TrustedBody {
    name: String,
    public_key: String,
}

async fn add_trusted(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TrustedBody>,
) -> Result<Response, ApiError> {
    validate_name(NameKind::Key, &body.name)?;
    let pk = body.public_key.trim().to_ascii_lowercase();
    let bytes: [u8; 32] = hex::decode(&pk)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ApiError::bad_request("public_key must be an Ed25519 public key: 32 bytes in hex")
        })?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|_| ApiError::bad_request("public_key is not a valid Ed25519 public key"))?;
    let k = state
        .db
        .add_trusted_key(&body.name, &pk, &crate::http::api::actor(&headers))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": k.name, "public_key": k.public_key, "created_at": ts(k.created_at), "created_by": k.created_by})),
    )
        .into_response())
}

#[derive(Deserialize)]
struct SignatureBody {
    public_key: String,
    signature: String,
}

async fn add_signature(
    State(state): State<AppState>,
    Path((model, version)): Path<(String, String)>,
    JsonBody(body): JsonBody<SignatureBody>,
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
        Json(json!({
            "model": model, "version": version, "digest": v.digest, "public_key": pk,
            "verified": true, "trusted_key": trusted.map(|k| k.name),
        })),
    )
        .into_response())
}

// ---- approvals --------------------------------------------------------------

fn decision_json(d: &ApprovalRecord) -> Value {
    json!({
        "decision": if d.approved { "approved" } else { "rejected" },
        "digest": d.digest,
        "comment": d.comment,
        "by": d.by,
        "at": ts(d.at),
    })
}

async fn list_decisions(
    State(state): State<AppState>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let version = version_number(&version)?;
    let v = state.db.get_version(&model, version).await?;
    let decisions = state.db.decisions(&model, version).await?;
    let status =
        match crate::service::governance::production_check(&state.db, &model, version).await {
            Ok(()) => json!({"production_allowed": true, "reason": null}),
            Err(e) => json!({"production_allowed": false, "reason": e.message()}),
        };
    let signatures: Vec<Value> = state
        .db
        .signatures(&model, version)
        .await?
        .into_iter()
        .map(|s| json!({"public_key": s.public_key, "at": ts(s.created_at)}))
        .collect();
    Ok(Json(json!({
        "model": model,
        "version": version,
        "digest": v.digest,
        "pushed_by": v.created_by,
        "decisions": decisions.iter().map(decision_json).collect::<Vec<_>>(),
        "production_allowed": status["production_allowed"],
        "reason": status["reason"],
        "signatures": signatures,
    })))
}

#[derive(Deserialize)]
struct DecisionBody {
    decision: String,
    comment: String,
}

async fn decide(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    Path((model, version)): Path<(String, String)>,
    JsonBody(body): JsonBody<DecisionBody>,
) -> Result<Response, ApiError> {
    let version = version_number(&version)?;
    let approved = match body.decision.as_str() {
        "approve" | "approved" => true,
        "reject" | "rejected" => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "decision must be approve or reject, not {:?}",
                other.chars().take(20).collect::<String>()
            )))
        }
    };
    let comment = body.comment.trim().to_string();
    if comment.is_empty() || comment.len() > 2000 {
        return Err(ApiError::bad_request(
            "a decision carries a comment (1 to 2000 characters) saying what was checked",
        ));
    }
    let v = state.db.get_version(&model, version).await?;
    if !may_decide(&a.principal.name, &v.created_by) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "four eyes: {} pushed {model}:{version} and cannot also approve or reject it; another approver must",
                a.principal.name
            ),
        ));
    }
    let record = ApprovalRecord {
        model: model.clone(),
        version,
        digest: v.digest.clone(),
        approved,
        comment,
        by: a.principal.name.clone(),
        at: Utc::now(),
    };
    state.db.add_decision(&record).await?;
    Ok((StatusCode::CREATED, Json(decision_json(&record))).into_response())
}

// ---- audit ------------------------------------------------------------------

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

fn audit_json(e: &AuditEntry) -> Value {
    json!({
        "seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "address": e.address,
        "action": e.action,
        "object": e.object,
        "outcome": e.outcome,
        "detail": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::String(e.detail.clone())),
        "hash": e.hash,
    })
}

/// The teams whose audit entries `p` may read: `None` for a Hangar
/// administrator (every entry), otherwise the teams where `p` holds a role
/// that reads the audit log (admin, approver). Entries of other teams, and
/// entries concerning no team, are left out.
pub(crate) fn audit_scope(p: &Principal) -> Option<Vec<String>> {
    if p.is_superuser() {
        return None;
    }
    let mut teams: Vec<String> = p
        .memberships()
        .iter()
        .filter(|(t, _)| p.can(Action::Audit, t))
        .map(|(t, _)| t.clone())
        .collect();
    teams.sort();
    teams.dedup();
    Some(teams)
}

async fn list_audit(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = AuditFilter {
        actor: q.actor.filter(|s| !s.is_empty()),
        object: q.object.filter(|s| !s.is_empty()),
        from: q.from.as_deref().map(parse_time).transpose()?,
        to: q.to.as_deref().map(parse_time).transpose()?,
        teams: audit_scope(&a.principal),
        limit: q.limit.unwrap_or(200).min(10_000),
    };
    // Denials still being counted are written first, so the log read is
    // complete up to now.
    auth::flush_denials(&state, true).await;
    let entries = state.db.list_audit(&filter).await?;
    Ok(Json(
        json!({ "entries": entries.iter().map(audit_json).collect::<Vec<_>>() }),
    ))
}

async fn verify_audit(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(verify_json(&state).await?))
}

/// The audit chain's verification as JSON (the API's and the dashboard's).
pub(crate) async fn verify_json(state: &AppState) -> Result<Value, ApiError> {
    auth::flush_denials(state, true).await;
    let (entries, head) = state.db.audit_chain().await?;
    let n = entries.len();
    let result = tokio::task::spawn_blocking(move || {
        verify_chain(&entries, head.as_ref().map(|(s, h)| (*s, h.as_str())))
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(match result {
        Ok(()) => json!({"ok": true, "entries": n, "first_break": null}),
        Err(b) => {
            let seq = match &b {
                hangar_core::governance::ChainBreak::Edited { seq }
                | hangar_core::governance::ChainBreak::Broken { seq, .. } => *seq,
                hangar_core::governance::ChainBreak::Truncated { last_seq, .. } => *last_seq + 1,
            };
            json!({"ok": false, "entries": n, "first_break": {"seq": seq, "message": b.to_string()}})
        }
    })
}
