//! The statistics Hangar's monitoring shows — drift, performance, fairness and
//! label-free performance estimation — as pure functions over plain data.
//!
//! Every figure is defined to match a named reference implementation (numpy,
//! scipy, scikit-learn, fairlearn, NannyML, Evidently), checked against the values in
//! `testdata/reference/expected/` by `tests/reference_stats.rs`.
//!
//! **Designed for windows and replicas.** A baseline is profiled once
//! ([`NumericBaseline`]: decile cuts, counts, mean and spread; [`CategoryCounts`]);
//! a monitor then keeps, per window, only a [`Histogram`] on the baseline's bins, a
//! [`CategoryCounts`] or a [`ConfusionMatrix`] per group. All of these are
//! counts, so windows from several replicas merge by addition, and PSI,
//! Jensen-Shannon, chi-squared, performance and fairness figures are computed from
//! the merged counts. Only the Kolmogorov-Smirnov test and the Wasserstein
//! distance need raw values ([`SortedSample`]); they are exact two-sample
//! functions.
//!
//! **Architecture invariant:** no I/O and no panics on bad input; every function
//! that can be handed unusable data returns a [`StatsError`].

pub mod binning;
pub mod categorical;
pub mod cbpe;
pub mod classification;
pub mod divergence;
pub mod drift;
pub mod evidently;
pub mod fairness;
pub mod isotonic;
pub mod kolmogorov;
pub mod regression;
pub mod sample;

pub use binning::{BinEdges, Histogram, NumericBaseline};
pub use categorical::{chi_squared_2xk, CategoryCounts, ChiSquaredTest};
pub use classification::{
    binary_classification_metrics, brier_score, log_loss, roc_auc, ClassificationMetrics,
    ConfusionMatrix,
};
pub use divergence::{js_distance, psi, LogBase, PSI_EPSILON};
pub use drift::{categorical_drift, numeric_drift, BinnedDrift, CategoricalDrift, NumericDrift};
pub use fairness::{fairness_report, FairnessReport, GroupRates};
pub use sample::{ks_two_sample, wasserstein_distance, KsTest, SortedSample};

/// Why a statistic could not be computed from the data it was given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} contains a value that is not a finite number")]
    NonFinite { what: &'static str },
    #[error("{what}: {left} values against {right}")]
    LengthMismatch {
        what: &'static str,
        left: usize,
        right: usize,
    },
    #[error("{what} must be a probability in [0, 1], got {value}")]
    NotAProbability { what: &'static str, value: f64 },
    #[error("bin cuts must be finite and strictly increasing")]
    BadCuts,
    #[error("histograms on different bins: {left} bins against {right}")]
    BinMismatch { left: usize, right: usize },
    #[error("{what} needs at least {needed} rows, got {got}")]
    TooFewRows {
        what: &'static str,
        needed: usize,
        got: usize,
    },
    #[error("{what} needs both classes among the true labels")]
    SingleClass { what: &'static str },
    #[error("Evidently's default tests for a reference of {rows} rows (1000 or fewer) are not implemented")]
    SmallReference { rows: usize },
}

/// Checks that two paired slices have the same length.
fn same_len(what: &'static str, left: usize, right: usize) -> Result<(), StatsError> {
    if left == right {
        Ok(())
    } else {
        Err(StatsError::LengthMismatch { what, left, right })
    }
}
