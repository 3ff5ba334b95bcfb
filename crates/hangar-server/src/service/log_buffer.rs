//! The prediction log's record format in its bounded buffer.
//!
//! A request appends its rows, already in the form the log stores (feature
//! bytes, outputs and segments as JSON), to one shared byte buffer; the
//! writer takes the whole buffer every batch and reads the rows back as
//! borrowed slices. Nothing is allocated per request on either side (the
//! buffer's capacity is reused), and no per-request object crosses from the
//! request's thread to the writer's: handing tensors over and freeing them
//! on the writer's thread cost more CPU than the copying (docs/benchmarks.md).
//!
//! A record, little endian:
//!
//! ```text
//! u32 length of the rest
//! str deployment, str model, str request id, opt str purpose
//! u32 revision, u32 version, i64 time (µs since the epoch), u64 latency (µs)
//! u32 rows, then per row:
//!   opt str row id, opt f64 score, opt f64 predicted label,
//!   bytes features, str outputs (JSON), str segments (JSON)
//! ```
//!
//! `str`/`bytes` are a u32 length and the bytes; `opt` is a 0/1 byte, then
//! the value when 1.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hangar_core::codec::{CodecError, Put, Reader};
use hangar_core::{Tensor, TensorData};

use crate::service::monitoring::PendingPrediction;

fn put_opt_str(b: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(s) => {
            b.put_u8(1);
            b.put_str(s);
        }
        None => b.put_u8(0),
    }
}

fn put_opt_f64(b: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(x) => {
            b.put_u8(1);
            b.put_f64(x);
        }
        None => b.put_u8(0),
    }
}

/// Appends one answered request's record; returns its number of rows (0:
/// nothing was appended).
pub fn encode(b: &mut Vec<u8>, p: &PendingPrediction) -> usize {
    let rows = p.rows();
    if rows == 0 {
        return 0;
    }
    let (scores, labels) = hangar_core::monitor::scores_and_labels(&p.outputs, rows);
    let features = match p.inputs.as_slice() {
        [one] if one.shape.len() == 2 && one.rows() == rows => Some(one),
        _ => None,
    };
    let row_ids = p.row_id_field.as_ref().and_then(|f| p.extras.get(f));
    let has_segments = p.extras.keys().any(|k| Some(k) != p.row_id_field.as_ref());
    let mut scratch = Vec::new();
    b.put_len_prefixed(|b| {
        b.put_str(&p.deployment);
        b.put_str(&p.model);
        b.put_str(&p.request_id);
        put_opt_str(b, p.purpose.as_deref());
        b.put_u32(p.revision);
        b.put_u32(p.version);
        b.put_i64(p.at.timestamp_micros());
        b.put_u64(p.latency_us);
        b.put_u32(rows as u32);
        for i in 0..rows {
            put_opt_str(
                b,
                row_ids
                    .and_then(|v| v.get(i))
                    .map(String::as_str)
                    .filter(|s| !s.is_empty()),
            );
            put_opt_f64(b, scores[i]);
            put_opt_f64(b, labels[i]);
            b.put_len_prefixed(|b| features_of(b, features, i, &mut scratch));
            b.put_len_prefixed(|b| outputs_json(b, &p.outputs, rows, i));
            b.put_len_prefixed(|b| {
                if has_segments {
                    segments_json(b, p, i)
                } else {
                    b.extend_from_slice(b"{}")
                }
            });
        }
    });
    rows
}

/// Row `i` of the features tensor in the stored encoding: FP32 values as
/// they are, other numbers through f64 (the store narrows them when exact).
fn features_of(b: &mut Vec<u8>, t: Option<&Tensor>, i: usize, scratch: &mut Vec<f64>) {
    let Some(t) = t else {
        hangar_store::encode_features_into(&[], b);
        return;
    };
    let cols = t.shape[1];
    let (lo, hi) = (i * cols, (i + 1) * cols);
    scratch.clear();
    match &t.data {
        TensorData::Fp32(v) => return hangar_store::encode_f32_features_into(&v[lo..hi], b),
        TensorData::Fp64(v) => scratch.extend_from_slice(&v[lo..hi]),
        TensorData::Int64(v) => scratch.extend(v[lo..hi].iter().map(|x| *x as f64)),
        TensorData::Int32(v) => scratch.extend(v[lo..hi].iter().map(|x| f64::from(*x))),
        _ => {}
    }
    hangar_store::encode_features_into(scratch, b);
}

/// Row `i` of every output as one JSON object (`{"name": [values], ...}`).
fn outputs_json(out: &mut Vec<u8>, outputs: &[Tensor], rows: usize, i: usize) {
    out.push(b'{');
    let mut first = true;
    for t in outputs {
        if t.rows() != rows {
            continue;
        }
        let width = t.data.len() / rows;
        let (a, b) = (i * width, (i + 1) * width);
        if !first {
            out.push(b',');
        }
        first = false;
        let _ = serde_json::to_writer(&mut *out, &t.name);
        out.push(b':');
        let _ = match &t.data {
            TensorData::Bool(v) => serde_json::to_writer(&mut *out, &v[a..b]),
            TensorData::Uint8(v) => serde_json::to_writer(&mut *out, &v[a..b]),
            TensorData::Uint16(v) => serde_json::to_writer(&mut *out, &v[a..b]),
            TensorData::Uint32(v) => serde_json::to_writer(&mut *out, &v[a..b]),
            TensorData::Uint64(v) => serde_json::to_writer(&mut *out, &v[a..b]),
            TensorData::Int8(v) => serde_json::to_writer(&mut *out, &v[a..b]),
            TensorData::Int16(v) => serde_json::to_writer(&mut *out, &v[a..b]),
            TensorData::Int32(v) => serde_json::to_writer(&mut *out, &v[a..b]),
            TensorData::Int64(v) => serde_json::to_writer(&mut *out, &v[a..b]),
            TensorData::Fp32(v) => serde_json::to_writer(&mut *out, &v[a..b]),
            TensorData::Fp64(v) => serde_json::to_writer(&mut *out, &v[a..b]),
            TensorData::Bytes(v) => serde_json::to_writer(
                &mut *out,
                &v[a..b]
                    .iter()
                    .map(|s| String::from_utf8_lossy(s))
                    .collect::<Vec<_>>(),
            ),
        };
    }
    out.push(b'}');
}

/// Row `i`'s segment attribute values as one JSON object.
fn segments_json(out: &mut Vec<u8>, p: &PendingPrediction, i: usize) {
    let m: BTreeMap<&String, &String> = p
        .extras
        .iter()
        .filter(|(k, _)| Some(*k) != p.row_id_field.as_ref())
        .filter_map(|(k, v)| v.get(i).map(|x| (k, x)))
        .collect();
    if serde_json::to_writer(&mut *out, &m).is_err() {
        out.extend_from_slice(b"{}");
    }
}

/// An optional value: a 0 byte for none, else the value.
fn opt<'a, T>(
    r: &mut Reader<'a>,
    read: impl FnOnce(&mut Reader<'a>) -> Result<T, CodecError>,
) -> Result<Option<T>, CodecError> {
    match r.u8()? {
        0 => Ok(None),
        _ => read(r).map(Some),
    }
}

/// One request's record, borrowed from the buffer.
pub struct RequestView<'a> {
    pub deployment: &'a str,
    pub model: &'a str,
    pub request_id: &'a str,
    pub purpose: Option<&'a str>,
    pub revision: u32,
    pub version: u32,
    pub at: DateTime<Utc>,
    pub latency_us: u64,
    pub rows: Vec<RowView<'a>>,
}

/// One row of a request's record.
pub struct RowView<'a> {
    pub row_id: Option<&'a str>,
    pub score: Option<f64>,
    pub predicted: Option<f64>,
    pub features: &'a [u8],
    pub outputs: &'a str,
    pub segments: &'a str,
}

/// The smallest encoded row: three absent options (a byte each) and three
/// empty length-prefixed values.
const MIN_ROW_BYTES: usize = 3 + 3 * 4;

fn request<'a>(r: &mut Reader<'a>) -> Result<RequestView<'a>, CodecError> {
    Ok(RequestView {
        deployment: r.str()?,
        model: r.str()?,
        request_id: r.str()?,
        purpose: opt(r, Reader::str)?,
        revision: r.u32()?,
        version: r.u32()?,
        at: DateTime::from_timestamp_micros(r.i64()?).ok_or(CodecError("time"))?,
        latency_us: r.u64()?,
        rows: {
            // A row takes at least MIN_ROW_BYTES: a corrupt count cannot
            // reserve more views than the record's bytes can hold.
            let n = r.len(MIN_ROW_BYTES)?;
            let mut rows = Vec::with_capacity(n);
            for _ in 0..n {
                rows.push(RowView {
                    row_id: opt(r, Reader::str)?,
                    score: opt(r, Reader::f64)?,
                    predicted: opt(r, Reader::f64)?,
                    features: r.bytes()?,
                    outputs: r.str()?,
                    segments: r.str()?,
                });
            }
            rows
        },
    })
}

/// The records of a buffer, in the order they were appended.
pub fn records(buf: &[u8]) -> impl Iterator<Item = RequestView<'_>> {
    let mut r = Reader::new(buf);
    std::iter::from_fn(move || {
        let body = r.bytes().ok()?;
        request(&mut Reader::new(body)).ok()
    })
}

/// The length of the longest prefix of `buf` that holds whole records and
/// at most `limit` bytes: where to cut a buffer so that no record is split.
pub fn whole_records_within(buf: &[u8], limit: usize) -> usize {
    let mut end = 0;
    while let Some(head) = buf.get(end..end + 4) {
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let next = end + 4 + len;
        if next > limit.min(buf.len()) {
            break;
        }
        end = next;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(extras: BTreeMap<String, Vec<String>>, row_id: Option<&str>) -> PendingPrediction {
        PendingPrediction {
            deployment: "credit".into(),
            revision: 3,
            model: "gbdt".into(),
            version: 2,
            request_id: "req-1".into(),
            at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            latency_us: 812,
            inputs: vec![Tensor::new(
                "input",
                vec![2, 3],
                TensorData::Fp32(vec![1.0, 2.5, -3.0, 0.1, 0.0, 7.0]),
            )
            .unwrap()],
            outputs: vec![
                Tensor::new("label", vec![2], TensorData::Int64(vec![1, 0])).unwrap(),
                Tensor::new(
                    "probabilities",
                    vec![2, 2],
                    TensorData::Fp32(vec![0.25, 0.75, 0.5, 0.5]),
                )
                .unwrap(),
            ],
            extras,
            row_id_field: row_id.map(str::to_string),
            purpose: Some("scoring".into()),
        }
    }

    #[test]
    fn a_buffer_is_cut_between_records_only() {
        let mut buf = Vec::new();
        encode(&mut buf, &pending(BTreeMap::new(), None));
        let one = buf.len();
        encode(&mut buf, &pending(BTreeMap::new(), None));
        let two = buf.len();
        for (limit, end) in [
            (0, 0),
            (one - 1, 0),
            (one, one),
            (two - 1, one),
            (two, two),
            (usize::MAX, two),
        ] {
            assert_eq!(whole_records_within(&buf, limit), end, "limit {limit}");
        }
        // A record cut short by the buffer's end is not counted whole.
        assert_eq!(whole_records_within(&buf[..two - 1], usize::MAX), one);
        assert_eq!(whole_records_within(&buf[..2], usize::MAX), 0);
    }

    #[test]
    fn records_read_back_as_they_were_appended() {
        let extras = BTreeMap::from([
            (
                "group".to_string(),
                vec!["a".to_string(), "b\"".to_string()],
            ),
            ("row_id".to_string(), vec!["r1".to_string(), String::new()]),
        ]);
        let mut buf = Vec::new();
        assert_eq!(encode(&mut buf, &pending(extras, Some("row_id"))), 2);
        assert_eq!(encode(&mut buf, &pending(BTreeMap::new(), None)), 2);
        let got: Vec<RequestView<'_>> = records(&buf).collect();
        assert_eq!(got.len(), 2);
        let r = &got[0];
        assert_eq!(
            (r.deployment, r.model, r.request_id, r.purpose),
            ("credit", "gbdt", "req-1", Some("scoring"))
        );
        assert_eq!((r.revision, r.version, r.latency_us), (3, 2, 812));
        assert_eq!(r.at.timestamp_micros(), 1_790_000_000_123_456);
        assert_eq!(r.rows.len(), 2);
        assert_eq!(r.rows[0].row_id, Some("r1"));
        assert_eq!(r.rows[1].row_id, None, "an empty row id is none");
        assert_eq!(
            (r.rows[0].score, r.rows[0].predicted),
            (Some(0.75), Some(1.0))
        );
        assert_eq!(
            r.rows[1].outputs,
            r#"{"label":[0],"probabilities":[0.5,0.5]}"#
        );
        assert_eq!(r.rows[1].segments, r#"{"group":"b\""}"#);
        let mut values = Vec::new();
        assert!(hangar_store::decode_features_into(
            r.rows[1].features,
            &mut values
        ));
        assert_eq!(values, vec![f64::from(0.1f32), 0.0, 7.0]);
        assert_eq!(got[1].rows[0].segments, "{}");
        assert_eq!(got[1].rows[0].row_id, None);
    }

    #[test]
    fn a_truncated_buffer_ends_the_records_without_panicking() {
        let mut buf = Vec::new();
        encode(&mut buf, &pending(BTreeMap::new(), None));
        let whole = buf.len();
        encode(&mut buf, &pending(BTreeMap::new(), None));
        for cut in [0, 3, 10, whole - 1, whole, whole + 7, buf.len() - 1] {
            let n = records(&buf[..cut]).count();
            assert_eq!(n, usize::from(cut >= whole), "cut at {cut}");
        }
        assert_eq!(records(&buf).count(), 2);
    }
}
