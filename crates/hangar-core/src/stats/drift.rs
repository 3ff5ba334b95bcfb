//! Per-column drift of a current window against the baseline: every figure
//! Hangar shows for one column, composed from the binned, categorical and
//! two-sample statistics.

use super::binning::{Histogram, NumericBaseline};
use super::categorical::{chi_squared_2xk, CategoryCounts, ChiSquaredTest};
use super::divergence::{js_distance, psi, LogBase};
use super::sample::{ks_two_sample, wasserstein_distance, KsTest, SortedSample};
use super::StatsError;

/// The figures that need only counts on the baseline's bins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinnedDrift {
    pub psi: f64,
    /// Jensen-Shannon distance, base 2, on the bin proportions.
    pub js_distance: f64,
}

impl BinnedDrift {
    /// From the baseline's counts and a (possibly merged) window's counts on
    /// the same bins.
    pub fn from_counts(reference: &Histogram, current: &Histogram) -> Result<Self, StatsError> {
        Ok(Self {
            psi: psi(reference.counts(), current.counts())?,
            js_distance: js_distance(reference.counts(), current.counts(), LogBase::Two)?,
        })
    }
}

/// Drift of a numeric column.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericDrift {
    pub ks: KsTest,
    pub binned: BinnedDrift,
    pub wasserstein: f64,
    /// The window's counts on the baseline's bins.
    pub current_counts: Histogram,
    pub current_mean: f64,
}

/// All drift figures of a numeric column: the binned ones on `baseline`'s
/// decile bins, and the exact KS test and Wasserstein distance against the raw
/// `reference` values the baseline was profiled from.
pub fn numeric_drift(
    baseline: &NumericBaseline,
    reference: &SortedSample,
    current: &SortedSample,
) -> Result<NumericDrift, StatsError> {
    let current_counts = baseline.histogram(current.values());
    Ok(NumericDrift {
        ks: ks_two_sample(reference, current),
        binned: BinnedDrift::from_counts(&baseline.counts, &current_counts)?,
        wasserstein: wasserstein_distance(reference, current),
        current_counts,
        current_mean: current.mean(),
    })
}

/// Drift of a categorical column, over the categories seen on either side.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoricalDrift<K> {
    pub categories: Vec<K>,
    pub reference_counts: Vec<u64>,
    pub current_counts: Vec<u64>,
    pub chi2: ChiSquaredTest,
    /// PSI on the category proportions (empty categories floored as for bins).
    pub psi: f64,
    /// Jensen-Shannon distance, base 2, on the category proportions.
    pub js_distance: f64,
}

pub fn categorical_drift<K: Ord + Clone>(
    reference: &CategoryCounts<K>,
    current: &CategoryCounts<K>,
) -> Result<CategoricalDrift<K>, StatsError> {
    let (categories, reference_counts, current_counts) = reference.align(current);
    Ok(CategoricalDrift {
        chi2: chi_squared_2xk(&reference_counts, &current_counts)?,
        psi: psi(&reference_counts, &current_counts)?,
        js_distance: js_distance(&reference_counts, &current_counts, LogBase::Two)?,
        categories,
        reference_counts,
        current_counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_identical_to_the_baseline_shows_no_drift() {
        let values: Vec<f64> = (0..1000).map(|i| (i * 37 % 101) as f64).collect();
        let reference = SortedSample::new(values.clone()).unwrap();
        let baseline = NumericBaseline::profile(&reference);
        let d = numeric_drift(&baseline, &reference, &reference).unwrap();
        assert_eq!(d.ks.statistic, 0.0);
        assert_eq!(d.ks.pvalue, 1.0);
        assert_eq!(d.binned.psi, 0.0);
        assert_eq!(d.binned.js_distance, 0.0);
        assert_eq!(d.wasserstein, 0.0);
        assert_eq!(d.current_counts, baseline.counts);
    }

    #[test]
    fn merged_windows_give_the_same_figures_as_one_window() {
        let reference = SortedSample::new((0..500).map(f64::from).collect()).unwrap();
        let baseline = NumericBaseline::profile(&reference);
        let window: Vec<f64> = (0..300).map(|i| f64::from(i) * 1.3).collect();
        let mut merged = baseline.histogram(&window[..120]);
        merged.merge(&baseline.histogram(&window[120..])).unwrap();
        let whole =
            BinnedDrift::from_counts(&baseline.counts, &baseline.histogram(&window)).unwrap();
        assert_eq!(
            BinnedDrift::from_counts(&baseline.counts, &merged).unwrap(),
            whole
        );
    }

    #[test]
    fn categorical_drift_covers_categories_seen_on_either_side() {
        let reference = CategoryCounts::from_values(&["a", "a", "b"]);
        let current = CategoryCounts::from_values(&["b", "c"]);
        let d = categorical_drift(&reference, &current).unwrap();
        assert_eq!(d.categories, vec!["a", "b", "c"]);
        assert_eq!(
            (d.reference_counts, d.current_counts),
            (vec![2, 1, 0], vec![0, 1, 1])
        );
        assert_eq!(d.chi2.dof, 2);
    }
}
