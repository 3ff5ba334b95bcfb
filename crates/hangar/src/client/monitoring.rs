//! Monitoring: baselines, feedback, monitoring reports and the prediction log.

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Url;

use super::{api_error, transport, Client, ClientError, Fetched};

pub use hangar_api::{
    Baseline, ColumnDrift, EstimatedPerformance, Fairness, FeedbackReceipt, Figures,
    MonitoringReport, Performance, Rejected, UnknownKey,
};

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
