//! Governance end to end, in-process against a real SQLite file: the
//! permission matrix (every route × every role and every kind of bad
//! credential, checked against the table) and team isolation
//! ([`permissions`]), models moving between teams ([`teams`]), four-eyes
//! approval ([`approvals`]), consumer keys, their rate limit and password
//! sessions ([`credentials`]), the audit chain caught after a row is edited
//! directly in SQLite and a corrupted artifact ([`integrity`]).

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

mod approvals;
mod credentials;
mod integrity;
mod permissions;
mod teams;

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
