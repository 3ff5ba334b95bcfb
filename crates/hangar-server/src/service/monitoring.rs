//! The prediction log and what is built from it as it is written: the
//! writer (a bounded buffer drained in batches off the request path), the
//! minute/hour/day aggregates, retention, the baseline CSV parser and
//! profiler, and the rows a window report reads.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use hangar_core::monitor::aggregate::{next_key, Aggregate, Resolution, RowValues};
use hangar_core::monitor::{window_report, BaselineProfile, WindowReport, WindowRows};
use hangar_core::stats::evidently::ColumnKind;
use hangar_core::{DataType, Tensor, TensorData};
use hangar_store::{
    AggregateKey, Db, LabelledRow, LogRow, PredictionLog as LogWriter, PredictionRecord,
};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::metrics::Metrics;
use crate::service::error::{Error, ErrorCode};
use crate::service::serving::LoadedVersion;

/// One answered request as the prediction log receives it (the request's
/// own tensors, moved, not copied); [`PredictionLog::record`] encodes its
/// rows into the log's buffer.
#[derive(Debug)]
pub struct PendingPrediction {
    pub deployment: String,
    pub revision: u32,
    pub model: String,
    pub version: u32,
    pub request_id: String,
    pub at: DateTime<Utc>,
    pub latency_us: u64,
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
    /// Segment attributes and the row id, one text value per row.
    pub extras: BTreeMap<String, Vec<String>>,
    pub row_id_field: Option<String>,
    /// The consumer key's declared purpose, when a key made the call.
    pub purpose: Option<String>,
}

impl PendingPrediction {
    pub fn rows(&self) -> usize {
        self.inputs.first().map_or(0, Tensor::rows)
    }
}

/// The prediction log's bounded buffer. Recording never waits: a full
/// buffer drops the record and counts it.
pub struct PredictionLog {
    shared: Arc<Shared>,
    flushes: mpsc::Sender<oneshot::Sender<()>>,
    pub dropped: AtomicU64,
    metrics: Arc<Metrics>,
}

/// What requests and the writer share: the encoded records not yet taken
/// (see [`crate::service::log_buffer`]) and the writer's wake-up.
struct Shared {
    buffer: Mutex<Vec<u8>>,
    capacity: usize,
    wake: Notify,
    /// The writer's last attempt found the database out of reach.
    unreachable: std::sync::atomic::AtomicBool,
}

/// How long the writer lets requests accumulate before it takes them into
/// one transaction.
const BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(100);
/// A minute's aggregate is written this long after the minute ends (rows of
/// requests that finished late still land in it; later ones merge in).
const MINUTE_GRACE_SECS: i64 = 5;
/// A minute's aggregate that could not be written for lack of disk space,
/// or while the database was out of reach, is kept and retried at each
/// flush for this long after its minute began, then given up.
const AGGREGATE_RETRY_SECS: i64 = 3600;
/// While the database is out of reach, the writer tries it again this
/// often; the rows wait in the buffer meanwhile.
const UNREACHABLE_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

impl PredictionLog {
    /// Starts the writer, with a buffer of at most `capacity` bytes of
    /// encoded records. It asks for baseline profiles it does not have (to
    /// bin a version's aggregates) on the returned channel.
    pub fn start(
        db: Db,
        capacity: usize,
        metrics: Arc<Metrics>,
        baselines: Baselines,
    ) -> (Self, mpsc::Receiver<(String, u32)>) {
        let shared = Arc::new(Shared {
            buffer: Mutex::new(Vec::new()),
            capacity,
            wake: Notify::new(),
            unreachable: std::sync::atomic::AtomicBool::new(false),
        });
        let (flushes, flush_rx) = mpsc::channel(64);
        let (want_tx, want_rx) = mpsc::channel(64);
        tokio::spawn(writer(
            db,
            shared.clone(),
            flush_rx,
            baselines,
            want_tx,
            metrics.clone(),
        ));
        (
            PredictionLog {
                shared,
                flushes,
                dropped: AtomicU64::new(0),
                metrics,
            },
            want_rx,
        )
    }

    /// Appends a request's rows to the buffer (or drops and counts them
    /// when the buffer is full).
    pub fn record(&self, p: &PendingPrediction) {
        let mut buf = self.shared.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let start = buf.len();
        let rows = crate::service::log_buffer::encode(&mut buf, p) as u64;
        if buf.len() > self.shared.capacity {
            buf.truncate(start);
            drop(buf);
            self.dropped.fetch_add(rows, Ordering::Relaxed);
            self.metrics.record_log_dropped(rows);
            return;
        }
        drop(buf);
        if start == 0 && rows > 0 {
            self.shared.wake.notify_one();
        }
    }

    /// Waits until everything recorded so far is written, open minutes'
    /// aggregates included; at once while the database is out of reach
    /// (nothing can be written then: the rows wait in the buffer).
    pub async fn flush(&self) {
        if self.shared.unreachable.load(Ordering::Relaxed) {
            return;
        }
        let (tx, rx) = oneshot::channel();
        if self.flushes.send(tx).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// The writer's open minutes: one aggregate per (deployment, version, minute).
struct Minutes {
    open: HashMap<AggregateKey, (Aggregate, Option<Arc<BaselineProfile>>)>,
    baselines: Baselines,
    want: mpsc::Sender<(String, u32)>,
    asked: HashMap<(String, u32), std::time::Instant>,
    rng: u64,
    /// The key of the last request's minute.
    last: Option<AggregateKey>,
}

impl Minutes {
    fn new(baselines: &Baselines, want: &mpsc::Sender<(String, u32)>) -> Self {
        Minutes {
            open: HashMap::new(),
            baselines: baselines.clone(),
            want: want.clone(),
            asked: HashMap::new(),
            rng: seed(),
            last: None,
        }
    }

    /// The open minute a request's rows go to (opened on first use), the
    /// baseline profile its counts are binned against, and the sampling
    /// keys' generator.
    fn minute_of(
        &mut self,
        p: &crate::service::log_buffer::RequestView<'_>,
    ) -> (&mut Aggregate, Option<&BaselineProfile>, &mut u64) {
        let start = Resolution::Minute.floor(p.at.timestamp());
        // Consecutive requests mostly share a minute: reuse the last key
        // rather than building (allocating) a new one per request.
        let same = self.last.as_ref().is_some_and(|k| {
            k.start == start
                && k.version == p.version
                && k.deployment == p.deployment
                && k.model == p.model
        });
        if !same {
            self.last = Some(AggregateKey {
                deployment: p.deployment.to_string(),
                model: p.model.to_string(),
                version: p.version,
                start,
            });
        }
        let key = self.last.as_ref().unwrap();
        if !self.open.contains_key(key) {
            let key = key.clone();
            let cached = self.baselines.get_with_digest(p.model, p.version);
            if cached.is_none() {
                self.ask(p.model, p.version);
            }
            let agg = Aggregate::new(
                Resolution::Minute.sample_cap(),
                cached.as_ref().map(|(d, p)| (d.as_str(), p.as_ref())),
            );
            self.open.insert(key, (agg, cached.map(|(_, p)| p)));
        }
        let Minutes {
            open, last, rng, ..
        } = self;
        let (agg, profile) = open.get_mut(last.as_ref().unwrap()).unwrap();
        (agg, profile.as_deref(), rng)
    }

    /// Asks (at most once a minute per version) for a baseline to be loaded.
    fn ask(&mut self, model: &str, version: u32) {
        let k = (model.to_string(), version);
        let now = std::time::Instant::now();
        if self
            .asked
            .get(&k)
            .is_some_and(|t| now.duration_since(*t) < std::time::Duration::from_secs(60))
        {
            return;
        }
        self.asked.insert(k.clone(), now);
        let _ = self.want.try_send(k);
    }

    /// Writes the minutes that ended (all of them with `all`). A minute the
    /// disk has no room for, or that the database was out of reach for,
    /// stays open and is tried again at the next flush (for up to an hour),
    /// so a full disk that is freed, or a database that returns, loses no
    /// aggregate.
    async fn flush(&mut self, db: &Db, all: bool) {
        let now = Utc::now().timestamp();
        let due: Vec<AggregateKey> = self
            .open
            .keys()
            .filter(|k| all || k.start + 60 + MINUTE_GRACE_SECS <= now)
            .cloned()
            .collect();
        for key in due {
            if let Some((agg, profile)) = self.open.remove(&key) {
                match db.add_aggregate(&key, &agg).await {
                    Ok(()) => {}
                    Err(
                        e @ (hangar_store::StoreError::StorageFull(_)
                        | hangar_store::StoreError::Unavailable(_)),
                    ) if key.start + AGGREGATE_RETRY_SECS > now => {
                        tracing::warn!(error = %e, deployment = %key.deployment, "monitoring aggregate not written yet: retried at the next flush");
                        self.open.insert(key, (agg, profile));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, deployment = %key.deployment, "monitoring aggregate write failed");
                    }
                }
            }
        }
    }
}

async fn writer(
    db: Db,
    shared: Arc<Shared>,
    mut flushes: mpsc::Receiver<oneshot::Sender<()>>,
    baselines: Baselines,
    want: mpsc::Sender<(String, u32)>,
    metrics: Arc<Metrics>,
) {
    let mut minutes = Minutes::new(&baselines, &want);
    let mut connection: Option<Box<dyn LogWriter>> = None;
    let mut spare: Vec<u8> = Vec::new();
    let mut closing = false;
    // When a write last found the database out of reach; `None` while it
    // answers.
    let mut unreachable: Option<std::time::Instant> = None;
    while !closing {
        let mut acks = Vec::new();
        // Wait for rows, a flush, or five idle seconds (to write the
        // minutes that ended). With rows, let requests accumulate for
        // BATCH_WAIT, then take the whole buffer: one transaction, and one
        // fsync, for many requests, and one wake-up of this task per batch.
        // A flush is answered once what was recorded before it is written.
        // While the database is out of reach, rows put back in the buffer
        // wake nobody: the writer comes back every UNREACHABLE_RETRY.
        let idle = if unreachable.is_some() {
            UNREACHABLE_RETRY
        } else {
            std::time::Duration::from_secs(5)
        };
        tokio::select! {
            () = shared.wake.notified() => tokio::time::sleep(BATCH_WAIT).await,
            ack = flushes.recv() => match ack {
                Some(ack) => acks.push(ack),
                None => closing = true,
            },
            () = tokio::time::sleep(idle) => {}
        }
        while let Ok(ack) = flushes.try_recv() {
            acks.push(ack);
        }
        if unreachable.is_some_and(|t| t.elapsed() < UNREACHABLE_RETRY) && !closing {
            // Found out of reach a moment ago: a flush is answered at once
            // (what it waits for cannot be written now) rather than after
            // another wait for a connection.
            for ack in acks {
                let _ = ack.send(());
            }
            continue;
        }
        let batch = {
            let mut buf = shared.buffer.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *buf, std::mem::take(&mut spare))
        };
        if !batch.is_empty() {
            // Reading the records, aggregating and SQLite's work are
            // CPU-bound: a blocking thread does them, with the writer's own
            // connection.
            let conn = connection.take();
            let db2 = db.clone();
            let mut m = std::mem::replace(&mut minutes, Minutes::new(&baselines, &want));
            let done = tokio::task::spawn_blocking(move || {
                let result =
                    conn.map_or_else(|| db2.prediction_writer(), Ok)
                        .and_then(|mut conn| {
                            let r = write_batch(&mut *conn, &mut m, &batch);
                            r.map(|_| conn)
                        });
                // A refused batch (a full disk, a failing file) is dropped
                // and counted; the connection is opened afresh for the next
                // one, so the writer goes on as soon as the disk has room.
                let result = result.map_err(|e| (e, batch_rows(&batch)));
                (result, m, batch)
            })
            .await;
            match done {
                Ok((result, m, mut batch)) => {
                    match result {
                        Ok(conn) => {
                            connection = Some(conn);
                            shared.unreachable.store(false, Ordering::Relaxed);
                            if unreachable.take().is_some() {
                                tracing::info!("prediction log: the database is reachable again; the rows kept meanwhile are written");
                            }
                        }
                        Err((hangar_store::StoreError::Unavailable(cause), _)) => {
                            if unreachable.is_none() {
                                tracing::warn!(error = %cause, "prediction log: the database is unreachable; rows wait in the buffer (those that do not fit are dropped and counted)");
                            }
                            unreachable = Some(std::time::Instant::now());
                            shared.unreachable.store(true, Ordering::Relaxed);
                            put_back(&shared, &mut batch, &metrics);
                        }
                        Err((e, rows)) => metrics.record_log_write_failed(rows, &e),
                    }
                    minutes = m;
                    batch.clear();
                    spare = batch;
                }
                Err(e) => tracing::error!(error = %e, "prediction log writer failed"),
            }
        }
        if unreachable.is_none() || closing {
            minutes.flush(&db, closing || !acks.is_empty()).await;
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

/// Puts a batch the database could not take back at the head of the buffer,
/// ahead of what requests appended meanwhile (so rows are written in the
/// order they were answered), within the buffer's capacity: the newest
/// records past it are dropped and counted, as a full buffer drops them.
/// Leaves `batch` empty.
fn put_back(shared: &Shared, batch: &mut Vec<u8>, metrics: &Metrics) {
    let mut buf = shared.buffer.lock().unwrap_or_else(|e| e.into_inner());
    batch.extend_from_slice(&buf);
    let keep = crate::service::log_buffer::whole_records_within(batch, shared.capacity);
    let dropped = batch_rows(&batch[keep..]);
    batch.truncate(keep);
    buf.clear();
    buf.extend_from_slice(batch);
    drop(buf);
    batch.clear();
    if dropped > 0 {
        metrics.record_log_dropped(dropped);
    }
}

/// A seed for the fast generators (sampling keys, route choice): the clock
/// and the process id, so two processes started together differ.
pub(crate) fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()).rotate_left(32)
}

/// How many rows the encoded records of `batch` hold.
fn batch_rows(batch: &[u8]) -> u64 {
    crate::service::log_buffer::records(batch)
        .map(|p| p.rows.len() as u64)
        .sum()
}

/// Writes the buffer's rows to the prediction log (one transaction), then
/// adds them to their minutes' aggregates: only rows that were stored are
/// counted there, so a refused batch leaves the aggregates as they were.
fn write_batch(
    conn: &mut dyn LogWriter,
    minutes: &mut Minutes,
    batch: &[u8],
) -> Result<u64, hangar_store::StoreError> {
    let written = conn.append(&mut |sink| {
        for p in crate::service::log_buffer::records(batch) {
            for (i, row) in p.rows.iter().enumerate() {
                sink.push(&LogRow {
                    deployment: p.deployment,
                    at: p.at,
                    request_id: p.request_id,
                    row: i as u32,
                    row_id: row.row_id,
                    revision: p.revision,
                    model: p.model,
                    version: p.version,
                    features: row.features,
                    outputs: row.outputs,
                    score: row.score,
                    predicted: row.predicted,
                    segments: row.segments,
                    latency_us: p.latency_us,
                    purpose: p.purpose,
                });
            }
        }
    })?;
    let mut features = Vec::new();
    for p in crate::service::log_buffer::records(batch) {
        let (agg, profile, rng) = minutes.minute_of(&p);
        for row in &p.rows {
            if !hangar_store::decode_features_into(row.features, &mut features) {
                features.clear();
            }
            agg.record(
                profile,
                RowValues {
                    features: &features,
                    score: row.score,
                    predicted: row.predicted,
                },
                next_key(rng),
            );
        }
    }
    Ok(written)
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

fn bad(m: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidBaseline, m)
}

/// Reads a baseline CSV: a header, then one row per example. Columns that
/// are not features (and not the label) are ignored.
pub fn parse_baseline(
    csv_bytes: &[u8],
    features: &[String],
    categorical: &[String],
    label_column: Option<&str>,
) -> Result<BaselineData, Error> {
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
pub fn baseline_tensor(version: &LoadedVersion, data: &BaselineData) -> Result<Tensor, Error> {
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

type ProfileCache = HashMap<(String, u32), (String, Arc<BaselineProfile>)>;

/// Baseline profiles (with the digest of the CSV they were built from),
/// built once per version and kept; shared by the API and the log writer.
#[derive(Default, Clone)]
pub struct Baselines {
    cache: Arc<Mutex<ProfileCache>>,
}

impl Baselines {
    pub fn get(&self, model: &str, version: u32) -> Option<Arc<BaselineProfile>> {
        self.get_with_digest(model, version).map(|(_, p)| p)
    }

    pub fn get_with_digest(
        &self,
        model: &str,
        version: u32,
    ) -> Option<(String, Arc<BaselineProfile>)> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(model.to_string(), version))
            .cloned()
    }

    pub fn put(&self, model: &str, version: u32, digest: &str, profile: Arc<BaselineProfile>) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((model.to_string(), version), (digest.to_string(), profile));
    }
}

/// Builds a profile: runs the model on the baseline rows for its own
/// outputs, then profiles columns, outputs and (with labels) calibration.
pub fn profile(version: &LoadedVersion, data: BaselineData) -> Result<BaselineProfile, Error> {
    let input = baseline_tensor(version, &data)?;
    let rows = input.rows();
    let outputs = version
        .runtime
        .infer(&[input], &[])
        .map_err(Error::internal)?;
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
        if r.inputs.len() != features.len() {
            continue;
        }
        for (c, v) in cols.iter_mut().zip(&r.inputs) {
            c.push(*v);
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

/// The labelled rows of a window as performance and fairness read them.
pub fn labelled_rows(records: &[LabelledRow], segments: &[String]) -> WindowRows {
    let mut rows = WindowRows::default();
    let mut seg: BTreeMap<String, Vec<String>> =
        segments.iter().map(|s| (s.clone(), Vec::new())).collect();
    for r in records {
        rows.scores.push(r.score.unwrap_or(f64::NAN));
        rows.predicted.push(r.predicted == Some(1.0));
        rows.labels.push(Some(r.label == 1.0));
        let values: BTreeMap<String, String> =
            serde_json::from_str(&r.segments).unwrap_or_default();
        for (name, col) in seg.iter_mut() {
            col.push(values.get(name).cloned().unwrap_or_default());
        }
    }
    rows.segments = seg;
    rows
}

/// Computes the report off the async executor.
pub async fn report(
    baseline: Arc<BaselineProfile>,
    rows: WindowRows,
) -> Result<WindowReport, Error> {
    tokio::task::spawn_blocking(move || window_report(&baseline, &rows))
        .await
        .map_err(Error::internal)
}

pub fn missing_baseline(model: &str, version: u32) -> Error {
    Error::new(
        ErrorCode::BaselineNotFound,
        format!("version {version} of model '{model}' has no baseline: push one with `hangar model push ... --baseline train.csv` or PUT /api/v1/models/{model}/versions/{version}/baseline"),
    )
}

/// Deletes prediction log rows and minute aggregates older than `days`, and
/// hour and day aggregates older than `aggregate_days` (never fewer than
/// `days`), at start and then hourly.
pub async fn retention(db: Db, days: u32, aggregate_days: u32) {
    let aggregate_days = aggregate_days.max(days);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let now = chrono::Utc::now();
        let before = now - chrono::Duration::days(i64::from(days));
        match db.prune_predictions(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, days, "prediction log rows past retention deleted"),
            Err(e) => tracing::error!(error = %e, "prediction log retention failed"),
        }
        let periods_before = now - chrono::Duration::days(i64::from(aggregate_days));
        match db.prune_aggregates(before, periods_before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                rows = n,
                days,
                aggregate_days,
                "monitoring aggregates past retention deleted"
            ),
            Err(e) => tracing::error!(error = %e, "monitoring aggregate retention failed"),
        }
    }
}

/// Loads the baseline profiles the log writer asks for, so that it can bin
/// the versions' aggregates against them.
pub async fn baseline_loader(
    state: crate::state::AppState,
    mut want: mpsc::Receiver<(String, u32)>,
) {
    while let Some((model, version)) = want.recv().await {
        if state.baselines.get(&model, version).is_some() {
            continue;
        }
        match crate::service::baselines::baseline_profile(&state, &model, version).await {
            Ok(_) => tracing::debug!(%model, version, "baseline loaded for monitoring aggregates"),
            Err(e) if e.code().is_not_found() => {}
            Err(e) => {
                tracing::warn!(%model, version, error = %e, "baseline could not be loaded for monitoring aggregates")
            }
        }
    }
}
