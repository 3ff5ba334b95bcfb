//! The HTTP edge: the `/api/v1` management API, the Open Inference
//! Protocol V2 routes, the dashboard and `/metrics`, on one listener with
//! the permission check in front of every route. Handlers turn requests
//! into service calls (`crate::service`) and their answers into JSON.

pub mod alerts;
pub mod api;
pub mod dashboard;
pub mod error;
pub mod governance;
pub mod listen;
pub mod monitoring;
pub mod v2;
pub mod wire;

use std::future::Future;

use axum::http::{HeaderName, Request};
use axum::response::IntoResponse;
use axum::Router;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::auth;
use crate::state::AppState;
use error::ApiError;

/// Prometheus (OpenMetrics) text; gauges are refreshed at scrape time.
async fn metrics_text(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl IntoResponse {
    for d in state.serving.active() {
        for r in &d.routes {
            state
                .metrics
                .set_queue_depth(&d.name, r.version.version, r.batcher.depth());
        }
    }
    state.metrics.set_loaded(&state.serving.loaded());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

async fn not_found() -> impl IntoResponse {
    ApiError::not_found("no such route; the API is described at /api/v1/openapi.json")
}

/// Request ids are UUIDv7: time-ordered, so the prediction log's index on
/// (deployment, request id) grows at its end instead of at random pages.
#[derive(Clone, Copy)]
struct MakeRequestUuidV7;

impl MakeRequestId for MakeRequestUuidV7 {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        axum::http::HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let routes = auth::Routes::new().add("GET", "/metrics", metrics_text);
    let routes = v2::routes(routes);
    let routes = api::routes(routes);
    let routes = monitoring::routes(routes);
    let routes = alerts::routes(routes);
    let routes = governance::routes(routes);
    let routes = dashboard::routes(routes);
    routes
        .into_router()
        // The permission check runs after routing (it needs the matched
        // route and its parameters); unknown paths fall through to 404.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn(auth::security_headers))
        .layer(axum::middleware::from_fn(error::json_rejections))
        // Clients may gzip or deflate request bodies (tritonclient's
        // request_compression_algorithm); size limits apply after decoding.
        .layer(RequestDecompressionLayer::new())
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuidV7))
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
/// Stalled connections are closed and open ones capped
/// ([`crate::Limits::connections`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits.connections.clone();
    listen::serve(listener, app(state), limits, shutdown).await
}
