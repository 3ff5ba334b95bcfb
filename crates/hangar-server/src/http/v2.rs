//! The Open Inference Protocol V2 over HTTP: health, server and model
//! metadata, readiness and inference. `{name}` is a deployment name.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde_json::json;

use crate::auth::{Purpose, Routes};
use crate::http::error::{ApiError, ErrorCode};
use crate::http::wire::{self, InferRequest, OutputPlan};
use crate::service::batch::ExecError;
use crate::service::inference::{
    self, check_request_id, concurrency_limited, deployment, exec_error, parse_version, pick,
    CallInputs, InferCall, DEADLINE_HEADER, ROUTING_KEY_HEADER,
};
use crate::service::serving::{LoadedVersion, Saturation};
use crate::state::AppState;

pub(crate) fn routes(r: Routes) -> Routes {
    r.add("GET", "/v2", server_metadata)
        .add("GET", "/v2/health/live", live)
        .add("GET", "/v2/health/ready", ready)
        .add("GET", "/v2/models/{name}", model_metadata)
        .add("GET", "/v2/models/{name}/ready", model_ready)
        .add("POST", "/v2/models/{name}/infer", infer)
        .add(
            "GET",
            "/v2/models/{name}/versions/{version}",
            version_metadata,
        )
        .add(
            "GET",
            "/v2/models/{name}/versions/{version}/ready",
            version_ready,
        )
        .add(
            "POST",
            "/v2/models/{name}/versions/{version}/infer",
            version_infer,
        )
        .add("GET", "/v2/models/{name}/stats", model_stats)
        .add(
            "GET",
            "/v2/models/{name}/versions/{version}/stats",
            version_stats,
        )
}

type V2Result = Result<Response, Response>;

fn v2_error(e: impl Into<ApiError>) -> Response {
    let e: ApiError = e.into();
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
    let d = deployment(&state, &name).map_err(v2_error)?;
    let mut body = metadata_body(&name, &d.routes[0].version, "onnxruntime_onnx");
    let mut versions: Vec<String> = d
        .routes
        .iter()
        .filter(|r| r.weight > 0)
        .map(|r| r.version.version.to_string())
        .collect();
    versions.dedup();
    body["versions"] = json!(versions);
    Ok(Json(body).into_response())
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
        Err(e) if e.code() == ErrorCode::NotReady => Ok((
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
    purpose: Option<Extension<Purpose>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    run_inference(state, name, None, purpose, headers, body)
        .await
        .unwrap_or_else(|e| e)
}

async fn version_infer(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    purpose: Option<Extension<Purpose>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    run_inference(state, name, Some(version), purpose, headers, body)
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
            ApiError::new(
                ErrorCode::InvalidInferenceRequest,
                format!("could not read the request body: {e}"),
            )
        }
    })
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn parse_deadline(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    Ok(inference::deadline_ms(header_str(
        headers,
        DEADLINE_HEADER,
    ))?)
}

/// Decodes an HTTP inference body (JSON or the binary extension).
fn decode_http(
    state: &AppState,
    purpose: Option<String>,
    version: Option<u32>,
    headers: &HeaderMap,
    body: &bytes::Bytes,
) -> Result<(InferCall, OutputPlan, Option<String>), ApiError> {
    let header_length = match headers.get(wire::HEADER_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidInferenceRequest,
                        "Inference-Header-Content-Length must be a number",
                    )
                })?,
        ),
    };
    let decoded = decode_body(body, header_length, state.limits.max_tensor_elements)?;
    let routing_key = header_str(headers, ROUTING_KEY_HEADER)
        .map(str::to_string)
        .or_else(|| {
            decoded
                .parameters
                .as_ref()
                .and_then(|p| p.get("routing_key"))
                .and_then(|v| match v {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
        });
    let DecodedBody {
        id, inputs, plan, ..
    } = decoded;
    let call = InferCall {
        version,
        inputs,
        outputs: plan.names.clone(),
        routing_key,
        deadline_ms: parse_deadline(headers)?,
        purpose,
    };
    Ok((call, plan, id))
}

/// What an HTTP inference body says, read from the body alone (the
/// deployment is not known yet).
pub struct DecodedBody {
    pub id: Option<String>,
    pub parameters: Option<serde_json::Map<String, serde_json::Value>>,
    pub inputs: CallInputs,
    pub plan: OutputPlan,
}

/// Decodes an HTTP inference body: JSON, or a JSON header of
/// `header_length` bytes and the binary tensor data after it. Every error
/// is the caller's (400). The fuzz tests (tests/fuzz/) feed it hostile bodies.
pub fn decode_body(
    body: &bytes::Bytes,
    header_length: Option<usize>,
    max_elements: usize,
) -> Result<DecodedBody, ApiError> {
    let (json_part, binary) = wire::split_body(body, header_length)
        .map_err(|e| ApiError::new(ErrorCode::InvalidInferenceRequest, e))?;
    let request: InferRequest = serde_json::from_slice(&json_part).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidInferenceRequest,
            format!("invalid inference request: {e}"),
        )
    })?;
    let inputs = match (request.inputs, request.instances) {
        (Some(inputs), None) => CallInputs::Tensors(
            wire::decode_inputs(inputs, binary, max_elements)
                .map_err(|e| ApiError::new(ErrorCode::InvalidInferenceRequest, e))?,
        ),
        (None, Some(instances)) => CallInputs::Instances(
            instances
                .into_iter()
                .enumerate()
                .map(|(i, obj)| {
                    obj.into_iter()
                        .map(|(k, v)| match v {
                            Some(s) => Ok((k, s)),
                            None => Err(format!(
                                "instance {i}: feature '{k}' must be a number, boolean or string"
                            )),
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::new(ErrorCode::InvalidInferenceRequest, e))?,
        ),
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                ErrorCode::InvalidInferenceRequest,
                "send either \"inputs\" or \"instances\", not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::InvalidInferenceRequest,
                "the request has no \"inputs\"",
            ))
        }
    };
    let plan = OutputPlan::from_request(&request.parameters, request.outputs);
    Ok(DecodedBody {
        id: request.id,
        parameters: request.parameters,
        inputs,
        plan,
    })
}

async fn run_inference(
    state: AppState,
    name: String,
    version: Option<String>,
    purpose: Option<Extension<Purpose>>,
    headers: HeaderMap,
    body: Body,
) -> V2Result {
    // Unknown deployments and oversized request ids are refused before
    // reading the body, and so is a request that would be shed: under
    // overload, refusing must cost less than serving (no body read, no
    // parsing).
    let d = deployment(&state, &name).map_err(v2_error)?;
    if let Some(id) = headers.get("x-request-id") {
        check_request_id(
            &String::from_utf8_lossy(id.as_bytes()),
            "the X-Request-Id header",
        )
        .map_err(v2_error)?;
    }
    let version = version
        .as_deref()
        .map(parse_version)
        .transpose()
        .map_err(v2_error)?;
    if version.is_none() {
        match d.saturated() {
            None => {}
            Some(Saturation::QueuesFull(v)) => {
                return Err(v2_error(exec_error(&state, &name, v, ExecError::QueueFull)))
            }
            Some(Saturation::ConcurrencyLimit(v)) => {
                return Err(v2_error(concurrency_limited(&state, &name, v)))
            }
        }
    }
    drop(d);
    let body = read_body(&state, body).await.map_err(v2_error)?;
    let (call, plan, id) = decode_http(
        &state,
        purpose.map(|Extension(Purpose(p))| p.to_string()),
        version,
        &headers,
        &body,
    )
    .map_err(v2_error)?;
    // One id per request: the body's, else the request's X-Request-Id (set
    // by the server when the client sent none), so the answer's `id`, its
    // header and the prediction log agree.
    if let Some(id) = &id {
        check_request_id(id, "the body's \"id\"").map_err(v2_error)?;
    }
    let id = id
        .or_else(|| header_str(&headers, "x-request-id").map(str::to_string))
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    // Looked up again now that the body is in: a slow upload is served by
    // the revision live when it ends, not the one it started under.
    let d = deployment(&state, &name).map_err(v2_error)?;
    let answer = inference::infer(&state, d, call, &id)
        .await
        .map_err(v2_error)?;
    let encoded = wire::encode_response(&name, answer.version, &id, &answer.outputs, &plan);
    let revision = answer.revision;
    answer.log(&state.log);
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
    h.insert("x-hangar-revision", HeaderValue::from(revision));
    Ok(response)
}

/// Triton's statistics extension.
async fn model_stats(State(state): State<AppState>, Path(name): Path<String>) -> V2Result {
    stats_body(&state, &name, None)
        .map(|b| Json(b).into_response())
        .map_err(v2_error)
}

async fn version_stats(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> V2Result {
    let v = parse_version(&version).map_err(v2_error)?;
    stats_body(&state, &name, Some(v))
        .map(|b| Json(b).into_response())
        .map_err(v2_error)
}

fn stats_body(
    state: &AppState,
    name: &str,
    only: Option<u32>,
) -> Result<serde_json::Value, ApiError> {
    deployment(state, name)?;
    use std::sync::atomic::Ordering::Relaxed;
    let pair = |count: u64, ns: u64| json!({ "count": count, "ns": ns });
    let stats: Vec<_> = state
        .metrics
        .deployment_stats(name)
        .into_iter()
        .filter(|(v, _)| only.is_none_or(|o| o == *v))
        .map(|(v, s)| {
            let success = s.success_count.load(Relaxed);
            json!({
                "name": name,
                "version": v.to_string(),
                "last_inference": s.last_inference_ms.load(Relaxed),
                "inference_count": success,
                "execution_count": s.executions.load(Relaxed),
                "inference_stats": {
                    "success": pair(success, s.success_ns.load(Relaxed)),
                    "fail": pair(s.fail_count.load(Relaxed), s.fail_ns.load(Relaxed)),
                    "queue": pair(success, s.queue_ns.load(Relaxed)),
                    "compute_input": pair(success, 0),
                    "compute_infer": pair(success, s.infer_ns.load(Relaxed)),
                    "compute_output": pair(success, 0),
                },
                "batch_stats": [],
            })
        })
        .collect();
    Ok(json!({ "model_stats": stats }))
}
