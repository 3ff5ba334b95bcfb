//! Governance end to end, in-process against a real SQLite file: the
//! permission matrix (every route × every role and every kind of bad
//! credential, checked against the table), four-eyes approval, the audit
//! chain caught after a row is edited directly in SQLite, a corrupted
//! artifact, team isolation, consumer keys and their rate limit.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Duration, Utc};
use hangar_core::governance::{Principal, PrincipalKind, Role};
use hangar_server::auth::{self, Policy};
use serde_json::{json, Value};

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

async fn token_for(s: &TestServer, user: &str) -> String {
    let (st, t) = s
        .call("POST", "/api/v1/tokens", Some(json!({"user": user})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    t["token"].as_str().unwrap().to_string()
}

async fn user(s: &TestServer, name: &str, team: &str, role: &str) {
    let (st, u) = s
        .call(
            "POST",
            "/api/v1/users",
            Some(json!({"name": name, "team": team, "role": role, "password": "a long password 123"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
}

async fn team(s: &TestServer, name: &str) {
    let (st, t) = s
        .call("POST", "/api/v1/teams", Some(json!({"name": name})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
}

async fn model_in(s: &TestServer, name: &str, team: &str, deployment: &str, reference: &str) {
    let (st, m) = s
        .call(
            "POST",
            "/api/v1/models",
            Some(json!({"name": name, "owner_team": team, "out_of_scope_uses": ["employment decisions"]})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    s.deploy_reference(name, reference, deployment).await;
}

async fn consumer_key(s: &TestServer, deployment: &str, rate: Option<f64>) -> Value {
    let (st, k) = s
        .call(
            "POST",
            "/api/v1/consumer-keys",
            Some(json!({"deployment": deployment, "purpose": "loan pre-screening", "rate_limit": rate})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{k}");
    k
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
        team(&s, "risk").await;
        team(&s, "fraud").await;
        let mut callers = vec![(
            "superuser".to_string(),
            Some(ADMIN_TOKEN.to_string()),
            Some(Principal::user("admin", true, vec![])),
        )];
        for role in Role::ALL {
            let name = format!("{}-user", role.as_str());
            user(&s, &name, "risk", role.as_str()).await;
            let token = token_for(&s, &name).await;
            callers.push((
                name.clone(),
                Some(token),
                Some(as_user(&name, &[("risk", role)])),
            ));
        }
        user(&s, "outsider", "fraud", "admin").await;
        let token = token_for(&s, "outsider").await;
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
    let req = |t: &str, uri: &str| {
        Request::builder()
            .uri(uri)
            .header("authorization", format!("Bearer {t}"))
            .body(Body::empty())
            .unwrap()
    };
    let (_, _, b) = f.s.send(req(&token("viewer-user"), "/api/v1/models")).await;
    let names: Vec<String> = serde_json::from_slice::<Value>(&b).unwrap()["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["credit"]);
    let (_, _, b) =
        f.s.send(req(&token("outsider"), "/api/v1/deployments"))
            .await;
    let names: Vec<String> = serde_json::from_slice::<Value>(&b).unwrap()["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["fraud-api"]);
    let (st, _, _) =
        f.s.send(req(&token("outsider"), "/api/v1/models/credit"))
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

#[tokio::test]
async fn consumer_keys_serve_their_deployment_for_their_purpose_within_their_rate() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    s.deploy_reference("other", "logreg", "other-api").await;
    let (st, _) = s
        .call("PATCH", "/api/v1/models/credit", Some(json!({"intended_use": "pre-screening of loan applications", "out_of_scope_uses": ["hiring", "insurance pricing"]})))
        .await;
    assert_eq!(st, StatusCode::OK);
    let k = consumer_key(&s, "credit-api", Some(2.0)).await;
    assert_eq!(
        k["models"][0]["out_of_scope_uses"],
        json!(["hiring", "insurance pricing"]),
        "{k}"
    );
    assert_eq!(k["purpose"], "loan pre-screening");
    let token = k["token"].as_str().unwrap().to_string();
    let infer = |deployment: &str| {
        Request::builder()
            .method("POST")
            .uri(format!("/v2/models/{deployment}/infer"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(one_row_request().to_string()))
            .unwrap()
    };
    let (st, _, b) = s.send(infer("credit-api")).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    // The prediction is logged with the key's purpose.
    let mut logged = Vec::new();
    for _ in 0..50 {
        logged = s
            .state
            .db
            .predictions(
                "credit-api",
                Utc::now() - Duration::hours(1),
                Utc::now() + Duration::hours(1),
                10,
            )
            .await
            .unwrap();
        if !logged.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].purpose.as_deref(), Some("loan pre-screening"));
    let (st, _, b) = s.send(infer("other-api")).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));
    assert!(String::from_utf8_lossy(&b).contains("not issued for deployment 'other-api'"));
    // The key's rate: 2 per second with a burst of 2.
    let mut limited = None;
    for _ in 0..5 {
        let (st, h, _) = s.send(infer("credit-api")).await;
        if st == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(h);
            break;
        }
    }
    let h = limited.expect("the key was never rate limited");
    assert_eq!(h["retry-after"], "1");
    // Management routes answer in their own shape, with the code.
    let (st, _, b) = s
        .send(
            Request::builder()
                .uri("/api/v1/whoami")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        serde_json::from_slice::<Value>(&b).unwrap()["code"],
        "rate_limited"
    );
    // A key cannot manage anything.
    let (st, _, _) = s
        .send(
            Request::builder()
                .uri("/api/v1/models")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Revoked, it stops working at once.
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/consumer-keys/{}", k["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (st, _, _) = s.send(infer("credit-api")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

/// Sends a JSON request as the holder of `token`.
async fn call_as(
    s: &TestServer,
    token: &str,
    method: &str,
    uri: &str,
    body: Value,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (st, _, bytes) = s.send(req).await;
    (st, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_high_risk_version_needs_a_second_persons_approval_before_production_traffic() {
    let s = TestServer::start().await;
    team(&s, "risk").await;
    // Dana pushes models and may also approve; Alex approves; Max deploys.
    user(&s, "dana", "risk", "data-scientist").await;
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/users/dana/roles",
            Some(json!({"team": "risk", "role": "approver"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    user(&s, "alex", "risk", "approver").await;
    user(&s, "max", "risk", "maintainer").await;
    let (dana, alex, max) = (
        token_for(&s, "dana").await,
        token_for(&s, "alex").await,
        token_for(&s, "max").await,
    );
    let (st, m) = call_as(
        &s,
        &dana,
        "POST",
        "/api/v1/models",
        json!({"name": "loan", "risk_tier": "high"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    assert_eq!(
        m["owner_team"], "risk",
        "a model goes to its creator's only team"
    );
    // Dana pushes version 1 (through the multipart upload, as herself).
    let boundary = "b0undary";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"artifact\"; filename=\"m.onnx\"\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes();
    body.extend_from_slice(&reference_model("gbdt"));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (st, _, b) = s
        .send(
            Request::builder()
                .method("POST")
                .uri("/api/v1/models/loan/versions")
                .header("authorization", format!("Bearer {dana}"))
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["created_by"], "dana");
    // A low-risk model in the same team serves; loan:1 may shadow it.
    let (st, m) = call_as(
        &s,
        &dana,
        "POST",
        "/api/v1/models",
        json!({"name": "basic"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    let (st, v) = s.upload("basic", &reference_model("logreg"), None).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, d) = call_as(
        &s,
        &max,
        "PUT",
        "/api/v1/deployments/loan-api",
        json!({"model": "basic:1", "shadow": "loan:1"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "shadow traffic needs no approval: {d}");

    // Production traffic is refused until approval, with the reason.
    let (st, e) = call_as(
        &s,
        &max,
        "PUT",
        "/api/v1/deployments/loan-api",
        json!({"model": "basic:1", "canary": {"model": "loan:1", "weight": 10}}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["code"], "approval_required");
    assert!(e["error"].as_str().unwrap().contains("loan:1"), "{e}");
    let (st, e) = call_as(
        &s,
        &max,
        "PUT",
        "/api/v1/models/loan/aliases/production",
        json!({"version": 1}),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "the production alias is production traffic: {e}"
    );

    // The pusher cannot approve her own version, even as an approver.
    let (st, e) = call_as(
        &s,
        &dana,
        "POST",
        "/api/v1/models/loan/versions/1/approvals",
        json!({"decision": "approve", "comment": "looks fine"}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert!(e["error"].as_str().unwrap().contains("four eyes"), "{e}");
    // A maintainer is no approver.
    let (st, _) = call_as(
        &s,
        &max,
        "POST",
        "/api/v1/models/loan/versions/1/approvals",
        json!({"decision": "approve", "comment": "ok"}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // A comment is required.
    let (st, _) = call_as(
        &s,
        &alex,
        "POST",
        "/api/v1/models/loan/versions/1/approvals",
        json!({"decision": "approve", "comment": " "}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // A rejection keeps it out.
    let (st, _) = call_as(
        &s,
        &alex,
        "POST",
        "/api/v1/models/loan/versions/1/approvals",
        json!({"decision": "reject", "comment": "fairness report missing"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, e) = call_as(
        &s,
        &max,
        "PUT",
        "/api/v1/deployments/loan-api",
        json!({"model": "loan:1"}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("rejected by alex"),
        "{e}"
    );
    // A second person's approval of this exact digest lets it in.
    let (st, a) = call_as(
        &s,
        &alex,
        "POST",
        "/api/v1/models/loan/versions/1/approvals",
        json!({"decision": "approve", "comment": "fairness report reviewed"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    assert!(a["digest"].as_str().unwrap().starts_with("sha256:"));
    let (st, d) = call_as(
        &s,
        &max,
        "PUT",
        "/api/v1/deployments/loan-api",
        json!({"model": "loan:1"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    let (st, a) = s
        .call("GET", "/api/v1/models/loan/versions/1/approvals", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(a["production_allowed"], true);
    assert_eq!(a["pushed_by"], "dana");
    assert_eq!(a["decisions"].as_array().unwrap().len(), 2);
    // The audit log holds both decisions and the deployments, by name.
    let (_, log) = s
        .call("GET", "/api/v1/audit?object=models/loan", None)
        .await;
    let approvals: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"] == "POST /api/v1/models/{model}/versions/{version}/approvals"
                && e["outcome"] == "ok"
        })
        .collect();
    assert_eq!(approvals.len(), 2, "{log}");
    assert!(approvals.iter().all(|e| e["actor"] == "alex"));
}

#[tokio::test]
async fn the_audit_verifier_names_the_entry_edited_directly_in_sqlite() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    team(&s, "risk").await;
    user(&s, "val", "risk", "viewer").await;
    let (st, v) = s.call("GET", "/api/v1/audit/verify", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["ok"], true, "{v}");
    let n = v["entries"].as_u64().unwrap();
    assert!(n >= 5, "{v}");
    // Secrets never reach the log.
    let (_, log) = s.call("GET", "/api/v1/audit?limit=1000", None).await;
    let text = log.to_string();
    assert!(!text.contains("a long password 123"));
    assert!(!text.contains(ADMIN_TOKEN));

    // Someone with the database file edits entry 3: who did it.
    let db = s.dir.path().join("hangar.db");
    let url = format!("sqlite://{}", db.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("DROP TRIGGER audit_append_only")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET actor = 'somebody-else' WHERE seq = 3")
        .execute(&pool)
        .await
        .unwrap();
    let (_, v) = s.call("GET", "/api/v1/audit/verify", None).await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["first_break"]["seq"], 3, "{v}");
    assert!(v["first_break"]["message"]
        .as_str()
        .unwrap()
        .contains("edited"));

    // Put it back and delete entry 2 instead: the chain breaks at 3.
    sqlx::query("UPDATE audit_log SET actor = 'admin' WHERE seq = 3")
        .execute(&pool)
        .await
        .unwrap();
    let (_, v) = s.call("GET", "/api/v1/audit/verify", None).await;
    assert_eq!(v["ok"], true, "restored: {v}");
    sqlx::query("DROP TRIGGER audit_undeletable")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_log WHERE seq = 2")
        .execute(&pool)
        .await
        .unwrap();
    let (_, v) = s.call("GET", "/api/v1/audit/verify", None).await;
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_break"]["seq"], 3, "{v}");
    assert!(v["first_break"]["message"]
        .as_str()
        .unwrap()
        .contains("removed or reordered"));
    pool.close().await;
}

#[tokio::test]
async fn a_corrupted_artifact_fails_to_load_and_the_deployment_keeps_its_healthy_revision() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    let (st, v) = s.upload("credit", &reference_model("mlp"), None).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let hex = v["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap()
        .to_string();
    let path = s
        .dir
        .path()
        .join("artifacts/sha256")
        .join(&hex[..2])
        .join(&hex);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();

    let (st, e) = s
        .call(
            "PUT",
            "/api/v1/deployments/credit-api",
            Some(json!({"model": "credit:2"})),
        )
        .await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("failed verification"),
        "{e}"
    );
    let (st, r) = s.infer("credit-api", one_row_request()).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["model_version"], "1", "still the healthy revision");
    let (_, d) = s.call("GET", "/api/v1/deployments/credit-api", None).await;
    assert_eq!(d["current"]["revision"], 1, "{d}");
}

#[tokio::test]
async fn passwords_log_in_and_sessions_need_their_csrf_token_to_change_anything() {
    let s = TestServer::start().await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    user(&s, "mia", "default", "maintainer").await;
    let login = |pw: &str| format!("user=mia&password={pw}");
    let (st, h, _) = post_login(&s, &login("wrong+password+123")).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert_eq!(h["location"], "/login?error=1");
    let (st, h, _) = post_login(&s, &login("a+long+password+123")).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let cookie = h["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let with_cookie = |method: &str, uri: &str, csrf: Option<&str>| {
        let mut r = Request::builder()
            .method(method)
            .uri(uri)
            .header("cookie", &session)
            .header("content-type", "application/json");
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        r.body(Body::from("{}")).unwrap()
    };
    let (st, _, b) = s.send(with_cookie("GET", "/api/v1/whoami", None)).await;
    assert_eq!(st, StatusCode::OK);
    let me: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(me["name"], "mia");
    // A change without the CSRF token is refused, and with it allowed.
    let (st, _, _) = s
        .send(with_cookie(
            "POST",
            "/api/v1/deployments/credit-api/rollback",
            None,
        ))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let token = session.split_once('=').unwrap().1;
    let (_, hash) = auth::token_parts(token);
    let csrf = auth::csrf_token(&hash);
    let (st, _, b) = s
        .send(with_cookie(
            "POST",
            "/api/v1/deployments/credit-api/rollback",
            Some(&csrf),
        ))
        .await;
    assert_ne!(st, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));
    assert_ne!(st, StatusCode::UNAUTHORIZED);
    // A session cookie is not a bearer token and vice versa.
    let (st, _, _) = s
        .send(
            Request::builder()
                .uri("/api/v1/whoami")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // A browser without a session is sent to the login form; the API answers 401.
    let page = |uri: &str| {
        Request::builder()
            .uri(uri)
            .header("accept", "text/html,application/xhtml+xml")
            .header("x-test-anonymous", "1")
            .body(Body::empty())
            .unwrap()
    };
    let (st, h, _) = s.send(page("/deployments/credit-api?range=24h")).await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert_eq!(
        h["location"],
        "/login?next=/deployments/credit-api%3Frange%3D24h"
    );
    let (st, _, _) = s.send(page("/api/v1/models")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // Security headers on every answer.
    let (_, h, _) = s.send(with_cookie("GET", "/api/v1/whoami", None)).await;
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
}

/// Issue 18: a model's deployments move with it to another team (audited),
/// only for someone who may deploy in both teams, and not when one of them
/// also serves another model.
#[tokio::test]
async fn a_models_deployments_move_with_it_to_another_team() {
    let s = TestServer::start().await;
    team(&s, "risk").await;
    team(&s, "credit").await;
    user(&s, "maria", "credit", "maintainer").await;
    user(&s, "dora", "risk", "data-scientist").await;
    let (st, _) = s
        .call(
            "POST",
            "/api/v1/users/dora/roles",
            Some(json!({"team": "credit", "role": "data-scientist"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (maria, dora) = (token_for(&s, "maria").await, token_for(&s, "dora").await);
    model_in(&s, "scorer", "risk", "scorer-api", "gbdt").await;
    let (st, _) = call_as(
        &s,
        &maria,
        "GET",
        "/api/v1/deployments/scorer-api",
        json!(null),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "another team's deployment is hidden"
    );

    // A data scientist of both teams may move models, not deployments.
    let (st, e) = call_as(
        &s,
        &dora,
        "PATCH",
        "/api/v1/models/scorer",
        json!({"owner_team": "credit"}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    let msg = e["error"].as_str().unwrap();
    assert!(
        msg.contains("scorer-api") && msg.contains("deploy permission"),
        "{e}"
    );
    let (_, m) = s.call("GET", "/api/v1/models/scorer", None).await;
    assert_eq!(m["owner_team"], "risk", "a refused move changes nothing");

    // The administrator moves it: the deployment follows, in one step.
    let (st, m) = s
        .call(
            "PATCH",
            "/api/v1/models/scorer",
            Some(json!({"owner_team": "credit", "description": "moved"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{m}");
    assert_eq!(m["owner_team"], "credit");
    assert_eq!(m["deployments_moved"], json!(["scorer-api"]));
    let (st, d) = call_as(
        &s,
        &maria,
        "GET",
        "/api/v1/deployments/scorer-api",
        json!(null),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "the new team's maintainer sees it: {d}");
    let (st, r) = call_as(
        &s,
        &maria,
        "PUT",
        "/api/v1/deployments/scorer-api",
        json!({"model": "scorer:1", "message": "ours now"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "...and may deploy it: {r}");
    assert_eq!(
        s.state
            .db
            .deployment_team("scorer-api")
            .await
            .unwrap()
            .as_deref(),
        Some("credit")
    );
    // The move is in the audit log under the deployment's name.
    let (_, log) = s
        .call("GET", "/api/v1/audit?object=deployments/scorer-api", None)
        .await;
    let entries = log["entries"].as_array().unwrap();
    let moved = entries
        .iter()
        .find(|e| e["action"] == "PATCH /api/v1/models/{model}")
        .unwrap_or_else(|| panic!("no audit entry for the move: {log}"));
    assert_eq!(moved["actor"], "admin");
    let detail: Value = match &moved["detail"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        other => other.clone(),
    };
    assert_eq!(
        detail["moved"],
        json!({"from_team": "risk", "to_team": "credit", "with_model": "scorer"}),
        "{moved}"
    );

    // A deployment that also serves another model of the team cannot follow.
    model_in(&s, "basic", "credit", "mixed-api", "logreg").await;
    let (st, d) = s
        .call(
            "PUT",
            "/api/v1/deployments/mixed-api",
            Some(json!({"model": "basic:1", "canary": {"model": "scorer:1", "weight": 10}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    let (st, e) = s
        .call(
            "PATCH",
            "/api/v1/models/scorer",
            Some(json!({"owner_team": "risk"})),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("mixed-api (also serves basic)"),
        "{e}"
    );
    assert_eq!(
        s.state
            .db
            .deployment_team("scorer-api")
            .await
            .unwrap()
            .as_deref(),
        Some("credit"),
        "nothing moved"
    );
}

/// Issue 18: a model becomes high-risk only when no version of it gets
/// production traffic without four-eyes approval; the refusal names them.
#[tokio::test]
async fn raising_a_model_to_high_risk_waits_until_its_serving_versions_are_approved() {
    let s = TestServer::start().await;
    team(&s, "risk").await;
    user(&s, "alex", "risk", "approver").await;
    let alex = token_for(&s, "alex").await;
    model_in(&s, "loan", "risk", "loan-api", "gbdt").await;
    let (st, _) = s
        .call(
            "PUT",
            "/api/v1/models/loan/aliases/production",
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = s.upload("loan", &reference_model("logreg"), None).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");

    let (st, e) = s
        .call(
            "PATCH",
            "/api/v1/models/loan",
            Some(json!({"risk_tier": "high"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["code"], "approval_required");
    let msg = e["error"].as_str().unwrap();
    assert!(
        msg.contains("loan:1 (100% of deployment loan-api, the production alias; pushed by admin, not approved)"),
        "{msg}"
    );
    assert!(!msg.contains("loan:2"), "version 2 serves nothing: {msg}");
    let (_, m) = s.call("GET", "/api/v1/models/loan", None).await;
    assert_eq!(m["risk_tier"], "low", "the refused change changed nothing");

    // Other fields of the card can still change.
    let (st, m) = s
        .call(
            "PATCH",
            "/api/v1/models/loan",
            Some(json!({"intended_use": "pre-screening"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{m}");

    // Approved by someone other than its pusher, it may become high-risk.
    let (st, a) = call_as(
        &s,
        &alex,
        "POST",
        "/api/v1/models/loan/versions/1/approvals",
        json!({"decision": "approve", "comment": "validation report reviewed"}),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    let (st, m) = s
        .call(
            "PATCH",
            "/api/v1/models/loan",
            Some(json!({"risk_tier": "high"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{m}");
    assert_eq!(m["risk_tier"], "high");
    // From now on the unapproved version 2 gets no production traffic.
    let (st, e) = s
        .call(
            "PUT",
            "/api/v1/deployments/loan-api",
            Some(json!({"model": "loan:2"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
}
