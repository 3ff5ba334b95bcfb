//! Target `instances`: the named-features form (`{"instances": [{"age": 41,
//! ...}]}`) from the body to the model's input tensor, as a request takes
//! it: `v2::decode_body`, `v2::split_extras` (segment attributes and the row
//! id leave the rows) and `features::instances_to_tensor` against a
//! version's signature and feature names.

use bytes::Bytes;
use hangar_core::features::instances_to_tensor;
use hangar_core::{DataType, Signature, TensorSpec};
use hangar_server::fuzzing::{decode_http_body, split_extras, CallInputs};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::harness::{fuzz, measure, mutate, mutations, within_cap, Cap};

/// At most 48 bytes per body byte plus 64 KiB plus 64 bytes per model
/// feature name (the version's names are not the client's to choose).
const CAP: Cap = Cap {
    per_byte: 48,
    fixed: 64 * 1024,
};

/// The version the request reaches, and the request.
#[derive(Debug, Clone)]
struct Case {
    datatype: DataType,
    width: i64,
    names: Option<Vec<String>>,
    extras: Vec<String>,
    body: Vec<u8>,
}

fn check(case: Case) -> Result<(), TestCaseError> {
    let signature = Signature {
        inputs: vec![TensorSpec {
            name: "input".into(),
            datatype: case.datatype,
            shape: vec![-1, case.width],
        }],
        outputs: Vec::new(),
    };
    let body = Bytes::from(case.body);
    let extras: Vec<&String> = case.extras.iter().collect();
    let names = case.names.as_deref();
    let model_side: usize = names.map_or(0, |n| n.iter().map(|s| 64 + s.len()).sum());
    let (outcome, peak) = measure(|| {
        let decoded = decode_http_body(&body, None, 16 * 1024 * 1024).map_err(|e| e.message)?;
        let (inputs, extra_values) =
            split_extras(decoded.inputs, &extras).map_err(|e| e.message().to_string())?;
        match inputs {
            CallInputs::Instances(rows) => {
                let n = rows.len();
                let tensor =
                    instances_to_tensor(&signature, names, rows).map_err(|e| e.to_string())?;
                Ok(Some((n, tensor, extra_values)))
            }
            CallInputs::Tensors(_) => Ok(None),
        }
    });
    let outcome: Result<_, String> = outcome;
    match &outcome {
        Ok(Some((rows, tensor, extra_values))) => {
            let cols = names.map_or(0, <[String]>::len);
            prop_assert_eq!(&tensor.shape, &vec![*rows, cols]);
            prop_assert_eq!(tensor.data.len(), rows * cols);
            prop_assert_eq!(tensor.datatype(), case.datatype);
            for values in extra_values.values() {
                prop_assert_eq!(values.len(), *rows);
            }
        }
        Ok(None) => {}
        Err(message) => prop_assert!(!message.is_empty()),
    }
    drop(outcome);
    let cap = Cap {
        fixed: CAP.fixed + model_side,
        ..CAP
    };
    within_cap("instances", peak, body.len(), cap)
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (-5i64..5).prop_map(Value::from),
        2 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => "[a-z]{0,3}".prop_map(Value::from),
        1 => Just(json!(null)),
        1 => Just(json!([1])),
        1 => Just(json!({"a": 1})),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec![
            DataType::Fp32,
            DataType::Fp64,
            DataType::Int64,
            DataType::Bool,
            DataType::Bytes,
        ]),
        prop_oneof![
            8 => prop::collection::vec("[a-z]{1,3}", 1..6),
            1 => prop::collection::vec("[a-z]{1,3}", 30..60),
        ],
        prop_oneof![8 => Just(0i64), 1 => Just(-1i64), 1 => Just(1i64)],
        prop::option::weighted(0.95, Just(())),
        prop::collection::vec("[a-z]{1,3}", 0..2),
        0usize..40,
        prop::collection::vec(
            (0usize..8, prop::collection::vec((0usize..8, value()), 0..3)),
            0..4,
        ),
        prop::collection::vec((any::<bool>(), any::<usize>()), 0..6),
        mutations(3),
    )
        .prop_map(
            |(datatype, names, width_shift, has_names, extras, rows, edits, drops, damage)| {
                let width = if width_shift == -1 {
                    -1
                } else {
                    names.len() as i64 + width_shift
                };
                let mut instances: Vec<Map<String, Value>> = (0..rows)
                    .map(|r| {
                        names
                            .iter()
                            .chain(&extras)
                            .enumerate()
                            .map(|(i, n)| (n.clone(), json!((r * 7 + i) % 5)))
                            .collect()
                    })
                    .collect();
                // Rows with a feature missing, unknown or odd-typed.
                for (row, fields) in edits {
                    if let Some(obj) = instances.get_mut(row) {
                        for (which, v) in fields {
                            let key = names
                                .get(which)
                                .cloned()
                                .unwrap_or_else(|| format!("unknown{which}"));
                            obj.insert(key, v);
                        }
                    }
                }
                for (drop_feature, at) in drops {
                    let n = instances.len();
                    if n > 0 && drop_feature {
                        let key = names[at % names.len()].clone();
                        instances[at % n].remove(&key);
                    }
                }
                let body = serde_json::to_vec(&json!({ "instances": instances })).unwrap();
                Case {
                    datatype,
                    width,
                    names: has_names.map(|()| names),
                    extras,
                    body: mutate(body, &damage),
                }
            },
        )
}

/// Many empty rows for a model with many features: every row is refused
/// as incomplete, so nothing should be sized by rows × features.
fn empty_rows() -> impl Strategy<Value = Case> {
    (1usize..3000, prop::collection::vec("[a-z]{1,8}", 64..200)).prop_map(|(rows, names)| {
        let body = format!("{{\"instances\":[{}{{}}]}}", "{},".repeat(rows)).into_bytes();
        Case {
            datatype: DataType::Fp32,
            width: names.len() as i64,
            names: Some(names),
            extras: Vec::new(),
            body,
        }
    })
}

#[test]
fn fuzz_instances() {
    fuzz(
        "instances",
        3000,
        prop_oneof![
            6 => case(),
            1 => empty_rows(),
        ],
        check,
    );
}

/// Regression: the rows were laid out as rows × features slots before any
/// was checked, so 3 bytes of `{},` cost a whole row (2,000 empty rows for
/// a model of 200 features held 12.8 MB from a 6 KB body).
#[test]
fn empty_rows_for_a_wide_model_cost_nothing_per_feature() {
    let names: Vec<String> = (0..200).map(|i| format!("f{i}")).collect();
    check(Case {
        datatype: DataType::Fp32,
        width: 200,
        names: Some(names),
        extras: Vec::new(),
        body: format!("{{\"instances\":[{}{{}}]}}", "{},".repeat(2000)).into_bytes(),
    })
    .unwrap();
}
