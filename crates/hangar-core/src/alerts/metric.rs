//! Metric names, what they measure, and their value in a window: the
//! `features.income.psi`-style addresses an alert rule watches.

use std::fmt;
use std::str::FromStr;

use super::{clip, AlertError};
use crate::monitor::{ColumnReport, WindowReport};
use crate::stats::FairnessReport;
use crate::window::WindowSummary;

/// The fairness "attribute" that means the worst case over all attributes.
pub const ANY_ATTRIBUTE: &str = "any";
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
    pub(super) fn check(&self) -> Result<(), String> {
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
