//! What monitoring shows for a window of predictions against a version's
//! baseline: per-column drift (with Evidently's default test deciding
//! `drifted`), the dataset verdict, performance once labels arrive, fairness
//! per segment attribute, and performance estimated from the model's own
//! probabilities (CBPE). Pure: rows in, report out.

use std::collections::BTreeMap;

pub mod aggregate;

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
    let categories = CategoryCounts::from_values(
        values
            .iter()
            .map(|v| category_key(*v))
            .collect::<Vec<_>>()
            .iter(),
    );
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
            label_rate: labels
                .as_ref()
                .map(|y| y.iter().filter(|&&t| t).count() as f64 / y.len().max(1) as f64),
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
            let counts = CategoryCounts::from_values(
                current
                    .iter()
                    .map(|v| category_key(*v))
                    .collect::<Vec<_>>()
                    .iter(),
            );
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
    let n = rows
        .scores
        .len()
        .max(rows.features.values().map(Vec::len).max().unwrap_or(0));
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
    let (labeled_rows, performance, fairness) = labelled_figures(rows);
    let estimated_performance = baseline
        .cbpe
        .as_ref()
        .and_then(|c| c.estimate(&rows.predicted, &rows.scores).ok());
    WindowReport {
        rows: n,
        labeled_rows,
        drift_share: dataset.map(|d| d.share),
        dataset_drifted: dataset.map(|d| d.dataset_drift),
        features,
        outputs,
        performance,
        fairness,
        estimated_performance,
    }
}

/// The figures of a window's labelled rows: how many, performance, and
/// fairness per segment attribute.
pub(crate) fn labelled_figures(
    rows: &WindowRows,
) -> (
    usize,
    Option<ClassificationMetrics>,
    BTreeMap<String, FairnessReport<String>>,
) {
    let labelled: Vec<usize> = (0..rows.labels.len())
        .filter(|&i| rows.labels[i].is_some())
        .collect();
    let paired =
        rows.scores.len() == rows.labels.len() && rows.predicted.len() == rows.labels.len();
    let performance = if labelled.is_empty() || !paired {
        None
    } else {
        let y: Vec<bool> = labelled
            .iter()
            .map(|&i| rows.labels[i].unwrap_or(false))
            .collect();
        let pred: Vec<bool> = labelled.iter().map(|&i| rows.predicted[i]).collect();
        let p1: Vec<f64> = labelled.iter().map(|&i| rows.scores[i]).collect();
        binary_classification_metrics(&y, &pred, &p1).ok()
    };
    let mut fairness = BTreeMap::new();
    for (attr, values) in &rows.segments {
        let mut groups: BTreeMap<String, ConfusionMatrix> = BTreeMap::new();
        for &i in &labelled {
            if let (Some(g), Some(Some(y)), Some(p)) =
                (values.get(i), rows.labels.get(i), rows.predicted.get(i))
            {
                groups.entry(g.clone()).or_default().record(*y, *p);
            }
        }
        if let Ok(r) = crate::stats::fairness::fairness_from_confusion(&groups) {
            fairness.insert(attr.clone(), r);
        }
    }
    (labelled.len(), performance, fairness)
}

/// Per row: the model's score (probability of class 1: column 1 of a
/// `[N, 2]` `probabilities` output, or a `[N]`/`[N, 1]` float output) and its
/// label (the `label` output, else the first integer `[N]` output).
pub fn scores_and_labels(
    outputs: &[crate::Tensor],
    rows: usize,
) -> (Vec<Option<f64>>, Vec<Option<f64>>) {
    use crate::TensorData;
    let as_f64 = |t: &crate::Tensor, i: usize| -> Option<f64> {
        match &t.data {
            TensorData::Fp32(v) => v.get(i).map(|x| f64::from(*x)),
            TensorData::Fp64(v) => v.get(i).copied(),
            TensorData::Int64(v) => v.get(i).map(|x| *x as f64),
            TensorData::Int32(v) => v.get(i).map(|x| f64::from(*x)),
            TensorData::Bool(v) => v.get(i).map(|x| f64::from(u8::from(*x))),
            _ => None,
        }
    };
    let is_float = |t: &&crate::Tensor| matches!(t.data, TensorData::Fp32(_) | TensorData::Fp64(_));
    let is_int = |t: &&crate::Tensor| {
        matches!(
            t.data,
            TensorData::Int64(_) | TensorData::Int32(_) | TensorData::Bool(_)
        )
    };
    let score_t = outputs
        .iter()
        .find(|t| t.name == "probabilities" && is_float(t))
        .or_else(|| outputs.iter().find(is_float));
    let label_t = outputs
        .iter()
        .find(|t| t.name == "label" && is_int(t))
        .or_else(|| outputs.iter().find(|t| is_int(t) && t.shape.len() == 1));
    let scores = (0..rows)
        .map(|i| {
            let t = score_t?;
            match t.shape.as_slice() {
                [n, 2] if *n == rows => as_f64(t, i * 2 + 1),
                [n, 1] | [n] if *n == rows => as_f64(t, i),
                _ => None,
            }
        })
        .collect();
    let labels = (0..rows)
        .map(|i| {
            let t = label_t?;
            (t.shape.first() == Some(&rows))
                .then(|| as_f64(t, i))
                .flatten()
        })
        .collect();
    (scores, labels)
}

/// A 2-D numeric tensor's values as f64, row after row, with its row width.
pub fn tensor_matrix(t: &crate::Tensor) -> Option<(Vec<f64>, usize)> {
    use crate::TensorData;
    let [_, cols] = t.shape.as_slice() else {
        return None;
    };
    let flat: Vec<f64> = match &t.data {
        TensorData::Fp32(v) => v.iter().map(|x| f64::from(*x)).collect(),
        TensorData::Fp64(v) => v.clone(),
        TensorData::Int64(v) => v.iter().map(|x| *x as f64).collect(),
        TensorData::Int32(v) => v.iter().map(|x| f64::from(*x)).collect(),
        _ => return None,
    };
    Some((flat, *cols))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Tensor, TensorData};

    #[test]
    fn scores_come_from_class_one_and_labels_from_the_label_output() {
        let outputs = vec![
            Tensor::new("label", vec![2], TensorData::Int64(vec![1, 0])).unwrap(),
            Tensor::new(
                "probabilities",
                vec![2, 2],
                TensorData::Fp32(vec![0.25, 0.75, 0.5, 0.5]),
            )
            .unwrap(),
        ];
        let (s, l) = scores_and_labels(&outputs, 2);
        assert_eq!(s, vec![Some(0.75), Some(0.5)]);
        assert_eq!(l, vec![Some(1.0), Some(0.0)]);
        let (s, l) = scores_and_labels(&[], 2);
        assert_eq!((s, l), (vec![None, None], vec![None, None]));
    }

    #[test]
    fn a_window_like_its_baseline_does_not_drift() {
        let values: Vec<f64> = (0..2000).map(|i| f64::from(i % 97)).collect();
        let cats: Vec<f64> = (0..2000).map(|i| f64::from(i % 3)).collect();
        let p1: Vec<f64> = (0..2000).map(|i| f64::from(i % 100) / 100.0).collect();
        let pred: Vec<bool> = p1.iter().map(|p| *p > 0.5).collect();
        let labels: Vec<bool> = (0..2000).map(|i| i % 2 == 0).collect();
        let baseline = BaselineProfile::build(
            vec![
                ("x".into(), ColumnKind::Numerical, values.clone()),
                ("c".into(), ColumnKind::Categorical, cats.clone()),
            ],
            Some((p1.clone(), pred.clone())),
            Some(labels.clone()),
        )
        .unwrap();
        let rows = WindowRows {
            features: BTreeMap::from([("x".to_string(), values), ("c".to_string(), cats)]),
            scores: p1,
            predicted: pred,
            labels: labels.iter().map(|l| Some(*l)).collect(),
            segments: BTreeMap::from([(
                "g".to_string(),
                (0..2000).map(|i| (i % 2).to_string()).collect(),
            )]),
        };
        let r = window_report(&baseline, &rows);
        assert_eq!((r.rows, r.labeled_rows), (2000, 2000));
        assert_eq!(r.features["x"].psi, 0.0);
        assert!(!r.features["x"].verdict.drifted);
        assert_eq!(r.features["c"].chi2_statistic, Some(0.0));
        assert_eq!(r.drift_share, Some(0.0));
        assert_eq!(r.dataset_drifted, Some(false));
        assert!(r.performance.is_some());
        assert_eq!(r.fairness["g"].by_group.len(), 2);
        assert!(r.estimated_performance.is_some());
    }
}
