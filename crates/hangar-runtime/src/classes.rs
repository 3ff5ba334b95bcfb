//! The classes a classifier declares in its ONNX file, so that feedback can
//! refuse a label the model could never predict.
//!
//! scikit-learn, XGBoost and LightGBM classifiers converted to ONNX carry
//! their class labels as attributes of the ONNX-ML classifier node
//! (`TreeEnsembleClassifier`, `LinearClassifier`, `SVMClassifier`) and of
//! `ZipMap`: `classlabels_int64s` / `classlabels_ints`, or
//! `classlabels_strings`. Only the main graph's nodes, their operator and
//! those attributes are read, in place (`protowire.rs`): nothing is
//! allocated but the classes found, whatever the file (decoding the nodes
//! into structs held 88 bytes per byte of a file of empty attributes).

use hangar_core::feedback::DeclaredClasses;

use crate::protowire::{key, length_delimited, skip, varint, LENGTH_DELIMITED, VARINT};

const CLASSIFIERS: [&[u8]; 4] = [
    b"TreeEnsembleClassifier",
    b"LinearClassifier",
    b"SVMClassifier",
    b"ZipMap",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Labels {
    Ints,
    Strings,
}

/// The class labels an ONNX model's classifier node declares; `None` when
/// it declares none (or the bytes are not an ONNX model). The first
/// classifier node, in order, with a non-empty class attribute wins.
pub fn declared_classes(bytes: &[u8]) -> Option<DeclaredClasses> {
    let mut found = None;
    model(bytes, &mut found).ok()?;
    let (labels, attribute) = found?;
    values(labels, attribute).ok()
}

/// `ModelProto`: its `graph` (field 7; repeated occurrences merge, so every
/// one is read in order).
fn model<'a>(
    mut buf: &'a [u8],
    found: &mut Option<(Labels, &'a [u8])>,
) -> Result<(), &'static str> {
    while !buf.is_empty() {
        match key(&mut buf)? {
            (7, wire) => graph(length_delimited(&mut buf, wire)?, found)?,
            (field, wire) => skip(&mut buf, field, wire, 0)?,
        }
    }
    Ok(())
}

/// `GraphProto`: its `node`s (field 1).
fn graph<'a>(
    mut buf: &'a [u8],
    found: &mut Option<(Labels, &'a [u8])>,
) -> Result<(), &'static str> {
    while !buf.is_empty() {
        match key(&mut buf)? {
            (1, wire) => node(length_delimited(&mut buf, wire)?, found)?,
            (field, wire) => skip(&mut buf, field, wire, 1)?,
        }
    }
    Ok(())
}

/// `NodeProto`: `op_type` (field 4, the last one wins) and `attribute`s
/// (field 5). A classifier node's first class attribute is the answer
/// unless an earlier node gave one.
fn node<'a>(mut buf: &'a [u8], found: &mut Option<(Labels, &'a [u8])>) -> Result<(), &'static str> {
    let mut op_type: &[u8] = &[];
    let mut first = None;
    while !buf.is_empty() {
        match key(&mut buf)? {
            (4, wire) => op_type = length_delimited(&mut buf, wire)?,
            (5, wire) => {
                let body = length_delimited(&mut buf, wire)?;
                let labels = attribute(body)?;
                if first.is_none() {
                    first = labels.map(|l| (l, body));
                }
            }
            (field, wire) => skip(&mut buf, field, wire, 2)?,
        }
    }
    if found.is_none() && CLASSIFIERS.contains(&op_type) {
        *found = first;
    }
    Ok(())
}

/// `AttributeProto`: which labels it holds, if it is a class attribute
/// with values (`name` field 1, `ints` field 8 packed or not, `strings`
/// field 9).
fn attribute(mut buf: &[u8]) -> Result<Option<Labels>, &'static str> {
    let mut name: &[u8] = &[];
    let (mut ints, mut strings) = (0usize, 0usize);
    while !buf.is_empty() {
        match key(&mut buf)? {
            (1, wire) => name = length_delimited(&mut buf, wire)?,
            (8, VARINT) => {
                varint(&mut buf)?;
                ints += 1;
            }
            (8, LENGTH_DELIMITED) => {
                let mut packed = length_delimited(&mut buf, LENGTH_DELIMITED)?;
                while !packed.is_empty() {
                    varint(&mut packed)?;
                    ints += 1;
                }
            }
            (8, _) => return Err("invalid wire type for ints"),
            (9, wire) => {
                length_delimited(&mut buf, wire)?;
                strings += 1;
            }
            (field, wire) => skip(&mut buf, field, wire, 3)?,
        }
    }
    Ok(match name {
        b"classlabels_int64s" | b"classlabels_ints" if ints > 0 => Some(Labels::Ints),
        b"classlabels_strings" if strings > 0 => Some(Labels::Strings),
        _ => None,
    })
}

/// The values of a class attribute already checked by [`attribute`].
fn values(labels: Labels, mut buf: &[u8]) -> Result<DeclaredClasses, &'static str> {
    let (mut ints, mut strings) = (Vec::new(), Vec::new());
    while !buf.is_empty() {
        match key(&mut buf)? {
            (8, VARINT) => ints.push(varint(&mut buf)? as i64),
            (8, LENGTH_DELIMITED) => {
                let mut packed = length_delimited(&mut buf, LENGTH_DELIMITED)?;
                while !packed.is_empty() {
                    ints.push(varint(&mut packed)? as i64);
                }
            }
            (9, wire) => strings
                .push(String::from_utf8_lossy(length_delimited(&mut buf, wire)?).into_owned()),
            (field, wire) => skip(&mut buf, field, wire, 3)?,
        }
    }
    Ok(match labels {
        Labels::Ints => DeclaredClasses::Ints(ints),
        Labels::Strings => DeclaredClasses::Strings(strings),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[derive(Clone, PartialEq, Message)]
    struct ModelProto {
        #[prost(message, optional, tag = "7")]
        graph: Option<GraphProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        node: Vec<NodeProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct NodeProto {
        #[prost(bytes = "vec", tag = "4")]
        op_type: Vec<u8>,
        #[prost(message, repeated, tag = "5")]
        attribute: Vec<AttributeProto>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct AttributeProto {
        #[prost(bytes = "vec", tag = "1")]
        name: Vec<u8>,
        #[prost(int64, repeated, tag = "8")]
        ints: Vec<i64>,
        #[prost(bytes = "vec", repeated, tag = "9")]
        strings: Vec<Vec<u8>>,
    }

    fn repo(rel: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(rel),
        )
        .unwrap()
    }

    #[test]
    fn classifiers_declare_their_classes() {
        for model in [
            "gbdt",
            "logreg",
            "random_forest",
            "xgboost_gbdt",
            "lightgbm_gbdt",
        ] {
            assert_eq!(
                declared_classes(&repo(&format!(
                    "testdata/reference/models/{model}/model.onnx"
                ))),
                Some(DeclaredClasses::Ints(vec![0, 1])),
                "{model}"
            );
        }
        assert_eq!(
            declared_classes(&repo("testdata/models/logreg_zipmap.onnx")),
            Some(DeclaredClasses::Ints(vec![0, 1]))
        );
    }

    #[test]
    fn other_models_and_other_bytes_declare_none() {
        // The MLP keeps its classes in a tensor, not an attribute.
        assert_eq!(
            declared_classes(&repo("testdata/reference/models/mlp/model.onnx")),
            None
        );
        assert_eq!(declared_classes(&repo("testdata/models/slow.onnx")), None);
        assert_eq!(declared_classes(b"not a model"), None);
        assert_eq!(declared_classes(&[]), None);
    }

    #[test]
    fn text_classes_are_read() {
        let attribute = AttributeProto {
            name: b"classlabels_strings".to_vec(),
            ints: vec![],
            strings: vec![b"no".to_vec(), b"yes".to_vec()],
        };
        let model = ModelProto {
            graph: Some(GraphProto {
                node: vec![NodeProto {
                    op_type: b"LinearClassifier".to_vec(),
                    attribute: vec![attribute],
                }],
            }),
        };
        assert_eq!(
            declared_classes(&model.encode_to_vec()),
            Some(DeclaredClasses::Strings(vec!["no".into(), "yes".into()]))
        );
    }
}
