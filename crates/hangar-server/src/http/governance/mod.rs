//! `/api/v1` routes of governance: login, teams, users and roles, API
//! tokens, consumer keys, trusted signing keys, signatures, approvals and
//! the audit log. Who may call each is in `auth::RULES`.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use hangar_api as wire;
use hangar_core::governance::{may_decide, verify_chain, Action, AuditEntry, Principal, Role};
use hangar_core::{validate_name, NameKind};
use hangar_store::{ApprovalRecord, AuditFilter, StoreError, TokenRecord};
use serde::Deserialize;

use crate::auth::{self, Authenticated, ClientAddress, Routes};
use crate::http::api::Caller;
use crate::http::api::{parse_time, version_number, JsonBody};
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

/// A time to the second, as governance answers send it.
fn secs(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(0)
}

/// `30d`, `12h`, `90m` or an RFC 3339 time.
pub(crate) fn parse_expiry(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    let raw = raw.trim();
    let bad = || {
        ApiError::new(
            ErrorCode::InvalidExpiry,
            format!(
                "invalid expiry {:?}: use a duration such as 30d, 12h or 90m, or an RFC 3339 time",
                raw.chars().take(40).collect::<String>()
            ),
        )
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
        return Err(ApiError::new(
            ErrorCode::InvalidExpiry,
            "the expiry is in the past",
        ));
    }
    Ok(t)
}

mod approvals;
mod audit;
mod consumer_keys;
mod login;
mod signing;
mod teams;
mod tokens;
#[allow(unused_imports)]
pub use approvals::*;
#[allow(unused_imports)]
pub use audit::*;
#[allow(unused_imports)]
pub use consumer_keys::*;
#[allow(unused_imports)]
pub use login::*;
#[allow(unused_imports)]
pub use signing::*;
#[allow(unused_imports)]
pub use teams::*;
#[allow(unused_imports)]
pub use tokens::*;
