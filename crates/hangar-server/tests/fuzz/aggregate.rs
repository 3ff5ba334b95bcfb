//! Targets `aggregate_decode` and `aggregate_roundtrip`: the stored form of
//! a monitoring aggregate (`hangar_core::monitor::aggregate`), read back
//! from SQLite for every report and every roll-up.
//!
//! Decoding arbitrary or damaged bytes never panics, is `Malformed` or a
//! value that encodes to a fixed point, and holds no more than its cap; a
//! decoded aggregate goes through a report against a baseline without
//! panicking. Aggregates built through the real API (rows recorded against
//! a baseline, merged) decode to the same values.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use hangar_core::monitor::aggregate::{
    aggregate_report, Aggregate, AggregateError, ColumnCounts, RowValues,
};
use hangar_core::monitor::{BaselineProfile, WindowRows};
use hangar_core::stats::evidently::ColumnKind;
use hangar_core::stats::{CategoryCounts, Histogram};
use proptest::prelude::*;

use crate::harness::{fuzz, measure, mutate, mutations, random_bytes, within_cap, Cap};

/// Decoding holds at most 32 bytes per stored byte (a one-entry category
/// map costs a B-tree node for 17 bytes) plus 4 KiB.
const CAP: Cap = Cap {
    per_byte: 32,
    fixed: 4 * 1024,
};

const DIGEST: &str = "sha256:base";

/// A baseline of three features (numeric, categorical, numeric), with
/// scores and labels so that its aggregates carry score bins and CBPE sums.
fn baseline() -> &'static BaselineProfile {
    static PROFILE: OnceLock<BaselineProfile> = OnceLock::new();
    PROFILE.get_or_init(|| {
        let n = 200;
        let x: Vec<f64> = (0..n).map(|i| f64::from(i % 37) * 0.5).collect();
        let c: Vec<f64> = (0..n).map(|i| f64::from(i % 4)).collect();
        let z: Vec<f64> = (0..n).map(|i| f64::from(i).sin()).collect();
        let p1: Vec<f64> = (0..n).map(|i| f64::from(i % 10) / 10.0).collect();
        let predicted: Vec<bool> = p1.iter().map(|p| *p >= 0.5).collect();
        let labels: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
        BaselineProfile::build(
            vec![
                ("x".into(), ColumnKind::Numerical, x),
                ("c".into(), ColumnKind::Categorical, c),
                ("z".into(), ColumnKind::Numerical, z),
            ],
            Some((p1, predicted)),
            Some(labels),
        )
        .unwrap()
    })
}

/// Everything an aggregate holds, with floats as bits (a sampled row
/// without a score holds NaN) and the sample's rows in key order.
fn canonical(a: &Aggregate) -> impl PartialEq + std::fmt::Debug {
    let mut rows: Vec<(u64, Vec<u64>, u64, bool)> = a
        .sample
        .rows()
        .map(|r| {
            (
                r.key,
                r.features.iter().map(|v| v.to_bits()).collect(),
                r.score.to_bits(),
                r.predicted,
            )
        })
        .collect();
    rows.sort();
    (
        a.rows,
        a.binned.clone().map(|b| format!("{b:?}")),
        a.sample.cap(),
        a.sample.threshold(),
        rows,
    )
}

#[derive(Debug, Clone)]
struct Row {
    features: Vec<f64>,
    score: Option<f64>,
    predicted: Option<f64>,
    key: u64,
}

fn row() -> impl Strategy<Value = Row> {
    let value = prop_oneof![
        6 => -5.0f64..25.0,
        2 => (0i32..6).prop_map(f64::from),
        1 => any::<f64>(),
        1 => Just(f64::NAN),
    ];
    (
        prop_oneof![9 => prop::collection::vec(value, 3), 1 => prop::collection::vec(-1.0f64..1.0, 0..5)],
        prop::option::weighted(0.9, prop_oneof![9 => 0.0f64..=1.0, 1 => any::<f64>()]),
        prop::option::of(prop::sample::select(vec![0.0, 1.0, 2.0])),
        any::<u64>(),
    )
        .prop_map(|(features, score, predicted, key)| Row {
            features,
            score,
            predicted,
            key,
        })
}

/// An aggregate built as the prediction log builds them: parts of a few
/// rows each (with or without the baseline, or against another one), merged.
fn aggregate() -> impl Strategy<Value = Aggregate> {
    let part = (
        prop_oneof![Just(0u8), Just(1u8), Just(2u8)],
        1usize..40,
        prop::collection::vec(row(), 0..30),
    );
    (prop::collection::vec(part, 1..4), 1usize..50).prop_map(|(parts, cap)| {
        let profile = baseline();
        let mut out: Option<Aggregate> = None;
        for (which, part_cap, rows) in parts {
            let (mut a, p) = match which {
                0 => (
                    Aggregate::new(part_cap, Some((DIGEST, profile))),
                    Some(profile),
                ),
                1 => (
                    Aggregate::new(part_cap, Some(("sha256:other", profile))),
                    Some(profile),
                ),
                _ => (Aggregate::new(part_cap, None), None),
            };
            for r in rows {
                // One model: every row of a version has the same width.
                if r.features.len() != 3 {
                    continue;
                }
                a.record(
                    p,
                    RowValues {
                        features: &r.features,
                        score: r.score,
                        predicted: r.predicted,
                    },
                    r.key,
                );
            }
            match &mut out {
                None => {
                    let sample = a.sample.with_cap(cap);
                    out = Some(Aggregate { sample, ..a });
                }
                Some(o) => o.merge(&a).unwrap(),
            }
        }
        out.unwrap()
    })
}

#[test]
fn fuzz_aggregate_roundtrip() {
    fuzz("aggregate_roundtrip", 1200, aggregate(), |a| {
        let bytes = a.encode();
        let back = Aggregate::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(canonical(&back), canonical(&a));
        prop_assert_eq!(back.encode(), bytes);
        Ok(())
    });
}

#[test]
fn fuzz_aggregate_decode() {
    let damaged = (aggregate(), mutations(6)).prop_map(|(a, damage)| mutate(a.encode(), &damage));
    fuzz(
        "aggregate_decode",
        3000,
        prop_oneof![1 => random_bytes(1024), 3 => damaged],
        |bytes| {
            let (decoded, peak) = measure(|| Aggregate::decode(&bytes));
            match decoded {
                Ok(a) => {
                    let once = a.encode();
                    let again =
                        Aggregate::decode(&once).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(again.encode(), once);
                    // What a report does with a stored aggregate.
                    let mut merged = Aggregate::merge_all_for(vec![a.clone()], DIGEST, 100)
                        .unwrap_or_else(|_| Aggregate::new(100, None));
                    let _ = merged.merge_for(&again, DIGEST);
                    let _ =
                        aggregate_report(baseline(), Some(DIGEST), &merged, &WindowRows::default());
                }
                Err(e) => prop_assert!(matches!(e, AggregateError::Malformed(_)), "{:?}", e),
            }
            within_cap("aggregate_decode", peak, bytes.len(), CAP)
        },
    );
}

/// Regression: merging stored counts added them unchecked, so a damaged
/// aggregate (a count near 2^64) panicked in a debug build and wrapped to a
/// small count in a release build. Counts saturate.
#[test]
fn merging_huge_stored_counts_saturates() {
    let mut a = Aggregate::new(10, Some((DIGEST, baseline())));
    let row = [1.0, 2.0, 0.5];
    a.record(
        Some(baseline()),
        RowValues {
            features: &row,
            score: Some(0.7),
            predicted: Some(1.0),
        },
        7,
    );
    a.rows = u64::MAX - 1;
    let binned = a.binned.as_mut().unwrap();
    binned.rows = u64::MAX - 1;
    for column in &mut binned.columns {
        *column = match column {
            ColumnCounts::Numeric(h) => {
                ColumnCounts::Numeric(Histogram::from_counts(vec![u64::MAX - 1; h.counts().len()]))
            }
            ColumnCounts::Categorical(_) => ColumnCounts::Categorical(CategoryCounts::from_counts(
                BTreeMap::from([("1".to_string(), u64::MAX - 1)]),
            )),
        };
    }
    let stored = Aggregate::decode(&a.encode()).unwrap();
    let mut merged = stored.clone();
    merged.merge(&stored).unwrap();
    assert_eq!(merged.rows, u64::MAX);
    let binned = merged.binned.as_ref().unwrap();
    assert_eq!(binned.rows, u64::MAX);
    match &binned.columns[1] {
        ColumnCounts::Categorical(c) => {
            assert_eq!((c.get(&"1".to_string()), c.total()), (u64::MAX, u64::MAX))
        }
        ColumnCounts::Numeric(_) => panic!("the baseline's second column is categorical"),
    }
    match &binned.columns[0] {
        ColumnCounts::Numeric(h) => assert_eq!(h.total(), u64::MAX),
        ColumnCounts::Categorical(_) => panic!("the baseline's first column is numeric"),
    }
    let report = aggregate_report(baseline(), Some(DIGEST), &merged, &WindowRows::default());
    assert_eq!(report.binned_rows, u64::MAX);
}

/// Regression (found reading the decoder for this target's cap): the column
/// count was checked at one byte per column, so a count claiming every
/// remaining byte reserved 32 bytes per byte before the first column was
/// read. A column takes at least 5 bytes.
#[test]
fn a_column_count_reserves_only_what_the_bytes_can_hold() {
    let columns: u32 = 100_000;
    let mut bytes = vec![1];
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.push(1);
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(&columns.to_le_bytes());
    bytes.extend(std::iter::repeat_n(0xff, columns as usize));
    let (decoded, peak) = measure(|| Aggregate::decode(&bytes));
    assert!(decoded.is_err());
    assert!(
        peak <= 8 * bytes.len(),
        "held {peak} bytes for {} bytes",
        bytes.len()
    );
}
