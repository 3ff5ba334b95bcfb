//! Alerting end to end over real window reports: a baseline profiled with
//! `BaselineProfile::build`, a drifted and unfair window reported by
//! `monitor::window_report`, metric values read by name, the default rules
//! stepped through time, and the health verdict they lead to.

use std::collections::BTreeMap;

use hangar_core::alerts::{
    default_rules, step, value_of, AlertEventKind, AlertState, MetricRef, RULE_ERROR_RATE_HIGH,
    RULE_FEATURE_PSI_HIGH, RULE_FOUR_FIFTHS, RULE_INPUT_DRIFT,
};
use hangar_core::health::{assess, FiringAlert, HealthInput, HealthLevel};
use hangar_core::monitor::{window_report, BaselineProfile, WindowReport, WindowRows};
use hangar_core::stats::evidently::ColumnKind;
use hangar_core::window::{OutcomeWindow, WindowSummary};

const ROWS: usize = 2000;

fn p1(i: usize) -> f64 {
    (i % 100) as f64 / 100.0
}

/// Income (numeric), region (categorical), the model's p1 and labels.
fn baseline() -> BaselineProfile {
    let income: Vec<f64> = (0..ROWS).map(|i| (i % 97) as f64).collect();
    let region: Vec<f64> = (0..ROWS).map(|i| (i % 3) as f64).collect();
    let scores: Vec<f64> = (0..ROWS).map(p1).collect();
    let predicted: Vec<bool> = scores.iter().map(|p| *p > 0.5).collect();
    let labels: Vec<bool> = (0..ROWS).map(|i| i % 2 == 0).collect();
    BaselineProfile::build(
        vec![
            ("income".into(), ColumnKind::Numerical, income),
            ("region".into(), ColumnKind::Categorical, region),
        ],
        Some((scores, predicted)),
        Some(labels),
    )
    .unwrap()
}

/// Income shifted well away from the baseline, region unchanged. Group F of
/// `sex` is approved far less often than group M; `cohort` is balanced.
fn window(labelled: bool) -> WindowRows {
    let sex = |i: usize| match i % 100 {
        50..=69 => "M",
        _ => "F",
    };
    WindowRows {
        features: BTreeMap::from([
            (
                "income".to_string(),
                (0..ROWS).map(|i| (i % 97) as f64 + 60.0).collect(),
            ),
            (
                "region".to_string(),
                (0..ROWS).map(|i| (i % 3) as f64).collect(),
            ),
        ]),
        scores: (0..ROWS).map(p1).collect(),
        predicted: (0..ROWS).map(|i| p1(i) > 0.5).collect(),
        labels: (0..ROWS).map(|i| labelled.then_some(i % 2 == 0)).collect(),
        segments: BTreeMap::from([
            (
                "sex".to_string(),
                (0..ROWS).map(|i| sex(i).to_string()).collect(),
            ),
            (
                "cohort".to_string(),
                (0..ROWS).map(|i| (i % 2).to_string()).collect(),
            ),
        ]),
    }
}

/// 1000 requests in second 100, 60 of them failed.
fn traffic() -> WindowSummary {
    let mut w = OutcomeWindow::new(300);
    for i in 0..1000 {
        w.record(100, 2_000, i % 50 < 3);
    }
    w.summary(100, 300)
}

fn value(name: &str, report: &WindowReport, traffic: &WindowSummary) -> Option<f64> {
    let metric: MetricRef = name.parse().unwrap();
    value_of(&metric, Some(report), traffic)
}

#[test]
fn metric_names_read_the_window_report_and_traffic() {
    let report = window_report(&baseline(), &window(true));
    let traffic = traffic();
    let income = &report.features["income"];
    let performance = report.performance.as_ref().unwrap();
    let sex = report.fairness["sex"].demographic_parity_ratio;
    let cohort = report.fairness["cohort"].demographic_parity_ratio;
    assert!(income.verdict.drifted && income.psi > 0.25, "{income:?}");
    assert!(sex < 0.8 && cohort > 0.9, "sex {sex}, cohort {cohort}");

    let cases = [
        ("traffic.requests", Some(1000.0)),
        ("traffic.error_rate", Some(0.06)),
        ("latency.p99_ms", Some(3.2)),
        ("drift.share", Some(0.5)),
        ("drift.dataset", Some(1.0)),
        ("drift.psi.max", Some(income.psi)),
        ("features.income.drifted", Some(1.0)),
        ("features.region.drifted", Some(0.0)),
        ("features.income.ks_statistic", income.ks_statistic),
        ("features.income.wasserstein", income.wasserstein),
        ("features.region.ks_pvalue", None),
        (
            "features.region.chi2_pvalue",
            report.features["region"].chi2_pvalue,
        ),
        ("features.occupation.psi", None),
        ("performance.accuracy", Some(performance.accuracy)),
        ("performance.log_loss", Some(performance.log_loss)),
        (
            "estimated_performance.accuracy",
            Some(report.estimated_performance.unwrap().accuracy),
        ),
        ("fairness.sex.demographic_parity_ratio", Some(sex)),
        ("fairness.cohort.demographic_parity_ratio", Some(cohort)),
        ("fairness.any.demographic_parity_ratio", Some(sex)),
        ("fairness.nationality.demographic_parity_ratio", None),
    ];
    for (name, want) in cases {
        assert_eq!(value(name, &report, &traffic), want, "{name}");
    }
}

#[test]
fn without_labels_performance_and_fairness_are_missing_but_estimates_are_not() {
    let report = window_report(&baseline(), &window(false));
    let traffic = traffic();
    for name in [
        "performance.accuracy",
        "fairness.any.demographic_parity_ratio",
        "fairness.sex.equalized_odds_difference",
    ] {
        assert_eq!(value(name, &report, &traffic), None, "{name}");
    }
    assert!(value("estimated_performance.f1", &report, &traffic).is_some());
    assert_eq!(
        value("features.income.drifted", &report, &traffic),
        Some(1.0)
    );
}

#[test]
fn default_rules_fire_on_a_drifted_unfair_failing_window_and_fail_its_health() {
    let report = window_report(&baseline(), &window(true));
    let traffic = traffic();
    let rules = default_rules();
    let mut states = vec![AlertState::Inactive; rules.len()];
    let mut events = Vec::new();
    // Evaluate every minute for an hour and a minute on the same figures.
    let t0 = 1_700_000_000;
    for minute in 0..=61 {
        let now = t0 + minute * 60;
        for (rule, state) in rules.iter().zip(states.iter_mut()) {
            let v = value_of(&rule.metric, Some(&report), &traffic);
            let (next, event) = step(*state, rule, v, now);
            *state = next;
            if let Some(e) = event {
                events.push((rule.name.as_str(), e.kind, e.at - t0));
            }
        }
    }
    use AlertEventKind::{Firing, Pending};
    assert_eq!(
        events,
        [
            (RULE_INPUT_DRIFT, Pending, 0),
            (RULE_FEATURE_PSI_HIGH, Pending, 0),
            (RULE_FOUR_FIFTHS, Pending, 0),
            (RULE_ERROR_RATE_HIGH, Pending, 0),
            (RULE_ERROR_RATE_HIGH, Firing, 120),
            (RULE_INPUT_DRIFT, Firing, 600),
            (RULE_FEATURE_PSI_HIGH, Firing, 600),
            (RULE_FOUR_FIFTHS, Firing, 3600),
        ]
    );

    let firing: Vec<FiringAlert> = rules
        .iter()
        .zip(&states)
        .filter_map(|(rule, state)| FiringAlert::from_state(rule, state))
        .collect();
    assert_eq!(firing.len(), 4);
    let health = assess(&HealthInput {
        now_secs: t0 + 61 * 60,
        traffic: &traffic,
        traffic_window_secs: 300,
        report: Some(&report),
        firing: &firing,
        positive_outcome: Some("approval"),
    });
    assert_eq!(health.level, HealthLevel::Failing);
    let ratio = (report.fairness["sex"].demographic_parity_ratio * 100.0).floor();
    assert_eq!(
        health.reasons,
        [
            // Critical first, longest firing first.
            "6% of requests failed in the last 5 minutes (alert \"error-rate-high\" firing for 59 minutes)".to_string(),
            format!("treats groups unequally by sex: the approval rate of group F is {ratio}% of group M's (below the four-fifths line; alert \"four-fifths-rule\" firing for 1 minute)"),
            // Both drift alerts fired at once; the figure is told once.
            "1 of 2 input features has drifted (income): the inputs no longer look like the training data (alert \"feature-psi-high\" firing for 51 minutes)".to_string(),
        ]
    );

    // Once the figures recover, every alert resolves and health follows.
    let calm = window_report(&baseline(), &{
        let mut w = window(true);
        w.features.insert(
            "income".into(),
            (0..ROWS).map(|i| (i % 97) as f64).collect(),
        );
        w.segments.remove("sex");
        w
    });
    let quiet = WindowSummary {
        requests: 1000,
        errors: 0,
        p99_ms: Some(3.2),
    };
    let now = t0 + 62 * 60;
    for (rule, state) in rules.iter().zip(states.iter_mut()) {
        let (next, event) = step(
            *state,
            rule,
            value_of(&rule.metric, Some(&calm), &quiet),
            now,
        );
        assert_eq!(
            event.map(|e| e.kind),
            Some(AlertEventKind::Resolved),
            "{}",
            rule.name
        );
        *state = next;
    }
    let health = assess(&HealthInput {
        now_secs: now,
        traffic: &quiet,
        traffic_window_secs: 3600,
        report: Some(&calm),
        firing: &[],
        positive_outcome: None,
    });
    assert_eq!(health.level, HealthLevel::Healthy);
    assert_eq!(
        health.reasons,
        ["serving normally (1,000 requests in the last hour, none failed)"]
    );
}
