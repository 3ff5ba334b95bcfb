//! A deployment's health as the dashboard shows it to a business owner: one
//! level (healthy, needs attention, failing) and the reasons in plain words,
//! from its firing alerts and the key figures of its latest window.
//!
//! The level: a firing critical alert makes a deployment Failing; a firing
//! warning, or a figure past the line of a default rule (drifted input
//! features, a group treated below the four-fifths line, more than 5% of
//! requests failing), makes it NeedsAttention; otherwise it is Healthy. A
//! figure alone never makes a deployment Failing: that takes an alert that
//! has held for its rule's `for_secs`. Info alerts and the absence of traffic
//! are mentioned but do not change the level (write a `traffic.requests < 1`
//! rule to be alerted when a deployment goes quiet).

use std::collections::BTreeSet;

use crate::alerts::{
    AlertRule, AlertState, Comparison, FairnessMetric, FairnessScope, FeatureStat, MetricRef,
    Severity, FOUR_FIFTHS,
};
use crate::monitor::WindowReport;
use crate::stats::FairnessReport;
use crate::window::WindowSummary;

#[cfg(test)]
mod tests;
mod words;

use words::{
    count, decimal, duration, format_value, list, milliseconds, percent, period, with_notes,
};

/// The share of failed requests past which a deployment needs attention even
/// before the `error-rate-high` alert has held for its two minutes.
pub const NOTABLE_ERROR_RATE: f64 = 0.05;

/// Ordered: `Healthy < NeedsAttention < Failing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HealthLevel {
    Healthy,
    NeedsAttention,
    Failing,
}

impl HealthLevel {
    /// The stable name: `healthy`, `needs_attention`, `failing`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthLevel::Healthy => "healthy",
            HealthLevel::NeedsAttention => "needs_attention",
            HealthLevel::Failing => "failing",
        }
    }

    /// For people: `Healthy`, `Needs attention`, `Failing`.
    pub fn label(self) -> &'static str {
        match self {
            HealthLevel::Healthy => "Healthy",
            HealthLevel::NeedsAttention => "Needs attention",
            HealthLevel::Failing => "Failing",
        }
    }

    /// The level a firing alert of this severity implies.
    pub fn of_severity(severity: Severity) -> Self {
        match severity {
            Severity::Info => HealthLevel::Healthy,
            Severity::Warning => HealthLevel::NeedsAttention,
            Severity::Critical => HealthLevel::Failing,
        }
    }
}

/// A deployment's health: never without a reason. Reasons are ordered most
/// serious first and start in lower case (the dashboard shows them as a list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub level: HealthLevel,
    pub reasons: Vec<String>,
}

/// One firing alert of the deployment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FiringAlert<'a> {
    pub rule: &'a AlertRule,
    /// The latest value of the rule's metric (over the rule's window).
    pub value: f64,
    /// When it started firing.
    pub since: u64,
    pub ack: bool,
}

impl<'a> FiringAlert<'a> {
    /// The firing alert of a rule's state; `None` unless the state is Firing.
    pub fn from_state(rule: &'a AlertRule, state: &AlertState) -> Option<Self> {
        match *state {
            AlertState::Firing { since, value, ack } => Some(FiringAlert {
                rule,
                value,
                since,
                ack,
            }),
            _ => None,
        }
    }
}

/// What health is judged from.
#[derive(Debug, Clone, Copy)]
pub struct HealthInput<'a> {
    pub now_secs: u64,
    /// The deployment's recent traffic ...
    pub traffic: &'a WindowSummary,
    /// ... over this many seconds (3600 reads "in the last hour").
    pub traffic_window_secs: u64,
    /// The latest monitoring window, when the version has a baseline.
    pub report: Option<&'a WindowReport>,
    pub firing: &'a [FiringAlert<'a>],
    /// What a positive prediction means to the business ("approval"), for
    /// "the approval rate of group F"; without it, "the positive-prediction
    /// rate".
    pub positive_outcome: Option<&'a str>,
}

/// Which figures an alert's reason already told, so they are not told twice.
#[derive(Default)]
struct Told {
    errors: bool,
    traffic: bool,
    drift: bool,
    fairness: BTreeSet<String>,
}

/// Reasons sort by rank (stable), most serious first.
const RANK_NOTABLE: u8 = 2;
const RANK_NOTE: u8 = 4;

fn rank_of(severity: Severity) -> u8 {
    match severity {
        Severity::Critical => 0,
        Severity::Warning => 1,
        Severity::Info => 3,
    }
}

/// The health of one deployment.
pub fn assess(input: &HealthInput<'_>) -> Health {
    let mut level = HealthLevel::Healthy;
    let mut reasons: Vec<(u8, String)> = Vec::new();
    let mut told = Told::default();

    let mut firing: Vec<&FiringAlert> = input.firing.iter().collect();
    firing.sort_by(|a, b| {
        b.rule
            .severity
            .cmp(&a.rule.severity)
            .then(a.since.cmp(&b.since))
            .then_with(|| a.rule.name.cmp(&b.rule.name))
    });
    for alert in firing {
        level = level.max(HealthLevel::of_severity(alert.rule.severity));
        if let Some(text) = alert_reason(alert, input, &mut told) {
            reasons.push((rank_of(alert.rule.severity), text));
        }
    }

    let t = input.traffic;
    let period = period(input.traffic_window_secs);
    if !told.errors && t.requests > 0 && t.error_rate() > NOTABLE_ERROR_RATE {
        level = level.max(HealthLevel::NeedsAttention);
        reasons.push((
            RANK_NOTABLE,
            format!(
                "{} of requests failed in {period} ({} of {})",
                percent(t.error_rate()),
                count(t.errors),
                count(t.requests)
            ),
        ));
    }
    if let Some(report) = input.report {
        if !told.drift {
            if let Some(text) = drift_reason(report) {
                level = level.max(HealthLevel::NeedsAttention);
                reasons.push((RANK_NOTABLE, text));
            }
        }
        for (attribute, f) in &report.fairness {
            if !told.fairness.contains(attribute) && f.demographic_parity_ratio < FOUR_FIFTHS {
                if let Some(text) = fairness_reason(attribute, f, input.positive_outcome) {
                    level = level.max(HealthLevel::NeedsAttention);
                    let text = with_notes(text, &["below the four-fifths line".to_string()]);
                    reasons.push((RANK_NOTABLE, text));
                }
            }
        }
    }
    if t.requests == 0 && !told.traffic {
        reasons.push((RANK_NOTE, format!("no traffic in {period}")));
    }
    if level == HealthLevel::Healthy && t.requests > 0 {
        let failed = if t.errors == 0 {
            "none failed".to_string()
        } else {
            format!("{} failed", percent(t.error_rate()))
        };
        reasons.insert(
            0,
            (
                0,
                format!(
                    "serving normally ({} requests in {period}, {failed})",
                    count(t.requests)
                ),
            ),
        );
    }
    reasons.sort_by_key(|(rank, _)| *rank);
    Health {
        level,
        reasons: reasons.into_iter().map(|(_, text)| text).collect(),
    }
}

/// The reason an alert gives, in the words of the figure it watches where
/// there are good ones, else "<metric> is <value>, <above> the alert line of
/// <threshold>". Ends with the alert's name and how long it has fired. `None`
/// when an earlier alert already told the same thing.
fn alert_reason(alert: &FiringAlert, input: &HealthInput, told: &mut Told) -> Option<String> {
    let rule = alert.rule;
    let v = alert.value;
    let upward = matches!(rule.comparison, Comparison::Gt | Comparison::Ge);
    let window = period(rule.window_secs);
    let line = format!(
        "{} the alert line of {}",
        rule.comparison.words(),
        format_value(rule.metric.scale(), rule.threshold)
    );
    let mut notes = Vec::new();
    let text = match (&rule.metric, input.report) {
        (MetricRef::TrafficErrorRate, _) if upward => {
            told.errors = true;
            format!("{} of requests failed in {window}", percent(v))
        }
        (MetricRef::TrafficRequests, _) if !upward => {
            told.traffic = true;
            if v == 0.0 {
                format!("no traffic in {window}")
            } else {
                format!("only {} requests in {window}", count(v as u64))
            }
        }
        (MetricRef::LatencyP99Ms, _) if upward => {
            notes.push(line);
            format!(
                "the slowest 1% of requests took {} or longer in {window}",
                milliseconds(v)
            )
        }
        (MetricRef::DriftShare | MetricRef::DriftDataset | MetricRef::DriftPsiMax, Some(r))
            if upward =>
        {
            if told.drift {
                return None;
            }
            match (drift_reason(r), &rule.metric) {
                (Some(text), _) => {
                    told.drift = true;
                    text
                }
                (None, MetricRef::DriftPsiMax) => {
                    let feature = r
                        .features
                        .iter()
                        .filter(|(_, c)| !c.psi.is_nan())
                        .max_by(|a, b| a.1.psi.total_cmp(&b.1.psi))
                        .map(|(name, _)| name.as_str());
                    match feature {
                        Some(feature) => {
                            notes.push(format!("PSI {}, {line}", decimal(v)));
                            format!(
                                "input feature {feature} has shifted away from the training data"
                            )
                        }
                        None => generic(rule, v, line),
                    }
                }
                (None, _) => generic(rule, v, line),
            }
        }
        (
            MetricRef::Fairness {
                scope,
                metric: FairnessMetric::DemographicParityRatio,
            },
            Some(r),
        ) if !upward => {
            let worst = match scope {
                FairnessScope::Attribute(a) => r.fairness.get_key_value(a),
                FairnessScope::Any => r.fairness.iter().min_by(|a, b| {
                    a.1.demographic_parity_ratio
                        .total_cmp(&b.1.demographic_parity_ratio)
                }),
            };
            let four_fifths = rule.comparison == Comparison::Lt && rule.threshold == FOUR_FIFTHS;
            let line = if four_fifths {
                "below the four-fifths line".to_string()
            } else {
                line
            };
            match worst {
                Some((attribute, f)) => {
                    if !told.fairness.insert(attribute.clone()) {
                        return None;
                    }
                    match fairness_reason(attribute, f, input.positive_outcome) {
                        Some(text) => {
                            notes.push(line);
                            text
                        }
                        None => generic(rule, v, line),
                    }
                }
                None => generic(rule, v, line),
            }
        }
        _ => generic(rule, v, line),
    };
    notes.push(format!(
        "alert \"{}\" {}",
        rule.name,
        duration(input.now_secs.saturating_sub(alert.since))
    ));
    if alert.ack {
        notes.push("acknowledged".into());
    }
    Some(with_notes(text, &notes))
}

/// "<metric> is <value>, <above> the alert line of <threshold>"; flags as a
/// statement.
fn generic(rule: &AlertRule, v: f64, line: String) -> String {
    match &rule.metric {
        MetricRef::DriftDataset => format!(
            "the input data as a whole {}",
            if v >= 0.5 {
                "has drifted"
            } else {
                "has not drifted"
            }
        ),
        MetricRef::Feature {
            feature,
            stat: FeatureStat::Drifted,
        } => format!(
            "input feature {feature} {}",
            if v >= 0.5 {
                "has drifted"
            } else {
                "has not drifted"
            }
        ),
        m => format!("{} is {}, {line}", m.describe(), format_value(m.scale(), v)),
    }
}

/// "3 of 22 input features have drifted (income, credit_utilization, age)",
/// most drifted first; `None` when none has.
fn drift_reason(report: &WindowReport) -> Option<String> {
    let total = report.features.len();
    let mut drifted: Vec<_> = report
        .features
        .iter()
        .filter(|(_, c)| c.verdict.drifted)
        .collect();
    if drifted.is_empty() {
        return None;
    }
    let severity = |c: &crate::monitor::ColumnReport| {
        let v = &c.verdict;
        if v.threshold > 0.0 {
            v.score / v.threshold
        } else {
            v.score
        }
    };
    drifted.sort_by(|a, b| severity(b.1).total_cmp(&severity(a.1)));
    let names: Vec<&str> = drifted.iter().map(|(n, _)| n.as_str()).collect();
    let n = names.len();
    let mut text = if total == 1 {
        format!("the only input feature, {}, has drifted", names[0])
    } else if n == 1 {
        format!("1 of {total} input features has drifted ({})", names[0])
    } else if n == total {
        format!("all {n} input features have drifted ({})", list(&names))
    } else {
        format!(
            "{n} of {total} input features have drifted ({})",
            list(&names)
        )
    };
    if report.dataset_drifted == Some(true) {
        text.push_str(": the inputs no longer look like the training data");
    }
    Some(text)
}

/// "treats groups unequally by sex: the approval rate of group F is 72% of
/// group M's". `None` with fewer than two groups.
fn fairness_reason(
    attribute: &str,
    f: &FairnessReport<String>,
    outcome: Option<&str>,
) -> Option<String> {
    if f.by_group.len() < 2 {
        return None;
    }
    let by_rate = |a: &(&String, &crate::stats::fairness::GroupRates),
                   b: &(&String, &crate::stats::fairness::GroupRates)| {
        a.1.selection_rate.total_cmp(&b.1.selection_rate)
    };
    let (low, _) = f.by_group.iter().min_by(by_rate)?;
    let (high, _) = f.by_group.iter().max_by(by_rate)?;
    let rate = match outcome {
        Some(o) => format!("{o} rate"),
        None => "positive-prediction rate".to_string(),
    };
    // Rounded down, so a ratio below the line never reads as on it (79.6% → 79%).
    let ratio = (f.demographic_parity_ratio * 100.0).floor();
    Some(format!(
        "treats groups unequally by {attribute}: the {rate} of group {low} is {ratio}% of group {high}'s"
    ))
}
