//! The aggregates: recording, merging, the stored form and their reports.

use super::*;
use std::collections::BTreeMap;

use crate::monitor::{window_report, WindowReport, WindowRows};

#[test]
fn a_range_uses_days_then_hours_then_minutes_at_the_edges() {
    let day = 86_400;
    // 2 days + 1 h 30 min + 30 s after midnight, to 5 days + 2 h 10 s.
    let from = 2 * day + 5400 + 30;
    let to = 5 * day + 7200 + 10;
    assert_eq!(
        plan_range(from, to),
        vec![
            (Resolution::Minute, 2 * day + 5400, 2 * day + 7200),
            (Resolution::Hour, 2 * day + 7200, 3 * day),
            (Resolution::Day, 3 * day, 5 * day),
            (Resolution::Hour, 5 * day, 5 * day + 7200),
            (Resolution::Minute, 5 * day + 7200, 5 * day + 7260),
        ]
    );
    assert_eq!(plan_range(60, 120), vec![(Resolution::Minute, 60, 120)]);
    assert!(plan_range(100, 100).is_empty());
    assert_eq!(
        plan_range_inside(30, 3 * 60 + 10),
        vec![(Resolution::Minute, 60, 180)]
    );
    assert!(plan_range_inside(70, 110).is_empty());
    assert_eq!(Resolution::Hour.floor(-1), -3600);
}

fn row(key: u64) -> SampleRow {
    SampleRow {
        key,
        features: vec![key as f64],
        score: 0.5,
        predicted: false,
    }
}

fn keys(s: &RowSample) -> Vec<u64> {
    let mut k: Vec<u64> = s.rows().map(|r| r.key).collect();
    k.sort_unstable();
    k
}

#[test]
fn merged_samples_are_the_sample_of_the_union() {
    let mut state = 7;
    let all: Vec<u64> = (0..5000).map(|_| next_key(&mut state)).collect();
    let mut whole = RowSample::new(300);
    all.iter().for_each(|&k| whole.offer(row(k)));
    // Three unequal parts sampled with a smaller cap each, then merged.
    let mut merged = RowSample::new(300);
    for part in [&all[..100], &all[100..3000], &all[3000..]] {
        let mut s = RowSample::new(200);
        part.iter().for_each(|&k| s.offer(row(k)));
        merged.merge(&s);
    }
    // Every kept row is one the whole sample kept, and nothing below the
    // merged threshold is missing.
    let mut sorted = all.clone();
    sorted.sort_unstable();
    let expected: Vec<u64> = sorted
        .iter()
        .copied()
        .filter(|&k| k <= merged.threshold())
        .collect();
    assert_eq!(keys(&merged), expected);
    assert!(keys(&merged).iter().all(|k| keys(&whole).contains(k)));
    assert!(
        merged.len() >= 200 && merged.len() <= 300,
        "{}",
        merged.len()
    );
    // A sample that saw fewer rows than its cap keeps them all.
    let mut small = RowSample::new(10);
    (0..4).for_each(|k| small.offer(row(k)));
    assert_eq!((small.len(), small.threshold()), (4, u64::MAX));
    assert_eq!(small.with_cap(2).len(), 2);
}

fn baseline() -> BaselineProfile {
    let x: Vec<f64> = (0..3000).map(|i| f64::from(i % 101) * 0.5).collect();
    let c: Vec<f64> = (0..3000).map(|i| f64::from(i % 4)).collect();
    let p1: Vec<f64> = (0..3000).map(|i| f64::from(i % 97) / 96.0).collect();
    let pred: Vec<bool> = p1.iter().map(|p| *p >= 0.5).collect();
    let y: Vec<bool> = (0..3000).map(|i| (i * 7) % 10 < 5).collect();
    BaselineProfile::build(
        vec![
            ("x".into(), ColumnKind::Numerical, x),
            ("c".into(), ColumnKind::Categorical, c),
        ],
        Some((p1, pred)),
        Some(y),
    )
    .unwrap()
}

/// A drifted window: x shifted, c skewed, scores higher.
fn window(n: usize) -> Vec<(Vec<f64>, f64, f64)> {
    (0..n)
        .map(|i| {
            let x = (i % 83) as f64 * 0.6 + 3.0;
            let c = [0.0, 1.0, 1.0, 2.0, 3.0, 5.0][i % 6];
            let p = ((i * 13) % 89) as f64 / 88.0 * 0.8 + 0.2;
            (vec![x, c], p, if p >= 0.5 { 1.0 } else { 0.0 })
        })
        .collect()
}

fn aggregate_of(
    profile: &BaselineProfile,
    rows: &[(Vec<f64>, f64, f64)],
    cap: usize,
    seed: u64,
) -> Aggregate {
    let mut a = Aggregate::new(cap, Some(("d1", profile)));
    let mut state = seed;
    for (f, s, p) in rows {
        let values = RowValues {
            features: f,
            score: Some(*s),
            predicted: Some(*p),
        };
        a.record(Some(profile), values, next_key(&mut state));
    }
    a
}

fn exact(profile: &BaselineProfile, rows: &[(Vec<f64>, f64, f64)]) -> WindowReport {
    let w = WindowRows {
        features: BTreeMap::from([
            ("x".to_string(), rows.iter().map(|r| r.0[0]).collect()),
            ("c".to_string(), rows.iter().map(|r| r.0[1]).collect()),
        ]),
        scores: rows.iter().map(|r| r.1).collect(),
        predicted: rows.iter().map(|r| r.2 == 1.0).collect(),
        labels: vec![None; rows.len()],
        segments: BTreeMap::new(),
    };
    window_report(profile, &w)
}

fn near(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        "{what}: {a} vs {b}"
    );
}

#[test]
fn minutes_merged_give_the_exact_figures_when_the_sample_holds_every_row() {
    let profile = baseline();
    let rows = window(2500);
    // Five "minutes" of 500 rows, merged as an hour would merge them.
    let mut merged = Aggregate::new(REPORT_SAMPLE, None);
    for (i, part) in rows.chunks(500).enumerate() {
        let minute = aggregate_of(&profile, part, 600, i as u64);
        let bytes = minute.encode();
        let back = Aggregate::decode(&bytes).unwrap();
        assert_eq!(back, minute, "stored form round-trips");
        merged.merge_for(&back, "d1").unwrap();
    }
    let got = aggregate_report(&profile, Some("d1"), &merged, &WindowRows::default());
    let want = exact(&profile, &rows);
    assert_eq!(
        (got.report.rows, got.sample_rows, got.binned_rows),
        (2500, 2500, 2500)
    );
    for name in ["x", "c"] {
        let (g, w) = (&got.report.features[name], &want.features[name]);
        near(g.psi, w.psi, "psi");
        near(g.js_distance, w.js_distance, "js");
        assert_eq!(g.verdict.test, w.verdict.test);
        near(g.verdict.score, w.verdict.score, "evidently score");
        for (a, b) in [
            (g.ks_statistic, w.ks_statistic),
            (g.ks_pvalue, w.ks_pvalue),
            (g.wasserstein, w.wasserstein),
            (g.chi2_statistic, w.chi2_statistic),
            (g.chi2_pvalue, w.chi2_pvalue),
        ] {
            assert_eq!(a.is_some(), b.is_some());
            if let (Some(a), Some(b)) = (a, b) {
                near(a, b, name);
            }
        }
    }
    near(
        got.report.outputs["score"].psi,
        want.outputs["score"].psi,
        "score psi",
    );
    assert_eq!(got.report.drift_share, want.drift_share);
    let (g, w) = (
        got.report.estimated_performance.unwrap(),
        want.estimated_performance.unwrap(),
    );
    near(g.accuracy, w.accuracy, "cbpe accuracy");
    near(g.f1, w.f1, "cbpe f1");
    near(g.roc_auc.unwrap(), w.roc_auc.unwrap(), "cbpe auc");
}

#[test]
fn past_the_sample_cap_counts_stay_exact_and_the_sample_is_bounded() {
    let profile = baseline();
    let rows = window(20_000);
    let mut merged = Aggregate::new(1000, None);
    for (i, part) in rows.chunks(2000).enumerate() {
        merged
            .merge_for(&aggregate_of(&profile, part, 256, 100 + i as u64), "d1")
            .unwrap();
    }
    let parts: Vec<Aggregate> = rows
        .chunks(2000)
        .enumerate()
        .map(|(i, part)| aggregate_of(&profile, part, 256, 100 + i as u64))
        .collect();
    assert_eq!(
        Aggregate::merge_all_for(parts, "d1", 1000).unwrap(),
        merged,
        "merging all at once is merging one by one"
    );
    let got = aggregate_report(&profile, Some("d1"), &merged, &WindowRows::default());
    let want = exact(&profile, &rows);
    assert_eq!(got.report.rows, 20_000);
    assert!(
        got.sample_rows <= 1000 && got.sample_rows >= 256,
        "{}",
        got.sample_rows
    );
    // Counts-based figures are exact.
    near(got.report.features["x"].psi, want.features["x"].psi, "psi");
    near(
        got.report.features["c"].chi2_statistic.unwrap(),
        want.features["c"].chi2_statistic.unwrap(),
        "chi2",
    );
    let (g, w) = (
        got.report.estimated_performance.unwrap(),
        want.estimated_performance.unwrap(),
    );
    near(g.accuracy, w.accuracy, "cbpe accuracy");
    // Sample-based ones are close.
    let (gk, wk) = (
        got.report.features["x"].ks_statistic.unwrap(),
        want.features["x"].ks_statistic.unwrap(),
    );
    assert!((gk - wk).abs() < 0.08, "ks {gk} vs {wk}");
    assert_eq!(
        got.report.features["x"].verdict.drifted,
        want.features["x"].verdict.drifted
    );
}

#[test]
fn counts_against_another_baseline_are_left_out_of_a_report() {
    let profile = baseline();
    let rows = window(300);
    let old = {
        let mut a = aggregate_of(&profile, &rows, 500, 1);
        if let Some(b) = &mut a.binned {
            b.baseline = "old".into();
        }
        a
    };
    let mut merged = Aggregate::new(REPORT_SAMPLE, None);
    merged.merge_for(&old, "d1").unwrap();
    merged
        .merge_for(&aggregate_of(&profile, &rows, 500, 2), "d1")
        .unwrap();
    assert_eq!(merged.rows, 600);
    assert_eq!(merged.binned.as_ref().unwrap().rows, 300);
    // Storage merges let the newer baseline's counts win.
    let mut stored = old.clone();
    stored
        .merge(&aggregate_of(&profile, &rows, 500, 3))
        .unwrap();
    assert_eq!(stored.binned.as_ref().unwrap().baseline, "d1");
    assert_eq!(stored.binned.as_ref().unwrap().rows, 300);
    // Without any matching counts the figures come from the sample.
    let mut only_old = Aggregate::new(REPORT_SAMPLE, None);
    only_old.merge_for(&old, "d1").unwrap();
    let r = aggregate_report(&profile, Some("d1"), &only_old, &WindowRows::default());
    assert_eq!((r.binned_rows, r.sample_rows), (0, 300));
    near(
        r.report.features["x"].psi,
        exact(&profile, &rows).features["x"].psi,
        "psi",
    );
    assert_eq!(r.report.estimated_performance, None);
}

#[test]
fn malformed_stored_aggregates_are_errors_not_panics() {
    let profile = baseline();
    let bytes = aggregate_of(&profile, &window(50), 64, 9).encode();
    for cut in [0, 1, 9, 20, bytes.len() / 2, bytes.len() - 1] {
        assert!(Aggregate::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Aggregate::decode(&longer).is_err());
    let mut huge = bytes;
    huge[9] = 1;
    huge[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Aggregate::decode(&huge).is_err());
    assert!(Aggregate::decode(&[2]).is_err());
}
