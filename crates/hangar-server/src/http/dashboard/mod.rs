//! The dashboard: server-rendered HTML pages over the same state the API
//! reads, with charts drawn as inline SVG and two small embedded assets (a
//! stylesheet and a script that shows times in the viewer's time zone).
//! Nothing is built or fetched: the pages work on a machine with no
//! network and under the strict content security policy of
//! `auth::security_headers`.

mod charts;
mod pages;

pub(crate) use pages::login_page;

use std::fmt::Write;

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use hangar_core::governance::Action as A;

use crate::auth::{r, Authenticated, Policy as P, Routes, Rule};
use crate::http::error::ApiError;

/// The dashboard's rows of the permission table. Pages read with the same
/// policy as the API route they mirror; the forms that change a deployment
/// need Deploy in its team and are audited.
pub static RULES: &[Rule] = &[
    r("GET", "/login", P::Public, false),
    r("GET", "/assets/app.css", P::Public, false),
    r("GET", "/assets/app.js", P::Public, false),
    r("GET", "/", P::User, false),
    r("GET", "/alerts", P::User, false),
    r("GET", "/models", P::User, false),
    r("GET", "/audit", P::Global(A::Audit), false),
    r("GET", "/deployments/{name}", P::Deployment(A::Read), false),
    r(
        "POST",
        "/deployments/{name}/rollback",
        P::Deployment(A::Deploy),
        true,
    ),
    r(
        "POST",
        "/deployments/{name}/promote",
        P::Deployment(A::Deploy),
        true,
    ),
    r("GET", "/models/{model}", P::Model(A::Read), false),
];

pub(crate) fn routes(r: Routes) -> Routes {
    r.add("GET", "/login", pages::login)
        .add("GET", "/assets/app.css", css)
        .add("GET", "/assets/app.js", js)
        .add("GET", "/", pages::overview)
        .add("GET", "/alerts", pages::alerts)
        .add("GET", "/models", pages::models)
        .add("GET", "/audit", pages::audit)
        .add("GET", "/deployments/{name}", pages::deployment)
        .add("POST", "/deployments/{name}/rollback", pages::rollback)
        .add("POST", "/deployments/{name}/promote", pages::promote)
        .add("GET", "/models/{model}", pages::model)
}

const APP_CSS: &str = include_str!("assets/app.css");
const APP_JS: &str = include_str!("assets/app.js");

async fn css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query or path component.
pub(crate) fn url(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A time as the viewer will read it: UTC in the text (the fallback when
/// scripts are off), converted to the viewer's zone by `app.js`.
pub(crate) fn time(t: DateTime<Utc>) -> String {
    format!(
        r#"<time datetime="{}">{} UTC</time>"#,
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        t.format("%Y-%m-%d %H:%M")
    )
}

/// Which top-level section a page belongs to, for the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Overview,
    Models,
    Alerts,
    Audit,
    None,
}

/// A whole page: header with navigation and the signed-in user, then `body`.
pub(crate) fn page(
    title: &str,
    section: Section,
    viewer: Option<&Authenticated>,
    body: &str,
) -> Response {
    let mut nav = String::new();
    if let Some(a) = viewer {
        let items = [
            ("/", "Overview", Section::Overview),
            ("/models", "Models", Section::Models),
            ("/alerts", "Alerts", Section::Alerts),
            ("/audit", "Audit", Section::Audit),
        ];
        nav.push_str(r#"<nav aria-label="Main"><ul>"#);
        for (href, label, s) in items {
            let current = if s == section {
                r#" aria-current="page""#
            } else {
                ""
            };
            let _ = write!(nav, r#"<li><a href="{href}"{current}>{label}</a></li>"#);
        }
        nav.push_str("</ul></nav>");
        let _ = write!(
            nav,
            r#"<form class="who" method="post" action="/logout"><span>Signed in as <strong>{}</strong></span><input type="hidden" name="csrf" value="{}"><button type="submit" class="link">Sign out</button></form>"#,
            esc(&a.principal.name),
            esc(a.csrf.as_deref().unwrap_or_default())
        );
    }
    let html = format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · Hangar</title>
<link rel="stylesheet" href="/assets/app.css">
<script src="/assets/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><a class="brand" href="/">Hangar</a>{nav}</header>
<main id="main" tabindex="-1">
{body}
</main>
<footer><p>Times are shown in your time zone when scripts run, otherwise in UTC.</p></footer>
</body>
</html>"##,
        esc(title)
    );
    Html(html).into_response()
}

/// An error as a page (the API's message, which never carries internal text).
pub(crate) fn error_page(viewer: Option<&Authenticated>, e: ApiError) -> Response {
    let status = crate::http::error::status(e.code);
    let message = if status.is_server_error() {
        "the page could not be built; the cause is in the server log".to_string()
    } else {
        e.message
    };
    let body = format!(
        r#"<h1>{}</h1><p class="notice bad">{}</p><p><a href="/">Back to the overview</a></p>"#,
        match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            _ => "Something went wrong",
        },
        esc(&message)
    );
    let mut resp = page("Error", Section::None, viewer, &body);
    *resp.status_mut() = status;
    resp
}
