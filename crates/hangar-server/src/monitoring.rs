//! Monitoring at the edges: the prediction log writer (a bounded buffer
//! drained in batches off the request path), baselines (CSV profiled once,
//! cached), and the window report of a deployment over a time range.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hangar_core::monitor::{window_report, BaselineProfile, WindowReport, WindowRows};
use hangar_core::stats::evidently::ColumnKind;
use hangar_core::{DataType, Tensor, TensorData};
use hangar_store::{Db, PredictionRecord};
use tokio::sync::{mpsc, oneshot};

use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;
use crate::serving::LoadedVersion;

enum LogMsg {
    Rows(Vec<PredictionRecord>),
    Flush(oneshot::Sender<()>),
}

/// The prediction log's bounded buffer. Recording never waits: a full
/// buffer drops the record and counts it.
pub struct PredictionLog {
    tx: mpsc::Sender<LogMsg>,
    pub dropped: AtomicU64,
    metrics: Arc<Metrics>,
}

/// Rows written per transaction at most.
const BATCH_ROWS: usize = 2000;

impl PredictionLog {
    pub fn start(db: Db, capacity: usize, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(writer(db, rx));
        PredictionLog {
            tx,
            dropped: AtomicU64::new(0),
            metrics,
        }
    }

    pub fn record(&self, rows: Vec<PredictionRecord>) {
        let n = rows.len() as u64;
        if self.tx.try_send(LogMsg::Rows(rows)).is_err() {
            self.dropped.fetch_add(n, Ordering::Relaxed);
            self.metrics.record_log_dropped(n);
        }
    }

    /// Waits until everything recorded so far is written.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(LogMsg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn writer(db: Db, mut rx: mpsc::Receiver<LogMsg>) {
    while let Some(first) = rx.recv().await {
        let mut rows = Vec::new();
        let mut acks = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                LogMsg::Rows(r) => rows.extend(r),
                LogMsg::Flush(ack) => acks.push(ack),
            }
            if rows.len() >= BATCH_ROWS {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !rows.is_empty() {
            if let Err(e) = db.insert_predictions(&rows).await {
                tracing::error!(error = %e, rows = rows.len(), "prediction log write failed");
            }
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

/// A segment or row-id value as text.
pub fn text_of(t: &Tensor, i: usize) -> Option<String> {
    Some(match &t.data {
        TensorData::Bool(v) => v.get(i)?.to_string(),
        TensorData::Uint8(v) => v.get(i)?.to_string(),
        TensorData::Uint16(v) => v.get(i)?.to_string(),
        TensorData::Uint32(v) => v.get(i)?.to_string(),
        TensorData::Uint64(v) => v.get(i)?.to_string(),
        TensorData::Int8(v) => v.get(i)?.to_string(),
        TensorData::Int16(v) => v.get(i)?.to_string(),
        TensorData::Int32(v) => v.get(i)?.to_string(),
        TensorData::Int64(v) => v.get(i)?.to_string(),
        TensorData::Fp32(v) => hangar_core::monitor::category_key(f64::from(*v.get(i)?)),
        TensorData::Fp64(v) => hangar_core::monitor::category_key(*v.get(i)?),
        TensorData::Bytes(v) => String::from_utf8_lossy(v.get(i)?).into_owned(),
    })
}

/// Parsed baseline CSV: feature columns in the model's order, labels.
pub struct BaselineData {
    pub columns: Vec<(String, ColumnKind, Vec<f64>)>,
    pub labels: Option<Vec<bool>>,
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::bad_request(m)
}

/// Reads a baseline CSV: a header, then one row per example. Columns that
/// are not features (and not the label) are ignored.
pub fn parse_baseline(
    csv_bytes: &[u8],
    features: &[String],
    categorical: &[String],
    label_column: Option<&str>,
) -> Result<BaselineData, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(csv_bytes);
    let header = reader
        .headers()
        .map_err(|e| bad(format!("baseline CSV: {e}")))?
        .clone();
    let index = |name: &str| header.iter().position(|h| h.trim() == name);
    let mut cols = Vec::with_capacity(features.len());
    for f in features {
        let i = index(f).ok_or_else(|| {
            bad(format!(
                "baseline CSV has no column '{f}' (a model feature)"
            ))
        })?;
        cols.push(i);
    }
    if let Some(c) = categorical.iter().find(|c| !features.contains(c)) {
        return Err(bad(format!(
            "categorical column '{c}' is not a model feature"
        )));
    }
    let label_index = match label_column {
        Some(l) => {
            Some(index(l).ok_or_else(|| bad(format!("baseline CSV has no label column '{l}'")))?)
        }
        None => None,
    };
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); features.len()];
    let mut labels = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| bad(format!("baseline CSV: {e}")))?;
        let line = n + 2;
        for (k, &i) in cols.iter().enumerate() {
            let cell = record.get(i).unwrap_or("").trim();
            let v: f64 = cell
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| {
                    bad(format!(
                        "baseline CSV line {line}: '{}' is not a number ({cell:?})",
                        features[k]
                    ))
                })?;
            values[k].push(v);
        }
        if let Some(i) = label_index {
            let cell = record.get(i).unwrap_or("").trim();
            labels.push(match cell {
                "1" | "1.0" | "true" | "True" => true,
                "0" | "0.0" | "false" | "False" => false,
                other => {
                    return Err(bad(format!(
                        "baseline CSV line {line}: label {other:?} is not 0/1"
                    )))
                }
            });
        }
    }
    if values.first().is_none_or(Vec::is_empty) {
        return Err(bad("baseline CSV has no rows"));
    }
    Ok(BaselineData {
        columns: features
            .iter()
            .zip(values)
            .map(|(f, v)| {
                let kind = if categorical.contains(f) {
                    ColumnKind::Categorical
                } else {
                    ColumnKind::Numerical
                };
                (f.clone(), kind, v)
            })
            .collect(),
        labels: label_index.map(|_| labels),
    })
}

/// The model's input tensor for baseline rows, in the signature's datatype.
pub fn baseline_tensor(version: &LoadedVersion, data: &BaselineData) -> Result<Tensor, ApiError> {
    let spec =
        hangar_core::features::tabular_input(&version.signature).map_err(|e| bad(e.to_string()))?;
    let rows = data.columns[0].2.len();
    let cols = data.columns.len();
    let flat = (0..rows).flat_map(|r| data.columns.iter().map(move |c| c.2[r]));
    let tensor_data = match spec.datatype {
        DataType::Fp32 => TensorData::Fp32(flat.map(|v| v as f32).collect()),
        DataType::Fp64 => TensorData::Fp64(flat.collect()),
        other => {
            return Err(bad(format!(
                "baselines need a float input; this model takes {other}"
            )))
        }
    };
    Tensor::new(spec.name.clone(), vec![rows, cols], tensor_data).map_err(|e| bad(e.to_string()))
}

/// Baseline profiles, built once per version and kept.
#[derive(Default)]
pub struct Baselines {
    cache: Mutex<HashMap<(String, u32), Arc<BaselineProfile>>>,
}

impl Baselines {
    pub fn get(&self, model: &str, version: u32) -> Option<Arc<BaselineProfile>> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(model.to_string(), version))
            .cloned()
    }

    pub fn put(&self, model: &str, version: u32, profile: Arc<BaselineProfile>) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((model.to_string(), version), profile);
    }
}

/// Builds a profile: runs the model on the baseline rows for its own
/// outputs, then profiles columns, outputs and (with labels) calibration.
pub fn profile(version: &LoadedVersion, data: BaselineData) -> Result<BaselineProfile, ApiError> {
    let input = baseline_tensor(version, &data)?;
    let rows = input.rows();
    let outputs = version
        .runtime
        .infer(&[input], &[])
        .map_err(ApiError::internal)?;
    let (scores, predicted) = hangar_core::monitor::scores_and_labels(&outputs, rows);
    let scores = if scores.iter().all(Option::is_some) && predicted.iter().all(Option::is_some) {
        Some((
            scores.into_iter().map(|s| s.unwrap_or(0.0)).collect(),
            predicted.into_iter().map(|p| p == Some(1.0)).collect(),
        ))
    } else {
        None
    };
    BaselineProfile::build(data.columns, scores, data.labels)
        .map_err(|e| bad(format!("baseline: {e}")))
}

/// The window of one deployment's predictions for one version.
pub fn rows_for(
    records: &[PredictionRecord],
    features: &[String],
    segments: &[String],
) -> WindowRows {
    let mut rows = WindowRows::default();
    let mut cols: Vec<Vec<f64>> = vec![Vec::with_capacity(records.len()); features.len()];
    let mut seg: BTreeMap<String, Vec<String>> =
        segments.iter().map(|s| (s.clone(), Vec::new())).collect();
    for r in records {
        let inputs: Vec<f64> = serde_json::from_str(&r.inputs).unwrap_or_default();
        if inputs.len() != features.len() {
            continue;
        }
        for (c, v) in cols.iter_mut().zip(inputs) {
            c.push(v);
        }
        rows.scores.push(r.score.unwrap_or(f64::NAN));
        rows.predicted.push(r.predicted == Some(1.0));
        rows.labels.push(r.label.map(|l| l == 1.0));
        let values: BTreeMap<String, String> =
            serde_json::from_str(&r.segments).unwrap_or_default();
        for (name, col) in seg.iter_mut() {
            col.push(values.get(name).cloned().unwrap_or_default());
        }
    }
    rows.features = features.iter().cloned().zip(cols).collect();
    rows.segments = seg;
    rows
}

/// Computes the report off the async executor.
pub async fn report(
    baseline: Arc<BaselineProfile>,
    rows: WindowRows,
) -> Result<WindowReport, ApiError> {
    tokio::task::spawn_blocking(move || window_report(&baseline, &rows))
        .await
        .map_err(ApiError::internal)
}

pub fn missing_baseline(model: &str, version: u32) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("version {version} of model '{model}' has no baseline: push one with `hangar model push ... --baseline train.csv` or PUT /api/v1/models/{model}/versions/{version}/baseline"),
    )
}

/// Deletes prediction log rows older than `days`, at start and then hourly.
pub async fn retention(db: Db, days: u32) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let before = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
        match db.prune_predictions(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, days, "prediction log rows past retention deleted"),
            Err(e) => tracing::error!(error = %e, "prediction log retention failed"),
        }
    }
}
