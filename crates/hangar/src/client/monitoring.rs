//! Monitoring: baselines, feedback, monitoring reports and the prediction log.

use std::collections::BTreeMap;

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

use super::{api_error, transport, Client, ClientError, Fetched};

/// A version's profiled baseline (`PUT|GET .../versions/{v}/baseline`).
#[derive(Debug, Deserialize)]
pub struct Baseline {
    #[serde(default)]
    pub model: String,
    pub version: u32,
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub label_column: Option<String>,
    #[serde(default)]
    pub features: Vec<BaselineFeature>,
    /// Share of positive labels, when a label column was given.
    #[serde(default)]
    pub label_rate: Option<f64>,
    /// Whether the scores were calibrated (isotonic) for performance estimation.
    #[serde(default)]
    pub calibrated: bool,
    /// The model's in-sample performance on its baseline, when labels were given.
    #[serde(default)]
    pub performance: Option<Performance>,
    #[serde(default)]
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
pub struct BaselineFeature {
    pub name: String,
    /// `numeric` or `categorical`.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub mean: Option<f64>,
}

/// How a baseline's CSV is read: which column holds the true label, which
/// features are categories rather than numbers.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BaselineColumns {
    pub label_column: Option<String>,
    pub categorical: Vec<String>,
}

/// A request body of known length, read as it is sent.
#[derive(Debug)]
pub struct Upload {
    pub length: u64,
    pub body: reqwest::Body,
}

/// Binary classification metrics. Every figure is optional: the server sends
/// `null` where one is undefined (e.g. AUC with one class).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Performance {
    #[serde(default)]
    pub n: Option<u64>,
    #[serde(default)]
    pub accuracy: Option<f64>,
    #[serde(default)]
    pub precision: Option<f64>,
    #[serde(default)]
    pub recall: Option<f64>,
    #[serde(default)]
    pub f1: Option<f64>,
    #[serde(default)]
    pub roc_auc: Option<f64>,
    #[serde(default)]
    pub log_loss: Option<f64>,
    #[serde(default)]
    pub brier: Option<f64>,
    #[serde(default)]
    pub positive_rate_true: Option<f64>,
    #[serde(default)]
    pub positive_rate_pred: Option<f64>,
    #[serde(default)]
    pub confusion: Option<Confusion>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct Confusion {
    #[serde(default)]
    pub tn: u64,
    #[serde(default)]
    pub fp: u64,
    #[serde(default, rename = "fn")]
    pub fn_: u64,
    #[serde(default)]
    pub tp: u64,
}

/// What `POST .../feedback` made of the labels sent.
#[derive(Debug, Deserialize)]
pub struct FeedbackReceipt {
    pub received: u64,
    pub updated: u64,
    /// The keys that matched no logged prediction, as sent back:
    /// `{"row_id"}` or `{"request_id", "row"}` (the first 1 000).
    #[serde(default)]
    pub unknown: Vec<Value>,
    /// How many keys matched nothing (a server that does not say: the
    /// list's length).
    #[serde(default)]
    pub unknown_count: Option<u64>,
    /// Lines refused, `{"line" (CSV) or "item" (JSON), "error"}` (the first
    /// 1 000).
    #[serde(default)]
    pub rejected: Vec<Value>,
    #[serde(default)]
    pub rejected_count: u64,
}

impl FeedbackReceipt {
    pub fn unknown_count(&self) -> u64 {
        self.unknown_count.unwrap_or(self.unknown.len() as u64)
    }
}

/// The time range of a report or export; `None` leaves the server's default
/// (the last 24 hours, up to now).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Window {
    pub from: Option<String>,
    pub to: Option<String>,
}

impl Window {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(from) = &self.from {
            q.push(("from", from.clone()));
        }
        if let Some(to) = &self.to {
            q.push(("to", to.clone()));
        }
        q
    }
}

/// `GET .../monitoring`: every monitoring figure of a deployment over a window.
#[derive(Debug, Deserialize)]
pub struct MonitoringReport {
    #[serde(default)]
    pub deployment: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// Rows answered by each version in the window.
    #[serde(default)]
    pub versions: Vec<VersionRows>,
    /// The version reported on (absent when the window is empty).
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub labeled_rows: u64,
    #[serde(default)]
    pub features: BTreeMap<String, ColumnDrift>,
    #[serde(default)]
    pub outputs: BTreeMap<String, ColumnDrift>,
    #[serde(default)]
    pub drift_share: Option<f64>,
    #[serde(default)]
    pub dataset_drifted: Option<bool>,
    #[serde(default)]
    pub performance: Option<Performance>,
    #[serde(default)]
    pub fairness: BTreeMap<String, Fairness>,
    #[serde(default)]
    pub estimated_performance: Option<Performance>,
    #[serde(default)]
    pub baseline: Option<BaselineSummary>,
    /// Why figures are missing (no predictions yet, no baseline).
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VersionRows {
    pub model: String,
    pub version: u32,
    pub rows: u64,
}

/// One column's drift against the baseline.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ColumnDrift {
    /// `numeric` or `categorical`.
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub psi: Option<f64>,
    #[serde(default)]
    pub ks_pvalue: Option<f64>,
    #[serde(default)]
    pub chi2_pvalue: Option<f64>,
    #[serde(default)]
    pub drifted: bool,
    /// The test that decided `drifted` (Evidently's name, e.g. `wasserstein`).
    #[serde(default)]
    pub test: String,
    #[serde(default)]
    pub test_score: Option<f64>,
    #[serde(default)]
    pub test_threshold: Option<f64>,
}

/// Group rates and parity figures for one segment attribute.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Fairness {
    #[serde(default)]
    pub groups: BTreeMap<String, GroupRates>,
    #[serde(default)]
    pub demographic_parity_difference: Option<f64>,
    #[serde(default)]
    pub demographic_parity_ratio: Option<f64>,
    #[serde(default)]
    pub equalized_odds_difference: Option<f64>,
    #[serde(default)]
    pub equalized_odds_ratio: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct GroupRates {
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub selection_rate: Option<f64>,
    #[serde(default)]
    pub tpr: Option<f64>,
    #[serde(default)]
    pub fpr: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct BaselineSummary {
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub calibrated: bool,
    #[serde(default)]
    pub label_rate: Option<f64>,
}

impl Client {
    /// Uploads a version's training data (CSV) to be profiled as its baseline.
    pub async fn put_baseline(
        &self,
        model: &str,
        version: u32,
        columns: &BaselineColumns,
        csv: Upload,
    ) -> Result<Fetched<Baseline>, ClientError> {
        let url = self.baseline_url(model, version);
        let mut query = Vec::new();
        if let Some(label) = &columns.label_column {
            query.push(("label_column", label.clone()));
        }
        if !columns.categorical.is_empty() {
            query.push(("categorical", columns.categorical.join(",")));
        }
        let request = self
            .http
            .put(url.clone())
            .query(&query)
            .header(CONTENT_TYPE, "text/csv")
            .header(CONTENT_LENGTH, csv.length)
            .body(csv.body);
        self.call(request, &url).await
    }

    pub async fn get_baseline(
        &self,
        model: &str,
        version: u32,
    ) -> Result<Fetched<Baseline>, ClientError> {
        let url = self.baseline_url(model, version);
        self.call(self.http.get(url.clone()), &url).await
    }

    fn baseline_url(&self, model: &str, version: u32) -> Url {
        let version = version.to_string();
        self.url(&[
            "api", "v1", "models", model, "versions", &version, "baseline",
        ])
    }

    /// Sends true outcomes for logged predictions; `content_type` says whether
    /// `body` is CSV or JSON.
    pub async fn feedback(
        &self,
        deployment: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> Result<Fetched<FeedbackReceipt>, ClientError> {
        let url = self.url(&["api", "v1", "deployments", deployment, "feedback"]);
        let request = self
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, content_type)
            .body(body);
        self.call(request, &url).await
    }

    pub async fn monitoring(
        &self,
        deployment: &str,
        window: &Window,
        version: Option<u32>,
    ) -> Result<Fetched<MonitoringReport>, ClientError> {
        let url = self.url(&["api", "v1", "deployments", deployment, "monitoring"]);
        let mut query = window.query();
        if let Some(v) = version {
            query.push(("version", v.to_string()));
        }
        self.call(self.http.get(url.clone()).query(&query), &url)
            .await
    }

    /// The prediction log over `window` as CSV: the response, for the caller to
    /// stream (it can be large).
    pub async fn predictions_csv(
        &self,
        deployment: &str,
        window: &Window,
    ) -> Result<reqwest::Response, ClientError> {
        let url = self.url(&["api", "v1", "deployments", deployment, "predictions"]);
        let response = self
            .send(self.http.get(url.clone()).query(&window.query()), &url)
            .await?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.map_err(|e| transport(&url, &e))?;
            return Err(api_error(status, &bytes));
        }
        Ok(response)
    }
}
