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
//! The check walks the protobuf wire format itself, following only the
//! fields that lead to a tensor and skipping every other field (weights
//! included) without copying it. It allocates nothing, whatever the file
//! says: a decoder that builds the messages (prost did, until fuzzing showed
//! it) turns each two-byte empty node or attribute into a struct of a few
//! hundred bytes, so a file of empty messages held 250 times its size. The
//! nesting depth is bounded as prost bounds it (100 messages), so a hostile
//! file cannot overflow the stack either.

use crate::protowire::{key, length_delimited, skip, varint, RECURSION_LIMIT, VARINT};

/// ONNX `TensorProto.DataLocation.EXTERNAL`.
const EXTERNAL: i32 = 1;

/// The messages whose fields the walk follows; every other message is
/// `Opaque` (checked to be well formed, nothing read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Model,
    TrainingInfo,
    Function,
    Graph,
    Node,
    Attribute,
    SparseTensor,
    Tensor,
    Opaque,
}

impl Kind {
    /// The message a field of this message holds, for the fields that can
    /// lead to a tensor (numbers from onnx.proto).
    fn child(self, field: u32) -> Option<Kind> {
        Some(match (self, field) {
            // ModelProto: graph, training_info, functions.
            (Kind::Model, 7) => Kind::Graph,
            (Kind::Model, 20) => Kind::TrainingInfo,
            (Kind::Model, 25) => Kind::Function,
            // TrainingInfoProto: initialization, algorithm.
            (Kind::TrainingInfo, 1 | 2) => Kind::Graph,
            // FunctionProto: node.
            (Kind::Function, 7) => Kind::Node,
            // GraphProto: node, initializer, sparse_initializer.
            (Kind::Graph, 1) => Kind::Node,
            (Kind::Graph, 5) => Kind::Tensor,
            (Kind::Graph, 15) => Kind::SparseTensor,
            // NodeProto: attribute.
            (Kind::Node, 5) => Kind::Attribute,
            // AttributeProto: t, g, tensors, graphs, sparse_tensor, sparse_tensors.
            (Kind::Attribute, 5 | 10) => Kind::Tensor,
            (Kind::Attribute, 6 | 11) => Kind::Graph,
            (Kind::Attribute, 22 | 23) => Kind::SparseTensor,
            // SparseTensorProto: values, indices.
            (Kind::SparseTensor, 1 | 2) => Kind::Tensor,
            // TensorProto: external_data (key/value entries, not read).
            (Kind::Tensor, 13) => Kind::Opaque,
            _ => return None,
        })
    }
}

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
    let mut walk = Walk::default();
    walk.message(bytes, Kind::Model, 0)
        .map_err(|e| GuardError::Malformed(e.to_string()))?;
    if !walk.has_graph {
        return Err(GuardError::NoGraph);
    }
    match walk.external {
        Some(name) => Err(GuardError::ExternalData {
            tensor: String::from_utf8_lossy(name)
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect(),
        }),
        None => Ok(()),
    }
}

/// What the walk found: whether the model has a graph, and the name of the
/// first tensor (in file order) that keeps its data elsewhere.
#[derive(Default)]
struct Walk<'a> {
    has_graph: bool,
    external: Option<&'a [u8]>,
}

impl<'a> Walk<'a> {
    /// Walks one message of `kind`, the whole of `buf`.
    fn message(&mut self, mut buf: &'a [u8], kind: Kind, depth: u32) -> Result<(), &'static str> {
        if depth > RECURSION_LIMIT {
            return Err("recursion limit reached");
        }
        // A tensor's fields: the last `name` and `data_location` win, as
        // when protobuf merges a message's fields.
        let mut name: &[u8] = &[];
        let mut external = false;
        let mut location = 0;
        while !buf.is_empty() {
            let (field, wire) = key(&mut buf)?;
            match (kind, field, kind.child(field)) {
                (_, _, Some(child)) => {
                    let inner = length_delimited(&mut buf, wire)?;
                    if kind == Kind::Model && field == 7 {
                        self.has_graph = true;
                    }
                    if child == Kind::Opaque {
                        external = true;
                    }
                    self.message(inner, child, depth + 1)?;
                }
                (Kind::Tensor, 8, None) => name = length_delimited(&mut buf, wire)?,
                (Kind::Tensor, 14, None) => {
                    if wire != VARINT {
                        return Err("invalid wire type for data_location");
                    }
                    // An int32 field keeps the low 32 bits of its varint.
                    location = varint(&mut buf)? as i32;
                }
                _ => skip(&mut buf, field, wire, depth)?,
            }
        }
        if kind == Kind::Tensor && (external || location == EXTERNAL) && self.external.is_none() {
            self.external = Some(name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

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
