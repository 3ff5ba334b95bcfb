//! The convenience form with named features: `{"instances": [{"age": 41, ...}]}`
//! mapped onto a model's single 2-D input using the version's feature names.

use crate::signature::{Signature, TensorSpec};
use crate::tensor::{Scalar, Tensor, TensorData, TensorError};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeatureError {
    #[error("named features need a model with exactly one 2-D input; this one has {0}")]
    NotTabular(String),
    #[error("this model version has no feature names; push it with --features a,b,c (or send tensors with \"inputs\")")]
    NoFeatureNames,
    #[error("the model's input takes {expected} columns but {got} feature names are registered")]
    WidthMismatch { expected: i64, got: usize },
    #[error("instance {index}: missing feature '{name}'")]
    Missing { index: usize, name: String },
    #[error("instance {index}: unknown feature '{name}'; known features: {known}")]
    Unknown {
        index: usize,
        name: String,
        known: String,
    },
    #[error("instance {index}: feature '{name}' given twice")]
    Duplicate { index: usize, name: String },
    #[error("\"instances\" is empty")]
    Empty,
    #[error(transparent)]
    Tensor(#[from] TensorError),
}

/// The single 2-D input that named features map onto, if the model has one.
pub fn tabular_input(signature: &Signature) -> Result<&TensorSpec, FeatureError> {
    match signature.inputs.as_slice() {
        [one] if one.shape.len() == 2 => Ok(one),
        other => Err(FeatureError::NotTabular(
            other
                .iter()
                .map(|s| format!("'{}' {:?}", s.name, s.shape))
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

/// Builds the model's input tensor from named-feature rows.
pub fn instances_to_tensor(
    signature: &Signature,
    feature_names: Option<&[String]>,
    instances: Vec<Vec<(String, Scalar)>>,
) -> Result<Tensor, FeatureError> {
    let spec = tabular_input(signature)?;
    let names = feature_names.ok_or(FeatureError::NoFeatureNames)?;
    if spec.shape[1] >= 0 && spec.shape[1] as usize != names.len() {
        return Err(FeatureError::WidthMismatch {
            expected: spec.shape[1],
            got: names.len(),
        });
    }
    if instances.is_empty() {
        return Err(FeatureError::Empty);
    }
    let rows = instances.len();
    // Row by row, so that memory follows the values sent: a row with a
    // feature missing is refused before the next row is looked at (sized by
    // rows × features up front, 3 bytes of `{},` cost a whole row of slots).
    let mut values: Vec<Scalar> = Vec::new();
    let mut row: Vec<Option<Scalar>> = vec![None; names.len()];
    for (index, instance) in instances.into_iter().enumerate() {
        for (name, value) in instance {
            let Some(col) = names.iter().position(|n| *n == name) else {
                return Err(FeatureError::Unknown {
                    index,
                    name,
                    known: names.join(","),
                });
            };
            if row[col].is_some() {
                return Err(FeatureError::Duplicate { index, name });
            }
            row[col] = Some(value);
        }
        if let Some(missing) = row.iter().position(Option::is_none) {
            return Err(FeatureError::Missing {
                index,
                name: names[missing].clone(),
            });
        }
        values.extend(row.iter_mut().filter_map(Option::take));
    }
    let data = TensorData::from_scalars(&spec.name, spec.datatype, values)?;
    Ok(Tensor::new(
        spec.name.clone(),
        vec![rows, names.len()],
        data,
    )?)
}

/// Names for the features of a model pushed without names: `input[0]`,
/// `input[1]`, … by position in its input row, so that a report can name a
/// column it has no other name for.
pub fn positional_names(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("input[{i}]")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::DataType;

    fn sig(width: i64) -> Signature {
        Signature {
            inputs: vec![TensorSpec {
                name: "input".into(),
                datatype: DataType::Fp32,
                shape: vec![-1, width],
            }],
            outputs: vec![],
        }
    }

    fn row(pairs: &[(&str, f64)]) -> Vec<(String, Scalar)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Scalar::Float(*v)))
            .collect()
    }

    fn names() -> Vec<String> {
        vec!["age".into(), "income".into()]
    }

    #[test]
    fn instances_map_onto_columns_in_registered_order() {
        let t = instances_to_tensor(
            &sig(2),
            Some(&names()),
            vec![
                row(&[("income", 10.0), ("age", 41.0)]),
                row(&[("age", 30.0), ("income", 5.5)]),
            ],
        )
        .unwrap();
        assert_eq!(t.shape, vec![2, 2]);
        assert_eq!(t.data, TensorData::Fp32(vec![41.0, 10.0, 30.0, 5.5]));
    }

    fn check_err(
        width: i64,
        names: Option<Vec<String>>,
        rows: Vec<Vec<(String, Scalar)>>,
        expected: &str,
    ) {
        let e = instances_to_tensor(&sig(width), names.as_deref(), rows).unwrap_err();
        assert_eq!(e.to_string(), expected);
    }

    #[test]
    fn bad_instances_are_explained() {
        check_err(
            2,
            Some(names()),
            vec![row(&[("age", 1.0)])],
            "instance 0: missing feature 'income'",
        );
        check_err(
            2,
            Some(names()),
            vec![row(&[("age", 1.0), ("income", 1.0), ("zip", 1.0)])],
            "instance 0: unknown feature 'zip'; known features: age,income",
        );
        check_err(
            2,
            Some(names()),
            vec![
                row(&[("age", 1.0), ("income", 1.0)]),
                row(&[("age", 1.0), ("age", 2.0)]),
            ],
            "instance 1: feature 'age' given twice",
        );
        check_err(
            2,
            Some(names()),
            vec![
                row(&[("age", 1.0), ("income", 1.0)]),
                vec![],
                row(&[("zip", 1.0)]),
            ],
            "instance 1: missing feature 'age'",
        );
        check_err(2, Some(names()), vec![], "\"instances\" is empty");
        check_err(
            3,
            Some(names()),
            vec![row(&[("age", 1.0)])],
            "the model's input takes 3 columns but 2 feature names are registered",
        );
        check_err(2, None, vec![row(&[("age", 1.0)])], "this model version has no feature names; push it with --features a,b,c (or send tensors with \"inputs\")");
        check_err(
            2,
            Some(names()),
            vec![vec![
                ("age".into(), Scalar::Str("x".into())),
                ("income".into(), Scalar::Int(1)),
            ]],
            "input 'input': element 0 (\"x\") is not a valid FP32",
        );
    }

    #[test]
    fn features_without_names_are_named_by_position() {
        assert_eq!(
            super::positional_names(3),
            ["input[0]", "input[1]", "input[2]"]
        );
        assert!(super::positional_names(0).is_empty());
    }
}
