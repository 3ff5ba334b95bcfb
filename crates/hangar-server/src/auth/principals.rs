//! Who is calling: credentials looked up (and cached) as principals, per-key rate limits, why a call is denied.

use super::*;

/// A looked-up credential, cached for [`CACHE_TTL`].
#[derive(Clone)]
pub(super) struct Cached {
    pub(super) at: Instant,
    pub(super) secret_hash: String,
    pub(super) kind: String,
    pub(super) principal: Option<Principal>,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) revoked: bool,
    pub(super) rate_limit: Option<f64>,
}

/// A token bucket per key.
pub(super) struct Bucket {
    pub(super) tokens: f64,
    pub(super) at: Instant,
}

/// Cached owners: (is a model, name) → (looked up at, team).
pub(super) type TeamCache = HashMap<(bool, String), (Instant, Option<String>)>;

/// Authentication state shared by all requests.
pub struct Auth {
    pub(super) tokens: Mutex<HashMap<String, Cached>>,
    pub(super) teams: Mutex<TeamCache>,
    pub(super) buckets: Mutex<HashMap<String, Bucket>>,
    pub(super) touched: Mutex<HashMap<String, Instant>>,
    /// Whether the database answers, for the caches' reads (`outage`).
    pub(super) health: DatabaseHealth,
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

/// A consumer key's declared purpose, for the inference routes to record
/// with each prediction (a request extension, cheap to take).
#[derive(Debug, Clone)]
pub struct Purpose(pub std::sync::Arc<str>);

impl Authenticated {
    /// The name changes are recorded under (revisions, alias moves, the
    /// audit log): the principal's name without control characters, at most
    /// 64 characters.
    pub fn actor(&self) -> String {
        let name: String = self
            .principal
            .name
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        if name.is_empty() {
            "anonymous".to_string()
        } else {
            name
        }
    }
}

#[derive(Debug)]
pub enum Denied {
    Unauthenticated(&'static str),
    Forbidden(String),
    /// An object of a team the principal is not in: answered exactly as if
    /// it did not exist (same code, same message).
    Hidden(hangar_store::Missing),
    RateLimited,
    /// The credential or the object's team could not be read: the database
    /// is out of reach. Not a denial: answered 503, not audited.
    Unavailable,
}

impl Denied {
    pub(super) fn error(&self) -> ApiError {
        match self {
            Denied::Unauthenticated(why) => ApiError::new(ErrorCode::Unauthenticated, *why),
            Denied::Forbidden(why) => ApiError::new(ErrorCode::Forbidden, why.clone()),
            Denied::Hidden(what) => ApiError::missing(what.clone()),
            Denied::RateLimited => ApiError::new(
                ErrorCode::RateLimited,
                "this key is over its request rate; retry after the Retry-After delay",
            ),
            Denied::Unavailable => ApiError::new(
                ErrorCode::DatabaseUnavailable,
                crate::service::error::DATABASE_UNAVAILABLE,
            ),
        }
    }

    pub(super) fn outcome(&self) -> &'static str {
        match self {
            Denied::Unauthenticated(_) => "unauthenticated",
            Denied::Forbidden(_) | Denied::Hidden(_) => "forbidden",
            Denied::RateLimited => "rate_limited",
            Denied::Unavailable => "unavailable",
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
            health: DatabaseHealth::default(),
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

    /// The credential `id`, from the cache while it is fresh, else read
    /// again; while the database is out of reach, the entry read before
    /// within the bounds of `outage`.
    pub(super) async fn lookup(
        &self,
        state: &AppState,
        id: &str,
    ) -> Result<Option<Cached>, StoreError> {
        let stale = match self.tokens.lock().unwrap().get(id) {
            Some(c) if c.at.elapsed() < CACHE_TTL => return Ok(Some(c.clone())),
            Some(c) => Some((c.at, Some(c.clone()))),
            None => None,
        };
        let read = {
            let state = state.clone();
            let id = id.to_string();
            async move { state.auth.read_token(&state, &id).await }
        };
        read_through(state, stale, read).await
    }

    /// Reads credential `id` from the database into the cache.
    async fn read_token(&self, state: &AppState, id: &str) -> Result<Option<Cached>, StoreError> {
        let at = Instant::now();
        let record = match state.db.get_token(id).await {
            Ok(t) => t,
            Err(StoreError::NotFound(_)) => {
                // Deleted: nothing stands in for it in an outage either.
                self.tokens.lock().unwrap().remove(id);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let principal = principal_of(state, &record).await?;
        let cached = Cached {
            at,
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
                if unreachable(&e) {
                    tracing::warn!(error = %e, "a credential could not be checked: the database is unreachable");
                    Denied::Unavailable
                } else {
                    tracing::error!(error = %e, "token lookup failed");
                    Denied::Unauthenticated("the credential could not be checked")
                }
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
    pub(super) fn take(&self, id: &str, rate: f64) -> bool {
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
    pub(super) fn touch(&self, state: &AppState, id: &str) {
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

    /// The team owning a model (`model == true`) or deployment, cached
    /// (and standing in while the database is out of reach, as credentials
    /// do: `outage`).
    pub(super) async fn team(
        &self,
        state: &AppState,
        model: bool,
        name: &str,
    ) -> Result<Option<String>, ApiError> {
        let key = (model, name.to_string());
        let stale = match self.teams.lock().unwrap().get(&key) {
            Some((at, team)) if at.elapsed() < CACHE_TTL => return Ok(team.clone()),
            Some((at, team)) => Some((*at, team.clone())),
            None => None,
        };
        let read = {
            let state = state.clone();
            async move {
                let at = Instant::now();
                let team = if model {
                    state.db.model_team(&key.1).await?
                } else {
                    state.db.deployment_team(&key.1).await?
                };
                // "No such object" is never cached: the object may be
                // created the next moment, by a team the caller is not in.
                let mut teams = state.auth.teams.lock().unwrap();
                match &team {
                    Some(_) => {
                        if teams.len() > 100_000 {
                            teams.clear();
                        }
                        teams.insert(key, (at, team.clone()));
                    }
                    None => {
                        teams.remove(&key);
                    }
                }
                Ok(team)
            }
        };
        Ok(read_through(state, stale, read).await?)
    }

    /// Forgets the cached team of a model or deployment (after it changed).
    pub fn forget_team(&self, model: bool, name: &str) {
        self.teams
            .lock()
            .unwrap()
            .remove(&(model, name.to_string()));
    }
}

pub(super) async fn principal_of(
    state: &AppState,
    t: &TokenRecord,
) -> Result<Option<Principal>, StoreError> {
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
pub(super) fn credential(headers: &HeaderMap) -> Option<(String, bool)> {
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
pub(super) fn address(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".to_string())
}

/// The largest form or JSON body read for the CSRF check or the audit detail.
pub(super) const INSPECT_LIMIT: usize = 256 * 1024;
