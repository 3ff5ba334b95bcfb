//! Targets `log_buffer_read` and `log_buffer_roundtrip`: the prediction
//! log's record buffer (`log_buffer.rs`). Requests encode their rows into it
//! and the writer reads them back as borrowed slices.
//!
//! Reading arbitrary or damaged bytes never panics and holds no more than
//! its cap; every answered request encoded reads back with the same values
//! (strings, numbers, time, each row's id, score, label, features, outputs
//! and segments).

use std::collections::BTreeMap;

use chrono::DateTime;
use hangar_core::monitor::scores_and_labels;
use hangar_core::{Tensor, TensorData};
use hangar_server::fuzzing::{encode_log_record, log_records, PendingPrediction, RequestView};
use proptest::prelude::*;
use serde_json::Value;

use crate::harness::{fuzz, measure, mutate, mutations, random_bytes, within_cap, Cap};

/// Reading holds at most 8 bytes per buffer byte (a row of the smallest
/// encoding, 15 bytes, is read into a 96-byte view) plus 4 KiB.
const CAP: Cap = Cap {
    per_byte: 8,
    fixed: 4 * 1024,
};

/// Reads every record and every field, as the writer does.
fn read_all(buf: &[u8]) -> Vec<RequestView<'_>> {
    log_records(buf).collect()
}

fn tensor(rows: usize) -> impl Strategy<Value = Tensor> {
    let data = |n: usize| {
        prop_oneof![
            prop::collection::vec(any::<f32>(), n).prop_map(TensorData::Fp32),
            prop::collection::vec(any::<f64>(), n).prop_map(TensorData::Fp64),
            prop::collection::vec(any::<i64>(), n).prop_map(TensorData::Int64),
            prop::collection::vec(any::<i32>(), n).prop_map(TensorData::Int32),
            prop::collection::vec(any::<bool>(), n).prop_map(TensorData::Bool),
            prop::collection::vec(any::<u8>(), n).prop_map(TensorData::Uint8),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..4), n)
                .prop_map(TensorData::Bytes),
        ]
    };
    (
        prop_oneof![
            Just("probabilities".to_string()),
            Just("label".to_string()),
            "[a-z\"\\\\\u{e9}]{1,5}",
        ],
        prop_oneof![
            3 => (0usize..4).prop_map(move |k| vec![rows, k]),
            2 => Just(vec![rows]),
            1 => Just(Vec::new()),
            1 => (0usize..4).prop_map(|r| vec![r]),
        ],
    )
        .prop_flat_map(move |(name, shape)| {
            let n: usize = shape.iter().product();
            (Just(name), Just(shape), data(n))
        })
        .prop_map(|(name, shape, data)| Tensor::new(name, shape, data).unwrap())
}

fn features(rows: usize) -> impl Strategy<Value = Vec<Tensor>> {
    (0usize..5).prop_flat_map(move |cols| {
        prop_oneof![
            6 => tensor_of_shape(vec![rows, cols]).prop_map(|t| vec![t]),
            1 => (tensor_of_shape(vec![rows]), tensor_of_shape(vec![rows, 2])).prop_map(|(a, b)| vec![a, b]),
            1 => tensor_of_shape(vec![rows]).prop_map(|t| vec![t]),
        ]
    })
}

fn tensor_of_shape(shape: Vec<usize>) -> impl Strategy<Value = Tensor> {
    let n: usize = shape.iter().product();
    prop_oneof![
        3 => prop::collection::vec(any::<f32>(), n).prop_map(TensorData::Fp32),
        1 => prop::collection::vec(any::<f64>(), n).prop_map(TensorData::Fp64),
        1 => prop::collection::vec(any::<i64>(), n).prop_map(TensorData::Int64),
        1 => prop::collection::vec(any::<i32>(), n).prop_map(TensorData::Int32),
        1 => prop::collection::vec(any::<u16>(), n).prop_map(TensorData::Uint16),
    ]
    .prop_map(move |data| Tensor::new("input", shape.clone(), data).unwrap())
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z0-9-]{0,8}", 1 => ".{0,6}"]
}

fn pending() -> impl Strategy<Value = PendingPrediction> {
    (1usize..5).prop_flat_map(|rows| {
        (
            (text(), text(), text(), prop::option::of(text())),
            (
                any::<u32>(),
                any::<u32>(),
                -62_000_000_000_000_000i64..250_000_000_000_000_000,
                any::<u64>(),
            ),
            features(rows),
            prop::collection::vec(tensor(rows), 0..4),
            prop::collection::btree_map("[a-z]{1,3}", prop::collection::vec(text(), rows), 0..3),
            prop::option::weighted(0.5, 0usize..3),
        )
            .prop_map(
                |(
                    (deployment, model, request_id, purpose),
                    (revision, version, micros, latency_us),
                    inputs,
                    outputs,
                    extras,
                    row_id,
                )| {
                    let row_id_field = row_id.and_then(|i| extras.keys().nth(i).cloned());
                    PendingPrediction {
                        deployment,
                        revision,
                        model,
                        version,
                        request_id,
                        at: DateTime::from_timestamp_micros(micros).unwrap(),
                        latency_us,
                        inputs,
                        outputs,
                        extras,
                        row_id_field,
                        purpose,
                    }
                },
            )
    })
}

fn same_f64(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn same_opt(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_f64(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// The row's feature values as the log stores them.
fn expected_features(p: &PendingPrediction, i: usize) -> Vec<f64> {
    let rows = p.rows();
    let Some(t) = p
        .inputs
        .first()
        .filter(|t| p.inputs.len() == 1 && t.shape.len() == 2 && t.rows() == rows)
    else {
        return Vec::new();
    };
    let cols = t.shape[1];
    let range = i * cols..(i + 1) * cols;
    match &t.data {
        TensorData::Fp32(v) => v[range].iter().map(|x| f64::from(*x)).collect(),
        TensorData::Fp64(v) => v[range].to_vec(),
        TensorData::Int64(v) => v[range].iter().map(|x| *x as f64).collect(),
        TensorData::Int32(v) => v[range].iter().map(|x| f64::from(*x)).collect(),
        _ => Vec::new(),
    }
}

/// Row `i` of an output as JSON values (non-finite numbers are `null`).
fn expected_output(t: &Tensor, rows: usize, i: usize) -> Vec<Value> {
    let width = t.data.len() / rows;
    let r = i * width..(i + 1) * width;
    let num = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    match &t.data {
        TensorData::Fp32(v) => v[r].iter().map(|x| num(f64::from(*x))).collect(),
        TensorData::Fp64(v) => v[r].iter().map(|x| num(*x)).collect(),
        TensorData::Int64(v) => v[r].iter().map(|x| Value::from(*x)).collect(),
        TensorData::Int32(v) => v[r].iter().map(|x| Value::from(*x)).collect(),
        TensorData::Bool(v) => v[r].iter().map(|x| Value::from(*x)).collect(),
        TensorData::Uint8(v) => v[r].iter().map(|x| Value::from(*x)).collect(),
        TensorData::Bytes(v) => v[r]
            .iter()
            .map(|x| Value::from(String::from_utf8_lossy(x).into_owned()))
            .collect(),
        other => panic!("no such output is generated: {other:?}"),
    }
}

/// JSON numbers of f32 values are written in f32's shortest form; they
/// read back as the same f32.
fn same_json(got: &Value, want: &Value, narrow: bool) -> bool {
    match (got, want) {
        (Value::Number(g), Value::Number(w)) if narrow => {
            g.as_f64().map(|g| g as f32) == w.as_f64().map(|w| w as f32)
        }
        (Value::Number(g), Value::Number(w)) => g.as_f64() == w.as_f64() && (g.is_f64() || g == w),
        _ => got == want,
    }
}

fn check_record(p: &PendingPrediction, r: &RequestView<'_>) -> Result<(), TestCaseError> {
    let rows = p.rows();
    prop_assert_eq!(
        (r.deployment, r.model, r.request_id, r.purpose),
        (
            p.deployment.as_str(),
            p.model.as_str(),
            p.request_id.as_str(),
            p.purpose.as_deref()
        )
    );
    prop_assert_eq!(
        (r.revision, r.version, r.latency_us, r.at),
        (p.revision, p.version, p.latency_us, p.at)
    );
    prop_assert_eq!(r.rows.len(), rows);
    let (scores, labels) = scores_and_labels(&p.outputs, rows);
    let row_ids = p.row_id_field.as_ref().and_then(|f| p.extras.get(f));
    for (i, row) in r.rows.iter().enumerate() {
        let row_id = row_ids.map(|v| v[i].as_str()).filter(|s| !s.is_empty());
        prop_assert_eq!(row.row_id, row_id);
        prop_assert!(
            same_opt(row.score, scores[i]),
            "score {:?} vs {:?}",
            row.score,
            scores[i]
        );
        prop_assert!(
            same_opt(row.predicted, labels[i]),
            "label {:?} vs {:?}",
            row.predicted,
            labels[i]
        );
        let mut values = Vec::new();
        prop_assert!(hangar_store::decode_features_into(
            row.features,
            &mut values
        ));
        let want = expected_features(p, i);
        prop_assert!(
            values.len() == want.len() && values.iter().zip(&want).all(|(a, b)| same_f64(*a, *b)),
            "features {:?} vs {:?}",
            values,
            want
        );
        let outputs: serde_json::Map<String, Value> = serde_json::from_str(row.outputs).unwrap();
        let mut want_outputs = serde_json::Map::new();
        for t in p.outputs.iter().filter(|t| t.rows() == rows) {
            want_outputs.insert(t.name.clone(), Value::Array(expected_output(t, rows, i)));
        }
        prop_assert_eq!(outputs.len(), want_outputs.len());
        for (name, want) in &want_outputs {
            let narrow = p
                .outputs
                .iter()
                .rev()
                .find(|t| &t.name == name && t.rows() == rows)
                .is_some_and(|t| matches!(t.data, TensorData::Fp32(_)));
            let got = outputs.get(name).and_then(Value::as_array);
            let want = want.as_array().unwrap();
            prop_assert!(
                got.is_some_and(|g| g.len() == want.len()
                    && g.iter().zip(want).all(|(g, w)| same_json(g, w, narrow))),
                "output {:?}: {:?} vs {:?}",
                name,
                got,
                want
            );
        }
        let segments: BTreeMap<String, String> = serde_json::from_str(row.segments).unwrap();
        let want_segments: BTreeMap<String, String> = p
            .extras
            .iter()
            .filter(|(k, _)| Some(*k) != p.row_id_field.as_ref())
            .map(|(k, v)| (k.clone(), v[i].clone()))
            .collect();
        prop_assert_eq!(segments, want_segments);
    }
    Ok(())
}

#[test]
fn fuzz_log_buffer_roundtrip() {
    fuzz(
        "log_buffer_roundtrip",
        1600,
        prop::collection::vec(pending(), 1..4),
        |batch| {
            let mut buf = Vec::new();
            for p in &batch {
                prop_assert_eq!(encode_log_record(&mut buf, p), p.rows());
            }
            let records = read_all(&buf);
            prop_assert_eq!(records.len(), batch.len());
            for (p, r) in batch.iter().zip(&records) {
                check_record(p, r)?;
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_log_buffer_read() {
    let damaged =
        (prop::collection::vec(pending(), 1..3), mutations(6)).prop_map(|(batch, damage)| {
            let mut buf = Vec::new();
            for p in &batch {
                encode_log_record(&mut buf, p);
            }
            mutate(buf, &damage)
        });
    // A record claiming many rows in a few bytes.
    let claims = (any::<u32>(), random_bytes(64)).prop_map(|(rows, tail)| {
        let mut body = Vec::new();
        for s in ["d", "m", "r"] {
            body.extend_from_slice(&(s.len() as u32).to_le_bytes());
            body.extend_from_slice(s.as_bytes());
        }
        body.push(0);
        body.extend_from_slice(&[0; 24]);
        body.extend_from_slice(&rows.to_le_bytes());
        body.extend(tail);
        let mut buf = (body.len() as u32).to_le_bytes().to_vec();
        buf.extend(body);
        buf
    });
    fuzz(
        "log_buffer_read",
        4000,
        prop_oneof![2 => random_bytes(2048), 3 => damaged, 1 => claims],
        |buf| {
            let (records, peak) = measure(|| read_all(&buf));
            for r in &records {
                prop_assert!(r.rows.iter().all(|row| row.features.len() <= buf.len()));
            }
            drop(records);
            within_cap("log_buffer_read", peak, buf.len(), CAP)
        },
    );
}

/// Regression: a record claiming 49 rows (or any count past 4,096) in 48
/// bytes reserved views for 4,096 rows (393 KB) before reading one.
#[test]
fn a_record_claiming_many_rows_reserves_only_what_its_bytes_hold() {
    let buf = [
        44, 0, 0, 0, 1, 0, 0, 0, 100, 1, 0, 0, 0, 109, 1, 0, 0, 0, 114, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255,
    ];
    let (records, peak) = measure(|| read_all(&buf));
    assert_eq!(
        records.len(),
        0,
        "a record whose rows are cut off is not read"
    );
    assert!(peak <= CAP.of(buf.len()), "held {peak} bytes");
}
