//! Target `baseline_csv`: a baseline upload's CSV as the server reads it
//! (`monitoring::parse_baseline` against the version's feature names, its
//! categorical columns and the label column), then profiled
//! (`BaselineProfile::build`, with model scores that may be anything a
//! model outputs, NaN included).
//!
//! Every refusal must be the uploader's error (400); a parsed baseline has
//! one finite value per feature and row.

use hangar_core::monitor::BaselineProfile;
use hangar_core::stats::evidently::ColumnKind;
use hangar_server::fuzzing::{self, parse_baseline};
use proptest::prelude::*;

use crate::harness::{fuzz, measure, mutate, mutations, random_bytes, within_cap, Cap};

/// Parsing and profiling hold at most 64 bytes per CSV byte (each value of
/// two bytes or more is kept as an f64, a sorted copy and a category key)
/// plus 64 KiB.
const CAP: Cap = Cap {
    per_byte: 64,
    fixed: 64 * 1024,
};

#[derive(Debug, Clone)]
struct Case {
    csv: Vec<u8>,
    features: Vec<String>,
    categorical: Vec<String>,
    label: Option<String>,
    /// The model's scores on the rows (cycled), if it gives scores.
    scores: Option<Vec<f64>>,
}

fn check(case: Case) -> Result<(), TestCaseError> {
    let (outcome, peak) = measure(|| {
        let data = parse_baseline(
            &case.csv,
            &case.features,
            &case.categorical,
            case.label.as_deref(),
        )?;
        let rows = data.columns.first().map_or(0, |c| c.2.len());
        let shape: Vec<(ColumnKind, usize, bool)> = data
            .columns
            .iter()
            .map(|(_, kind, values)| (*kind, values.len(), values.iter().all(|v| v.is_finite())))
            .collect();
        let labels = data.labels.as_ref().map(Vec::len);
        let scores = case.scores.as_ref().filter(|s| !s.is_empty()).map(|s| {
            let p1: Vec<f64> = (0..rows).map(|i| s[i % s.len()]).collect();
            let predicted = p1.iter().map(|p| *p >= 0.5).collect();
            (p1, predicted)
        });
        let profile = BaselineProfile::build(data.columns, scores, data.labels);
        Ok::<_, hangar_server::ApiError>((rows, shape, labels, profile.map(|p| p.rows)))
    });
    match &outcome {
        Ok((rows, shape, labels, profile)) => {
            prop_assert!(*rows > 0);
            prop_assert_eq!(shape.len(), case.features.len());
            for (feature, (kind, n, finite)) in case.features.iter().zip(shape) {
                prop_assert_eq!(*n, *rows);
                prop_assert!(*finite);
                let categorical = case.categorical.contains(feature);
                prop_assert_eq!(*kind == ColumnKind::Categorical, categorical);
            }
            prop_assert_eq!(labels.is_some(), case.label.is_some());
            if let Some(n) = labels {
                prop_assert_eq!(*n, *rows);
            }
            if let Ok(profiled) = profile {
                prop_assert_eq!(*profiled, *rows);
            }
        }
        Err(e) => {
            prop_assert_eq!(fuzzing::http_status(e.code).as_u16(), 400, "{}", e.message);
        }
    }
    drop(outcome);
    within_cap("baseline_csv", peak, case.csv.len(), CAP)
}

fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (-50i64..50).prop_map(|v| v.to_string()),
        4 => any::<f64>().prop_map(|v| v.to_string()),
        1 => Just("NaN".to_string()),
        1 => Just("inf".to_string()),
        1 => Just(String::new()),
        1 => Just(" 3 ".to_string()),
        1 => Just("\"1,5\"".to_string()),
        1 => Just("\"a\nb\"".to_string()),
        1 => "[a-z]{1,3}",
        1 => Just("1e308".to_string()),
        1 => Just("-0".to_string()),
    ]
}

fn label_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec!["0", "1", "true", "False", "1.0"]).prop_map(str::to_string),
        1 => prop::sample::select(vec!["2", "", "yes", "-1"]).prop_map(str::to_string),
    ]
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => 0.0f64..=1.0,
        1 => Just(f64::NAN),
        1 => any::<f64>(),
    ]
}

fn structured() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec("[a-z]{1,3}", 1..5),
        prop::collection::vec("[a-z]{1,3}", 0..2),
        any::<bool>(),
        any::<bool>(),
        0usize..30,
        prop::option::of(prop::collection::vec(score(), 1..8)),
        any::<u64>(),
    )
        .prop_flat_map(
            |(features, extra, with_label, categorical_first, rows, scores, seed)| {
                let mut header: Vec<String> = features.iter().chain(&extra).cloned().collect();
                if with_label {
                    header.push("label".into());
                }
                // Columns in a shuffled order, sometimes with one left out.
                let n = header.len();
                header.rotate_left(seed as usize % n);
                let columns = header.len();
                (
                    Just((features, header, with_label, categorical_first, scores)),
                    prop::collection::vec(
                        prop::collection::vec(
                            (cell(), label_cell()),
                            columns..=columns + usize::from(seed % 7 == 0),
                        ),
                        rows,
                    ),
                    prop::option::weighted(0.1, 0..columns),
                    mutations(3),
                )
            },
        )
        .prop_map(
            |(
                (features, header, with_label, categorical_first, scores),
                rows,
                drop_column,
                damage,
            )| {
                let mut header = header;
                if let Some(i) = drop_column {
                    header.remove(i);
                }
                let mut csv = header.join(",");
                csv.push('\n');
                for row in rows {
                    let cells: Vec<&str> = header
                        .iter()
                        .zip(&row)
                        .map(|(h, (c, l))| if h == "label" { l.as_str() } else { c.as_str() })
                        .chain(row.iter().skip(header.len()).map(|(c, _)| c.as_str()))
                        .collect();
                    csv.push_str(&cells.join(","));
                    csv.push('\n');
                }
                let categorical = if categorical_first {
                    vec![features[0].clone()]
                } else {
                    Vec::new()
                };
                Case {
                    csv: mutate(csv.into_bytes(), &damage),
                    features,
                    categorical,
                    label: with_label.then(|| "label".to_string()),
                    scores,
                }
            },
        )
}

fn random_case() -> impl Strategy<Value = Case> {
    (
        random_bytes(2048),
        prop::collection::vec("[a-c]{1}", 0..3),
        prop::option::of("[a-c]{1}"),
    )
        .prop_map(|(csv, features, label)| Case {
            csv,
            categorical: features.iter().take(1).cloned().collect(),
            features,
            label,
            scores: None,
        })
}

#[test]
fn fuzz_baseline_csv() {
    fuzz(
        "baseline_csv",
        2000,
        prop_oneof![1 => random_case(), 4 => structured()],
        check,
    );
}
