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
//! the caller only as typed request extensions: [`Authenticated`] (with the
//! [`Principal`]), [`Purpose`] and [`ClientAddress`].

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

mod audit;
mod authorize;
mod credentials;
mod outage;
mod principals;
mod startup;
mod table;
#[allow(unused_imports)]
pub use audit::*;
#[allow(unused_imports)]
pub use authorize::*;
#[allow(unused_imports)]
pub use credentials::*;
pub(crate) use outage::watch_database;
#[allow(unused_imports)]
use outage::*;
#[allow(unused_imports)]
pub use principals::*;
#[allow(unused_imports)]
pub use startup::*;
#[allow(unused_imports)]
pub use table::*;

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
    fn a_route_without_a_row_cannot_be_added() {
        async fn handler() {}
        let refused = std::panic::catch_unwind(|| {
            Routes::new().add("GET", "/api/v1/not-in-the-table", handler);
        })
        .expect_err("a route without a row was added");
        let message = refused
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| refused.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        assert!(
            message.contains("has no row in the permission table"),
            "{message}"
        );
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
