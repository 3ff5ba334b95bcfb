//! Target `onnx_classes`: `hangar_runtime::declared_classes`, the class
//! labels a classifier declares in its ONNX file (read for feedback's label
//! checks from every version's artifact).
//!
//! Structure-aware inputs are ONNX graphs of nodes (classifier operators or
//! others) with attributes (class attributes with int64 values, packed or
//! not, or strings; other attributes), then damaged. On every input the
//! answer must be the one a full protobuf decode of the same fields gives
//! (`reference`, the reader as it was before fuzzing), and reading holds no
//! more than its cap (only the classes found are allocated).

use hangar_runtime::declared_classes;
use proptest::prelude::*;
use prost::Message;

use crate::harness::{fuzz, measure, mutate, mutations, random_bytes, within_cap, Cap};

/// The classes found: at most 24 bytes per byte (a one-byte varint becomes
/// an i64, an empty string 24 bytes), twice that while a vector grows, plus
/// 1 KiB.
const CAP: Cap = Cap {
    per_byte: 48,
    fixed: 1024,
};

/// The reader as it was: prost decodes the nodes and attributes.
mod reference {
    use hangar_core::feedback::DeclaredClasses;
    use prost::Message;

    #[derive(Clone, PartialEq, Message)]
    pub struct ModelProto {
        #[prost(message, optional, tag = "7")]
        pub graph: Option<GraphProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<NodeProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct NodeProto {
        #[prost(bytes = "vec", tag = "4")]
        pub op_type: Vec<u8>,
        #[prost(message, repeated, tag = "5")]
        pub attribute: Vec<AttributeProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct AttributeProto {
        #[prost(bytes = "vec", tag = "1")]
        pub name: Vec<u8>,
        #[prost(int64, repeated, tag = "8")]
        pub ints: Vec<i64>,
        #[prost(bytes = "vec", repeated, tag = "9")]
        pub strings: Vec<Vec<u8>>,
    }

    const CLASSIFIERS: [&[u8]; 4] = [
        b"TreeEnsembleClassifier",
        b"LinearClassifier",
        b"SVMClassifier",
        b"ZipMap",
    ];

    pub fn declared_classes(bytes: &[u8]) -> Option<DeclaredClasses> {
        let model = ModelProto::decode(bytes).ok()?;
        model
            .graph?
            .node
            .iter()
            .filter(|n| CLASSIFIERS.contains(&n.op_type.as_slice()))
            .flat_map(|n| &n.attribute)
            .find_map(|a| match a.name.as_slice() {
                b"classlabels_int64s" | b"classlabels_ints" if !a.ints.is_empty() => {
                    Some(DeclaredClasses::Ints(a.ints.clone()))
                }
                b"classlabels_strings" if !a.strings.is_empty() => Some(DeclaredClasses::Strings(
                    a.strings
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect(),
                )),
                _ => None,
            })
    }
}

use reference::{AttributeProto, ModelProto, NodeProto};

fn attribute() -> impl Strategy<Value = (AttributeProto, bool)> {
    (
        prop::sample::select(vec![
            "classlabels_int64s",
            "classlabels_ints",
            "classlabels_strings",
            "nodes_values",
            "",
        ]),
        prop::collection::vec(any::<i64>(), 0..4),
        prop::collection::vec("[a-z\u{e9}]{0,3}".prop_map(String::into_bytes), 0..4),
        any::<bool>(),
    )
        .prop_map(|(name, ints, strings, packed)| {
            (
                AttributeProto {
                    name: name.as_bytes().to_vec(),
                    ints,
                    strings,
                },
                packed,
            )
        })
}

/// A model's bytes; int64 values packed or one field each, as a writer may.
fn model() -> impl Strategy<Value = Vec<u8>> {
    let node = (
        prop::sample::select(vec![
            "TreeEnsembleClassifier",
            "ZipMap",
            "LinearClassifier",
            "Add",
            "Cast",
        ]),
        prop::collection::vec(attribute(), 0..4),
    );
    (prop::collection::vec(node, 0..5), any::<bool>()).prop_map(|(nodes, split_graph)| {
        let mut graph = Vec::new();
        for (op, attributes) in nodes {
            let mut body = Vec::new();
            for (a, packed) in attributes {
                let encoded = if packed {
                    a.encode_to_vec()
                } else {
                    let mut e = AttributeProto {
                        ints: Vec::new(),
                        ..a.clone()
                    }
                    .encode_to_vec();
                    for v in &a.ints {
                        prost::encoding::int64::encode(8, v, &mut e);
                    }
                    e
                };
                prost::encoding::encode_key(
                    5,
                    prost::encoding::WireType::LengthDelimited,
                    &mut body,
                );
                prost::encoding::encode_varint(encoded.len() as u64, &mut body);
                body.extend(encoded);
            }
            NodeProto {
                op_type: op.as_bytes().to_vec(),
                attribute: Vec::new(),
            }
            .encode_raw(&mut body);
            prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut graph);
            prost::encoding::encode_varint(body.len() as u64, &mut graph);
            graph.extend(body);
        }
        let mut model = Vec::new();
        // A graph field given twice merges: its nodes are read in order.
        let parts: Vec<&[u8]> = if split_graph && !graph.is_empty() {
            let half = graph.len() / 2;
            vec![&graph[..half], &graph[half..]]
        } else {
            vec![&graph]
        };
        for part in parts {
            prost::encoding::encode_key(7, prost::encoding::WireType::LengthDelimited, &mut model);
            prost::encoding::encode_varint(part.len() as u64, &mut model);
            model.extend_from_slice(part);
        }
        model
    })
}

/// A graph of many copies of the smallest node or attribute.
fn flood() -> impl Strategy<Value = Vec<u8>> {
    (0usize..2, 1usize..5000).prop_map(|(kind, n)| {
        let one: &[u8] = if kind == 0 {
            &[0x0a, 0x00]
        } else {
            &[0x0a, 0x02, 0x2a, 0x00]
        };
        let graph = one.repeat(n);
        let mut model = Vec::new();
        prost::encoding::encode_key(7, prost::encoding::WireType::LengthDelimited, &mut model);
        prost::encoding::encode_varint(graph.len() as u64, &mut model);
        model.extend(graph);
        model
    })
}

fn check(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let (classes, peak) = measure(|| declared_classes(&bytes));
    let want = reference::declared_classes(&bytes);
    prop_assert_eq!(&classes, &want);
    drop(classes);
    within_cap("onnx_classes", peak, bytes.len(), CAP)
}

#[test]
fn fuzz_onnx_classes() {
    let damaged = (model(), mutations(4)).prop_map(|(m, damage)| mutate(m, &damage));
    fuzz(
        "onnx_classes",
        3000,
        prop_oneof![2 => random_bytes(1024), 1 => flood(), 6 => damaged],
        check,
    );
}

/// Regression: decoding the nodes into structs held 88 bytes per byte of a
/// graph of empty attributes (35 MB for 400 KB); reading in place holds
/// nothing.
#[test]
fn a_graph_of_empty_nodes_and_attributes_costs_no_memory() {
    for one in [[0x0a, 0x00].as_slice(), &[0x0a, 0x02, 0x2a, 0x00]] {
        let graph = one.repeat(100_000);
        let mut model = Vec::new();
        prost::encoding::encode_key(7, prost::encoding::WireType::LengthDelimited, &mut model);
        prost::encoding::encode_varint(graph.len() as u64, &mut model);
        model.extend(graph);
        let (classes, peak) = measure(|| declared_classes(&model));
        assert_eq!(classes, None);
        assert!(peak <= CAP.fixed, "held {peak} bytes");
        let (_, reference_peak) =
            measure(|| ModelProto::decode(model.as_slice()).map(|m| m.graph.is_some()));
        eprintln!(
            "{} bytes: the walk held {peak} bytes, prost's decode {reference_peak}",
            model.len()
        );
    }
}
