//! Regression performance: mean absolute error, root mean squared error and the
//! coefficient of determination, as scikit-learn defines them.

use super::{same_len, StatsError};

fn check(y_true: &[f64], y_pred: &[f64]) -> Result<(), StatsError> {
    same_len("true and predicted values", y_true.len(), y_pred.len())?;
    if y_true.is_empty() {
        return Err(StatsError::Empty {
            what: "regression input",
        });
    }
    if y_true.iter().chain(y_pred).any(|v| !v.is_finite()) {
        return Err(StatsError::NonFinite {
            what: "regression input",
        });
    }
    Ok(())
}

/// Mean of |y − ŷ|.
pub fn mae(y_true: &[f64], y_pred: &[f64]) -> Result<f64, StatsError> {
    check(y_true, y_pred)?;
    let total: f64 = y_true.iter().zip(y_pred).map(|(t, p)| (t - p).abs()).sum();
    Ok(total / y_true.len() as f64)
}

/// Square root of the mean of (y − ŷ)².
pub fn rmse(y_true: &[f64], y_pred: &[f64]) -> Result<f64, StatsError> {
    check(y_true, y_pred)?;
    let total: f64 = y_true
        .iter()
        .zip(y_pred)
        .map(|(t, p)| (t - p) * (t - p))
        .sum();
    Ok((total / y_true.len() as f64).sqrt())
}

/// R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)². When y is constant the ratio is undefined:
/// like `sklearn.metrics.r2_score` (force_finite=True) this gives 1 for a perfect
/// prediction and 0 otherwise.
pub fn r2(y_true: &[f64], y_pred: &[f64]) -> Result<f64, StatsError> {
    check(y_true, y_pred)?;
    let mean = y_true.iter().sum::<f64>() / y_true.len() as f64;
    let ss_res: f64 = y_true
        .iter()
        .zip(y_pred)
        .map(|(t, p)| (t - p) * (t - p))
        .sum();
    let ss_tot: f64 = y_true.iter().map(|t| (t - mean) * (t - mean)).sum();
    Ok(if ss_tot == 0.0 {
        if ss_res == 0.0 {
            1.0
        } else {
            0.0
        }
    } else {
        1.0 - ss_res / ss_tot
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `check(y_true, y_pred, (mae, rmse, r2))` with values from scikit-learn.
    fn check_case(y_true: &[f64], y_pred: &[f64], want: (f64, f64, f64)) {
        let got = (
            mae(y_true, y_pred).unwrap(),
            rmse(y_true, y_pred).unwrap(),
            r2(y_true, y_pred).unwrap(),
        );
        for (g, w) in [(got.0, want.0), (got.1, want.1), (got.2, want.2)] {
            assert!(
                (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                "{got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn match_scikit_learn_on_hand_cases() {
        // sklearn docs: y_true = [3, -0.5, 2, 7], y_pred = [2.5, 0.0, 2, 8]
        // -> MAE 0.5, MSE 0.375, R² 0.9486081370449679
        check_case(
            &[3.0, -0.5, 2.0, 7.0],
            &[2.5, 0.0, 2.0, 8.0],
            (0.5, 0.375f64.sqrt(), 0.948_608_137_044_967_9),
        );
        // Predicting the mean gives R² = 0.
        check_case(
            &[1.0, 2.0, 3.0],
            &[2.0, 2.0, 2.0],
            (2.0 / 3.0, (2.0f64 / 3.0).sqrt(), 0.0),
        );
        // Constant truth: 1 when predicted exactly, 0 otherwise.
        check_case(&[4.0, 4.0], &[4.0, 4.0], (0.0, 0.0, 1.0));
        check_case(&[4.0, 4.0], &[4.0, 5.0], (0.5, 0.5f64.sqrt(), 0.0));
    }

    #[test]
    fn refuse_empty_or_mismatched_input() {
        assert!(matches!(mae(&[], &[]), Err(StatsError::Empty { .. })));
        assert!(matches!(
            rmse(&[1.0], &[1.0, 2.0]),
            Err(StatsError::LengthMismatch { .. })
        ));
        assert!(matches!(
            r2(&[1.0], &[f64::NAN]),
            Err(StatsError::NonFinite { .. })
        ));
    }
}
