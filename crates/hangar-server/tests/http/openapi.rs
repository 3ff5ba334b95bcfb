//! The served OpenAPI document: every route, with real schemas.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let s = TestServer::start().await;
    let (st, doc) = s.call("GET", "/api/v1/openapi.json", None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    // Every route the server answers (every /api/v1 route of the permission
    // table among them) is documented, with its method; the dashboard's
    // login and logout are HTML form posts, not the API.
    for rule in hangar_server::auth::RULES {
        if matches!(rule.path, "/login" | "/logout") {
            continue;
        }
        let method = rule.method.to_ascii_lowercase();
        assert!(
            paths
                .get(rule.path)
                .is_some_and(|item| item.get(&method).is_some()),
            "openapi.json lacks {} {}",
            rule.method,
            rule.path
        );
    }
    // The routes whose bodies are hangar-api types (and whether the request
    // is one too): each JSON (or multipart) request and success body names
    // a schema that resolves and has properties, not a bare object.
    let typed = [
        ("GET", "/api/v1/models", false),
        ("POST", "/api/v1/models", true),
        ("GET", "/api/v1/models/{model}", false),
        ("PATCH", "/api/v1/models/{model}", true),
        ("GET", "/api/v1/models/{model}/versions", false),
        ("POST", "/api/v1/models/{model}/versions", true),
        ("GET", "/api/v1/models/{model}/versions/{version}", false),
        ("GET", "/api/v1/models/{model}/aliases", false),
        ("GET", "/api/v1/models/{model}/aliases/{alias}", false),
        ("PUT", "/api/v1/models/{model}/aliases/{alias}", true),
        ("DELETE", "/api/v1/models/{model}/aliases/{alias}", false),
        (
            "GET",
            "/api/v1/models/{model}/aliases/{alias}/history",
            false,
        ),
        ("GET", "/api/v1/models/{model}/alias-history", false),
        ("GET", "/api/v1/deployments", false),
        ("GET", "/api/v1/deployments/{name}", false),
        ("PUT", "/api/v1/deployments/{name}", true),
        ("GET", "/api/v1/deployments/{name}/revisions", false),
        (
            "GET",
            "/api/v1/deployments/{name}/revisions/{revision}",
            false,
        ),
        ("POST", "/api/v1/deployments/{name}/promote", true),
        ("POST", "/api/v1/deployments/{name}/rollback", true),
        (
            "GET",
            "/api/v1/models/{model}/versions/{version}/baseline",
            false,
        ),
        (
            "PUT",
            "/api/v1/models/{model}/versions/{version}/baseline",
            false,
        ),
        ("POST", "/api/v1/deployments/{name}/feedback", false),
        ("GET", "/api/v1/deployments/{name}/monitoring", false),
        ("GET", "/api/v1/alerts", false),
        ("GET", "/api/v1/alerts/events", false),
        ("GET", "/api/v1/alerts/rules", false),
        ("POST", "/api/v1/alerts/rules", true),
        ("POST", "/api/v1/alerts/ack", true),
        ("GET", "/api/v1/alerts/channels", false),
        ("PUT", "/api/v1/alerts/channels/{name}", true),
        ("GET", "/api/v1/alerts/deliveries", false),
        ("GET", "/api/v1/deployments/{name}/health", false),
        ("GET", "/api/v1/teams", false),
        ("POST", "/api/v1/teams", true),
        ("GET", "/api/v1/users", false),
        ("POST", "/api/v1/users", true),
        ("POST", "/api/v1/users/{user}/roles", true),
        ("GET", "/api/v1/tokens", false),
        ("POST", "/api/v1/tokens", true),
        ("DELETE", "/api/v1/tokens/{id}", false),
        ("GET", "/api/v1/consumer-keys", false),
        ("POST", "/api/v1/consumer-keys", true),
        ("DELETE", "/api/v1/consumer-keys/{id}", false),
        ("GET", "/api/v1/trusted-keys", false),
        ("POST", "/api/v1/trusted-keys", true),
        (
            "GET",
            "/api/v1/models/{model}/versions/{version}/approvals",
            false,
        ),
        (
            "POST",
            "/api/v1/models/{model}/versions/{version}/approvals",
            true,
        ),
        (
            "POST",
            "/api/v1/models/{model}/versions/{version}/signatures",
            true,
        ),
        ("GET", "/api/v1/audit", false),
        ("GET", "/api/v1/audit/verify", false),
        ("POST", "/api/v1/login", true),
        ("GET", "/api/v1/whoami", false),
    ];
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let resolve = |reference: &str| {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{reference} is not a schema reference"));
        schemas
            .get(name)
            .unwrap_or_else(|| panic!("{reference} does not resolve"))
    };
    for (method, path, typed_request) in typed {
        let op = &paths[path][method.to_ascii_lowercase()];
        let mut found = 0;
        let request = op.get("requestBody").filter(|_| typed_request);
        let success = op["responses"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(status, _)| status.starts_with('2'))
            .map(|(_, r)| r);
        for body in request.into_iter().chain(success) {
            for (media, content) in body["content"].as_object().unwrap() {
                if !matches!(media.as_str(), "application/json" | "multipart/form-data") {
                    continue;
                }
                let reference = content["schema"]["$ref"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path}: its {media} body names no schema"));
                let schema = resolve(reference);
                // A flattened type is an allOf of its parts.
                let parts: Vec<&serde_json::Value> = match schema["allOf"].as_array() {
                    Some(all) => all
                        .iter()
                        .map(|p| p["$ref"].as_str().map_or(p, resolve))
                        .collect(),
                    None => vec![schema],
                };
                assert!(
                    parts
                        .iter()
                        .any(|p| p["properties"].as_object().is_some_and(|o| !o.is_empty())),
                    "{method} {path}: {reference} has no properties: {schema}"
                );
                found += 1;
            }
        }
        assert_eq!(
            found,
            1 + usize::from(typed_request),
            "{method} {path}: typed bodies"
        );
    }
    // The inference routes document the headers a request may carry.
    for path in [
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    ] {
        let headers: Vec<&str> = doc["paths"][path]["post"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} has no parameters"))
            .iter()
            .filter(|p| p["in"] == "header")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for header in [
            "Inference-Header-Content-Length",
            "X-Hangar-Routing-Key",
            "X-Hangar-Deadline-Ms",
        ] {
            assert!(
                headers.contains(&header),
                "{path} lacks {header}: {headers:?}"
            );
        }
    }
    // Every reference anywhere in the document resolves.
    fn references<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r);
                }
                o.values().for_each(|v| references(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| references(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    references(&doc, &mut all);
    for reference in all {
        let (kind, name) = reference
            .strip_prefix("#/components/")
            .and_then(|r| r.split_once('/'))
            .unwrap_or_else(|| panic!("{reference} is not a component reference"));
        assert!(
            doc["components"][kind].get(name).is_some(),
            "{reference} does not resolve"
        );
    }
    // The error shape's codes are the server's.
    assert!(
        doc["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("model_not_found"))
    );
    // Every documented route is served.
    let methods = [
        "get", "put", "post", "delete", "patch", "head", "options", "trace",
    ];
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            if !methods.contains(&method.as_str()) {
                continue;
            }
            assert!(
                hangar_server::auth::RULES
                    .iter()
                    .any(|r| r.path == path && r.method.eq_ignore_ascii_case(method)),
                "openapi.json documents {} {path}, which is not served",
                method.to_ascii_uppercase()
            );
        }
    }
}
