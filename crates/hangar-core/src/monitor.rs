//! What monitoring shows for a window of predictions against a version's
//! baseline: per-column drift (with Evidently's default test deciding
//! `drifted`), the dataset verdict, performance once labels arrive, fairness
//! per segment attribute, and performance estimated from the model's own
//! probabilities (CBPE). Pure: rows in, report out.

use std::collections::BTreeMap;

use crate::stats::cbpe::{Calibration, Cbpe, CbpeEstimate};
use crate::stats::evidently::{
    column_drift, dataset_drift, ColumnDrift, ColumnKind, DEFAULT_DRIFT_SHARE,
};
use crate::stats::{
    binary_classification_metrics, categorical_drift, numeric_drift, CategoryCounts,
    ClassificationMetrics, ConfusionMatrix, FairnessReport, NumericBaseline, SortedSample,
    StatsError,
};

/// One column of a baseline, as profiled.
#[derive(Debug, Clone)]
pub struct BaselineColumn {
    pub name: String,
    pub kind: ColumnKind,
    pub sample: SortedSample,
    pub numeric: NumericBaseline,
    pub categories: CategoryCounts<String>,
}

/// A version's baseline: its training data profiled, with the model's own
/// outputs on it and, when labels were given, the calibrator for CBPE.
#[derive(Debug, Clone)]
pub struct BaselineProfile {
    pub rows: usize,
    pub features: Vec<BaselineColumn>,
    /// The model's score (probability of class 1) on the baseline rows.
    pub score: Option<BaselineColumn>,
    pub label_rate: Option<f64>,
    /// Performance of the model on its own baseline (in-sample).
    pub performance: Option<ClassificationMetrics>,
    pub cbpe: Option<Cbpe>,
    pub calibrated: bool,
}

/// A category key for a numeric value: integers print without a fraction.
pub fn category_key(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn column(name: &str, kind: ColumnKind, values: Vec<f64>) -> Result<BaselineColumn, StatsError> {
    let categories = CategoryCounts::from_values(values.iter().map(|v| category_key(*v)).collect::<Vec<_>>().iter());
    let sample = SortedSample::new(values)?;
    Ok(BaselineColumn {
        name: name.to_string(),
        kind,
        numeric: NumericBaseline::profile(&sample),
        sample,
        categories,
    })
}

impl BaselineProfile {
    /// Profiles baseline columns (feature name, declared kind, values), with
    /// the model's p1 and labels on the same rows when known.
    pub fn build(
        features: Vec<(String, ColumnKind, Vec<f64>)>,
        scores: Option<(Vec<f64>, Vec<bool>)>,
        labels: Option<Vec<bool>>,
    ) -> Result<Self, StatsError> {
        let rows = features.first().map_or(0, |f| f.2.len());
        let features = features
            .into_iter()
            .map(|(n, k, v)| column(&n, k, v))
            .collect::<Result<Vec<_>, _>>()?;
        let score = match &scores {
            Some((p1, _)) => Some(column("score", ColumnKind::Numerical, p1.clone())?),
            None => None,
        };
        let (performance, cbpe, calibrated) = match (&scores, &labels) {
            (Some((p1, predicted)), Some(y)) => {
                let perf = binary_classification_metrics(y, predicted, p1)?;
                let cbpe = Cbpe::fit(y, p1, Calibration::Auto)?;
                let calibrated = cbpe.calibrator().is_some();
                (Some(perf), Some(cbpe), calibrated)
            }
            _ => (None, None, false),
        };
        Ok(BaselineProfile {
            rows,
            label_rate: labels.as_ref().map(|y| y.iter().filter(|&&t| t).count() as f64 / y.len().max(1) as f64),
            features,
            score,
            performance,
            cbpe,
            calibrated,
        })
    }
}

/// Drift of one column in a window.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnReport {
    pub kind: ColumnKind,
    pub psi: f64,
    pub js_distance: f64,
    /// Numeric columns.
    pub ks_statistic: Option<f64>,
    pub ks_pvalue: Option<f64>,
    pub wasserstein: Option<f64>,
    /// Categorical columns.
    pub chi2_statistic: Option<f64>,
    pub chi2_pvalue: Option<f64>,
    /// Evidently's default verdict: the test, its score and whether it drifted.
    pub verdict: ColumnDrift,
}

fn column_report(base: &BaselineColumn, current: &[f64]) -> Result<ColumnReport, StatsError> {
    let cur = SortedSample::from_slice(current)?;
    let verdict = column_drift(base.kind, &base.sample, &cur)?;
    Ok(match base.kind {
        ColumnKind::Numerical => {
            let d = numeric_drift(&base.numeric, &base.sample, &cur)?;
            ColumnReport {
                kind: base.kind,
                psi: d.binned.psi,
                js_distance: d.binned.js_distance,
                ks_statistic: Some(d.ks.statistic),
                ks_pvalue: Some(d.ks.pvalue),
                wasserstein: Some(d.wasserstein),
                chi2_statistic: None,
                chi2_pvalue: None,
                verdict,
            }
        }
        ColumnKind::Categorical => {
            let counts = CategoryCounts::from_values(current.iter().map(|v| category_key(*v)).collect::<Vec<_>>().iter());
            let d = categorical_drift(&base.categories, &counts)?;
            ColumnReport {
                kind: base.kind,
                psi: d.psi,
                js_distance: d.js_distance,
                ks_statistic: None,
                ks_pvalue: None,
                wasserstein: None,
                chi2_statistic: Some(d.chi2.statistic),
                chi2_pvalue: Some(d.chi2.pvalue),
                verdict,
            }
        }
    })
}

/// The rows of a window, column-wise.
#[derive(Debug, Clone, Default)]
pub struct WindowRows {
    /// Feature values by feature name, one per row.
    pub features: BTreeMap<String, Vec<f64>>,
    /// The model's p1 per row (classifiers).
    pub scores: Vec<f64>,
    /// The model's label per row.
    pub predicted: Vec<bool>,
    /// True outcomes, when they arrived.
    pub labels: Vec<Option<bool>>,
    /// Segment attribute values by attribute name, one per row.
    pub segments: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WindowReport {
    pub rows: usize,
    pub labeled_rows: usize,
    pub features: BTreeMap<String, ColumnReport>,
    pub outputs: BTreeMap<String, ColumnReport>,
    pub drift_share: Option<f64>,
    pub dataset_drifted: Option<bool>,
    pub performance: Option<ClassificationMetrics>,
    pub fairness: BTreeMap<String, FairnessReport<String>>,
    pub estimated_performance: Option<CbpeEstimate>,
}

/// Every figure of a window against a baseline. Columns that cannot be
/// computed (e.g. an empty window) are left out rather than failing the report.
pub fn window_report(baseline: &BaselineProfile, rows: &WindowRows) -> WindowReport {
    let n = rows.scores.len().max(rows.features.values().map(Vec::len).max().unwrap_or(0));
    let mut features = BTreeMap::new();
    let mut verdicts = Vec::new();
    for base in &baseline.features {
        if let Some(values) = rows.features.get(&base.name) {
            if let Ok(r) = column_report(base, values) {
                verdicts.push(r.verdict);
                features.insert(base.name.clone(), r);
            }
        }
    }
    let dataset = dataset_drift(&verdicts, DEFAULT_DRIFT_SHARE).ok();
    let mut outputs = BTreeMap::new();
    if let Some(score) = &baseline.score {
        if let Ok(r) = column_report(score, &rows.scores) {
            outputs.insert("score".to_string(), r);
        }
    }
    // Labelled rows only.
    let labelled: Vec<usize> = (0..rows.labels.len()).filter(|&i| rows.labels[i].is_some()).collect();
    let performance = if labelled.is_empty() || rows.scores.len() != rows.labels.len() {
        None
    } else {
        let y: Vec<bool> = labelled.iter().map(|&i| rows.labels[i].unwrap_or(false)).collect();
        let pred: Vec<bool> = labelled.iter().map(|&i| rows.predicted[i]).collect();
        let p1: Vec<f64> = labelled.iter().map(|&i| rows.scores[i]).collect();
        binary_classification_metrics(&y, &pred, &p1).ok()
    };
    let mut fairness = BTreeMap::new();
    for (attr, values) in &rows.segments {
        let mut groups: BTreeMap<String, ConfusionMatrix> = BTreeMap::new();
        for &i in &labelled {
            if let (Some(g), Some(Some(y))) = (values.get(i), rows.labels.get(i)) {
                groups.entry(g.clone()).or_default().record(*y, rows.predicted[i]);
            }
        }
        if let Ok(r) = crate::stats::fairness::fairness_from_confusion(&groups) {
            fairness.insert(attr.clone(), r);
        }
    }
    let estimated_performance = baseline
        .cbpe
        .as_ref()
        .and_then(|c| c.estimate(&rows.predicted, &rows.scores).ok());
    WindowReport {
        rows: n,
        labeled_rows: labelled.len(),
        drift_share: dataset.map(|d| d.share),
        dataset_drifted: dataset.map(|d| d.dataset_drift),
        features,
        outputs,
        performance,
        fairness,
        estimated_performance,
    }
}
