//! Group fairness of a binary classifier: per-group selection rate, TPR and FPR,
//! and fairlearn's demographic parity and equalized odds (worst case) figures.

use std::collections::BTreeMap;

use super::classification::ConfusionMatrix;
use super::{same_len, StatsError};

/// One group's rates (zero where a rate's denominator is zero).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupRates {
    pub count: u64,
    pub selection_rate: f64,
    pub tpr: f64,
    pub fpr: f64,
}

impl From<&ConfusionMatrix> for GroupRates {
    fn from(m: &ConfusionMatrix) -> Self {
        Self {
            count: m.n(),
            selection_rate: m.selection_rate(),
            tpr: m.recall(),
            fpr: m.false_positive_rate(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FairnessReport<K: Ord> {
    pub by_group: BTreeMap<K, GroupRates>,
    /// max − min of the groups' selection rates.
    pub demographic_parity_difference: f64,
    /// min / max of the groups' selection rates.
    pub demographic_parity_ratio: f64,
    /// The larger of the TPR gap and the FPR gap (max − min over groups).
    pub equalized_odds_difference: f64,
    /// The smaller of the TPR ratio and the FPR ratio (min / max over groups).
    pub equalized_odds_ratio: f64,
}

/// (max − min, min / max) of some rates. When every rate is 0 the ratio is 1:
/// the groups are at parity (fairlearn would give NaN there, which no alert
/// threshold can compare against).
fn gap_and_ratio(rates: impl Iterator<Item = f64>) -> (f64, f64) {
    let (min, max) = rates.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
        (lo.min(r), hi.max(r))
    });
    let ratio = if max == 0.0 { 1.0 } else { min / max };
    (max - min, ratio)
}

/// Fairness figures from per-group confusion matrices, which a monitor keeps
/// per window and merges across replicas. Needs at least one group.
pub fn fairness_from_confusion<K: Ord + Clone>(
    groups: &BTreeMap<K, ConfusionMatrix>,
) -> Result<FairnessReport<K>, StatsError> {
    if groups.is_empty() {
        return Err(StatsError::Empty {
            what: "sensitive groups",
        });
    }
    let by_group: BTreeMap<K, GroupRates> = groups
        .iter()
        .map(|(k, m)| (k.clone(), GroupRates::from(m)))
        .collect();
    let (dp_diff, dp_ratio) = gap_and_ratio(by_group.values().map(|g| g.selection_rate));
    let (tpr_diff, tpr_ratio) = gap_and_ratio(by_group.values().map(|g| g.tpr));
    let (fpr_diff, fpr_ratio) = gap_and_ratio(by_group.values().map(|g| g.fpr));
    Ok(FairnessReport {
        by_group,
        demographic_parity_difference: dp_diff,
        demographic_parity_ratio: dp_ratio,
        equalized_odds_difference: tpr_diff.max(fpr_diff),
        equalized_odds_ratio: tpr_ratio.min(fpr_ratio),
    })
}

/// fairlearn's `demographic_parity_*` and `equalized_odds_*` (agg='worst_case')
/// with the per-group `MetricFrame` rates, from row-level labels and groups.
pub fn fairness_report<K: Ord + Clone>(
    y_true: &[bool],
    y_pred: &[bool],
    groups: &[K],
) -> Result<FairnessReport<K>, StatsError> {
    same_len("true and predicted labels", y_true.len(), y_pred.len())?;
    same_len("labels and sensitive groups", y_true.len(), groups.len())?;
    let mut matrices: BTreeMap<K, ConfusionMatrix> = BTreeMap::new();
    for ((&t, &p), g) in y_true.iter().zip(y_pred).zip(groups) {
        matrices.entry(g.clone()).or_default().record(t, p);
    }
    fairness_from_confusion(&matrices)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: bool = true;
    const F: bool = false;

    #[test]
    fn worst_case_over_tpr_and_fpr() {
        // Group a: TPR 1, FPR 1/2, selection 3/4. Group b: TPR 1/2, FPR 0, selection 1/4.
        let y_true = [T, T, F, F, T, T, F, F];
        let y_pred = [T, T, T, F, T, F, F, F];
        let groups = ["a", "a", "a", "a", "b", "b", "b", "b"];
        let r = fairness_report(&y_true, &y_pred, &groups).unwrap();
        assert_eq!(
            r.by_group["a"],
            GroupRates {
                count: 4,
                selection_rate: 0.75,
                tpr: 1.0,
                fpr: 0.5
            }
        );
        assert_eq!(r.demographic_parity_difference, 0.5);
        assert_eq!(r.demographic_parity_ratio, 0.25 / 0.75);
        assert_eq!(r.equalized_odds_difference, 0.5);
        assert_eq!(r.equalized_odds_ratio, 0.0);
    }

    #[test]
    fn groups_at_zero_are_at_parity() {
        let r = fairness_report(&[F, F], &[F, F], &[0, 1]).unwrap();
        assert_eq!(r.demographic_parity_ratio, 1.0);
        assert_eq!(r.demographic_parity_difference, 0.0);
        assert!(fairness_report::<u8>(&[], &[], &[]).is_err());
    }
}
