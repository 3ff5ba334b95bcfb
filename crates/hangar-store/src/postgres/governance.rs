//! PostgreSQL: governance (to be written).

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
impl crate::repo::Governance for PostgresStore {
    async fn create_team(&self, name: &str, actor: &str) -> Result<TeamRecord, StoreError> {
        todo!("postgres: create_team")
    }

    async fn list_teams(&self) -> Result<Vec<TeamRecord>, StoreError> {
        todo!("postgres: list_teams")
    }

    async fn team_exists(&self, name: &str) -> Result<bool, StoreError> {
        todo!("postgres: team_exists")
    }

    async fn create_user(
        &self,
        name: &str,
        password_hash: Option<&str>,
        superuser: bool,
        memberships: &[(String, Role)],
        actor: &str,
    ) -> Result<UserRecord, StoreError> {
        todo!("postgres: create_user")
    }

    async fn add_membership(
        &self,
        user: &str,
        team: &str,
        role: Role,
    ) -> Result<UserRecord, StoreError> {
        todo!("postgres: add_membership")
    }

    async fn set_password(&self, user: &str, password_hash: &str) -> Result<(), StoreError> {
        todo!("postgres: set_password")
    }

    async fn get_user(&self, name: &str) -> Result<UserRecord, StoreError> {
        todo!("postgres: get_user")
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        todo!("postgres: list_users")
    }

    async fn has_superuser(&self) -> Result<bool, StoreError> {
        todo!("postgres: has_superuser")
    }

    async fn create_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        todo!("postgres: create_token")
    }

    async fn get_token(&self, id: &str) -> Result<TokenRecord, StoreError> {
        todo!("postgres: get_token")
    }

    async fn list_tokens(
        &self,
        kind: &str,
        user: Option<&str>,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        todo!("postgres: list_tokens")
    }

    async fn revoke_token(&self, id: &str) -> Result<TokenRecord, StoreError> {
        todo!("postgres: revoke_token")
    }

    async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        todo!("postgres: touch_token")
    }

    async fn model_team(&self, model: &str) -> Result<Option<String>, StoreError> {
        todo!("postgres: model_team")
    }

    async fn deployment_team(&self, name: &str) -> Result<Option<String>, StoreError> {
        todo!("postgres: deployment_team")
    }

    async fn deployment_teams(&self) -> Result<BTreeMap<String, String>, StoreError> {
        todo!("postgres: deployment_teams")
    }

    async fn add_decision(&self, a: &ApprovalRecord) -> Result<(), StoreError> {
        todo!("postgres: add_decision")
    }

    async fn decisions(
        &self,
        model: &str,
        version: u32,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        todo!("postgres: decisions")
    }

    async fn add_trusted_key(
        &self,
        name: &str,
        public_key: &str,
        actor: &str,
    ) -> Result<TrustedKey, StoreError> {
        todo!("postgres: add_trusted_key")
    }

    async fn list_trusted_keys(&self) -> Result<Vec<TrustedKey>, StoreError> {
        todo!("postgres: list_trusted_keys")
    }

    async fn add_signature(
        &self,
        model: &str,
        version: u32,
        public_key: &str,
        signature: &str,
    ) -> Result<(), StoreError> {
        todo!("postgres: add_signature")
    }

    async fn signatures(
        &self,
        model: &str,
        version: u32,
    ) -> Result<Vec<SignatureRecord>, StoreError> {
        todo!("postgres: signatures")
    }

    async fn append_audit(&self, e: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
        todo!("postgres: append_audit")
    }

    async fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        todo!("postgres: list_audit")
    }

    async fn audit_chain(&self) -> Result<(Vec<AuditEntry>, Option<(i64, String)>), StoreError> {
        todo!("postgres: audit_chain")
    }
}
