//! Monitoring: baselines, feedback receipts and window reports.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A version's profiled baseline (`PUT|GET .../versions/{v}/baseline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Baseline {
    pub model: String,
    pub version: u32,
    /// `sha256:…` of the uploaded CSV.
    pub digest: String,
    pub rows: u64,
    pub label_column: Option<String>,
    pub features: Vec<BaselineFeature>,
    /// Share of positive labels, when a label column was given.
    pub label_rate: Option<f64>,
    /// Whether the scores were calibrated (isotonic) for performance estimation.
    pub calibrated: bool,
    /// The model's in-sample performance on its baseline, when labels were given.
    pub performance: Option<Performance>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// One feature of a baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BaselineFeature {
    pub name: String,
    /// `numeric` or `categorical`.
    pub kind: String,
    /// The edges between the histogram's bins.
    pub bin_cuts: Vec<f64>,
    pub mean: Option<f64>,
}

/// Binary classification metrics; `null` where a figure is undefined
/// (e.g. AUC with one class).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Performance {
    pub n: u64,
    pub accuracy: Option<f64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    pub roc_auc: Option<f64>,
    pub log_loss: Option<f64>,
    pub brier: Option<f64>,
    pub positive_rate_true: Option<f64>,
    pub positive_rate_pred: Option<f64>,
    pub confusion: Confusion,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Confusion {
    pub tn: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub tp: u64,
}

/// Performance estimated without labels (CBPE).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EstimatedPerformance {
    pub accuracy: Option<f64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    pub roc_auc: Option<f64>,
}

/// What `POST .../feedback` made of the labels sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedbackReceipt {
    pub received: u64,
    pub updated: u64,
    /// Keys that matched no logged prediction (the first 1 000).
    pub unknown: Vec<UnknownKey>,
    pub unknown_count: u64,
    /// Lines refused, with why (the first 1 000).
    pub rejected: Vec<Rejected>,
    pub rejected_count: u64,
}

/// A feedback key that matched no logged prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum UnknownKey {
    Request { request_id: String, row: u32 },
    RowId { row_id: String },
}

/// A refused line (CSV, by line number) or item (JSON, by index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Rejected {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u64>,
    pub error: String,
}

impl Rejected {
    /// "line 3: why" or "item 0: why".
    pub fn describe(&self) -> String {
        match (self.line, self.item) {
            (Some(n), _) => format!("line {n}: {}", self.error),
            (None, Some(n)) => format!("item {n}: {}", self.error),
            (None, None) => self.error.clone(),
        }
    }
}

/// A feedback upload every line of which was refused: the receipt, with
/// the error shape's `error` and `code` (HTTP 400).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedbackRefused {
    #[serde(flatten)]
    pub receipt: FeedbackReceipt,
    pub error: String,
    pub code: String,
}

/// `GET .../monitoring`: every monitoring figure of a deployment over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MonitoringReport {
    pub deployment: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Rows answered by each version in the window.
    pub versions: Vec<VersionRows>,
    pub rows: u64,
    pub labeled_rows: u64,
    /// The figures; absent when the window holds no predictions.
    #[serde(flatten, default)]
    pub figures: Option<Figures>,
    /// Why figures are missing or approximate (no predictions yet, no
    /// baseline, a sample).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Rows answered by one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionRows {
    pub model: String,
    pub version: u32,
    pub rows: u64,
}

/// The figures of a window that holds predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Figures {
    /// The version reported on.
    pub model: String,
    pub version: u32,
    pub features: BTreeMap<String, ColumnDrift>,
    pub outputs: BTreeMap<String, ColumnDrift>,
    pub drift_share: Option<f64>,
    pub dataset_drifted: Option<bool>,
    pub performance: Option<Performance>,
    pub fairness: BTreeMap<String, Fairness>,
    pub estimated_performance: Option<EstimatedPerformance>,
    /// Whether every row was read (else: aggregates or a sample).
    pub exact: bool,
    pub sample_size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregates: Option<Aggregates>,
    /// The baseline compared against; `null` without one.
    pub baseline: Option<BaselineSummary>,
}

/// How a long window was read from its hourly aggregates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Aggregates {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub binned_rows: u64,
    pub labelled_rows_read: u64,
    pub labelled_rows: u64,
    pub labelled_sampled: bool,
    pub labelled_rows_cap: u64,
}

/// One column's drift against the baseline. The numeric tests are sent
/// for numeric columns only, the chi-squared test for categorical ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ColumnDrift {
    /// `numeric` or `categorical`.
    pub kind: String,
    pub psi: Option<f64>,
    pub js_distance: Option<f64>,
    pub drifted: bool,
    /// The test that decided `drifted` (Evidently's name, e.g. `wasserstein`).
    pub test: String,
    pub test_score: Option<f64>,
    pub test_threshold: Option<f64>,
    #[serde(flatten)]
    pub tests: KindTests,
}

/// The tests of one kind of column: present (possibly `null`) for that
/// kind, absent for the other.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KindTests {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    #[schema(value_type = Option<f64>)]
    pub ks_statistic: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    #[schema(value_type = Option<f64>)]
    pub ks_pvalue: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    #[schema(value_type = Option<f64>)]
    pub wasserstein: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    #[schema(value_type = Option<f64>)]
    pub chi2_statistic: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    #[schema(value_type = Option<f64>)]
    pub chi2_pvalue: Option<Option<f64>>,
}

/// Group rates and parity figures for one segment attribute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Fairness {
    pub groups: BTreeMap<String, GroupRates>,
    pub demographic_parity_difference: Option<f64>,
    pub demographic_parity_ratio: Option<f64>,
    pub equalized_odds_difference: Option<f64>,
    pub equalized_odds_ratio: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupRates {
    pub count: u64,
    pub selection_rate: Option<f64>,
    pub tpr: Option<f64>,
    pub fpr: Option<f64>,
}

/// The baseline a report compared against.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BaselineSummary {
    pub rows: u64,
    pub calibrated: bool,
    pub label_rate: Option<f64>,
}

/// A field that is absent (`None`), `null` (`Some(None)`) or a value.
pub(crate) mod nullable {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}
