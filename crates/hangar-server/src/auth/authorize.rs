//! The one permission check: the route layer for HTTP and the same decision for gRPC calls; denials recorded.

use super::*;
use hangar_store::Missing;
use Action as A;

/// The permission check, as a route layer (so the matched route and its
/// path parameters are known).
pub async fn authorize(
    State(state): State<AppState>,
    matched: MatchedPath,
    params: RawPathParams,
    mut req: Request,
    next: Next,
) -> Response {
    // HEAD is GET without the body (axum answers it from the GET handler).
    let method = if req.method() == Method::HEAD {
        &Method::GET
    } else {
        req.method()
    };
    let Some(rule) = rule(method, matched.as_str()) else {
        // The path exists, not with this method (TRACE, OPTIONS, a typo).
        return method_not_allowed(matched.as_str());
    };
    if rule.policy == Policy::Public {
        // The sign-in handlers throttle and audit by address.
        let client = ClientAddress(address(&req));
        req.extensions_mut().insert(client);
        return audited(&state, rule, None, &[], req, next).await;
    }
    let params: HashMap<&str, &str> = params.iter().collect();
    let authn = match credential(req.headers()) {
        None => Err(Denied::Unauthenticated(
            "authentication required: send `Authorization: Bearer <token>` (hangar login, or HANGAR_TOKEN)",
        )),
        Some((token, cookie)) => state.auth.authenticate(&state, &token, cookie).await,
    };
    let authn = match authn {
        Ok(a) => a,
        Err(Denied::Unauthenticated(_)) if wants_a_page(&req) => {
            // A person opening a dashboard page is sent to the login form.
            return login_redirect(req.uri());
        }
        Err(d) => return deny(&state, d, denial("-", rule, &req), rule, &params).await,
    };
    let who = authn.principal.name.clone();
    if let Err(d) = decide(&state, rule.policy, &authn.principal, &params).await {
        return deny(&state, d, denial(&who, rule, &req), rule, &params).await;
    }
    if let Some(rate) = authn.rate {
        if !state.auth.take(&authn.token_id, rate) {
            // Not audited one by one: a flood would flood the log.
            let e = Denied::RateLimited.error();
            return if is_v2(req.uri().path()) {
                e.into_v2_response()
            } else {
                e.into_response()
            };
        }
    }
    // A session cookie authorises a change only with its CSRF token, in the
    // `x-csrf-token` header or the form's `csrf` field.
    if authn.csrf.is_some() && !matches!(*req.method(), Method::GET | Method::HEAD) {
        let (ok, rebuilt) = csrf_ok(req, authn.csrf.as_deref().unwrap_or_default()).await;
        req = rebuilt;
        if !ok {
            let d = Denied::Forbidden("missing or wrong CSRF token; reload the page".into());
            return deny(&state, d, denial(&who, rule, &req), rule, &params).await;
        }
    }
    if let Some(p) = authn.principal.purpose() {
        req.extensions_mut().insert(Purpose(p.into()));
    }
    // Only an audited route needs the principal and the path's objects
    // after the request moves on.
    let principal = rule.audit.then(|| authn.principal.clone());
    let params: Vec<(String, String)> = if rule.audit {
        params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    } else {
        Vec::new()
    };
    req.extensions_mut().insert(authn);
    audited(&state, rule, principal.as_ref(), &params, req, next).await
}

/// The same check for a call that does not come through the HTTP router
/// (the gRPC service): bearer tokens only, the deployment named by `name`.
#[cfg_attr(not(feature = "grpc"), allow(dead_code))]
pub(crate) async fn authorize_call(
    state: &AppState,
    headers: &HeaderMap,
    policy: Policy,
    action: &str,
    name: &str,
) -> Result<Authenticated, crate::service::error::Error> {
    let refused = |e: ApiError| crate::service::error::Error::new(e.code, e.message);
    let token = credential(headers)
        .filter(|(_, cookie)| !cookie)
        .map(|(t, _)| t);
    let authn = match token {
        None => Err(Denied::Unauthenticated(
            "authentication required: send `authorization: Bearer <token>` metadata",
        )),
        Some(t) => state.auth.authenticate(state, &t, false).await,
    };
    let entry = |who: &str| Denial {
        actor: who.to_string(),
        address: "grpc".into(),
        action: action.to_string(),
        object: format!("grpc/{}", name.chars().take(128).collect::<String>()),
        outcome: String::new(),
        reason: String::new(),
        path: None,
        teams: Vec::new(),
    };
    let authn = match authn {
        Ok(a) => a,
        Err(d) => return Err(refused(record_denial(state, d, entry("-")).await)),
    };
    let params: HashMap<&str, &str> = [("name", name)].into_iter().collect();
    if let Err(d) = decide(state, policy, &authn.principal, &params).await {
        let who = authn.principal.name.clone();
        let mut denial = entry(&who);
        if let Ok(Some(t)) = state.auth.team(state, false, name).await {
            denial.teams.push(t);
        }
        return Err(refused(record_denial(state, d, denial).await));
    }
    if let Some(rate) = authn.rate {
        if !state.auth.take(&authn.token_id, rate) {
            return Err(refused(Denied::RateLimited.error()));
        }
    }
    Ok(authn)
}

/// A browser asking for a dashboard page (not the API, the inference
/// protocol or metrics).
pub(super) fn wants_a_page(req: &Request) -> bool {
    let path = req.uri().path();
    *req.method() == Method::GET
        && !(path.starts_with("/api/") || path.starts_with("/v2") || path == "/metrics")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

pub(super) fn login_redirect(uri: &axum::http::Uri) -> Response {
    let next: String = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/login?next={next}")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// The object a path names, for the audit log: the path without its API
/// prefix (`models/credit/versions`).
pub(super) fn object_of(path: &str) -> String {
    path.trim_start_matches("/api/v1/")
        .trim_start_matches('/')
        .chars()
        .take(256)
        .collect()
}

pub(super) async fn decide(
    state: &AppState,
    policy: Policy,
    p: &Principal,
    params: &HashMap<&str, &str>,
) -> Result<(), Denied> {
    let forbidden = |what: &str| Denied::Forbidden(format!("{} may not {what}", p.name));
    if p.is_metrics() && !matches!(policy, Policy::Public | Policy::Metrics) {
        return Err(forbidden("do anything but read /metrics"));
    }
    match policy {
        Policy::Metrics if p.is_superuser() || p.is_metrics() => Ok(()),
        Policy::Metrics => Err(forbidden(
            "read the metrics: they cover every team; a Hangar administrator or a metrics token may",
        )),
        Policy::Public | Policy::Principal => Ok(()),
        Policy::User if p.is_consumer_key() => {
            Err(forbidden("call this route with a consumer key"))
        }
        Policy::User => Ok(()),
        Policy::AnyTeam(a) if p.can_anywhere(a) => Ok(()),
        Policy::AnyTeam(a) => Err(forbidden(verb(a))),
        Policy::Global(A::Audit) if p.is_superuser() || p.can_anywhere(A::Audit) => Ok(()),
        Policy::Global(a) if p.can(a, "") => Ok(()),
        Policy::Global(a) => Err(forbidden(verb(a))),
        Policy::Model(a) if p.is_consumer_key() => Err(forbidden(verb(a))),
        Policy::Model(a) => {
            let model = params.get("model").copied().unwrap_or_default();
            let team = state
                .auth
                .team(state, true, model)
                .await
                .map_err(|e| team_unknown(e, "the model's team could not be checked"))?;
            scoped(p, a, team.as_deref(), Missing::Model(model.to_string()))
        }
        Policy::Deployment(a) => {
            let name = params.get("name").copied().unwrap_or_default();
            if p.is_consumer_key() {
                return if p.key_allows(a, name) {
                    Ok(())
                } else {
                    Err(Denied::Forbidden(format!(
                        "this consumer key is not issued for deployment '{name}'"
                    )))
                };
            }
            let team = state
                .auth
                .team(state, false, name)
                .await
                .map_err(|e| team_unknown(e, "the deployment's team could not be checked"))?;
            scoped(p, a, team.as_deref(), Missing::Deployment(name.to_string()))
        }
    }
}

/// Why a team lookup failed, as a denial: the database out of reach (503),
/// or a fault (refused, saying `why`).
fn team_unknown(e: ApiError, why: &str) -> Denied {
    if e.code == ErrorCode::DatabaseUnavailable {
        Denied::Unavailable
    } else {
        tracing::error!(error = %e.message, "team lookup failed");
        Denied::Forbidden(why.into())
    }
}

/// The check for an object that may not exist: a missing object passes for
/// a principal who could act on one somewhere (the handler answers 404); an
/// object of a team the principal is not in is hidden (404).
pub(super) fn scoped(
    p: &Principal,
    a: Action,
    team: Option<&str>,
    what: Missing,
) -> Result<(), Denied> {
    match team {
        None if p.can_anywhere(a) => Ok(()),
        None => Err(Denied::Forbidden(format!("{} may not {}", p.name, verb(a)))),
        Some(t) if p.can(a, t) => Ok(()),
        Some(t) if !p.sees(t) => Err(Denied::Hidden(what)),
        Some(t) => Err(Denied::Forbidden(format!(
            "{} may not {} in team '{t}'",
            p.name,
            verb(a)
        ))),
    }
}

pub(super) fn verb(a: Action) -> &'static str {
    match a {
        A::Read => "read",
        A::Infer => "call this deployment",
        A::Feedback => "send feedback",
        A::Push => "push versions or change models",
        A::Deploy => "deploy, promote or roll back",
        A::Approve => "approve versions",
        A::Audit => "read the audit log",
        A::Administer => "administer Hangar",
    }
}

/// The audit entry's action for a route: `POST /api/v1/models`.
pub(super) fn action_of(method: &Method, rule: &Rule) -> String {
    format!("{method} {}", rule.path)
}

/// Who did what from where, for the audit entry of a denied request (its
/// outcome, reason and teams are filled in by [`deny`]). Synchronous: a
/// request is not Sync, so a reference to it must not live in the
/// middleware's future across an await.
pub(super) fn denial(who: &str, rule: &Rule, req: &Request) -> Denial {
    let path = req.uri().path();
    Denial {
        actor: who.to_string(),
        address: address(req),
        action: action_of(req.method(), rule),
        object: object_of(path),
        outcome: String::new(),
        reason: String::new(),
        path: Some(crate::service::denials::cap(
            path,
            crate::service::denials::PATH_CHARS,
        )),
        teams: Vec::new(),
    }
}

/// Answers a denied request and records it in the audit log. The teams
/// owning what was asked for are looked up for authenticated callers only
/// (anonymous requests cause no lookups; their denials are for
/// administrators).
pub(super) async fn deny(
    state: &AppState,
    d: Denied,
    mut denial: Denial,
    rule: &Rule,
    params: &HashMap<&str, &str>,
) -> Response {
    if !matches!(d, Denied::Unauthenticated(_) | Denied::Unavailable) {
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, *v)).collect();
        denial.teams = path_teams(state, rule, &pairs).await;
    }
    let path = denial.path.clone().unwrap_or_default();
    let e = record_denial(state, d, denial).await;
    if is_v2(&path) {
        e.into_v2_response()
    } else if is_page_route(&path) && e.code != ErrorCode::Unauthenticated {
        // A signed-in person who may not see a dashboard page gets a page
        // saying so, not the API's JSON.
        crate::http::dashboard::error_page(None, e)
    } else {
        e.into_response()
    }
}

/// A route of the inference protocol, whose errors have its shape
/// (`{"error": "…"}`): `/v2` itself and everything under it.
pub(super) fn is_v2(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

/// A route of the dashboard (a page or one of its forms), not of the
/// management API, the inference protocol or metrics.
pub(super) fn is_page_route(path: &str) -> bool {
    !(path.starts_with("/api/") || is_v2(path) || path == "/metrics")
}

/// Records a denial (who, from where, what) with its outcome and reason in
/// the audit log; returns the error to answer with.
pub(super) async fn record_denial(state: &AppState, d: Denied, mut denial: Denial) -> ApiError {
    let e = d.error();
    if matches!(d, Denied::Unavailable) {
        // Nobody was refused: the check could not be made (and the audit
        // log, in the same database, could not take the entry either).
        return e;
    }
    denial.outcome = d.outcome().to_string();
    denial.reason = e.message.clone();
    record(state, denial).await;
    e
}

/// Records a denial: written at once when it is the first of its group,
/// otherwise counted into the group's aggregated entry (see `denials`).
pub(crate) async fn record(state: &AppState, denial: Denial) {
    if let Some(entry) = state
        .auth
        .denials
        .record(denial, Instant::now(), Utc::now())
    {
        append(state, entry).await;
    }
}

/// Appends the aggregated entries of the denial groups whose window has
/// closed (every open group when `all`: before the log is read, and at
/// shutdown).
pub async fn flush_denials(state: &AppState, all: bool) {
    for entry in state.auth.denials.due(Instant::now(), all) {
        append(state, entry).await;
    }
}

/// Closes denial groups as their windows end, until the server stops.
pub(crate) async fn flush_denials_every(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        flush_denials(&state, false).await;
    }
}
