//! Divergences between two distributions over the same bins or categories:
//! the population stability index and the Jensen-Shannon distance.

use super::{same_len, StatsError};

/// The proportion that stands in for an empty bin in [`psi`].
pub const PSI_EPSILON: f64 = 1e-4;

/// Logarithm base for [`js_distance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogBase {
    /// Natural log: the distance lies in [0, sqrt(ln 2)] (scipy's default,
    /// and Evidently's).
    E,
    /// Base 2: the distance lies in [0, 1].
    Two,
}

fn proportions(what: &'static str, counts: &[u64]) -> Result<Vec<f64>, StatsError> {
    // Summed in f64 (exact below 2^53): stored counts may be anything.
    let n: f64 = counts.iter().map(|&c| c as f64).sum();
    if n == 0.0 {
        return Err(StatsError::Empty { what });
    }
    Ok(counts.iter().map(|&c| c as f64 / n).collect())
}

/// Population stability index of `current` against `reference` counts on the
/// same bins: p = count / n, an empty bin's p replaced by [`PSI_EPSILON`] on
/// either side (without renormalising), and PSI = Σ (p_cur − p_ref)·ln(p_cur / p_ref).
pub fn psi(reference: &[u64], current: &[u64]) -> Result<f64, StatsError> {
    same_len("PSI bins", reference.len(), current.len())?;
    let p_ref = proportions("reference counts", reference)?;
    let p_cur = proportions("current counts", current)?;
    let floor = |p: f64| if p == 0.0 { PSI_EPSILON } else { p };
    Ok(p_ref
        .iter()
        .zip(&p_cur)
        .map(|(&r, &c)| {
            let (r, c) = (floor(r), floor(c));
            (c - r) * (c / r).ln()
        })
        .sum())
}

/// x·ln(x/y), 0 where x = 0 (scipy's `rel_entr` on non-negative inputs).
fn rel_entr(x: f64, y: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        x * (x / y).ln()
    }
}

/// Jensen-Shannon distance between `reference` and `current` counts on the same
/// bins, as `scipy.spatial.distance.jensenshannon(p_ref, p_cur, base)` on the
/// proportions count / n (no epsilon: empty bins stay empty). It is the square
/// root of the divergence, so 0 for identical distributions.
pub fn js_distance(reference: &[u64], current: &[u64], base: LogBase) -> Result<f64, StatsError> {
    same_len("Jensen-Shannon bins", reference.len(), current.len())?;
    let p = proportions("reference counts", reference)?;
    let q = proportions("current counts", current)?;
    Ok(js_distance_of_proportions(&p, &q, base))
}

/// The same on proportions that each sum to 1 (scipy normalises them once more,
/// and so does this).
pub(crate) fn js_distance_of_proportions(p: &[f64], q: &[f64], base: LogBase) -> f64 {
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    let (mut left, mut right) = (0.0, 0.0);
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a / sp, b / sq);
        let m = (a + b) / 2.0;
        left += rel_entr(a, m);
        right += rel_entr(b, m);
    }
    let mut js = left + right;
    if base == LogBase::Two {
        js /= std::f64::consts::LN_2;
    }
    // Rounding can leave a tiny negative sum for identical inputs.
    (js / 2.0).max(0.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_is_zero_for_equal_proportions_and_floors_empty_bins() {
        assert_eq!(psi(&[10, 20, 30], &[1, 2, 3]).unwrap(), 0.0);
        // p_ref = [1, 0], p_cur = [0.5, 0.5]; the empty reference bin counts as 1e-4.
        let want = (0.5 - 1.0) * (0.5f64).ln() + (0.5 - 1e-4) * (0.5 / 1e-4f64).ln();
        assert!((psi(&[4, 0], &[1, 1]).unwrap() - want).abs() < 1e-15);
    }

    #[test]
    fn js_distance_matches_scipy() {
        // scipy.spatial.distance.jensenshannon([1, 0], [0.5, 0.5], base=2) and without base.
        let d2 = js_distance(&[2, 0], &[1, 1], LogBase::Two).unwrap();
        assert!((d2 - 0.557_923_045_284_143_8).abs() < 1e-12, "{d2}");
        let de = js_distance(&[2, 0], &[1, 1], LogBase::E).unwrap();
        assert!((de - 0.464_501_404_022_459).abs() < 1e-12, "{de}");
        // Disjoint supports are as far apart as it gets: 1 in base 2.
        assert!((js_distance(&[1, 0], &[0, 1], LogBase::Two).unwrap() - 1.0).abs() < 1e-15);
        assert_eq!(js_distance(&[3, 3], &[5, 5], LogBase::E).unwrap(), 0.0);
    }

    #[test]
    fn divergences_refuse_mismatched_or_empty_counts() {
        assert!(matches!(
            psi(&[1, 2], &[1]),
            Err(StatsError::LengthMismatch { .. })
        ));
        assert_eq!(
            js_distance(&[0, 0], &[1, 1], LogBase::Two),
            Err(StatsError::Empty {
                what: "reference counts"
            })
        );
    }
}
