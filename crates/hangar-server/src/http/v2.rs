//! The Open Inference Protocol V2 over HTTP: health, server and model
//! metadata, readiness and inference. `{name}` is a deployment name.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hangar_core::features::instances_to_tensor;
use hangar_core::routing;
use hangar_core::Tensor;
use hangar_runtime::PoolError;
use serde_json::json;

use crate::http::auth::Routes;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::wire::{self, InferRequest, OutputPlan};
use crate::service::batch::{ExecError, Executed};
use crate::service::serving::{ActiveDeployment, LoadedVersion, Saturation};
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

pub(crate) fn deployment(state: &AppState, name: &str) -> Result<Arc<ActiveDeployment>, ApiError> {
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

pub(crate) fn parse_version(raw: &str) -> Result<u32, ApiError> {
    raw.parse::<u32>().ok().filter(|&v| v > 0).ok_or_else(|| {
        ApiError::not_found(format!(
            "unknown version '{}': versions are numbers 1, 2, 3…",
            raw.chars().take(32).collect::<String>()
        ))
    })
}

/// The version a metadata or `/versions/{v}` request is about: the primary
/// route's version, or the version named.
pub(crate) async fn pick(
    state: &AppState,
    name: &str,
    version: Option<&str>,
) -> Result<Arc<LoadedVersion>, ApiError> {
    let d = deployment(state, name)?;
    match version {
        None => Ok(d.routes[0].version.clone()),
        Some(raw) => state
            .serving
            .version_of(&d, parse_version(raw)?)
            .await
            .map_err(ApiError::from),
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

/// The header carrying a request's own deadline, in milliseconds.
pub const DEADLINE_HEADER: &str = "x-hangar-deadline-ms";
/// The header carrying a routing key (also `parameters.routing_key`).
pub const ROUTING_KEY_HEADER: &str = "x-hangar-routing-key";

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A fast, non-cryptographic random number for weighted route choice.
fn random_u64() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
                | 1,
        );
    }
    STATE.with(|s| {
        // xorshift64*
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

/// One inference call, whatever the transport (HTTP/JSON, binary, gRPC).
pub struct InferCall {
    pub deployment: String,
    /// The `/versions/{v}` form: bypasses routing.
    pub version: Option<u32>,
    pub inputs: CallInputs,
    /// Requested outputs; empty means all.
    pub outputs: Vec<String>,
    pub routing_key: Option<String>,
    /// The request's own deadline in ms (else the deployment's default).
    pub deadline_ms: Option<u64>,
    /// The consumer key's declared purpose, recorded with each prediction.
    pub purpose: Option<String>,
}

pub enum CallInputs {
    Tensors(Vec<Tensor>),
    /// Named-features rows, mapped with the answering version's names.
    Instances(Vec<Vec<(String, hangar_core::tensor::Scalar)>>),
}

pub struct InferAnswer {
    pub version: u32,
    pub revision: u32,
    pub outputs: Vec<Tensor>,
    /// The prediction log record still to be written (without its
    /// outputs), when the deployment logs predictions.
    log: Option<(AppState, crate::service::monitoring::PendingPrediction)>,
}

impl Drop for InferAnswer {
    /// Records the answer in the prediction log once the caller is done
    /// with it (it has encoded the response), moving the outputs there.
    fn drop(&mut self) {
        if let Some((state, mut p)) = self.log.take() {
            p.outputs = std::mem::take(&mut self.outputs);
            state.log.record(&p);
        }
    }
}

fn concurrency_limited(state: &AppState, deployment: &str, version: u32) -> ApiError {
    state.metrics.record_shed(deployment, version);
    ApiError::new(
        ErrorCode::Overloaded,
        format!("deployment '{deployment}' is at its concurrency limit; retry shortly"),
    )
}

fn exec_error(state: &AppState, deployment: &str, version: u32, e: ExecError) -> ApiError {
    match e {
        ExecError::QueueFull => {
            state.metrics.record_shed(deployment, version);
            ApiError::new(
                ErrorCode::Overloaded,
                format!("version {version} of '{deployment}' is at capacity; retry shortly"),
            )
        }
        ExecError::DeadlineExceeded => ApiError::new(
            ErrorCode::DeadlineExceeded,
            "the request's deadline passed before the model could run it",
        ),
        ExecError::Pool(PoolError::Busy) => {
            ApiError::new(ErrorCode::Busy, "server is at capacity; retry shortly")
        }
        ExecError::Pool(PoolError::Closed) => {
            ApiError::new(ErrorCode::NotReady, "server is shutting down")
        }
        ExecError::Pool(PoolError::Panicked) => {
            ApiError::internal(format!("'{deployment}' version {version} panicked"))
        }
        ExecError::Runtime(m) | ExecError::Batch(m) => ApiError::internal(m),
    }
}

/// Splits segment attributes and the row id out of a call's inputs: they
/// are recorded, never fed to the model.
pub fn split_extras(
    inputs: CallInputs,
    names: &[&String],
) -> Result<(CallInputs, BTreeMap<String, Vec<String>>), ApiError> {
    let mut extras: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if names.is_empty() {
        return Ok((inputs, extras));
    }
    Ok(match inputs {
        CallInputs::Tensors(tensors) => {
            let (extra, model): (Vec<Tensor>, Vec<Tensor>) = tensors
                .into_iter()
                .partition(|t| names.iter().any(|n| **n == t.name));
            let rows = model.first().map_or(0, Tensor::rows);
            for t in extra {
                if t.rows() != rows || t.data.len() != rows {
                    return Err(ApiError::bad_request(format!(
                        "'{}' must hold one value per row ({rows} rows), shape [{rows}] or [{rows}, 1]; got {:?}",
                        t.name, t.shape
                    )));
                }
                let values = (0..rows)
                    .map(|i| crate::service::monitoring::text_of(&t, i).unwrap_or_default())
                    .collect();
                extras.insert(t.name.clone(), values);
            }
            (CallInputs::Tensors(model), extras)
        }
        CallInputs::Instances(rows) => {
            for n in names {
                extras.insert((*n).clone(), vec![String::new(); rows.len()]);
            }
            let rows = rows
                .into_iter()
                .enumerate()
                .map(|(i, row)| {
                    row.into_iter()
                        .filter_map(|(k, v)| match extras.get_mut(&k) {
                            Some(col) => {
                                col[i] = match v {
                                    hangar_core::tensor::Scalar::Str(s) => s,
                                    hangar_core::tensor::Scalar::Int(x) => x.to_string(),
                                    hangar_core::tensor::Scalar::UInt(x) => x.to_string(),
                                    hangar_core::tensor::Scalar::Float(x) => {
                                        hangar_core::monitor::category_key(x)
                                    }
                                    hangar_core::tensor::Scalar::Bool(x) => x.to_string(),
                                };
                                None
                            }
                            None => Some((k, v)),
                        })
                        .collect()
                })
                .collect();
            (CallInputs::Instances(rows), extras)
        }
    })
}

/// The longest request id (the body's `id`, X-Request-Id, gRPC's `id`)
/// accepted, in bytes. The prediction log keeps it once per request.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

/// Refuses a request id past [`MAX_REQUEST_ID_BYTES`].
pub fn check_request_id(id: &str, what: &str) -> Result<(), ApiError> {
    if id.len() > MAX_REQUEST_ID_BYTES {
        return Err(ApiError::bad_request(format!(
            "the request id ({what}) is {} bytes long; at most {MAX_REQUEST_ID_BYTES} bytes are accepted",
            id.len()
        )));
    }
    Ok(())
}

/// Routes, checks and runs one call (any transport), recording it in the
/// metrics and the prediction log under the caller's request id (at most
/// [`MAX_REQUEST_ID_BYTES`]; a longer one is refused).
pub async fn infer_call_with_id(
    state: &AppState,
    call: InferCall,
    request_id: &str,
) -> Result<InferAnswer, ApiError> {
    check_request_id(request_id, "its id")?;
    let started = Instant::now();
    let name = call.deployment;
    let purpose = call.purpose;
    let d = deployment(state, &name)?;
    let pinned = match call.version {
        Some(v) => Some(state.serving.version_of(&d, v).await?),
        None => None,
    };
    let route = match &pinned {
        Some(_) => None,
        None => Some(
            &d.routes[routing::pick_route(&d.weights, call.routing_key.as_deref(), random_u64())],
        ),
    };
    let target = match (&pinned, route) {
        (Some(p), _) => p.clone(),
        (None, Some(r)) => r.version.clone(),
        (None, None) => d.routes[0].version.clone(),
    };
    let settings = &d.revision.settings;
    let extra_names: Vec<&String> = settings
        .segments
        .iter()
        .chain(settings.row_id.iter())
        .collect();
    let result = async {
        let (call_inputs, extras) = split_extras(call.inputs, &extra_names)?;
        let inputs = match call_inputs {
            CallInputs::Tensors(t) => t,
            CallInputs::Instances(rows) => {
                vec![
                    instances_to_tensor(&target.signature, target.feature_names.as_deref(), rows)
                        .map_err(|e| ApiError::bad_request(e.to_string()))?,
                ]
            }
        };
        target
            .signature
            .check_inputs(&inputs)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        target
            .signature
            .check_outputs(&call.outputs)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let _permit = match &d.concurrency {
            Some(sem) => Some(
                sem.clone()
                    .try_acquire_owned()
                    .map_err(|_| concurrency_limited(state, &name, target.version))?,
            ),
            None => None,
        };
        let deadline = call
            .deadline_ms
            .or(d.revision.settings.timeout_ms)
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        let shadow_copy = (d.shadow.is_some() && route.is_some()).then(|| inputs.clone());
        let mut executed = match route {
            Some(r) => {
                let submit = r.batcher.submit(inputs, call.outputs.clone(), deadline);
                let outcome = match deadline {
                    Some(dl) => tokio::time::timeout_at(dl.into(), submit)
                        .await
                        .unwrap_or(Err(ExecError::DeadlineExceeded)),
                    None => submit.await,
                };
                outcome.map_err(|e| exec_error(state, &name, target.version, e))?
            }
            None => {
                let model = target.runtime.clone();
                let names = call.outputs.clone();
                let t = Instant::now();
                let (outputs, inputs) = state
                    .pool
                    .run(move || (model.infer(&inputs, &names), inputs))
                    .await
                    .map_err(|e| exec_error(state, &name, target.version, ExecError::Pool(e)))?;
                let outputs = outputs.map_err(|e| {
                    exec_error(
                        state,
                        &name,
                        target.version,
                        ExecError::Runtime(e.to_string()),
                    )
                })?;
                Executed {
                    outputs,
                    inputs,
                    queue_time: Duration::ZERO,
                    infer_time: t.elapsed(),
                    batch_size: 1,
                }
            }
        };
        state.metrics.record_execution(
            &name,
            target.version,
            executed.queue_time,
            executed.infer_time,
        );
        if let Some(inputs) = shadow_copy {
            d.offer_shadow(&state.metrics, inputs, executed.outputs.clone());
        }
        // The answer writes its prediction log record when it is dropped,
        // after the response is encoded: the outputs then move to the log
        // instead of being copied.
        let log = settings
            .log_predictions
            .then(|| crate::service::monitoring::PendingPrediction {
                deployment: name.clone(),
                revision: d.revision.number,
                model: target.model.clone(),
                version: target.version,
                request_id: request_id.to_string(),
                at: chrono::Utc::now(),
                latency_us: started.elapsed().as_micros() as u64,
                inputs: std::mem::take(&mut executed.inputs),
                outputs: Vec::new(),
                extras,
                row_id_field: settings.row_id.clone(),
                purpose: purpose.clone(),
            });
        Ok::<_, ApiError>((executed, log))
    }
    .await;
    let status = match &result {
        Ok(_) => 200,
        Err(e) => crate::http::error::status(e.code).as_u16(),
    };
    state
        .metrics
        .record_request(&name, target.version, status, started.elapsed());
    let (executed, log) = result?;
    Ok(InferAnswer {
        version: target.version,
        revision: d.revision.number,
        outputs: executed.outputs,
        log: log.map(|p| (state.clone(), p)),
    })
}

pub(crate) fn parse_deadline(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    match header_str(headers, DEADLINE_HEADER) {
        Some(raw) => raw
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&ms| ms > 0 && ms <= 3_600_000)
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "X-Hangar-Deadline-Ms must be a number of milliseconds (1 to 3600000)",
                )
            }),
        None => Ok(None),
    }
}

/// Decodes an HTTP inference body (JSON or the binary extension).
fn decode_http(
    state: &AppState,
    name: String,
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
                    ApiError::bad_request("Inference-Header-Content-Length must be a number")
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
        deployment: name,
        version,
        inputs,
        outputs: plan.names.clone(),
        routing_key,
        deadline_ms: parse_deadline(headers)?,
        purpose: headers
            .get(crate::http::auth::PURPOSE_HEADER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
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
    let (json_part, binary) =
        wire::split_body(body, header_length).map_err(ApiError::bad_request)?;
    let request: InferRequest = serde_json::from_slice(&json_part)
        .map_err(|e| ApiError::bad_request(format!("invalid inference request: {e}")))?;
    let inputs = match (request.inputs, request.instances) {
        (Some(inputs), None) => CallInputs::Tensors(
            wire::decode_inputs(inputs, binary, max_elements).map_err(ApiError::bad_request)?,
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
                .map_err(ApiError::bad_request)?,
        ),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "send either \"inputs\" or \"instances\", not both",
            ))
        }
        (None, None) => return Err(ApiError::bad_request("the request has no \"inputs\"")),
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
    let (call, plan, id) =
        decode_http(&state, name.clone(), version, &headers, &body).map_err(v2_error)?;
    // One id per request: the body's, else the request's X-Request-Id (set
    // by the server when the client sent none), so the answer's `id`, its
    // header and the prediction log agree.
    if let Some(id) = &id {
        check_request_id(id, "the body's \"id\"").map_err(v2_error)?;
    }
    let id = id
        .or_else(|| header_str(&headers, "x-request-id").map(str::to_string))
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let answer = infer_call_with_id(&state, call, &id)
        .await
        .map_err(v2_error)?;
    let encoded = wire::encode_response(&name, answer.version, &id, &answer.outputs, &plan);
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
    h.insert("x-hangar-revision", HeaderValue::from(answer.revision));
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
