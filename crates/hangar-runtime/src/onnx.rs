//! ONNX models run by ONNX Runtime, loaded dynamically from
//! `libonnxruntime.so` (never downloaded at build time).

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use hangar_core::{DataType, Signature, Tensor, TensorData, TensorSpec};
use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{DynValue, TensorElementType, TensorRef, ValueType};

use crate::guard::check_self_contained;
use crate::pool::worker_index;
use crate::{LoadedModel, Runtime, RuntimeError};

/// ONNX Runtime allows one environment per process; every server in the
/// process (tests start several) shares it.
static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

pub struct OnnxRuntime {
    environment: Environment,
    /// Execution instances per loaded model: one per inference worker, so
    /// workers never wait on each other for the same model.
    instances: usize,
}

impl OnnxRuntime {
    /// Loads the library at `dylib` (once per process) and prepares the
    /// runtime. `instances` is normally the inference pool's thread count.
    pub fn init(dylib: &Path, instances: usize) -> Result<Self, RuntimeError> {
        let result = ENVIRONMENT.get_or_init(|| {
            let builder = ort::init_from(dylib).map_err(|e| e.to_string())?;
            builder
                .with_name("hangar")
                .build()
                .map_err(|e| e.to_string())
        });
        match result {
            Ok(environment) => Ok(OnnxRuntime {
                environment: environment.clone(),
                instances: instances.max(1),
            }),
            Err(reason) => Err(RuntimeError::Library {
                path: dylib.display().to_string(),
                reason: reason.clone(),
            }),
        }
    }

    /// A session for `bytes`, which must be one self-contained ONNX model
    /// ([`check_self_contained`]): checked on every load, before ONNX
    /// Runtime parses the file.
    fn session(&self, bytes: &[u8]) -> Result<Session, RuntimeError> {
        check_self_contained(bytes)?;
        let unsupported = |e: ort::Error| RuntimeError::Unsupported(e.to_string());
        Session::builder(&self.environment)
            .map_err(unsupported)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| RuntimeError::Unsupported(e.to_string()))?
            .with_intra_threads(1)
            .map_err(|e| RuntimeError::Unsupported(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| RuntimeError::Unsupported(e.to_string()))?
            .commit_from_memory(bytes)
            .map_err(unsupported)
    }
}

impl std::fmt::Debug for OnnxRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxRuntime")
            .field("instances", &self.instances)
            .finish()
    }
}

impl Runtime for OnnxRuntime {
    fn load(&self, bytes: &[u8]) -> Result<Arc<dyn LoadedModel>, RuntimeError> {
        let first = self.session(bytes)?;
        let signature = signature_of(&first)?;
        let mut sessions = vec![Mutex::new(first)];
        for _ in 1..self.instances {
            sessions.push(Mutex::new(self.session(bytes)?));
        }
        let declared_feature_names = first_feature_names(&sessions[0]);
        let model = OnnxModel {
            declared_feature_names,
            sessions,
            signature,
            memory_bytes: bytes.len() as u64 * self.instances as u64,
        };
        model.warm_up()?;
        Ok(Arc::new(model))
    }

    fn name(&self) -> &'static str {
        "onnxruntime"
    }

    fn estimate_memory(&self, artifact_bytes: u64) -> u64 {
        artifact_bytes * self.instances as u64
    }
}

struct OnnxModel {
    declared_feature_names: Option<Vec<String>>,
    sessions: Vec<Mutex<Session>>,
    signature: Signature,
    memory_bytes: u64,
}

fn datatype_of(ty: TensorElementType) -> Option<DataType> {
    Some(match ty {
        TensorElementType::Float32 => DataType::Fp32,
        TensorElementType::Float64 => DataType::Fp64,
        TensorElementType::Int8 => DataType::Int8,
        TensorElementType::Int16 => DataType::Int16,
        TensorElementType::Int32 => DataType::Int32,
        TensorElementType::Int64 => DataType::Int64,
        TensorElementType::Uint8 => DataType::Uint8,
        TensorElementType::Uint16 => DataType::Uint16,
        TensorElementType::Uint32 => DataType::Uint32,
        TensorElementType::Uint64 => DataType::Uint64,
        TensorElementType::Bool => DataType::Bool,
        TensorElementType::String => DataType::Bytes,
        _ => return None,
    })
}

fn spec_of(name: &str, ty: &ValueType, is_input: bool) -> Result<TensorSpec, RuntimeError> {
    let side = if is_input { "input" } else { "output" };
    match ty {
        ValueType::Tensor { ty, shape, .. } => {
            let datatype = datatype_of(*ty).ok_or_else(|| {
                RuntimeError::Unsupported(format!("{side} '{name}' has element type {ty}, which Hangar does not serve"))
            })?;
            Ok(TensorSpec {
                name: name.to_string(),
                datatype,
                shape: shape.iter().map(|&d| if d < 0 { -1 } else { d }).collect(),
            })
        }
        // scikit-learn's ZipMap: a sequence of {class: probability} maps,
        // served as an FP32 [rows, classes] tensor in class order.
        ValueType::Sequence(inner) if !is_input && matches!(**inner, ValueType::Map { .. }) => Ok(TensorSpec {
            name: name.to_string(),
            datatype: DataType::Fp32,
            shape: vec![-1, -1],
        }),
        other => Err(RuntimeError::Unsupported(format!(
            "{side} '{name}' is of type {other}; Hangar serves tensor inputs and outputs (and ZipMap outputs)"
        ))),
    }
}

fn first_feature_names(session: &Mutex<Session>) -> Option<Vec<String>> {
    let session = session.lock().unwrap_or_else(|p| p.into_inner());
    let raw = session.metadata().ok()?.custom("feature_names")?;
    parse_feature_names(&raw)
}

/// `["a","b"]` or `a,b`.
fn parse_feature_names(raw: &str) -> Option<Vec<String>> {
    let raw = raw.trim();
    let names: Vec<String> =
        if let Some(inner) = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            inner
                .split(',')
                .map(|s| s.trim().trim_matches('"').to_string())
                .collect()
        } else {
            raw.split(',').map(|s| s.trim().to_string()).collect()
        };
    (!names.is_empty() && names.iter().all(|n| !n.is_empty())).then_some(names)
}

fn signature_of(session: &Session) -> Result<Signature, RuntimeError> {
    Ok(Signature {
        inputs: session
            .inputs()
            .iter()
            .map(|o| spec_of(o.name(), o.dtype(), true))
            .collect::<Result<_, _>>()?,
        outputs: session
            .outputs()
            .iter()
            .map(|o| spec_of(o.name(), o.dtype(), false))
            .collect::<Result<_, _>>()?,
    })
}

fn tensor_ref(t: &Tensor) -> Result<ort::session::SessionInputValue<'_>, ort::Error> {
    let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
    Ok(match &t.data {
        TensorData::Bool(v) => TensorRef::from_array_view((shape, v.as_slice()))?.into(),
        TensorData::Uint8(v) => TensorRef::from_array_view((shape, v.as_slice()))?.into(),
        TensorData::Uint16(v) => TensorRef::from_array_view((shape, v.as_slice()))?.into(),
        TensorData::Uint32(v) => TensorRef::from_array_view((shape, v.as_slice()))?.into(),
        TensorData::Uint64(v) => TensorRef::from_array_view((shape, v.as_slice()))?.into(),
        TensorData::Int8(v) => TensorRef::from_array_view((shape, v.as_slice()))?.into(),
        TensorData::Int16(v) => TensorRef::from_array_view((shape, v.as_slice()))?.into(),
        TensorData::Int32(v) => TensorRef::from_array_view((shape, v.as_slice()))?.into(),
        TensorData::Int64(v) => TensorRef::from_array_view((shape, v.as_slice()))?.into(),
        TensorData::Fp32(v) => TensorRef::from_array_view((shape, v.as_slice()))?.into(),
        TensorData::Fp64(v) => TensorRef::from_array_view((shape, v.as_slice()))?.into(),
        TensorData::Bytes(v) => {
            let strings: Vec<String> = v
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect();
            ort::value::Tensor::from_string_array((shape, strings.as_slice()))?.into()
        }
    })
}

fn extract(name: &str, value: &DynValue) -> Result<Tensor, ort::Error> {
    fn dims(shape: &[i64]) -> Vec<usize> {
        shape.iter().map(|&d| d.max(0) as usize).collect()
    }
    macro_rules! copy {
        ($t:ty, $variant:ident) => {{
            let (shape, data) = value.try_extract_tensor::<$t>()?;
            (dims(shape), TensorData::$variant(data.to_vec()))
        }};
    }
    let (shape, data) = match value.dtype() {
        ValueType::Tensor { ty, .. } => match ty {
            TensorElementType::Float32 => copy!(f32, Fp32),
            TensorElementType::Float64 => copy!(f64, Fp64),
            TensorElementType::Int8 => copy!(i8, Int8),
            TensorElementType::Int16 => copy!(i16, Int16),
            TensorElementType::Int32 => copy!(i32, Int32),
            TensorElementType::Int64 => copy!(i64, Int64),
            TensorElementType::Uint8 => copy!(u8, Uint8),
            TensorElementType::Uint16 => copy!(u16, Uint16),
            TensorElementType::Uint32 => copy!(u32, Uint32),
            TensorElementType::Uint64 => copy!(u64, Uint64),
            TensorElementType::Bool => copy!(bool, Bool),
            TensorElementType::String => {
                let (shape, strings) = value.try_extract_strings()?;
                (
                    dims(shape),
                    TensorData::Bytes(strings.into_iter().map(String::into_bytes).collect()),
                )
            }
            other => {
                return Err(ort::Error::new(format!(
                    "output '{name}' has unsupported element type {other}"
                )))
            }
        },
        ValueType::Sequence(_) => zipmap(name, value)?,
        other => {
            return Err(ort::Error::new(format!(
                "output '{name}' has unsupported type {other}"
            )))
        }
    };
    Tensor::new(name, shape, data).map_err(|e| ort::Error::new(e.to_string()))
}

/// Flattens a ZipMap output (one `{class: probability}` map per row) into
/// FP32 `[rows, classes]` with classes in ascending order.
fn zipmap(name: &str, value: &DynValue) -> Result<(Vec<usize>, TensorData), ort::Error> {
    let maps = value.try_extract_sequence::<ort::value::DynMapValueType>()?;
    let mut rows: Vec<Vec<f32>> = Vec::with_capacity(maps.len());
    for m in &maps {
        let row: Vec<f32> = match m.try_extract_map::<i64, f32>() {
            Ok(map) => {
                let mut kv: Vec<_> = map.into_iter().collect();
                kv.sort_by_key(|(k, _)| *k);
                kv.into_iter().map(|(_, v)| v).collect()
            }
            Err(_) => {
                let mut kv: Vec<_> = m.try_extract_map::<String, f32>()?.into_iter().collect();
                kv.sort_by(|a, b| a.0.cmp(&b.0));
                kv.into_iter().map(|(_, v)| v).collect()
            }
        };
        rows.push(row);
    }
    let width = rows.first().map_or(0, Vec::len);
    if rows.iter().any(|r| r.len() != width) {
        return Err(ort::Error::new(format!(
            "output '{name}': rows have different numbers of classes"
        )));
    }
    Ok((vec![rows.len(), width], TensorData::Fp32(rows.concat())))
}

impl OnnxModel {
    /// One run on a batch of one row of zeros (empty strings for BYTES): loads
    /// kernels and catches models that load but cannot run.
    fn warm_up(&self) -> Result<(), RuntimeError> {
        let inputs = self
            .signature
            .inputs
            .iter()
            .map(|spec| {
                let shape: Vec<usize> = spec
                    .shape
                    .iter()
                    .map(|&d| if d < 0 { 1 } else { d as usize })
                    .collect();
                let n: usize = shape.iter().product();
                let data = match spec.datatype {
                    DataType::Bool => TensorData::Bool(vec![false; n]),
                    DataType::Uint8 => TensorData::Uint8(vec![0; n]),
                    DataType::Uint16 => TensorData::Uint16(vec![0; n]),
                    DataType::Uint32 => TensorData::Uint32(vec![0; n]),
                    DataType::Uint64 => TensorData::Uint64(vec![0; n]),
                    DataType::Int8 => TensorData::Int8(vec![0; n]),
                    DataType::Int16 => TensorData::Int16(vec![0; n]),
                    DataType::Int32 => TensorData::Int32(vec![0; n]),
                    DataType::Int64 => TensorData::Int64(vec![0; n]),
                    DataType::Fp32 => TensorData::Fp32(vec![0.0; n]),
                    DataType::Fp64 => TensorData::Fp64(vec![0.0; n]),
                    DataType::Bytes => TensorData::Bytes(vec![Vec::new(); n]),
                };
                Tensor::new(spec.name.clone(), shape, data)
                    .map_err(|e| RuntimeError::WarmUp(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for session in &self.sessions {
            let mut session = session.lock().unwrap_or_else(|p| p.into_inner());
            run(&mut session, &inputs, &[]).map_err(|e| RuntimeError::WarmUp(e.to_string()))?;
        }
        Ok(())
    }
}

fn run(
    session: &mut Session,
    inputs: &[Tensor],
    outputs: &[String],
) -> Result<Vec<Tensor>, ort::Error> {
    let values = inputs
        .iter()
        .map(|t| Ok((t.name.as_str(), tensor_ref(t)?)))
        .collect::<Result<Vec<_>, ort::Error>>()?;
    let result = session.run(values)?;
    let mut out = Vec::new();
    for (name, value) in result.iter() {
        if outputs.is_empty() || outputs.iter().any(|o| o == name) {
            out.push(extract(name, &value)?);
        }
    }
    Ok(out)
}

impl LoadedModel for OnnxModel {
    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn infer(&self, inputs: &[Tensor], outputs: &[String]) -> Result<Vec<Tensor>, RuntimeError> {
        let n = self.sessions.len();
        let slot = match worker_index() {
            Some(i) => &self.sessions[i % n],
            None => &self.sessions[0],
        };
        let mut session = slot.lock().unwrap_or_else(|p| p.into_inner());
        run(&mut session, inputs, outputs).map_err(|e| RuntimeError::Inference(e.to_string()))
    }

    fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    fn declared_feature_names(&self) -> Option<Vec<String>> {
        self.declared_feature_names.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::parse_feature_names;

    #[test]
    fn feature_names_metadata_accepts_json_or_csv() {
        assert_eq!(
            parse_feature_names(r#"["a", "b"]"#),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            parse_feature_names("a, b"),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(parse_feature_names(""), None);
        assert_eq!(parse_feature_names("a,,b"), None);
    }
}
