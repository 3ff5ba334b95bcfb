//! PostgreSQL: alerts (to be written).

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
impl crate::repo::Alerts for PostgresStore {
    async fn put_rule(&self, r: &AlertRule, actor: &str) -> Result<(), StoreError> {
        todo!("postgres: put_rule")
    }

    async fn list_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        todo!("postgres: list_rules")
    }

    async fn delete_rule(&self, name: &str, deployment: &str) -> Result<(), StoreError> {
        todo!("postgres: delete_rule")
    }

    async fn add_alert_event(&self, e: &AlertEventRecord) -> Result<i64, StoreError> {
        todo!("postgres: add_alert_event")
    }

    async fn alert_events(
        &self,
        deployment: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AlertEventRecord>, StoreError> {
        todo!("postgres: alert_events")
    }

    async fn put_channel(&self, c: &ChannelRecord) -> Result<(), StoreError> {
        todo!("postgres: put_channel")
    }

    async fn list_channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        todo!("postgres: list_channels")
    }

    async fn delete_channel(&self, name: &str) -> Result<(), StoreError> {
        todo!("postgres: delete_channel")
    }

    async fn add_delivery(&self, d: &DeliveryRecord) -> Result<(), StoreError> {
        todo!("postgres: add_delivery")
    }

    async fn deliveries(&self, limit: u32) -> Result<Vec<DeliveryRecord>, StoreError> {
        todo!("postgres: deliveries")
    }
}
