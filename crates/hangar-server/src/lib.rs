//! Hangar's server: the Open Inference Protocol V2 routes (REST and gRPC),
//! the `/api/v1` management API, the dashboard, and the serving state
//! behind them.
//!
//! Layers (ARCHITECTURE.md has the map): `service` is the application —
//! inference, reports, deployments, governance, alerting, the prediction
//! log — with no transport in it; `http` and `grpc` are thin edges that
//! call it, both behind `auth` (credentials, the permission table, the
//! audit trail); `setup` opens a data directory and starts the background loops.
//! Only the edges know HTTP or gRPC. Services call domain logic
//! (`hangar-core`), storage (`hangar-store`) and inference on the dedicated
//! pool (`hangar-runtime`).

pub mod auth;
#[cfg(feature = "grpc")]
mod grpc;
mod http;
mod metrics;
pub mod model_check;
mod service;
mod setup;
mod state;
mod tensor_bytes;

/// The decoders of outside bytes that no public route reaches without a
/// running server, for the fuzz tests (`tests/fuzz/`). Not an API: nothing
/// else may use it, and it changes with the code it exposes.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::http::error::status as http_status;
    pub use crate::http::v2::{decode_body as decode_http_body, DecodedBody};
    pub use crate::service::inference::{split_extras, CallInputs};
    pub use crate::service::log_buffer::{encode as encode_log_record, records as log_records};
    pub use crate::service::log_buffer::{RequestView, RowView};
    pub use crate::service::monitoring::{parse_baseline, BaselineData, PendingPrediction};

    /// The gRPC `ModelInfer` message and its parts, to build structured inputs.
    #[cfg(feature = "grpc")]
    pub mod grpc {
        pub use crate::grpc::decode_infer_inputs;
        pub use crate::grpc::proto::model_infer_request::InferInputTensor;
        pub use crate::grpc::proto::{
            infer_parameter::ParameterChoice, InferParameter, InferTensorContents,
            ModelInferRequest,
        };
    }
}

pub use auth::bootstrap_admin;
pub use http::api::VersionMeta;
pub use http::error::{ApiError, ErrorCode};
pub use http::listen::ConnectionLimits;
pub use http::{app, dashboard, serve, wire};
pub use service::throttle;
pub use setup::{ensure_example, example_key, open, ExampleModel, ServerConfig, ServerError};
pub use state::{AppState, Limits};

/// Serves the Open Inference Protocol's gRPC service
/// (`inference.GRPCInferenceService`) on its own listener until `shutdown`
/// resolves, then lets in-flight calls finish. Same state, semantics, limits
/// and errors as the HTTP routes.
#[cfg(feature = "grpc")]
pub async fn serve_grpc(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    grpc::serve(listener, state, shutdown).await
}
