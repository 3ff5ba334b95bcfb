//! Every figure of a window computed from its merged aggregate: counts where
//! they were binned against the current baseline, else the row sample.

use std::collections::BTreeMap;

use super::{Aggregate, ColumnCounts, RowSample, SampleRow};
use crate::monitor::{
    category_key, labelled_figures, BaselineColumn, BaselineProfile, ColumnReport, WindowReport,
    WindowRows,
};
use crate::stats::cbpe::CbpeEstimate;
use crate::stats::evidently::{
    column_drift, dataset_drift, default_drift_test, ColumnDrift, ColumnKind, DEFAULT_DRIFT_SHARE,
    DEFAULT_THRESHOLD,
};
use crate::stats::{
    categorical_drift, js_distance, ks_two_sample, wasserstein_distance, BinnedDrift,
    CategoryCounts, Histogram, LogBase, SortedSample, StatsError,
};

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
