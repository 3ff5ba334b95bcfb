//! Alerting as pure domain logic: metrics addressed by stable names, alert
//! rules and their validation, the per-(rule, deployment) state machine, and
//! the rules every deployment gets without writing any.
//!
//! Nothing here reads a clock or a store: the server computes a window's
//! [`WindowReport`] and [`WindowSummary`], asks [`value_of`] for each rule's
//! metric, and advances the rule's [`AlertState`] with [`step`], passing the
//! time in. Events ([`AlertEvent`]) are what it records and notifies.
//!
//! The life of an alert (per rule and deployment), as [`step`] moves it:
//!
//! | from              | the condition…              | to       | event    |
//! |-------------------|-----------------------------|----------|----------|
//! | Inactive/Resolved | holds, `for_secs` = 0       | Firing   | Firing   |
//! | Inactive/Resolved | holds, `for_secs` > 0       | Pending  | Pending  |
//! | Inactive/Resolved | does not hold               | Inactive | —        |
//! | Pending           | has held for `for_secs`     | Firing   | Firing   |
//! | Pending           | holds, not long enough yet  | Pending  | —        |
//! | Pending           | does not hold               | Inactive | —        |
//! | Firing            | holds                       | Firing   | —        |
//! | Firing            | does not hold               | Resolved | Resolved |
//!
//! A missing value (`None`, e.g. no labels yet, no traffic) changes nothing:
//! it neither fires nor resolves, and a pending alert keeps its start time.

use std::fmt;
use std::str::FromStr;

use crate::monitor::{ColumnReport, WindowReport};
use crate::name::{validate_name, NameKind};
use crate::stats::FairnessReport;
use crate::window::WindowSummary;

/// The deployment of a rule that applies to every deployment.
pub const ANY_DEPLOYMENT: &str = "*";
/// The fairness "attribute" that means the worst case over all attributes.
pub const ANY_ATTRIBUTE: &str = "any";
/// The four-fifths rule: a group selected at less than 80% of the rate of the
/// most selected group is treated unequally (US EEOC's adverse-impact line).
pub const FOUR_FIFTHS: f64 = 0.8;
/// The longest window and hold time a rule may ask for: one week.
pub const MAX_RULE_SECS: u64 = 7 * 24 * 3600;
/// Longest feature or attribute name inside a metric name.
pub const MAX_LABEL_LEN: usize = 256;

/// Every metric name, with `<feature>` and `<attribute>` placeholders: for
/// documentation, the OpenAPI description and the dashboard's rule editor.
pub const METRIC_PATTERNS: &[&str] = &[
    "traffic.requests",
    "traffic.error_rate",
    "latency.p99_ms",
    "drift.share",
    "drift.dataset",
    "drift.psi.max",
    "features.<feature>.psi",
    "features.<feature>.js_distance",
    "features.<feature>.ks_statistic",
    "features.<feature>.ks_pvalue",
    "features.<feature>.wasserstein",
    "features.<feature>.chi2_pvalue",
    "features.<feature>.drifted",
    "performance.accuracy",
    "performance.precision",
    "performance.recall",
    "performance.f1",
    "performance.roc_auc",
    "performance.log_loss",
    "performance.brier",
    "estimated_performance.accuracy",
    "estimated_performance.precision",
    "estimated_performance.recall",
    "estimated_performance.f1",
    "estimated_performance.roc_auc",
    "fairness.<attribute>.demographic_parity_ratio",
    "fairness.<attribute>.demographic_parity_difference",
    "fairness.<attribute>.equalized_odds_ratio",
    "fairness.<attribute>.equalized_odds_difference",
    "fairness.any.demographic_parity_ratio",
    "fairness.any.demographic_parity_difference",
    "fairness.any.equalized_odds_ratio",
    "fairness.any.equalized_odds_difference",
];

/// An enum whose variants have stable lower-case names.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stable name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }

            fn names() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// A statistic of one input feature's drift (see [`ColumnReport`]).
    FeatureStat {
        Psi = "psi",
        JsDistance = "js_distance",
        /// Numeric features only.
        KsStatistic = "ks_statistic",
        /// Numeric features only.
        KsPvalue = "ks_pvalue",
        /// Numeric features only; in the feature's own units.
        Wasserstein = "wasserstein",
        /// Categorical features only.
        Chi2Pvalue = "chi2_pvalue",
        /// Evidently's verdict: 1 when drifted, else 0.
        Drifted = "drifted",
    }
}

named_enum! {
    /// A performance figure measured against labels (feedback).
    PerformanceMetric {
        Accuracy = "accuracy",
        Precision = "precision",
        Recall = "recall",
        F1 = "f1",
        RocAuc = "roc_auc",
        LogLoss = "log_loss",
        Brier = "brier",
    }
}

named_enum! {
    /// A performance figure estimated from the model's probabilities (CBPE)
    /// before labels arrive. Log loss and Brier score need labels.
    EstimatedMetric {
        Accuracy = "accuracy",
        Precision = "precision",
        Recall = "recall",
        F1 = "f1",
        RocAuc = "roc_auc",
    }
}

named_enum! {
    /// fairlearn's group fairness figures (see [`FairnessReport`]).
    FairnessMetric {
        DemographicParityRatio = "demographic_parity_ratio",
        DemographicParityDifference = "demographic_parity_difference",
        EqualizedOddsRatio = "equalized_odds_ratio",
        EqualizedOddsDifference = "equalized_odds_difference",
    }
}

impl FairnessMetric {
    /// Ratios are worst when lowest (1 = parity), differences when highest
    /// (0 = parity).
    pub fn lower_is_worse(self) -> bool {
        matches!(
            self,
            FairnessMetric::DemographicParityRatio | FairnessMetric::EqualizedOddsRatio
        )
    }

    fn of(self, r: &FairnessReport<String>) -> f64 {
        match self {
            FairnessMetric::DemographicParityRatio => r.demographic_parity_ratio,
            FairnessMetric::DemographicParityDifference => r.demographic_parity_difference,
            FairnessMetric::EqualizedOddsRatio => r.equalized_odds_ratio,
            FairnessMetric::EqualizedOddsDifference => r.equalized_odds_difference,
        }
    }
}

/// Which segment attribute a fairness metric is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FairnessScope {
    /// The worst case over every attribute (`fairness.any.…`): the minimum of
    /// a ratio, the maximum of a difference. An attribute literally named
    /// `any` is only reachable this way.
    Any,
    Attribute(String),
}

/// A monitored figure, addressed by a stable name (`traffic.error_rate`,
/// `features.income.psi`, `fairness.sex.demographic_parity_ratio`, …; see
/// [`METRIC_PATTERNS`]). Parse with [`str::parse`], print with `Display`; the
/// two round-trip.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MetricRef {
    /// Requests in the window (0 when there were none: never missing).
    TrafficRequests,
    /// Failed requests / requests; missing without traffic.
    TrafficErrorRate,
    /// Upper bound of the latency bucket holding the 99th percentile, in ms.
    LatencyP99Ms,
    /// Share of input features whose drift verdict is "drifted".
    DriftShare,
    /// 1 when the dataset as a whole drifted (share ≥ Evidently's 0.5), else 0.
    DriftDataset,
    /// The largest PSI over the input features.
    DriftPsiMax,
    Feature {
        feature: String,
        stat: FeatureStat,
    },
    Performance(PerformanceMetric),
    EstimatedPerformance(EstimatedMetric),
    Fairness {
        scope: FairnessScope,
        metric: FairnessMetric,
    },
}

/// How a metric's values are read and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricScale {
    /// A count (0 and up), shown as an integer.
    Count,
    /// A share from 0 to 1, shown as a percentage.
    Percent,
    /// A number from 0 to 1, shown as a decimal (ratios, p-values, AUC).
    Proportion,
    /// 0 or 1, shown as no / yes.
    Flag,
    /// Milliseconds (0 and up).
    Milliseconds,
    /// Any number from 0 up (PSI, Wasserstein, log loss).
    NonNegative,
}

impl MetricScale {
    /// The values the metric can take.
    pub fn range(self) -> (f64, f64) {
        match self {
            MetricScale::Percent | MetricScale::Proportion | MetricScale::Flag => (0.0, 1.0),
            MetricScale::Count | MetricScale::Milliseconds | MetricScale::NonNegative => {
                (0.0, f64::INFINITY)
            }
        }
    }
}

impl MetricRef {
    pub fn scale(&self) -> MetricScale {
        use MetricScale::*;
        match self {
            MetricRef::TrafficRequests => Count,
            MetricRef::TrafficErrorRate | MetricRef::DriftShare => Percent,
            MetricRef::LatencyP99Ms => Milliseconds,
            MetricRef::DriftDataset => Flag,
            MetricRef::DriftPsiMax => NonNegative,
            MetricRef::Feature { stat, .. } => match stat {
                FeatureStat::Psi | FeatureStat::Wasserstein => NonNegative,
                FeatureStat::Drifted => Flag,
                FeatureStat::JsDistance
                | FeatureStat::KsStatistic
                | FeatureStat::KsPvalue
                | FeatureStat::Chi2Pvalue => Proportion,
            },
            MetricRef::Performance(m) => match m {
                PerformanceMetric::Accuracy
                | PerformanceMetric::Precision
                | PerformanceMetric::Recall
                | PerformanceMetric::F1 => Percent,
                PerformanceMetric::RocAuc | PerformanceMetric::Brier => Proportion,
                PerformanceMetric::LogLoss => NonNegative,
            },
            MetricRef::EstimatedPerformance(m) => match m {
                EstimatedMetric::RocAuc => Proportion,
                _ => Percent,
            },
            MetricRef::Fairness { .. } => Proportion,
        }
    }

    /// Whether the value comes from the window's [`WindowReport`] (drift,
    /// performance, fairness) rather than its traffic counters, so a server can
    /// skip building a report when no rule needs one.
    pub fn needs_report(&self) -> bool {
        !matches!(
            self,
            MetricRef::TrafficRequests | MetricRef::TrafficErrorRate | MetricRef::LatencyP99Ms
        )
    }

    /// The metric in plain words, for messages shown to people
    /// ("the share of failed requests", "the PSI of input feature income").
    pub fn describe(&self) -> String {
        match self {
            MetricRef::TrafficRequests => "the number of requests".into(),
            MetricRef::TrafficErrorRate => "the share of failed requests".into(),
            MetricRef::LatencyP99Ms => "the 99th-percentile response time".into(),
            MetricRef::DriftShare => "the share of drifted input features".into(),
            MetricRef::DriftDataset => "drift of the input data as a whole".into(),
            MetricRef::DriftPsiMax => "the largest PSI of any input feature".into(),
            MetricRef::Feature { feature, stat } => {
                let what = match stat {
                    FeatureStat::Psi => "the PSI",
                    FeatureStat::JsDistance => "the Jensen-Shannon distance",
                    FeatureStat::KsStatistic => "the Kolmogorov-Smirnov statistic",
                    FeatureStat::KsPvalue => "the Kolmogorov-Smirnov p-value",
                    FeatureStat::Wasserstein => "the Wasserstein distance",
                    FeatureStat::Chi2Pvalue => "the chi-squared p-value",
                    FeatureStat::Drifted => "drift",
                };
                format!("{what} of input feature {feature}")
            }
            MetricRef::Performance(m) => performance_words(m.as_str()).to_string(),
            // Every estimated figure is also a measured one, under the same name.
            MetricRef::EstimatedPerformance(m) => {
                format!("estimated {}", performance_words(m.as_str()))
            }
            MetricRef::Fairness { scope, metric } => {
                let what = match metric {
                    FairnessMetric::DemographicParityRatio => "demographic parity ratio",
                    FairnessMetric::DemographicParityDifference => "demographic parity difference",
                    FairnessMetric::EqualizedOddsRatio => "equalized odds ratio",
                    FairnessMetric::EqualizedOddsDifference => "equalized odds difference",
                };
                match scope {
                    FairnessScope::Attribute(a) => format!("the {what} across {a}"),
                    FairnessScope::Any if metric.lower_is_worse() => {
                        format!("the lowest {what} of any attribute")
                    }
                    FairnessScope::Any => format!("the highest {what} of any attribute"),
                }
            }
        }
    }

    /// Checks the names inside a metric built in code rather than parsed.
    fn check(&self) -> Result<(), String> {
        match self {
            MetricRef::Feature { feature, .. } => check_label("feature", feature),
            MetricRef::Fairness {
                scope: FairnessScope::Attribute(a),
                ..
            } => check_label("attribute", a),
            _ => Ok(()),
        }
    }
}

/// A performance figure's name (`roc_auc`) in words (`ROC AUC`).
fn performance_words(name: &str) -> &'static str {
    match name {
        "accuracy" => "accuracy",
        "precision" => "precision",
        "recall" => "recall",
        "f1" => "F1 score",
        "roc_auc" => "ROC AUC",
        "log_loss" => "log loss",
        _ => "Brier score",
    }
}

fn check_label(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err(format!("the {what} name is empty"))
    } else if name.len() > MAX_LABEL_LEN {
        Err(format!(
            "the {what} name is longer than {MAX_LABEL_LEN} bytes"
        ))
    } else if name.chars().any(char::is_control) {
        Err(format!("the {what} name contains a control character"))
    } else {
        Ok(())
    }
}

/// At most 80 characters of user input, for error messages and logs.
fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

impl fmt::Display for MetricRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricRef::TrafficRequests => f.write_str("traffic.requests"),
            MetricRef::TrafficErrorRate => f.write_str("traffic.error_rate"),
            MetricRef::LatencyP99Ms => f.write_str("latency.p99_ms"),
            MetricRef::DriftShare => f.write_str("drift.share"),
            MetricRef::DriftDataset => f.write_str("drift.dataset"),
            MetricRef::DriftPsiMax => f.write_str("drift.psi.max"),
            MetricRef::Feature { feature, stat } => write!(f, "features.{feature}.{stat}"),
            MetricRef::Performance(m) => write!(f, "performance.{m}"),
            MetricRef::EstimatedPerformance(m) => write!(f, "estimated_performance.{m}"),
            MetricRef::Fairness { scope, metric } => match scope {
                FairnessScope::Any => write!(f, "fairness.{ANY_ATTRIBUTE}.{metric}"),
                FairnessScope::Attribute(a) => write!(f, "fairness.{a}.{metric}"),
            },
        }
    }
}

impl FromStr for MetricRef {
    type Err = AlertError;

    /// Feature and attribute names may contain dots: the statistic is what
    /// follows the last dot.
    fn from_str(s: &str) -> Result<Self, AlertError> {
        let unknown = |hint: String| AlertError::UnknownMetric {
            given: clip(s),
            hint,
        };
        let fixed = match s {
            "traffic.requests" => Some(MetricRef::TrafficRequests),
            "traffic.error_rate" => Some(MetricRef::TrafficErrorRate),
            "latency.p99_ms" => Some(MetricRef::LatencyP99Ms),
            "drift.share" => Some(MetricRef::DriftShare),
            "drift.dataset" => Some(MetricRef::DriftDataset),
            "drift.psi.max" => Some(MetricRef::DriftPsiMax),
            _ => None,
        };
        if let Some(m) = fixed {
            return Ok(m);
        }
        let (family, rest) = s.split_once('.').unwrap_or((s, ""));
        match family {
            "features" => {
                let shape = || {
                    format!(
                        "write features.<feature>.<statistic>, the statistic one of {}",
                        FeatureStat::names()
                    )
                };
                let (feature, stat) = rest.rsplit_once('.').ok_or_else(|| {
                    unknown(if rest.is_empty() || FeatureStat::parse(rest).is_some() {
                        shape()
                    } else {
                        format!(
                            "write features.{}.<statistic>, the statistic one of {}",
                            clip(rest),
                            FeatureStat::names()
                        )
                    })
                })?;
                let stat = FeatureStat::parse(stat).ok_or_else(|| {
                    unknown(format!(
                        "{:?} is not a feature statistic; use one of {}",
                        clip(stat),
                        FeatureStat::names()
                    ))
                })?;
                check_label("feature", feature).map_err(|e| unknown(format!("{e}; {}", shape())))?;
                Ok(MetricRef::Feature {
                    feature: feature.to_string(),
                    stat,
                })
            }
            "performance" => PerformanceMetric::parse(rest)
                .map(MetricRef::Performance)
                .ok_or_else(|| {
                    unknown(format!(
                        "performance figures are {}",
                        PerformanceMetric::names()
                    ))
                }),
            "estimated_performance" => EstimatedMetric::parse(rest)
                .map(MetricRef::EstimatedPerformance)
                .ok_or_else(|| {
                    unknown(format!(
                        "estimated figures are {} (log_loss and brier need labels, so they cannot be estimated)",
                        EstimatedMetric::names()
                    ))
                }),
            "fairness" => {
                let shape = || {
                    format!(
                        "write fairness.<attribute>.<figure> or fairness.any.<figure>, the figure one of {}",
                        FairnessMetric::names()
                    )
                };
                let (attribute, metric) = rest.rsplit_once('.').ok_or_else(|| {
                    unknown(if rest.is_empty() || FairnessMetric::parse(rest).is_some() {
                        shape()
                    } else {
                        format!(
                            "write fairness.{}.<figure>, the figure one of {}",
                            clip(rest),
                            FairnessMetric::names()
                        )
                    })
                })?;
                let metric = FairnessMetric::parse(metric).ok_or_else(|| {
                    unknown(format!(
                        "{:?} is not a fairness figure; use one of {}",
                        clip(metric),
                        FairnessMetric::names()
                    ))
                })?;
                let scope = if attribute == ANY_ATTRIBUTE {
                    FairnessScope::Any
                } else {
                    check_label("attribute", attribute)
                        .map_err(|e| unknown(format!("{e}; {}", shape())))?;
                    FairnessScope::Attribute(attribute.to_string())
                };
                Ok(MetricRef::Fairness { scope, metric })
            }
            "traffic" => Err(unknown(
                "traffic figures are traffic.requests and traffic.error_rate".into(),
            )),
            "latency" => Err(unknown(
                "the recorded latency figure is latency.p99_ms".into(),
            )),
            "drift" => Err(unknown(
                "drift figures are drift.share, drift.dataset and drift.psi.max".into(),
            )),
            _ => Err(unknown(
                "a metric name starts with traffic., latency., drift., features., performance., estimated_performance. or fairness. (e.g. traffic.error_rate)".into(),
            )),
        }
    }
}

/// The value of `metric` for one window, or `None` when it cannot be computed:
/// no traffic (error rate, latency), no report (the version has no baseline,
/// or the window no rows), no labels yet (performance, fairness), a feature or
/// attribute the window does not have, or a statistic that does not apply to
/// the feature's kind (a KS test on a categorical feature). NaN is never
/// returned.
pub fn value_of(
    metric: &MetricRef,
    report: Option<&WindowReport>,
    traffic: &WindowSummary,
) -> Option<f64> {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let v = match metric {
        MetricRef::TrafficRequests => Some(traffic.requests as f64),
        MetricRef::TrafficErrorRate => (traffic.requests > 0).then(|| traffic.error_rate()),
        MetricRef::LatencyP99Ms => traffic.p99_ms,
        MetricRef::DriftShare => report?.drift_share,
        MetricRef::DriftDataset => report?.dataset_drifted.map(flag),
        MetricRef::DriftPsiMax => report?
            .features
            .values()
            .map(|c| c.psi)
            .filter(|p| !p.is_nan())
            .reduce(f64::max),
        MetricRef::Feature { feature, stat } => {
            let c: &ColumnReport = report?.features.get(feature)?;
            match stat {
                FeatureStat::Psi => Some(c.psi),
                FeatureStat::JsDistance => Some(c.js_distance),
                FeatureStat::KsStatistic => c.ks_statistic,
                FeatureStat::KsPvalue => c.ks_pvalue,
                FeatureStat::Wasserstein => c.wasserstein,
                FeatureStat::Chi2Pvalue => c.chi2_pvalue,
                FeatureStat::Drifted => Some(flag(c.verdict.drifted)),
            }
        }
        MetricRef::Performance(m) => {
            let p = report?.performance.as_ref()?;
            match m {
                PerformanceMetric::Accuracy => Some(p.accuracy),
                PerformanceMetric::Precision => Some(p.precision),
                PerformanceMetric::Recall => Some(p.recall),
                PerformanceMetric::F1 => Some(p.f1),
                PerformanceMetric::RocAuc => p.roc_auc,
                PerformanceMetric::LogLoss => Some(p.log_loss),
                PerformanceMetric::Brier => Some(p.brier),
            }
        }
        MetricRef::EstimatedPerformance(m) => {
            let e = report?.estimated_performance.as_ref()?;
            match m {
                EstimatedMetric::Accuracy => Some(e.accuracy),
                EstimatedMetric::Precision => Some(e.precision),
                EstimatedMetric::Recall => Some(e.recall),
                EstimatedMetric::F1 => Some(e.f1),
                EstimatedMetric::RocAuc => e.roc_auc,
            }
        }
        MetricRef::Fairness { scope, metric } => {
            let fairness = &report?.fairness;
            match scope {
                FairnessScope::Attribute(a) => fairness.get(a).map(|r| metric.of(r)),
                FairnessScope::Any => {
                    let values = fairness.values().map(|r| metric.of(r));
                    if metric.lower_is_worse() {
                        values.reduce(f64::min)
                    } else {
                        values.reduce(f64::max)
                    }
                }
            }
        }
    };
    v.filter(|x| !x.is_nan())
}

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
/// - `feature-psi-high`: some input feature's PSI is above 0.25 over the last
///   hour, for 10 minutes (warning). 0.25 is the usual "significant shift" line.
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
            0.25,
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

/// Where one rule stands for one deployment. Times are seconds on the
/// caller's clock (e.g. the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum AlertState {
    /// The condition does not hold (or has never been evaluated).
    #[default]
    Inactive,
    /// The condition has held since `since`, not yet for `for_secs`.
    Pending { since: u64, value: f64 },
    /// The alert fired at `since`; `value` is the latest value. `ack` records
    /// that someone acknowledged it; it changes nothing else.
    Firing { since: u64, value: f64, ack: bool },
    /// The alert stopped firing at `at` with `value`. Lasts until the next
    /// evaluation: Inactive if the condition still does not hold, Pending or
    /// Firing again if it does.
    Resolved { at: u64, value: f64 },
}

impl AlertState {
    /// `inactive`, `pending`, `firing` or `resolved`.
    pub fn name(&self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending { .. } => "pending",
            AlertState::Firing { .. } => "firing",
            AlertState::Resolved { .. } => "resolved",
        }
    }

    pub fn is_firing(&self) -> bool {
        matches!(self, AlertState::Firing { .. })
    }

    /// Marks a firing alert acknowledged; returns false (and changes nothing)
    /// when the alert is not firing. A new firing starts unacknowledged.
    pub fn acknowledge(&mut self) -> bool {
        match self {
            AlertState::Firing { ack, .. } => {
                *ack = true;
                true
            }
            _ => false,
        }
    }
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertEventKind {
    Pending,
    Firing,
    Resolved,
}

impl AlertEventKind {
    /// `pending`, `firing` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertEventKind::Pending => "pending",
            AlertEventKind::Firing => "firing",
            AlertEventKind::Resolved => "resolved",
        }
    }
}

/// A transition worth recording (and, for `Firing` and `Resolved`, notifying):
/// the metric's value and the time it was seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertEvent {
    pub kind: AlertEventKind,
    pub value: f64,
    pub at: u64,
}

/// Advances one rule's state for one deployment with the value seen at
/// `now_secs`.
///
/// - `None` (or NaN) changes nothing: no data neither fires nor resolves.
/// - Inactive or Resolved, condition holds: Firing at once when `for_secs` is
///   0 (event Firing), else Pending (event Pending).
/// - Pending, condition holds for `for_secs` since it started: Firing (event
///   Firing); stops holding: Inactive without an event (it never fired).
/// - Firing, condition holds: stays Firing with the latest value and its `ack`;
///   stops holding: Resolved (event Resolved). There is no hysteresis: the
///   first evaluation that does not hold resolves.
/// - Resolved, condition does not hold: Inactive (no event).
///
/// A clock that steps back counts as no time elapsed.
pub fn step(
    state: AlertState,
    rule: &AlertRule,
    value: Option<f64>,
    now_secs: u64,
) -> (AlertState, Option<AlertEvent>) {
    let Some(value) = value.filter(|v| !v.is_nan()) else {
        return (state, None);
    };
    let event = |kind| {
        Some(AlertEvent {
            kind,
            value,
            at: now_secs,
        })
    };
    let firing = AlertState::Firing {
        since: now_secs,
        value,
        ack: false,
    };
    match (state, rule.holds(value)) {
        (AlertState::Inactive | AlertState::Resolved { .. }, true) => {
            if rule.for_secs == 0 {
                (firing, event(AlertEventKind::Firing))
            } else {
                (
                    AlertState::Pending {
                        since: now_secs,
                        value,
                    },
                    event(AlertEventKind::Pending),
                )
            }
        }
        (AlertState::Inactive | AlertState::Resolved { .. }, false) => (AlertState::Inactive, None),
        (AlertState::Pending { since, .. }, true) => {
            if now_secs.saturating_sub(since) >= rule.for_secs {
                (firing, event(AlertEventKind::Firing))
            } else {
                (AlertState::Pending { since, value }, None)
            }
        }
        (AlertState::Pending { .. }, false) => (AlertState::Inactive, None),
        (AlertState::Firing { since, ack, .. }, true) => {
            (AlertState::Firing { since, value, ack }, None)
        }
        (AlertState::Firing { .. }, false) => (
            AlertState::Resolved {
                at: now_secs,
                value,
            },
            event(AlertEventKind::Resolved),
        ),
    }
}

/// A one-line message for logs and notifications:
/// `[critical] error-rate-high on credit is firing: traffic.error_rate = 0.08 (rule: traffic.error_rate > 0.05 over 300 s)`.
pub fn event_message(rule: &AlertRule, deployment: &str, event: &AlertEvent) -> String {
    format!(
        "[{}] {} on {} is {}: {} = {} (rule: {} over {} s)",
        rule.severity,
        rule.name,
        deployment,
        event.kind.as_str(),
        rule.metric,
        event.value,
        rule.condition(),
        rule.window_secs
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::cbpe::CbpeEstimate;
    use crate::stats::evidently::{ColumnDrift, ColumnKind, DriftTest};
    use crate::stats::fairness::GroupRates;
    use std::collections::BTreeMap;

    fn metric(s: &str) -> MetricRef {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn every_metric_pattern_parses_and_prints_back() {
        for pattern in METRIC_PATTERNS {
            let name = pattern
                .replace("<feature>", "credit.utilization")
                .replace("<attribute>", "sex");
            assert_eq!(metric(&name).to_string(), name);
        }
    }

    #[test]
    fn metric_names_parse_to_their_parts() {
        let cases = [
            ("traffic.requests", MetricRef::TrafficRequests),
            ("latency.p99_ms", MetricRef::LatencyP99Ms),
            ("drift.psi.max", MetricRef::DriftPsiMax),
            (
                "features.a.b.psi",
                MetricRef::Feature {
                    feature: "a.b".into(),
                    stat: FeatureStat::Psi,
                },
            ),
            (
                "features.Annual Income.drifted",
                MetricRef::Feature {
                    feature: "Annual Income".into(),
                    stat: FeatureStat::Drifted,
                },
            ),
            (
                "performance.roc_auc",
                MetricRef::Performance(PerformanceMetric::RocAuc),
            ),
            (
                "estimated_performance.f1",
                MetricRef::EstimatedPerformance(EstimatedMetric::F1),
            ),
            (
                "fairness.any.equalized_odds_difference",
                MetricRef::Fairness {
                    scope: FairnessScope::Any,
                    metric: FairnessMetric::EqualizedOddsDifference,
                },
            ),
            (
                "fairness.age_band.demographic_parity_ratio",
                MetricRef::Fairness {
                    scope: FairnessScope::Attribute("age_band".into()),
                    metric: FairnessMetric::DemographicParityRatio,
                },
            ),
        ];
        for (s, want) in cases {
            assert_eq!(metric(s), want, "{s}");
        }
    }

    #[test]
    fn unknown_metrics_say_what_to_write() {
        let cases = [
            ("", "a metric name starts with"),
            ("cpu.load", "a metric name starts with"),
            ("traffic.qps", "traffic.requests and traffic.error_rate"),
            ("latency.p50_ms", "latency.p99_ms"),
            ("drift.psi", "drift.psi.max"),
            (
                "features.income",
                "write features.income.<statistic>, the statistic one of psi",
            ),
            ("features.psi", "write features.<feature>.<statistic>"),
            ("fairness.sex", "write fairness.sex.<figure>"),
            (
                "features.income.mean",
                "\"mean\" is not a feature statistic",
            ),
            ("features..psi", "the feature name is empty"),
            ("features", "write features.<feature>.<statistic>"),
            ("performance.auc", "performance figures are accuracy"),
            ("estimated_performance.log_loss", "need labels"),
            ("fairness.sex.ratio", "\"ratio\" is not a fairness figure"),
            (".demographic_parity_ratio", "a metric name starts with"),
            (
                "fairness..demographic_parity_ratio",
                "the attribute name is empty",
            ),
            (
                "fairness.demographic_parity_ratio",
                "write fairness.<attribute>",
            ),
            ("Traffic.Requests", "a metric name starts with"),
        ];
        for (s, want) in cases {
            let err = s.parse::<MetricRef>().unwrap_err().to_string();
            assert!(err.contains(want), "{s:?}: {err}");
        }
    }

    #[test]
    fn comparisons_and_severities_parse_and_print() {
        for c in Comparison::ALL {
            assert_eq!(c.as_str().parse::<Comparison>(), Ok(c));
        }
        let words = [
            ("gt", Comparison::Gt),
            ("GE", Comparison::Ge),
            (" lt ", Comparison::Lt),
            ("le", Comparison::Le),
        ];
        for (s, want) in words {
            assert_eq!(s.parse::<Comparison>(), Ok(want), "{s:?}");
        }
        for s in ["=", "==", "=>", "above", ""] {
            assert!(
                matches!(
                    s.parse::<Comparison>(),
                    Err(AlertError::UnknownComparison(_))
                ),
                "{s:?}"
            );
        }
        for s in Severity::ALL {
            assert_eq!(s.to_string().parse::<Severity>(), Ok(s));
        }
        assert_eq!("Critical".parse::<Severity>(), Ok(Severity::Critical));
        assert_eq!(
            "page".parse::<Severity>().unwrap_err().to_string(),
            "unknown severity \"page\": use one of info, warning, critical"
        );
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
    }

    #[test]
    fn comparisons_hold_as_written() {
        let cases = [
            (Comparison::Gt, 0.5, false),
            (Comparison::Gt, 0.6, true),
            (Comparison::Ge, 0.5, true),
            (Comparison::Ge, 0.4, false),
            (Comparison::Lt, 0.5, false),
            (Comparison::Lt, 0.4, true),
            (Comparison::Le, 0.5, true),
            (Comparison::Le, 0.6, false),
            (Comparison::Gt, f64::NAN, false),
            (Comparison::Le, f64::NAN, false),
        ];
        for (c, v, want) in cases {
            assert_eq!(c.holds(v, 0.5), want, "{v} {c} 0.5");
        }
    }

    fn rule(metric: &str, comparison: Comparison, threshold: f64) -> AlertRule {
        AlertRule {
            name: "r".into(),
            deployment: "credit".into(),
            metric: self::metric(metric),
            comparison,
            threshold,
            window_secs: 60,
            for_secs: 0,
            severity: Severity::Warning,
            guardrail: false,
        }
    }

    #[test]
    fn default_rules_are_valid_and_apply_everywhere() {
        let rules = default_rules();
        let names: Vec<_> = rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                RULE_INPUT_DRIFT,
                RULE_FEATURE_PSI_HIGH,
                RULE_FOUR_FIFTHS,
                RULE_ERROR_RATE_HIGH
            ]
        );
        let conditions: Vec<_> = rules.iter().map(AlertRule::condition).collect();
        assert_eq!(
            conditions,
            [
                "drift.share >= 0.5",
                "drift.psi.max > 0.25",
                "fairness.any.demographic_parity_ratio < 0.8",
                "traffic.error_rate > 0.05"
            ]
        );
        for r in &rules {
            assert_eq!(r.validate(), Ok(()), "{}", r.name);
            assert!(r.applies_to("credit") && r.applies_to("fraud"));
            assert!(!r.guardrail);
        }
        let severities: Vec<_> = rules.iter().map(|r| r.severity).collect();
        use Severity::*;
        assert_eq!(severities, [Warning, Warning, Critical, Critical]);
    }

    #[test]
    fn a_rule_for_one_deployment_applies_only_to_it() {
        let r = rule("traffic.requests", Comparison::Lt, 1.0);
        assert!(r.applies_to("credit"));
        assert!(!r.applies_to("fraud"));
    }

    #[test]
    fn invalid_rules_are_refused_with_a_reason() {
        type Edit = fn(&mut AlertRule);
        let cases: [(&str, Edit, &str); 17] = [
            ("valid", |_| {}, ""),
            ("bad name", |r| r.name = "High Errors".into(), "a rule name must match"),
            ("empty name", |r| r.name.clear(), "a rule name must match"),
            ("bad deployment", |r| r.deployment = "Credit/1".into(), "invalid deployment name \"Credit/1\""),
            ("every deployment", |r| r.deployment = "*".into(), ""),
            ("nan threshold", |r| r.threshold = f64::NAN, "finite number"),
            ("infinite threshold", |r| r.threshold = f64::INFINITY, "finite number"),
            ("percent written as 5", |r| r.threshold = 5.0, "threshold 5 is out of range: traffic.error_rate is a share from 0 to 1; for 5% write 0.05"),
            ("negative", |r| r.threshold = -0.1, "out of range"),
            ("never true", |r| r.threshold = 1.0, "traffic.error_rate > 1 is never true"),
            ("always true", |r| {
                r.comparison = Comparison::Ge;
                r.threshold = 0.0;
            }, "traffic.error_rate >= 0 is always true"),
            ("zero window", |r| r.window_secs = 0, "window_secs must be 1 to 604800"),
            ("long window", |r| r.window_secs = MAX_RULE_SECS + 1, "window_secs must be 1 to 604800"),
            ("long hold", |r| r.for_secs = MAX_RULE_SECS + 1, "for_secs must be 0 to 604800"),
            ("empty feature in code", |r| r.metric = MetricRef::Feature { feature: String::new(), stat: FeatureStat::Psi }, "the feature name is empty"),
            ("flag threshold", |r| {
                r.metric = MetricRef::DriftDataset;
                r.comparison = Comparison::Ge;
                r.threshold = 2.0;
            }, "drift.dataset is 0 or 1"),
            ("unbounded metric accepts large thresholds", |r| {
                r.metric = MetricRef::LatencyP99Ms;
                r.threshold = 5000.0;
            }, ""),
        ];
        for (case, edit, want) in cases {
            let mut r = rule("traffic.error_rate", Comparison::Gt, 0.05);
            edit(&mut r);
            match r.validate() {
                Ok(()) => assert_eq!(want, "", "{case}: accepted"),
                Err(e) => {
                    let e = e.to_string();
                    assert!(!want.is_empty() && e.contains(want), "{case}: {e}");
                    assert!(e.starts_with("invalid alert rule"), "{case}: {e}");
                }
            }
        }
    }

    const T0: u64 = 1_000;

    /// Runs `values` (time, value) through `step` from `Inactive` and returns
    /// the final state and the events.
    fn run(
        r: &AlertRule,
        values: &[(u64, Option<f64>)],
    ) -> (AlertState, Vec<(AlertEventKind, u64)>) {
        let mut state = AlertState::Inactive;
        let mut events = Vec::new();
        for &(t, v) in values {
            let (next, event) = step(state, r, v, t);
            state = next;
            events.extend(event.map(|e| (e.kind, e.at)));
        }
        (state, events)
    }

    #[test]
    fn each_transition_of_the_state_machine() {
        use AlertEventKind::{Firing as F, Pending as P, Resolved as R};
        let hold = {
            let mut r = rule("traffic.error_rate", Comparison::Gt, 0.05);
            r.for_secs = 60;
            r
        };
        let at_once = rule("traffic.error_rate", Comparison::Gt, 0.05);
        let (hi, lo) = (Some(0.1), Some(0.01));
        type Case<'a> = (
            &'a str,
            &'a AlertRule,
            Vec<(u64, Option<f64>)>,
            &'a str,
            Vec<(AlertEventKind, u64)>,
        );
        let cases: Vec<Case> = vec![
            ("stays inactive", &hold, vec![(T0, lo)], "inactive", vec![]),
            (
                "pending first",
                &hold,
                vec![(T0, hi)],
                "pending",
                vec![(P, T0)],
            ),
            (
                "not yet for_secs",
                &hold,
                vec![(T0, hi), (T0 + 59, hi)],
                "pending",
                vec![(P, T0)],
            ),
            (
                "fires after for_secs",
                &hold,
                vec![(T0, hi), (T0 + 60, hi)],
                "firing",
                vec![(P, T0), (F, T0 + 60)],
            ),
            (
                "pending clears silently",
                &hold,
                vec![(T0, hi), (T0 + 30, lo)],
                "inactive",
                vec![(P, T0)],
            ),
            (
                "pending restarts after clearing",
                &hold,
                vec![(T0, hi), (T0 + 30, lo), (T0 + 61, hi), (T0 + 90, hi)],
                "pending",
                vec![(P, T0), (P, T0 + 61)],
            ),
            (
                "for_secs 0 fires at once",
                &at_once,
                vec![(T0, hi)],
                "firing",
                vec![(F, T0)],
            ),
            (
                "firing stays firing",
                &at_once,
                vec![(T0, hi), (T0 + 10, hi)],
                "firing",
                vec![(F, T0)],
            ),
            (
                "resolves",
                &at_once,
                vec![(T0, hi), (T0 + 10, lo)],
                "resolved",
                vec![(F, T0), (R, T0 + 10)],
            ),
            (
                "resolved then inactive",
                &at_once,
                vec![(T0, hi), (T0 + 10, lo), (T0 + 20, lo)],
                "inactive",
                vec![(F, T0), (R, T0 + 10)],
            ),
            (
                "fires again after resolving",
                &at_once,
                vec![(T0, hi), (T0 + 10, lo), (T0 + 20, hi)],
                "firing",
                vec![(F, T0), (R, T0 + 10), (F, T0 + 20)],
            ),
            (
                "resolved goes pending with a hold",
                &hold,
                vec![(T0, hi), (T0 + 60, hi), (T0 + 70, lo), (T0 + 80, hi)],
                "pending",
                vec![(P, T0), (F, T0 + 60), (R, T0 + 70), (P, T0 + 80)],
            ),
            (
                "none does not fire",
                &at_once,
                vec![(T0, None)],
                "inactive",
                vec![],
            ),
            (
                "none does not resolve",
                &at_once,
                vec![(T0, hi), (T0 + 10, None)],
                "firing",
                vec![(F, T0)],
            ),
            (
                "nan counts as none",
                &at_once,
                vec![(T0, hi), (T0 + 10, Some(f64::NAN))],
                "firing",
                vec![(F, T0)],
            ),
            (
                "none keeps pending's start",
                &hold,
                vec![(T0, hi), (T0 + 30, None), (T0 + 60, hi)],
                "firing",
                vec![(P, T0), (F, T0 + 60)],
            ),
            (
                "none keeps resolved",
                &at_once,
                vec![(T0, hi), (T0 + 10, lo), (T0 + 20, None)],
                "resolved",
                vec![(F, T0), (R, T0 + 10)],
            ),
            (
                "clock stepping back",
                &hold,
                vec![(T0, hi), (T0 - 100, hi)],
                "pending",
                vec![(P, T0)],
            ),
        ];
        for (case, r, values, state, events) in cases {
            let (got_state, got_events) = run(r, &values);
            assert_eq!(got_state.name(), state, "{case}");
            assert_eq!(got_events, events, "{case}");
        }
    }

    #[test]
    fn events_and_states_carry_the_value_and_time() {
        let r = rule("traffic.error_rate", Comparison::Gt, 0.05);
        let (s, e) = step(AlertState::Inactive, &r, Some(0.1), T0);
        assert_eq!(
            s,
            AlertState::Firing {
                since: T0,
                value: 0.1,
                ack: false
            }
        );
        assert_eq!(
            e,
            Some(AlertEvent {
                kind: AlertEventKind::Firing,
                value: 0.1,
                at: T0
            })
        );
        let (s, e) = step(s, &r, Some(0.2), T0 + 5);
        assert_eq!(
            s,
            AlertState::Firing {
                since: T0,
                value: 0.2,
                ack: false
            }
        );
        assert_eq!(e, None);
        let (s, e) = step(s, &r, Some(0.0), T0 + 9);
        assert_eq!(
            s,
            AlertState::Resolved {
                at: T0 + 9,
                value: 0.0
            }
        );
        assert_eq!(
            e.map(|e| (e.kind, e.value)),
            Some((AlertEventKind::Resolved, 0.0))
        );
    }

    #[test]
    fn acknowledging_marks_a_firing_alert_and_nothing_else() {
        let r = rule("traffic.error_rate", Comparison::Gt, 0.05);
        let mut pending = AlertState::Pending {
            since: T0,
            value: 0.1,
        };
        assert!(!pending.acknowledge());
        assert!(!AlertState::Inactive.acknowledge());
        let (mut s, _) = step(AlertState::Inactive, &r, Some(0.1), T0);
        assert!(s.acknowledge());
        assert!(s.is_firing());
        let (s, e) = step(s, &r, Some(0.3), T0 + 1);
        assert_eq!(
            (s, e),
            (
                AlertState::Firing {
                    since: T0,
                    value: 0.3,
                    ack: true
                },
                None
            ),
            "the acknowledgement survives while firing"
        );
        let (s, _) = step(s, &r, Some(0.0), T0 + 2);
        let (s, _) = step(s, &r, Some(0.3), T0 + 3);
        assert_eq!(
            s,
            AlertState::Firing {
                since: T0 + 3,
                value: 0.3,
                ack: false
            },
            "a new firing starts unacknowledged"
        );
    }

    fn column(psi: f64, drifted: bool, numeric: bool) -> ColumnReport {
        ColumnReport {
            kind: if numeric {
                ColumnKind::Numerical
            } else {
                ColumnKind::Categorical
            },
            psi,
            js_distance: 0.1,
            ks_statistic: numeric.then_some(0.2),
            ks_pvalue: numeric.then_some(0.03),
            wasserstein: numeric.then_some(1.5),
            chi2_statistic: (!numeric).then_some(9.0),
            chi2_pvalue: (!numeric).then_some(0.01),
            verdict: ColumnDrift {
                test: DriftTest::JensenShannon,
                score: 0.2,
                threshold: 0.1,
                drifted,
                distinct_values: 10,
            },
        }
    }

    fn fairness(
        dp_ratio: f64,
        dp_diff: f64,
        eo_ratio: f64,
        eo_diff: f64,
    ) -> FairnessReport<String> {
        FairnessReport {
            by_group: BTreeMap::from([(
                "a".to_string(),
                GroupRates {
                    count: 10,
                    selection_rate: 0.5,
                    tpr: 0.5,
                    fpr: 0.5,
                },
            )]),
            demographic_parity_difference: dp_diff,
            demographic_parity_ratio: dp_ratio,
            equalized_odds_difference: eo_diff,
            equalized_odds_ratio: eo_ratio,
        }
    }

    #[test]
    fn values_come_from_the_report_and_the_traffic() {
        let report = WindowReport {
            rows: 100,
            labeled_rows: 0,
            features: BTreeMap::from([
                ("income".to_string(), column(0.31, true, true)),
                ("region".to_string(), column(0.02, false, false)),
            ]),
            outputs: BTreeMap::new(),
            drift_share: Some(0.5),
            dataset_drifted: Some(true),
            performance: None,
            fairness: BTreeMap::from([
                ("sex".to_string(), fairness(0.7, 0.2, 0.9, 0.05)),
                ("age".to_string(), fairness(0.9, 0.1, 0.6, 0.3)),
            ]),
            estimated_performance: Some(CbpeEstimate {
                accuracy: 0.9,
                precision: 0.8,
                recall: 0.7,
                f1: 0.75,
                roc_auc: None,
            }),
        };
        let traffic = WindowSummary {
            requests: 200,
            errors: 10,
            p99_ms: Some(12.8),
        };
        let quiet = WindowSummary {
            requests: 0,
            errors: 0,
            p99_ms: None,
        };
        let r = Some(&report);
        let cases: [(&str, Option<&WindowReport>, &WindowSummary, Option<f64>); 24] = [
            ("traffic.requests", r, &traffic, Some(200.0)),
            ("traffic.requests", None, &quiet, Some(0.0)),
            ("traffic.error_rate", None, &traffic, Some(0.05)),
            ("traffic.error_rate", r, &quiet, None),
            ("latency.p99_ms", None, &traffic, Some(12.8)),
            ("latency.p99_ms", r, &quiet, None),
            ("drift.share", r, &traffic, Some(0.5)),
            ("drift.share", None, &traffic, None),
            ("drift.dataset", r, &traffic, Some(1.0)),
            ("drift.psi.max", r, &traffic, Some(0.31)),
            ("features.income.psi", r, &traffic, Some(0.31)),
            ("features.income.drifted", r, &traffic, Some(1.0)),
            ("features.region.drifted", r, &traffic, Some(0.0)),
            ("features.income.ks_pvalue", r, &traffic, Some(0.03)),
            ("features.region.ks_pvalue", r, &traffic, None),
            ("features.region.chi2_pvalue", r, &traffic, Some(0.01)),
            ("features.age.psi", r, &traffic, None),
            ("performance.accuracy", r, &traffic, None),
            ("estimated_performance.recall", r, &traffic, Some(0.7)),
            ("estimated_performance.roc_auc", r, &traffic, None),
            (
                "fairness.sex.demographic_parity_ratio",
                r,
                &traffic,
                Some(0.7),
            ),
            (
                "fairness.any.demographic_parity_ratio",
                r,
                &traffic,
                Some(0.7),
            ),
            ("fairness.any.equalized_odds_ratio", r, &traffic, Some(0.6)),
            (
                "fairness.any.demographic_parity_difference",
                r,
                &traffic,
                Some(0.2),
            ),
        ];
        for (name, report, traffic, want) in cases {
            assert_eq!(value_of(&metric(name), report, traffic), want, "{name}");
        }
        let empty = WindowReport {
            features: BTreeMap::new(),
            fairness: BTreeMap::new(),
            ..report.clone()
        };
        for name in ["drift.psi.max", "fairness.any.demographic_parity_ratio"] {
            assert_eq!(
                value_of(&metric(name), Some(&empty), &traffic),
                None,
                "{name}"
            );
        }
    }

    #[test]
    fn only_traffic_metrics_do_without_a_report() {
        for pattern in METRIC_PATTERNS {
            let m = metric(
                &pattern
                    .replace("<feature>", "x")
                    .replace("<attribute>", "g"),
            );
            assert_eq!(
                m.needs_report(),
                !pattern.starts_with("traffic.") && !pattern.starts_with("latency."),
                "{pattern}"
            );
        }
    }

    #[test]
    fn event_messages_name_rule_deployment_and_value() {
        let r = &default_rules()[3];
        let e = AlertEvent {
            kind: AlertEventKind::Firing,
            value: 0.08,
            at: T0,
        };
        assert_eq!(
            event_message(r, "credit", &e),
            "[critical] error-rate-high on credit is firing: traffic.error_rate = 0.08 (rule: traffic.error_rate > 0.05 over 300 s)"
        );
    }
}
