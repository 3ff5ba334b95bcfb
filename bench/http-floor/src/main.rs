//! Bench only: the HTTP floor. A minimal axum server that reads a V2
//! inference request exactly as Hangar does (`hangar_server::wire`: body to
//! bytes, JSON header and binary tail, `InferRequest`, `decode_inputs`) and
//! answers every valid request with one fixed, pre-encoded V2 response.
//!
//! No model, no inference pool, no registry lookup, no middleware: what is
//! left is the cost of HTTP/1.1 on hyper plus Hangar's own wire decoding, so
//! no V2 server built on this stack can answer a request faster. `bench/run.sh`
//! drives it beside Hangar to show how far Hangar is from that floor.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use clap::Parser;
use hangar_core::{Tensor, TensorData};
use hangar_server::wire::{self, InferRequest, OutputPlan};
use hangar_server::Limits;
use serde_json::json;

/// The HTTP floor for Hangar's benchmarks: V2 request parsing with Hangar's
/// wire code, then a fixed answer (no model runs).
#[derive(Parser, Debug)]
#[command(name = "hangar-http-floor")]
struct Args {
    /// Address to listen on (loopback only is sensible: this is a benchmark)
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8090")]
    addr: SocketAddr,
}

#[derive(Clone)]
struct Floor {
    limits: Limits,
    /// Encoded once at start-up; every answer is a cheap clone.
    answer: Bytes,
}

/// The shape of a one-row answer from the reference classifiers: a label and
/// two class probabilities. Encoded with Hangar's own response encoder.
fn fixed_answer() -> anyhow::Result<Bytes> {
    let outputs = vec![
        Tensor::new("label", vec![1], TensorData::Int64(vec![1]))?,
        Tensor::new(
            "probabilities",
            vec![1, 2],
            TensorData::Fp32(vec![0.25, 0.75]),
        )?,
    ];
    let encoded = wire::encode_response(
        "floor",
        1,
        "00000000-0000-4000-8000-000000000000",
        &outputs,
        &OutputPlan::default(),
    );
    Ok(encoded.body)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn infer(State(floor): State<Floor>, headers: HeaderMap, body: Body) -> Response {
    let body = match axum::body::to_bytes(body, floor.limits.max_request_bytes).await {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {e}"),
            )
        }
    };
    let header_length = match headers
        .get(wire::HEADER_LENGTH)
        .map(|v| v.to_str().ok().and_then(|s| s.trim().parse().ok()))
    {
        None => None,
        Some(Some(n)) => Some(n),
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Inference-Header-Content-Length must be a number".into(),
            )
        }
    };
    let (json_part, binary) = match wire::split_body(&body, header_length) {
        Ok(parts) => parts,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let request: InferRequest = match serde_json::from_slice(&json_part) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid inference request: {e}"),
            )
        }
    };
    let Some(inputs) = request.inputs else {
        return error(
            StatusCode::BAD_REQUEST,
            "the floor takes \"inputs\" only".into(),
        );
    };
    match wire::decode_inputs(inputs, binary, floor.limits.max_tensor_elements) {
        Ok(tensors) => {
            // Keep the decoded tensors observable so the work is not optimised away.
            std::hint::black_box(tensors);
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    }
    let mut response = Response::new(Body::from(floor.answer.clone()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn ready() -> Json<serde_json::Value> {
    Json(json!({ "ready": true }))
}

fn app(floor: Floor) -> Router {
    Router::new()
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{name}/infer", post(infer))
        .with_state(floor)
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let floor = Floor {
        limits: Limits::default(),
        answer: fixed_answer()?,
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    eprintln!(
        "hangar-http-floor is serving on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app(floor)).await?;
    Ok(())
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    // The same executor Hangar's `serve` builds: multi-threaded, one worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hangar-http-floor: {e:#}");
            ExitCode::FAILURE
        }
    }
}
