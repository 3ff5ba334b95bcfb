//! Authentication, the permission table and the one place where it is
//! enforced, the audit trail of every change and every denial, and per-key
//! rate limits.
//!
//! **Default deny.** Every route is registered through [`Routes::add`], which
//! refuses (panics at start-up, so every test fails) a route that has no row
//! in [`RULES`]. The [`authorize`] layer looks the matched route up in the
//! table, authenticates the caller (a bearer token, or the dashboard's
//! session cookie with a CSRF check on anything that changes state), resolves
//! the team owning the object named in the path, and decides. Handlers see
//! the [`Principal`] in the request's extensions and the actor's name in the
//! internal `x-hangar-principal` header (a client-supplied one is removed).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use chrono::{DateTime, Utc};
use hangar_core::governance::{Action, Principal, PrincipalKind};
use hangar_store::{NewAuditEntry, StoreError, TokenRecord};
use http_body_util::BodyExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::error::{ApiError, ErrorCode};
use crate::service::denials::{Denial, Denials};
use crate::service::throttle::LoginThrottle;
use crate::state::AppState;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone, without a credential (health probes, the login page).
    Public,
    /// Any authenticated principal, consumer keys included.
    Principal,
    /// Any user (not a consumer key); listings are filtered to the user's
    /// teams by the handler.
    User,
    /// `action` in the team owning the model named by the `{model}` path
    /// parameter. Another team's model answers 404, as if it did not exist.
    Model(Action),
    /// `action` in the team owning the deployment named by `{name}`; a
    /// consumer key scoped to that deployment may infer and send feedback.
    Deployment(Action),
    /// `action` in at least one team; the handler checks the exact team of
    /// what the request creates (a model, a deployment, a rule).
    AnyTeam(Action),
    /// `action` outside any team: `Administer` (Hangar administrators
    /// only) or `Audit` (administrators and approvers; the handler shows
    /// each only the entries of the teams they audit).
    Global(Action),
    /// The Prometheus metrics, which name every team's deployments: Hangar
    /// administrators and metrics tokens (`hangar token create --metrics`).
    Metrics,
}

/// One row of the permission table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub policy: Policy,
    /// A successful call changes something and is written to the audit log.
    pub audit: bool,
}

pub const fn r(method: &'static str, path: &'static str, policy: Policy, audit: bool) -> Rule {
    Rule {
        method,
        path,
        policy,
        audit,
    }
}

use Action as A;
use Policy as P;

/// The permission table: every route the server answers, who may call it,
/// and whether a call is audited. The matrix test calls every row as every
/// role and checks the answer against [`expected`].
pub static RULES: &[Rule] = &[
    // The inference protocol.
    r("GET", "/v2/health/live", P::Public, false),
    r("GET", "/v2/health/ready", P::Public, false),
    r("GET", "/v2", P::Principal, false),
    r("GET", "/v2/models/{name}", P::Deployment(A::Infer), false),
    r(
        "GET",
        "/v2/models/{name}/ready",
        P::Deployment(A::Infer),
        false,
    ),
    r(
        "POST",
        "/v2/models/{name}/infer",
        P::Deployment(A::Infer),
        false,
    ),
    r(
        "GET",
        "/v2/models/{name}/versions/{version}",
        P::Deployment(A::Infer),
        false,
    ),
    r(
        "GET",
        "/v2/models/{name}/versions/{version}/ready",
        P::Deployment(A::Infer),
        false,
    ),
    r(
        "POST",
        "/v2/models/{name}/versions/{version}/infer",
        P::Deployment(A::Infer),
        false,
    ),
    r(
        "GET",
        "/v2/models/{name}/stats",
        P::Deployment(A::Read),
        false,
    ),
    r(
        "GET",
        "/v2/models/{name}/versions/{version}/stats",
        P::Deployment(A::Read),
        false,
    ),
    r("GET", "/metrics", P::Metrics, false),
    // Registry.
    r("GET", "/api/v1/openapi.json", P::Principal, false),
    r("GET", "/api/v1/models", P::User, false),
    r("POST", "/api/v1/models", P::AnyTeam(A::Push), true),
    r("GET", "/api/v1/models/{model}", P::Model(A::Read), false),
    r("PATCH", "/api/v1/models/{model}", P::Model(A::Push), true),
    r(
        "GET",
        "/api/v1/models/{model}/versions",
        P::Model(A::Read),
        false,
    ),
    r(
        "POST",
        "/api/v1/models/{model}/versions",
        P::Model(A::Push),
        true,
    ),
    r(
        "GET",
        "/api/v1/models/{model}/versions/{version}",
        P::Model(A::Read),
        false,
    ),
    r(
        "GET",
        "/api/v1/models/{model}/versions/{version}/artifact",
        P::Model(A::Read),
        false,
    ),
    r(
        "GET",
        "/api/v1/models/{model}/versions/{version}/baseline",
        P::Model(A::Read),
        false,
    ),
    r(
        "PUT",
        "/api/v1/models/{model}/versions/{version}/baseline",
        P::Model(A::Push),
        true,
    ),
    r(
        "GET",
        "/api/v1/models/{model}/versions/{version}/approvals",
        P::Model(A::Read),
        false,
    ),
    r(
        "POST",
        "/api/v1/models/{model}/versions/{version}/approvals",
        P::Model(A::Approve),
        true,
    ),
    r(
        "POST",
        "/api/v1/models/{model}/versions/{version}/signatures",
        P::Model(A::Push),
        true,
    ),
    r(
        "GET",
        "/api/v1/models/{model}/aliases",
        P::Model(A::Read),
        false,
    ),
    r(
        "GET",
        "/api/v1/models/{model}/aliases/{alias}",
        P::Model(A::Read),
        false,
    ),
    // `production` additionally needs Deploy; the handler checks.
    r(
        "PUT",
        "/api/v1/models/{model}/aliases/{alias}",
        P::Model(A::Push),
        true,
    ),
    r(
        "DELETE",
        "/api/v1/models/{model}/aliases/{alias}",
        P::Model(A::Push),
        true,
    ),
    r(
        "GET",
        "/api/v1/models/{model}/aliases/{alias}/history",
        P::Model(A::Read),
        false,
    ),
    r(
        "GET",
        "/api/v1/models/{model}/alias-history",
        P::Model(A::Read),
        false,
    ),
    // Deployments.
    r("GET", "/api/v1/deployments", P::User, false),
    r(
        "GET",
        "/api/v1/deployments/{name}",
        P::Deployment(A::Read),
        false,
    ),
    r(
        "PUT",
        "/api/v1/deployments/{name}",
        P::AnyTeam(A::Deploy),
        true,
    ),
    r(
        "DELETE",
        "/api/v1/deployments/{name}",
        P::Deployment(A::Deploy),
        true,
    ),
    r(
        "GET",
        "/api/v1/deployments/{name}/revisions",
        P::Deployment(A::Read),
        false,
    ),
    r(
        "GET",
        "/api/v1/deployments/{name}/revisions/{revision}",
        P::Deployment(A::Read),
        false,
    ),
    r(
        "POST",
        "/api/v1/deployments/{name}/promote",
        P::Deployment(A::Deploy),
        true,
    ),
    r(
        "POST",
        "/api/v1/deployments/{name}/rollback",
        P::Deployment(A::Deploy),
        true,
    ),
    // Monitoring.
    r(
        "POST",
        "/api/v1/deployments/{name}/feedback",
        P::Deployment(A::Feedback),
        false,
    ),
    r(
        "GET",
        "/api/v1/deployments/{name}/monitoring",
        P::Deployment(A::Read),
        false,
    ),
    r(
        "GET",
        "/api/v1/deployments/{name}/predictions",
        P::Deployment(A::Read),
        false,
    ),
    r(
        "GET",
        "/api/v1/deployments/{name}/health",
        P::Deployment(A::Read),
        false,
    ),
    // Alerts.
    r("GET", "/api/v1/alerts", P::User, false),
    r("GET", "/api/v1/alerts/events", P::User, false),
    r("GET", "/api/v1/alerts/rules", P::User, false),
    r("POST", "/api/v1/alerts/rules", P::AnyTeam(A::Deploy), true),
    r(
        "DELETE",
        "/api/v1/alerts/rules/{name}",
        P::AnyTeam(A::Deploy),
        true,
    ),
    r("POST", "/api/v1/alerts/ack", P::AnyTeam(A::Deploy), true),
    r(
        "GET",
        "/api/v1/alerts/channels",
        P::Global(A::Administer),
        false,
    ),
    r(
        "PUT",
        "/api/v1/alerts/channels/{name}",
        P::Global(A::Administer),
        true,
    ),
    r(
        "DELETE",
        "/api/v1/alerts/channels/{name}",
        P::Global(A::Administer),
        true,
    ),
    r(
        "GET",
        "/api/v1/alerts/deliveries",
        P::Global(A::Administer),
        false,
    ),
    // Principals and keys.
    r("POST", "/api/v1/login", P::Public, true),
    r("POST", "/login", P::Public, true),
    r("POST", "/logout", P::User, true),
    r("GET", "/api/v1/whoami", P::Principal, false),
    r("GET", "/api/v1/teams", P::User, false),
    r("POST", "/api/v1/teams", P::Global(A::Administer), true),
    r("GET", "/api/v1/users", P::Global(A::Administer), false),
    r("POST", "/api/v1/users", P::Global(A::Administer), true),
    r(
        "POST",
        "/api/v1/users/{user}/roles",
        P::Global(A::Administer),
        true,
    ),
    r("GET", "/api/v1/tokens", P::User, false),
    // Creating a token for another user needs Administer; the handler checks.
    r("POST", "/api/v1/tokens", P::User, true),
    r("DELETE", "/api/v1/tokens/{id}", P::User, true),
    r("GET", "/api/v1/consumer-keys", P::AnyTeam(A::Deploy), false),
    r("POST", "/api/v1/consumer-keys", P::AnyTeam(A::Deploy), true),
    r(
        "DELETE",
        "/api/v1/consumer-keys/{id}",
        P::AnyTeam(A::Deploy),
        true,
    ),
    r("GET", "/api/v1/trusted-keys", P::User, false),
    r(
        "POST",
        "/api/v1/trusted-keys",
        P::Global(A::Administer),
        true,
    ),
    // Audit.
    r("GET", "/api/v1/audit", P::Global(A::Audit), false),
    r("GET", "/api/v1/audit/verify", P::Global(A::Audit), false),
];

/// The row for a matched route.
pub fn rule(method: &Method, path: &str) -> Option<&'static Rule> {
    all_rules().find(|r| r.path == path && r.method == method.as_str())
}

/// 405 with `Allow`: the methods the permission table has for `path`.
fn method_not_allowed(path: &str) -> Response {
    let mut allowed: Vec<&str> = all_rules()
        .filter(|r| r.path == path)
        .map(|r| r.method)
        .collect();
    if allowed.contains(&"GET") {
        allowed.push("HEAD");
    }
    let allow = allowed.join(", ");
    let mut response = ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("this route does not take this method; it allows {allow}"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(axum::http::header::ALLOW, v);
    }
    response
}

/// Every row: the API's and the dashboard's.
pub fn all_rules() -> impl Iterator<Item = &'static Rule> {
    RULES.iter().chain(crate::http::dashboard::RULES.iter())
}

/// Route registration that keeps the router and the permission table in
/// step: a route without a row in [`RULES`] panics when the app is built.
pub(crate) struct Routes(Router<AppState>);

impl Routes {
    pub fn new() -> Self {
        Routes(Router::new())
    }

    pub fn add<H, T>(self, method: &'static str, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add_with(method, path, on(filter(method), handler))
    }

    /// Like `add`, for a method router carrying its own layers (body limits).
    pub fn add_with(
        self,
        method: &'static str,
        path: &'static str,
        route: MethodRouter<AppState>,
    ) -> Self {
        let m = Method::from_bytes(method.as_bytes()).expect("a valid method");
        assert!(
            rule(&m, path).is_some(),
            "{method} {path} has no row in the permission table (auth::RULES): add one"
        );
        Routes(self.0.route(path, route))
    }

    pub fn into_router(self) -> Router<AppState> {
        self.0
    }
}

fn filter(method: &str) -> MethodFilter {
    match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        other => panic!("unsupported method {other}"),
    }
}

/// What a role may expect from a route, for the matrix test: `true` when
/// `principal` passes the table's check for an object of `team`.
pub fn expected(
    policy: Policy,
    principal: Option<&Principal>,
    team: &str,
    deployment: &str,
) -> bool {
    let Some(p) = principal else {
        return policy == Policy::Public;
    };
    if p.is_metrics() {
        return matches!(policy, Policy::Public | Policy::Metrics);
    }
    match policy {
        Policy::Metrics => p.is_superuser(),
        Policy::Public | Policy::Principal => true,
        Policy::User => !p.is_consumer_key(),
        Policy::Model(a) => p.can(a, team),
        Policy::Deployment(a) => p.can(a, team) || p.key_allows(a, deployment),
        Policy::AnyTeam(a) => p.can_anywhere(a),
        Policy::Global(A::Audit) => p.is_superuser() || p.can_anywhere(A::Audit),
        Policy::Global(a) => p.can(a, ""),
    }
}

// ---- credentials ---------------------------------------------------------

/// The internal header carrying the authenticated actor's name to handlers.
pub(crate) const PRINCIPAL_HEADER: &str = "x-hangar-principal";
/// The internal header carrying a consumer key's declared purpose to the
/// inference handlers, which record it with each prediction.
pub(crate) const PURPOSE_HEADER: &str = "x-hangar-purpose";
/// The dashboard's session cookie.
pub const SESSION_COOKIE: &str = "hangar_session";
/// How long a dashboard session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// How long a looked-up token is trusted before it is read again (a
/// revocation on another replica takes effect within this).
const CACHE_TTL: Duration = Duration::from_secs(10);

/// A new credential: `hgr_<id>_<secret>`. Only the id and the secret's
/// SHA-256 are stored.
pub struct NewSecret {
    pub id: String,
    pub token: String,
    pub secret_hash: String,
}

pub fn random_hex(bytes: usize) -> String {
    use rand_core::RngCore;
    let mut buf = vec![0u8; bytes];
    rand_core::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

pub fn new_secret() -> NewSecret {
    let id = random_hex(8);
    let secret = random_hex(32);
    NewSecret {
        token: format!("hgr_{id}_{secret}"),
        secret_hash: sha256_hex(secret.as_bytes()),
        id,
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Splits a presented token into (id, hash of its secret). A token not in
/// Hangar's format (an administrator token chosen by the operator) is
/// looked up by an id derived from its hash.
pub fn token_parts(token: &str) -> (String, String) {
    if let Some(rest) = token.strip_prefix("hgr_") {
        if let Some((id, secret)) = rest.split_once('_') {
            if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return (id.to_string(), sha256_hex(secret.as_bytes()));
            }
        }
    }
    let h = sha256_hex(token.as_bytes());
    (format!("x{}", &h[..15]), h)
}

/// The CSRF token of a dashboard session: derived from the session's
/// secret hash, so it needs no storage and dies with the session.
pub fn csrf_token(secret_hash: &str) -> String {
    sha256_hex(format!("hangar-csrf:{secret_hash}").as_bytes())
}

/// The cookie that carries the sign-in form's CSRF secret (there is no
/// session yet to derive one from).
pub const LOGIN_COOKIE: &str = "hangar_login";

/// The sign-in form's CSRF token: derived from the random secret in its
/// cookie, which a page of another site can neither read nor set.
pub fn login_csrf_token(secret: &str) -> String {
    sha256_hex(format!("hangar-login-csrf:{secret}").as_bytes())
}

/// Does the sign-in form's `csrf` field belong to its cookie? Constant time.
pub fn login_csrf_ok(headers: &HeaderMap, field: Option<&str>) -> bool {
    match (cookie(headers, LOGIN_COOKIE), field) {
        (Some(secret), Some(field)) if is_login_secret(&secret) => {
            bool::from(field.as_bytes().ct_eq(login_csrf_token(&secret).as_bytes()))
        }
        _ => false,
    }
}

/// A secret Hangar could have issued: 64 hex digits.
pub fn is_login_secret(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    for c in headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for part in c.split(';') {
            if let Some((k, v)) = part.trim().split_once('=') {
                if k == name && !v.is_empty() {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, and Secure when the
/// server is reached over HTTPS; `max_age` none = until the browser closes.
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<u64>,
    secure: bool,
) -> String {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// Where to go after signing in, when it is a path of this server: one
/// leading `/` not followed by `/` or `\`, no `\` anywhere, printable
/// ASCII only (no control characters or spaces, which browsers strip or
/// reinterpret), at most 2 KiB. Anything else (`//evil.example`,
/// `/\evil.example`, `https://…`, `javascript:…`) is refused: the caller
/// goes to `/`.
pub fn safe_next(next: &str) -> Option<&str> {
    let b = next.as_bytes();
    let ok = b.first() == Some(&b'/')
        && !matches!(b.get(1), Some(b'/' | b'\\'))
        && b.len() <= 2048
        && b.iter().all(|c| (0x21..0x7f).contains(c) && *c != b'\\');
    ok.then_some(next)
}

/// Argon2id password hashing with the crate's default (OWASP) parameters.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A looked-up credential, cached for [`CACHE_TTL`].
#[derive(Clone)]
struct Cached {
    at: Instant,
    secret_hash: String,
    kind: String,
    principal: Option<Principal>,
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
    rate_limit: Option<f64>,
}

/// A token bucket per key.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Cached owners: (is a model, name) → (looked up at, team).
type TeamCache = HashMap<(bool, String), (Instant, Option<String>)>;

/// Authentication state shared by all requests.
pub struct Auth {
    tokens: Mutex<HashMap<String, Cached>>,
    teams: Mutex<TeamCache>,
    buckets: Mutex<HashMap<String, Bucket>>,
    touched: Mutex<HashMap<String, Instant>>,
    /// Requests per second a consumer key may make when it names no limit;
    /// 0 disables the default limit.
    pub default_key_rate: f64,
    /// Denials counted into aggregated audit entries.
    pub(crate) denials: Denials,
    /// Sign-in backoff per account and per address.
    pub(crate) throttle: LoginThrottle,
}

/// How a request authenticated.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub principal: Principal,
    pub token_id: String,
    /// The session's CSRF token when the credential was the session cookie.
    pub csrf: Option<String>,
    /// A consumer key's request rate (per second), checked once the request
    /// is authorised.
    pub rate: Option<f64>,
}

#[derive(Debug)]
pub enum Denied {
    Unauthenticated(&'static str),
    Forbidden(String),
    Hidden(String),
    RateLimited,
}

impl Denied {
    fn error(&self) -> ApiError {
        match self {
            Denied::Unauthenticated(why) => ApiError::new(ErrorCode::Unauthenticated, *why),
            Denied::Forbidden(why) => ApiError::new(ErrorCode::Forbidden, why.clone()),
            Denied::Hidden(what) => ApiError::not_found(format!("{what} not found")),
            Denied::RateLimited => ApiError::new(
                ErrorCode::RateLimited,
                "this key is over its request rate; retry after the Retry-After delay",
            ),
        }
    }

    fn outcome(&self) -> &'static str {
        match self {
            Denied::Unauthenticated(_) => "unauthenticated",
            Denied::Forbidden(_) | Denied::Hidden(_) => "forbidden",
            Denied::RateLimited => "rate_limited",
        }
    }
}

impl Auth {
    pub fn new(default_key_rate: f64) -> Self {
        Auth {
            tokens: Mutex::new(HashMap::new()),
            teams: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
            default_key_rate,
            denials: Denials::default(),
            throttle: LoginThrottle::default(),
        }
    }

    /// Forgets a cached credential (after a revocation).
    pub fn forget(&self, token_id: &str) {
        self.tokens.lock().unwrap().remove(token_id);
    }

    /// Forgets every cached credential and team (after a role change).
    pub fn forget_all(&self) {
        self.tokens.lock().unwrap().clear();
        self.teams.lock().unwrap().clear();
    }

    async fn lookup(&self, state: &AppState, id: &str) -> Result<Option<Cached>, StoreError> {
        if let Some(c) = self.tokens.lock().unwrap().get(id) {
            if c.at.elapsed() < CACHE_TTL {
                return Ok(Some(c.clone()));
            }
        }
        let record = match state.db.get_token(id).await {
            Ok(t) => t,
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let principal = principal_of(state, &record).await?;
        let cached = Cached {
            at: Instant::now(),
            secret_hash: record.secret_hash,
            kind: record.kind,
            principal,
            expires_at: record.expires_at,
            revoked: record.revoked_at.is_some(),
            rate_limit: record.rate_limit,
        };
        let mut map = self.tokens.lock().unwrap();
        if map.len() > 100_000 {
            map.clear();
        }
        map.insert(id.to_string(), cached.clone());
        Ok(Some(cached))
    }

    /// Checks a presented token. `cookie` is true when it came from the
    /// session cookie, which only session credentials may use.
    pub async fn authenticate(
        &self,
        state: &AppState,
        token: &str,
        cookie: bool,
    ) -> Result<Authenticated, Denied> {
        let (id, presented) = token_parts(token);
        let cached = self
            .lookup(state, &id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "token lookup failed");
                Denied::Unauthenticated("the credential could not be checked")
            })?
            .ok_or(Denied::Unauthenticated("unknown token"))?;
        // Constant time: the comparison takes as long whatever the prefix
        // in common.
        if !bool::from(presented.as_bytes().ct_eq(cached.secret_hash.as_bytes())) {
            return Err(Denied::Unauthenticated("unknown token"));
        }
        if cached.revoked {
            return Err(Denied::Unauthenticated("this token has been revoked"));
        }
        if cached.expires_at.is_some_and(|t| t <= Utc::now()) {
            return Err(Denied::Unauthenticated("this token has expired"));
        }
        if cookie != (cached.kind == "session") {
            return Err(Denied::Unauthenticated(
                "this credential cannot be used here",
            ));
        }
        let principal = cached
            .principal
            .clone()
            .ok_or(Denied::Unauthenticated("the token's user is disabled"))?;
        let rate = if principal.is_consumer_key() {
            Some(cached.rate_limit.unwrap_or(self.default_key_rate)).filter(|r| *r > 0.0)
        } else {
            None
        };
        self.touch(state, &id);
        Ok(Authenticated {
            rate,
            principal,
            csrf: cookie.then(|| csrf_token(&cached.secret_hash)),
            token_id: id,
        })
    }

    /// A token bucket of `rate` per second with a burst of one second's worth.
    fn take(&self, id: &str, rate: f64) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap();
        let b = buckets.entry(id.to_string()).or_insert(Bucket {
            tokens: rate.max(1.0),
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(rate.max(1.0));
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Records the last use, at most once a minute per token, off the
    /// request path.
    fn touch(&self, state: &AppState, id: &str) {
        let now = Instant::now();
        {
            let mut touched = self.touched.lock().unwrap();
            if touched
                .get(id)
                .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(60))
            {
                return;
            }
            touched.insert(id.to_string(), now);
        }
        let db = state.db.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            if let Err(e) = db.touch_token(&id, Utc::now()).await {
                tracing::warn!(error = %e, "could not record a token's last use");
            }
        });
    }

    /// The team owning a model (`model == true`) or deployment, cached.
    async fn team(
        &self,
        state: &AppState,
        model: bool,
        name: &str,
    ) -> Result<Option<String>, ApiError> {
        let key = (model, name.to_string());
        if let Some((at, team)) = self.teams.lock().unwrap().get(&key) {
            if at.elapsed() < CACHE_TTL {
                return Ok(team.clone());
            }
        }
        let team = if model {
            state.db.model_team(name).await?
        } else {
            state.db.deployment_team(name).await?
        };
        // "No such object" is never cached: the object may be created the
        // next moment, by a team the caller is not in.
        if team.is_some() {
            let mut teams = self.teams.lock().unwrap();
            if teams.len() > 100_000 {
                teams.clear();
            }
            teams.insert(key, (Instant::now(), team.clone()));
        }
        Ok(team)
    }

    /// Forgets the cached team of a model or deployment (after it changed).
    pub fn forget_team(&self, model: bool, name: &str) {
        self.teams
            .lock()
            .unwrap()
            .remove(&(model, name.to_string()));
    }
}

async fn principal_of(state: &AppState, t: &TokenRecord) -> Result<Option<Principal>, StoreError> {
    if t.kind == "metrics" {
        return Ok(Some(Principal {
            name: format!("metrics:{}", t.id),
            kind: PrincipalKind::Metrics { id: t.id.clone() },
        }));
    }
    if t.kind == "consumer" {
        return Ok(Some(Principal {
            name: format!("key:{}", t.id),
            kind: PrincipalKind::ConsumerKey {
                id: t.id.clone(),
                deployments: t.deployments.clone(),
                purpose: t.purpose.clone(),
            },
        }));
    }
    let Some(user) = &t.user else {
        return Ok(None);
    };
    let u = state.db.get_user(user).await?;
    if u.disabled {
        return Ok(None);
    }
    Ok(Some(Principal::user(&u.name, u.superuser, u.memberships)))
}

/// The presented credential: `Authorization: Bearer`, or the session cookie.
fn credential(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .unwrap_or(v)
            .trim();
        return Some((token.to_string(), false));
    }
    cookie(headers, SESSION_COOKIE).map(|v| (v, true))
}

/// Marks an answer that looks like a success (a redirect back to the
/// sign-in form) but refused the request: it is not audited as a change
/// (the handler recorded the refusal).
#[derive(Debug, Clone, Copy)]
pub struct Refused;

/// The caller's address as the permission check saw it, handed to the
/// public routes' handlers (the sign-in throttle and its audit entries).
#[derive(Debug, Clone)]
pub struct ClientAddress(pub String);

/// The caller's address: the connection's peer, when the server was started
/// with connection info (always, outside in-process tests).
fn address(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".to_string())
}

/// The largest form or JSON body read for the CSRF check or the audit detail.
const INSPECT_LIMIT: usize = 256 * 1024;

/// The permission check, as a route layer (so the matched route and its
/// path parameters are known).
pub async fn authorize(
    State(state): State<AppState>,
    matched: MatchedPath,
    params: RawPathParams,
    mut req: Request,
    next: Next,
) -> Response {
    req.headers_mut().remove(PRINCIPAL_HEADER);
    req.headers_mut().remove(PURPOSE_HEADER);
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
    if let Ok(v) = HeaderValue::from_str(&who) {
        req.headers_mut().insert(PRINCIPAL_HEADER, v);
    }
    if let Some(v) = authn
        .principal
        .purpose()
        .and_then(|p| HeaderValue::from_bytes(p.as_bytes()).ok())
    {
        req.headers_mut().insert(PURPOSE_HEADER, v);
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
) -> Result<Authenticated, ApiError> {
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
        Err(d) => return Err(record_denial(state, d, entry("-")).await),
    };
    let params: HashMap<&str, &str> = [("name", name)].into_iter().collect();
    if let Err(d) = decide(state, policy, &authn.principal, &params).await {
        let who = authn.principal.name.clone();
        let mut denial = entry(&who);
        if let Ok(Some(t)) = state.auth.team(state, false, name).await {
            denial.teams.push(t);
        }
        return Err(record_denial(state, d, denial).await);
    }
    if let Some(rate) = authn.rate {
        if !state.auth.take(&authn.token_id, rate) {
            return Err(Denied::RateLimited.error());
        }
    }
    Ok(authn)
}

/// A browser asking for a dashboard page (not the API, the inference
/// protocol or metrics).
fn wants_a_page(req: &Request) -> bool {
    let path = req.uri().path();
    *req.method() == Method::GET
        && !(path.starts_with("/api/") || path.starts_with("/v2") || path == "/metrics")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

fn login_redirect(uri: &axum::http::Uri) -> Response {
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
fn object_of(path: &str) -> String {
    path.trim_start_matches("/api/v1/")
        .trim_start_matches('/')
        .chars()
        .take(256)
        .collect()
}

async fn decide(
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
            let team = state.auth.team(state, true, model).await.map_err(|e| {
                tracing::error!(error = %e.message, "team lookup failed");
                Denied::Forbidden("the model's team could not be checked".into())
            })?;
            scoped(p, a, team.as_deref(), &format!("model '{model}'"))
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
            let team = state.auth.team(state, false, name).await.map_err(|e| {
                tracing::error!(error = %e.message, "team lookup failed");
                Denied::Forbidden("the deployment's team could not be checked".into())
            })?;
            scoped(p, a, team.as_deref(), &format!("deployment '{name}'"))
        }
    }
}

/// The check for an object that may not exist: a missing object passes for
/// a principal who could act on one somewhere (the handler answers 404); an
/// object of a team the principal is not in is hidden (404).
fn scoped(p: &Principal, a: Action, team: Option<&str>, what: &str) -> Result<(), Denied> {
    match team {
        None if p.can_anywhere(a) => Ok(()),
        None => Err(Denied::Forbidden(format!("{} may not {}", p.name, verb(a)))),
        Some(t) if p.can(a, t) => Ok(()),
        Some(t) if !p.sees(t) => Err(Denied::Hidden(what.to_string())),
        Some(t) => Err(Denied::Forbidden(format!(
            "{} may not {} in team '{t}'",
            p.name,
            verb(a)
        ))),
    }
}

fn verb(a: Action) -> &'static str {
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
fn action_of(method: &Method, rule: &Rule) -> String {
    format!("{method} {}", rule.path)
}

/// Who did what from where, for the audit entry of a denied request (its
/// outcome, reason and teams are filled in by [`deny`]). Synchronous: a
/// request is not Sync, so a reference to it must not live in the
/// middleware's future across an await.
fn denial(who: &str, rule: &Rule, req: &Request) -> Denial {
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
async fn deny(
    state: &AppState,
    d: Denied,
    mut denial: Denial,
    rule: &Rule,
    params: &HashMap<&str, &str>,
) -> Response {
    if !matches!(d, Denied::Unauthenticated(_)) {
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
fn is_v2(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

/// A route of the dashboard (a page or one of its forms), not of the
/// management API, the inference protocol or metrics.
fn is_page_route(path: &str) -> bool {
    !(path.starts_with("/api/") || is_v2(path) || path == "/metrics")
}

/// Records a denial (who, from where, what) with its outcome and reason in
/// the audit log; returns the error to answer with.
async fn record_denial(state: &AppState, d: Denied, mut denial: Denial) -> ApiError {
    let e = d.error();
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

/// The longest actor, address and action kept in an audit entry.
const FIELD_CHARS: usize = 128;
/// The longest detail kept in an audit entry (JSON text); a longer one is
/// replaced by a note of its length and a prefix.
const DETAIL_BYTES: usize = 16 * 1024;

/// Appends an entry, every field capped.
pub(crate) async fn append(state: &AppState, mut e: NewAuditEntry) {
    use crate::service::denials::{cap, PATH_CHARS};
    e.actor = cap(&e.actor, FIELD_CHARS);
    e.address = cap(&e.address, FIELD_CHARS);
    e.action = cap(&e.action, FIELD_CHARS);
    e.object = cap(&e.object, PATH_CHARS);
    e.outcome = cap(&e.outcome, FIELD_CHARS);
    if e.detail.len() > DETAIL_BYTES {
        let mut end = DETAIL_BYTES / 2;
        while !e.detail.is_char_boundary(end) {
            end -= 1;
        }
        e.detail = serde_json::json!({
            "truncated": true,
            "bytes": e.detail.len(),
            "prefix": &e.detail[..end],
        })
        .to_string();
    }
    e.teams.truncate(16);
    if let Err(err) = state.db.append_audit(&e).await {
        tracing::error!(error = %err, action = %e.action, "could not append to the audit log");
    }
}

/// Does `{name}` in this route name a deployment (not an alert rule or a
/// notification channel)?
fn names_deployment(path: &str) -> bool {
    ["/api/v1/deployments/", "/deployments/", "/v2/models/"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// The teams owning the model (`{model}`) or deployment (`{name}`) a
/// route's path names.
async fn path_teams(state: &AppState, rule: &Rule, params: &[(&str, &str)]) -> Vec<String> {
    let mut teams = Vec::new();
    for &(k, v) in params {
        let model = match k {
            "model" => true,
            "name" if names_deployment(rule.path) => false,
            _ => continue,
        };
        if let Ok(Some(t)) = state.auth.team(state, model, v).await {
            if !teams.contains(&t) {
                teams.push(t);
            }
        }
    }
    teams
}

/// The teams a change's request, query or answer names: a model's `owner_team`,
/// a `deployment` or the `deployments` of a consumer key or alert rule.
async fn body_teams(state: &AppState, bodies: [&Value; 3], teams: &mut Vec<String>) {
    for v in bodies {
        let mut deployments: Vec<&str> = Vec::new();
        if let Some(t) = v.get("owner_team").and_then(Value::as_str) {
            if !teams.iter().any(|x| x == t) {
                teams.push(t.to_string());
            }
        }
        deployments.extend(v.get("deployment").and_then(Value::as_str));
        if let Some(ds) = v.get("deployments").and_then(Value::as_array) {
            deployments.extend(ds.iter().filter_map(Value::as_str).take(16));
        }
        for d in deployments {
            if let Ok(Some(t)) = state.auth.team(state, false, d).await {
                if !teams.contains(&t) {
                    teams.push(t);
                }
            }
        }
    }
}

async fn csrf_ok(req: Request, expected: &str) -> (bool, Request) {
    if let Some(h) = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        let ok = bool::from(h.as_bytes().ct_eq(expected.as_bytes()));
        return (ok, req);
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return (false, req);
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, INSPECT_LIMIT).await else {
        return (false, Request::from_parts(parts, Body::empty()));
    };
    let ok = form_field(&bytes, "csrf")
        .is_some_and(|v| bool::from(v.as_bytes().ct_eq(expected.as_bytes())));
    (ok, Request::from_parts(parts, Body::from(bytes)))
}

/// One field of an `application/x-www-form-urlencoded` body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn form_urlencoded(body: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    body.split(|b| *b == b'&').filter_map(|pair| {
        let mut it = pair.splitn(2, |b| *b == b'=');
        let k = decode(it.next()?)?;
        let v = decode(it.next().unwrap_or_default())?;
        Some((k, v))
    })
}

fn decode(s: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = std::str::from_utf8(s.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Runs the request; a successful change is appended to the audit log with
/// what was asked (the JSON or form body, secrets removed) and what came of
/// it (the JSON answer, secrets removed).
async fn audited(
    state: &AppState,
    rule: &Rule,
    principal: Option<&Principal>,
    params: &[(String, String)],
    req: Request,
    next: Next,
) -> Response {
    if !rule.audit {
        return next.run(req).await;
    }
    // Before the change (a deleted deployment has no team after it).
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut teams = path_teams(state, rule, &pairs).await;
    let addr = address(&req);
    let action = action_of(req.method(), rule);
    let object = object_of(req.uri().path());
    // `DELETE /api/v1/alerts/rules/{name}?deployment=…` names its deployment
    // in the query.
    let query = req
        .uri()
        .query()
        .and_then(|q| form_field(q.as_bytes(), "deployment"))
        .map_or(Value::Null, |d| serde_json::json!({ "deployment": d }));
    let (parts, body) = req.into_parts();
    let inspectable = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/json") || v.starts_with("application/x-www-form-urlencoded")
        });
    let (request_detail, req) = if inspectable {
        match axum::body::to_bytes(body, INSPECT_LIMIT).await {
            Ok(bytes) => (
                summarize(&bytes),
                Request::from_parts(parts, Body::from(bytes)),
            ),
            Err(_) => {
                return ApiError::new(ErrorCode::PayloadTooLarge, "request body too large")
                    .into_response()
            }
        }
    } else {
        (Value::Null, Request::from_parts(parts, body))
    };
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_success() || status.is_redirection())
        || response.extensions().get::<Refused>().is_some()
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let (response_detail, body) = if is_json {
        match body.collect().await {
            Ok(c) => {
                let bytes = c.to_bytes();
                (summarize(&bytes), Body::from(bytes))
            }
            Err(_) => (Value::Null, Body::empty()),
        }
    } else {
        (Value::Null, body)
    };
    let actor = principal
        .map(|p| p.name.clone())
        .or_else(|| {
            request_detail
                .get("user")
                .and_then(|u| u.as_str())
                .map(String::from)
        })
        .unwrap_or_else(|| "-".into());
    // After the change (a created deployment or model has one now).
    for t in path_teams(state, rule, &pairs).await {
        if !teams.contains(&t) {
            teams.push(t);
        }
    }
    body_teams(
        state,
        [&request_detail, &response_detail, &query],
        &mut teams,
    )
    .await;
    let detail = serde_json::json!({
        "status": status.as_u16(),
        "request": request_detail,
        "response": response_detail,
        "purpose": principal.and_then(|p| p.purpose()),
    });
    append(
        state,
        NewAuditEntry {
            actor,
            address: addr,
            action,
            object,
            outcome: "ok".into(),
            detail: detail.to_string(),
            teams,
        },
    )
    .await;
    Response::from_parts(parts, body)
}

/// The most of a request or answer body kept in an audit entry.
const SUMMARY_BYTES: usize = 4 * 1024;

/// A body for the audit log: JSON (or a form) with every secret-looking
/// field replaced, truncated to a sane size.
fn summarize(bytes: &[u8]) -> Value {
    let mut v = match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => v,
        Err(_) => Value::Object(
            form_urlencoded(bytes)
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        ),
    };
    redact(&mut v);
    let text = v.to_string();
    if text.len() > SUMMARY_BYTES {
        let mut end = SUMMARY_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        return Value::String(format!("{}…", &text[..end]));
    }
    v
}

const SECRET_KEYS: &[&str] = &[
    "password",
    "token",
    "secret",
    "private_key",
    "csrf",
    "authorization",
];

fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                let lower = k.to_ascii_lowercase();
                if SECRET_KEYS.iter().any(|s| lower.contains(s)) && !val.is_null() {
                    *val = Value::String("[redacted]".into());
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Bootstraps the first Hangar administrator: when no administrator exists,
/// user `admin` is created with a token — `HANGAR_ADMIN_TOKEN` when given,
/// otherwise a new random one, returned so that the binary prints it once.
/// When the administrator exists and `HANGAR_ADMIN_TOKEN` is given, that
/// token is made valid for it (idempotent).
pub async fn bootstrap_admin(
    state: &AppState,
    admin_token: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let exists = state.db.has_superuser().await?;
    if exists && admin_token.is_none() {
        return Ok(None);
    }
    if !exists {
        match state
            .db
            .create_user("admin", None, true, &[], "hangar")
            .await
        {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let (id, token, secret_hash) = match admin_token {
        Some(t) => {
            if t.len() < 16 {
                return Err(ApiError::bad_request(
                    "HANGAR_ADMIN_TOKEN must be at least 16 characters long",
                ));
            }
            let (id, h) = token_parts(t);
            (id, t.to_string(), h)
        }
        None => {
            let s = new_secret();
            (s.id, s.token, s.secret_hash)
        }
    };
    if state.db.get_token(&id).await.is_ok() {
        return Ok(None);
    }
    state
        .db
        .create_token(&TokenRecord {
            id,
            kind: "api".into(),
            user: Some("admin".into()),
            secret_hash,
            name: "bootstrap administrator token".into(),
            deployments: vec![],
            purpose: String::new(),
            rate_limit: None,
            created_at: Utc::now(),
            created_by: "hangar".into(),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        })
        .await?;
    append(
        state,
        NewAuditEntry {
            actor: "hangar".into(),
            address: "local".into(),
            action: "bootstrap administrator".into(),
            object: "users/admin".into(),
            outcome: "ok".into(),
            detail: "{}".into(),
            teams: Vec::new(),
        },
    )
    .await;
    Ok(if admin_token.is_some() {
        None
    } else {
        Some(token)
    })
}

/// Security headers on every answer (pages especially).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    let is_html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        h.insert(
            "content-security-policy",
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                 script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            ),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_their_parts() {
        let s = new_secret();
        assert!(s.token.starts_with("hgr_"));
        let (id, h) = token_parts(&s.token);
        assert_eq!(id, s.id);
        assert_eq!(h, s.secret_hash);
        let (id2, h2) = token_parts("an-operator-chosen-admin-token");
        assert!(id2.starts_with('x') && id2.len() == 16);
        assert_eq!(h2, sha256_hex(b"an-operator-chosen-admin-token"));
    }

    #[test]
    fn passwords_hash_with_argon2id() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn secrets_never_reach_the_audit_detail() {
        let v = summarize(br#"{"user":"a","password":"p","nested":{"token":"t"},"ok":1}"#);
        assert_eq!(v["password"], "[redacted]");
        assert_eq!(v["nested"]["token"], "[redacted]");
        assert_eq!(v["user"], "a");
        let f = summarize(b"user=a&password=p%21&csrf=x");
        assert_eq!(f["password"], "[redacted]");
        assert_eq!(f["user"], "a");
    }

    #[test]
    fn only_same_origin_paths_are_followed_after_sign_in() {
        for good in [
            "/",
            "/deployments/credit-api?range=24h",
            "/models/a%2Fb",
            "/a:b",
        ] {
            assert_eq!(safe_next(good), Some(good), "{good}");
        }
        for bad in [
            "",
            "//evil.example",
            "/\\evil.example",
            "/a\\b",
            "\\\\evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "/\u{7f}",
            "/é",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(3000))), None);
    }

    #[test]
    fn the_login_form_token_belongs_to_its_cookie() {
        let secret = random_hex(32);
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            format!("other=1; {LOGIN_COOKIE}={secret}").parse().unwrap(),
        );
        assert!(login_csrf_ok(&h, Some(&login_csrf_token(&secret))));
        assert!(!login_csrf_ok(&h, Some(&login_csrf_token("x"))));
        assert!(!login_csrf_ok(&h, None));
        assert!(!login_csrf_ok(
            &HeaderMap::new(),
            Some(&login_csrf_token(&secret))
        ));
        assert!(set_cookie("a", "b", "/", None, true).ends_with("; Secure"));
        assert!(!set_cookie("a", "b", "/", Some(5), false).contains("Secure"));
    }

    #[test]
    fn forms_decode() {
        assert_eq!(form_field(b"a=1&b=x+y%21", "b").as_deref(), Some("x y!"));
        assert_eq!(form_field(b"a=%zz", "a"), None);
        assert_eq!(form_field(b"a=%4", "a"), None);
    }

    #[test]
    #[should_panic(expected = "has no row in the permission table")]
    fn a_route_without_a_row_cannot_be_added() {
        async fn handler() {}
        let _ = Routes::new().add("GET", "/api/v1/not-in-the-table", handler);
    }

    #[test]
    fn every_rule_is_unique() {
        let rules: Vec<_> = all_rules().collect();
        for (i, a) in rules.iter().enumerate() {
            for b in &rules[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "duplicate rule {} {}",
                    a.method,
                    a.path
                );
            }
        }
    }
}
