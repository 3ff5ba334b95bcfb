//! What a model file may ask of the machine that loads it: nothing.
//!
//! ONNX lets a tensor keep its bytes in another file (`data_location:
//! EXTERNAL` with a `location` entry). ONNX Runtime resolves that name
//! against the directory of the model file, and for a model loaded from
//! memory (as Hangar loads every artifact) against the process's working
//! directory: a pushed model could read any file the server can read and
//! hand its bytes back as an output. Hangar therefore accepts only
//! self-contained models. [`check_self_contained`] walks every tensor the
//! file holds (graph initializers, sparse initializers, constants in node
//! attributes, nested graphs of `If`/`Loop`/`Scan`, functions and training
//! graphs) before ONNX Runtime sees the bytes, on every load.
//!
//! Only the fields that can reference a file are declared here; prost skips
//! every other field (weights included) without copying it, and its
//! recursion limit bounds how deeply a hostile file can nest graphs.

use prost::Message;

/// ONNX `TensorProto.DataLocation.EXTERNAL`.
const EXTERNAL: i32 = 1;

#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "20")]
    training_info: Vec<TrainingInfoProto>,
    #[prost(message, repeated, tag = "25")]
    functions: Vec<FunctionProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TrainingInfoProto {
    #[prost(message, optional, tag = "1")]
    initialization: Option<GraphProto>,
    #[prost(message, optional, tag = "2")]
    algorithm: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
struct FunctionProto {
    #[prost(message, repeated, tag = "7")]
    node: Vec<NodeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "15")]
    sparse_initializer: Vec<SparseTensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct AttributeProto {
    #[prost(message, optional, tag = "5")]
    t: Option<TensorProto>,
    #[prost(message, optional, boxed, tag = "6")]
    g: Option<Box<GraphProto>>,
    #[prost(message, repeated, tag = "10")]
    tensors: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    graphs: Vec<GraphProto>,
    #[prost(message, optional, tag = "22")]
    sparse_tensor: Option<SparseTensorProto>,
    #[prost(message, repeated, tag = "23")]
    sparse_tensors: Vec<SparseTensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct SparseTensorProto {
    #[prost(message, optional, tag = "1")]
    values: Option<TensorProto>,
    #[prost(message, optional, tag = "2")]
    indices: Option<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    /// `name`, read as bytes: only shown in the refusal, never trusted.
    #[prost(bytes = "vec", tag = "8")]
    name: Vec<u8>,
    /// `external_data`: key/value entries (`location`, `offset`, …); their
    /// presence alone refuses the model, so their content is not read.
    #[prost(message, repeated, tag = "13")]
    external_data: Vec<Empty>,
    #[prost(int32, tag = "14")]
    data_location: i32,
}

#[derive(Clone, PartialEq, Message)]
struct Empty {}

/// Why a model file was refused before ONNX Runtime saw it. The messages
/// never repeat a location the file names, and say the same whether or not
/// such a file exists on the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("this is an ONNX Runtime (.ort) file; Hangar serves ONNX model files (.onnx)")]
    OrtFormat,
    #[error("not a valid ONNX model file: {0}")]
    Malformed(String),
    #[error("not a valid ONNX model file: it has no graph")]
    NoGraph,
    #[error(
        "the model keeps tensor '{tensor}' in a separate file (ONNX external data); Hangar serves \
         self-contained models only and never reads other files for a model. Save it as one file \
         (onnx.save_model(model, path, save_as_external_data=False); models over 2 GB cannot be served)"
    )]
    ExternalData { tensor: String },
}

/// Refuses a model file that is not one self-contained ONNX model.
pub fn check_self_contained(bytes: &[u8]) -> Result<(), GuardError> {
    // ONNX Runtime's own flatbuffer format is recognised by its identifier
    // at offset 4; it is not what Hangar serves and is not inspected here.
    if bytes.get(4..8) == Some(b"ORTM".as_slice()) {
        return Err(GuardError::OrtFormat);
    }
    let model = ModelProto::decode(bytes).map_err(|e| GuardError::Malformed(e.to_string()))?;
    let graph = model.graph.as_ref().ok_or(GuardError::NoGraph)?;
    check_graph(graph)?;
    for info in &model.training_info {
        for g in [&info.initialization, &info.algorithm]
            .into_iter()
            .flatten()
        {
            check_graph(g)?;
        }
    }
    for function in &model.functions {
        check_nodes(&function.node)?;
    }
    Ok(())
}

fn check_graph(graph: &GraphProto) -> Result<(), GuardError> {
    graph.initializer.iter().try_for_each(check_tensor)?;
    graph.sparse_initializer.iter().try_for_each(check_sparse)?;
    check_nodes(&graph.node)
}

fn check_nodes(nodes: &[NodeProto]) -> Result<(), GuardError> {
    for attribute in nodes.iter().flat_map(|n| &n.attribute) {
        attribute.t.iter().try_for_each(check_tensor)?;
        attribute.tensors.iter().try_for_each(check_tensor)?;
        attribute.sparse_tensor.iter().try_for_each(check_sparse)?;
        attribute.sparse_tensors.iter().try_for_each(check_sparse)?;
        if let Some(g) = &attribute.g {
            check_graph(g)?;
        }
        attribute.graphs.iter().try_for_each(check_graph)?;
    }
    Ok(())
}

fn check_sparse(sparse: &SparseTensorProto) -> Result<(), GuardError> {
    [&sparse.values, &sparse.indices]
        .into_iter()
        .flatten()
        .try_for_each(check_tensor)
}

fn check_tensor(tensor: &TensorProto) -> Result<(), GuardError> {
    if tensor.data_location == EXTERNAL || !tensor.external_data.is_empty() {
        let name: String = String::from_utf8_lossy(&tensor.name)
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        return Err(GuardError::ExternalData { tensor: name });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key/value entry as ONNX writes it (`StringStringEntryProto`).
    #[derive(Clone, PartialEq, Message)]
    struct Entry {
        #[prost(string, tag = "1")]
        key: String,
        #[prost(string, tag = "2")]
        value: String,
    }

    /// A tensor with the fields a real writer sets, for building files.
    #[derive(Clone, PartialEq, Message)]
    struct FullTensor {
        #[prost(int64, repeated, tag = "1")]
        dims: Vec<i64>,
        #[prost(int32, tag = "2")]
        data_type: i32,
        #[prost(string, tag = "8")]
        name: String,
        #[prost(bytes = "vec", tag = "9")]
        raw_data: Vec<u8>,
        #[prost(message, repeated, tag = "13")]
        external_data: Vec<Entry>,
        #[prost(int32, tag = "14")]
        data_location: i32,
    }

    fn tensor(name: &str, external: bool) -> FullTensor {
        FullTensor {
            dims: vec![4],
            data_type: 2,
            name: name.into(),
            raw_data: if external { vec![] } else { vec![1, 2, 3, 4] },
            external_data: if external {
                vec![Entry {
                    key: "location".into(),
                    value: "hangar.db".into(),
                }]
            } else {
                vec![]
            },
            data_location: i32::from(external),
        }
    }

    /// Encodes `field` as a length-delimited submessage with `tag`.
    fn wrap(tag: u32, inner: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, &mut out);
        prost::encoding::encode_varint(inner.len() as u64, &mut out);
        out.extend_from_slice(inner);
        out
    }

    fn model_with_graph(graph: &[u8]) -> Vec<u8> {
        // ir_version 8, then the graph.
        let mut out = vec![0x08, 0x08];
        out.extend(wrap(7, graph));
        out
    }

    #[test]
    fn a_self_contained_model_passes() {
        let graph = wrap(5, &tensor("w", false).encode_to_vec());
        assert_eq!(check_self_contained(&model_with_graph(&graph)), Ok(()));
    }

    #[test]
    fn an_external_initializer_is_refused_without_naming_its_location() {
        let graph = wrap(5, &tensor("weights", true).encode_to_vec());
        let err = check_self_contained(&model_with_graph(&graph)).unwrap_err();
        assert_eq!(
            err,
            GuardError::ExternalData {
                tensor: "weights".into()
            }
        );
        let message = err.to_string();
        assert!(message.contains("weights"), "{message}");
        assert!(!message.contains("hangar.db"), "{message}");
    }

    #[test]
    fn location_entries_alone_are_refused() {
        let mut t = tensor("w", true);
        t.data_location = 0;
        let graph = wrap(5, &t.encode_to_vec());
        assert!(check_self_contained(&model_with_graph(&graph)).is_err());
        let mut t = tensor("w", false);
        t.data_location = EXTERNAL;
        let graph = wrap(5, &t.encode_to_vec());
        assert!(check_self_contained(&model_with_graph(&graph)).is_err());
    }

    #[test]
    fn external_tensors_are_found_in_attributes_subgraphs_sparse_and_functions() {
        let bad = tensor("c", true).encode_to_vec();
        // Constant's `value` attribute.
        let node = wrap(5, &wrap(5, &bad));
        let graph = wrap(1, &node);
        assert!(check_self_contained(&model_with_graph(&graph)).is_err());
        // An If's then_branch holding the external initializer.
        let sub = wrap(5, &bad);
        let node = wrap(5, &wrap(6, &sub));
        assert!(check_self_contained(&model_with_graph(&wrap(1, &node))).is_err());
        // Two levels down, in a Loop body inside an If.
        let inner_node = wrap(5, &wrap(6, &sub));
        let outer_node = wrap(5, &wrap(6, &wrap(1, &inner_node)));
        assert!(check_self_contained(&model_with_graph(&wrap(1, &outer_node))).is_err());
        // A sparse initializer's values.
        let graph = wrap(15, &wrap(1, &bad));
        assert!(check_self_contained(&model_with_graph(&graph)).is_err());
        // A tensors attribute.
        let node = wrap(5, &wrap(10, &bad));
        assert!(check_self_contained(&model_with_graph(&wrap(1, &node))).is_err());
        // A local function's Constant node.
        let mut model = model_with_graph(&[]);
        model.extend(wrap(25, &wrap(7, &wrap(5, &wrap(5, &bad)))));
        assert!(check_self_contained(&model).is_err());
        // A training graph's initializer.
        let mut model = model_with_graph(&[]);
        model.extend(wrap(20, &wrap(1, &wrap(5, &bad))));
        assert!(check_self_contained(&model).is_err());
    }

    #[test]
    fn garbage_deep_nesting_and_ort_files_are_refused() {
        assert!(matches!(
            check_self_contained(b"\xff\xff\xff\xff\xff"),
            Err(GuardError::Malformed(_))
        ));
        assert_eq!(
            check_self_contained(&[0x08, 0x08]),
            Err(GuardError::NoGraph)
        );
        assert_eq!(
            check_self_contained(b"\x10\x00\x00\x00ORTM\x00\x00"),
            Err(GuardError::OrtFormat)
        );
        // 2,000 graphs nested through If attributes: refused by the decoder's
        // recursion limit, not by a stack overflow.
        let mut graph = Vec::new();
        for _ in 0..2000 {
            graph = wrap(1, &wrap(5, &wrap(6, &graph)));
        }
        assert!(matches!(
            check_self_contained(&model_with_graph(&graph)),
            Err(GuardError::Malformed(_))
        ));
    }
}
