//! The application layer: what Hangar does, with no transport in it (no
//! axum, tonic, `http` or `serde_json::Value`; the tidy test checks). The
//! HTTP and gRPC edges (`crate::http`, `crate::grpc`) and the background
//! loops call these modules; they never call an edge.

pub mod alerting;
pub mod batch;
pub mod denials;
pub mod error;
pub mod feedback;
pub mod governance;
pub mod inference;
pub mod log_buffer;
pub mod monitoring;
pub mod reports;
pub mod serving;
pub mod throttle;
