//! Every route answers every caller as the permission table says, and
//! teams do not see each other's models.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Duration, Utc};
use hangar_core::governance::{Principal, PrincipalKind, Role};
use hangar_server::auth::{self, Policy};
use serde_json::{json, Value};

use super::{consumer_key, model_in};
use crate::common::*;

/// A server with teams `risk` and `fraud`, one user per role in `risk`, an
/// outsider in `fraud`, model `credit` (team risk) deployed as
/// `credit-api`, model `fraud` (team fraud) deployed as `fraud-api`, and
/// tokens for all of them.
struct Fixture {
    s: TestServer,
    /// (label, token, principal as the table sees it; None = no valid credential)
    callers: Vec<(String, Option<String>, Option<Principal>)>,
}

fn as_user(name: &str, roles: &[(&str, Role)]) -> Principal {
    Principal::user(
        name,
        false,
        roles.iter().map(|(t, r)| (t.to_string(), *r)).collect(),
    )
}

impl Fixture {
    async fn new() -> Fixture {
        let s = TestServer::start().await;
        create_team(&s, "risk").await;
        create_team(&s, "fraud").await;
        let mut callers = vec![(
            "superuser".to_string(),
            Some(ADMIN_TOKEN.to_string()),
            Some(Principal::user("admin", true, vec![])),
        )];
        for role in Role::ALL {
            let name = format!("{}-user", role.as_str());
            let token = user_with_token(&s, &name, "risk", role.as_str()).await;
            callers.push((
                name.clone(),
                Some(token),
                Some(as_user(&name, &[("risk", role)])),
            ));
        }
        let token = user_with_token(&s, "outsider", "fraud", "admin").await;
        callers.push((
            "outsider (admin of another team)".into(),
            Some(token),
            Some(as_user("outsider", &[("fraud", Role::Admin)])),
        ));
        model_in(&s, "credit", "risk", "credit-api", "gbdt").await;
        model_in(&s, "fraud", "fraud", "fraud-api", "logreg").await;
        for (deployment, label) in [
            ("credit-api", "consumer key of this deployment"),
            ("fraud-api", "consumer key of another deployment"),
        ] {
            let k = consumer_key(&s, deployment, None).await;
            callers.push((
                label.into(),
                Some(k["token"].as_str().unwrap().to_string()),
                Some(Principal {
                    name: format!("key:{}", k["id"].as_str().unwrap()),
                    kind: PrincipalKind::ConsumerKey {
                        id: k["id"].as_str().unwrap().to_string(),
                        deployments: vec![deployment.to_string()],
                        purpose: "loan pre-screening".into(),
                    },
                }),
            ));
        }
        // A metrics token: /metrics and nothing else.
        let (st, m) = s
            .call(
                "POST",
                "/api/v1/tokens",
                Some(json!({"kind": "metrics", "name": "prometheus"})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{m}");
        let id = m["id"].as_str().unwrap().to_string();
        callers.push((
            "metrics token".into(),
            Some(m["token"].as_str().unwrap().to_string()),
            Some(Principal {
                name: format!("metrics:{id}"),
                kind: PrincipalKind::Metrics { id },
            }),
        ));
        // Bad credentials: none, wrong, expired, revoked.
        callers.push(("no token".into(), None, None));
        callers.push((
            "wrong token".into(),
            Some("hgr_0123456789abcdef_00000000000000000000000000000000".into()),
            None,
        ));
        let expired = auth::new_secret();
        s.state
            .db
            .create_token(&hangar_store::TokenRecord {
                id: expired.id.clone(),
                kind: "api".into(),
                user: Some("admin".into()),
                secret_hash: expired.secret_hash.clone(),
                name: "expired".into(),
                deployments: vec![],
                purpose: String::new(),
                rate_limit: None,
                created_at: Utc::now() - Duration::days(2),
                created_by: "admin".into(),
                expires_at: Some(Utc::now() - Duration::days(1)),
                revoked_at: None,
                last_used_at: None,
            })
            .await
            .unwrap();
        callers.push(("expired token".into(), Some(expired.token), None));
        let revoked = token_for(&s, "admin").await;
        let (id, _) = auth::token_parts(&revoked);
        let (st, _) = s
            .call("DELETE", &format!("/api/v1/tokens/{id}"), None)
            .await;
        assert_eq!(st, StatusCode::OK);
        callers.push(("revoked token".into(), Some(revoked), None));
        Fixture { s, callers }
    }
}

/// A concrete URI for a route of the table, naming the fixture's objects.
fn uri(path: &str) -> String {
    let name = if path.starts_with("/api/v1/alerts/") {
        "no-such-rule"
    } else {
        "credit-api"
    };
    path.replace("{model}", "credit")
        .replace("{name}", name)
        .replace("{version}", "1")
        .replace("{revision}", "1")
        .replace("{alias}", "staging")
        .replace("{user}", "viewer-user")
        .replace("{id}", "0000000000000000")
}

async fn send_as(
    s: &TestServer,
    method: &str,
    uri: &str,
    token: Option<&str>,
) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    req = match token {
        Some(t) => req.header("authorization", format!("Bearer {t}")),
        None => req.header("x-test-anonymous", "1"),
    };
    let body = if method == "GET" || method == "DELETE" {
        Body::empty()
    } else {
        // An empty object: enough to pass or fail the permission check,
        // never enough to change anything by accident.
        Body::from("{}")
    };
    let (st, _, bytes) = s.send(req.body(body).unwrap()).await;
    (
        st,
        String::from_utf8_lossy(&bytes).chars().take(200).collect(),
    )
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_permission_table_says() {
    let f = Fixture::new().await;
    // Deleting the deployment goes last: it is the one call that changes
    // what the others see.
    let mut rules: Vec<_> = auth::all_rules().collect();
    rules.sort_by_key(|r| r.method == "DELETE" && r.path == "/api/v1/deployments/{name}");
    let mut checked = 0;
    let mut failures = Vec::new();
    for rule in rules {
        let uri = uri(rule.path);
        for (label, token, principal) in &f.callers {
            let (st, body) = send_as(&f.s, rule.method, &uri, token.as_deref()).await;
            let allowed = auth::expected(rule.policy, principal.as_ref(), "risk", "credit-api");
            let ok = match (allowed, principal) {
                // The sign-in form is public but needs its own CSRF token,
                // which these calls do not carry: refused for everyone.
                _ if rule.method == "POST" && rule.path == "/login" => st == StatusCode::FORBIDDEN,
                (true, _) => st != StatusCode::UNAUTHORIZED && st != StatusCode::FORBIDDEN,
                (false, None) => st == StatusCode::UNAUTHORIZED,
                (false, Some(p)) => {
                    let hidden = matches!(rule.policy, Policy::Model(_) | Policy::Deployment(_))
                        && p.is_user()
                        && !p.sees("risk");
                    if hidden {
                        st == StatusCode::NOT_FOUND
                    } else {
                        st == StatusCode::FORBIDDEN
                    }
                }
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {label}: got {st}, table says {} ({body})",
                    rule.method,
                    rule.path,
                    if allowed { "allowed" } else { "denied" }
                ));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} calls disagree with the table:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 70 * 13, "{checked}");
    println!(
        "{checked} calls ({} routes × {} callers) agree with the permission table",
        checked / f.callers.len(),
        f.callers.len()
    );

    // Every denial is in the audit log, with who and what.
    let (st, a) =
        f.s.call("GET", "/api/v1/audit?actor=viewer-user&limit=10000", None)
            .await;
    assert_eq!(st, StatusCode::OK);
    let entries = a["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["outcome"] == "forbidden"
        && e["action"] == "POST /api/v1/deployments/{name}/rollback"));
    let (_, anon) =
        f.s.call("GET", "/api/v1/audit?actor=-&limit=10000", None)
            .await;
    assert!(anon["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["outcome"] == "unauthenticated"));
}

#[tokio::test]
async fn teams_do_not_see_each_others_models() {
    let f = Fixture::new().await;
    let token = |label: &str| {
        f.callers
            .iter()
            .find(|c| c.0.starts_with(label))
            .and_then(|c| c.1.clone())
            .unwrap()
    };
    let (_, _, b) =
        f.s.send(get_with_token("/api/v1/models", &token("viewer-user")))
            .await;
    let names: Vec<String> = serde_json::from_slice::<Value>(&b).unwrap()["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["credit"]);
    let (_, _, b) =
        f.s.send(get_with_token("/api/v1/deployments", &token("outsider")))
            .await;
    let names: Vec<String> = serde_json::from_slice::<Value>(&b).unwrap()["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["fraud-api"]);
    let (st, _, _) =
        f.s.send(get_with_token("/api/v1/models/credit", &token("outsider")))
            .await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "another team's model is hidden, not forbidden"
    );
    // Nor can another team deploy it.
    let put = Request::builder()
        .method("PUT")
        .uri("/api/v1/deployments/stolen")
        .header("authorization", format!("Bearer {}", token("outsider")))
        .header("content-type", "application/json")
        .body(Body::from(json!({"model": "credit:1"}).to_string()))
        .unwrap();
    let (st, _, b) = f.s.send(put).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{}", String::from_utf8_lossy(&b));

    // Alert rules (a guardrail rolls canaries back) stay within the team.
    let maintainer = token("maintainer-user");
    let rule = |deployment: Option<&str>| {
        let mut r = json!({"name": "errors", "metric": "traffic.error_rate", "comparison": ">", "threshold": 0.1, "guardrail": true});
        if let Some(d) = deployment {
            r["deployment"] = json!(d);
        }
        r
    };
    let (st, e) = call_as(
        &f.s,
        &maintainer,
        "POST",
        "/api/v1/alerts/rules",
        rule(Some("fraud-api")),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "another team's deployment: {e}");
    let (st, e) = call_as(
        &f.s,
        &maintainer,
        "POST",
        "/api/v1/alerts/rules",
        rule(None),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "a rule for every deployment: {e}"
    );
    let (st, e) = call_as(
        &f.s,
        &maintainer,
        "POST",
        "/api/v1/alerts/rules",
        rule(Some("credit-api")),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{e}");
    let (st, rules) = call_as(
        &f.s,
        &token("outsider"),
        "GET",
        "/api/v1/alerts/rules",
        json!(null),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(rules["rules"].as_array().unwrap().is_empty(), "{rules}");
}
