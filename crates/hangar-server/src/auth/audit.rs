//! The audit trail: each audited change with a summary of its body (secrets redacted), and the teams it concerns.

use super::*;

/// The longest actor, address and action kept in an audit entry.
pub(super) const FIELD_CHARS: usize = 128;
/// The longest detail kept in an audit entry (JSON text); a longer one is
/// replaced by a note of its length and a prefix.
pub(super) const DETAIL_BYTES: usize = 16 * 1024;

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
pub(super) fn names_deployment(path: &str) -> bool {
    ["/api/v1/deployments/", "/deployments/", "/v2/models/"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// The teams owning the model (`{model}`) or deployment (`{name}`) a
/// route's path names.
pub(super) async fn path_teams(
    state: &AppState,
    rule: &Rule,
    params: &[(&str, &str)],
) -> Vec<String> {
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
pub(super) async fn body_teams(state: &AppState, bodies: [&Value; 3], teams: &mut Vec<String>) {
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

pub(super) async fn csrf_ok(req: Request, expected: &str) -> (bool, Request) {
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

pub(super) fn form_urlencoded(body: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    body.split(|b| *b == b'&').filter_map(|pair| {
        let mut it = pair.splitn(2, |b| *b == b'=');
        let k = decode(it.next()?)?;
        let v = decode(it.next().unwrap_or_default())?;
        Some((k, v))
    })
}

pub(super) fn decode(s: &[u8]) -> Option<String> {
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
pub(super) async fn audited(
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
pub(super) const SUMMARY_BYTES: usize = 4 * 1024;

/// A body for the audit log: JSON (or a form) with every secret-looking
/// field replaced, truncated to a sane size.
pub(super) fn summarize(bytes: &[u8]) -> Value {
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

pub(super) const SECRET_KEYS: &[&str] = &[
    "password",
    "token",
    "secret",
    "private_key",
    "csrf",
    "authorization",
];

pub(super) fn redact(v: &mut Value) {
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
