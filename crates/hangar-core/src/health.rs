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
    MetricScale, Severity, FOUR_FIFTHS,
};
use crate::monitor::WindowReport;
use crate::stats::FairnessReport;
use crate::window::WindowSummary;

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

/// "a, b, c and 4 others"; "a and b".
fn list(names: &[&str]) -> String {
    const SHOWN: usize = 3;
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        _ if names.len() <= SHOWN => format!(
            "{} and {}",
            names[..names.len() - 1].join(", "),
            names[names.len() - 1]
        ),
        _ => {
            let rest = names.len() - SHOWN;
            format!(
                "{} and {rest} {}",
                names[..SHOWN].join(", "),
                if rest == 1 { "other" } else { "others" }
            )
        }
    }
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

fn with_notes(text: String, notes: &[String]) -> String {
    if notes.is_empty() {
        text
    } else {
        format!("{text} ({})", notes.join("; "))
    }
}

/// "the last hour", "the last 5 minutes", "the last 90 seconds", "the last 2 days".
fn period(secs: u64) -> String {
    let secs = secs.max(1);
    // A match rather than `is_multiple_of`, which needs Rust 1.87.
    let (n, unit) = match (secs % 86_400, secs % 3600, secs % 60) {
        (0, _, _) => (secs / 86_400, "day"),
        (_, 0, _) => (secs / 3600, "hour"),
        (_, _, 0) => (secs / 60, "minute"),
        _ => (secs, "second"),
    };
    if n == 1 {
        format!("the last {unit}")
    } else {
        format!("the last {n} {unit}s")
    }
}

/// "firing for 12 minutes", rounded down.
fn duration(secs: u64) -> String {
    let (n, unit) = if secs < 60 {
        return "firing for less than a minute".to_string();
    } else if secs < 3600 {
        (secs / 60, "minute")
    } else if secs < 86_400 {
        (secs / 3600, "hour")
    } else {
        (secs / 86_400, "day")
    };
    format!("firing for {n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// 12400 → "12,400".
fn count(n: u64) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).unwrap_or_default())
        .collect();
    groups.join(",")
}

/// 0.052 → "5.2%", 0.05 → "5%", 0.0001 → "under 0.1%".
fn percent(x: f64) -> String {
    if x > 0.0 && x < 0.0005 {
        return "under 0.1%".to_string();
    }
    format!("{}%", trim(format!("{:.1}", x * 100.0)))
}

/// Up to two decimals ("0.8", "0.25"); small non-zero values in scientific
/// notation ("1.2e-4") so a p-value never reads as 0.
fn decimal(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.01 {
        format!("{x:.1e}")
    } else {
        trim(format!("{x:.2}"))
    }
}

/// "51.2 ms", "1.6 s"; the last latency bucket has no upper bound.
fn milliseconds(x: f64) -> String {
    if !x.is_finite() {
        "more than 100 s".to_string()
    } else if x >= 1000.0 {
        format!("{} s", trim(format!("{:.1}", x / 1000.0)))
    } else {
        format!("{} ms", trim(format!("{x:.1}")))
    }
}

fn format_value(scale: MetricScale, x: f64) -> String {
    match scale {
        MetricScale::Count => count(x.max(0.0).round() as u64),
        MetricScale::Percent => percent(x),
        MetricScale::Proportion | MetricScale::NonNegative => decimal(x),
        MetricScale::Flag => if x >= 0.5 { "yes" } else { "no" }.to_string(),
        MetricScale::Milliseconds => milliseconds(x),
    }
}

/// "5.0" → "5", "0.80" → "0.8".
fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::default_rules;
    use crate::monitor::ColumnReport;
    use crate::stats::evidently::{ColumnDrift, ColumnKind, DriftTest};
    use crate::stats::fairness::GroupRates;
    use std::collections::BTreeMap;

    const NOW: u64 = 100_000;

    fn traffic(requests: u64, errors: u64) -> WindowSummary {
        WindowSummary {
            requests,
            errors,
            p99_ms: (requests > 0).then_some(12.8),
        }
    }

    fn column(score: f64) -> ColumnReport {
        ColumnReport {
            kind: ColumnKind::Numerical,
            psi: score * 2.0,
            js_distance: 0.0,
            ks_statistic: None,
            ks_pvalue: None,
            wasserstein: None,
            chi2_statistic: None,
            chi2_pvalue: None,
            verdict: ColumnDrift {
                test: DriftTest::WassersteinNormed,
                score,
                threshold: 0.1,
                drifted: score >= 0.1,
                distinct_values: 100,
            },
        }
    }

    fn fairness(rates: &[(&str, f64)]) -> FairnessReport<String> {
        let by_group: BTreeMap<String, GroupRates> = rates
            .iter()
            .map(|(g, r)| {
                (
                    g.to_string(),
                    GroupRates {
                        count: 100,
                        selection_rate: *r,
                        tpr: 0.5,
                        fpr: 0.5,
                    },
                )
            })
            .collect();
        let min = rates.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
        let max = rates.iter().map(|r| r.1).fold(0.0, f64::max);
        FairnessReport {
            by_group,
            demographic_parity_difference: max - min,
            demographic_parity_ratio: min / max,
            equalized_odds_difference: 0.0,
            equalized_odds_ratio: 1.0,
        }
    }

    /// A report with the given drift scores per feature and selection rates
    /// per group of the attribute `sex`.
    fn report(scores: &[(&str, f64)], rates: &[(&str, f64)]) -> WindowReport {
        let features: BTreeMap<String, ColumnReport> = scores
            .iter()
            .map(|(n, s)| (n.to_string(), column(*s)))
            .collect();
        let drifted = features.values().filter(|c| c.verdict.drifted).count();
        let share = drifted as f64 / features.len().max(1) as f64;
        WindowReport {
            rows: 1000,
            labeled_rows: 1000,
            features,
            outputs: BTreeMap::new(),
            drift_share: Some(share),
            dataset_drifted: Some(share >= 0.5),
            performance: None,
            fairness: if rates.is_empty() {
                BTreeMap::new()
            } else {
                BTreeMap::from([("sex".to_string(), fairness(rates))])
            },
            estimated_performance: None,
        }
    }

    fn check(
        traffic: &WindowSummary,
        report: Option<&WindowReport>,
        firing: &[FiringAlert],
        level: HealthLevel,
        reasons: &[&str],
    ) {
        let h = assess(&HealthInput {
            now_secs: NOW,
            traffic,
            traffic_window_secs: 3600,
            report,
            firing,
            positive_outcome: None,
        });
        assert_eq!(h.level, level, "{:#?}", h.reasons);
        assert_eq!(h.reasons, reasons);
    }

    fn firing(rule: &AlertRule, value: f64, minutes: u64) -> FiringAlert<'_> {
        FiringAlert {
            rule,
            value,
            since: NOW - minutes * 60,
            ack: false,
        }
    }

    #[test]
    fn a_quiet_good_deployment_is_healthy() {
        let calm = report(
            &[("income", 0.01), ("age", 0.02)],
            &[("F", 0.5), ("M", 0.52)],
        );
        check(
            &traffic(12_400, 0),
            Some(&calm),
            &[],
            HealthLevel::Healthy,
            &["serving normally (12,400 requests in the last hour, none failed)"],
        );
        check(
            &traffic(1000, 3),
            None,
            &[],
            HealthLevel::Healthy,
            &["serving normally (1,000 requests in the last hour, 0.3% failed)"],
        );
        check(
            &traffic(0, 0),
            None,
            &[],
            HealthLevel::Healthy,
            &["no traffic in the last hour"],
        );
    }

    #[test]
    fn notable_figures_need_attention_without_any_alert() {
        let drifted = report(
            &[
                ("income", 0.3),
                ("credit_utilization", 0.5),
                ("age", 0.01),
                ("tenure", 0.2),
                ("region", 0.12),
                ("a", 0.0),
                ("b", 0.0),
                ("c", 0.0),
                ("d", 0.0),
                ("e", 0.0),
            ],
            &[],
        );
        check(
            &traffic(1000, 52),
            Some(&drifted),
            &[],
            HealthLevel::NeedsAttention,
            &[
                "5.2% of requests failed in the last hour (52 of 1,000)",
                "4 of 10 input features have drifted (credit_utilization, income, tenure and 1 other)",
            ],
        );
        let unfair = report(&[("income", 0.0)], &[("0", 0.5), ("1", 0.36)]);
        check(
            &traffic(1000, 0),
            Some(&unfair),
            &[],
            HealthLevel::NeedsAttention,
            &["treats groups unequally by sex: the positive-prediction rate of group 1 is 72% of group 0's (below the four-fifths line)"],
        );
        let most = report(&[("x", 0.2), ("y", 0.3), ("z", 0.0)], &[]);
        check(
            &traffic(0, 0),
            Some(&most),
            &[],
            HealthLevel::NeedsAttention,
            &[
                "2 of 3 input features have drifted (y and x): the inputs no longer look like the training data",
                "no traffic in the last hour",
            ],
        );
    }

    #[test]
    fn a_critical_alert_fails_the_deployment_in_the_figures_words() {
        let rules = default_rules();
        let [drift, psi, four_fifths, errors] = [&rules[0], &rules[1], &rules[2], &rules[3]];
        let r = report(
            &[("income", 0.3), ("age", 0.4), ("tenure", 0.0)],
            &[("F", 0.36), ("M", 0.5)],
        );
        let alerts = [
            firing(drift, 0.67, 15),
            firing(psi, 0.8, 12),
            firing(errors, 0.082, 3),
            firing(four_fifths, 0.72, 125),
        ];
        check(
            &traffic(1000, 10),
            Some(&r),
            &alerts,
            HealthLevel::Failing,
            &[
                "treats groups unequally by sex: the positive-prediction rate of group F is 72% of group M's (below the four-fifths line; alert \"four-fifths-rule\" firing for 2 hours)",
                "8.2% of requests failed in the last 5 minutes (alert \"error-rate-high\" firing for 3 minutes)",
                "2 of 3 input features have drifted (age and income): the inputs no longer look like the training data (alert \"input-drift\" firing for 15 minutes)",
            ],
        );
    }

    #[test]
    fn other_alerts_read_as_metric_value_and_line() {
        let rule = |metric: &str, comparison, threshold, severity| AlertRule {
            name: "custom".into(),
            deployment: "credit".into(),
            metric: metric.parse().unwrap(),
            comparison,
            threshold,
            window_secs: 600,
            for_secs: 0,
            severity,
            guardrail: false,
        };
        let cases = [
            (
                rule("latency.p99_ms", Comparison::Gt, 500.0, Severity::Warning),
                1638.4,
                HealthLevel::NeedsAttention,
                "the slowest 1% of requests took 1.6 s or longer in the last 10 minutes (above the alert line of 500 ms; alert \"custom\" firing for 1 minute)",
            ),
            (
                rule("estimated_performance.accuracy", Comparison::Lt, 0.85, Severity::Warning),
                0.781,
                HealthLevel::NeedsAttention,
                "estimated accuracy is 78.1%, below the alert line of 85% (alert \"custom\" firing for 1 minute)",
            ),
            (
                rule("traffic.requests", Comparison::Lt, 1.0, Severity::Critical),
                0.0,
                HealthLevel::Failing,
                "no traffic in the last 10 minutes (alert \"custom\" firing for 1 minute)",
            ),
            (
                rule("features.income.ks_pvalue", Comparison::Lt, 0.05, Severity::Info),
                0.0001,
                HealthLevel::Healthy,
                "the Kolmogorov-Smirnov p-value of input feature income is 1.0e-4, below the alert line of 0.05 (alert \"custom\" firing for 1 minute)",
            ),
            (
                rule("features.income.drifted", Comparison::Ge, 1.0, Severity::Warning),
                1.0,
                HealthLevel::NeedsAttention,
                "input feature income has drifted (alert \"custom\" firing for 1 minute)",
            ),
        ];
        for (rule, value, level, reason) in cases {
            let mut alert = firing(&rule, value, 1);
            let h = assess(&HealthInput {
                now_secs: NOW,
                traffic: &traffic(0, 0),
                traffic_window_secs: 3600,
                report: None,
                firing: &[alert],
                positive_outcome: None,
            });
            assert_eq!(h.level, level, "{reason}");
            assert_eq!(h.reasons[0], reason);
            alert.ack = true;
            let h = assess(&HealthInput {
                now_secs: NOW,
                traffic: &traffic(0, 0),
                traffic_window_secs: 3600,
                report: None,
                firing: &[alert],
                positive_outcome: None,
            });
            assert!(
                h.reasons[0].ends_with("firing for 1 minute; acknowledged)"),
                "{}",
                h.reasons[0]
            );
        }
    }

    #[test]
    fn a_psi_alert_without_drifted_features_names_the_shifted_feature() {
        let psi = &default_rules()[1];
        // Scores under Evidently's line, PSI (twice the score here) over 0.25 for income.
        let r = report(&[("income", 0.09), ("age", 0.01)], &[]);
        check(
            &traffic(500, 0),
            Some(&r),
            &[firing(psi, 0.18 + 0.1, 20)],
            HealthLevel::NeedsAttention,
            &["input feature income has shifted away from the training data (PSI 0.28, above the alert line of 0.25; alert \"feature-psi-high\" firing for 20 minutes)"],
        );
        let empty = report(&[], &[]);
        check(
            &traffic(500, 0),
            Some(&empty),
            &[firing(psi, 0.3, 20)],
            HealthLevel::NeedsAttention,
            &["the largest PSI of any input feature is 0.3, above the alert line of 0.25 (alert \"feature-psi-high\" firing for 20 minutes)"],
        );
    }

    #[test]
    fn an_info_alert_is_mentioned_but_keeps_the_deployment_healthy() {
        let mut rule = default_rules()[3].clone();
        rule.severity = Severity::Info;
        check(
            &traffic(100, 2),
            None,
            &[firing(&rule, 0.06, 0)],
            HealthLevel::Healthy,
            &[
                "serving normally (100 requests in the last hour, 2% failed)",
                "6% of requests failed in the last 5 minutes (alert \"error-rate-high\" firing for less than a minute)",
            ],
        );
    }

    #[test]
    fn the_positive_outcome_names_the_rate() {
        let unfair = report(&[], &[("0", 0.5), ("1", 0.3985)]);
        let h = assess(&HealthInput {
            now_secs: NOW,
            traffic: &traffic(10, 0),
            traffic_window_secs: 300,
            report: Some(&unfair),
            firing: &[],
            positive_outcome: Some("approval"),
        });
        assert_eq!(
            h.reasons,
            ["treats groups unequally by sex: the approval rate of group 1 is 79% of group 0's (below the four-fifths line)"]
        );
    }

    #[test]
    fn firing_alerts_come_from_firing_states_only() {
        let rule = &default_rules()[0];
        let cases = [
            (AlertState::Inactive, false),
            (
                AlertState::Pending {
                    since: 1,
                    value: 0.6,
                },
                false,
            ),
            (AlertState::Resolved { at: 1, value: 0.1 }, false),
            (
                AlertState::Firing {
                    since: 1,
                    value: 0.6,
                    ack: true,
                },
                true,
            ),
        ];
        for (state, want) in cases {
            assert_eq!(
                FiringAlert::from_state(rule, &state).is_some(),
                want,
                "{state:?}"
            );
        }
    }

    #[test]
    fn figures_are_worded_for_people() {
        let periods = [
            (3600, "the last hour"),
            (300, "the last 5 minutes"),
            (60, "the last minute"),
            (90, "the last 90 seconds"),
            (86_400, "the last day"),
            (7200, "the last 2 hours"),
            (0, "the last second"),
        ];
        for (secs, want) in periods {
            assert_eq!(period(secs), want);
        }
        let counts = [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1_234_567, "1,234,567"),
        ];
        for (n, want) in counts {
            assert_eq!(count(n), want);
        }
        let percents = [
            (0.052, "5.2%"),
            (0.05, "5%"),
            (0.0, "0%"),
            (1.0, "100%"),
            (0.0001, "under 0.1%"),
        ];
        for (x, want) in percents {
            assert_eq!(percent(x), want);
        }
        let names = [
            (&["a"][..], "a"),
            (&["a", "b"][..], "a and b"),
            (&["a", "b", "c"][..], "a, b and c"),
            (&["a", "b", "c", "d", "e"][..], "a, b, c and 2 others"),
        ];
        for (n, want) in names {
            assert_eq!(list(n), want);
        }
        assert_eq!(milliseconds(f64::INFINITY), "more than 100 s");
        assert_eq!(milliseconds(0.1), "0.1 ms");
        assert_eq!(duration(7199), "firing for 1 hour");
        assert_eq!(duration(3 * 86_400), "firing for 3 days");
    }
}
