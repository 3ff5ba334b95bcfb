//! Inference, whatever the transport (V2 REST with JSON or binary
//! tensors, gRPC): pick the route, check the inputs, run the model on the
//! deployment's batcher or the pool, count it, and hand back the outputs
//! with the prediction log record the edge writes once it has answered.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hangar_core::features::instances_to_tensor;
use hangar_core::routing;
use hangar_core::Tensor;
use hangar_runtime::PoolError;

use crate::service::batch::{ExecError, Executed};
use crate::service::error::{Error, ErrorCode};
use crate::service::monitoring::{PendingPrediction, PredictionLog};
use crate::service::serving::{ActiveDeployment, LoadedVersion};
use crate::state::AppState;

pub fn deployment(state: &AppState, name: &str) -> Result<Arc<ActiveDeployment>, Error> {
    if let Some(d) = state.serving.deployment(name) {
        return Ok(d);
    }
    match state.serving.failure(name) {
        Some(reason) => Err(Error::new(
            ErrorCode::NotReady,
            format!("model '{name}' is not ready: {reason}"),
        )),
        None => Err(Error::new(
            ErrorCode::DeploymentNotFound,
            format!("unknown model '{name}': no deployment has that name"),
        )),
    }
}

pub fn parse_version(raw: &str) -> Result<u32, Error> {
    raw.parse::<u32>().ok().filter(|&v| v > 0).ok_or_else(|| {
        Error::new(
            ErrorCode::VersionNotFound,
            format!(
                "unknown version '{}': versions are numbers 1, 2, 3…",
                raw.chars().take(32).collect::<String>()
            ),
        )
    })
}

/// The version a metadata or `/versions/{v}` request is about: the primary
/// route's version, or the version named.
pub async fn pick(
    state: &AppState,
    name: &str,
    version: Option<&str>,
) -> Result<Arc<LoadedVersion>, Error> {
    let d = deployment(state, name)?;
    match version {
        None => Ok(d.routes[0].version.clone()),
        Some(raw) => state.serving.version_of(&d, parse_version(raw)?).await,
    }
}

/// The header (HTTP) or metadata key (gRPC) carrying a request's own
/// deadline, in milliseconds.
pub const DEADLINE_HEADER: &str = "x-hangar-deadline-ms";
/// The header or metadata key carrying a routing key (also
/// `parameters.routing_key`).
pub const ROUTING_KEY_HEADER: &str = "x-hangar-routing-key";

/// A request's own deadline from its [`DEADLINE_HEADER`] value, if it sent
/// one: 1 ms to one hour.
pub fn deadline_ms(raw: Option<&str>) -> Result<Option<u64>, Error> {
    match raw {
        Some(raw) => raw
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&ms| ms > 0 && ms <= 3_600_000)
            .map(Some)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::InvalidInferenceRequest,
                    "X-Hangar-Deadline-Ms must be a number of milliseconds (1 to 3600000)",
                )
            }),
        None => Ok(None),
    }
}

/// A fast, non-cryptographic random number for weighted route choice:
/// splitmix64 per thread, seeded like the prediction log's sampler.
fn random_u64() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(crate::service::monitoring::seed());
    }
    STATE.with(|s| {
        let mut x = s.get();
        let n = hangar_core::prng::splitmix64(&mut x);
        s.set(x);
        n
    })
}

/// One inference call, whatever the transport (HTTP/JSON, binary, gRPC).
pub struct InferCall {
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
    /// The prediction log record of this answer (without its outputs),
    /// when the deployment logs predictions: the edge hands it to
    /// [`InferAnswer::log`] once it has encoded the response.
    pub record: Option<PendingPrediction>,
}

impl InferAnswer {
    /// Records the answer in the prediction log, moving its outputs there
    /// (call it after the response is encoded: nothing is copied).
    pub fn log(self, log: &PredictionLog) {
        if let Some(mut p) = self.record {
            p.outputs = self.outputs;
            log.record(&p);
        }
    }
}

pub fn concurrency_limited(state: &AppState, deployment: &str, version: u32) -> Error {
    state.metrics.record_shed(deployment, version);
    Error::new(
        ErrorCode::Overloaded,
        format!("deployment '{deployment}' is at its concurrency limit; retry shortly"),
    )
}

pub fn exec_error(state: &AppState, deployment: &str, version: u32, e: ExecError) -> Error {
    match e {
        ExecError::QueueFull => {
            state.metrics.record_shed(deployment, version);
            Error::new(
                ErrorCode::Overloaded,
                format!("version {version} of '{deployment}' is at capacity; retry shortly"),
            )
        }
        ExecError::DeadlineExceeded => Error::new(
            ErrorCode::DeadlineExceeded,
            "the request's deadline passed before the model could run it",
        ),
        ExecError::Pool(PoolError::Busy) => {
            Error::new(ErrorCode::Busy, "server is at capacity; retry shortly")
        }
        ExecError::Pool(PoolError::Closed) => {
            Error::new(ErrorCode::NotReady, "server is shutting down")
        }
        ExecError::Pool(PoolError::Panicked) => {
            Error::internal(format!("'{deployment}' version {version} panicked"))
        }
        ExecError::Runtime(m) | ExecError::Batch(m) => Error::internal(m),
    }
}

/// Splits segment attributes and the row id out of a call's inputs: they
/// are recorded, never fed to the model.
pub fn split_extras(
    inputs: CallInputs,
    names: &[&String],
) -> Result<(CallInputs, BTreeMap<String, Vec<String>>), Error> {
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
                    return Err(Error::new(ErrorCode::InvalidInferenceRequest, format!(
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
pub fn check_request_id(id: &str, what: &str) -> Result<(), Error> {
    if id.len() > MAX_REQUEST_ID_BYTES {
        return Err(Error::new(ErrorCode::InvalidInferenceRequest, format!(
            "the request id ({what}) is {} bytes long; at most {MAX_REQUEST_ID_BYTES} bytes are accepted",
            id.len()
        )));
    }
    Ok(())
}

/// Routes, checks and runs one call (any transport), recording it in the
/// metrics and the prediction log under the caller's request id (at most
/// [`MAX_REQUEST_ID_BYTES`]; a longer one is refused).
pub async fn infer(
    state: &AppState,
    d: Arc<ActiveDeployment>,
    call: InferCall,
    request_id: &str,
) -> Result<InferAnswer, Error> {
    check_request_id(request_id, "its id")?;
    let started = Instant::now();
    let name = d.name.clone();
    let purpose = call.purpose;
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
                vec![instances_to_tensor(
                        &target.signature,
                        target.feature_names.as_deref(),
                        rows,
                    )
                    .map_err(|e| Error::new(ErrorCode::InvalidInferenceRequest, e.to_string()))?]
            }
        };
        target
            .signature
            .check_inputs(&inputs)
            .map_err(|e| Error::new(ErrorCode::InvalidInferenceRequest, e.to_string()))?;
        target
            .signature
            .check_outputs(&call.outputs)
            .map_err(|e| Error::new(ErrorCode::InvalidInferenceRequest, e.to_string()))?;
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
        // The edge logs the answer after it has encoded the response: the
        // outputs then move to the log instead of being copied.
        let log = settings.log_predictions.then(|| PendingPrediction {
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
        Ok::<_, Error>((executed, log))
    }
    .await;
    state.metrics.record_outcome(
        &name,
        target.version,
        result.as_ref().map(|_| ()).map_err(Error::code),
        started.elapsed(),
    );
    let (executed, log) = result?;
    Ok(InferAnswer {
        version: target.version,
        revision: d.revision.number,
        outputs: executed.outputs,
        record: log,
    })
}
