//! Target `grpc_infer`: a `ModelInfer` message's bytes as the gRPC service
//! decodes them (prost, then `grpc::tensors::decode_inputs`: typed
//! `contents` or `raw_input_contents`, shapes, datatypes, the element
//! limit, shared memory refused).

use std::collections::HashMap;

use bytes::Bytes;
use hangar_core::tensor::element_count;
use hangar_server::fuzzing::grpc::{
    decode_infer_inputs, InferInputTensor, InferParameter, InferTensorContents, ModelInferRequest,
    ParameterChoice,
};
use proptest::prelude::*;
use prost::Message;

use crate::gen;
use crate::harness::{fuzz, measure, mutate, mutations, random_bytes, within_cap, Cap};

/// At most 48 bytes per message byte plus 64 KiB, plus 768 bytes for each
/// of the 4,096 top-level fields a request may hold (an empty input is two
/// bytes on the wire and about 330 decoded, twice that while its vector
/// grows): 3.1 MiB in all for the worst message of 8 KiB.
const CAP: Cap = Cap {
    per_byte: 48,
    fixed: 64 * 1024 + 4096 * 768,
};

#[derive(Debug, Clone)]
struct Case {
    message: Vec<u8>,
    max_elements: usize,
}

fn check(case: Case) -> Result<(), TestCaseError> {
    let (result, peak) = measure(|| decode_infer_inputs(&case.message, case.max_elements));
    match &result {
        Ok(tensors) => {
            for t in tensors {
                prop_assert_eq!(element_count(&t.shape), Some(t.data.len()));
                prop_assert!(t.data.len() <= case.max_elements);
            }
        }
        Err(message) => prop_assert!(!message.is_empty()),
    }
    drop(result);
    within_cap("grpc_infer", peak, case.message.len(), CAP)
}

/// How an input carries its data.
#[derive(Debug, Clone)]
enum Carried {
    /// The datatype's own `contents` field, with `extra` values more or less.
    Typed {
        extra: i8,
    },
    /// Another `contents` field than the datatype's.
    WrongField,
    Raw,
    Both,
    Missing,
}

fn contents(datatype: &str, count: usize, wrong: bool) -> InferTensorContents {
    let mut c = InferTensorContents::default();
    let field = if wrong { "FP64x" } else { datatype };
    match field {
        "BOOL" => c.bool_contents = (0..count).map(|i| i % 2 == 0).collect(),
        "INT8" | "INT16" | "INT32" => {
            c.int_contents = (0..count).map(|i| (i as i32 - 3) * 1000).collect()
        }
        "INT64" => {
            c.int64_contents = (0..count)
                .map(|i| (i as i64).wrapping_mul(i64::MAX / 7))
                .collect()
        }
        "UINT8" | "UINT16" | "UINT32" => {
            c.uint_contents = (0..count).map(|i| i as u32 * 70_000).collect()
        }
        "UINT64" => c.uint64_contents = (0..count).map(|i| i as u64).collect(),
        "FP32" => c.fp32_contents = (0..count).map(|i| i as f32 / 3.0).collect(),
        "BYTES" => c.bytes_contents = (0..count).map(|i| vec![b'a'; i % 4]).collect(),
        _ => c.fp64_contents = (0..count).map(|i| i as f64).collect(),
    }
    c
}

fn input() -> impl Strategy<Value = (InferInputTensor, Option<Bytes>)> {
    let how = prop_oneof![
        5 => prop_oneof![8 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)].prop_map(|extra| Carried::Typed { extra }),
        1 => Just(Carried::WrongField),
        4 => Just(Carried::Raw),
        1 => Just(Carried::Both),
        1 => Just(Carried::Missing),
    ];
    (
        "[a-z]{0,4}",
        gen::datatype_name(),
        gen::shape(),
        how,
        prop::bool::weighted(0.05),
    )
        .prop_flat_map(|(name, datatype, shape, how, shared_memory)| {
            let count = gen::small_count(&shape).unwrap_or(2);
            let raw = gen::element_bytes(&datatype, count);
            (
                Just((name, datatype, shape, how, shared_memory, count)),
                raw,
            )
        })
        .prop_map(
            |((name, datatype, shape, how, shared_memory, count), raw)| {
                let mut parameters = HashMap::new();
                if shared_memory {
                    parameters.insert(
                        "shared_memory_region".to_string(),
                        InferParameter {
                            parameter_choice: Some(ParameterChoice::StringParam("r".into())),
                        },
                    );
                }
                let (contents, raw) = match how {
                    Carried::Typed { extra } => {
                        let n = (count as i64 + i64::from(extra)).max(0) as usize;
                        (Some(contents(&datatype, n, false)), None)
                    }
                    Carried::WrongField => (Some(contents(&datatype, count, true)), None),
                    Carried::Raw => (None, Some(Bytes::from(raw))),
                    Carried::Both => (
                        Some(contents(&datatype, count, false)),
                        Some(Bytes::from(raw)),
                    ),
                    Carried::Missing => (None, None),
                };
                (
                    InferInputTensor {
                        name,
                        datatype,
                        shape,
                        parameters,
                        contents,
                    },
                    raw,
                )
            },
        )
}

fn request() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(input(), 0..4),
        prop_oneof![8 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)],
        mutations(4),
        gen::max_elements(),
    )
        .prop_map(|(inputs, raw_shift, damage, max_elements)| {
            let any_raw = inputs.iter().any(|(_, r)| r.is_some());
            let (inputs, raws): (Vec<_>, Vec<_>) = inputs.into_iter().unzip();
            let mut raw_input_contents: Vec<Bytes> = if any_raw {
                raws.into_iter().map(Option::unwrap_or_default).collect()
            } else {
                Vec::new()
            };
            match raw_shift {
                -1 => {
                    raw_input_contents.pop();
                }
                1 => raw_input_contents.push(Bytes::from_static(b"\0\0\0\0")),
                _ => {}
            }
            let message = ModelInferRequest {
                model_name: "m".into(),
                inputs,
                raw_input_contents,
                ..Default::default()
            }
            .encode_to_vec();
            Case {
                message: mutate(message, &damage),
                max_elements,
            }
        })
}

/// Many copies of the smallest repeated field of one kind: what costs the
/// decoder most memory per byte.
fn flood() -> impl Strategy<Value = Case> {
    (0usize..5, 1usize..6000, gen::max_elements()).prop_map(|(kind, n, max_elements)| {
        let mut message = Vec::new();
        match kind {
            // Empty inputs, outputs, raw contents.
            0 => message = [0x2a, 0x00].repeat(n),
            1 => message = [0x32, 0x00].repeat(n),
            2 => message = [0x3a, 0x00].repeat(n),
            // One input with many parameters (distinct two-byte keys).
            3 => {
                let mut input = Vec::new();
                for i in 0..n {
                    let k = (i as u16).to_le_bytes();
                    input.extend_from_slice(&[0x22, 0x04, 0x0a, 0x02, k[0] | 0x40, k[1] | 0x40]);
                }
                message.push(0x2a);
                prost::encoding::encode_varint(input.len() as u64, &mut message);
                message.extend(input);
            }
            // One BYTES input with many empty elements.
            _ => {
                let contents = [0x42, 0x00].repeat(n);
                let mut input = vec![0x12, 0x05];
                input.extend_from_slice(b"BYTES");
                input.push(0x2a);
                prost::encoding::encode_varint(contents.len() as u64, &mut input);
                input.extend(contents);
                message.push(0x2a);
                prost::encoding::encode_varint(input.len() as u64, &mut message);
                message.extend(input);
            }
        }
        Case {
            message,
            max_elements,
        }
    })
}

#[test]
fn fuzz_grpc_infer() {
    let random =
        (random_bytes(2048), gen::max_elements()).prop_map(|(message, max_elements)| Case {
            message,
            max_elements,
        });
    fuzz(
        "grpc_infer",
        3000,
        prop_oneof![2 => random, 1 => flood(), 6 => request()],
        check,
    );
}

/// Regression: prost decoded every field before any check, and an empty
/// input (two bytes) costs about 330 bytes decoded: a 32 MiB message of
/// them asked for 10 GB. The codec counts a request's fields first.
#[test]
fn a_message_of_many_empty_inputs_is_refused_before_it_is_decoded() {
    let message = [0x2a, 0x00].repeat(100_000);
    let (result, peak) = measure(|| decode_infer_inputs(&message, 16 * 1024 * 1024));
    let error = result.unwrap_err();
    assert!(error.contains("at most 4096 fields"), "{error}");
    assert!(peak < 4096, "held {peak} bytes to refuse it");
}
