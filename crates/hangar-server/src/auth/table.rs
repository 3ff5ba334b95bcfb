//! The permission table: every route's policy and whether it is audited, and the router that refuses a route without a row.

use super::*;

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
pub(super) fn method_not_allowed(path: &str) -> Response {
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

pub(super) fn filter(method: &str) -> MethodFilter {
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
