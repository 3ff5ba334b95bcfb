//! Hangar's domain model: plain types and pure functions with no I/O.
//!
//! **Architecture invariant:** nothing in this crate talks to the outside world
//! (no tokio, no sqlx, no axum, no files), so everything here is tested directly
//! and cannot fail for reasons other than its inputs.

pub mod alerts;
pub mod codec;
pub mod features;
pub mod feedback;
pub mod governance;
pub mod health;
pub mod model;
pub mod monitor;
pub mod name;
pub mod prng;
pub mod routing;
pub mod signature;
pub mod stats;
pub mod tensor;
pub mod window;

pub use model::{
    AliasEvent, ArtifactFormat, Deployment, Model, ModelCard, ModelVersion, RiskTier, VersionRef,
    VersionSelector,
};
pub use name::{validate_name, NameError, NameKind};
pub use routing::{
    DeploymentSettings, Guardrails, ResolvedRoute, ResolvedShadow, Revision, RevisionKind, Route,
    RoutingTable,
};
pub use signature::{Signature, SignatureError, TensorSpec};
pub use tensor::{DataType, Tensor, TensorData, TensorError};
