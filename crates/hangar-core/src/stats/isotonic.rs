//! Isotonic regression (increasing, clipped outside the fitted range), the
//! probability calibrator of CBPE, fitted as scikit-learn's `IsotonicRegression`.

use super::{same_len, StatsError};

/// A fitted non-decreasing step-and-slope function: the points (x, y) between
/// which predictions are interpolated linearly.
#[derive(Debug, Clone, PartialEq)]
pub struct IsotonicRegression {
    x: Vec<f64>,
    y: Vec<f64>,
}

/// Weighted pool-adjacent-violators on values already ordered by x: pools
/// every run that is not strictly increasing (ties pool too) into its weighted
/// mean, backtracking so the whole fit is one pass.
fn pool_adjacent_violators(y: &mut [f64], w: &mut [f64]) {
    let n = y.len();
    // target[i] = j and target[j] = i when [i..=j] is a pooled block.
    let mut target: Vec<usize> = (0..n).collect();
    let mut i = 0;
    while i < n {
        let mut k = target[i] + 1;
        if k == n {
            break;
        }
        if y[i] < y[k] {
            i = k;
            continue;
        }
        let mut sum_wy = w[i] * y[i];
        let mut sum_w = w[i];
        loop {
            let prev_y = y[k];
            sum_wy += w[k] * y[k];
            sum_w += w[k];
            k = target[k] + 1;
            if k == n || prev_y < y[k] {
                y[i] = sum_wy / sum_w;
                w[i] = sum_w;
                target[i] = k - 1;
                target[k - 1] = i;
                if i > 0 {
                    i = target[i - 1];
                }
                break;
            }
        }
    }
    let mut i = 0;
    while i < n {
        let k = target[i] + 1;
        let v = y[i];
        y[i + 1..k].iter_mut().for_each(|x| *x = v);
        i = k;
    }
}

impl IsotonicRegression {
    /// Fits y against x with unit weights: rows sorted by x, rows whose x differ
    /// by less than 1e-15 merged into one point (weight = rows, y = their mean),
    /// pool-adjacent-violators, then interior points equal to both neighbours
    /// dropped (which does not change the function).
    pub fn fit(x: &[f64], y: &[f64]) -> Result<Self, StatsError> {
        same_len("isotonic x and y", x.len(), y.len())?;
        if x.is_empty() {
            return Err(StatsError::Empty {
                what: "isotonic regression input",
            });
        }
        if x.iter().chain(y).any(|v| !v.is_finite()) {
            return Err(StatsError::NonFinite {
                what: "isotonic regression input",
            });
        }
        let mut order: Vec<usize> = (0..x.len()).collect();
        order.sort_by(|&a, &b| x[a].total_cmp(&x[b]).then(y[a].total_cmp(&y[b])));

        // scikit-learn merges x values closer than numpy's float64 resolution.
        const RESOLUTION: f64 = 1e-15;
        let (mut ux, mut uy, mut uw) = (Vec::new(), Vec::new(), Vec::new());
        let (mut cur_x, mut cur_wy, mut cur_w) = (x[order[0]], 0.0, 0.0);
        for &i in &order {
            if x[i] - cur_x >= RESOLUTION {
                ux.push(cur_x);
                uy.push(cur_wy / cur_w);
                uw.push(cur_w);
                (cur_x, cur_wy, cur_w) = (x[i], y[i], 1.0);
            } else {
                cur_wy += y[i];
                cur_w += 1.0;
            }
        }
        ux.push(cur_x);
        uy.push(cur_wy / cur_w);
        uw.push(cur_w);

        pool_adjacent_violators(&mut uy, &mut uw);

        let n = ux.len();
        let keep = |i: usize| i == 0 || i == n - 1 || uy[i] != uy[i - 1] || uy[i] != uy[i + 1];
        let (x, y) = (0..n).filter(|&i| keep(i)).map(|i| (ux[i], uy[i])).unzip();
        Ok(Self { x, y })
    }

    /// The fitted points' x (scikit-learn's `X_thresholds_`).
    pub fn x_thresholds(&self) -> &[f64] {
        &self.x
    }

    /// The fitted points' y (scikit-learn's `y_thresholds_`).
    pub fn y_thresholds(&self) -> &[f64] {
        &self.y
    }

    /// The fitted function at `t`: `t` clipped to the fitted x range, then
    /// linear interpolation between the neighbouring points (`numpy.interp`).
    pub fn predict(&self, t: f64) -> f64 {
        let last = self.x.len() - 1;
        if t.is_nan() {
            return f64::NAN;
        }
        if t <= self.x[0] {
            return self.y[0];
        }
        if t >= self.x[last] {
            return self.y[last];
        }
        // x[j] <= t < x[j + 1]
        let j = self.x.partition_point(|&v| v <= t) - 1;
        if self.x[j] == t {
            return self.y[j];
        }
        let slope = (self.y[j + 1] - self.y[j]) / (self.x[j + 1] - self.x[j]);
        slope * (t - self.x[j]) + self.y[j]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_violators_into_weighted_means() {
        // sklearn: IsotonicRegression().fit([1,2,3,4,5], [1,3,2,4,3.5])
        // -> X_thresholds_ [1, 2, 3, 4, 5], y_thresholds_ [1, 2.5, 2.5, 3.75, 3.75]
        let iso = IsotonicRegression::fit(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1.0, 3.0, 2.0, 4.0, 3.5])
            .unwrap();
        assert_eq!(iso.x_thresholds(), &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(iso.y_thresholds(), &[1.0, 2.5, 2.5, 3.75, 3.75]);
        assert_eq!(iso.predict(2.5), 2.5);
        assert_eq!(iso.predict(3.5), 2.5 + 0.5 * 1.25);
        assert_eq!(iso.predict(-10.0), 1.0);
        assert_eq!(iso.predict(10.0), 3.75);
    }

    #[test]
    fn equal_x_are_merged_and_flat_interiors_dropped() {
        // x = 0 twice (mean 0.5), then a flat run of three points at 1.
        let iso = IsotonicRegression::fit(
            &[0.0, 0.0, 1.0, 2.0, 3.0, 4.0],
            &[0.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        )
        .unwrap();
        assert_eq!(iso.x_thresholds(), &[0.0, 1.0, 4.0]);
        assert_eq!(iso.y_thresholds(), &[0.5, 1.0, 1.0]);
    }

    #[test]
    fn a_decreasing_input_pools_to_one_level() {
        let iso = IsotonicRegression::fit(&[1.0, 2.0, 3.0], &[1.0, 0.0, 0.0]).unwrap();
        assert_eq!(iso.x_thresholds(), &[1.0, 3.0]);
        assert_eq!(iso.y_thresholds(), &[1.0 / 3.0, 1.0 / 3.0]);
        assert_eq!(iso.predict(2.2), 1.0 / 3.0);
    }
}
