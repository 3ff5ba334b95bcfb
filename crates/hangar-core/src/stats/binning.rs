//! Baseline bins for a numeric column: decile cuts taken from the baseline
//! (numpy's linear quantile), and per-window histograms on those cuts that merge
//! by addition across windows and replicas.

use super::sample::SortedSample;
use super::StatsError;

/// numpy's `quantile(sorted, q, method='linear')` on an already sorted,
/// non-empty slice, with the same floating-point steps (virtual index
/// (n−1)·q, and numpy's two-sided `_lerp`).
pub fn quantile_linear(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let virtual_index = (n as f64 - 1.0) * q;
    if virtual_index >= n as f64 - 1.0 {
        return sorted[n - 1];
    }
    if virtual_index < 0.0 {
        return sorted[0];
    }
    let previous = virtual_index.floor();
    let gamma = virtual_index - previous;
    let (a, b) = (sorted[previous as usize], sorted[previous as usize + 1]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

/// Bin cuts c1 < … < ck. A value x falls in bin `#{cuts ≤ x}` (numpy's
/// `searchsorted(cuts, x, side='right')`), so the bins are (−∞, c1), [c1, c2), …,
/// [ck, +∞): k + 1 bins.
#[derive(Debug, Clone, PartialEq)]
pub struct BinEdges {
    cuts: Vec<f64>,
}

impl BinEdges {
    pub fn from_cuts(cuts: Vec<f64>) -> Result<Self, StatsError> {
        let increasing = cuts.windows(2).all(|w| w[0] < w[1]);
        if !increasing || cuts.iter().any(|c| !c.is_finite()) {
            return Err(StatsError::BadCuts);
        }
        Ok(Self { cuts })
    }

    /// `unique(quantile(baseline, [0.1, …, 0.9], method='linear'))`: ten bins of
    /// about equal baseline mass, fewer where deciles coincide (integer-valued or
    /// heavily tied columns).
    pub fn deciles(baseline: &SortedSample) -> Self {
        let mut cuts: Vec<f64> = (1..10)
            .map(|k| quantile_linear(baseline.values(), k as f64 / 10.0))
            .collect();
        cuts.dedup();
        Self { cuts }
    }

    pub fn cuts(&self) -> &[f64] {
        &self.cuts
    }

    pub fn bins(&self) -> usize {
        self.cuts.len() + 1
    }

    /// The bin of `x`. Callers drop missing values first (a NaN would land in
    /// the first bin).
    pub fn bin_of(&self, x: f64) -> usize {
        self.cuts.partition_point(|&c| c <= x)
    }

    /// Counts of `values` on these bins.
    pub fn histogram(&self, values: &[f64]) -> Histogram {
        let mut h = Histogram::empty(self.bins());
        for &x in values {
            h.counts[self.bin_of(x)] += 1;
        }
        h
    }
}

/// Counts per bin. Histograms on the same bins add up: a window merged from
/// several replicas is the sum of their histograms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
}

impl Histogram {
    pub fn empty(bins: usize) -> Self {
        Self {
            counts: vec![0; bins],
        }
    }

    pub fn from_counts(counts: Vec<u64>) -> Self {
        Self { counts }
    }

    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Counts saturate rather than wrap or panic: stored aggregates are read
    /// back and merged, and a damaged one must not take a report down.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |t, &n| t.saturating_add(n))
    }

    /// Adds one value's bin (from [`BinEdges::bin_of`]); out-of-range bins are
    /// refused rather than ignored.
    pub fn record(&mut self, bin: usize) -> Result<(), StatsError> {
        let bins = self.counts.len();
        let slot = self.counts.get_mut(bin).ok_or(StatsError::BinMismatch {
            left: bins,
            right: bin + 1,
        })?;
        *slot = slot.saturating_add(1);
        Ok(())
    }

    /// Adds another histogram on the same bins into this one.
    pub fn merge(&mut self, other: &Histogram) -> Result<(), StatsError> {
        if self.counts.len() != other.counts.len() {
            return Err(StatsError::BinMismatch {
                left: self.counts.len(),
                right: other.counts.len(),
            });
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
        Ok(())
    }
}

/// What a monitor keeps about a numeric column of the baseline: its decile
/// bins and counts on them, and its mean and spread.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericBaseline {
    pub edges: BinEdges,
    pub counts: Histogram,
    pub n: u64,
    pub mean: f64,
    /// Population standard deviation (ddof = 0).
    pub std: f64,
}

impl NumericBaseline {
    pub fn profile(baseline: &SortedSample) -> Self {
        let edges = BinEdges::deciles(baseline);
        let counts = edges.histogram(baseline.values());
        Self {
            edges,
            counts,
            n: baseline.len() as u64,
            mean: baseline.mean(),
            std: baseline.std_population(),
        }
    }

    /// A window's counts on the baseline's bins.
    pub fn histogram(&self, values: &[f64]) -> Histogram {
        self.edges.histogram(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_numpy_linear() {
        let s = [1.0, 2.0, 4.0, 8.0];
        // numpy.quantile([1,2,4,8], [0, .1, .5, .9, 1]) == [1, 1.3, 3, 6.8, 8]
        let got: Vec<f64> = [0.0, 0.1, 0.5, 0.9, 1.0]
            .iter()
            .map(|&q| quantile_linear(&s, q))
            .collect();
        let want = [1.0, 1.3, 3.0, 6.8, 8.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn tied_deciles_collapse_into_fewer_bins() {
        let values: Vec<f64> = (0..100).map(|i| (i % 3) as f64).collect();
        let edges = BinEdges::deciles(&SortedSample::new(values.clone()).unwrap());
        assert_eq!(edges.cuts(), &[0.0, 1.0, 2.0]);
        // Right-closed search: a value equal to a cut goes above it.
        assert_eq!(edges.bin_of(-1.0), 0);
        assert_eq!(edges.bin_of(0.0), 1);
        assert_eq!(edges.bin_of(2.0), 3);
        assert_eq!(edges.histogram(&values).counts(), &[0, 34, 33, 33]);
    }

    #[test]
    fn histograms_merge_by_addition_and_refuse_other_bins() {
        let mut a = Histogram::from_counts(vec![1, 2, 3]);
        a.merge(&Histogram::from_counts(vec![4, 5, 6])).unwrap();
        assert_eq!(a.counts(), &[5, 7, 9]);
        assert_eq!(a.total(), 21);
        assert_eq!(
            a.merge(&Histogram::empty(2)),
            Err(StatsError::BinMismatch { left: 3, right: 2 })
        );
        assert!(a.record(3).is_err());
        a.record(0).unwrap();
        assert_eq!(a.counts()[0], 6);
    }

    #[test]
    fn cuts_must_increase() {
        assert_eq!(
            BinEdges::from_cuts(vec![1.0, 1.0]),
            Err(StatsError::BadCuts)
        );
        assert_eq!(
            BinEdges::from_cuts(vec![f64::NAN]),
            Err(StatsError::BadCuts)
        );
        assert!(BinEdges::from_cuts(vec![]).is_ok());
    }
}
