//! The Open Inference Protocol V2 over HTTP: health, server and model
//! metadata, readiness and inference. `{name}` is a deployment name.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hangar_core::features::instances_to_tensor;
use hangar_core::Tensor;
use hangar_runtime::PoolError;
use serde_json::json;

use crate::error::{ApiError, ErrorCode};
use crate::serving::{ActiveDeployment, LoadedVersion};
use crate::state::AppState;
use crate::wire::{self, InferRequest, OutputPlan};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(version_metadata),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(version_ready),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(version_infer),
        )
}

type V2Result = Result<Response, Response>;

fn v2_error(e: ApiError) -> Response {
    e.into_v2_response()
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "live": true }))
}

/// 200 once every stored deployment has been restored; 400 before (the
/// protocol: "4xx indicates false").
async fn ready(State(state): State<AppState>) -> Response {
    let ready = state.serving.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, Json(json!({ "ready": ready }))).into_response()
}

async fn server_metadata() -> Json<serde_json::Value> {
    Json(json!({
        "name": "hangar",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data"],
    }))
}

fn deployment(state: &AppState, name: &str) -> Result<Arc<ActiveDeployment>, ApiError> {
    if let Some(d) = state.serving.deployment(name) {
        return Ok(d);
    }
    match state.serving.failure(name) {
        Some(reason) => Err(ApiError::new(
            ErrorCode::NotReady,
            format!("model '{name}' is not ready: {reason}"),
        )),
        None => Err(ApiError::not_found(format!(
            "unknown model '{name}': no deployment has that name"
        ))),
    }
}

fn parse_version(raw: &str) -> Result<u32, ApiError> {
    raw.parse::<u32>().ok().filter(|&v| v > 0).ok_or_else(|| {
        ApiError::not_found(format!(
            "unknown version '{}': versions are numbers 1, 2, 3…",
            raw.chars().take(32).collect::<String>()
        ))
    })
}

async fn pick(
    state: &AppState,
    name: &str,
    version: Option<&str>,
) -> Result<Arc<LoadedVersion>, ApiError> {
    let d = deployment(state, name)?;
    match version {
        None => Ok(d.serving.clone()),
        Some(raw) => state.serving.version_of(&d, parse_version(raw)?).await,
    }
}

fn metadata_body(name: &str, v: &LoadedVersion, platform: &str) -> serde_json::Value {
    let specs = |specs: &[hangar_core::TensorSpec]| {
        specs
            .iter()
            .map(|s| json!({ "name": s.name, "datatype": s.datatype.as_str(), "shape": s.shape }))
            .collect::<Vec<_>>()
    };
    let mut body = json!({
        "name": name,
        "versions": [v.version.to_string()],
        "platform": platform,
        "inputs": specs(&v.signature.inputs),
        "outputs": specs(&v.signature.outputs),
    });
    if let Some(features) = &v.feature_names {
        body["parameters"] =
            json!({ "feature_names": features, "model": v.model, "digest": v.digest });
    } else {
        body["parameters"] = json!({ "model": v.model, "digest": v.digest });
    }
    body
}

async fn model_metadata(State(state): State<AppState>, Path(name): Path<String>) -> V2Result {
    let v = pick(&state, &name, None).await.map_err(v2_error)?;
    Ok(Json(metadata_body(&name, &v, "onnxruntime_onnx")).into_response())
}

async fn version_metadata(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> V2Result {
    let v = pick(&state, &name, Some(&version))
        .await
        .map_err(v2_error)?;
    Ok(Json(metadata_body(&name, &v, "onnxruntime_onnx")).into_response())
}

async fn model_ready(State(state): State<AppState>, Path(name): Path<String>) -> V2Result {
    match deployment(&state, &name) {
        Ok(_) => Ok(Json(json!({ "name": name, "ready": true })).into_response()),
        Err(e) if e.code == ErrorCode::NotReady => Ok((
            StatusCode::BAD_REQUEST,
            Json(json!({ "name": name, "ready": false })),
        )
            .into_response()),
        Err(e) => Err(v2_error(e)),
    }
}

async fn version_ready(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> V2Result {
    pick(&state, &name, Some(&version))
        .await
        .map_err(v2_error)?;
    Ok(Json(json!({ "name": name, "ready": true })).into_response())
}

async fn infer(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    run_inference(state, name, None, headers, body)
        .await
        .unwrap_or_else(|e| e)
}

async fn version_infer(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    run_inference(state, name, Some(version), headers, body)
        .await
        .unwrap_or_else(|e| e)
}

async fn read_body(state: &AppState, body: Body) -> Result<bytes::Bytes, ApiError> {
    let limit = state.limits.max_request_bytes;
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // to_bytes reports the limit through its error source chain.
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("length limit exceeded"))
            || e.to_string().contains("length limit exceeded");
        if too_large {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("request body is larger than the limit of {limit} bytes"),
            )
        } else {
            ApiError::bad_request(format!("could not read the request body: {e}"))
        }
    })
}

async fn run_inference(
    state: AppState,
    name: String,
    version: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> V2Result {
    let target = pick(&state, &name, version.as_deref())
        .await
        .map_err(v2_error)?;
    let body = read_body(&state, body).await.map_err(v2_error)?;

    let header_length = match headers.get(wire::HEADER_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    v2_error(ApiError::bad_request(
                        "Inference-Header-Content-Length must be a number",
                    ))
                })?,
        ),
    };
    let (json_part, binary) =
        wire::split_body(&body, header_length).map_err(|e| v2_error(ApiError::bad_request(e)))?;
    let request: InferRequest = serde_json::from_slice(&json_part).map_err(|e| {
        v2_error(ApiError::bad_request(format!(
            "invalid inference request: {e}"
        )))
    })?;

    let inputs: Vec<Tensor> = match (request.inputs, request.instances) {
        (Some(inputs), None) => {
            wire::decode_inputs(inputs, binary, state.limits.max_tensor_elements)
                .map_err(|e| v2_error(ApiError::bad_request(e)))?
        }
        (None, Some(instances)) => {
            let rows = instances
                .into_iter()
                .enumerate()
                .map(|(i, obj)| {
                    obj.into_iter()
                        .map(|(k, v)| match wire::scalar_of(&v) {
                            Some(s) => Ok((k, s)),
                            None => Err(format!(
                                "instance {i}: feature '{k}' must be a number, boolean or string"
                            )),
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| v2_error(ApiError::bad_request(e)))?;
            let tensor =
                instances_to_tensor(&target.signature, target.feature_names.as_deref(), rows)
                    .map_err(|e| v2_error(ApiError::bad_request(e.to_string())))?;
            vec![tensor]
        }
        (Some(_), Some(_)) => {
            return Err(v2_error(ApiError::bad_request(
                "send either \"inputs\" or \"instances\", not both",
            )))
        }
        (None, None) => {
            return Err(v2_error(ApiError::bad_request(
                "the request has no \"inputs\"",
            )))
        }
    };
    target
        .signature
        .check_inputs(&inputs)
        .map_err(|e| v2_error(ApiError::bad_request(e.to_string())))?;
    let plan = OutputPlan::from_request(&request.parameters, request.outputs);
    target
        .signature
        .check_outputs(&plan.names)
        .map_err(|e| v2_error(ApiError::bad_request(e.to_string())))?;

    let model = target.runtime.clone();
    let names = plan.names.clone();
    let outputs = state
        .pool
        .run(move || model.infer(&inputs, &names))
        .await
        .map_err(|e| {
            v2_error(match e {
                PoolError::Busy => {
                    ApiError::new(ErrorCode::Busy, "server is at capacity; retry shortly")
                }
                PoolError::Closed => ApiError::new(ErrorCode::NotReady, "server is shutting down"),
                PoolError::Panicked => ApiError::internal(format!(
                    "model {}:{} panicked",
                    target.model, target.version
                )),
            })
        })?
        .map_err(|e| v2_error(ApiError::internal(e)))?;

    let id = request
        .id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let encoded = wire::encode_response(&name, target.version, &id, &outputs, &plan);
    let mut response = Response::new(Body::from(encoded.body));
    let h = response.headers_mut();
    match encoded.header_length {
        Some(n) => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(wire::HEADER_LENGTH, HeaderValue::from(n));
        }
        None => {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
    }
    Ok(response)
}
