//! Category counts for a categorical column, mergeable across windows, and
//! Pearson's chi-squared test of a reference against a current window.

use std::collections::BTreeMap;

use statrs::distribution::{ChiSquared, ContinuousCDF};

use super::{same_len, StatsError};

/// How often each category was seen. Counts add up across windows and replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryCounts<K: Ord> {
    counts: BTreeMap<K, u64>,
}

impl<K: Ord> Default for CategoryCounts<K> {
    fn default() -> Self {
        Self {
            counts: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone> CategoryCounts<K> {
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a K>) -> Self
    where
        K: 'a,
    {
        let mut c = Self::default();
        for v in values {
            c.record(v.clone());
        }
        c
    }

    /// From counts per category (as stored).
    pub fn from_counts(counts: BTreeMap<K, u64>) -> Self {
        Self { counts }
    }

    pub fn record(&mut self, value: K) {
        let n = self.counts.entry(value).or_insert(0);
        *n = n.saturating_add(1);
    }

    /// Counts saturate (as [`crate::stats::Histogram`]'s): stored counts are
    /// merged, and a damaged one must not take a report down.
    pub fn merge(&mut self, other: &CategoryCounts<K>) {
        for (k, &n) in &other.counts {
            let c = self.counts.entry(k.clone()).or_insert(0);
            *c = c.saturating_add(n);
        }
    }

    pub fn get(&self, category: &K) -> u64 {
        self.counts.get(category).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.counts.values().fold(0u64, |t, &n| t.saturating_add(n))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, u64)> {
        self.counts.iter().map(|(k, &n)| (k, n))
    }

    /// The categories seen on either side, in order, with each side's counts
    /// on them: the 2×K table the tests run on.
    pub fn align(&self, other: &CategoryCounts<K>) -> (Vec<K>, Vec<u64>, Vec<u64>) {
        let mut keys: Vec<K> = self.counts.keys().cloned().collect();
        keys.extend(
            other
                .counts
                .keys()
                .filter(|k| !self.counts.contains_key(k))
                .cloned(),
        );
        keys.sort();
        let left = keys.iter().map(|k| self.get(k)).collect();
        let right = keys.iter().map(|k| other.get(k)).collect();
        (keys, left, right)
    }
}

/// Pearson's chi-squared test of independence on a contingency table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChiSquaredTest {
    pub statistic: f64,
    pub pvalue: f64,
    pub dof: u64,
}

/// `scipy.stats.chi2_contingency([reference, current], correction=False)` on a
/// 2×K table: expected counts row total × column total / n, statistic
/// Σ (observed − expected)² / expected, dof K − 1, p-value from the chi-squared
/// survival function. With one category the test is degenerate: statistic 0,
/// p-value 1 (as scipy). Columns must not be empty on both sides.
pub fn chi_squared_2xk(reference: &[u64], current: &[u64]) -> Result<ChiSquaredTest, StatsError> {
    same_len("chi-squared categories", reference.len(), current.len())?;
    let rows = [reference, current];
    // Sums in f64 (exact below 2^53): stored counts may be anything.
    let row_totals = rows.map(|r| r.iter().map(|&c| c as f64).sum::<f64>());
    if row_totals[0] == 0.0 {
        return Err(StatsError::Empty {
            what: "reference counts",
        });
    }
    if row_totals[1] == 0.0 {
        return Err(StatsError::Empty {
            what: "current counts",
        });
    }
    let total = row_totals[0] + row_totals[1];
    let mut statistic = 0.0;
    for k in 0..reference.len() {
        let col_total = reference[k] as f64 + current[k] as f64;
        if col_total == 0.0 {
            return Err(StatsError::Empty {
                what: "a category column of the chi-squared table",
            });
        }
        for (row, row_total) in rows.iter().zip(row_totals) {
            let expected = row_total * col_total / total;
            let diff = row[k] as f64 - expected;
            statistic += diff * diff / expected;
        }
    }
    let dof = reference.len().saturating_sub(1) as u64;
    if dof == 0 {
        return Ok(ChiSquaredTest {
            statistic: 0.0,
            pvalue: 1.0,
            dof,
        });
    }
    let pvalue = match ChiSquared::new(dof as f64) {
        Ok(dist) if statistic > 0.0 => dist.sf(statistic),
        _ => 1.0,
    };
    Ok(ChiSquaredTest {
        statistic,
        pvalue,
        dof,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_and_align_over_the_union_of_categories() {
        let mut a = CategoryCounts::from_values(&[1, 1, 2]);
        let b = CategoryCounts::from_values(&[2, 3]);
        assert_eq!(a.align(&b), (vec![1, 2, 3], vec![2, 1, 0], vec![0, 1, 1]));
        a.merge(&b);
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            vec![(&1, 2), (&2, 2), (&3, 1)]
        );
        assert_eq!(a.total(), 5);
    }

    #[test]
    fn chi_squared_matches_scipy() {
        // scipy.stats.chi2_contingency([[10, 20, 30], [20, 20, 10]], correction=False)
        // -> statistic 12.52777777777778, p 0.0019038276076954943, dof 2
        let t = chi_squared_2xk(&[10, 20, 30], &[20, 20, 10]).unwrap();
        assert!((t.statistic - 12.527_777_777_777_78).abs() < 1e-12);
        assert!((t.pvalue - 0.001_903_827_607_695_494_3).abs() < 1e-15);
        assert_eq!(t.dof, 2);
    }

    #[test]
    fn chi_squared_with_one_category_is_degenerate() {
        let t = chi_squared_2xk(&[5], &[7]).unwrap();
        assert_eq!((t.statistic, t.pvalue, t.dof), (0.0, 1.0, 0));
        assert!(chi_squared_2xk(&[0, 0], &[1, 1]).is_err());
        assert!(chi_squared_2xk(&[1, 0], &[1, 0]).is_err());
    }
}
