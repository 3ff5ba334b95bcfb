//! The management API under `/api/v1/`: models, versions, aliases and
//! deployments. Wire types here are separate from the domain types and
//! converted explicitly.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use chrono::{DateTime, Utc};
use hangar_api as wire;
use hangar_api::CardPatch;
pub use hangar_api::VersionMeta;
use hangar_core::{
    validate_name, AliasEvent, Deployment, DeploymentSettings, Model, ModelCard, ModelVersion,
    NameKind, Revision, RevisionKind, RiskTier, Route, Signature, TensorSpec, VersionRef,
};
use hangar_store::AliasState;
use serde::Deserialize;

use crate::auth::Routes;
use crate::http::error::{ApiError, ErrorCode};
use crate::state::AppState;
use hangar_core::governance::Action;

pub(crate) fn routes(r: Routes) -> Routes {
    r.add("GET", "/api/v1/openapi.json", openapi)
        .add("GET", "/api/v1/models", list_models)
        .add("POST", "/api/v1/models", create_model)
        .add("GET", "/api/v1/models/{model}", get_model)
        .add("PATCH", "/api/v1/models/{model}", update_model)
        .add("GET", "/api/v1/models/{model}/versions", list_versions)
        .add_with(
            "POST",
            "/api/v1/models/{model}/versions",
            post(push_version).layer(DefaultBodyLimit::disable()),
        )
        .add(
            "GET",
            "/api/v1/models/{model}/versions/{version}",
            get_version,
        )
        .add(
            "GET",
            "/api/v1/models/{model}/versions/{version}/artifact",
            download_artifact,
        )
        .add("GET", "/api/v1/models/{model}/aliases", list_aliases)
        .add("GET", "/api/v1/models/{model}/aliases/{alias}", get_alias)
        .add("PUT", "/api/v1/models/{model}/aliases/{alias}", set_alias)
        .add(
            "DELETE",
            "/api/v1/models/{model}/aliases/{alias}",
            delete_alias,
        )
        .add(
            "GET",
            "/api/v1/models/{model}/aliases/{alias}/history",
            alias_history,
        )
        .add(
            "GET",
            "/api/v1/models/{model}/alias-history",
            model_alias_history,
        )
        .add("GET", "/api/v1/deployments", list_deployments)
        .add("GET", "/api/v1/deployments/{name}", get_deployment)
        .add("PUT", "/api/v1/deployments/{name}", put_deployment)
        .add("DELETE", "/api/v1/deployments/{name}", delete_deployment)
        .add(
            "GET",
            "/api/v1/deployments/{name}/revisions",
            list_revisions,
        )
        .add(
            "GET",
            "/api/v1/deployments/{name}/revisions/{revision}",
            get_revision,
        )
        .add("POST", "/api/v1/deployments/{name}/promote", promote)
        .add("POST", "/api/v1/deployments/{name}/rollback", rollback)
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::DOCUMENT.as_str(),
    )
        .into_response()
}

/// JSON body extraction with our error shape.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(ApiError::bad_request(format!(
                "invalid JSON body: {}",
                e.body_text()
            ))),
        }
    }
}

mod aliases;
mod deployments;
mod models;
mod openapi;
mod versions;
mod views;
#[allow(unused_imports)]
pub use aliases::*;
#[allow(unused_imports)]
pub use deployments::*;
#[allow(unused_imports)]
pub use models::*;
#[allow(unused_imports)]
pub use versions::*;
#[allow(unused_imports)]
pub use views::*;
