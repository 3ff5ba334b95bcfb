//! PostgreSQL: deployments (to be written).

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
impl crate::repo::Deployments for PostgresStore {
    async fn create_revision(
        &self,
        deployment: &str,
        table: &RoutingTable,
        settings: &DeploymentSettings,
        kind: &RevisionKind,
        message: &str,
        actor: &str,
    ) -> Result<Revision, StoreError> {
        todo!("postgres: create_revision")
    }

    async fn get_revision(&self, deployment: &str, revision: u32) -> Result<Revision, StoreError> {
        todo!("postgres: get_revision")
    }

    async fn list_revisions(&self, deployment: &str) -> Result<Vec<Revision>, StoreError> {
        todo!("postgres: list_revisions")
    }

    async fn get_deployment(&self, name: &str) -> Result<Deployment, StoreError> {
        todo!("postgres: get_deployment")
    }

    async fn list_deployments(&self) -> Result<Vec<Deployment>, StoreError> {
        todo!("postgres: list_deployments")
    }

    async fn delete_deployment(&self, name: &str) -> Result<(), StoreError> {
        todo!("postgres: delete_deployment")
    }
}
