//! The dashboard's pages in-process: who sees what, who may act, CSRF, the
//! security headers, the embedded assets, empty states.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::json;

use crate::common::*;

const PASSWORD: &str = "a long enough password";

/// Signs `user` in through the login form; returns the session cookie.
async fn session(s: &TestServer, user: &str) -> String {
    let (st, h, _) = post_login(
        s,
        &format!("user={user}&password={}", PASSWORD.replace(' ', "+")),
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    h[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

async fn get(s: &TestServer, cookie: Option<&str>, uri: &str) -> (StatusCode, String) {
    let mut req = Request::builder().uri(uri);
    req = match cookie {
        Some(c) => req.header("cookie", c),
        None => req.header("x-test-anonymous", "1"),
    };
    let (st, _, body) = s.send(req.body(Body::empty()).unwrap()).await;
    (st, String::from_utf8_lossy(&body).into_owned())
}

async fn post_form(s: &TestServer, cookie: &str, uri: &str, body: String) -> StatusCode {
    let req = Request::builder()
        .method("POST")
        .uri(uri)
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    s.send(req).await.0
}

fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a page carries the session's CSRF token")
        .to_string()
}

/// Team `risk` with a maintainer, a viewer and a user of another team; the
/// reference model deployed twice (revisions 1 and 2).
async fn world() -> TestServer {
    let s = TestServer::start().await;
    for team in ["risk", "other"] {
        s.call("POST", "/api/v1/teams", Some(json!({"name": team})))
            .await;
    }
    for (user, team, role) in [
        ("maria", "risk", "maintainer"),
        ("victor", "risk", "viewer"),
        ("olga", "other", "maintainer"),
    ] {
        let (st, v) = s
            .call(
                "POST",
                "/api/v1/users",
                Some(json!({"name": user, "team": team, "role": role, "password": PASSWORD})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    s.call(
        "POST",
        "/api/v1/models",
        Some(json!({"name": "credit", "owner_team": "risk", "intended_use": "pre-screening <b>only</b>"})),
    )
    .await;
    s.deploy_reference("credit", "gbdt", "credit-api").await;
    let (st, v) = s
        .call(
            "PUT",
            "/api/v1/deployments/credit-api",
            Some(json!({"model": "credit:1", "message": "again"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_the_viewers_roles_and_the_server_enforces_them() {
    let s = world().await;
    let maria = session(&s, "maria").await;
    let victor = session(&s, "victor").await;
    let olga = session(&s, "olga").await;

    // The maintainer sees the deployment and the rollback button.
    let (st, page) = get(&s, Some(&maria), "/deployments/credit-api").await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("Roll back…"));
    assert!(page.contains("Revision timeline"));
    // The viewer sees the page without it.
    let (st, page) = get(&s, Some(&victor), "/deployments/credit-api").await;
    assert_eq!(st, StatusCode::OK);
    assert!(!page.contains("Roll back…"));
    // ...and the server refuses the viewer's POST even with a valid CSRF token.
    let csrf = csrf_of(&page);
    let st = post_form(
        &s,
        &victor,
        "/deployments/credit-api/rollback",
        format!("csrf={csrf}&message=no"),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Another team's user does not see it at all, nor on the overview; the
    // answer is a page, not the API's JSON (issue 18).
    let (st, page) = get(&s, Some(&olga), "/deployments/credit-api").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(page.starts_with("<!doctype html>"), "{page}");
    assert!(page.contains("<h1>Not found</h1>"), "{page}");
    assert!(page.contains("deployment &#39;credit-api&#39;"), "{page}");
    let (_, overview) = get(&s, Some(&olga), "/").await;
    assert!(!overview.contains("credit-api"));
    assert!(
        overview.contains("No deployments yet"),
        "an empty state says what to do"
    );

    // The maintainer's POST needs the CSRF token...
    let st = post_form(
        &s,
        &maria,
        "/deployments/credit-api/rollback",
        "message=oops".into(),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // ...and with it, rolls back and lands on the page saying so.
    let (_, page) = get(&s, Some(&maria), "/deployments/credit-api").await;
    let st = post_form(
        &s,
        &maria,
        "/deployments/credit-api/rollback",
        format!("csrf={}&message=back+to+the+first", csrf_of(&page)),
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let (_, page) = get(&s, Some(&maria), "/deployments/credit-api").await;
    assert!(page.contains("Rollback to revision 1"));
    assert!(page.contains("back to the first"));
    let (_, d) = s.call("GET", "/api/v1/deployments/credit-api", None).await;
    assert_eq!(d["current"]["revision"], 3);
    assert_eq!(d["current"]["actor"], "maria");

    // The audit page is for auditors; a maintainer gets 403. The
    // administrator sees the page's own rollback, and the chain verifies.
    let (st, page) = get(&s, Some(&maria), "/audit").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(page.starts_with("<!doctype html>"), "{page}");
    assert!(page.contains("<h1>Not allowed</h1>"), "{page}");
    assert!(page.contains("maria may not read the audit log"), "{page}");
    let (st, audit) = s.call("GET", "/audit?actor=maria", None).await;
    assert_eq!(st, StatusCode::OK);
    let audit = audit.as_str().unwrap();
    assert!(audit.contains("Intact"), "{audit}");
    assert!(
        audit.contains("POST /deployments/{name}/rollback"),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_escaped_and_carry_no_inline_script() {
    let s = world().await;
    let maria = session(&s, "maria").await;
    for uri in [
        "/",
        "/models",
        "/models/credit",
        "/deployments/credit-api",
        "/alerts",
    ] {
        let (st, page) = get(&s, Some(&maria), uri).await;
        assert_eq!(st, StatusCode::OK, "{uri}: {page}");
        assert!(page.starts_with("<!doctype html>"), "{uri}");
        for script in page.split("<script").skip(1) {
            assert!(
                script.trim_start().starts_with("src=\"/assets/"),
                "{uri}: no inline script (the CSP forbids it)"
            );
        }
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "{uri}: nothing from elsewhere"
        );
    }
    let (_, model) = get(&s, Some(&maria), "/models/credit").await;
    assert!(model.contains("pre-screening &lt;b&gt;only&lt;/b&gt;"));
    assert!(model.contains("No description yet"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_page_and_assets_are_public_and_pages_are_not() {
    let s = TestServer::start().await;
    let req = Request::builder()
        .uri("/login?error=1&next=/deployments/x")
        .header("x-test-anonymous", "1")
        .body(Body::empty())
        .unwrap();
    let (st, h, body) = s.send(req).await;
    assert_eq!(st, StatusCode::OK);
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("did not match"));
    assert!(body.contains(r#"name="next" value="/deployments/x""#));
    for (uri, kind) in [
        ("/assets/app.css", "text/css"),
        ("/assets/app.js", "text/javascript"),
    ] {
        let req = Request::builder()
            .uri(uri)
            .header("x-test-anonymous", "1")
            .body(Body::empty())
            .unwrap();
        let (st, h, _) = s.send(req).await;
        assert_eq!(st, StatusCode::OK, "{uri}");
        assert!(h[header::CONTENT_TYPE].to_str().unwrap().starts_with(kind));
    }
    let (st, _) = get(&s, None, "/").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}
