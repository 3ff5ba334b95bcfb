//! Alert rules: the comparison, the severity, the checks a rule must pass,
//! and the rules every deployment gets without writing any.

use std::fmt;
use std::str::FromStr;

use super::{clip, FairnessMetric, FairnessScope, MetricRef, MetricScale};
use crate::name::{validate_name, NameKind};

/// The deployment of a rule that applies to every deployment.
pub const ANY_DEPLOYMENT: &str = "*";
/// The four-fifths rule: a group selected at less than 80% of the rate of the
/// most selected group is treated unequally (US EEOC's adverse-impact line).
pub const FOUR_FIFTHS: f64 = 0.8;
/// The PSI past which an input feature's shift is major: the usual
/// "significant shift" line (below 0.1 stable, 0.1 to 0.25 moderate), and the
/// threshold of the default `feature-psi-high` rule.
pub const PSI_MAJOR: f64 = 0.25;
/// The longest window and hold time a rule may ask for: one week.
pub const MAX_RULE_SECS: u64 = 7 * 24 * 3600;

/// How a value is compared with a rule's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparison {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Comparison {
    pub const ALL: [Comparison; 4] = [
        Comparison::Gt,
        Comparison::Ge,
        Comparison::Lt,
        Comparison::Le,
    ];

    /// The symbol: `>`, `>=`, `<`, `<=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Lt => "<",
            Comparison::Le => "<=",
        }
    }

    /// In words, for people: "above", "at or above", "below", "at or below".
    pub fn words(self) -> &'static str {
        match self {
            Comparison::Gt => "above",
            Comparison::Ge => "at or above",
            Comparison::Lt => "below",
            Comparison::Le => "at or below",
        }
    }

    /// Whether `value` compared with `threshold` holds. NaN never holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Gt => value > threshold,
            Comparison::Ge => value >= threshold,
            Comparison::Lt => value < threshold,
            Comparison::Le => value <= threshold,
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Comparison {
    type Err = AlertError;

    /// The symbols, or `gt`, `ge`, `lt`, `le` (any case) where symbols are
    /// awkward (query strings, YAML keys).
    fn from_str(s: &str) -> Result<Self, AlertError> {
        let s = s.trim();
        Ok(match s.to_ascii_lowercase().as_str() {
            ">" | "gt" => Comparison::Gt,
            ">=" | "ge" => Comparison::Ge,
            "<" | "lt" => Comparison::Lt,
            "<=" | "le" => Comparison::Le,
            _ => return Err(AlertError::UnknownComparison(clip(s))),
        })
    }
}

/// How urgent a firing alert is. Ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing; does not change a deployment's health.
    Info,
    /// The deployment needs attention.
    Warning,
    /// The deployment is failing.
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = AlertError;

    fn from_str(s: &str) -> Result<Self, AlertError> {
        let s = s.trim();
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| AlertError::UnknownSeverity(clip(s)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error("unknown metric {given:?}: {hint}")]
    UnknownMetric { given: String, hint: String },
    #[error("unknown comparison {0:?}: use one of >, >=, <, <= (or gt, ge, lt, le)")]
    UnknownComparison(String),
    #[error("unknown severity {0:?}: use one of info, warning, critical")]
    UnknownSeverity(String),
    #[error("invalid alert rule {rule:?}: {reason}")]
    InvalidRule { rule: String, reason: String },
}

/// A condition on a monitored metric of one deployment, or of every
/// deployment (`deployment = "*"`): "`metric` `comparison` `threshold` over
/// the last `window_secs`, holding for `for_secs`".
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// Unique per deployment; a deployment's own rule overrides a `*` rule of
    /// the same name.
    pub name: String,
    /// A deployment name, or [`ANY_DEPLOYMENT`].
    pub deployment: String,
    pub metric: MetricRef,
    pub comparison: Comparison,
    pub threshold: f64,
    /// The window the metric is computed over, in seconds.
    pub window_secs: u64,
    /// How long the condition must hold before the alert fires (0: at once).
    /// Drift and fairness figures wobble between windows; a hold time keeps a
    /// single odd window from paging anyone.
    pub for_secs: u64,
    pub severity: Severity,
    /// When set, a firing alert on a deployment with a canary is a guardrail
    /// breach: the server rolls the canary back as it does for its built-in
    /// error-rate and latency guardrails.
    pub guardrail: bool,
}

impl AlertRule {
    /// Whether the rule applies to `deployment`.
    pub fn applies_to(&self, deployment: &str) -> bool {
        self.deployment == ANY_DEPLOYMENT || self.deployment == deployment
    }

    /// Whether `value` meets the condition.
    pub fn holds(&self, value: f64) -> bool {
        self.comparison.holds(value, self.threshold)
    }

    /// The condition as written: `traffic.error_rate > 0.05`.
    pub fn condition(&self) -> String {
        format!("{} {} {}", self.metric, self.comparison, self.threshold)
    }

    /// Checks everything a rule's fields cannot express by type, with a
    /// message that says what to write instead.
    pub fn validate(&self) -> Result<(), AlertError> {
        let bad = |reason: String| {
            Err(AlertError::InvalidRule {
                rule: clip(&self.name),
                reason,
            })
        };
        if validate_name(NameKind::Deployment, &self.name).is_err() {
            return bad("a rule name must match [a-z0-9][a-z0-9._-]{0,62} (lower-case letters, digits, '.', '_', '-'; 1 to 63 characters; starting with a letter or digit)".into());
        }
        if self.deployment != ANY_DEPLOYMENT {
            if let Err(e) = validate_name(NameKind::Deployment, &self.deployment) {
                return bad(format!("{e}; use \"*\" for every deployment"));
            }
        }
        if let Err(e) = self.metric.check() {
            return bad(format!("metric {}: {e}", self.metric));
        }
        let t = self.threshold;
        if !t.is_finite() {
            return bad("the threshold must be a finite number".into());
        }
        let scale = self.metric.scale();
        let (lo, hi) = scale.range();
        if t < lo || t > hi {
            let what = match scale {
                MetricScale::Percent => {
                    let hint = if t > 1.0 && t <= 100.0 {
                        format!("; for {t}% write {}", t / 100.0)
                    } else {
                        String::new()
                    };
                    format!("a share from 0 to 1{hint}")
                }
                MetricScale::Proportion => "a number from 0 to 1".into(),
                MetricScale::Flag => "0 or 1".into(),
                MetricScale::Count | MetricScale::Milliseconds | MetricScale::NonNegative => {
                    "never negative".into()
                }
            };
            return bad(format!(
                "threshold {t} is out of range: {} is {what}",
                self.metric
            ));
        }
        let never = match self.comparison {
            Comparison::Gt => t >= hi,
            Comparison::Lt => t <= lo,
            Comparison::Ge | Comparison::Le => false,
        };
        let always = match self.comparison {
            Comparison::Ge => t <= lo,
            Comparison::Le => t >= hi,
            Comparison::Gt | Comparison::Lt => false,
        };
        if never || always {
            let range = if hi.is_finite() {
                format!("ranges from {lo} to {hi}")
            } else {
                "is never negative".to_string()
            };
            return bad(format!(
                "{} is {} true, since {} {range}",
                self.condition(),
                if never { "never" } else { "always" },
                self.metric
            ));
        }
        if self.window_secs == 0 || self.window_secs > MAX_RULE_SECS {
            return bad(format!(
                "window_secs must be 1 to {MAX_RULE_SECS} (one week); it is {}",
                self.window_secs
            ));
        }
        if self.for_secs > MAX_RULE_SECS {
            return bad(format!(
                "for_secs must be 0 to {MAX_RULE_SECS} (one week); it is {}",
                self.for_secs
            ));
        }
        Ok(())
    }
}

/// Names of the rules of [`default_rules`].
pub const RULE_INPUT_DRIFT: &str = "input-drift";
pub const RULE_FEATURE_PSI_HIGH: &str = "feature-psi-high";
pub const RULE_FOUR_FIFTHS: &str = "four-fifths-rule";
pub const RULE_ERROR_RATE_HIGH: &str = "error-rate-high";

/// The rules every deployment has until someone writes their own (all for
/// [`ANY_DEPLOYMENT`]; none acts as a guardrail: rolling back is opt-in).
///
/// - `input-drift`: half or more of the input features drifted over the last
///   hour, for 10 minutes (warning). Evidently's dataset-drift line.
/// - `feature-psi-high`: some input feature's PSI is above [`PSI_MAJOR`] over the last
///   hour, for 10 minutes (warning).
/// - `four-fifths-rule`: for some segment attribute, a group gets the positive
///   prediction at less than four fifths of the rate of the most favoured group,
///   over the last day (fairness needs labelled rows, which come slowly), for an
///   hour (critical).
/// - `error-rate-high`: more than 5% of requests failed over the last
///   5 minutes, for 2 minutes (critical).
pub fn default_rules() -> Vec<AlertRule> {
    let rule =
        |name: &str, metric, comparison, threshold, window_secs, for_secs, severity| AlertRule {
            name: name.to_string(),
            deployment: ANY_DEPLOYMENT.to_string(),
            metric,
            comparison,
            threshold,
            window_secs,
            for_secs,
            severity,
            guardrail: false,
        };
    vec![
        rule(
            RULE_INPUT_DRIFT,
            MetricRef::DriftShare,
            Comparison::Ge,
            0.5,
            3600,
            600,
            Severity::Warning,
        ),
        rule(
            RULE_FEATURE_PSI_HIGH,
            MetricRef::DriftPsiMax,
            Comparison::Gt,
            PSI_MAJOR,
            3600,
            600,
            Severity::Warning,
        ),
        rule(
            RULE_FOUR_FIFTHS,
            MetricRef::Fairness {
                scope: FairnessScope::Any,
                metric: FairnessMetric::DemographicParityRatio,
            },
            Comparison::Lt,
            FOUR_FIFTHS,
            86_400,
            3600,
            Severity::Critical,
        ),
        rule(
            RULE_ERROR_RATE_HIGH,
            MetricRef::TrafficErrorRate,
            Comparison::Gt,
            0.05,
            300,
            120,
            Severity::Critical,
        ),
    ]
}
