//! The application layer: what Hangar does, with no transport in it (no
//! axum, tonic or hyper; the tidy test checks). The HTTP and gRPC edges
//! (`crate::http`, `crate::grpc`, behind `crate::auth`) and the background
//! loops call these modules; a service never calls an edge (also checked).
//! Services answer with typed values and [`error::Error`]; each edge turns
//! them into its own wire form and status codes.

pub mod alerting;
pub mod baselines;
pub mod batch;
pub mod denials;
pub mod deployments;
pub mod error;
pub mod feedback;
pub mod governance;
pub mod health;
pub mod inference;
pub mod log_buffer;
pub mod monitoring;
pub mod registry;
pub mod reports;
pub mod serving;
pub mod throttle;
