//! Targets `v2_json` and `v2_binary`: an HTTP inference body as
//! `POST /v2/models/{name}/infer` decodes it (`v2::decode_body`: the split at
//! `Inference-Header-Content-Length`, the JSON, the tensors with their
//! shapes, datatypes and element limit, the binary tensor data extension).

use bytes::Bytes;
use hangar_core::tensor::element_count;
use hangar_server::fuzzing::{self, decode_http_body, CallInputs};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::gen;
use crate::harness::{fuzz, measure, mutate, mutations, random_bytes, within_cap, Cap};

/// Decoding holds at most 48 bytes per body byte (a JSON number of two
/// bytes becomes a 32-byte scalar in a vector that may be twice too large,
/// then its typed copy) plus 64 KiB.
const CAP: Cap = Cap {
    per_byte: 48,
    fixed: 64 * 1024,
};

/// A body, the header length it claims (if any) and the element limit.
#[derive(Debug, Clone)]
struct Case {
    body: Vec<u8>,
    header_length: Option<usize>,
    max_elements: usize,
}

fn check(case: Case, target: &str) -> Result<(), TestCaseError> {
    let body = Bytes::from(case.body);
    let (result, peak) = measure(|| decode_http_body(&body, case.header_length, case.max_elements));
    match &result {
        Ok(decoded) => {
            if let CallInputs::Tensors(tensors) = &decoded.inputs {
                for t in tensors {
                    let n = element_count(&t.shape);
                    prop_assert_eq!(
                        n,
                        Some(t.data.len()),
                        "tensor '{}' shape and data disagree",
                        t.name
                    );
                    prop_assert!(
                        t.data.len() <= case.max_elements,
                        "tensor '{}' is past the element limit",
                        t.name
                    );
                }
            }
        }
        Err(e) => {
            prop_assert_eq!(fuzzing::http_status(e.code).as_u16(), 400, "{}", e.message);
            prop_assert!(!e.message.is_empty());
        }
    }
    drop(result);
    within_cap(target, peak, body.len(), CAP)
}

/// A JSON value that a client may put where a tensor element belongs.
fn element(datatype: &str) -> BoxedStrategy<Value> {
    let typed: BoxedStrategy<Value> = match datatype {
        "BOOL" => prop_oneof![
            any::<bool>().prop_map(Value::from),
            (0i64..2).prop_map(Value::from)
        ]
        .boxed(),
        "BYTES" => "[a-z\u{e9}\u{1f600}]{0,6}".prop_map(Value::from).boxed(),
        "FP32" | "FP64" => prop_oneof![
            any::<f64>()
                .prop_filter("JSON has no NaN", |f| f.is_finite())
                .prop_map(Value::from),
            (-1000i64..1000).prop_map(Value::from),
            Just(json!(3.5e300)),
        ]
        .boxed(),
        _ => prop_oneof![
            (-300i64..300).prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            Just(json!(2.0)),
            Just(json!(2.5)),
        ]
        .boxed(),
    };
    prop_oneof![
        9 => typed,
        1 => prop_oneof![Just(json!(null)), Just(json!({"a": 1})), Just(json!("x")), Just(json!(true)), Just(json!([]))],
    ]
    .boxed()
}

/// How an input carries its data.
#[derive(Debug, Clone)]
enum Carried {
    Json { nested: bool, extra: i8 },
    Binary { declared: Option<u64> },
    Both,
    Missing,
}

fn carried() -> impl Strategy<Value = Carried> {
    prop_oneof![
        6 => (any::<bool>(), prop_oneof![8 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)])
            .prop_map(|(nested, extra)| Carried::Json { nested, extra }),
        4 => prop_oneof![
            6 => Just(None),
            1 => any::<u64>().prop_map(Some),
            1 => (0u64..64).prop_map(Some),
        ]
        .prop_map(|declared| Carried::Binary { declared }),
        1 => Just(Carried::Both),
        1 => Just(Carried::Missing),
    ]
}

/// One input's JSON and its binary data.
fn input(binary_only: bool) -> impl Strategy<Value = (Value, Vec<u8>)> {
    let how = if binary_only {
        prop_oneof![
            6 => prop_oneof![
                6 => Just(None),
                1 => any::<u64>().prop_map(Some),
                1 => (0u64..64).prop_map(Some),
            ]
            .prop_map(|declared| Carried::Binary { declared }),
            1 => carried(),
        ]
        .boxed()
    } else {
        carried().boxed()
    };
    (
        "[a-z_]{0,6}|.{0,4}",
        gen::datatype_name(),
        gen::shape(),
        how,
    )
        .prop_flat_map(|(name, datatype, shape, how)| {
            let count = gen::small_count(&shape).unwrap_or(3);
            let values = prop::collection::vec(element(&datatype), count..=count + 1);
            let raw = gen::element_bytes(&datatype, count);
            (Just((name, datatype, shape, how, count)), values, raw).prop_map(
                |((name, datatype, shape, how, count), mut values, raw)| {
                    let mut input = json!({"name": name, "datatype": datatype, "shape": shape});
                    let mut tail = Vec::new();
                    match how {
                        Carried::Json { nested, extra } => {
                            values.truncate((count as i64 + i64::from(extra)).max(0) as usize);
                            let data = match (nested, shape.first()) {
                                (true, Some(&rows))
                                    if rows > 0 && values.len() as i64 % rows == 0 =>
                                {
                                    let per = values.len() / rows as usize;
                                    Value::Array(
                                        values
                                            .chunks(per.max(1))
                                            .map(|c| Value::Array(c.to_vec()))
                                            .collect(),
                                    )
                                }
                                _ => Value::Array(values),
                            };
                            input["data"] = data;
                        }
                        Carried::Binary { declared } => {
                            let size = declared.unwrap_or(raw.len() as u64);
                            input["parameters"] = json!({"binary_data_size": size});
                            tail = raw;
                        }
                        Carried::Both => {
                            input["data"] = Value::Array(values);
                            input["parameters"] = json!({"binary_data_size": raw.len()});
                            tail = raw;
                        }
                        Carried::Missing => {}
                    }
                    (input, tail)
                },
            )
        })
}

/// A whole request: header JSON plus binary tail, then damaged.
fn request(binary_only: bool) -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(input(binary_only), 0..4),
        prop_oneof![Just(None), ".{0,8}".prop_map(Some)],
        any::<bool>(),
        prop::collection::vec(("[a-z]{1,4}", any::<bool>()), 0..3),
        prop_oneof![8 => Just(0i64), 1 => -3i64..3, 1 => any::<i64>()],
        mutations(4),
        gen::max_elements(),
    )
        .prop_map(
            |(inputs, id, binary_output, outputs, header_shift, damage, max_elements)| {
                let mut tail = Vec::new();
                let inputs: Vec<Value> = inputs
                    .into_iter()
                    .map(|(v, t)| {
                        tail.extend(t);
                        v
                    })
                    .collect();
                let mut header = json!({
                    "inputs": inputs,
                    "parameters": {"binary_data_output": binary_output, "routing_key": "k"},
                    "outputs": outputs
                        .into_iter()
                        .map(|(name, binary)| json!({"name": name, "parameters": {"binary_data": binary}}))
                        .collect::<Vec<_>>(),
                });
                if let Some(id) = id {
                    header["id"] = Value::from(id);
                }
                let mut body = serde_json::to_vec(&header).unwrap();
                let header_length = if tail.is_empty() && header_shift == 0 {
                    None
                } else {
                    Some(body.len() as i64 + header_shift)
                };
                body.extend(tail);
                let body = mutate(body, &damage);
                Case {
                    header_length: header_length.map(|n| n.max(0) as usize),
                    body,
                    max_elements,
                }
            },
        )
}

fn random_case() -> impl Strategy<Value = Case> {
    (
        random_bytes(4096),
        prop_oneof![Just(None), (0usize..5000).prop_map(Some)],
        gen::max_elements(),
    )
        .prop_map(|(body, header_length, max_elements)| Case {
            body,
            header_length,
            max_elements,
        })
}

/// Valid-looking JSON around random bytes in the places a tensor's data and
/// the JSON's own structure go.
fn json_fragments() -> impl Strategy<Value = Case> {
    let atom = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("\"inputs\"".to_string()),
        Just("\"data\"".to_string()),
        Just("\"shape\"".to_string()),
        Just("\"instances\"".to_string()),
        Just("\"parameters\"".to_string()),
        Just("1e999".to_string()),
        Just("-0".to_string()),
        Just("\"\\ud800\"".to_string()),
        "-?[0-9]{1,20}(\\.[0-9]{1,5})?",
        "\"[a-z]{0,4}\"",
    ];
    (prop::collection::vec(atom, 0..64), gen::max_elements()).prop_map(|(atoms, max_elements)| {
        Case {
            body: atoms.concat().into_bytes(),
            header_length: None,
            max_elements,
        }
    })
}

/// Many copies of one small piece where a body may repeat it: what costs
/// the decoder most memory per byte.
fn flood() -> impl Strategy<Value = Case> {
    let pieces: [(&str, &str, &str); 8] = [
        (
            r#"{"inputs":[],"parameters":{"x":["#,
            r#"{"a":0},"#,
            r#"{}]}}"#,
        ),
        (r#"{"inputs":[],"parameters":{"x":["#, r#"[0],"#, r#"[]]}}"#),
        (r#"{"instances":["#, r#"{"a":0},"#, r#"{}]}"#),
        (
            r#"{"inputs":[],"outputs":["#,
            r#"{"name":""},"#,
            r#"{"name":""}]}"#,
        ),
        (
            r#"{"inputs":["#,
            r#"{"name":"","shape":[],"datatype":"","parameters":{"a":0}},"#,
            r#"{}]}"#,
        ),
        (
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":["#,
            "0,",
            "0]}]}",
        ),
        (
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":["#,
            r#""","#,
            r#""]}]}"#,
        ),
        (
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"BOOL","data":["#,
            "[0],",
            "0]}]}",
        ),
    ];
    (
        prop::sample::select(pieces.to_vec()),
        1usize..6000,
        gen::max_elements(),
    )
        .prop_map(|((head, piece, tail), n, max_elements)| Case {
            body: [head, &piece.repeat(n), tail].concat().into_bytes(),
            header_length: None,
            max_elements,
        })
}

#[test]
fn fuzz_v2_json() {
    fuzz(
        "v2_json",
        3000,
        prop_oneof![
            2 => random_case(),
            2 => json_fragments(),
            1 => flood(),
            6 => request(false),
        ],
        |case| check(case, "v2_json"),
    );
}

#[test]
fn fuzz_v2_binary() {
    fuzz(
        "v2_binary",
        3000,
        prop_oneof![
            1 => random_case().prop_map(|mut c| {
                c.header_length = Some(c.header_length.unwrap_or(0).min(c.body.len()));
                c
            }),
            4 => request(true),
        ],
        |case| check(case, "v2_binary"),
    );
}

/// Regression: a BYTES input declaring millions of elements with a few
/// bytes of binary data reserved room for all of them before reading any
/// (402 MB at the default limit from a 100-byte request).
#[test]
fn a_bytes_input_declaring_many_elements_reserves_only_what_its_data_holds() {
    let header = br#"{"inputs":[{"name":"x","shape":[16000000],"datatype":"BYTES","parameters":{"binary_data_size":4}}]}"#;
    let mut body = header.to_vec();
    body.extend_from_slice(&0u32.to_le_bytes());
    let case = Case {
        body,
        header_length: Some(header.len()),
        max_elements: 16 * 1024 * 1024,
    };
    check(case, "v2_binary regression").unwrap();
}

/// Regression: `instances` rows and `parameters` were read as JSON values,
/// whose every non-empty object is a B-tree node of about 630 bytes: rows
/// of one feature (`{"a":0},`, 8 bytes) held 82 bytes per body byte (32
/// MiB asked for 2.6 GB), and so did objects nested in a parameter.
#[test]
fn objects_in_instances_and_parameters_cost_a_few_dozen_bytes_per_byte() {
    for body in [
        format!(r#"{{"instances":[{}{{}}]}}"#, r#"{"a":0},"#.repeat(20_000)),
        format!(
            r#"{{"inputs":[],"parameters":{{"x":[{}{{}}]}}}}"#,
            r#"{"a":0},"#.repeat(20_000)
        ),
    ] {
        check(
            Case {
                body: body.into_bytes(),
                header_length: None,
                max_elements: 16 * 1024 * 1024,
            },
            "v2_json regression",
        )
        .unwrap();
    }
}
