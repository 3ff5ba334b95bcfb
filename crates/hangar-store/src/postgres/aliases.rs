//! PostgreSQL: aliases (to be written).

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
impl crate::repo::Aliases for PostgresStore {
    async fn get_alias(&self, model: &str, alias: &str) -> Result<AliasState, StoreError> {
        todo!("postgres: get_alias")
    }

    async fn list_aliases(&self, model: &str) -> Result<Vec<AliasState>, StoreError> {
        todo!("postgres: list_aliases")
    }

    async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: u32,
        actor: &str,
    ) -> Result<AliasEvent, StoreError> {
        todo!("postgres: set_alias")
    }

    async fn delete_alias(
        &self,
        model: &str,
        alias: &str,
        actor: &str,
    ) -> Result<AliasEvent, StoreError> {
        todo!("postgres: delete_alias")
    }

    async fn alias_history(
        &self,
        model: &str,
        alias: Option<&str>,
    ) -> Result<Vec<AliasEvent>, StoreError> {
        todo!("postgres: alias_history")
    }

    async fn alias_at(
        &self,
        model: &str,
        alias: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<u32>, StoreError> {
        todo!("postgres: alias_at")
    }
}
