//! PostgreSQL: monitoring (to be written).

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
impl crate::repo::Monitoring for PostgresStore {
    async fn put_baseline(&self, b: &BaselineRecord) -> Result<(), StoreError> {
        todo!("postgres: put_baseline")
    }

    async fn get_baseline(&self, model: &str, version: u32) -> Result<BaselineRecord, StoreError> {
        todo!("postgres: get_baseline")
    }

    async fn predictions(
        &self,
        deployment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<PredictionRecord>, StoreError> {
        todo!("postgres: predictions")
    }

    async fn sample_predictions(
        &self,
        deployment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<PredictionRecord>, StoreError> {
        todo!("postgres: sample_predictions")
    }

    async fn labelled_sample(
        &self,
        deployment: &str,
        model: &str,
        version: u32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<(u64, Vec<LabelledRow>), StoreError> {
        todo!("postgres: labelled_sample")
    }

    async fn count_predictions(
        &self,
        deployment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, StoreError> {
        todo!("postgres: count_predictions")
    }

    async fn add_aggregate(
        &self,
        key: &AggregateKey,
        minute: &Aggregate,
    ) -> Result<(), StoreError> {
        todo!("postgres: add_aggregate")
    }

    async fn aggregate_rows(
        &self,
        deployment: &str,
        resolution: Resolution,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, u32, u64)>, StoreError> {
        todo!("postgres: aggregate_rows")
    }

    async fn aggregate_bodies(
        &self,
        deployment: &str,
        model: &str,
        version: u32,
        resolution: Resolution,
        from: i64,
        to: i64,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        todo!("postgres: aggregate_bodies")
    }

    async fn put_aggregate(
        &self,
        key: &AggregateKey,
        resolution: Resolution,
        agg: &Aggregate,
    ) -> Result<(), StoreError> {
        todo!("postgres: put_aggregate")
    }

    async fn prune_aggregates(
        &self,
        minutes_before: DateTime<Utc>,
        periods_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        todo!("postgres: prune_aggregates")
    }

    async fn prune_predictions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        todo!("postgres: prune_predictions")
    }
}
