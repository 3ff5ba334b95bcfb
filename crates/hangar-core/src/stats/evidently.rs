//! Evidently's default data drift preset: the per-column choice of drift test,
//! its score and verdict, and the dataset-level share of drifted columns.

use super::divergence::{js_distance_of_proportions, LogBase};
use super::sample::{runs, wasserstein_distance, SortedSample};
use super::StatsError;

/// Evidently's default score threshold for both tests.
pub const DEFAULT_THRESHOLD: f64 = 0.1;
/// Evidently's default share of drifted columns for dataset drift.
pub const DEFAULT_DRIFT_SHARE: f64 = 0.5;

/// How a column is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Numerical,
    Categorical,
}

/// The drift tests Evidently picks by default for a reference of more than
/// 1000 rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftTest {
    /// Jensen-Shannon distance (natural log) over the values seen on either side.
    JensenShannon,
    /// Wasserstein distance divided by the reference's standard deviation.
    WassersteinNormed,
}

impl DriftTest {
    /// Evidently's registry name (`stattest`).
    pub fn name(self) -> &'static str {
        match self {
            DriftTest::JensenShannon => "jensenshannon",
            DriftTest::WassersteinNormed => "wasserstein",
        }
    }

    /// Evidently's display name (`stattest_display_name`).
    pub fn display_name(self) -> &'static str {
        match self {
            DriftTest::JensenShannon => "Jensen-Shannon distance",
            DriftTest::WassersteinNormed => "Wasserstein distance (normed)",
        }
    }
}

/// Evidently's default test: a numerical column with more than 5 distinct
/// values in reference ∪ current gets the normed Wasserstein distance, every
/// other column Jensen-Shannon. Below 1001 reference rows Evidently uses K-S,
/// chi² or Z tests instead, which are not implemented here.
pub fn default_drift_test(
    kind: ColumnKind,
    reference_rows: usize,
    distinct_values: usize,
) -> Result<DriftTest, StatsError> {
    if reference_rows <= 1000 {
        return Err(StatsError::SmallReference {
            rows: reference_rows,
        });
    }
    Ok(match kind {
        ColumnKind::Numerical if distinct_values > 5 => DriftTest::WassersteinNormed,
        _ => DriftTest::JensenShannon,
    })
}

/// One column's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnDrift {
    pub test: DriftTest,
    pub score: f64,
    pub threshold: f64,
    /// score ≥ threshold.
    pub drifted: bool,
    /// Distinct values in reference ∪ current.
    pub distinct_values: usize,
}

/// Distinct values of the union of two sorted samples.
fn distinct_in_union(a: &[f64], b: &[f64]) -> usize {
    let mut all: Vec<f64> = runs(a)
        .map(|(v, _)| v)
        .chain(runs(b).map(|(v, _)| v))
        .collect();
    all.sort_by(f64::total_cmp);
    all.dedup();
    all.len()
}

/// `wasserstein_distance(ref, cur) / max(std(ref), 0.001)`, std with ddof = 0.
pub fn wasserstein_normed(reference: &SortedSample, current: &SortedSample) -> f64 {
    wasserstein_distance(reference, current) / reference.std_population().max(0.001)
}

/// `scipy.spatial.distance.jensenshannon(p_ref, p_cur)` (natural log) where
/// p = count / n of every value seen in either sample, zeros kept.
pub fn value_js_distance(reference: &SortedSample, current: &SortedSample) -> f64 {
    use std::cmp::Ordering;
    let (nr, nc) = (reference.len() as f64, current.len() as f64);
    let a: Vec<(f64, usize)> = runs(reference.values()).collect();
    let b: Vec<(f64, usize)> = runs(current.values()).collect();
    let (mut i, mut j) = (0, 0);
    let (mut p, mut q) = (Vec::new(), Vec::new());
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.0.total_cmp(&y.0),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        let (kr, kc) = match order {
            Ordering::Less => (a[i].1, 0),
            Ordering::Greater => (0, b[j].1),
            Ordering::Equal => (a[i].1, b[j].1),
        };
        i += usize::from(order != Ordering::Greater);
        j += usize::from(order != Ordering::Less);
        p.push(kr as f64 / nr);
        q.push(kc as f64 / nc);
    }
    js_distance_of_proportions(&p, &q, LogBase::E)
}

/// Evidently's default drift verdict for one column.
pub fn column_drift(
    kind: ColumnKind,
    reference: &SortedSample,
    current: &SortedSample,
) -> Result<ColumnDrift, StatsError> {
    let distinct_values = distinct_in_union(reference.values(), current.values());
    let test = default_drift_test(kind, reference.len(), distinct_values)?;
    let score = match test {
        DriftTest::JensenShannon => value_js_distance(reference, current),
        DriftTest::WassersteinNormed => wasserstein_normed(reference, current),
    };
    Ok(ColumnDrift {
        test,
        score,
        threshold: DEFAULT_THRESHOLD,
        drifted: score >= DEFAULT_THRESHOLD,
        distinct_values,
    })
}

/// The dataset-level verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DatasetDrift {
    pub columns: usize,
    pub drifted_columns: usize,
    pub share: f64,
    /// share ≥ the drift share.
    pub dataset_drift: bool,
}

pub fn dataset_drift(
    columns: &[ColumnDrift],
    drift_share: f64,
) -> Result<DatasetDrift, StatsError> {
    if columns.is_empty() {
        return Err(StatsError::Empty { what: "columns" });
    }
    let drifted_columns = columns.iter().filter(|c| c.drifted).count();
    let share = drifted_columns as f64 / columns.len() as f64;
    Ok(DatasetDrift {
        columns: columns.len(),
        drifted_columns,
        share,
        dataset_drift: share >= drift_share,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(v: &[f64]) -> SortedSample {
        SortedSample::from_slice(v).unwrap()
    }

    #[test]
    fn test_choice_follows_the_distinct_value_count() {
        let big = 20_000;
        assert_eq!(
            default_drift_test(ColumnKind::Numerical, big, 6),
            Ok(DriftTest::WassersteinNormed)
        );
        assert_eq!(
            default_drift_test(ColumnKind::Numerical, big, 5),
            Ok(DriftTest::JensenShannon)
        );
        assert_eq!(
            default_drift_test(ColumnKind::Categorical, big, 50),
            Ok(DriftTest::JensenShannon)
        );
        assert_eq!(
            default_drift_test(ColumnKind::Numerical, 1000, 50),
            Err(StatsError::SmallReference { rows: 1000 })
        );
    }

    #[test]
    fn value_js_covers_values_seen_on_one_side_only() {
        // scipy.spatial.distance.jensenshannon([2/3, 1/3, 0], [0, 1/2, 1/2])
        let got = value_js_distance(&sample(&[1.0, 1.0, 2.0]), &sample(&[2.0, 3.0]));
        assert!((got - 0.642_437_275_256_831_5).abs() < 1e-12, "{got}");
        assert_eq!(distinct_in_union(&[1.0, 1.0, 2.0], &[2.0, 3.0]), 3);
    }

    #[test]
    fn dataset_drift_needs_the_share() {
        let col = |drifted| ColumnDrift {
            test: DriftTest::JensenShannon,
            score: 0.0,
            threshold: 0.1,
            drifted,
            distinct_values: 2,
        };
        let d = dataset_drift(&[col(true), col(false)], DEFAULT_DRIFT_SHARE).unwrap();
        assert_eq!(
            (d.drifted_columns, d.share, d.dataset_drift),
            (1, 0.5, true)
        );
        let d = dataset_drift(&[col(true), col(false), col(false)], DEFAULT_DRIFT_SHARE).unwrap();
        assert!(!d.dataset_drift);
    }
}
