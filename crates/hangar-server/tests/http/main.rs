//! HTTP behaviour of the whole server, in-process, against real parts: a
//! SQLite file, artifact files, ONNX Runtime and the inference pool.

mod alerts;
mod common;
mod dashboard;
mod deployments;
mod email;
mod feedback;
mod governance;
mod monitoring;
mod registry;
mod rollouts;
mod v2;
