//! Health levels and their reasons, case by case.

use super::*;
use crate::alerts::default_rules;
use crate::monitor::ColumnReport;
use crate::stats::evidently::{ColumnDrift, ColumnKind, DriftTest};
use crate::stats::fairness::GroupRates;
use std::collections::BTreeMap;

const NOW: u64 = 100_000;

fn traffic(requests: u64, errors: u64) -> WindowSummary {
    WindowSummary {
        requests,
        errors,
        p99_ms: (requests > 0).then_some(12.8),
    }
}

fn column(score: f64) -> ColumnReport {
    ColumnReport {
        kind: ColumnKind::Numerical,
        psi: score * 2.0,
        js_distance: 0.0,
        ks_statistic: None,
        ks_pvalue: None,
        wasserstein: None,
        chi2_statistic: None,
        chi2_pvalue: None,
        verdict: ColumnDrift {
            test: DriftTest::WassersteinNormed,
            score,
            threshold: 0.1,
            drifted: score >= 0.1,
            distinct_values: 100,
        },
    }
}

fn fairness(rates: &[(&str, f64)]) -> FairnessReport<String> {
    let by_group: BTreeMap<String, GroupRates> = rates
        .iter()
        .map(|(g, r)| {
            (
                g.to_string(),
                GroupRates {
                    count: 100,
                    selection_rate: *r,
                    tpr: 0.5,
                    fpr: 0.5,
                },
            )
        })
        .collect();
    let min = rates.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    let max = rates.iter().map(|r| r.1).fold(0.0, f64::max);
    FairnessReport {
        by_group,
        demographic_parity_difference: max - min,
        demographic_parity_ratio: min / max,
        equalized_odds_difference: 0.0,
        equalized_odds_ratio: 1.0,
    }
}

/// A report with the given drift scores per feature and selection rates
/// per group of the attribute `sex`.
fn report(scores: &[(&str, f64)], rates: &[(&str, f64)]) -> WindowReport {
    let features: BTreeMap<String, ColumnReport> = scores
        .iter()
        .map(|(n, s)| (n.to_string(), column(*s)))
        .collect();
    let drifted = features.values().filter(|c| c.verdict.drifted).count();
    let share = drifted as f64 / features.len().max(1) as f64;
    WindowReport {
        rows: 1000,
        labeled_rows: 1000,
        features,
        outputs: BTreeMap::new(),
        drift_share: Some(share),
        dataset_drifted: Some(share >= 0.5),
        performance: None,
        fairness: if rates.is_empty() {
            BTreeMap::new()
        } else {
            BTreeMap::from([("sex".to_string(), fairness(rates))])
        },
        estimated_performance: None,
    }
}

fn check(
    traffic: &WindowSummary,
    report: Option<&WindowReport>,
    firing: &[FiringAlert],
    level: HealthLevel,
    reasons: &[&str],
) {
    let h = assess(&HealthInput {
        now_secs: NOW,
        traffic,
        traffic_window_secs: 3600,
        report,
        firing,
        positive_outcome: None,
    });
    assert_eq!(h.level, level, "{:#?}", h.reasons);
    assert_eq!(h.reasons, reasons);
}

fn firing(rule: &AlertRule, value: f64, minutes: u64) -> FiringAlert<'_> {
    FiringAlert {
        rule,
        value,
        since: NOW - minutes * 60,
        ack: false,
    }
}

#[test]
fn a_quiet_good_deployment_is_healthy() {
    let calm = report(
        &[("income", 0.01), ("age", 0.02)],
        &[("F", 0.5), ("M", 0.52)],
    );
    check(
        &traffic(12_400, 0),
        Some(&calm),
        &[],
        HealthLevel::Healthy,
        &["serving normally (12,400 requests in the last hour, none failed)"],
    );
    check(
        &traffic(1000, 3),
        None,
        &[],
        HealthLevel::Healthy,
        &["serving normally (1,000 requests in the last hour, 0.3% failed)"],
    );
    check(
        &traffic(0, 0),
        None,
        &[],
        HealthLevel::Healthy,
        &["no traffic in the last hour"],
    );
}

#[test]
fn notable_figures_need_attention_without_any_alert() {
    let drifted = report(
        &[
            ("income", 0.3),
            ("credit_utilization", 0.5),
            ("age", 0.01),
            ("tenure", 0.2),
            ("region", 0.12),
            ("a", 0.0),
            ("b", 0.0),
            ("c", 0.0),
            ("d", 0.0),
            ("e", 0.0),
        ],
        &[],
    );
    check(
        &traffic(1000, 52),
        Some(&drifted),
        &[],
        HealthLevel::NeedsAttention,
        &[
            "5.2% of requests failed in the last hour (52 of 1,000)",
            "4 of 10 input features have drifted (credit_utilization, income, tenure and 1 other)",
        ],
    );
    let unfair = report(&[("income", 0.0)], &[("0", 0.5), ("1", 0.36)]);
    check(
        &traffic(1000, 0),
        Some(&unfair),
        &[],
        HealthLevel::NeedsAttention,
        &["treats groups unequally by sex: the positive-prediction rate of group 1 is 72% of group 0's (below the four-fifths line)"],
    );
    let most = report(&[("x", 0.2), ("y", 0.3), ("z", 0.0)], &[]);
    check(
        &traffic(0, 0),
        Some(&most),
        &[],
        HealthLevel::NeedsAttention,
        &[
            "2 of 3 input features have drifted (y and x): the inputs no longer look like the training data",
            "no traffic in the last hour",
        ],
    );
}

#[test]
fn a_critical_alert_fails_the_deployment_in_the_figures_words() {
    let rules = default_rules();
    let [drift, psi, four_fifths, errors] = [&rules[0], &rules[1], &rules[2], &rules[3]];
    let r = report(
        &[("income", 0.3), ("age", 0.4), ("tenure", 0.0)],
        &[("F", 0.36), ("M", 0.5)],
    );
    let alerts = [
        firing(drift, 0.67, 15),
        firing(psi, 0.8, 12),
        firing(errors, 0.082, 3),
        firing(four_fifths, 0.72, 125),
    ];
    check(
        &traffic(1000, 10),
        Some(&r),
        &alerts,
        HealthLevel::Failing,
        &[
            "treats groups unequally by sex: the positive-prediction rate of group F is 72% of group M's (below the four-fifths line; alert \"four-fifths-rule\" firing for 2 hours)",
            "8.2% of requests failed in the last 5 minutes (alert \"error-rate-high\" firing for 3 minutes)",
            "2 of 3 input features have drifted (age and income): the inputs no longer look like the training data (alert \"input-drift\" firing for 15 minutes)",
        ],
    );
}

#[test]
fn other_alerts_read_as_metric_value_and_line() {
    let rule = |metric: &str, comparison, threshold, severity| AlertRule {
        name: "custom".into(),
        deployment: "credit".into(),
        metric: metric.parse().unwrap(),
        comparison,
        threshold,
        window_secs: 600,
        for_secs: 0,
        severity,
        guardrail: false,
    };
    let cases = [
        (
            rule("latency.p99_ms", Comparison::Gt, 500.0, Severity::Warning),
            1638.4,
            HealthLevel::NeedsAttention,
            "the slowest 1% of requests took 1.6 s or longer in the last 10 minutes (above the alert line of 500 ms; alert \"custom\" firing for 1 minute)",
        ),
        (
            rule("estimated_performance.accuracy", Comparison::Lt, 0.85, Severity::Warning),
            0.781,
            HealthLevel::NeedsAttention,
            "estimated accuracy is 78.1%, below the alert line of 85% (alert \"custom\" firing for 1 minute)",
        ),
        (
            rule("traffic.requests", Comparison::Lt, 1.0, Severity::Critical),
            0.0,
            HealthLevel::Failing,
            "no traffic in the last 10 minutes (alert \"custom\" firing for 1 minute)",
        ),
        (
            rule("features.income.ks_pvalue", Comparison::Lt, 0.05, Severity::Info),
            0.0001,
            HealthLevel::Healthy,
            "the Kolmogorov-Smirnov p-value of input feature income is 1.0e-4, below the alert line of 0.05 (alert \"custom\" firing for 1 minute)",
        ),
        (
            rule("features.income.drifted", Comparison::Ge, 1.0, Severity::Warning),
            1.0,
            HealthLevel::NeedsAttention,
            "input feature income has drifted (alert \"custom\" firing for 1 minute)",
        ),
    ];
    for (rule, value, level, reason) in cases {
        let mut alert = firing(&rule, value, 1);
        let h = assess(&HealthInput {
            now_secs: NOW,
            traffic: &traffic(0, 0),
            traffic_window_secs: 3600,
            report: None,
            firing: &[alert],
            positive_outcome: None,
        });
        assert_eq!(h.level, level, "{reason}");
        assert_eq!(h.reasons[0], reason);
        alert.ack = true;
        let h = assess(&HealthInput {
            now_secs: NOW,
            traffic: &traffic(0, 0),
            traffic_window_secs: 3600,
            report: None,
            firing: &[alert],
            positive_outcome: None,
        });
        assert!(
            h.reasons[0].ends_with("firing for 1 minute; acknowledged)"),
            "{}",
            h.reasons[0]
        );
    }
}

#[test]
fn a_psi_alert_without_drifted_features_names_the_shifted_feature() {
    let psi = &default_rules()[1];
    // Scores under Evidently's line, PSI (twice the score here) over 0.25 for income.
    let r = report(&[("income", 0.09), ("age", 0.01)], &[]);
    check(
        &traffic(500, 0),
        Some(&r),
        &[firing(psi, 0.18 + 0.1, 20)],
        HealthLevel::NeedsAttention,
        &["input feature income has shifted away from the training data (PSI 0.28, above the alert line of 0.25; alert \"feature-psi-high\" firing for 20 minutes)"],
    );
    let empty = report(&[], &[]);
    check(
        &traffic(500, 0),
        Some(&empty),
        &[firing(psi, 0.3, 20)],
        HealthLevel::NeedsAttention,
        &["the largest PSI of any input feature is 0.3, above the alert line of 0.25 (alert \"feature-psi-high\" firing for 20 minutes)"],
    );
}

#[test]
fn an_info_alert_is_mentioned_but_keeps_the_deployment_healthy() {
    let mut rule = default_rules()[3].clone();
    rule.severity = Severity::Info;
    check(
        &traffic(100, 2),
        None,
        &[firing(&rule, 0.06, 0)],
        HealthLevel::Healthy,
        &[
            "serving normally (100 requests in the last hour, 2% failed)",
            "6% of requests failed in the last 5 minutes (alert \"error-rate-high\" firing for less than a minute)",
        ],
    );
}

#[test]
fn the_positive_outcome_names_the_rate() {
    let unfair = report(&[], &[("0", 0.5), ("1", 0.3985)]);
    let h = assess(&HealthInput {
        now_secs: NOW,
        traffic: &traffic(10, 0),
        traffic_window_secs: 300,
        report: Some(&unfair),
        firing: &[],
        positive_outcome: Some("approval"),
    });
    assert_eq!(
        h.reasons,
        ["treats groups unequally by sex: the approval rate of group 1 is 79% of group 0's (below the four-fifths line)"]
    );
}

#[test]
fn firing_alerts_come_from_firing_states_only() {
    let rule = &default_rules()[0];
    let cases = [
        (AlertState::Inactive, false),
        (
            AlertState::Pending {
                since: 1,
                value: 0.6,
            },
            false,
        ),
        (AlertState::Resolved { at: 1, value: 0.1 }, false),
        (
            AlertState::Firing {
                since: 1,
                value: 0.6,
                ack: true,
            },
            true,
        ),
    ];
    for (state, want) in cases {
        assert_eq!(
            FiringAlert::from_state(rule, &state).is_some(),
            want,
            "{state:?}"
        );
    }
}

#[test]
fn figures_are_worded_for_people() {
    let periods = [
        (3600, "the last hour"),
        (300, "the last 5 minutes"),
        (60, "the last minute"),
        (90, "the last 90 seconds"),
        (86_400, "the last day"),
        (7200, "the last 2 hours"),
        (0, "the last second"),
    ];
    for (secs, want) in periods {
        assert_eq!(period(secs), want);
    }
    let counts = [
        (0, "0"),
        (999, "999"),
        (1000, "1,000"),
        (1_234_567, "1,234,567"),
    ];
    for (n, want) in counts {
        assert_eq!(count(n), want);
    }
    let percents = [
        (0.052, "5.2%"),
        (0.05, "5%"),
        (0.0, "0%"),
        (1.0, "100%"),
        (0.0001, "under 0.1%"),
    ];
    for (x, want) in percents {
        assert_eq!(percent(x), want);
    }
    let names = [
        (&["a"][..], "a"),
        (&["a", "b"][..], "a and b"),
        (&["a", "b", "c"][..], "a, b and c"),
        (&["a", "b", "c", "d", "e"][..], "a, b, c and 2 others"),
    ];
    for (n, want) in names {
        assert_eq!(list(n), want);
    }
    assert_eq!(milliseconds(f64::INFINITY), "more than 100 s");
    assert_eq!(milliseconds(0.1), "0.1 ms");
    assert_eq!(duration(7199), "firing for 1 hour");
    assert_eq!(duration(3 * 86_400), "firing for 3 days");
}
