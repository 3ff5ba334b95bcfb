//! The management API's answers on the wire: models, versions, aliases, deployments and revisions as JSON.

use super::*;

pub(super) fn model_out(m: Model, aliases: Vec<AliasState>) -> wire::Model {
    wire::Model {
        name: m.name,
        description: m.card.description,
        owner_team: m.card.owner_team,
        intended_use: m.card.intended_use,
        out_of_scope_uses: m.card.out_of_scope_uses,
        risk_tier: m.card.risk_tier.as_str().to_owned(),
        tags: m.card.tags,
        latest_version: m.latest_version,
        aliases: aliases.into_iter().map(|a| (a.alias, a.version)).collect(),
        created_at: m.created_at,
        updated_at: m.updated_at,
        created_by: m.created_by,
        deployments_moved: Vec::new(),
    }
}

pub(super) fn signature_out(s: &Signature) -> wire::Signature {
    let conv = |v: &[TensorSpec]| {
        v.iter()
            .map(|t| wire::TensorSpec {
                name: t.name.clone(),
                datatype: t.datatype.as_str().to_owned(),
                shape: t.shape.clone(),
            })
            .collect()
    };
    wire::Signature {
        inputs: conv(&s.inputs),
        outputs: conv(&s.outputs),
    }
}

pub(super) fn version_out(v: ModelVersion) -> wire::Version {
    wire::Version {
        signature: signature_out(&v.signature),
        model: v.model,
        version: v.version,
        digest: v.digest,
        size_bytes: v.size_bytes,
        format: v.format.as_str().to_owned(),
        feature_names: v.feature_names,
        description: v.description,
        source_commit: v.source_commit,
        training_run: v.training_run,
        metrics: v.metrics,
        metadata: v.metadata,
        created_at: v.created_at,
        created_by: v.created_by,
        created_model: None,
    }
}

pub(super) fn event_out(e: AliasEvent) -> wire::AliasEvent {
    wire::AliasEvent {
        model: e.model,
        alias: e.alias,
        from_version: e.from_version,
        to_version: e.to_version,
        actor: e.actor,
        at: e.at,
    }
}

pub(super) fn settings_out(s: &DeploymentSettings) -> wire::Settings {
    wire::Settings {
        max_batch_size: Some(s.max_batch_size),
        max_queue_delay_us: Some(s.max_queue_delay_us),
        queue_capacity: Some(s.queue_capacity),
        timeout_ms: s.timeout_ms,
        max_concurrency: s.max_concurrency,
        guardrails: Some(wire::Guardrails {
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

/// A settings patch merged into the current settings.
pub(super) trait ApplySettings {
    fn apply(self, s: DeploymentSettings) -> DeploymentSettings;
}

impl ApplySettings for wire::SettingsPatch {
    fn apply(self, mut s: DeploymentSettings) -> DeploymentSettings {
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

pub(super) fn revision_out(state: &AppState, r: Revision) -> wire::Revision {
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
        .map(|a| wire::Agreement {
            compared_requests: a.compared_requests,
            dropped_requests: a.dropped_requests,
            failed_requests: a.failed_requests,
            label_rows: a.label_rows,
            same_label_rate: a.same_label_rate,
            score_values: a.score_values,
            mean_abs_score_diff: a.mean_abs_score_diff,
        });
    wire::Revision {
        kind: r.kind.name().to_owned(),
        rolled_back_to,
        guardrail_from,
        reason,
        alias,
        routes: r
            .table
            .routes
            .iter()
            .map(|x| wire::Route {
                target: x.target.to_string(),
                weight: x.weight,
                version: x.version,
            })
            .collect(),
        shadow: r.table.shadow.as_ref().map(|s| wire::Shadow {
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

/// A deployment as it serves: the live revision when it is serving (a
/// revision being made live right now is reported once it answers), else
/// the stored one.
pub(super) fn deployment_out(state: &AppState, mut d: Deployment) -> wire::Deployment {
    let live = state.serving.deployment(&d.name);
    let ready = live.is_some();
    if let Some(live) = live {
        d.current = live.revision.clone();
    }
    let primary = &d.current.table.routes[0];
    wire::Deployment {
        error: state.serving.failure(&d.name),
        endpoint: format!("/v2/models/{}/infer", d.name),
        model: primary.target.model.clone(),
        target: primary.target.to_string(),
        version: primary.version,
        ready,
        created_at: d.created_at,
        updated_at: d.current.at,
        updated_by: d.current.actor.clone(),
        current: Some(revision_out(state, d.current)),
        name: d.name,
    }
}

pub(super) const MAX_TEXT: usize = 16 * 1024;

/// A card patch applied to a card, checked.
pub(super) trait ApplyCard {
    fn apply(self, card: ModelCard) -> Result<ModelCard, ApiError>;
}

impl ApplyCard for CardPatch {
    fn apply(self, mut card: ModelCard) -> Result<ModelCard, ApiError> {
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
