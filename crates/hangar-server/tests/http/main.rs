//! HTTP behaviour of the whole server, in-process, against real parts: a
//! SQLite file, artifact files, ONNX Runtime and the inference pool.

mod alerts;
mod auth_hardening;
mod common;
mod connections;
mod dashboard;
mod deployments;
mod email;
mod errors;
mod feedback;
mod governance;
mod hostile;
mod monitoring;
mod openapi;
mod registry;
mod rollouts;
mod v2;
