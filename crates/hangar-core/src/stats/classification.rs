//! Binary classification performance from labels and predicted probabilities,
//! as scikit-learn defines each metric (positive class 1, zero_division = 0).

use super::{same_len, StatsError};

/// Counts of a binary classifier's outcomes. Additive across windows, replicas
/// and groups, so every rate below can be computed from merged counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConfusionMatrix {
    pub tn: u64,
    pub fp: u64,
    pub fn_: u64,
    pub tp: u64,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

impl ConfusionMatrix {
    pub fn from_labels(y_true: &[bool], y_pred: &[bool]) -> Result<Self, StatsError> {
        same_len("true and predicted labels", y_true.len(), y_pred.len())?;
        let mut m = Self::default();
        for (&t, &p) in y_true.iter().zip(y_pred) {
            m.record(t, p);
        }
        Ok(m)
    }

    pub fn record(&mut self, y_true: bool, y_pred: bool) {
        match (y_true, y_pred) {
            (false, false) => self.tn += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (true, true) => self.tp += 1,
        }
    }

    pub fn merge(&mut self, other: &ConfusionMatrix) {
        self.tn += other.tn;
        self.fp += other.fp;
        self.fn_ += other.fn_;
        self.tp += other.tp;
    }

    pub fn n(&self) -> u64 {
        self.tn + self.fp + self.fn_ + self.tp
    }

    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.n())
    }

    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// Recall, the true positive rate.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// 2·TP / (2·TP + FP + FN).
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    pub fn false_positive_rate(&self) -> f64 {
        ratio(self.fp, self.fp + self.tn)
    }

    /// Share of rows predicted positive.
    pub fn selection_rate(&self) -> f64 {
        ratio(self.tp + self.fp, self.n())
    }

    /// Share of rows whose true label is positive.
    pub fn positive_rate_true(&self) -> f64 {
        ratio(self.tp + self.fn_, self.n())
    }
}

/// Checks every value is a probability in [0, 1].
pub(crate) fn check_probabilities(what: &'static str, p: &[f64]) -> Result<(), StatsError> {
    match p.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        Some(&value) => Err(StatsError::NotAProbability { what, value }),
        None => Ok(()),
    }
}

/// Trapezoidal area under a curve given by points in order of x.
pub(crate) fn trapezoid(points: &[(f64, f64)]) -> f64 {
    points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
        .sum()
}

/// `sklearn.metrics.roc_auc_score`: the area under the ROC curve whose points
/// are the distinct score thresholds, so tied scores move TPR and FPR together
/// (each tie counts one half). Needs both classes among the true labels.
pub fn roc_auc(y_true: &[bool], scores: &[f64]) -> Result<f64, StatsError> {
    same_len("labels and scores", y_true.len(), scores.len())?;
    if scores.iter().any(|s| !s.is_finite()) {
        return Err(StatsError::NonFinite { what: "scores" });
    }
    let positives = y_true.iter().filter(|&&t| t).count() as u64;
    let negatives = y_true.len() as u64 - positives;
    if positives == 0 || negatives == 0 {
        return Err(StatsError::SingleClass { what: "ROC AUC" });
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0u64, 0u64);
    for (k, &i) in order.iter().enumerate() {
        if y_true[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order
            .get(k + 1)
            .is_none_or(|&next| scores[next] != scores[i]);
        if last_of_tie {
            points.push((fp as f64 / negatives as f64, tp as f64 / positives as f64));
        }
    }
    Ok(trapezoid(&points))
}

/// `sklearn.metrics.log_loss(y_true, p1, labels=[0, 1])`: the mean of −ln of the
/// probability given to the true class, each class's probability (1 − p1 and
/// p1) clipped to [ε, 1 − ε] with ε the f64 machine epsilon (scikit-learn ≥ 1.5
/// uses the input dtype's eps).
pub fn log_loss(y_true: &[bool], p1: &[f64]) -> Result<f64, StatsError> {
    same_len("labels and probabilities", y_true.len(), p1.len())?;
    if p1.is_empty() {
        return Err(StatsError::Empty {
            what: "log loss input",
        });
    }
    check_probabilities("p1", p1)?;
    let eps = f64::EPSILON;
    let total: f64 = y_true
        .iter()
        .zip(p1)
        .map(|(&t, &p)| {
            let given = if t { p } else { 1.0 - p };
            -given.clamp(eps, 1.0 - eps).ln()
        })
        .sum();
    Ok(total / p1.len() as f64)
}

/// `sklearn.metrics.brier_score_loss`: mean of (y − p1)².
pub fn brier_score(y_true: &[bool], p1: &[f64]) -> Result<f64, StatsError> {
    same_len("labels and probabilities", y_true.len(), p1.len())?;
    if p1.is_empty() {
        return Err(StatsError::Empty {
            what: "Brier score input",
        });
    }
    check_probabilities("p1", p1)?;
    let total: f64 = y_true
        .iter()
        .zip(p1)
        .map(|(&t, &p)| {
            let d = f64::from(u8::from(t)) - p;
            d * d
        })
        .sum();
    Ok(total / p1.len() as f64)
}

/// Every performance figure of a binary classifier on one window.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationMetrics {
    pub confusion: ConfusionMatrix,
    pub n: u64,
    pub positive_rate_true: f64,
    pub positive_rate_pred: f64,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// `None` when the window holds only one true class (the AUC is undefined).
    pub roc_auc: Option<f64>,
    pub log_loss: f64,
    pub brier: f64,
}

pub fn binary_classification_metrics(
    y_true: &[bool],
    y_pred: &[bool],
    p1: &[f64],
) -> Result<ClassificationMetrics, StatsError> {
    let confusion = ConfusionMatrix::from_labels(y_true, y_pred)?;
    let roc_auc = match roc_auc(y_true, p1) {
        Ok(auc) => Some(auc),
        Err(StatsError::SingleClass { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(ClassificationMetrics {
        n: confusion.n(),
        positive_rate_true: confusion.positive_rate_true(),
        positive_rate_pred: confusion.selection_rate(),
        accuracy: confusion.accuracy(),
        precision: confusion.precision(),
        recall: confusion.recall(),
        f1: confusion.f1(),
        roc_auc,
        log_loss: log_loss(y_true, p1)?,
        brier: brier_score(y_true, p1)?,
        confusion,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: bool = true;
    const F: bool = false;

    #[test]
    fn confusion_counts_and_rates() {
        let m = ConfusionMatrix::from_labels(&[T, T, T, F, F], &[T, F, T, T, F]).unwrap();
        assert_eq!(
            m,
            ConfusionMatrix {
                tn: 1,
                fp: 1,
                fn_: 1,
                tp: 2
            }
        );
        assert_eq!(m.accuracy(), 0.6);
        assert_eq!(m.precision(), 2.0 / 3.0);
        assert_eq!(m.recall(), 2.0 / 3.0);
        assert_eq!(m.f1(), 4.0 / 6.0);
        assert_eq!(m.false_positive_rate(), 0.5);
    }

    #[test]
    fn zero_division_gives_zero() {
        let m = ConfusionMatrix::from_labels(&[F, F], &[F, F]).unwrap();
        assert_eq!((m.precision(), m.recall(), m.f1()), (0.0, 0.0, 0.0));
    }

    #[test]
    fn roc_auc_counts_ties_as_half() {
        // sklearn: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
        assert_eq!(
            roc_auc(&[F, F, T, T], &[0.1, 0.4, 0.35, 0.8]).unwrap(),
            0.75
        );
        // One positive tied with one negative: (1 + 0.5) / 2.
        assert_eq!(
            roc_auc(&[F, F, T, T], &[0.1, 0.5, 0.5, 0.9]).unwrap(),
            0.875
        );
        assert_eq!(
            roc_auc(&[T, T], &[0.1, 0.2]),
            Err(StatsError::SingleClass { what: "ROC AUC" })
        );
    }

    #[test]
    fn log_loss_clips_certain_mistakes() {
        // sklearn: log_loss([1, 0], [0.0, 0.0]) == -ln(eps) / 2
        let got = log_loss(&[T, F], &[0.0, 0.0]).unwrap();
        assert!((got - (-f64::EPSILON.ln() / 2.0)).abs() < 1e-12);
        let got = log_loss(&[T, F], &[0.8, 0.4]).unwrap();
        assert!((got - (-(0.8f64.ln() + 0.6f64.ln()) / 2.0)).abs() < 1e-15);
        assert!(matches!(
            log_loss(&[T], &[1.5]),
            Err(StatsError::NotAProbability { .. })
        ));
    }

    #[test]
    fn brier_is_mean_squared_error_of_p1() {
        let got = brier_score(&[T, F, T], &[0.9, 0.2, 0.4]).unwrap();
        assert!((got - (0.01 + 0.04 + 0.36) / 3.0).abs() < 1e-15);
    }

    #[test]
    fn metrics_leave_auc_undefined_for_a_single_class_window() {
        let m = binary_classification_metrics(&[T, T], &[T, F], &[0.7, 0.4]).unwrap();
        assert_eq!(m.roc_auc, None);
        assert_eq!(m.recall, 0.5);
    }
}
