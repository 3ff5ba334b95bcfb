//! Hangar's `/api/v1` wire contract: every request and response body of the
//! management API, written once. The server builds and returns these types,
//! the CLI's client reads and sends them, the tests use them, and the
//! OpenAPI document (`GET /api/v1/openapi.json`) is generated from them.
//!
//! These are wire types, separate from `hangar_core`'s domain types: the
//! server converts explicitly. Response types are what the server sends:
//! an `Option` is sent as `null`, never left out, unless the field says so.
//! Request types ignore nothing: unknown fields are refused.
//!
//! **API boundary**: renaming a field here changes the API; the server's
//! HTTP tests pin the JSON.

pub mod alerts;
pub mod deployments;
pub mod governance;
pub mod monitoring;
pub mod registry;

pub use alerts::*;
pub use deployments::*;
pub use governance::*;
pub use monitoring::*;
pub use registry::*;
