//! True outcomes (feedback) for logged predictions: which labels a version
//! accepts, and which row numbers a feedback line may name. Pure.
//!
//! Monitoring reads a stored label as a class (classifiers: performance,
//! fairness) or as a number (regressors), so a label the model could never
//! have predicted — `2` or `0.5` for a binary classifier — would silently
//! change every figure. [`LabelRule::for_version`] derives what a version
//! accepts from the classes its file declares and, failing that, from its
//! outputs, the same way monitoring reads them
//! ([`crate::monitor::scores_and_labels`]).

use crate::{DataType, Signature, TensorSpec};

/// The classes a classifier declares in its file (ONNX-ML classifiers and
/// `ZipMap`: `classlabels_int64s` / `classlabels_ints` or
/// `classlabels_strings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeclaredClasses {
    Ints(Vec<i64>),
    /// Text classes: feedback names one by its position (0, 1, …) in this
    /// order, the order of the probability columns.
    Strings(Vec<String>),
}

/// Which true outcomes a version accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelRule {
    /// A classifier with known classes (ascending): a label is one of them.
    Classes(Vec<i64>),
    /// A classifier whose classes are not known: a label is a whole number.
    WholeNumber,
    /// A regressor, or a model whose outputs do not say it classifies: any
    /// finite number.
    Numeric,
}

fn is_int(t: &TensorSpec) -> bool {
    matches!(
        t.datatype,
        DataType::Int64 | DataType::Int32 | DataType::Bool
    )
}

fn is_float(t: &TensorSpec) -> bool {
    matches!(t.datatype, DataType::Fp32 | DataType::Fp64)
}

/// The class count a probabilities output gives: its fixed width when it
/// is `[rows, k]` with k ≥ 2.
fn width(t: &TensorSpec) -> Option<usize> {
    match t.shape.as_slice() {
        [_, k] if *k >= 2 => usize::try_from(*k).ok(),
        _ => None,
    }
}

impl LabelRule {
    /// What a version accepts:
    ///
    /// 1. the classes its file declares, when it declares any;
    /// 2. else, with a class label output (`label`, or the first 1-D integer
    ///    or boolean output): `0 … k−1` where `k` is the fixed width of its
    ///    probabilities (`probabilities`, or the first float output), `0, 1`
    ///    for a boolean label, any whole number when the width is not fixed;
    /// 3. else, with a float output `[rows, k]`, k ≥ 2 fixed (class
    ///    probabilities without a label output): `0 … k−1`;
    /// 4. else (a regressor, or a single score that may be either): any
    ///    finite number.
    pub fn for_version(signature: &Signature, declared: Option<&DeclaredClasses>) -> LabelRule {
        match declared {
            Some(DeclaredClasses::Ints(v)) if !v.is_empty() => {
                let mut v = v.clone();
                v.sort_unstable();
                v.dedup();
                return LabelRule::Classes(v);
            }
            Some(DeclaredClasses::Strings(v)) if !v.is_empty() => {
                return LabelRule::Classes((0..v.len() as i64).collect())
            }
            _ => {}
        }
        let outputs = &signature.outputs;
        let label = outputs
            .iter()
            .find(|t| t.name == "label" && is_int(t))
            .or_else(|| outputs.iter().find(|t| is_int(t) && t.shape.len() == 1));
        let probabilities = outputs
            .iter()
            .find(|t| t.name == "probabilities" && is_float(t))
            .or_else(|| outputs.iter().find(|t| is_float(t)));
        let classes = |k: usize| LabelRule::Classes((0..k as i64).collect());
        match (label, probabilities.and_then(width)) {
            (Some(l), _) if l.datatype == DataType::Bool => classes(2),
            (Some(_), Some(k)) => classes(k),
            (Some(_), None) => LabelRule::WholeNumber,
            (None, Some(k)) => classes(k),
            (None, None) => LabelRule::Numeric,
        }
    }

    /// Whether `label` is accepted; the error says why not (without naming
    /// the version: the caller does).
    pub fn check(&self, label: f64) -> Result<(), String> {
        if !label.is_finite() {
            return Err("the label must be a finite number".into());
        }
        match self {
            LabelRule::Numeric => Ok(()),
            LabelRule::WholeNumber if label.fract() == 0.0 => Ok(()),
            LabelRule::WholeNumber => Err(format!(
                "label {label} is not a class: a classifier's label is a whole number"
            )),
            LabelRule::Classes(c) => {
                // Classes are i64; a label of 2^63 or more cannot be one.
                let is_class = label.fract() == 0.0
                    && label.abs() < 9.2e18
                    && c.binary_search(&(label as i64)).is_ok();
                if is_class {
                    Ok(())
                } else {
                    Err(format!(
                        "label {label} is not one of the model's classes ({})",
                        list(c)
                    ))
                }
            }
        }
    }
}

/// `0, 1` — at most 10 classes, then how many more.
fn list(c: &[i64]) -> String {
    const SHOWN: usize = 10;
    let mut s: Vec<String> = c.iter().take(SHOWN).map(i64::to_string).collect();
    if c.len() > SHOWN {
        s.push(format!("and {} more", c.len() - SHOWN));
    }
    s.join(", ")
}

/// A feedback line's row number: a whole number from 0 to 4 294 967 295,
/// written as such (`-1`, `1.5`, `1e3` or a number past the range are
/// refused, never read as another row).
pub fn parse_row(cell: &str) -> Result<u32, String> {
    let t = cell.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = t.parse::<u32>() {
            return Ok(n);
        }
    }
    Err(format!(
        "row {cell:?} is not a row number (a whole number from 0 to {})",
        u32::MAX
    ))
}

/// A feedback line's label: a finite number.
pub fn parse_label(cell: &str) -> Result<f64, String> {
    match cell.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("label {cell:?} is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, datatype: DataType, shape: &[i64]) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            datatype,
            shape: shape.to_vec(),
        }
    }

    fn outputs(specs: Vec<TensorSpec>) -> Signature {
        Signature {
            inputs: vec![spec("input", DataType::Fp32, &[-1, 22])],
            outputs: specs,
        }
    }

    #[test]
    fn rules_come_from_declared_classes_then_from_the_outputs() {
        use DataType::*;
        let binary = || {
            outputs(vec![
                spec("label", Int64, &[-1]),
                spec("probabilities", Fp32, &[-1, 2]),
            ])
        };
        let zipmap = || {
            outputs(vec![
                spec("output_label", Int64, &[-1]),
                spec("output_probability", Fp32, &[-1, -1]),
            ])
        };
        let cases: Vec<(&str, Signature, Option<DeclaredClasses>, LabelRule)> = vec![
            (
                "declared classes win, sorted",
                binary(),
                Some(DeclaredClasses::Ints(vec![7, 3, 3])),
                LabelRule::Classes(vec![3, 7]),
            ),
            (
                "text classes by position",
                zipmap(),
                Some(DeclaredClasses::Strings(vec![
                    "no".into(),
                    "yes".into(),
                    "maybe".into(),
                ])),
                LabelRule::Classes(vec![0, 1, 2]),
            ),
            (
                "nothing declared: the width of probabilities",
                binary(),
                None,
                LabelRule::Classes(vec![0, 1]),
            ),
            (
                "an empty declaration is none",
                binary(),
                Some(DeclaredClasses::Ints(vec![])),
                LabelRule::Classes(vec![0, 1]),
            ),
            (
                "three classes",
                outputs(vec![
                    spec("label", Int64, &[-1]),
                    spec("probabilities", Fp32, &[-1, 3]),
                ]),
                None,
                LabelRule::Classes(vec![0, 1, 2]),
            ),
            (
                "label output but no fixed width",
                zipmap(),
                None,
                LabelRule::WholeNumber,
            ),
            (
                "a boolean label is 0 or 1",
                outputs(vec![spec("is_fraud", Bool, &[-1])]),
                None,
                LabelRule::Classes(vec![0, 1]),
            ),
            (
                "softmax without a label output",
                outputs(vec![spec("logits", Fp32, &[-1, 4])]),
                None,
                LabelRule::Classes(vec![0, 1, 2, 3]),
            ),
            (
                "a regressor",
                outputs(vec![spec("variable", Fp32, &[-1, 1])]),
                None,
                LabelRule::Numeric,
            ),
            (
                "a 1-D score is a regressor's or a sigmoid's: any number",
                outputs(vec![spec("score", Fp64, &[-1])]),
                None,
                LabelRule::Numeric,
            ),
        ];
        for (what, sig, declared, want) in cases {
            assert_eq!(
                LabelRule::for_version(&sig, declared.as_ref()),
                want,
                "{what}"
            );
        }
    }

    #[test]
    fn labels_are_checked_against_the_rule() {
        let binary = LabelRule::Classes(vec![0, 1]);
        for ok in [0.0, 1.0, -0.0] {
            assert!(binary.check(ok).is_ok(), "{ok}");
        }
        for bad in [2.0, 0.5, -1.0, 7.0, -3.5, 1e300, f64::NAN, f64::INFINITY] {
            let e = binary.check(bad).unwrap_err();
            assert!(
                e.contains("classes (0, 1)") || e.contains("finite"),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            binary.check(2.0).unwrap_err(),
            "label 2 is not one of the model's classes (0, 1)"
        );
        let many = LabelRule::Classes((0..12).collect());
        assert!(many.check(12.0).unwrap_err().contains("8, 9, and 2 more"));
        assert!(LabelRule::WholeNumber.check(-4.0).is_ok());
        assert!(LabelRule::WholeNumber.check(0.5).is_err());
        assert!(LabelRule::Numeric.check(-3.5).is_ok());
        assert!(LabelRule::Numeric.check(f64::NAN).is_err());
    }

    #[test]
    fn only_whole_numbers_in_range_are_rows() {
        for (cell, want) in [("0", 0), (" 17 ", 17), ("4294967295", u32::MAX), ("007", 7)] {
            assert_eq!(parse_row(cell), Ok(want), "{cell}");
        }
        for cell in [
            "-1",
            "99999999999999999999",
            "4294967296",
            "1.5",
            "1.0",
            "1e3",
            "+1",
            "",
            "one",
            "0x1",
        ] {
            let e = parse_row(cell).unwrap_err();
            assert!(e.contains("is not a row number"), "{cell}: {e}");
        }
        assert_eq!(parse_label(" 1 "), Ok(1.0));
        assert!(parse_label("NaN").is_err());
        assert!(parse_label("inf").is_err());
        assert!(parse_label("yes").is_err());
    }
}
