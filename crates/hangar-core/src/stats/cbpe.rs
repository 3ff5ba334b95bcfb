//! Confidence-based performance estimation (NannyML's CBPE): a binary
//! classifier's accuracy, precision, recall, F1 and ROC AUC estimated from its
//! (calibrated) probabilities alone, for windows whose labels have not arrived.

use super::classification::{check_probabilities, roc_auc, trapezoid};
use super::isotonic::IsotonicRegression;
use super::{same_len, StatsError};

/// Estimated (or realized) performance figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CbpeEstimate {
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// `None` when the expected positives or negatives sum to 0.
    pub roc_auc: Option<f64>,
}

fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

/// Rounds to 5 decimals, half to even, as `numpy.round(x, 5)` does.
fn round5(x: f64) -> f64 {
    (x * 1e5).round_ties_even() / 1e5
}

/// The CBPE estimators. `calibrated` is the probability of class 1 each row is
/// taken to have (the calibrated p1, or the raw p1 when not calibrating),
/// `raw_p1` the model's own score (it orders the rows for the ROC curve) and
/// `y_pred` the model's label.
///
/// With c the calibrated p1: TP = Σ_{ŷ=1} c, FP = Σ_{ŷ=1} (1 − c),
/// FN = Σ_{ŷ=0} c, TN = Σ_{ŷ=0} (1 − c); accuracy, precision, recall and
/// F1 = TP / (TP + (FP + FN)/2) follow, each 0 when its denominator is 0. The
/// ROC AUC is the trapezoidal area under the expected curve: rows by raw p1
/// descending, expected TP(k) = cumulative Σ c and FP(k) = k − TP(k), both
/// rounded to 5 decimals as NannyML does.
pub fn estimate_performance(
    y_pred: &[bool],
    raw_p1: &[f64],
    calibrated: &[f64],
) -> Result<CbpeEstimate, StatsError> {
    same_len(
        "predicted labels and probabilities",
        y_pred.len(),
        raw_p1.len(),
    )?;
    same_len(
        "raw and calibrated probabilities",
        raw_p1.len(),
        calibrated.len(),
    )?;
    if y_pred.is_empty() {
        return Err(StatsError::Empty {
            what: "CBPE window",
        });
    }
    check_probabilities("p1", raw_p1)?;
    check_probabilities("calibrated p1", calibrated)?;
    let (mut tp, mut fp, mut fn_, mut tn) = (0.0, 0.0, 0.0, 0.0);
    for (&pred, &c) in y_pred.iter().zip(calibrated) {
        if pred {
            tp += c;
            fp += 1.0 - c;
        } else {
            fn_ += c;
            tn += 1.0 - c;
        }
    }
    let n = y_pred.len() as f64;

    let mut order: Vec<usize> = (0..raw_p1.len()).collect();
    order.sort_by(|&a, &b| raw_p1[b].total_cmp(&raw_p1[a]));
    let mut cum_tp = 0.0;
    let mut curve = Vec::with_capacity(order.len() + 1);
    curve.push((0.0, 0.0));
    for (k, &i) in order.iter().enumerate() {
        cum_tp += calibrated[i];
        curve.push((round5((k + 1) as f64 - cum_tp), round5(cum_tp)));
    }
    let (fp_total, tp_total) = curve[curve.len() - 1];
    let roc_auc = (fp_total > 0.0 && tp_total > 0.0).then(|| {
        let points: Vec<(f64, f64)> = curve
            .iter()
            .map(|&(f, t)| (f / fp_total, t / tp_total))
            .collect();
        trapezoid(&points)
    });

    Ok(CbpeEstimate {
        accuracy: (tp + tn) / n,
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fn_),
        f1: ratio(tp, tp + (fp + fn_) / 2.0),
        roc_auc,
    })
}

/// The simplest confidence rule: the mean of max(p1, 1 − p1), the accuracy a
/// calibrated model labelling at 0.5 expects. Needs no labels and no fit.
pub fn confidence_expected_accuracy(p1: &[f64]) -> Result<f64, StatsError> {
    if p1.is_empty() {
        return Err(StatsError::Empty {
            what: "probabilities",
        });
    }
    check_probabilities("p1", p1)?;
    let total: f64 = p1.iter().map(|&p| if p > 0.5 { p } else { 1.0 - p }).sum();
    Ok(total / p1.len() as f64)
}

/// Whether to calibrate the reference probabilities before estimating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calibration {
    /// Decide with [`needs_calibration`].
    Auto,
    /// Always fit the isotonic calibrator (NannyML's decision taken as given).
    Isotonic,
    /// Use the raw probabilities.
    None,
}

/// The outcome of [`needs_calibration`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationCheck {
    pub needed: bool,
    /// Expected calibration error of the raw probabilities on the held-out rows
    /// (`None` when the AUC shortcut decided).
    pub ece_raw: Option<f64>,
    /// The same for the cross-fitted calibrated probabilities.
    pub ece_calibrated: Option<f64>,
}

/// Σ over equal-count bins of the probability-sorted rows of
/// (rows in bin / rows) · |mean p − mean y| (NannyML's ECE: 10 bins, fewer
/// when there are 20 rows or fewer).
fn expected_calibration_error(p: &[f64], y: &[bool]) -> f64 {
    let n = p.len();
    let bins = if n <= 20 { n / 2 } else { 10 };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    (0..bins)
        .map(|b| {
            let rows = &order[b * n / bins..(b + 1) * n / bins];
            let len = rows.len() as f64;
            let mean_p = rows.iter().map(|&i| p[i]).sum::<f64>() / len;
            let mean_y = rows.iter().filter(|&&i| y[i]).count() as f64 / len;
            len / n as f64 * (mean_p - mean_y).abs()
        })
        .sum()
}

/// NannyML's calibration decision, made deterministic: no calibration when the
/// reference ROC AUC is above 0.999; otherwise isotonic calibrators are
/// cross-fitted on 10 stratified folds (rows dealt to folds in order within each
/// class, where NannyML draws 10 random 90/10 splits), and calibration is needed
/// when the held-out ECE of the calibrated probabilities is below the raw one.
/// The split differs from NannyML's, so a borderline case can decide otherwise;
/// a clear one (like the reference data's 0.032 against 0.005) does not.
pub fn needs_calibration(y_true: &[bool], p1: &[f64]) -> Result<CalibrationCheck, StatsError> {
    same_len("labels and probabilities", y_true.len(), p1.len())?;
    check_probabilities("p1", p1)?;
    // 10 folds, and 10 ECE bins of at least two rows.
    const MIN_ROWS: usize = 20;
    if y_true.len() < MIN_ROWS {
        return Err(StatsError::TooFewRows {
            what: "the calibration check",
            needed: MIN_ROWS,
            got: y_true.len(),
        });
    }
    if roc_auc(y_true, p1)? > 0.999 {
        return Ok(CalibrationCheck {
            needed: false,
            ece_raw: None,
            ece_calibrated: None,
        });
    }
    const FOLDS: usize = 10;
    let (mut seen_pos, mut seen_neg) = (0, 0);
    let fold: Vec<usize> = y_true
        .iter()
        .map(|&t| {
            let seen = if t { &mut seen_pos } else { &mut seen_neg };
            *seen += 1;
            (*seen - 1) % FOLDS
        })
        .collect();
    let mut calibrated = vec![0.0; p1.len()];
    for f in 0..FOLDS {
        let (x, y): (Vec<f64>, Vec<f64>) = (0..p1.len())
            .filter(|&i| fold[i] != f)
            .map(|i| (p1[i], f64::from(u8::from(y_true[i]))))
            .unzip();
        let iso = IsotonicRegression::fit(&x, &y)?;
        for i in (0..p1.len()).filter(|&i| fold[i] == f) {
            calibrated[i] = iso.predict(p1[i]);
        }
    }
    let ece_raw = expected_calibration_error(p1, y_true);
    let ece_calibrated = expected_calibration_error(&calibrated, y_true);
    Ok(CalibrationCheck {
        needed: ece_raw > ece_calibrated,
        ece_raw: Some(ece_raw),
        ece_calibrated: Some(ece_calibrated),
    })
}

/// CBPE fitted on a labelled reference: the calibrator, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Cbpe {
    calibrator: Option<IsotonicRegression>,
}

impl Cbpe {
    /// Fits on the reference's true labels and raw p1. With
    /// [`Calibration::Isotonic`] (or `Auto` deciding so) the calibrator is an
    /// isotonic regression of the label on p1 over all reference rows.
    pub fn fit(y_true: &[bool], p1: &[f64], calibration: Calibration) -> Result<Self, StatsError> {
        same_len("labels and probabilities", y_true.len(), p1.len())?;
        check_probabilities("p1", p1)?;
        let calibrate = match calibration {
            Calibration::Isotonic => true,
            Calibration::None => false,
            Calibration::Auto => needs_calibration(y_true, p1)?.needed,
        };
        let calibrator = if calibrate {
            let y: Vec<f64> = y_true.iter().map(|&t| f64::from(u8::from(t))).collect();
            Some(IsotonicRegression::fit(p1, &y)?)
        } else {
            None
        };
        Ok(Self { calibrator })
    }

    pub fn calibrator(&self) -> Option<&IsotonicRegression> {
        self.calibrator.as_ref()
    }

    /// The calibrated p1 (the raw p1 without a calibrator).
    pub fn calibrate(&self, p1: f64) -> f64 {
        self.calibrator.as_ref().map_or(p1, |c| c.predict(p1))
    }

    /// Estimated performance of a window from the model's labels and raw p1.
    pub fn estimate(&self, y_pred: &[bool], p1: &[f64]) -> Result<CbpeEstimate, StatsError> {
        let calibrated: Vec<f64> = p1.iter().map(|&p| self.calibrate(p)).collect();
        estimate_performance(y_pred, p1, &calibrated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_from_probabilities_alone() {
        let p = [0.9, 0.8, 0.3, 0.1];
        let pred = [true, true, false, false];
        let e = estimate_performance(&pred, &p, &p).unwrap();
        // TP = 1.7, FP = 0.3, FN = 0.4, TN = 1.6.
        assert!((e.accuracy - 3.3 / 4.0).abs() < 1e-15);
        assert!((e.precision - 1.7 / 2.0).abs() < 1e-15);
        assert!((e.recall - 1.7 / 2.1).abs() < 1e-15);
        assert!((e.f1 - 1.7 / (1.7 + 0.35)).abs() < 1e-15);
        // Expected curve: (FP, TP) = (0.1, 0.9), (0.3, 1.7), (1.0, 2.0), (1.9, 2.1).
        let pts = [(0.0, 0.0), (0.1, 0.9), (0.3, 1.7), (1.0, 2.0), (1.9, 2.1)];
        let want = trapezoid(&pts.map(|(f, t)| (f / 1.9, t / 2.1)));
        assert!((e.roc_auc.unwrap() - want).abs() < 1e-12);
        assert!((confidence_expected_accuracy(&p).unwrap() - e.accuracy).abs() < 1e-15);
    }

    #[test]
    fn certain_probabilities_leave_auc_undefined() {
        let e = estimate_performance(&[true, true], &[1.0, 1.0], &[1.0, 1.0]).unwrap();
        assert_eq!(e.roc_auc, None);
        assert_eq!(e.accuracy, 1.0);
    }

    #[test]
    fn calibration_check_needs_enough_rows() {
        assert_eq!(
            needs_calibration(&[true, false], &[0.9, 0.1]),
            Err(StatsError::TooFewRows {
                what: "the calibration check",
                needed: 20,
                got: 2
            })
        );
    }

    #[test]
    fn calibration_is_skipped_for_a_near_perfect_ranker() {
        let y: Vec<bool> = (0..100).map(|i| i >= 50).collect();
        let p: Vec<f64> = (0..100).map(|i| f64::from(i) / 100.0).collect();
        let check = needs_calibration(&y, &p).unwrap();
        assert!(!check.needed);
        assert_eq!(check.ece_raw, None);
    }

    #[test]
    fn overconfident_scores_need_calibration() {
        // Scores near 0/1 while the truth is a coin flip within each half.
        let y: Vec<bool> = (0..400).map(|i| (i % 4 == 0) ^ (i >= 200)).collect();
        let p: Vec<f64> = (0..400)
            .map(|i| if i >= 200 { 0.99 } else { 0.01 })
            .collect();
        let check = needs_calibration(&y, &p).unwrap();
        assert!(check.needed, "{check:?}");
        let cbpe = Cbpe::fit(&y, &p, Calibration::Auto).unwrap();
        assert!((cbpe.calibrate(0.99) - 0.75).abs() < 1e-12);
    }
}
