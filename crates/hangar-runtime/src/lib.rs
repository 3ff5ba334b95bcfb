//! Model runtimes and the inference thread pool.
//!
//! A [`Runtime`] turns artifact bytes into a [`LoadedModel`]: something that
//! takes named tensors and returns named tensors. ONNX Runtime is the first
//! runtime; native tree formats will be others behind the same traits.
//!
//! **Architecture invariant:** inference is CPU-bound and never runs on the
//! async executor's threads; callers go through [`InferencePool`].

mod classes;
mod guard;
mod locate;
mod onnx;
mod pool;
mod protowire;

use std::sync::Arc;

use hangar_core::{Signature, Tensor};

pub use classes::declared_classes;
pub use guard::{check_self_contained, GuardError};
pub use locate::{locate_onnxruntime, OrtLocation, DEFAULT_ORT_DIR};
pub use onnx::OnnxRuntime;
pub use pool::{InferencePool, PoolError};

/// A model loaded into memory, shared by every request that uses it.
pub trait LoadedModel: Send + Sync {
    fn signature(&self) -> &Signature;
    /// Runs the model. `outputs` empty means every output. Inputs must have
    /// been checked against [`LoadedModel::signature`] already.
    fn infer(&self, inputs: &[Tensor], outputs: &[String]) -> Result<Vec<Tensor>, RuntimeError>;
    /// Approximate resident size, for memory accounting.
    fn memory_bytes(&self) -> u64;
    /// Feature names the artifact itself declares (ONNX metadata property
    /// `feature_names`: a JSON array or a comma-separated list), if any.
    fn declared_feature_names(&self) -> Option<Vec<String>>;
}

/// Loads artifacts of one format.
pub trait Runtime: Send + Sync {
    /// Loads and warms up a model. Fails, naming the reason (for ONNX, the
    /// unsupported operator), when the model cannot run here.
    fn load(&self, bytes: &[u8]) -> Result<Arc<dyn LoadedModel>, RuntimeError>;
    fn name(&self) -> &'static str;
    /// Memory a model of `artifact_bytes` will take once loaded (the same
    /// approximation as [`LoadedModel::memory_bytes`]), for admission.
    fn estimate_memory(&self, artifact_bytes: u64) -> u64;
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the ONNX Runtime library could not be loaded from {path}: {reason}")]
    Library { path: String, reason: String },
    /// The file asks for more than a model may (another file's bytes) or is
    /// not a model file at all; refused before any runtime reads it.
    #[error("model refused: {0}")]
    Refused(#[from] GuardError),
    #[error("model cannot run on ONNX Runtime: {0}")]
    Unsupported(String),
    #[error("model failed its warm-up run: {0}")]
    WarmUp(String),
    #[error("inference failed: {0}")]
    Inference(String),
}
