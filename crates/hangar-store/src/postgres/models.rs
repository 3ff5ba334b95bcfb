//! PostgreSQL: models (to be written).

#![allow(unused_imports, unused_variables)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hangar_core::alerts::AlertRule;
use hangar_core::governance::{AuditEntry, Role};
use hangar_core::monitor::aggregate::{Aggregate, Resolution};
use hangar_core::{
    AliasEvent, Deployment, DeploymentSettings, Model, ModelCard, ModelVersion, Revision,
    RevisionKind, RoutingTable, VersionRef, VersionSelector,
};

use crate::{
    AggregateKey, AlertEventRecord, AliasState, ApprovalRecord, AuditFilter, BaselineRecord,
    ChannelRecord, DeliveryRecord, LabelledRow, NewAuditEntry, NewVersion, PredictionRecord,
    SignatureRecord, StoreError, TeamRecord, TokenRecord, TrustedKey, UserRecord,
};

use super::PostgresStore;

#[async_trait::async_trait]
impl crate::repo::Models for PostgresStore {
    async fn create_model(
        &self,
        name: &str,
        card: &ModelCard,
        actor: &str,
    ) -> Result<Model, StoreError> {
        todo!("postgres: create_model")
    }

    async fn list_models(&self) -> Result<Vec<Model>, StoreError> {
        todo!("postgres: list_models")
    }

    async fn get_model(&self, name: &str) -> Result<Model, StoreError> {
        todo!("postgres: get_model")
    }

    async fn update_card_moving(
        &self,
        name: &str,
        card: &ModelCard,
        deployments: &[String],
    ) -> Result<Model, StoreError> {
        todo!("postgres: update_card_moving")
    }

    async fn add_version_creating(
        &self,
        model: &str,
        create: Option<&ModelCard>,
        v: &NewVersion,
        actor: &str,
    ) -> Result<(ModelVersion, bool), StoreError> {
        todo!("postgres: add_version_creating")
    }

    async fn list_versions(&self, model: &str) -> Result<Vec<ModelVersion>, StoreError> {
        todo!("postgres: list_versions")
    }

    async fn referenced_digests(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        todo!("postgres: referenced_digests")
    }

    async fn get_version(&self, model: &str, version: u32) -> Result<ModelVersion, StoreError> {
        todo!("postgres: get_version")
    }
}
