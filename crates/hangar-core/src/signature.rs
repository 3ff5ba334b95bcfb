//! A model version's input/output signature and the check of a request
//! against it, so that bad input is a clear 400 before the model ever runs.

use crate::tensor::{DataType, Tensor};

/// One input or output: name, datatype and shape, with `-1` for a dynamic
/// dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub datatype: DataType,
    pub shape: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signature {
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing input '{name}': the model expects inputs {expected:?}")]
    MissingInput { name: String, expected: Vec<String> },
    #[error("unknown input '{name}': the model expects inputs {expected:?}")]
    UnknownInput { name: String, expected: Vec<String> },
    #[error("input '{name}' given twice")]
    DuplicateInput { name: String },
    #[error("input '{name}': expected datatype {expected}, got {got}")]
    DataType {
        name: String,
        expected: DataType,
        got: DataType,
    },
    #[error("input '{name}': expected shape {expected:?} (-1 = any size), got {got:?}")]
    Shape {
        name: String,
        expected: Vec<i64>,
        got: Vec<usize>,
    },
    #[error("inputs disagree on the batch size: '{first}' has {first_batch} rows, '{other}' has {other_batch}")]
    BatchMismatch {
        first: String,
        first_batch: usize,
        other: String,
        other_batch: usize,
    },
    #[error("unknown output '{name}' requested: the model has outputs {expected:?}")]
    UnknownOutput { name: String, expected: Vec<String> },
}

impl TensorSpec {
    /// Whether a concrete shape fits this spec.
    pub fn accepts_shape(&self, shape: &[usize]) -> bool {
        self.shape.len() == shape.len()
            && self
                .shape
                .iter()
                .zip(shape)
                .all(|(&want, &got)| want < 0 || want as u64 == got as u64)
    }

    /// The first dimension is dynamic: the model takes a batch of rows.
    pub fn has_dynamic_batch(&self) -> bool {
        self.shape.first().is_some_and(|&d| d < 0)
    }
}

impl Signature {
    fn input_names(&self) -> Vec<String> {
        self.inputs.iter().map(|s| s.name.clone()).collect()
    }

    fn output_names(&self) -> Vec<String> {
        self.outputs.iter().map(|s| s.name.clone()).collect()
    }

    pub fn input(&self, name: &str) -> Option<&TensorSpec> {
        self.inputs.iter().find(|s| s.name == name)
    }

    /// Checks names, datatypes and shapes of `inputs`, and that inputs with a
    /// dynamic first dimension agree on the batch size.
    pub fn check_inputs(&self, inputs: &[Tensor]) -> Result<(), SignatureError> {
        for (i, t) in inputs.iter().enumerate() {
            if inputs[..i].iter().any(|o| o.name == t.name) {
                return Err(SignatureError::DuplicateInput {
                    name: t.name.clone(),
                });
            }
            if self.input(&t.name).is_none() {
                return Err(SignatureError::UnknownInput {
                    name: t.name.clone(),
                    expected: self.input_names(),
                });
            }
        }
        let mut batch: Option<(&str, usize)> = None;
        for spec in &self.inputs {
            let Some(t) = inputs.iter().find(|t| t.name == spec.name) else {
                return Err(SignatureError::MissingInput {
                    name: spec.name.clone(),
                    expected: self.input_names(),
                });
            };
            if t.datatype() != spec.datatype {
                return Err(SignatureError::DataType {
                    name: spec.name.clone(),
                    expected: spec.datatype,
                    got: t.datatype(),
                });
            }
            if !spec.accepts_shape(&t.shape) {
                return Err(SignatureError::Shape {
                    name: spec.name.clone(),
                    expected: spec.shape.clone(),
                    got: t.shape.clone(),
                });
            }
            if spec.has_dynamic_batch() {
                let rows = t.shape[0];
                match batch {
                    None => batch = Some((&spec.name, rows)),
                    Some((first, first_batch)) if first_batch != rows => {
                        return Err(SignatureError::BatchMismatch {
                            first: first.to_string(),
                            first_batch,
                            other: spec.name.clone(),
                            other_batch: rows,
                        })
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Checks that every requested output exists.
    pub fn check_outputs(&self, requested: &[String]) -> Result<(), SignatureError> {
        match requested
            .iter()
            .find(|r| !self.outputs.iter().any(|o| &o.name == *r))
        {
            Some(name) => Err(SignatureError::UnknownOutput {
                name: name.clone(),
                expected: self.output_names(),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::TensorData;

    fn sig() -> Signature {
        Signature {
            inputs: vec![
                TensorSpec {
                    name: "input".into(),
                    datatype: DataType::Fp32,
                    shape: vec![-1, 3],
                },
                TensorSpec {
                    name: "mask".into(),
                    datatype: DataType::Bool,
                    shape: vec![-1],
                },
            ],
            outputs: vec![TensorSpec {
                name: "label".into(),
                datatype: DataType::Int64,
                shape: vec![-1],
            }],
        }
    }

    fn t(name: &str, shape: Vec<usize>, data: TensorData) -> Tensor {
        Tensor::new(name, shape, data).unwrap()
    }

    fn check(inputs: Vec<Tensor>, expected: &str) {
        let got = match sig().check_inputs(&inputs) {
            Ok(()) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn inputs_are_checked_against_the_signature() {
        let x = |rows: usize| {
            t(
                "input",
                vec![rows, 3],
                TensorData::Fp32(vec![0.0; rows * 3]),
            )
        };
        let m = |rows: usize| t("mask", vec![rows], TensorData::Bool(vec![true; rows]));
        check(vec![x(2), m(2)], "ok");
        check(vec![m(1), x(1)], "ok");
        check(
            vec![x(2)],
            r#"missing input 'mask': the model expects inputs ["input", "mask"]"#,
        );
        check(
            vec![
                x(1),
                m(1),
                t("extra", vec![1], TensorData::Bool(vec![true])),
            ],
            r#"unknown input 'extra': the model expects inputs ["input", "mask"]"#,
        );
        check(vec![x(1), x(1), m(1)], "input 'input' given twice");
        check(
            vec![t("input", vec![1, 3], TensorData::Fp64(vec![0.0; 3])), m(1)],
            "input 'input': expected datatype FP32, got FP64",
        );
        check(
            vec![t("input", vec![1, 4], TensorData::Fp32(vec![0.0; 4])), m(1)],
            "input 'input': expected shape [-1, 3] (-1 = any size), got [1, 4]",
        );
        check(
            vec![t("input", vec![3], TensorData::Fp32(vec![0.0; 3])), m(1)],
            "input 'input': expected shape [-1, 3] (-1 = any size), got [3]",
        );
        check(
            vec![x(2), m(3)],
            "inputs disagree on the batch size: 'input' has 2 rows, 'mask' has 3",
        );
    }

    #[test]
    fn requested_outputs_must_exist() {
        assert!(sig().check_outputs(&["label".into()]).is_ok());
        assert_eq!(
            sig()
                .check_outputs(&["probabilities".into()])
                .unwrap_err()
                .to_string(),
            r#"unknown output 'probabilities' requested: the model has outputs ["label"]"#
        );
    }
}
