//! Feedback: true outcomes for logged predictions, by row id or by request
//! id and row, as CSV (streamed) or JSON, applied in bounded batches.
//!
//! - **Bounded in size**: `--max-feedback-bytes` (a declared length past it
//!   is refused before anything is read; a body that grows past it stops
//!   there).
//! - **Streamed**: a CSV body is parsed as it arrives, one batch at a time,
//!   on a blocking thread; it is never held whole. A JSON body is read
//!   (within the limit), checked whole, then applied the same way.
//! - **Short transactions**: each batch of [`BATCH_LINES`] lines is matched
//!   to logged rows in a read transaction, then labelled in one short write
//!   transaction ([`hangar_store::FeedbackLog`]); before the next write
//!   the upload pauses at least as long as the last one held the lock, so
//!   deployments, pushes and the prediction log's writer get the lock in
//!   between instead of timing out behind a long upload.
//! - **Checked per line**: a line with a bad row number (`-1`, `1.5`, past
//!   2³²−1), a label that is not a number, or a label the model that made the
//!   prediction could not have predicted ([`LabelRule`]) is rejected and
//!   reported by its line number (CSV) or its index (JSON); the other lines
//!   are applied. An upload whose every line is rejected is answered 400.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use hangar_core::feedback::{parse_label, parse_row, LabelRule};
use hangar_store::{FeedbackKey, FeedbackLog, FoundRow};
use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::service::error::{Error, ErrorCode};
use crate::state::AppState;

/// Lines per batch: matched in one read transaction, labelled in one write
/// transaction (about a millisecond or two of holding the write lock).
pub(crate) const BATCH_LINES: usize = 1_000;

/// Most unknown keys and rejected lines a receipt lists; its counts are
/// exact.
pub(crate) const LISTED: usize = 1_000;

/// The pause before a batch's write is at least this, and at least as long
/// as the previous write held the lock (at most [`MAX_PAUSE`]).
const MIN_PAUSE: Duration = Duration::from_millis(1);
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// What each version accepts as a label, by (model, version): derived once
/// from the version's signature and the classes its file declares.
#[derive(Default)]
pub struct LabelRules {
    rules: Mutex<HashMap<(String, u32), Arc<LabelRule>>>,
}

impl LabelRules {
    pub(crate) async fn get(
        &self,
        state: &AppState,
        model: &str,
        version: u32,
    ) -> Result<Arc<LabelRule>, Error> {
        let key = (model.to_string(), version);
        if let Some(r) = self.lock().get(&key) {
            return Ok(r.clone());
        }
        let v = state.db.get_version(model, version).await?;
        let declared = match state.artifacts.read_verified(&v.digest).await {
            Ok(bytes) => {
                tokio::task::spawn_blocking(move || hangar_runtime::declared_classes(&bytes))
                    .await
                    .map_err(Error::internal)?
            }
            Err(e) => {
                tracing::warn!(error = %e, model, version, "artifact unreadable: feedback labels are checked against the outputs only");
                None
            }
        };
        let rule = Arc::new(LabelRule::for_version(&v.signature, declared.as_ref()));
        self.lock().insert(key, rule.clone());
        Ok(rule)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u32), Arc<LabelRule>>> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What an upload did, line by line (the API's answer, a wire type).
pub use hangar_api::{FeedbackReceipt as Receipt, Rejected, UnknownKey};

/// Counts a refused line or item, listing the first [`LISTED`].
fn reject(receipt: &mut Receipt, unit: &str, number: u64, error: String) {
    receipt.rejected_count += 1;
    if receipt.rejected.len() < LISTED {
        let line = unit == "line";
        receipt.rejected.push(Rejected {
            line: line.then_some(number),
            item: (!line).then_some(number),
            error,
        });
    }
}

/// Why an upload stopped, with what it had done by then.
struct Stopped {
    error: Error,
    receipt: Receipt,
    /// Lines in batches already written (they stay written).
    processed: u64,
}

impl Stopped {
    /// The error, saying which lines were written before it.
    fn into_error(self) -> Error {
        let r = &self.receipt;
        match self.error {
            Error::Refused { code, message } if self.processed > 0 => Error::Refused {
                code,
                message: format!(
                    "{message}; the first {} lines were processed before it ({} labels applied) and stay applied",
                    self.processed, r.updated
                ),
            },
            error => error,
        }
    }
}

fn unknown_key(k: &FeedbackKey) -> UnknownKey {
    match k {
        FeedbackKey::RowId(id) => UnknownKey::RowId { row_id: id.clone() },
        FeedbackKey::Request { request_id, row } => UnknownKey::Request {
            request_id: request_id.clone(),
            row: *row,
        },
    }
}

/// Applies lines in batches through its own connection.
struct Applier {
    state: AppState,
    handle: Handle,
    deployment: String,
    writer: Box<dyn FeedbackLog>,
    /// How rejected entries are numbered: `line` (CSV) or `item` (JSON).
    unit: &'static str,
    versions: Vec<(String, u32)>,
    rules: Vec<Arc<LabelRule>>,
    numbers: Vec<u64>,
    keys: Vec<FeedbackKey>,
    labels: Vec<f64>,
    found: Vec<FoundRow>,
    writes: Vec<(i64, f64)>,
    /// When the last write ended and how long it held the lock.
    last_write: Option<(Instant, Duration)>,
    receipt: Receipt,
    /// Lines in batches already written (they stay written if the upload
    /// stops later).
    processed: u64,
}

impl Applier {
    fn new(
        state: AppState,
        handle: Handle,
        deployment: String,
        unit: &'static str,
    ) -> Result<Self, Stopped> {
        let writer = state.db.feedback_writer().map_err(|e| Stopped {
            error: e.into(),
            receipt: Receipt::default(),
            processed: 0,
        })?;
        Ok(Applier {
            state,
            handle,
            deployment,
            writer,
            unit,
            versions: Vec::new(),
            rules: Vec::new(),
            numbers: Vec::with_capacity(BATCH_LINES),
            keys: Vec::with_capacity(BATCH_LINES),
            labels: Vec::with_capacity(BATCH_LINES),
            found: Vec::new(),
            writes: Vec::new(),
            last_write: None,
            receipt: Receipt::default(),
            processed: 0,
        })
    }

    fn push(&mut self, number: u64, key: FeedbackKey, label: f64) -> Result<(), Error> {
        self.receipt.received += 1;
        self.numbers.push(number);
        self.keys.push(key);
        self.labels.push(label);
        if self.keys.len() >= BATCH_LINES {
            self.flush()?;
        }
        Ok(())
    }

    fn reject(&mut self, number: u64, error: String) {
        self.receipt.received += 1;
        reject(&mut self.receipt, self.unit, number, error);
    }

    /// Matches the batch's keys, checks their labels against the versions
    /// that made the predictions, and writes the accepted ones.
    fn flush(&mut self) -> Result<(), Error> {
        if self.keys.is_empty() {
            return Ok(());
        }
        self.writer.find(
            &self.deployment,
            &self.keys,
            &mut self.versions,
            &mut self.found,
        )?;
        while self.rules.len() < self.versions.len() {
            let (model, version) = &self.versions[self.rules.len()];
            let rule =
                self.handle
                    .block_on(self.state.label_rules.get(&self.state, model, *version))?;
            self.rules.push(rule);
        }
        let mut rows = self.found.iter().peekable();
        for k in 0..self.keys.len() {
            let start = self.writes.len();
            let mut refused = None;
            let mut matched = false;
            while let Some(f) = rows.next_if(|f| f.key == k) {
                matched = true;
                match self.rules[f.version].check(self.labels[k]) {
                    Ok(()) => self.writes.push((f.id, self.labels[k])),
                    Err(e) if refused.is_none() => {
                        let (model, version) = &self.versions[f.version];
                        refused = Some(format!(
                            "{e} (the prediction was made by {model}:{version})"
                        ));
                    }
                    Err(_) => {}
                }
            }
            if let Some(e) = refused {
                self.writes.truncate(start);
                reject(&mut self.receipt, self.unit, self.numbers[k], e);
            } else if matched {
                self.receipt.updated += 1;
            } else {
                self.receipt.unknown_count += 1;
                if self.receipt.unknown.len() < LISTED {
                    self.receipt.unknown.push(unknown_key(&self.keys[k]));
                }
            }
        }
        if !self.writes.is_empty() {
            if let Some((ended, held)) = self.last_write {
                let pause = held.clamp(MIN_PAUSE, MAX_PAUSE);
                if let Some(rest) = pause.checked_sub(ended.elapsed()) {
                    std::thread::sleep(rest);
                }
            }
            let started = Instant::now();
            self.writer.apply(&self.writes, chrono::Utc::now())?;
            self.last_write = Some((Instant::now(), started.elapsed()));
        }
        self.processed += self.keys.len() as u64;
        self.numbers.clear();
        self.keys.clear();
        self.labels.clear();
        self.writes.clear();
        Ok(())
    }

    fn finish(mut self) -> Result<Receipt, Stopped> {
        match self.flush() {
            Ok(()) => Ok(self.receipt),
            Err(error) => Err(self.stop(error)),
        }
    }

    fn stop(self, error: Error) -> Stopped {
        Stopped {
            error,
            receipt: self.receipt,
            processed: self.processed,
        }
    }
}

/// The upload grew past the limit.
#[derive(Debug)]
struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the feedback upload is over the size limit")
    }
}

impl std::error::Error for TooLarge {}

/// A declared or actual upload size past the limit.
pub fn too_large(limit: u64) -> Error {
    Error::new(
        ErrorCode::PayloadTooLarge,
        format!(
            "the feedback upload is larger than the limit of {limit} bytes (hangar serve --max-feedback-bytes); \
             send it in parts"
        ),
    )
}

/// The request body's chunks as a blocking reader (for the CSV parser on
/// its blocking thread).
struct ChunkReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(chunk) => self.current = chunk?,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// The CSV form: a header naming `label` and `row_id`, or `request_id` (and
/// `row`), then one outcome per line.
fn apply_csv(mut applier: Applier, input: impl Read, limit: u64) -> Result<Receipt, Stopped> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let csv_error = |e: csv::Error| -> Error {
        if let csv::ErrorKind::Io(io) = e.kind() {
            if io.get_ref().is_some_and(|i| i.is::<TooLarge>()) {
                return too_large(limit);
            }
        }
        Error::new(ErrorCode::InvalidFeedback, format!("feedback CSV: {e}"))
    };
    let header = match reader.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(applier.stop(csv_error(e))),
    };
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim_ascii() == name.as_bytes())
    };
    let Some(label) = col("label") else {
        return Err(applier.stop(Error::new(
            ErrorCode::InvalidFeedback,
            "feedback CSV needs a 'label' column (header row_id,label or request_id,row,label)",
        )));
    };
    let (row_id, request_id, row) = (col("row_id"), col("request_id"), col("row"));
    if row_id.is_none() && request_id.is_none() {
        return Err(applier.stop(Error::new(ErrorCode::InvalidFeedback,
            "feedback CSV needs 'row_id', or 'request_id' and 'row' (header row_id,label or request_id,row,label)",
        )));
    }
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(applier.stop(csv_error(e))),
        }
        let line = record.position().map_or(0, |p| p.line());
        match csv_line(&record, label, row_id, request_id, row) {
            Ok((key, value)) => {
                if let Err(e) = applier.push(line, key, value) {
                    return Err(applier.stop(e));
                }
            }
            Err(e) => applier.reject(line, e),
        }
    }
    applier.finish()
}

/// One CSV line's key and label, or why it is refused.
fn csv_line(
    record: &csv::ByteRecord,
    label: usize,
    row_id: Option<usize>,
    request_id: Option<usize>,
    row: Option<usize>,
) -> Result<(FeedbackKey, f64), String> {
    let cell = |c: Option<usize>| -> Result<Option<&str>, String> {
        match c.and_then(|c| record.get(c)) {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes)
                .map(|s| Some(s.trim()).filter(|s| !s.is_empty()))
                .map_err(|_| "the line is not UTF-8 text".to_string()),
        }
    };
    let key = match (cell(row_id)?, cell(request_id)?) {
        (Some(id), _) => FeedbackKey::RowId(id.to_string()),
        (None, Some(request)) => FeedbackKey::Request {
            request_id: request.to_string(),
            row: match cell(row)? {
                Some(r) => parse_row(r)?,
                None => 0,
            },
        },
        (None, None) => return Err("no row_id or request_id".into()),
    };
    let value = match cell(Some(label))? {
        Some(l) => parse_label(l)?,
        None => return Err("no label".into()),
    };
    Ok((key, value))
}

/// One item of the JSON form, as sent (checked by [`json_item`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    #[serde(default)]
    row_id: Option<Value>,
    #[serde(default)]
    request_id: Option<Value>,
    #[serde(default)]
    row: Option<Value>,
    #[serde(default)]
    label: Option<Value>,
}

fn json_item(item: RawItem) -> Result<(FeedbackKey, f64), String> {
    let key = match (item.row_id, item.request_id, item.row) {
        (Some(id), None, None) => FeedbackKey::RowId(match id {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => return Err("row_id must be a string or a number".into()),
        }),
        (None, Some(Value::String(request_id)), row) => FeedbackKey::Request {
            request_id,
            row: match row {
                None => 0,
                Some(Value::Number(n)) => parse_row(&n.to_string())?,
                Some(other) => parse_row(&other.to_string())?,
            },
        },
        (None, Some(_), _) => return Err("request_id must be a string".into()),
        _ => return Err("give either row_id, or request_id (and row)".into()),
    };
    let label = match item.label {
        Some(Value::Number(n)) => n.as_f64().filter(|v| v.is_finite()),
        _ => None,
    }
    .ok_or("label must be a number")?;
    Ok((key, label))
}

/// Walks `{"feedback": [items]}` item by item, without building the array.
struct Document<'f, F>(&'f mut F);
struct Items<'f, F>(&'f mut F);

impl<'de, F: FnMut(RawItem) -> Result<(), String>> DeserializeSeed<'de> for Document<'_, F> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(RawItem) -> Result<(), String>> Visitor<'de> for Document<'_, F> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object {\"feedback\": [...]}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<String>()? {
            if key != "feedback" {
                return Err(A::Error::unknown_field(&key, &["feedback"]));
            }
            if seen {
                return Err(A::Error::duplicate_field("feedback"));
            }
            map.next_value_seed(Items(&mut *self.0))?;
            seen = true;
        }
        Ok(seen)
    }
}

impl<'de, F: FnMut(RawItem) -> Result<(), String>> DeserializeSeed<'de> for Items<'_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(RawItem) -> Result<(), String>> Visitor<'de> for Items<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of feedback items")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<RawItem>()? {
            (self.0)(item).map_err(A::Error::custom)?;
        }
        Ok(())
    }
}

/// Reads `body` as `{"feedback": [...]}`, calling `each` per item.
fn walk_json(
    body: &[u8],
    mut each: impl FnMut(RawItem) -> Result<(), String>,
) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    if !Document(&mut each).deserialize(&mut de)? {
        return Err(serde_json::Error::missing_field("feedback"));
    }
    de.end()
}

/// The JSON form: checked whole first (shape and fields), so a malformed
/// document changes nothing; then applied item by item.
fn apply_json(mut applier: Applier, body: &[u8]) -> Result<Receipt, Stopped> {
    let mut failed = None;
    let mut index = 0u64;
    let walked = walk_json(body, |item| {
        let i = index;
        index += 1;
        match json_item(item) {
            Ok((key, label)) => applier.push(i, key, label).map_err(|e| {
                failed = Some(e);
                "stopped".to_string()
            }),
            Err(e) => {
                applier.reject(i, e);
                Ok(())
            }
        }
    });
    match (failed, walked) {
        (Some(e), _) => Err(applier.stop(e)),
        // Checked before: only a store failure stops the walk.
        (None, Err(e)) => Err(applier.stop(Error::internal(e))),
        (None, Ok(())) => applier.finish(),
    }
}

/// Applies a CSV feedback upload as it arrives (`chunks`, at most `limit`
/// bytes), batch by batch on a blocking thread.
pub async fn apply_csv_upload(
    state: AppState,
    deployment: String,
    mut chunks: impl Stream<Item = std::io::Result<Bytes>> + Unpin,
    limit: u64,
) -> Result<Receipt, Error> {
    state.db.get_deployment(&deployment).await?;
    // Predictions still in the log's buffer must be findable.
    state.log.flush().await;
    let handle = Handle::current();
    let (tx, rx) = mpsc::channel(8);
    let worker = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || {
            let applier = Applier::new(state, handle, deployment, "line")?;
            apply_csv(
                applier,
                ChunkReader {
                    rx,
                    current: Bytes::new(),
                },
                limit,
            )
        })
    };
    let mut total = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.and_then(|c| {
            total += c.len() as u64;
            if total > limit {
                Err(std::io::Error::other(TooLarge))
            } else {
                Ok(c)
            }
        });
        let last = chunk.is_err();
        // The parser stopped (e.g. at a bad header): stop reading.
        if tx.send(chunk).await.is_err() || last {
            break;
        }
    }
    drop(tx);
    let receipt = worker
        .await
        .map_err(Error::internal)?
        .map_err(Stopped::into_error)?;
    received_something(receipt)
}

/// Applies a JSON feedback upload (`{"feedback": [...]}`, at most `limit`
/// bytes): read whole, checked whole, then applied batch by batch.
pub async fn apply_json_upload(
    state: AppState,
    deployment: String,
    mut chunks: impl Stream<Item = std::io::Result<Bytes>> + Unpin,
    limit: u64,
) -> Result<Receipt, Error> {
    state.db.get_deployment(&deployment).await?;
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| {
            Error::new(
                ErrorCode::InvalidFeedback,
                format!("could not read the feedback upload: {e}"),
            )
        })?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    let mut items = 0u64;
    walk_json(&body, |_| {
        items += 1;
        Ok(())
    })
    .map_err(|e| {
        Error::new(
            ErrorCode::InvalidFeedback,
            format!("invalid feedback JSON: {e}"),
        )
    })?;
    if items == 0 {
        return Err(Error::new(ErrorCode::InvalidFeedback, "no feedback given"));
    }
    state.log.flush().await;
    let handle = Handle::current();
    let receipt = tokio::task::spawn_blocking(move || {
        let applier = Applier::new(state, handle, deployment, "item")?;
        apply_json(applier, &body)
    })
    .await
    .map_err(Error::internal)?
    .map_err(Stopped::into_error)?;
    received_something(receipt)
}

fn received_something(receipt: Receipt) -> Result<Receipt, Error> {
    if receipt.received == 0 {
        return Err(Error::new(ErrorCode::InvalidFeedback, "no feedback given"));
    }
    Ok(receipt)
}

#[cfg(test)]
mod tests;
