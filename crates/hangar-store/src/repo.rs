//! The storage traits: one per area, each implemented once per backend
//! (`sqlite` for the embedded default, `postgres` for a cluster). Callers
//! hold a [`crate::Db`], which dereferences to `dyn Store`, so a method of
//! any area is called on it directly.
//!
//! The contract is the same on every backend: the same errors
//! ([`StoreError`]), the same order of results, the same numbering. The
//! contract tests in `tests/contract.rs` run against both.

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

/// Models and their versions.
#[async_trait::async_trait]
pub trait Models: Send + Sync {
    async fn create_model(
        &self,
        name: &str,
        card: &ModelCard,
        actor: &str,
    ) -> Result<Model, StoreError>;

    async fn list_models(&self) -> Result<Vec<Model>, StoreError>;

    async fn get_model(&self, name: &str) -> Result<Model, StoreError>;

    async fn update_card(&self, name: &str, card: &ModelCard) -> Result<Model, StoreError> {
        self.update_card_moving(name, card, &[]).await
    }

    /// Writes a model card and, in the same transaction, moves `deployments`
    /// to the card's team (the model's deployments follow it when it moves
    /// to another team).
    async fn update_card_moving(
        &self,
        name: &str,
        card: &ModelCard,
        deployments: &[String],
    ) -> Result<Model, StoreError>;

    /// Registers a version under the next number. Numbers are allocated in a
    /// write transaction, so concurrent pushes get distinct numbers.
    async fn add_version(
        &self,
        model: &str,
        v: &NewVersion,
        actor: &str,
    ) -> Result<ModelVersion, StoreError> {
        self.add_version_creating(model, None, v, actor)
            .await
            .map(|(v, _)| v)
    }

    /// [`Models::add_version`], or with `create` the first version of a model
    /// that does not exist yet: the model is created with that card in the
    /// same transaction (so a refused first push never leaves an empty model
    /// behind), and a model that exists by then is a conflict. Says whether
    /// the model was created.
    async fn add_version_creating(
        &self,
        model: &str,
        create: Option<&ModelCard>,
        v: &NewVersion,
        actor: &str,
    ) -> Result<(ModelVersion, bool), StoreError>;

    async fn list_versions(&self, model: &str) -> Result<Vec<ModelVersion>, StoreError>;

    /// Every artifact digest a record names (versions and baselines): what
    /// the artifact store keeps when it sweeps at start.
    async fn referenced_digests(&self) -> Result<std::collections::HashSet<String>, StoreError>;

    async fn get_version(&self, model: &str, version: u32) -> Result<ModelVersion, StoreError>;
}

/// Aliases of a model and the history of their moves.
#[async_trait::async_trait]
pub trait Aliases: Models {
    async fn get_alias(&self, model: &str, alias: &str) -> Result<AliasState, StoreError>;

    async fn list_aliases(&self, model: &str) -> Result<Vec<AliasState>, StoreError>;

    /// Sets or moves an alias and records the move.
    async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: u32,
        actor: &str,
    ) -> Result<AliasEvent, StoreError>;

    /// Deletes an alias and records the deletion.
    async fn delete_alias(
        &self,
        model: &str,
        alias: &str,
        actor: &str,
    ) -> Result<AliasEvent, StoreError>;

    /// Every move of the model's aliases (or of one alias), oldest first.
    async fn alias_history(
        &self,
        model: &str,
        alias: Option<&str>,
    ) -> Result<Vec<AliasEvent>, StoreError>;

    /// The version an alias pointed at, at time `at` (None: it was not set).
    async fn alias_at(
        &self,
        model: &str,
        alias: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<u32>, StoreError>;

    /// The version a reference points at now.
    async fn resolve(&self, r: &VersionRef) -> Result<ModelVersion, StoreError> {
        match &r.selector {
            VersionSelector::Number(v) => self.get_version(&r.model, *v).await,
            VersionSelector::Alias(a) => {
                let state = self.get_alias(&r.model, a).await?;
                self.get_version(&r.model, state.version).await
            }
        }
    }
}

/// Deployments and their revisions (the routing history).
#[async_trait::async_trait]
pub trait Deployments: Send + Sync {
    /// Appends a revision to a deployment (creating the deployment) and makes
    /// it current, in one transaction.
    async fn create_revision(
        &self,
        deployment: &str,
        table: &RoutingTable,
        settings: &DeploymentSettings,
        kind: &RevisionKind,
        message: &str,
        actor: &str,
    ) -> Result<Revision, StoreError>;

    async fn get_revision(&self, deployment: &str, revision: u32) -> Result<Revision, StoreError>;

    /// Every revision of a deployment, oldest first.
    async fn list_revisions(&self, deployment: &str) -> Result<Vec<Revision>, StoreError>;

    async fn get_deployment(&self, name: &str) -> Result<Deployment, StoreError>;

    async fn list_deployments(&self) -> Result<Vec<Deployment>, StoreError>;

    /// Deletes a deployment. Its revisions stay, as history; a deployment
    /// created later under the same name continues their numbering.
    async fn delete_deployment(&self, name: &str) -> Result<(), StoreError>;
}

/// Teams, users, tokens and consumer keys, ownership, approvals, signing, and the audit chain.
#[async_trait::async_trait]
pub trait Governance: Send + Sync {
    // ---- teams and users -------------------------------------------------

    async fn create_team(&self, name: &str, actor: &str) -> Result<TeamRecord, StoreError>;

    async fn list_teams(&self) -> Result<Vec<TeamRecord>, StoreError>;

    async fn team_exists(&self, name: &str) -> Result<bool, StoreError>;

    /// Creates a user with its memberships in one transaction.
    async fn create_user(
        &self,
        name: &str,
        password_hash: Option<&str>,
        superuser: bool,
        memberships: &[(String, Role)],
        actor: &str,
    ) -> Result<UserRecord, StoreError>;

    /// Adds a role in a team to an existing user.
    async fn add_membership(
        &self,
        user: &str,
        team: &str,
        role: Role,
    ) -> Result<UserRecord, StoreError>;

    async fn set_password(&self, user: &str, password_hash: &str) -> Result<(), StoreError>;

    async fn get_user(&self, name: &str) -> Result<UserRecord, StoreError>;

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;

    async fn has_superuser(&self) -> Result<bool, StoreError>;

    // ---- tokens ----------------------------------------------------------

    async fn create_token(&self, t: &TokenRecord) -> Result<(), StoreError>;

    async fn get_token(&self, id: &str) -> Result<TokenRecord, StoreError>;

    /// Tokens of one kind (`api`, `consumer`), optionally of one user;
    /// newest first.
    async fn list_tokens(
        &self,
        kind: &str,
        user: Option<&str>,
    ) -> Result<Vec<TokenRecord>, StoreError>;

    async fn revoke_token(&self, id: &str) -> Result<TokenRecord, StoreError>;

    async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    // ---- ownership -------------------------------------------------------

    /// The team owning a model, `None` when there is no such model.
    async fn model_team(&self, model: &str) -> Result<Option<String>, StoreError>;

    /// The team owning a deployment, `None` when there is no such deployment.
    async fn deployment_team(&self, name: &str) -> Result<Option<String>, StoreError>;

    /// Every deployment's team, in one query.
    async fn deployment_teams(&self) -> Result<BTreeMap<String, String>, StoreError>;

    // ---- approvals -------------------------------------------------------

    async fn add_decision(&self, a: &ApprovalRecord) -> Result<(), StoreError>;

    /// Decisions on one version, oldest first.
    async fn decisions(&self, model: &str, version: u32)
        -> Result<Vec<ApprovalRecord>, StoreError>;

    // ---- signing ---------------------------------------------------------

    async fn add_trusted_key(
        &self,
        name: &str,
        public_key: &str,
        actor: &str,
    ) -> Result<TrustedKey, StoreError>;

    async fn list_trusted_keys(&self) -> Result<Vec<TrustedKey>, StoreError>;

    async fn add_signature(
        &self,
        model: &str,
        version: u32,
        public_key: &str,
        signature: &str,
    ) -> Result<(), StoreError>;

    async fn signatures(
        &self,
        model: &str,
        version: u32,
    ) -> Result<Vec<SignatureRecord>, StoreError>;

    // ---- audit -----------------------------------------------------------

    /// Appends an entry to the chain in one write transaction: numbered after
    /// the recorded head, hashed over the head's hash, and the head moved.
    async fn append_audit(&self, e: &NewAuditEntry) -> Result<AuditEntry, StoreError>;

    /// Entries matching `f`, newest first.
    async fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;

    /// The whole chain in order, and the recorded head, for verification.
    async fn audit_chain(&self) -> Result<(Vec<AuditEntry>, Option<(i64, String)>), StoreError>;
}

/// Alert rules, the events they fired, notification channels and deliveries.
#[async_trait::async_trait]
pub trait Alerts: Send + Sync {
    async fn put_rule(&self, r: &AlertRule, actor: &str) -> Result<(), StoreError>;

    async fn list_rules(&self) -> Result<Vec<AlertRule>, StoreError>;

    async fn delete_rule(&self, name: &str, deployment: &str) -> Result<(), StoreError>;

    async fn add_alert_event(&self, e: &AlertEventRecord) -> Result<i64, StoreError>;

    /// Alert events, newest first, optionally for one deployment.
    async fn alert_events(
        &self,
        deployment: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AlertEventRecord>, StoreError>;

    /// Creates or replaces a channel. The e-mail columns are written only
    /// when there is a sender: the table refuses e-mail fields on other
    /// kinds and an e-mail channel without them.
    async fn put_channel(&self, c: &ChannelRecord) -> Result<(), StoreError>;

    async fn list_channels(&self) -> Result<Vec<ChannelRecord>, StoreError>;

    async fn delete_channel(&self, name: &str) -> Result<(), StoreError>;

    async fn add_delivery(&self, d: &DeliveryRecord) -> Result<(), StoreError>;

    async fn deliveries(&self, limit: u32) -> Result<Vec<DeliveryRecord>, StoreError>;
}

/// Baselines, reading the prediction log, and the monitoring aggregates.
#[async_trait::async_trait]
pub trait Monitoring: Send + Sync {
    async fn put_baseline(&self, b: &BaselineRecord) -> Result<(), StoreError>;

    async fn get_baseline(&self, model: &str, version: u32) -> Result<BaselineRecord, StoreError>;

    /// The prediction rows of a deployment in `[from, to)`, in the order they
    /// were logged (oldest first).
    async fn predictions(
        &self,
        deployment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<PredictionRecord>, StoreError>;

    /// A uniform random sample of `limit` prediction rows of a deployment in
    /// `[from, to)` (every row when there are no more).
    async fn sample_predictions(
        &self,
        deployment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<PredictionRecord>, StoreError>;

    /// The labelled rows of one version in `[from, to)`, without their
    /// features (what performance and fairness need): how many there are,
    /// and all of them or, past `limit`, a uniform random sample of `limit`.
    async fn labelled_sample(
        &self,
        deployment: &str,
        model: &str,
        version: u32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<(u64, Vec<LabelledRow>), StoreError>;

    /// How many prediction rows `[from, to)` holds, counting at most `limit`
    /// (so the cost is bounded by the limit, not by the range).
    async fn count_predictions(
        &self,
        deployment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u64,
    ) -> Result<u64, StoreError>;

    /// Merges one minute's aggregate into its minute, hour and day rows, in
    /// one transaction. Merging is hangar-core's ([`Aggregate::merge`]): counts
    /// add up, samples merge to each period's cap.
    async fn add_aggregate(&self, key: &AggregateKey, minute: &Aggregate)
        -> Result<(), StoreError>;

    /// Rows per version in the aggregates of one resolution with starts in
    /// `[from, to)` (no bodies read).
    async fn aggregate_rows(
        &self,
        deployment: &str,
        resolution: Resolution,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, u32, u64)>, StoreError>;

    /// The stored aggregates of one version, one resolution, starts in
    /// `[from, to)`, in their binary form (decoding is left to the caller,
    /// off the async executor).
    async fn aggregate_bodies(
        &self,
        deployment: &str,
        model: &str,
        version: u32,
        resolution: Resolution,
        from: i64,
        to: i64,
    ) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Stores one aggregate row as it is (for tests, benchmarks and imports).
    async fn put_aggregate(
        &self,
        key: &AggregateKey,
        resolution: Resolution,
        agg: &Aggregate,
    ) -> Result<(), StoreError>;

    /// Deletes minute aggregates that started before `minutes_before`, and
    /// hour and day aggregates that started before `periods_before`.
    async fn prune_aggregates(
        &self,
        minutes_before: DateTime<Utc>,
        periods_before: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Deletes prediction rows older than `before`; returns how many.
    async fn prune_predictions(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Every area of one backend, plus what is not a query: the prediction
/// log's and feedback's own writers, and closing.
#[async_trait::async_trait]
pub trait Store: Models + Aliases + Deployments + Governance + Alerts + Monitoring {
    /// The backend's name as the logs and `/api/v1/health` say it
    /// (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    /// A writer for the prediction log's bulk appends (blocking: open and
    /// use it on a blocking thread).
    fn prediction_writer(&self) -> Result<Box<dyn PredictionLog>, StoreError>;

    /// A writer for applying feedback in short batches (blocking: open and
    /// use it on a blocking thread).
    fn feedback_writer(&self) -> Result<Box<dyn FeedbackLog>, StoreError>;

    /// Closes the backend's connections.
    async fn close(&self);
}

/// Where a batch's rows go ([`PredictionLog::append`]). After a failed row
/// the others are ignored and the whole batch is rolled back.
pub trait RowSink {
    fn push(&mut self, row: &crate::LogRow<'_>);
}

/// The prediction log's bulk writer: blocking, used on a blocking thread.
pub trait PredictionLog: Send {
    /// Appends the rows that `write` pushes, in one transaction: all of them
    /// or, on an error, none. Returns how many were written.
    fn append(&mut self, write: &mut dyn FnMut(&mut dyn RowSink)) -> Result<u64, StoreError>;
}

/// Feedback's writer: finds logged rows by their keys and writes labels, in
/// short transactions. Blocking, used on a blocking thread.
pub trait FeedbackLog: Send {
    /// Finds the logged rows of `deployment` that each key names (a row id
    /// may name several rows). `versions` lists the (model, version) pairs
    /// seen so far; new ones are appended, and each found row points into it.
    fn find(
        &mut self,
        deployment: &str,
        keys: &[crate::FeedbackKey],
        versions: &mut Vec<(String, u32)>,
        found: &mut Vec<crate::FoundRow>,
    ) -> Result<(), StoreError>;

    /// Writes labels by row id in one transaction; returns how many rows
    /// were updated.
    fn apply(&mut self, labels: &[(i64, f64)], at: DateTime<Utc>) -> Result<u64, StoreError>;
}
