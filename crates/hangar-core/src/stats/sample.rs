//! Exact two-sample statistics on raw values: the Kolmogorov-Smirnov test and the
//! 1-D Wasserstein distance, as scipy computes them.

use super::kolmogorov::{kolmogorov_sf, kstwo_sf};
use super::StatsError;

/// A non-empty sample of finite values, sorted ascending once so that every
/// two-sample statistic is a linear merge.
#[derive(Debug, Clone, PartialEq)]
pub struct SortedSample {
    values: Vec<f64>,
}

impl SortedSample {
    /// Sorts `values`; refuses an empty sample or one with NaN or infinities
    /// (a monitor drops missing values before it gets here).
    pub fn new(mut values: Vec<f64>) -> Result<Self, StatsError> {
        if values.is_empty() {
            return Err(StatsError::Empty { what: "sample" });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(StatsError::NonFinite { what: "sample" });
        }
        values.sort_by(f64::total_cmp);
        Ok(Self { values })
    }

    pub fn from_slice(values: &[f64]) -> Result<Self, StatsError> {
        Self::new(values.to_vec())
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always false: a `SortedSample` is never empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Arithmetic mean.
    pub fn mean(&self) -> f64 {
        self.values.iter().sum::<f64>() / self.len() as f64
    }

    /// Population standard deviation (ddof = 0, numpy's `std` default), two-pass.
    pub fn std_population(&self) -> f64 {
        let mean = self.mean();
        let ss: f64 = self.values.iter().map(|v| (v - mean) * (v - mean)).sum();
        (ss / self.len() as f64).sqrt()
    }

    /// Number of distinct values.
    pub fn distinct(&self) -> usize {
        runs(&self.values).count()
    }
}

/// `(value, count)` for each distinct value of a sorted slice, ascending.
pub(crate) fn runs(sorted: &[f64]) -> impl Iterator<Item = (f64, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let v = *sorted.get(i)?;
        let start = i;
        while i < sorted.len() && sorted[i] == v {
            i += 1;
        }
        Some((v, i - start))
    })
}

/// Walks the union of two sorted samples, one step per distinct value, giving
/// `(value, #a <= value, #b <= value)`: the two empirical CDFs (times n) at each
/// point where either jumps.
fn merged_steps<'a>(a: &'a [f64], b: &'a [f64]) -> impl Iterator<Item = (f64, usize, usize)> + 'a {
    let (mut i, mut j) = (0, 0);
    std::iter::from_fn(move || {
        let v = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => return None,
        };
        while i < a.len() && a[i] == v {
            i += 1;
        }
        while j < b.len() && b[j] == v {
            j += 1;
        }
        Some((v, i, j))
    })
}

/// Result of the two-sided two-sample Kolmogorov-Smirnov test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsTest {
    /// D = sup |F_a − F_b|.
    pub statistic: f64,
    /// `scipy.stats.kstwo.sf(D, round(en))`: the exact one-sample distribution of
    /// D at the effective size, which is what `ks_2samp(method='asymp')` reports.
    pub pvalue: f64,
    /// `kstwobign.sf(sqrt(en) * D)`: the classic Kolmogorov limit.
    pub pvalue_kolmogorov_limit: f64,
    /// en = n_a·n_b / (n_a + n_b).
    pub effective_n: f64,
}

/// `scipy.stats.ks_2samp(a, b, alternative='two-sided', method='asymp')`.
///
/// scipy's default 'auto' picks the exact permutation distribution when both
/// samples are small (max(n) ≤ 10000 and n_a·n_b < 10000); this function always
/// uses the asymptotic one, as monitoring windows are large.
pub fn ks_two_sample(a: &SortedSample, b: &SortedSample) -> KsTest {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let statistic = merged_steps(&a.values, &b.values)
        .map(|(_, i, j)| (i as f64 / na - j as f64 / nb).abs())
        .fold(0.0, f64::max);
    // scipy orders the sizes before forming en; the product and sum commute anyway.
    let (m, n) = if na >= nb { (na, nb) } else { (nb, na) };
    let effective_n = m * n / (m + n);
    let rounded = effective_n.round_ties_even().max(1.0) as u64;
    KsTest {
        statistic,
        pvalue: kstwo_sf(statistic, rounded),
        pvalue_kolmogorov_limit: kolmogorov_sf(effective_n.sqrt() * statistic),
        effective_n,
    }
}

/// `scipy.stats.wasserstein_distance(a, b)`: the 1-D earth mover's distance,
/// ∫ |F_a − F_b|, on raw values with unit weights.
pub fn wasserstein_distance(a: &SortedSample, b: &SortedSample) -> f64 {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let mut total = 0.0;
    let mut prev: Option<(f64, f64)> = None;
    for (v, i, j) in merged_steps(&a.values, &b.values) {
        if let Some((x, gap)) = prev {
            total += gap * (v - x);
        }
        prev = Some((v, (i as f64 / na - j as f64 / nb).abs()));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(v: &[f64]) -> SortedSample {
        SortedSample::from_slice(v).unwrap()
    }

    #[test]
    fn rejects_empty_and_non_finite_samples() {
        assert_eq!(
            SortedSample::new(vec![]),
            Err(StatsError::Empty { what: "sample" })
        );
        assert!(matches!(
            SortedSample::new(vec![1.0, f64::NAN]),
            Err(StatsError::NonFinite { .. })
        ));
    }

    #[test]
    fn ks_statistic_is_the_largest_cdf_gap_with_ties_stepped_together() {
        // F_a jumps to 1/2 at 1 and to 1 at 2; F_b is 1/3 at 1, 2/3 at 3, 1 at 4.
        let ks = ks_two_sample(&sample(&[1.0, 2.0]), &sample(&[1.0, 3.0, 4.0]));
        assert!((ks.statistic - (1.0 - 1.0 / 3.0)).abs() < 1e-15);
        assert_eq!(ks.effective_n, 1.2);
    }

    #[test]
    fn wasserstein_of_shifted_samples_is_the_shift() {
        let a = sample(&[0.0, 1.0, 3.0]);
        let b = sample(&[2.0, 3.0, 5.0]);
        assert!((wasserstein_distance(&a, &b) - 2.0).abs() < 1e-15);
        assert_eq!(wasserstein_distance(&a, &a), 0.0);
    }

    #[test]
    fn wasserstein_matches_scipy_on_unequal_sizes() {
        // scipy.stats.wasserstein_distance([3.4, 3.9, 7.5, 7.8], [4.5, 1.4]) == 2.7
        let got = wasserstein_distance(&sample(&[3.4, 3.9, 7.5, 7.8]), &sample(&[4.5, 1.4]));
        assert!((got - 2.7).abs() < 1e-12, "{got}");
    }

    #[test]
    fn std_is_the_population_standard_deviation() {
        let s = sample(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(s.mean(), 5.0);
        assert_eq!(s.std_population(), 2.0);
        assert_eq!(s.distinct(), 5);
    }
}
