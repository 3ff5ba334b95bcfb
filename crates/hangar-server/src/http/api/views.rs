//! The management API's answers on the wire: models, versions, aliases, deployments and revisions as JSON.

use super::*;

#[derive(Serialize)]
pub(super) struct ModelOut {
    pub(super) name: String,
    pub(super) description: String,
    pub(super) owner_team: Option<String>,
    pub(super) intended_use: Option<String>,
    pub(super) out_of_scope_uses: Vec<String>,
    pub(super) risk_tier: &'static str,
    pub(super) tags: Vec<String>,
    pub(super) latest_version: Option<u32>,
    pub(super) aliases: BTreeMap<String, u32>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) created_by: String,
    /// After a move to another team: the deployments that moved with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) deployments_moved: Vec<String>,
}

pub(super) fn model_out(m: Model, aliases: Vec<AliasState>) -> ModelOut {
    ModelOut {
        name: m.name,
        description: m.card.description,
        owner_team: m.card.owner_team,
        intended_use: m.card.intended_use,
        out_of_scope_uses: m.card.out_of_scope_uses,
        risk_tier: m.card.risk_tier.as_str(),
        tags: m.card.tags,
        latest_version: m.latest_version,
        aliases: aliases.into_iter().map(|a| (a.alias, a.version)).collect(),
        created_at: m.created_at,
        updated_at: m.updated_at,
        created_by: m.created_by,
        deployments_moved: Vec::new(),
    }
}

#[derive(Serialize)]
pub(super) struct SpecOut {
    pub(super) name: String,
    pub(super) datatype: &'static str,
    pub(super) shape: Vec<i64>,
}

#[derive(Serialize)]
pub(super) struct SignatureOut {
    pub(super) inputs: Vec<SpecOut>,
    pub(super) outputs: Vec<SpecOut>,
}

pub(super) fn signature_out(s: &Signature) -> SignatureOut {
    let conv = |v: &[TensorSpec]| {
        v.iter()
            .map(|t| SpecOut {
                name: t.name.clone(),
                datatype: t.datatype.as_str(),
                shape: t.shape.clone(),
            })
            .collect()
    };
    SignatureOut {
        inputs: conv(&s.inputs),
        outputs: conv(&s.outputs),
    }
}

#[derive(Serialize)]
pub(super) struct VersionOut {
    pub(super) model: String,
    pub(super) version: u32,
    pub(super) digest: String,
    pub(super) size_bytes: u64,
    pub(super) format: &'static str,
    pub(super) signature: SignatureOut,
    pub(super) feature_names: Option<Vec<String>>,
    pub(super) description: String,
    pub(super) source_commit: Option<String>,
    pub(super) training_run: Option<String>,
    pub(super) metrics: BTreeMap<String, f64>,
    pub(super) metadata: BTreeMap<String, String>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) created_by: String,
}

pub(super) fn version_out(v: ModelVersion) -> VersionOut {
    VersionOut {
        signature: signature_out(&v.signature),
        model: v.model,
        version: v.version,
        digest: v.digest,
        size_bytes: v.size_bytes,
        format: v.format.as_str(),
        feature_names: v.feature_names,
        description: v.description,
        source_commit: v.source_commit,
        training_run: v.training_run,
        metrics: v.metrics,
        metadata: v.metadata,
        created_at: v.created_at,
        created_by: v.created_by,
    }
}

#[derive(Serialize)]
pub(super) struct AliasEventOut {
    pub(super) model: String,
    pub(super) alias: String,
    pub(super) from_version: Option<u32>,
    pub(super) to_version: Option<u32>,
    pub(super) actor: String,
    pub(super) at: DateTime<Utc>,
}

pub(super) fn event_out(e: AliasEvent) -> AliasEventOut {
    AliasEventOut {
        model: e.model,
        alias: e.alias,
        from_version: e.from_version,
        to_version: e.to_version,
        actor: e.actor,
        at: e.at,
    }
}

#[derive(Serialize)]
pub(super) struct AliasOut {
    pub(super) model: String,
    pub(super) alias: String,
    pub(super) version: Option<u32>,
    pub(super) updated_at: Option<DateTime<Utc>>,
    pub(super) updated_by: Option<String>,
    /// Set when the answer is for a point in time (`?at=`).
    pub(super) at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
pub(super) struct RouteOut {
    pub(super) target: String,
    pub(super) weight: u8,
    pub(super) version: u32,
}

#[derive(Serialize)]
pub(super) struct ShadowOut {
    pub(super) target: String,
    pub(super) version: u32,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct GuardrailsWire {
    #[serde(default)]
    pub(super) max_error_rate: Option<f64>,
    #[serde(default)]
    pub(super) max_p99_ms: Option<f64>,
    #[serde(default)]
    pub(super) window_secs: Option<u64>,
    #[serde(default)]
    pub(super) min_requests: Option<u64>,
}

/// Deployment settings on the wire; in a request, absent fields keep their
/// current value.
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SettingsWire {
    #[serde(default)]
    pub(super) max_batch_size: Option<u32>,
    #[serde(default)]
    pub(super) max_queue_delay_us: Option<u64>,
    #[serde(default)]
    pub(super) queue_capacity: Option<u32>,
    #[serde(default)]
    pub(super) timeout_ms: Option<u64>,
    #[serde(default)]
    pub(super) max_concurrency: Option<u32>,
    #[serde(default)]
    pub(super) guardrails: Option<GuardrailsWire>,
    /// Segment attributes recorded with each prediction (never fed to the model).
    #[serde(default)]
    pub(super) segments: Option<Vec<String>>,
    /// The request field identifying a row, for feedback by row id.
    #[serde(default)]
    pub(super) row_id: Option<String>,
    #[serde(default)]
    pub(super) log_predictions: Option<bool>,
    /// Serve only versions signed by a trusted key.
    #[serde(default)]
    pub(super) require_signed: Option<bool>,
}

pub(super) fn settings_out(s: &DeploymentSettings) -> SettingsWire {
    SettingsWire {
        max_batch_size: Some(s.max_batch_size),
        max_queue_delay_us: Some(s.max_queue_delay_us),
        queue_capacity: Some(s.queue_capacity),
        timeout_ms: s.timeout_ms,
        max_concurrency: s.max_concurrency,
        guardrails: Some(GuardrailsWire {
            max_error_rate: s.guardrails.max_error_rate,
            max_p99_ms: s.guardrails.max_p99_ms,
            window_secs: Some(s.guardrails.window_secs),
            min_requests: Some(s.guardrails.min_requests),
        }),
        segments: Some(s.segments.clone()),
        row_id: s.row_id.clone(),
        log_predictions: Some(s.log_predictions),
        require_signed: Some(s.require_signed),
    }
}

impl SettingsWire {
    pub(super) fn apply(self, mut s: DeploymentSettings) -> DeploymentSettings {
        if let Some(v) = self.max_batch_size {
            s.max_batch_size = v;
        }
        if let Some(v) = self.max_queue_delay_us {
            s.max_queue_delay_us = v;
        }
        if let Some(v) = self.queue_capacity {
            s.queue_capacity = v;
        }
        if self.timeout_ms.is_some() {
            s.timeout_ms = self.timeout_ms;
        }
        if self.max_concurrency.is_some() {
            s.max_concurrency = self.max_concurrency;
        }
        if let Some(segments) = self.segments {
            s.segments = segments;
        }
        if self.row_id.is_some() {
            s.row_id = self.row_id.filter(|r| !r.is_empty());
        }
        if let Some(log) = self.log_predictions {
            s.log_predictions = log;
        }
        if let Some(r) = self.require_signed {
            s.require_signed = r;
        }
        if let Some(g) = self.guardrails {
            if g.max_error_rate.is_some() {
                s.guardrails.max_error_rate = g.max_error_rate;
            }
            if g.max_p99_ms.is_some() {
                s.guardrails.max_p99_ms = g.max_p99_ms;
            }
            if let Some(w) = g.window_secs {
                s.guardrails.window_secs = w;
            }
            if let Some(m) = g.min_requests {
                s.guardrails.min_requests = m;
            }
        }
        s
    }
}

#[derive(Serialize)]
pub(super) struct AgreementOut {
    pub(super) compared_requests: u64,
    pub(super) dropped_requests: u64,
    pub(super) failed_requests: u64,
    pub(super) label_rows: u64,
    pub(super) same_label_rate: Option<f64>,
    pub(super) score_values: u64,
    pub(super) mean_abs_score_diff: Option<f64>,
}

#[derive(Serialize)]
pub(super) struct RevisionOut {
    pub(super) deployment: String,
    pub(super) revision: u32,
    pub(super) kind: &'static str,
    /// For a rollback: the revision returned to.
    pub(super) rolled_back_to: Option<u32>,
    /// For a guardrail rollback: the revision whose canary was removed, and why.
    pub(super) guardrail_from: Option<u32>,
    pub(super) reason: Option<String>,
    /// For an alias move: the alias followed.
    pub(super) alias: Option<String>,
    pub(super) routes: Vec<RouteOut>,
    pub(super) shadow: Option<ShadowOut>,
    pub(super) settings: SettingsWire,
    pub(super) message: String,
    pub(super) actor: String,
    pub(super) at: DateTime<Utc>,
    pub(super) shadow_agreement: Option<AgreementOut>,
}

pub(super) fn revision_out(state: &AppState, r: Revision) -> RevisionOut {
    let (rolled_back_to, guardrail_from, reason, alias) = match &r.kind {
        RevisionKind::Deploy | RevisionKind::Promote => (None, None, None, None),
        RevisionKind::Rollback { to } => (Some(*to), None, None, None),
        RevisionKind::Guardrail { from, reason } => (None, Some(*from), Some(reason.clone()), None),
        RevisionKind::AliasMoved { model, alias } => {
            (None, None, None, Some(format!("{model}@{alias}")))
        }
    };
    let shadow_agreement = r
        .table
        .shadow
        .as_ref()
        .and_then(|_| state.serving.agreement(&r.deployment, r.number))
        .map(|a| AgreementOut {
            compared_requests: a.compared_requests,
            dropped_requests: a.dropped_requests,
            failed_requests: a.failed_requests,
            label_rows: a.label_rows,
            same_label_rate: a.same_label_rate,
            score_values: a.score_values,
            mean_abs_score_diff: a.mean_abs_score_diff,
        });
    RevisionOut {
        kind: r.kind.name(),
        rolled_back_to,
        guardrail_from,
        reason,
        alias,
        routes: r
            .table
            .routes
            .iter()
            .map(|x| RouteOut {
                target: x.target.to_string(),
                weight: x.weight,
                version: x.version,
            })
            .collect(),
        shadow: r.table.shadow.as_ref().map(|s| ShadowOut {
            target: s.target.to_string(),
            version: s.version,
        }),
        settings: settings_out(&r.settings),
        shadow_agreement,
        deployment: r.deployment,
        revision: r.number,
        message: r.message,
        actor: r.actor,
        at: r.at,
    }
}

#[derive(Serialize)]
pub(super) struct DeploymentOut {
    pub(super) name: String,
    /// The primary route's model, target and version.
    pub(super) model: String,
    pub(super) target: String,
    pub(super) version: u32,
    pub(super) ready: bool,
    pub(super) error: Option<String>,
    pub(super) endpoint: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) updated_by: String,
    pub(super) current: RevisionOut,
}

/// A deployment as it serves: the live revision when it is serving (a
/// revision being made live right now is reported once it answers), else
/// the stored one.
pub(super) fn deployment_out(state: &AppState, mut d: Deployment) -> DeploymentOut {
    let live = state.serving.deployment(&d.name);
    let ready = live.is_some();
    if let Some(live) = live {
        d.current = live.revision.clone();
    }
    let primary = &d.current.table.routes[0];
    DeploymentOut {
        error: state.serving.failure(&d.name),
        endpoint: format!("/v2/models/{}/infer", d.name),
        model: primary.target.model.clone(),
        target: primary.target.to_string(),
        version: primary.version,
        ready,
        created_at: d.created_at,
        updated_at: d.current.at,
        updated_by: d.current.actor.clone(),
        current: revision_out(state, d.current),
        name: d.name,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateModel {
    pub(super) name: String,
    #[serde(flatten)]
    pub(super) card: CardPatch,
}

/// Fields of a model card; absent fields keep their value.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct CardPatch {
    pub(super) description: Option<String>,
    pub(super) owner_team: Option<Option<String>>,
    pub(super) intended_use: Option<Option<String>>,
    pub(super) out_of_scope_uses: Option<Vec<String>>,
    pub(super) risk_tier: Option<String>,
    pub(super) tags: Option<Vec<String>>,
}

pub(super) const MAX_TEXT: usize = 16 * 1024;

impl CardPatch {
    pub(super) fn apply(self, mut card: ModelCard) -> Result<ModelCard, ApiError> {
        let long = |s: &str| s.len() > MAX_TEXT;
        if let Some(d) = self.description {
            card.description = d;
        }
        if let Some(t) = self.owner_team {
            card.owner_team = t;
        }
        if let Some(u) = self.intended_use {
            card.intended_use = u;
        }
        if let Some(o) = self.out_of_scope_uses {
            card.out_of_scope_uses = o;
        }
        if let Some(r) = self.risk_tier {
            card.risk_tier = r
                .parse::<RiskTier>()
                .map_err(|e| ApiError::new(ErrorCode::InvalidModelCard, e.to_string()))?;
        }
        if let Some(t) = self.tags {
            card.tags = t;
        }
        let texts = [
            Some(&card.description),
            card.owner_team.as_ref(),
            card.intended_use.as_ref(),
        ];
        if texts.into_iter().flatten().any(|s| long(s))
            || card
                .out_of_scope_uses
                .iter()
                .chain(&card.tags)
                .any(|s| long(s))
            || card.out_of_scope_uses.len() + card.tags.len() > 256
        {
            return Err(ApiError::new(
                ErrorCode::InvalidModelCard,
                format!(
                    "model card fields are limited to {MAX_TEXT} bytes each and 256 list entries"
                ),
            ));
        }
        Ok(card)
    }
}
