//! Open Inference Protocol V2 request and response bodies: JSON, and the
//! binary tensor data extension (`Inference-Header-Content-Length`) that the
//! official Triton clients use by default.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use hangar_core::tensor::{shape_from_wire, Scalar};
use hangar_core::{DataType, Tensor, TensorData};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::tensor_bytes::{decode_binary, encode_binary};

pub const HEADER_LENGTH: &str = "inference-header-content-length";

// Memory: a body is decoded into at most a few dozen bytes per byte (the
// fuzz tests, tests/fuzz/, hold it to 48). Two JSON forms would cost far
// more as `serde_json::Value`s, whose every non-empty object is a B-tree
// node of about 630 bytes: `parameters` keep only their scalar values (the
// protocol's parameters are booleans, numbers and strings; nested values
// are skipped unread), and `instances` are read straight into rows.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferRequest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "scalar_parameters")]
    pub parameters: Option<Map<String, Value>>,
    #[serde(default)]
    pub inputs: Option<Vec<InferInput>>,
    #[serde(default)]
    pub outputs: Option<Vec<RequestedOutput>>,
    /// The named-features convenience form.
    #[serde(default, deserialize_with = "instances")]
    pub instances: Option<Vec<Instance>>,
}

#[derive(Debug, Deserialize)]
pub struct InferInput {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    #[serde(default, deserialize_with = "scalar_parameters")]
    pub parameters: Option<Map<String, Value>>,
    #[serde(default)]
    pub data: Option<FlatData>,
}

#[derive(Debug, Deserialize)]
pub struct RequestedOutput {
    pub name: String,
    #[serde(default, deserialize_with = "scalar_parameters")]
    pub parameters: Option<Map<String, Value>>,
}

/// A scalar JSON value (`null` included), or `None` for an array or object,
/// which is skipped without being kept.
struct ScalarOrSkipped(Option<Value>);

impl<'de> Deserialize<'de> for ScalarOrSkipped {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ScalarOrSkipped;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(ScalarOrSkipped(Some(Value::Bool(v))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(ScalarOrSkipped(Some(Value::from(v))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ScalarOrSkipped(Some(Value::from(v))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(ScalarOrSkipped(Some(Value::from(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ScalarOrSkipped(Some(Value::String(v.to_string()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(ScalarOrSkipped(Some(Value::String(v))))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(ScalarOrSkipped(Some(Value::Null)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ScalarOrSkipped(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ScalarOrSkipped(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `parameters` with their scalar values; nested values are skipped.
fn scalar_parameters<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Map<String, Value>>, D::Error> {
    struct Params;
    impl<'de> Visitor<'de> for Params {
        type Value = Option<Map<String, Value>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of parameters")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Map::new();
            while let Some((k, v)) = map.next_entry::<String, ScalarOrSkipped>()? {
                if let Some(v) = v.0 {
                    out.insert(k, v);
                }
            }
            Ok(Some(out))
        }
    }
    d.deserialize_any(Params)
}

/// One row of the named-features form, in the order sent: each feature and
/// its value, `None` when the value is not a number, boolean or string.
pub type Instance = Vec<(String, Option<Scalar>)>;

/// `instances`: rows read straight into [`Instance`]s.
fn instances<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Instance>>, D::Error> {
    struct Row;
    impl<'de> DeserializeSeed<'de> for Row {
        type Value = Instance;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Instance, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Row {
        type Value = Instance;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of feature values")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Instance, A::Error> {
            let mut row = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, ScalarOrSkipped>()? {
                row.push((k, v.0.as_ref().and_then(scalar_of)));
            }
            // A row holds what it was sent, not a vector's spare room.
            row.shrink_to_fit();
            Ok(row)
        }
    }
    struct Rows;
    impl<'de> Visitor<'de> for Rows {
        type Value = Option<Vec<Instance>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of objects")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut rows = Vec::new();
            while let Some(row) = seq.next_element_seed(Row)? {
                rows.push(row);
            }
            Ok(Some(rows))
        }
    }
    d.deserialize_any(Rows)
}

/// `data` flattened in row-major order, whether it arrived flat or nested.
#[derive(Debug, Default)]
pub struct FlatData(pub Vec<Scalar>);

struct Flatten<'a>(&'a mut Vec<Scalar>);

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of numbers, booleans or strings (flat or nested)")
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.push(Scalar::Bool(v));
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.push(Scalar::Int(v));
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.push(Scalar::UInt(v));
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.push(Scalar::Float(v));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push(Scalar::Str(v.to_string()));
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if let Some(n) = seq.size_hint() {
            self.0.reserve(n);
        }
        while seq.next_element_seed(Flatten(self.0))?.is_some() {}
        Ok(())
    }
}

impl<'de> Deserialize<'de> for FlatData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Vec::new();
        d.deserialize_any(Flatten(&mut out))?;
        Ok(FlatData(out))
    }
}

/// A JSON value from the named-features form, as a scalar.
pub fn scalar_of(v: &Value) -> Option<Scalar> {
    match v {
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(Scalar::Int)
            .or_else(|| n.as_u64().map(Scalar::UInt))
            .or_else(|| n.as_f64().map(Scalar::Float)),
        Value::String(s) => Some(Scalar::Str(s.clone())),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn param_bool(params: &Option<Map<String, Value>>, key: &str) -> Option<bool> {
    params.as_ref()?.get(key)?.as_bool()
}

fn param_u64(params: &Option<Map<String, Value>>, key: &str) -> Option<u64> {
    params.as_ref()?.get(key)?.as_u64()
}

/// Splits a body into its JSON header and binary tail.
pub fn split_body(body: &Bytes, header_length: Option<usize>) -> Result<(Bytes, Bytes), String> {
    match header_length {
        None => Ok((body.clone(), Bytes::new())),
        Some(n) if n <= body.len() => Ok((body.slice(..n), body.slice(n..))),
        Some(n) => Err(format!(
            "Inference-Header-Content-Length is {n} but the body has only {} bytes",
            body.len()
        )),
    }
}

/// Decodes the request's input tensors, taking binary data from `binary` in
/// order for inputs that declare `binary_data_size`.
pub fn decode_inputs(
    inputs: Vec<InferInput>,
    mut binary: Bytes,
    max_elements: usize,
) -> Result<Vec<Tensor>, String> {
    let mut out = Vec::with_capacity(inputs.len());
    for input in inputs {
        let datatype: DataType = input
            .datatype
            .parse()
            .map_err(|e| format!("input '{}': {e}", input.name))?;
        let shape = shape_from_wire(&input.name, &input.shape).map_err(|e| e.to_string())?;
        let count = hangar_core::tensor::element_count(&shape)
            .filter(|&n| n <= max_elements)
            .ok_or_else(|| {
                format!(
                    "input '{}': shape {:?} exceeds the limit of {max_elements} elements",
                    input.name, input.shape
                )
            })?;
        let data = match (param_u64(&input.parameters, "binary_data_size"), input.data) {
            (Some(size), None) => {
                let size = size as usize;
                if size > binary.len() {
                    return Err(format!(
                        "input '{}': binary_data_size is {size} but only {} bytes of binary data remain",
                        input.name,
                        binary.len()
                    ));
                }
                let chunk = binary.split_to(size);
                decode_binary(&input.name, datatype, count, &chunk)?
            }
            (Some(_), Some(_)) => {
                return Err(format!(
                    "input '{}' has both \"data\" and binary_data_size",
                    input.name
                ));
            }
            (None, Some(FlatData(values))) => {
                if values.len() != count {
                    return Err(format!(
                        "input '{}': shape {:?} holds {count} elements but data has {}",
                        input.name,
                        input.shape,
                        values.len()
                    ));
                }
                TensorData::from_scalars(&input.name, datatype, values)
                    .map_err(|e| e.to_string())?
            }
            (None, None) => return Err(format!("input '{}' has no \"data\"", input.name)),
        };
        out.push(Tensor::new(input.name, shape, data).map_err(|e| e.to_string())?);
    }
    if !binary.is_empty() {
        return Err(format!(
            "{} bytes of binary data were not claimed by any input",
            binary.len()
        ));
    }
    Ok(out)
}

/// Which outputs to return, and whether each is sent as binary data.
#[derive(Debug, Default)]
pub struct OutputPlan {
    /// Empty: all outputs.
    pub names: Vec<String>,
    binary: Vec<bool>,
    binary_default: bool,
}

impl OutputPlan {
    pub fn from_request(
        parameters: &Option<Map<String, Value>>,
        outputs: Option<Vec<RequestedOutput>>,
    ) -> Self {
        let binary_default = param_bool(parameters, "binary_data_output").unwrap_or(false);
        let outputs = outputs.unwrap_or_default();
        OutputPlan {
            names: outputs.iter().map(|o| o.name.clone()).collect(),
            binary: outputs
                .iter()
                .map(|o| param_bool(&o.parameters, "binary_data").unwrap_or(binary_default))
                .collect(),
            binary_default,
        }
    }

    fn is_binary(&self, name: &str) -> bool {
        match self.names.iter().position(|n| n == name) {
            Some(i) => self.binary[i],
            None => self.binary_default,
        }
    }
}

struct DataRef<'a>(&'a TensorData);

impl Serialize for DataRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            TensorData::Bool(v) => s.collect_seq(v),
            TensorData::Uint8(v) => s.collect_seq(v),
            TensorData::Uint16(v) => s.collect_seq(v),
            TensorData::Uint32(v) => s.collect_seq(v),
            TensorData::Uint64(v) => s.collect_seq(v),
            TensorData::Int8(v) => s.collect_seq(v),
            TensorData::Int16(v) => s.collect_seq(v),
            TensorData::Int32(v) => s.collect_seq(v),
            TensorData::Int64(v) => s.collect_seq(v),
            TensorData::Fp32(v) => s.collect_seq(v),
            TensorData::Fp64(v) => s.collect_seq(v),
            TensorData::Bytes(v) => s.collect_seq(v.iter().map(|b| String::from_utf8_lossy(b))),
        }
    }
}

#[derive(Serialize)]
struct OutputTensor<'a> {
    name: &'a str,
    datatype: &'static str,
    shape: &'a [usize],
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<DataRef<'a>>,
}

#[derive(Serialize)]
struct InferResponse<'a> {
    model_name: &'a str,
    model_version: String,
    id: &'a str,
    outputs: Vec<OutputTensor<'a>>,
}

/// An encoded response body: JSON, or JSON header plus binary tail.
pub struct EncodedResponse {
    pub body: Bytes,
    /// Set when the body carries binary data after a JSON header.
    pub header_length: Option<usize>,
}

pub fn encode_response(
    model_name: &str,
    version: u32,
    id: &str,
    outputs: &[Tensor],
    plan: &OutputPlan,
) -> EncodedResponse {
    let mut binary = BytesMut::new();
    let mut tensors = Vec::with_capacity(outputs.len());
    for t in outputs {
        if plan.is_binary(&t.name) {
            let start = binary.len();
            encode_binary(&t.data, &mut binary);
            tensors.push(OutputTensor {
                name: &t.name,
                datatype: t.datatype().as_str(),
                shape: &t.shape,
                parameters: Some(serde_json::json!({ "binary_data_size": binary.len() - start })),
                data: None,
            });
        } else {
            tensors.push(OutputTensor {
                name: &t.name,
                datatype: t.datatype().as_str(),
                shape: &t.shape,
                parameters: None,
                data: Some(DataRef(&t.data)),
            });
        }
    }
    let header = serde_json::to_vec(&InferResponse {
        model_name,
        model_version: version.to_string(),
        id,
        outputs: tensors,
    })
    .unwrap_or_default();
    if binary.is_empty() {
        EncodedResponse {
            body: Bytes::from(header),
            header_length: None,
        }
    } else {
        let header_length = header.len();
        let mut body = BytesMut::with_capacity(header.len() + binary.len());
        body.put_slice(&header);
        body.put_slice(&binary);
        EncodedResponse {
            body: body.freeze(),
            header_length: Some(header_length),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Vec<Tensor>, String> {
        let req: InferRequest = serde_json::from_str(json).map_err(|e| e.to_string())?;
        decode_inputs(req.inputs.unwrap_or_default(), Bytes::new(), 1000)
    }

    #[test]
    fn flat_and_nested_data_decode_the_same() {
        let flat = parse(
            r#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2,3,4.5]}]}"#,
        )
        .unwrap();
        let nested = parse(
            r#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4.5]]}]}"#,
        )
        .unwrap();
        assert_eq!(flat, nested);
        assert_eq!(flat[0].data, TensorData::Fp32(vec![1.0, 2.0, 3.0, 4.5]));
    }

    #[test]
    fn bad_inputs_are_explained() {
        let check = |json: &str, want: &str| {
            let got = parse(json).unwrap_err();
            assert!(got.contains(want), "{got:?} should contain {want:?}");
        };
        check(
            r#"{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]}"#,
            "shape [3] holds 3 elements but data has 2",
        );
        check(
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FLOAT","data":[1]}]}"#,
            "unknown datatype",
        );
        check(
            r#"{"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]}"#,
            "negative dimension",
        );
        check(
            r#"{"inputs":[{"name":"x","shape":[1000000,1000000],"datatype":"FP32","data":[1]}]}"#,
            "exceeds the limit",
        );
        check(
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]}"#,
            "has no \"data\"",
        );
        check(
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[{"a":1}]}]}"#,
            "an array of numbers",
        );
        check(
            r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"bogus":1}"#,
            "unknown field",
        );
    }

    #[test]
    fn parameters_keep_their_scalars_and_skip_nested_values() {
        let req: InferRequest = serde_json::from_str(
            r#"{"parameters":{"routing_key":"k","binary_data_output":true,"headers":{"a":[1,2]},"n":null},
                "outputs":[{"name":"p","parameters":{"binary_data":false,"x":[{"y":1}]}}]}"#,
        )
        .unwrap();
        let p = req.parameters.unwrap();
        assert_eq!(p.get("routing_key"), Some(&Value::from("k")));
        assert_eq!(p.get("binary_data_output"), Some(&Value::Bool(true)));
        assert_eq!(p.get("n"), Some(&Value::Null));
        assert!(!p.contains_key("headers"));
        let out = &req.outputs.unwrap()[0];
        assert_eq!(param_bool(&out.parameters, "binary_data"), Some(false));
        assert!(!out.parameters.as_ref().unwrap().contains_key("x"));
        let err = serde_json::from_str::<InferRequest>(r#"{"parameters":[1]}"#).unwrap_err();
        assert!(err.to_string().contains("an object of parameters"), "{err}");
    }

    #[test]
    fn instances_are_read_as_rows_in_the_order_sent() {
        let req: InferRequest = serde_json::from_str(
            r#"{"instances":[{"b":2.5,"a":-1,"c":"x","d":true,"e":[1],"f":null,"a":3},{}]}"#,
        )
        .unwrap();
        let rows = req.instances.unwrap();
        assert_eq!(
            rows[0],
            vec![
                ("b".to_string(), Some(Scalar::Float(2.5))),
                ("a".to_string(), Some(Scalar::Int(-1))),
                ("c".to_string(), Some(Scalar::Str("x".into()))),
                ("d".to_string(), Some(Scalar::Bool(true))),
                ("e".to_string(), None),
                ("f".to_string(), None),
                ("a".to_string(), Some(Scalar::Int(3))),
            ]
        );
        assert!(rows[1].is_empty());
        let err = serde_json::from_str::<InferRequest>(r#"{"instances":[1]}"#).unwrap_err();
        assert!(
            err.to_string().contains("an object of feature values"),
            "{err}"
        );
    }

    #[test]
    fn binary_inputs_are_taken_in_order() {
        let req: InferRequest = serde_json::from_str(
            r#"{"inputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},
                          {"name":"b","shape":[1],"datatype":"INT64","parameters":{"binary_data_size":8}}]}"#,
        )
        .unwrap();
        let mut tail = Vec::new();
        tail.extend_from_slice(&1.5f32.to_le_bytes());
        tail.extend_from_slice(&(-2.0f32).to_le_bytes());
        tail.extend_from_slice(&7i64.to_le_bytes());
        let t = decode_inputs(req.inputs.unwrap(), Bytes::from(tail), 100).unwrap();
        assert_eq!(t[0].data, TensorData::Fp32(vec![1.5, -2.0]));
        assert_eq!(t[1].data, TensorData::Int64(vec![7]));
    }

    #[test]
    fn binary_outputs_follow_the_request() {
        let outputs = vec![
            Tensor::new("label", vec![1], TensorData::Int64(vec![1])).unwrap(),
            Tensor::new("p", vec![1, 2], TensorData::Fp32(vec![0.25, 0.75])).unwrap(),
        ];
        let req: InferRequest =
            serde_json::from_str(r#"{"inputs":[],"outputs":[{"name":"p","parameters":{"binary_data":true}},{"name":"label"}]}"#)
                .unwrap();
        let plan = OutputPlan::from_request(&req.parameters, req.outputs);
        let enc = encode_response("m", 3, "req-1", &outputs, &plan);
        let n = enc.header_length.unwrap();
        let header: Value = serde_json::from_slice(&enc.body[..n]).unwrap();
        assert_eq!(header["model_version"], "3");
        assert_eq!(header["outputs"][0]["data"], serde_json::json!([1]));
        assert_eq!(header["outputs"][1]["parameters"]["binary_data_size"], 8);
        assert_eq!(
            &enc.body[n..],
            [0.25f32.to_le_bytes(), 0.75f32.to_le_bytes()]
                .concat()
                .as_slice()
        );
    }
}
