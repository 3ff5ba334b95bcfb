//! Monitoring aggregates: what a window of predictions must keep so that its
//! unlabelled figures can be computed later without its raw rows, and so that
//! windows merge (minutes into hours into days, several replicas into one).
//!
//! An [`Aggregate`] holds, for one deployment, one version and one period:
//!
//! - the row count;
//! - per feature, counts on the baseline's decile bins (numeric) or category
//!   counts (categorical), and counts of the model's score on the baseline
//!   score's bins: enough for PSI, Jensen-Shannon and chi-squared, exactly;
//! - CBPE's sums (expected TP, FP, FN, TN from the calibrated score): enough
//!   for the estimated accuracy, precision, recall and F1, exactly;
//! - a bounded uniform sample of rows ([`RowSample`], bottom-k by a random
//!   key), for the KS test, the Wasserstein distance, Evidently's verdict on
//!   numeric columns and CBPE's ROC AUC. Merging two samples gives exactly the
//!   sample one would have drawn from the union.
//!
//! Counts are binned against one baseline (named by its digest). A bucket
//! binned against another baseline (or before a baseline was known) keeps its
//! rows and sample, and its counts are left out of a merge that targets the
//! current baseline; the figures then come from the counts that match, or
//! from the sample when none do.
//!
//! Labelled figures (performance, fairness) are not here: true outcomes
//! arrive after a period has been aggregated, so they are computed from the
//! labelled rows of the prediction log.

use std::collections::BinaryHeap;

mod encoding;
mod report;
#[cfg(test)]
mod tests;

pub use report::{aggregate_report, AggregateReport};

use super::{category_key, BaselineProfile};
use crate::stats::evidently::ColumnKind;
use crate::stats::{CategoryCounts, Histogram};

/// The periods aggregates are kept at. Minutes are written by the prediction
/// log; each minute is merged into its hour and its day as it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resolution {
    Minute,
    Hour,
    Day,
}

impl Resolution {
    pub const ALL: [Resolution; 3] = [Resolution::Minute, Resolution::Hour, Resolution::Day];

    pub fn seconds(self) -> i64 {
        match self {
            Resolution::Minute => 60,
            Resolution::Hour => 3600,
            Resolution::Day => 86_400,
        }
    }

    /// Rows a bucket of this period keeps in its sample. A day's sample is
    /// the largest, as the longest windows are read from days.
    pub fn sample_cap(self) -> usize {
        match self {
            Resolution::Minute => 256,
            Resolution::Hour => 2048,
            Resolution::Day => 8192,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Resolution::Minute => "minute",
            Resolution::Hour => "hour",
            Resolution::Day => "day",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Resolution::ALL.into_iter().find(|r| r.name() == s)
    }

    /// The start (Unix seconds, UTC) of the period holding `t`.
    pub fn floor(self, t: i64) -> i64 {
        t.div_euclid(self.seconds()) * self.seconds()
    }
}

/// Most rows a merged report sample holds (the exact report's cap too).
pub const REPORT_SAMPLE: usize = 100_000;

/// Pieces of a range, each a run of whole periods of one resolution:
/// `(resolution, first start, end)`, covering `[from, to)` rounded outwards
/// to whole minutes, with days where whole days fit, hours where whole hours
/// fit and minutes at the edges. At most five pieces.
pub fn plan_range(from: i64, to: i64) -> Vec<(Resolution, i64, i64)> {
    if from >= to {
        return Vec::new();
    }
    let a = Resolution::Minute.floor(from);
    let b = -Resolution::Minute.floor(-to);
    let mut pieces: Vec<(Resolution, i64, i64)> = Vec::new();
    let mut t = a;
    while t < b {
        let res = [Resolution::Day, Resolution::Hour]
            .into_iter()
            .find(|r| t % r.seconds() == 0 && t + r.seconds() <= b)
            .unwrap_or(Resolution::Minute);
        let end = t + res.seconds();
        match pieces.last_mut() {
            Some(last) if last.0 == res && last.2 == t => last.2 = end,
            _ => pieces.push((res, t, end)),
        }
        t = end;
    }
    pieces
}

/// Pieces of the whole minutes lying inside `[from, to)` (rounded inwards):
/// the aggregates whose rows must all be in the raw log if it still has them.
pub fn plan_range_inside(from: i64, to: i64) -> Vec<(Resolution, i64, i64)> {
    plan_range(
        -Resolution::Minute.floor(-from),
        Resolution::Minute.floor(to),
    )
}

/// One sampled row: its random key, features (in the model's feature order),
/// the model's score (NaN when it has none) and label.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow {
    pub key: u64,
    pub features: Vec<f64>,
    pub score: f64,
    pub predicted: bool,
}

impl Eq for SampleRow {}

impl PartialOrd for SampleRow {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SampleRow {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// A uniform sample of rows, mergeable: every row gets a uniformly random
/// key and the sample is *all rows whose key is at most `threshold`*, kept to
/// at most `cap` rows by lowering the threshold. Merging takes the smaller
/// threshold of the two and the rows at or below it, so a merged sample is
/// exactly what one sample over the union would be (bottom-k sampling).
#[derive(Debug, Clone)]
pub struct RowSample {
    cap: usize,
    /// `u64::MAX`: nothing was left out.
    threshold: u64,
    rows: BinaryHeap<SampleRow>,
}

impl PartialEq for RowSample {
    fn eq(&self, other: &Self) -> bool {
        fn sorted(s: &RowSample) -> Vec<&SampleRow> {
            let mut v: Vec<&SampleRow> = s.rows.iter().collect();
            v.sort_by_key(|r| r.key);
            v
        }
        self.cap == other.cap && self.threshold == other.threshold && sorted(self) == sorted(other)
    }
}

impl RowSample {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            threshold: u64::MAX,
            rows: BinaryHeap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    pub fn rows(&self) -> impl Iterator<Item = &SampleRow> {
        self.rows.iter()
    }

    /// Offers one row; kept when its key is among the `cap` smallest.
    pub fn offer(&mut self, row: SampleRow) {
        if row.key > self.threshold {
            return;
        }
        if self.rows.len() < self.cap {
            self.rows.push(row);
            return;
        }
        match self.rows.peek() {
            Some(top) if row.key < top.key => {
                self.rows.pop();
                self.rows.push(row);
            }
            _ => {}
        }
        self.threshold = self.rows.peek().map_or(0, |t| t.key);
    }

    /// Whether a row with this key would be kept (saves building the row).
    pub fn would_keep(&self, key: u64) -> bool {
        key <= self.threshold
            && (self.rows.len() < self.cap || self.rows.peek().is_some_and(|t| key < t.key))
    }

    /// Merges `other` in, keeping at most this sample's cap.
    pub fn merge(&mut self, other: &RowSample) {
        let threshold = self.threshold.min(other.threshold);
        let mut rows: Vec<SampleRow> = std::mem::take(&mut self.rows)
            .into_vec()
            .into_iter()
            .chain(other.rows.iter().cloned())
            .filter(|r| r.key <= threshold)
            .collect();
        self.threshold = threshold;
        if rows.len() > self.cap {
            rows.select_nth_unstable(self.cap - 1);
            rows.truncate(self.cap);
            self.threshold = rows.iter().map(|r| r.key).max().unwrap_or(0);
        }
        self.rows = rows.into();
    }

    /// A copy with a different cap (lowering the threshold if needed).
    pub fn with_cap(&self, cap: usize) -> RowSample {
        let mut s = RowSample::new(cap);
        s.merge(self);
        s
    }
}

/// A column's counts in one aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnCounts {
    /// Counts on the baseline's decile bins.
    Numeric(Histogram),
    /// Counts per category (the value's [`category_key`]).
    Categorical(CategoryCounts<String>),
}

/// CBPE's sums over rows with a score: with c the calibrated score,
/// TP = Σ_{ŷ=1} c, FP = Σ_{ŷ=1} (1 − c), FN = Σ_{ŷ=0} c, TN = Σ_{ŷ=0} (1 − c).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CbpeSums {
    pub rows: u64,
    pub tp: f64,
    pub fp: f64,
    pub fn_: f64,
    pub tn: f64,
}

impl CbpeSums {
    fn add(&mut self, o: &CbpeSums) {
        self.rows = self.rows.saturating_add(o.rows);
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.tn += o.tn;
    }
}

/// Counts binned against one baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Binned {
    /// The baseline's digest.
    pub baseline: String,
    /// Rows these counts cover.
    pub rows: u64,
    /// One per baseline feature, in the baseline's order.
    pub columns: Vec<ColumnCounts>,
    /// The model's score on the baseline score's bins.
    pub score: Option<Histogram>,
    /// `None` when the baseline has no CBPE (no labels) or a row had no score.
    pub cbpe: Option<CbpeSums>,
}

impl Binned {
    fn empty(digest: &str, profile: &BaselineProfile) -> Self {
        Binned {
            baseline: digest.to_string(),
            rows: 0,
            columns: profile
                .features
                .iter()
                .map(|f| match f.kind {
                    ColumnKind::Numerical => {
                        ColumnCounts::Numeric(Histogram::empty(f.numeric.edges.bins()))
                    }
                    ColumnKind::Categorical => ColumnCounts::Categorical(CategoryCounts::default()),
                })
                .collect(),
            score: profile
                .score
                .as_ref()
                .map(|s| Histogram::empty(s.numeric.edges.bins())),
            cbpe: profile.cbpe.as_ref().map(|_| CbpeSums::default()),
        }
    }

    fn merge(&mut self, o: &Binned) -> Result<(), AggregateError> {
        if self.columns.len() != o.columns.len() {
            return Err(AggregateError::Mismatch("feature count"));
        }
        for (a, b) in self.columns.iter_mut().zip(&o.columns) {
            match (a, b) {
                (ColumnCounts::Numeric(a), ColumnCounts::Numeric(b)) => {
                    a.merge(b).map_err(|_| AggregateError::Mismatch("bins"))?;
                }
                (ColumnCounts::Categorical(a), ColumnCounts::Categorical(b)) => a.merge(b),
                _ => return Err(AggregateError::Mismatch("column kind")),
            }
        }
        match (&mut self.score, &o.score) {
            (Some(a), Some(b)) => a.merge(b).map_err(|_| AggregateError::Mismatch("bins"))?,
            (None, None) => {}
            _ => return Err(AggregateError::Mismatch("score bins")),
        }
        self.cbpe = match (self.cbpe, o.cbpe) {
            (Some(mut a), Some(b)) => {
                a.add(&b);
                Some(a)
            }
            _ => None,
        };
        self.rows = self.rows.saturating_add(o.rows);
        Ok(())
    }
}

/// Why aggregates could not be read or merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AggregateError {
    #[error("stored aggregate is malformed: {0}")]
    Malformed(&'static str),
    #[error("aggregates do not match: {0}")]
    Mismatch(&'static str),
}

/// Everything kept about one period of one deployment's version.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub rows: u64,
    /// Counts against a baseline, when one was known.
    pub binned: Option<Binned>,
    pub sample: RowSample,
}

/// One prediction row, as the aggregate reads it.
#[derive(Debug, Clone, Copy)]
pub struct RowValues<'a> {
    pub features: &'a [f64],
    pub score: Option<f64>,
    pub predicted: Option<f64>,
}

impl Aggregate {
    /// An empty aggregate; with a baseline (its digest and profile) its
    /// counts are binned against it.
    pub fn new(cap: usize, baseline: Option<(&str, &BaselineProfile)>) -> Self {
        Aggregate {
            rows: 0,
            binned: baseline.map(|(d, p)| Binned::empty(d, p)),
            sample: RowSample::new(cap),
        }
    }

    /// Adds one row. `profile` must be the baseline this aggregate was made
    /// with (or `None` if it was made without); `key` is a uniformly random
    /// 64-bit number (the row's sampling key). Rows with a missing or
    /// non-finite feature are left out, as from an exact window.
    pub fn record(&mut self, profile: Option<&BaselineProfile>, row: RowValues<'_>, key: u64) {
        if row.features.iter().any(|v| !v.is_finite()) {
            return;
        }
        if let (Some(b), Some(p)) = (&mut self.binned, profile) {
            if b.columns.len() != row.features.len() || b.columns.len() != p.features.len() {
                return;
            }
            for ((c, base), &v) in b.columns.iter_mut().zip(&p.features).zip(row.features) {
                match c {
                    ColumnCounts::Numeric(h) => {
                        let _ = h.record(base.numeric.edges.bin_of(v));
                    }
                    ColumnCounts::Categorical(counts) => counts.record(category_key(v)),
                }
            }
            let score = row.score.filter(|s| s.is_finite());
            if let (Some(h), Some(base), Some(s)) = (&mut b.score, &p.score, score) {
                let _ = h.record(base.numeric.edges.bin_of(s));
            }
            if let (Some(sums), Some(cbpe)) = (&mut b.cbpe, &p.cbpe) {
                match score.filter(|s| (0.0..=1.0).contains(s)) {
                    Some(s) => {
                        let c = cbpe.calibrate(s);
                        if row.predicted == Some(1.0) {
                            sums.tp += c;
                            sums.fp += 1.0 - c;
                        } else {
                            sums.fn_ += c;
                            sums.tn += 1.0 - c;
                        }
                        sums.rows = sums.rows.saturating_add(1);
                    }
                    None => b.cbpe = None,
                }
            }
            b.rows = b.rows.saturating_add(1);
        }
        self.rows = self.rows.saturating_add(1);
        if self.sample.would_keep(key) {
            self.sample.offer(SampleRow {
                key,
                features: row.features.to_vec(),
                score: row.score.unwrap_or(f64::NAN),
                predicted: row.predicted == Some(1.0),
            });
        }
    }

    /// Merges `other` into this one (the sample keeps this one's cap). Counts
    /// against the same baseline add up; counts against another baseline are
    /// replaced by `other`'s when `other` has some (the newer baseline wins),
    /// else kept.
    pub fn merge(&mut self, other: &Aggregate) -> Result<(), AggregateError> {
        match (&mut self.binned, &other.binned) {
            (Some(a), Some(b)) if a.baseline == b.baseline => a.merge(b)?,
            (_, Some(b)) => self.binned = Some(b.clone()),
            (_, None) => {}
        }
        self.rows = self.rows.saturating_add(other.rows);
        self.sample.merge(&other.sample);
        Ok(())
    }

    /// Merges `other` in for a report against the baseline `digest`: counts
    /// against another baseline are left out.
    pub fn merge_for(&mut self, other: &Aggregate, digest: &str) -> Result<(), AggregateError> {
        match (&mut self.binned, &other.binned) {
            (Some(a), Some(b)) if b.baseline == digest => a.merge(b)?,
            (None, Some(b)) if b.baseline == digest => self.binned = Some(b.clone()),
            _ => {}
        }
        self.rows = self.rows.saturating_add(other.rows);
        self.sample.merge(&other.sample);
        Ok(())
    }

    /// Merges many aggregates for a report against the baseline `digest`:
    /// the same as [`Aggregate::merge_for`] one after another into an empty
    /// aggregate with a sample of `cap` rows, in one pass over the samples.
    pub fn merge_all_for(
        parts: Vec<Aggregate>,
        digest: &str,
        cap: usize,
    ) -> Result<Aggregate, AggregateError> {
        let mut out = Aggregate::new(cap, None);
        let threshold = parts
            .iter()
            .map(|p| p.sample.threshold)
            .min()
            .unwrap_or(u64::MAX);
        let mut rows: Vec<SampleRow> = Vec::new();
        for p in parts {
            match (&mut out.binned, p.binned) {
                (Some(a), Some(b)) if b.baseline == digest => a.merge(&b)?,
                (None, Some(b)) if b.baseline == digest => out.binned = Some(b),
                _ => {}
            }
            out.rows = out.rows.saturating_add(p.rows);
            rows.extend(
                p.sample
                    .rows
                    .into_vec()
                    .into_iter()
                    .filter(|r| r.key <= threshold),
            );
        }
        out.sample.threshold = threshold;
        let cap = out.sample.cap;
        if rows.len() > cap {
            rows.select_nth_unstable(cap - 1);
            rows.truncate(cap);
            out.sample.threshold = rows.iter().map(|r| r.key).max().unwrap_or(0);
        }
        out.sample.rows = rows.into();
        Ok(out)
    }
}

/// The sampling keys of rows: a splitmix64 step, seeded by the caller (the
/// core has no source of randomness of its own).
pub use crate::prng::splitmix64 as next_key;
