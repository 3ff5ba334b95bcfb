//! The classes a classifier declares in its ONNX file, so that feedback can
//! refuse a label the model could never predict.
//!
//! scikit-learn, XGBoost and LightGBM classifiers converted to ONNX carry
//! their class labels as attributes of the ONNX-ML classifier node
//! (`TreeEnsembleClassifier`, `LinearClassifier`, `SVMClassifier`) and of
//! `ZipMap`: `classlabels_int64s` / `classlabels_ints`, or
//! `classlabels_strings`. Only the main graph's nodes, their operator and
//! those attributes are declared here; prost skips every other field
//! (weights included) without copying it.

use hangar_core::feedback::DeclaredClasses;
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

const CLASSIFIERS: [&[u8]; 4] = [
    b"TreeEnsembleClassifier",
    b"LinearClassifier",
    b"SVMClassifier",
    b"ZipMap",
];

/// The class labels an ONNX model's classifier node declares; `None` when
/// it declares none (or the bytes are not an ONNX model).
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

#[cfg(test)]
mod tests {
    use super::*;

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
