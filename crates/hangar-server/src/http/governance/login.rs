//! Signing in and out: the login form, password and token sessions, who am I.

use super::*;

/// Checks a user's password; Argon2 runs off the async executor.
pub(super) async fn check_password(
    state: &AppState,
    user: &str,
    password: &str,
) -> Result<(), ApiError> {
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
pub(super) async fn refused_login(
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
pub(super) enum LoginError {
    /// Too many failures for the account or from the address.
    Throttled(Throttled),
    /// Wrong user name or password (also: a disabled user).
    Wrong(ApiError),
    Internal(ApiError),
}

/// Checks a password within the sign-in throttle, and records refusals.
pub(super) async fn sign_in(
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
pub(super) fn throttled_response(t: Throttled) -> Response {
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

pub(super) async fn issue(
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
pub(super) async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddress>,
    JsonBody(body): JsonBody<wire::LoginRequest>,
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
        Json(wire::LoginToken {
            id: record.id,
            token: secret.token,
            user: body.user,
            expires_at: secs(expires),
        }),
    )
        .into_response())
}

/// `POST /login`: the dashboard's login form; sets the session cookie. The
/// form carries the CSRF token of its cookie (as every dashboard form
/// carries its session's); a sign-in goes only to a path of this server.
pub(super) async fn login_form(
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
pub(super) async fn logout(
    State(state): State<AppState>,
    Extension(a): Extension<Authenticated>,
) -> Response {
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

pub(super) fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

pub(super) async fn whoami(Extension(a): Extension<Authenticated>) -> Json<wire::Whoami> {
    let p = &a.principal;
    Json(wire::Whoami {
        name: p.name.clone(),
        kind: if p.is_consumer_key() {
            "consumer_key"
        } else {
            "user"
        }
        .to_owned(),
        superuser: p.is_superuser(),
        roles: memberships_out(p.memberships()),
        purpose: p.purpose().map(str::to_owned),
        token_id: a.token_id,
    })
}
