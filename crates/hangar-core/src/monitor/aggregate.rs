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

use std::collections::{BTreeMap, BinaryHeap};

use super::{category_key, labelled_figures, BaselineColumn, BaselineProfile, ColumnReport};
use super::{WindowReport, WindowRows};
use crate::stats::cbpe::CbpeEstimate;
use crate::stats::evidently::{
    column_drift, dataset_drift, default_drift_test, ColumnDrift, ColumnKind, DEFAULT_DRIFT_SHARE,
    DEFAULT_THRESHOLD,
};
use crate::stats::{
    categorical_drift, js_distance, ks_two_sample, wasserstein_distance, BinnedDrift,
    CategoryCounts, Histogram, LogBase, SortedSample, StatsError,
};

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

    /// A compact binary form (little endian, versioned) for storage.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(64 + self.sample.len() * 64);
        w.push(FORMAT);
        put_u64(&mut w, self.rows);
        match &self.binned {
            None => w.push(0),
            Some(b) => {
                w.push(1);
                put_str(&mut w, &b.baseline);
                put_u64(&mut w, b.rows);
                put_u32(&mut w, b.columns.len() as u32);
                for c in &b.columns {
                    match c {
                        ColumnCounts::Numeric(h) => {
                            w.push(0);
                            put_counts(&mut w, h.counts());
                        }
                        ColumnCounts::Categorical(cats) => {
                            w.push(1);
                            let all: Vec<(&String, u64)> = cats.iter().collect();
                            put_u32(&mut w, all.len() as u32);
                            for (k, n) in all {
                                put_str(&mut w, k);
                                put_u64(&mut w, n);
                            }
                        }
                    }
                }
                match &b.score {
                    None => w.push(0),
                    Some(h) => {
                        w.push(1);
                        put_counts(&mut w, h.counts());
                    }
                }
                match &b.cbpe {
                    None => w.push(0),
                    Some(s) => {
                        w.push(1);
                        put_u64(&mut w, s.rows);
                        for x in [s.tp, s.fp, s.fn_, s.tn] {
                            put_f64(&mut w, x);
                        }
                    }
                }
            }
        }
        let s = &self.sample;
        put_u32(&mut w, s.cap as u32);
        put_u64(&mut w, s.threshold);
        let width = s.rows().next().map_or(0, |r| r.features.len());
        put_u32(&mut w, width as u32);
        let rows: Vec<&SampleRow> = s.rows().filter(|r| r.features.len() == width).collect();
        put_u32(&mut w, rows.len() as u32);
        for r in rows {
            put_u64(&mut w, r.key);
            put_f64(&mut w, r.score);
            w.push(u8::from(r.predicted));
            for &v in &r.features {
                put_f64(&mut w, v);
            }
        }
        w
    }

    /// Reads [`Aggregate::encode`]'s form; anything malformed is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, AggregateError> {
        let mut r = Reader { bytes, at: 0 };
        if r.u8()? != FORMAT {
            return Err(AggregateError::Malformed("unknown format"));
        }
        let rows = r.u64()?;
        let binned = match r.u8()? {
            0 => None,
            1 => {
                let baseline = r.string()?;
                let brows = r.u64()?;
                // A column is at least its kind and a u32 count.
                let n = r.len(5)?;
                let mut columns = Vec::with_capacity(n);
                for _ in 0..n {
                    columns.push(match r.u8()? {
                        0 => ColumnCounts::Numeric(Histogram::from_counts(r.counts()?)),
                        1 => {
                            let k = r.len(12)?;
                            let mut map = BTreeMap::new();
                            for _ in 0..k {
                                let key = r.string()?;
                                map.insert(key, r.u64()?);
                            }
                            ColumnCounts::Categorical(CategoryCounts::from_counts(map))
                        }
                        _ => return Err(AggregateError::Malformed("column kind")),
                    });
                }
                let score = match r.u8()? {
                    0 => None,
                    1 => Some(Histogram::from_counts(r.counts()?)),
                    _ => return Err(AggregateError::Malformed("score flag")),
                };
                let cbpe = match r.u8()? {
                    0 => None,
                    1 => Some(CbpeSums {
                        rows: r.u64()?,
                        tp: r.f64()?,
                        fp: r.f64()?,
                        fn_: r.f64()?,
                        tn: r.f64()?,
                    }),
                    _ => return Err(AggregateError::Malformed("cbpe flag")),
                };
                Some(Binned {
                    baseline,
                    rows: brows,
                    columns,
                    score,
                    cbpe,
                })
            }
            _ => return Err(AggregateError::Malformed("baseline flag")),
        };
        let cap = r.u32()? as usize;
        let threshold = r.u64()?;
        let width = r.u32()? as usize;
        let n = r.len(17 + 8 * width)?;
        let mut sample = RowSample::new(cap);
        sample.threshold = threshold;
        let mut heap = Vec::with_capacity(n);
        for _ in 0..n {
            let key = r.u64()?;
            let score = r.f64()?;
            let predicted = r.u8()? != 0;
            let mut features = Vec::with_capacity(width);
            for _ in 0..width {
                features.push(r.f64()?);
            }
            heap.push(SampleRow {
                key,
                features,
                score,
                predicted,
            });
        }
        sample.rows = heap.into();
        if r.at != bytes.len() {
            return Err(AggregateError::Malformed("trailing bytes"));
        }
        Ok(Aggregate {
            rows,
            binned,
            sample,
        })
    }
}

const FORMAT: u8 = 1;

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(w: &mut Vec<u8>, v: u64) {
    w.extend_from_slice(&v.to_le_bytes());
}
fn put_f64(w: &mut Vec<u8>, v: f64) {
    w.extend_from_slice(&v.to_le_bytes());
}
fn put_str(w: &mut Vec<u8>, s: &str) {
    put_u32(w, s.len() as u32);
    w.extend_from_slice(s.as_bytes());
}
fn put_counts(w: &mut Vec<u8>, c: &[u64]) {
    put_u32(w, c.len() as u32);
    for &n in c {
        put_u64(w, n);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], AggregateError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(AggregateError::Malformed("truncated"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, AggregateError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, AggregateError> {
        let mut b = [0; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }
    fn u64(&mut self) -> Result<u64, AggregateError> {
        let mut b = [0; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
    fn f64(&mut self) -> Result<f64, AggregateError> {
        Ok(f64::from_bits(self.u64()?))
    }
    /// A count of items of at least `min_size` bytes each, checked against
    /// what is left so a corrupt count cannot make us allocate wildly.
    fn len(&mut self, min_size: usize) -> Result<usize, AggregateError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size.max(1)) > self.bytes.len() - self.at {
            return Err(AggregateError::Malformed("count past the end"));
        }
        Ok(n)
    }
    fn string(&mut self) -> Result<String, AggregateError> {
        let n = self.len(1)?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| AggregateError::Malformed("text"))
    }
    fn counts(&mut self) -> Result<Vec<u64>, AggregateError> {
        let n = self.len(8)?;
        (0..n).map(|_| self.u64()).collect()
    }
}

/// A splitmix64 step: the sampling keys of rows. Seeded by the caller (the
/// core has no source of randomness of its own).
pub fn next_key(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A report built from aggregates, with what it was built from.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateReport {
    pub report: WindowReport,
    /// Rows in the merged sample (KS, Wasserstein, Evidently's numeric
    /// verdict and CBPE's ROC AUC come from it).
    pub sample_rows: usize,
    /// Rows whose counts were binned against the current baseline (PSI,
    /// Jensen-Shannon, chi-squared and CBPE's other figures cover them).
    pub binned_rows: u64,
}

fn sample_column(sample: &RowSample, j: usize) -> Vec<f64> {
    sample
        .rows()
        .filter_map(|r| r.features.get(j).copied())
        .collect()
}

fn numeric_report(
    base: &BaselineColumn,
    counts: Option<&Histogram>,
    values: &[f64],
) -> Result<ColumnReport, StatsError> {
    let cur = SortedSample::from_slice(values)?;
    let hist = match counts.filter(|h| h.total() > 0) {
        Some(h) => h.clone(),
        None => base.numeric.histogram(cur.values()),
    };
    let binned = BinnedDrift::from_counts(&base.numeric.counts, &hist)?;
    let ks = ks_two_sample(&base.sample, &cur);
    Ok(ColumnReport {
        kind: base.kind,
        psi: binned.psi,
        js_distance: binned.js_distance,
        ks_statistic: Some(ks.statistic),
        ks_pvalue: Some(ks.pvalue),
        wasserstein: Some(wasserstein_distance(&base.sample, &cur)),
        chi2_statistic: None,
        chi2_pvalue: None,
        verdict: column_drift(base.kind, &base.sample, &cur)?,
    })
}

fn categorical_report(
    base: &BaselineColumn,
    counts: Option<&CategoryCounts<String>>,
    values: &[f64],
) -> Result<ColumnReport, StatsError> {
    let from_sample;
    let counts = match counts.filter(|c| c.total() > 0) {
        Some(c) => c,
        None => {
            from_sample = CategoryCounts::from_values(
                values
                    .iter()
                    .map(|v| category_key(*v))
                    .collect::<Vec<_>>()
                    .iter(),
            );
            &from_sample
        }
    };
    let d = categorical_drift(&base.categories, counts)?;
    // Evidently's verdict on a categorical column is the Jensen-Shannon
    // distance (natural log) over the values seen on either side: the same
    // counts, so it is exact here too.
    let test = default_drift_test(base.kind, base.sample.len(), d.categories.len())?;
    let score = js_distance(&d.reference_counts, &d.current_counts, LogBase::E)?;
    Ok(ColumnReport {
        kind: base.kind,
        psi: d.psi,
        js_distance: d.js_distance,
        ks_statistic: None,
        ks_pvalue: None,
        wasserstein: None,
        chi2_statistic: Some(d.chi2.statistic),
        chi2_pvalue: Some(d.chi2.pvalue),
        verdict: ColumnDrift {
            test,
            score,
            threshold: DEFAULT_THRESHOLD,
            drifted: score >= DEFAULT_THRESHOLD,
            distinct_values: d.categories.len(),
        },
    })
}

/// Every figure of a window from its merged aggregate (binned against the
/// baseline `digest`, see [`Aggregate::merge_for`]) and its labelled rows.
pub fn aggregate_report(
    baseline: &BaselineProfile,
    digest: Option<&str>,
    agg: &Aggregate,
    labelled: &WindowRows,
) -> AggregateReport {
    let binned = agg.binned.as_ref().filter(|b| {
        Some(b.baseline.as_str()) == digest && b.columns.len() == baseline.features.len()
    });
    let mut features = BTreeMap::new();
    let mut verdicts = Vec::new();
    for (j, base) in baseline.features.iter().enumerate() {
        let values = sample_column(&agg.sample, j);
        let counts = binned.and_then(|b| b.columns.get(j));
        let r = match base.kind {
            ColumnKind::Numerical => numeric_report(
                base,
                match counts {
                    Some(ColumnCounts::Numeric(h)) => Some(h),
                    _ => None,
                },
                &values,
            ),
            ColumnKind::Categorical => categorical_report(
                base,
                match counts {
                    Some(ColumnCounts::Categorical(c)) => Some(c),
                    _ => None,
                },
                &values,
            ),
        };
        if let Ok(r) = r {
            verdicts.push(r.verdict);
            features.insert(base.name.clone(), r);
        }
    }
    let dataset = dataset_drift(&verdicts, DEFAULT_DRIFT_SHARE).ok();
    let scores: Vec<f64> = agg
        .sample
        .rows()
        .map(|r| r.score)
        .filter(|s| s.is_finite())
        .collect();
    let mut outputs = BTreeMap::new();
    if let Some(score) = &baseline.score {
        if let Ok(r) = numeric_report(score, binned.and_then(|b| b.score.as_ref()), &scores) {
            outputs.insert("score".to_string(), r);
        }
    }
    let estimated_performance = baseline.cbpe.as_ref().and_then(|cbpe| {
        let sums = binned
            .and_then(|b| b.cbpe)
            .filter(|s| s.rows > 0 && Some(s.rows) == binned.map(|b| b.rows))?;
        let n = sums.rows as f64;
        let ratio = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
        let sampled: Vec<&SampleRow> = agg
            .sample
            .rows()
            .filter(|r| (0.0..=1.0).contains(&r.score))
            .collect();
        let pred: Vec<bool> = sampled.iter().map(|r| r.predicted).collect();
        let p1: Vec<f64> = sampled.iter().map(|r| r.score).collect();
        Some(CbpeEstimate {
            accuracy: (sums.tp + sums.tn) / n,
            precision: ratio(sums.tp, sums.tp + sums.fp),
            recall: ratio(sums.tp, sums.tp + sums.fn_),
            f1: ratio(sums.tp, sums.tp + (sums.fp + sums.fn_) / 2.0),
            roc_auc: cbpe.estimate(&pred, &p1).ok().and_then(|e| e.roc_auc),
        })
    });
    let (labeled_rows, performance, fairness) = labelled_figures(labelled);
    AggregateReport {
        report: WindowReport {
            rows: agg.rows as usize,
            labeled_rows,
            features,
            outputs,
            drift_share: dataset.map(|d| d.share),
            dataset_drifted: dataset.map(|d| d.dataset_drift),
            performance,
            fairness,
            estimated_performance,
        },
        sample_rows: agg.sample.len(),
        binned_rows: binned.map_or(0, |b| b.rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::window_report;

    #[test]
    fn a_range_uses_days_then_hours_then_minutes_at_the_edges() {
        let day = 86_400;
        // 2 days + 1 h 30 min + 30 s after midnight, to 5 days + 2 h 10 s.
        let from = 2 * day + 5400 + 30;
        let to = 5 * day + 7200 + 10;
        assert_eq!(
            plan_range(from, to),
            vec![
                (Resolution::Minute, 2 * day + 5400, 2 * day + 7200),
                (Resolution::Hour, 2 * day + 7200, 3 * day),
                (Resolution::Day, 3 * day, 5 * day),
                (Resolution::Hour, 5 * day, 5 * day + 7200),
                (Resolution::Minute, 5 * day + 7200, 5 * day + 7260),
            ]
        );
        assert_eq!(plan_range(60, 120), vec![(Resolution::Minute, 60, 120)]);
        assert!(plan_range(100, 100).is_empty());
        assert_eq!(
            plan_range_inside(30, 3 * 60 + 10),
            vec![(Resolution::Minute, 60, 180)]
        );
        assert!(plan_range_inside(70, 110).is_empty());
        assert_eq!(Resolution::Hour.floor(-1), -3600);
    }

    fn row(key: u64) -> SampleRow {
        SampleRow {
            key,
            features: vec![key as f64],
            score: 0.5,
            predicted: false,
        }
    }

    fn keys(s: &RowSample) -> Vec<u64> {
        let mut k: Vec<u64> = s.rows().map(|r| r.key).collect();
        k.sort_unstable();
        k
    }

    #[test]
    fn merged_samples_are_the_sample_of_the_union() {
        let mut state = 7;
        let all: Vec<u64> = (0..5000).map(|_| next_key(&mut state)).collect();
        let mut whole = RowSample::new(300);
        all.iter().for_each(|&k| whole.offer(row(k)));
        // Three unequal parts sampled with a smaller cap each, then merged.
        let mut merged = RowSample::new(300);
        for part in [&all[..100], &all[100..3000], &all[3000..]] {
            let mut s = RowSample::new(200);
            part.iter().for_each(|&k| s.offer(row(k)));
            merged.merge(&s);
        }
        // Every kept row is one the whole sample kept, and nothing below the
        // merged threshold is missing.
        let mut sorted = all.clone();
        sorted.sort_unstable();
        let expected: Vec<u64> = sorted
            .iter()
            .copied()
            .filter(|&k| k <= merged.threshold())
            .collect();
        assert_eq!(keys(&merged), expected);
        assert!(keys(&merged).iter().all(|k| keys(&whole).contains(k)));
        assert!(
            merged.len() >= 200 && merged.len() <= 300,
            "{}",
            merged.len()
        );
        // A sample that saw fewer rows than its cap keeps them all.
        let mut small = RowSample::new(10);
        (0..4).for_each(|k| small.offer(row(k)));
        assert_eq!((small.len(), small.threshold()), (4, u64::MAX));
        assert_eq!(small.with_cap(2).len(), 2);
    }

    fn baseline() -> BaselineProfile {
        let x: Vec<f64> = (0..3000).map(|i| f64::from(i % 101) * 0.5).collect();
        let c: Vec<f64> = (0..3000).map(|i| f64::from(i % 4)).collect();
        let p1: Vec<f64> = (0..3000).map(|i| f64::from(i % 97) / 96.0).collect();
        let pred: Vec<bool> = p1.iter().map(|p| *p >= 0.5).collect();
        let y: Vec<bool> = (0..3000).map(|i| (i * 7) % 10 < 5).collect();
        BaselineProfile::build(
            vec![
                ("x".into(), ColumnKind::Numerical, x),
                ("c".into(), ColumnKind::Categorical, c),
            ],
            Some((p1, pred)),
            Some(y),
        )
        .unwrap()
    }

    /// A drifted window: x shifted, c skewed, scores higher.
    fn window(n: usize) -> Vec<(Vec<f64>, f64, f64)> {
        (0..n)
            .map(|i| {
                let x = (i % 83) as f64 * 0.6 + 3.0;
                let c = [0.0, 1.0, 1.0, 2.0, 3.0, 5.0][i % 6];
                let p = ((i * 13) % 89) as f64 / 88.0 * 0.8 + 0.2;
                (vec![x, c], p, if p >= 0.5 { 1.0 } else { 0.0 })
            })
            .collect()
    }

    fn aggregate_of(
        profile: &BaselineProfile,
        rows: &[(Vec<f64>, f64, f64)],
        cap: usize,
        seed: u64,
    ) -> Aggregate {
        let mut a = Aggregate::new(cap, Some(("d1", profile)));
        let mut state = seed;
        for (f, s, p) in rows {
            let values = RowValues {
                features: f,
                score: Some(*s),
                predicted: Some(*p),
            };
            a.record(Some(profile), values, next_key(&mut state));
        }
        a
    }

    fn exact(profile: &BaselineProfile, rows: &[(Vec<f64>, f64, f64)]) -> WindowReport {
        let w = WindowRows {
            features: BTreeMap::from([
                ("x".to_string(), rows.iter().map(|r| r.0[0]).collect()),
                ("c".to_string(), rows.iter().map(|r| r.0[1]).collect()),
            ]),
            scores: rows.iter().map(|r| r.1).collect(),
            predicted: rows.iter().map(|r| r.2 == 1.0).collect(),
            labels: vec![None; rows.len()],
            segments: BTreeMap::new(),
        };
        window_report(profile, &w)
    }

    fn near(a: f64, b: f64, what: &str) {
        assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            "{what}: {a} vs {b}"
        );
    }

    #[test]
    fn minutes_merged_give_the_exact_figures_when_the_sample_holds_every_row() {
        let profile = baseline();
        let rows = window(2500);
        // Five "minutes" of 500 rows, merged as an hour would merge them.
        let mut merged = Aggregate::new(REPORT_SAMPLE, None);
        for (i, part) in rows.chunks(500).enumerate() {
            let minute = aggregate_of(&profile, part, 600, i as u64);
            let bytes = minute.encode();
            let back = Aggregate::decode(&bytes).unwrap();
            assert_eq!(back, minute, "stored form round-trips");
            merged.merge_for(&back, "d1").unwrap();
        }
        let got = aggregate_report(&profile, Some("d1"), &merged, &WindowRows::default());
        let want = exact(&profile, &rows);
        assert_eq!(
            (got.report.rows, got.sample_rows, got.binned_rows),
            (2500, 2500, 2500)
        );
        for name in ["x", "c"] {
            let (g, w) = (&got.report.features[name], &want.features[name]);
            near(g.psi, w.psi, "psi");
            near(g.js_distance, w.js_distance, "js");
            assert_eq!(g.verdict.test, w.verdict.test);
            near(g.verdict.score, w.verdict.score, "evidently score");
            for (a, b) in [
                (g.ks_statistic, w.ks_statistic),
                (g.ks_pvalue, w.ks_pvalue),
                (g.wasserstein, w.wasserstein),
                (g.chi2_statistic, w.chi2_statistic),
                (g.chi2_pvalue, w.chi2_pvalue),
            ] {
                assert_eq!(a.is_some(), b.is_some());
                if let (Some(a), Some(b)) = (a, b) {
                    near(a, b, name);
                }
            }
        }
        near(
            got.report.outputs["score"].psi,
            want.outputs["score"].psi,
            "score psi",
        );
        assert_eq!(got.report.drift_share, want.drift_share);
        let (g, w) = (
            got.report.estimated_performance.unwrap(),
            want.estimated_performance.unwrap(),
        );
        near(g.accuracy, w.accuracy, "cbpe accuracy");
        near(g.f1, w.f1, "cbpe f1");
        near(g.roc_auc.unwrap(), w.roc_auc.unwrap(), "cbpe auc");
    }

    #[test]
    fn past_the_sample_cap_counts_stay_exact_and_the_sample_is_bounded() {
        let profile = baseline();
        let rows = window(20_000);
        let mut merged = Aggregate::new(1000, None);
        for (i, part) in rows.chunks(2000).enumerate() {
            merged
                .merge_for(&aggregate_of(&profile, part, 256, 100 + i as u64), "d1")
                .unwrap();
        }
        let parts: Vec<Aggregate> = rows
            .chunks(2000)
            .enumerate()
            .map(|(i, part)| aggregate_of(&profile, part, 256, 100 + i as u64))
            .collect();
        assert_eq!(
            Aggregate::merge_all_for(parts, "d1", 1000).unwrap(),
            merged,
            "merging all at once is merging one by one"
        );
        let got = aggregate_report(&profile, Some("d1"), &merged, &WindowRows::default());
        let want = exact(&profile, &rows);
        assert_eq!(got.report.rows, 20_000);
        assert!(
            got.sample_rows <= 1000 && got.sample_rows >= 256,
            "{}",
            got.sample_rows
        );
        // Counts-based figures are exact.
        near(got.report.features["x"].psi, want.features["x"].psi, "psi");
        near(
            got.report.features["c"].chi2_statistic.unwrap(),
            want.features["c"].chi2_statistic.unwrap(),
            "chi2",
        );
        let (g, w) = (
            got.report.estimated_performance.unwrap(),
            want.estimated_performance.unwrap(),
        );
        near(g.accuracy, w.accuracy, "cbpe accuracy");
        // Sample-based ones are close.
        let (gk, wk) = (
            got.report.features["x"].ks_statistic.unwrap(),
            want.features["x"].ks_statistic.unwrap(),
        );
        assert!((gk - wk).abs() < 0.08, "ks {gk} vs {wk}");
        assert_eq!(
            got.report.features["x"].verdict.drifted,
            want.features["x"].verdict.drifted
        );
    }

    #[test]
    fn counts_against_another_baseline_are_left_out_of_a_report() {
        let profile = baseline();
        let rows = window(300);
        let old = {
            let mut a = aggregate_of(&profile, &rows, 500, 1);
            if let Some(b) = &mut a.binned {
                b.baseline = "old".into();
            }
            a
        };
        let mut merged = Aggregate::new(REPORT_SAMPLE, None);
        merged.merge_for(&old, "d1").unwrap();
        merged
            .merge_for(&aggregate_of(&profile, &rows, 500, 2), "d1")
            .unwrap();
        assert_eq!(merged.rows, 600);
        assert_eq!(merged.binned.as_ref().unwrap().rows, 300);
        // Storage merges let the newer baseline's counts win.
        let mut stored = old.clone();
        stored
            .merge(&aggregate_of(&profile, &rows, 500, 3))
            .unwrap();
        assert_eq!(stored.binned.as_ref().unwrap().baseline, "d1");
        assert_eq!(stored.binned.as_ref().unwrap().rows, 300);
        // Without any matching counts the figures come from the sample.
        let mut only_old = Aggregate::new(REPORT_SAMPLE, None);
        only_old.merge_for(&old, "d1").unwrap();
        let r = aggregate_report(&profile, Some("d1"), &only_old, &WindowRows::default());
        assert_eq!((r.binned_rows, r.sample_rows), (0, 300));
        near(
            r.report.features["x"].psi,
            exact(&profile, &rows).features["x"].psi,
            "psi",
        );
        assert_eq!(r.report.estimated_performance, None);
    }

    #[test]
    fn malformed_stored_aggregates_are_errors_not_panics() {
        let profile = baseline();
        let bytes = aggregate_of(&profile, &window(50), 64, 9).encode();
        for cut in [0, 1, 9, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(Aggregate::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Aggregate::decode(&longer).is_err());
        let mut huge = bytes;
        huge[9] = 1;
        huge[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Aggregate::decode(&huge).is_err());
        assert!(Aggregate::decode(&[2]).is_err());
    }
}
