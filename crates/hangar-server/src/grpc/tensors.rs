//! Tensors in and out of the gRPC messages: inputs from typed `contents`
//! (`fp32_contents`, `int64_contents`, …) or from `raw_input_contents`
//! (little-endian bytes, what `tritonclient` sends), outputs as
//! `raw_output_contents` (what `tritonclient` reads). The rules and messages
//! follow the HTTP decoding in `wire.rs`.

use bytes::{Bytes, BytesMut};
use hangar_core::tensor::{element_count, shape_from_wire};
use hangar_core::{DataType, Tensor, TensorData};

use super::proto::model_infer_request::InferInputTensor;
use super::proto::model_infer_response::InferOutputTensor;
use super::proto::InferTensorContents;
use crate::tensor_bytes as wire;

/// Decodes the request's inputs. `raw` is `raw_input_contents`: empty, or
/// one entry per input in order.
pub(crate) fn decode_inputs(
    inputs: Vec<InferInputTensor>,
    raw: Vec<Bytes>,
    max_elements: usize,
) -> Result<Vec<Tensor>, String> {
    if !raw.is_empty() && raw.len() != inputs.len() {
        return Err(format!(
            "raw_input_contents has {} entries but the request has {} inputs; send one per input, in order",
            raw.len(),
            inputs.len()
        ));
    }
    let mut raw = raw.into_iter();
    let mut out = Vec::with_capacity(inputs.len());
    for input in inputs {
        let name = input.name;
        if input.parameters.contains_key("shared_memory_region") {
            return Err(format!(
                "input '{name}': shared memory is not supported; send the data in the request"
            ));
        }
        let datatype: DataType = input
            .datatype
            .parse()
            .map_err(|e| format!("input '{name}': {e}"))?;
        let shape = shape_from_wire(&name, &input.shape).map_err(|e| e.to_string())?;
        let count = element_count(&shape)
            .filter(|&n| n <= max_elements)
            .ok_or_else(|| {
                format!(
                    "input '{name}': shape {:?} exceeds the limit of {max_elements} elements",
                    input.shape
                )
            })?;
        let contents = input.contents.filter(|c| !is_empty(c));
        let data = match (raw.next(), contents) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "input '{name}' has both contents and raw_input_contents; send one"
                ))
            }
            (Some(bytes), None) => wire::decode_binary(&name, datatype, count, &bytes)?,
            (None, Some(contents)) => typed(&name, datatype, count, &input.shape, contents)?,
            (None, None) if count == 0 => typed(
                &name,
                datatype,
                0,
                &input.shape,
                InferTensorContents::default(),
            )?,
            (None, None) => {
                return Err(format!(
                    "input '{name}' has no data: send contents or raw_input_contents"
                ))
            }
        };
        out.push(Tensor::new(name, shape, data).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

fn is_empty(c: &InferTensorContents) -> bool {
    filled(c).is_empty()
}

/// The names and lengths of the non-empty fields of `contents`.
fn filled(c: &InferTensorContents) -> Vec<(&'static str, usize)> {
    [
        ("bool_contents", c.bool_contents.len()),
        ("int_contents", c.int_contents.len()),
        ("int64_contents", c.int64_contents.len()),
        ("uint_contents", c.uint_contents.len()),
        ("uint64_contents", c.uint64_contents.len()),
        ("fp32_contents", c.fp32_contents.len()),
        ("fp64_contents", c.fp64_contents.len()),
        ("bytes_contents", c.bytes_contents.len()),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect()
}

/// The `contents` field that carries a datatype's values.
fn field_of(datatype: DataType) -> &'static str {
    match datatype {
        DataType::Bool => "bool_contents",
        DataType::Int8 | DataType::Int16 | DataType::Int32 => "int_contents",
        DataType::Int64 => "int64_contents",
        DataType::Uint8 | DataType::Uint16 | DataType::Uint32 => "uint_contents",
        DataType::Uint64 => "uint64_contents",
        DataType::Fp32 => "fp32_contents",
        DataType::Fp64 => "fp64_contents",
        DataType::Bytes => "bytes_contents",
    }
}

fn typed(
    name: &str,
    datatype: DataType,
    count: usize,
    wire_shape: &[i64],
    c: InferTensorContents,
) -> Result<TensorData, String> {
    let field = field_of(datatype);
    if let Some((other, _)) = filled(&c).into_iter().find(|(f, _)| *f != field) {
        return Err(format!(
            "input '{name}' is {datatype}: its values belong in {field}, not {other}"
        ));
    }
    let len = filled(&c).first().map_or(0, |(_, n)| *n);
    if len != count {
        return Err(format!(
            "input '{name}': shape {wire_shape:?} holds {count} elements but {field} has {len}"
        ));
    }
    fn narrow<W: Copy + std::fmt::Display, N: TryFrom<W>>(
        name: &str,
        datatype: DataType,
        values: Vec<W>,
    ) -> Result<Vec<N>, String> {
        values
            .into_iter()
            .map(|v| {
                N::try_from(v)
                    .map_err(|_| format!("input '{name}': {v} is out of range for {datatype}"))
            })
            .collect()
    }
    Ok(match datatype {
        DataType::Bool => TensorData::Bool(c.bool_contents),
        DataType::Int8 => TensorData::Int8(narrow(name, datatype, c.int_contents)?),
        DataType::Int16 => TensorData::Int16(narrow(name, datatype, c.int_contents)?),
        DataType::Int32 => TensorData::Int32(c.int_contents),
        DataType::Int64 => TensorData::Int64(c.int64_contents),
        DataType::Uint8 => TensorData::Uint8(narrow(name, datatype, c.uint_contents)?),
        DataType::Uint16 => TensorData::Uint16(narrow(name, datatype, c.uint_contents)?),
        DataType::Uint32 => TensorData::Uint32(c.uint_contents),
        DataType::Uint64 => TensorData::Uint64(c.uint64_contents),
        DataType::Fp32 => TensorData::Fp32(c.fp32_contents),
        DataType::Fp64 => TensorData::Fp64(c.fp64_contents),
        DataType::Bytes => TensorData::Bytes(c.bytes_contents),
    })
}

/// The outputs as tensor descriptions plus `raw_output_contents`, in order.
pub(crate) fn encode_outputs(outputs: &[Tensor]) -> (Vec<InferOutputTensor>, Vec<Bytes>) {
    outputs
        .iter()
        .map(|t| {
            let mut raw = BytesMut::new();
            wire::encode_binary(&t.data, &mut raw);
            let tensor = InferOutputTensor {
                name: t.name.clone(),
                datatype: t.datatype().as_str().to_string(),
                shape: t
                    .shape
                    .iter()
                    .map(|&d| i64::try_from(d).unwrap_or(i64::MAX))
                    .collect(),
                parameters: Default::default(),
                contents: None,
            };
            (tensor, raw.freeze())
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(
        name: &str,
        datatype: &str,
        shape: &[i64],
        contents: Option<InferTensorContents>,
    ) -> InferInputTensor {
        InferInputTensor {
            name: name.into(),
            datatype: datatype.into(),
            shape: shape.to_vec(),
            parameters: Default::default(),
            contents,
        }
    }

    fn fp32(values: &[f32]) -> Option<InferTensorContents> {
        Some(InferTensorContents {
            fp32_contents: values.to_vec(),
            ..Default::default()
        })
    }

    fn raw_f32(values: &[f32]) -> Bytes {
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>()
            .into()
    }

    /// Decoding `inputs` (with `raw`) gives `expected`: the tensors' data, or
    /// an error containing the text.
    fn check(
        inputs: Vec<InferInputTensor>,
        raw: Vec<Bytes>,
        expected: Result<Vec<TensorData>, &str>,
    ) {
        let got = decode_inputs(inputs, raw, 1000);
        match (got, expected) {
            (Ok(tensors), Ok(want)) => {
                assert_eq!(
                    tensors.into_iter().map(|t| t.data).collect::<Vec<_>>(),
                    want
                )
            }
            (Err(e), Err(want)) => assert!(e.contains(want), "{e:?} should contain {want:?}"),
            (got, want) => panic!("got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn typed_contents_and_raw_bytes_decode_the_same() {
        let typed = decode_inputs(
            vec![input("x", "FP32", &[2, 2], fp32(&[1.0, 2.0, 3.0, 4.5]))],
            vec![],
            100,
        )
        .unwrap();
        let raw = decode_inputs(
            vec![input("x", "FP32", &[2, 2], None)],
            vec![raw_f32(&[1.0, 2.0, 3.0, 4.5])],
            100,
        )
        .unwrap();
        assert_eq!(typed, raw);
        assert_eq!(typed[0].shape, vec![2, 2]);
    }

    #[test]
    fn every_datatype_reads_its_own_contents_field() {
        let c = |f: fn(&mut InferTensorContents)| {
            let mut c = InferTensorContents::default();
            f(&mut c);
            Some(c)
        };
        check(
            vec![
                input(
                    "b",
                    "BOOL",
                    &[2],
                    c(|c| c.bool_contents = vec![true, false]),
                ),
                input("i8", "INT8", &[1], c(|c| c.int_contents = vec![-7])),
                input("i16", "INT16", &[1], c(|c| c.int_contents = vec![300])),
                input("i32", "INT32", &[1], c(|c| c.int_contents = vec![-70_000])),
                input(
                    "i64",
                    "INT64",
                    &[1],
                    c(|c| c.int64_contents = vec![1 << 40]),
                ),
                input("u8", "UINT8", &[1], c(|c| c.uint_contents = vec![255])),
                input("u16", "UINT16", &[1], c(|c| c.uint_contents = vec![65_535])),
                input("u32", "UINT32", &[1], c(|c| c.uint_contents = vec![70_000])),
                input(
                    "u64",
                    "UINT64",
                    &[1],
                    c(|c| c.uint64_contents = vec![u64::MAX]),
                ),
                input("f32", "FP32", &[1], c(|c| c.fp32_contents = vec![0.5])),
                input("f64", "FP64", &[1], c(|c| c.fp64_contents = vec![0.25])),
                input(
                    "s",
                    "BYTES",
                    &[1],
                    c(|c| c.bytes_contents = vec![b"hi".to_vec()]),
                ),
            ],
            vec![],
            Ok(vec![
                TensorData::Bool(vec![true, false]),
                TensorData::Int8(vec![-7]),
                TensorData::Int16(vec![300]),
                TensorData::Int32(vec![-70_000]),
                TensorData::Int64(vec![1 << 40]),
                TensorData::Uint8(vec![255]),
                TensorData::Uint16(vec![65_535]),
                TensorData::Uint32(vec![70_000]),
                TensorData::Uint64(vec![u64::MAX]),
                TensorData::Fp32(vec![0.5]),
                TensorData::Fp64(vec![0.25]),
                TensorData::Bytes(vec![b"hi".to_vec()]),
            ]),
        );
    }

    #[test]
    fn raw_bytes_elements_are_length_prefixed() {
        let mut raw = Vec::new();
        for s in [&b"ab"[..], b""] {
            raw.extend_from_slice(&(s.len() as u32).to_le_bytes());
            raw.extend_from_slice(s);
        }
        check(
            vec![input("s", "BYTES", &[2], None)],
            vec![raw.into()],
            Ok(vec![TensorData::Bytes(vec![b"ab".to_vec(), vec![]])]),
        );
    }

    #[test]
    fn bad_inputs_are_explained_naming_the_input() {
        let int8 = Some(InferTensorContents {
            int_contents: vec![200],
            ..Default::default()
        });
        let cases: Vec<(Vec<InferInputTensor>, Vec<Bytes>, &str)> = vec![
            (
                vec![input("x", "FP32", &[3], fp32(&[1.0, 2.0]))],
                vec![],
                "input 'x': shape [3] holds 3 elements but fp32_contents has 2",
            ),
            (
                vec![input("x", "FP64", &[1], fp32(&[1.0]))],
                vec![],
                "input 'x' is FP64: its values belong in fp64_contents, not fp32_contents",
            ),
            (
                vec![input("x", "INT8", &[1], int8)],
                vec![],
                "input 'x': 200 is out of range for INT8",
            ),
            (
                vec![input("x", "FLOAT", &[1], fp32(&[1.0]))],
                vec![],
                "unknown datatype",
            ),
            (
                vec![input("x", "FP32", &[-1], fp32(&[1.0]))],
                vec![],
                "negative dimension",
            ),
            (
                vec![input("x", "FP32", &[1000, 1000], None)],
                vec![],
                "input 'x': shape [1000, 1000] exceeds the limit of 1000 elements",
            ),
            (
                vec![input("x", "FP32", &[1], None)],
                vec![],
                "input 'x' has no data",
            ),
            (
                vec![input("x", "FP32", &[1], fp32(&[1.0]))],
                vec![raw_f32(&[1.0])],
                "input 'x' has both contents and raw_input_contents",
            ),
            (
                vec![input("x", "FP32", &[2], None)],
                vec![raw_f32(&[1.0])],
                "input 'x': 2 FP32 elements need 8 bytes",
            ),
            (
                vec![
                    input("x", "FP32", &[1], None),
                    input("y", "FP32", &[1], None),
                ],
                vec![raw_f32(&[1.0])],
                "raw_input_contents has 1 entries but the request has 2 inputs",
            ),
        ];
        for (inputs, raw, want) in cases {
            check(inputs, raw, Err(want));
        }
    }

    #[test]
    fn outputs_are_sent_as_little_endian_raw_contents_in_order() {
        let outputs = vec![
            Tensor::new("label", vec![2], TensorData::Int64(vec![1, 0])).unwrap(),
            Tensor::new("p", vec![1, 2], TensorData::Fp32(vec![0.25, 0.75])).unwrap(),
        ];
        let (tensors, raw) = encode_outputs(&outputs);
        let described: Vec<_> = tensors
            .iter()
            .map(|t| {
                (
                    t.name.as_str(),
                    t.datatype.as_str(),
                    t.shape.clone(),
                    t.contents.is_none(),
                )
            })
            .collect();
        assert_eq!(
            described,
            [
                ("label", "INT64", vec![2], true),
                ("p", "FP32", vec![1, 2], true)
            ]
        );
        assert_eq!(raw[0], [1i64.to_le_bytes(), 0i64.to_le_bytes()].concat());
        assert_eq!(raw[1], raw_f32(&[0.25, 0.75]));
    }
}
