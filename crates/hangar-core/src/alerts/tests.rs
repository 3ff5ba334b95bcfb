//! Alert rules, their metrics and the life of an alert, case by case.

use super::*;
use crate::monitor::{ColumnReport, WindowReport};
use crate::stats::cbpe::CbpeEstimate;
use crate::stats::evidently::{ColumnDrift, ColumnKind, DriftTest};
use crate::stats::fairness::GroupRates;
use crate::stats::FairnessReport;
use crate::window::WindowSummary;
use std::collections::BTreeMap;

fn metric(s: &str) -> MetricRef {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn every_metric_pattern_parses_and_prints_back() {
    for pattern in METRIC_PATTERNS {
        let name = pattern
            .replace("<feature>", "credit.utilization")
            .replace("<attribute>", "sex");
        assert_eq!(metric(&name).to_string(), name);
    }
}

#[test]
fn metric_names_parse_to_their_parts() {
    let cases = [
        ("traffic.requests", MetricRef::TrafficRequests),
        ("latency.p99_ms", MetricRef::LatencyP99Ms),
        ("drift.psi.max", MetricRef::DriftPsiMax),
        (
            "features.a.b.psi",
            MetricRef::Feature {
                feature: "a.b".into(),
                stat: FeatureStat::Psi,
            },
        ),
        (
            "features.Annual Income.drifted",
            MetricRef::Feature {
                feature: "Annual Income".into(),
                stat: FeatureStat::Drifted,
            },
        ),
        (
            "performance.roc_auc",
            MetricRef::Performance(PerformanceMetric::RocAuc),
        ),
        (
            "estimated_performance.f1",
            MetricRef::EstimatedPerformance(EstimatedMetric::F1),
        ),
        (
            "fairness.any.equalized_odds_difference",
            MetricRef::Fairness {
                scope: FairnessScope::Any,
                metric: FairnessMetric::EqualizedOddsDifference,
            },
        ),
        (
            "fairness.age_band.demographic_parity_ratio",
            MetricRef::Fairness {
                scope: FairnessScope::Attribute("age_band".into()),
                metric: FairnessMetric::DemographicParityRatio,
            },
        ),
    ];
    for (s, want) in cases {
        assert_eq!(metric(s), want, "{s}");
    }
}

#[test]
fn unknown_metrics_say_what_to_write() {
    let cases = [
        ("", "a metric name starts with"),
        ("cpu.load", "a metric name starts with"),
        ("traffic.qps", "traffic.requests and traffic.error_rate"),
        ("latency.p50_ms", "latency.p99_ms"),
        ("drift.psi", "drift.psi.max"),
        (
            "features.income",
            "write features.income.<statistic>, the statistic one of psi",
        ),
        ("features.psi", "write features.<feature>.<statistic>"),
        ("fairness.sex", "write fairness.sex.<figure>"),
        (
            "features.income.mean",
            "\"mean\" is not a feature statistic",
        ),
        ("features..psi", "the feature name is empty"),
        ("features", "write features.<feature>.<statistic>"),
        ("performance.auc", "performance figures are accuracy"),
        ("estimated_performance.log_loss", "need labels"),
        ("fairness.sex.ratio", "\"ratio\" is not a fairness figure"),
        (".demographic_parity_ratio", "a metric name starts with"),
        (
            "fairness..demographic_parity_ratio",
            "the attribute name is empty",
        ),
        (
            "fairness.demographic_parity_ratio",
            "write fairness.<attribute>",
        ),
        ("Traffic.Requests", "a metric name starts with"),
    ];
    for (s, want) in cases {
        let err = s.parse::<MetricRef>().unwrap_err().to_string();
        assert!(err.contains(want), "{s:?}: {err}");
    }
}

#[test]
fn comparisons_and_severities_parse_and_print() {
    for c in Comparison::ALL {
        assert_eq!(c.as_str().parse::<Comparison>(), Ok(c));
    }
    let words = [
        ("gt", Comparison::Gt),
        ("GE", Comparison::Ge),
        (" lt ", Comparison::Lt),
        ("le", Comparison::Le),
    ];
    for (s, want) in words {
        assert_eq!(s.parse::<Comparison>(), Ok(want), "{s:?}");
    }
    for s in ["=", "==", "=>", "above", ""] {
        assert!(
            matches!(
                s.parse::<Comparison>(),
                Err(AlertError::UnknownComparison(_))
            ),
            "{s:?}"
        );
    }
    for s in Severity::ALL {
        assert_eq!(s.to_string().parse::<Severity>(), Ok(s));
    }
    assert_eq!("Critical".parse::<Severity>(), Ok(Severity::Critical));
    assert_eq!(
        "page".parse::<Severity>().unwrap_err().to_string(),
        "unknown severity \"page\": use one of info, warning, critical"
    );
    assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
}

#[test]
fn comparisons_hold_as_written() {
    let cases = [
        (Comparison::Gt, 0.5, false),
        (Comparison::Gt, 0.6, true),
        (Comparison::Ge, 0.5, true),
        (Comparison::Ge, 0.4, false),
        (Comparison::Lt, 0.5, false),
        (Comparison::Lt, 0.4, true),
        (Comparison::Le, 0.5, true),
        (Comparison::Le, 0.6, false),
        (Comparison::Gt, f64::NAN, false),
        (Comparison::Le, f64::NAN, false),
    ];
    for (c, v, want) in cases {
        assert_eq!(c.holds(v, 0.5), want, "{v} {c} 0.5");
    }
}

fn rule(metric: &str, comparison: Comparison, threshold: f64) -> AlertRule {
    AlertRule {
        name: "r".into(),
        deployment: "credit".into(),
        metric: self::metric(metric),
        comparison,
        threshold,
        window_secs: 60,
        for_secs: 0,
        severity: Severity::Warning,
        guardrail: false,
    }
}

#[test]
fn default_rules_are_valid_and_apply_everywhere() {
    let rules = default_rules();
    let names: Vec<_> = rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            RULE_INPUT_DRIFT,
            RULE_FEATURE_PSI_HIGH,
            RULE_FOUR_FIFTHS,
            RULE_ERROR_RATE_HIGH
        ]
    );
    let conditions: Vec<_> = rules.iter().map(AlertRule::condition).collect();
    assert_eq!(
        conditions,
        [
            "drift.share >= 0.5",
            "drift.psi.max > 0.25",
            "fairness.any.demographic_parity_ratio < 0.8",
            "traffic.error_rate > 0.05"
        ]
    );
    for r in &rules {
        assert_eq!(r.validate(), Ok(()), "{}", r.name);
        assert!(r.applies_to("credit") && r.applies_to("fraud"));
        assert!(!r.guardrail);
    }
    let severities: Vec<_> = rules.iter().map(|r| r.severity).collect();
    use Severity::*;
    assert_eq!(severities, [Warning, Warning, Critical, Critical]);
}

#[test]
fn a_rule_for_one_deployment_applies_only_to_it() {
    let r = rule("traffic.requests", Comparison::Lt, 1.0);
    assert!(r.applies_to("credit"));
    assert!(!r.applies_to("fraud"));
}

#[test]
fn invalid_rules_are_refused_with_a_reason() {
    type Edit = fn(&mut AlertRule);
    let cases: [(&str, Edit, &str); 17] = [
        ("valid", |_| {}, ""),
        ("bad name", |r| r.name = "High Errors".into(), "a rule name must match"),
        ("empty name", |r| r.name.clear(), "a rule name must match"),
        ("bad deployment", |r| r.deployment = "Credit/1".into(), "invalid deployment name \"Credit/1\""),
        ("every deployment", |r| r.deployment = "*".into(), ""),
        ("nan threshold", |r| r.threshold = f64::NAN, "finite number"),
        ("infinite threshold", |r| r.threshold = f64::INFINITY, "finite number"),
        ("percent written as 5", |r| r.threshold = 5.0, "threshold 5 is out of range: traffic.error_rate is a share from 0 to 1; for 5% write 0.05"),
        ("negative", |r| r.threshold = -0.1, "out of range"),
        ("never true", |r| r.threshold = 1.0, "traffic.error_rate > 1 is never true"),
        ("always true", |r| {
            r.comparison = Comparison::Ge;
            r.threshold = 0.0;
        }, "traffic.error_rate >= 0 is always true"),
        ("zero window", |r| r.window_secs = 0, "window_secs must be 1 to 604800"),
        ("long window", |r| r.window_secs = MAX_RULE_SECS + 1, "window_secs must be 1 to 604800"),
        ("long hold", |r| r.for_secs = MAX_RULE_SECS + 1, "for_secs must be 0 to 604800"),
        ("empty feature in code", |r| r.metric = MetricRef::Feature { feature: String::new(), stat: FeatureStat::Psi }, "the feature name is empty"),
        ("flag threshold", |r| {
            r.metric = MetricRef::DriftDataset;
            r.comparison = Comparison::Ge;
            r.threshold = 2.0;
        }, "drift.dataset is 0 or 1"),
        ("unbounded metric accepts large thresholds", |r| {
            r.metric = MetricRef::LatencyP99Ms;
            r.threshold = 5000.0;
        }, ""),
    ];
    for (case, edit, want) in cases {
        let mut r = rule("traffic.error_rate", Comparison::Gt, 0.05);
        edit(&mut r);
        match r.validate() {
            Ok(()) => assert_eq!(want, "", "{case}: accepted"),
            Err(e) => {
                let e = e.to_string();
                assert!(!want.is_empty() && e.contains(want), "{case}: {e}");
                assert!(e.starts_with("invalid alert rule"), "{case}: {e}");
            }
        }
    }
}

const T0: u64 = 1_000;

/// Runs `values` (time, value) through `step` from `Inactive` and returns
/// the final state and the events.
fn run(r: &AlertRule, values: &[(u64, Option<f64>)]) -> (AlertState, Vec<(AlertEventKind, u64)>) {
    let mut state = AlertState::Inactive;
    let mut events = Vec::new();
    for &(t, v) in values {
        let (next, event) = step(state, r, v, t);
        state = next;
        events.extend(event.map(|e| (e.kind, e.at)));
    }
    (state, events)
}

#[test]
fn each_transition_of_the_state_machine() {
    use AlertEventKind::{Firing as F, Pending as P, Resolved as R};
    let hold = {
        let mut r = rule("traffic.error_rate", Comparison::Gt, 0.05);
        r.for_secs = 60;
        r
    };
    let at_once = rule("traffic.error_rate", Comparison::Gt, 0.05);
    let (hi, lo) = (Some(0.1), Some(0.01));
    type Case<'a> = (
        &'a str,
        &'a AlertRule,
        Vec<(u64, Option<f64>)>,
        &'a str,
        Vec<(AlertEventKind, u64)>,
    );
    let cases: Vec<Case> = vec![
        ("stays inactive", &hold, vec![(T0, lo)], "inactive", vec![]),
        (
            "pending first",
            &hold,
            vec![(T0, hi)],
            "pending",
            vec![(P, T0)],
        ),
        (
            "not yet for_secs",
            &hold,
            vec![(T0, hi), (T0 + 59, hi)],
            "pending",
            vec![(P, T0)],
        ),
        (
            "fires after for_secs",
            &hold,
            vec![(T0, hi), (T0 + 60, hi)],
            "firing",
            vec![(P, T0), (F, T0 + 60)],
        ),
        (
            "pending clears silently",
            &hold,
            vec![(T0, hi), (T0 + 30, lo)],
            "inactive",
            vec![(P, T0)],
        ),
        (
            "pending restarts after clearing",
            &hold,
            vec![(T0, hi), (T0 + 30, lo), (T0 + 61, hi), (T0 + 90, hi)],
            "pending",
            vec![(P, T0), (P, T0 + 61)],
        ),
        (
            "for_secs 0 fires at once",
            &at_once,
            vec![(T0, hi)],
            "firing",
            vec![(F, T0)],
        ),
        (
            "firing stays firing",
            &at_once,
            vec![(T0, hi), (T0 + 10, hi)],
            "firing",
            vec![(F, T0)],
        ),
        (
            "resolves",
            &at_once,
            vec![(T0, hi), (T0 + 10, lo)],
            "resolved",
            vec![(F, T0), (R, T0 + 10)],
        ),
        (
            "resolved then inactive",
            &at_once,
            vec![(T0, hi), (T0 + 10, lo), (T0 + 20, lo)],
            "inactive",
            vec![(F, T0), (R, T0 + 10)],
        ),
        (
            "fires again after resolving",
            &at_once,
            vec![(T0, hi), (T0 + 10, lo), (T0 + 20, hi)],
            "firing",
            vec![(F, T0), (R, T0 + 10), (F, T0 + 20)],
        ),
        (
            "resolved goes pending with a hold",
            &hold,
            vec![(T0, hi), (T0 + 60, hi), (T0 + 70, lo), (T0 + 80, hi)],
            "pending",
            vec![(P, T0), (F, T0 + 60), (R, T0 + 70), (P, T0 + 80)],
        ),
        (
            "none does not fire",
            &at_once,
            vec![(T0, None)],
            "inactive",
            vec![],
        ),
        (
            "none does not resolve",
            &at_once,
            vec![(T0, hi), (T0 + 10, None)],
            "firing",
            vec![(F, T0)],
        ),
        (
            "nan counts as none",
            &at_once,
            vec![(T0, hi), (T0 + 10, Some(f64::NAN))],
            "firing",
            vec![(F, T0)],
        ),
        (
            "none keeps pending's start",
            &hold,
            vec![(T0, hi), (T0 + 30, None), (T0 + 60, hi)],
            "firing",
            vec![(P, T0), (F, T0 + 60)],
        ),
        (
            "none keeps resolved",
            &at_once,
            vec![(T0, hi), (T0 + 10, lo), (T0 + 20, None)],
            "resolved",
            vec![(F, T0), (R, T0 + 10)],
        ),
        (
            "clock stepping back",
            &hold,
            vec![(T0, hi), (T0 - 100, hi)],
            "pending",
            vec![(P, T0)],
        ),
    ];
    for (case, r, values, state, events) in cases {
        let (got_state, got_events) = run(r, &values);
        assert_eq!(got_state.name(), state, "{case}");
        assert_eq!(got_events, events, "{case}");
    }
}

#[test]
fn events_and_states_carry_the_value_and_time() {
    let r = rule("traffic.error_rate", Comparison::Gt, 0.05);
    let (s, e) = step(AlertState::Inactive, &r, Some(0.1), T0);
    assert_eq!(
        s,
        AlertState::Firing {
            since: T0,
            value: 0.1,
            ack: false
        }
    );
    assert_eq!(
        e,
        Some(AlertEvent {
            kind: AlertEventKind::Firing,
            value: 0.1,
            at: T0
        })
    );
    let (s, e) = step(s, &r, Some(0.2), T0 + 5);
    assert_eq!(
        s,
        AlertState::Firing {
            since: T0,
            value: 0.2,
            ack: false
        }
    );
    assert_eq!(e, None);
    let (s, e) = step(s, &r, Some(0.0), T0 + 9);
    assert_eq!(
        s,
        AlertState::Resolved {
            at: T0 + 9,
            value: 0.0
        }
    );
    assert_eq!(
        e.map(|e| (e.kind, e.value)),
        Some((AlertEventKind::Resolved, 0.0))
    );
}

#[test]
fn acknowledging_marks_a_firing_alert_and_nothing_else() {
    let r = rule("traffic.error_rate", Comparison::Gt, 0.05);
    let mut pending = AlertState::Pending {
        since: T0,
        value: 0.1,
    };
    assert!(!pending.acknowledge());
    assert!(!AlertState::Inactive.acknowledge());
    let (mut s, _) = step(AlertState::Inactive, &r, Some(0.1), T0);
    assert!(s.acknowledge());
    assert!(s.is_firing());
    let (s, e) = step(s, &r, Some(0.3), T0 + 1);
    assert_eq!(
        (s, e),
        (
            AlertState::Firing {
                since: T0,
                value: 0.3,
                ack: true
            },
            None
        ),
        "the acknowledgement survives while firing"
    );
    let (s, _) = step(s, &r, Some(0.0), T0 + 2);
    let (s, _) = step(s, &r, Some(0.3), T0 + 3);
    assert_eq!(
        s,
        AlertState::Firing {
            since: T0 + 3,
            value: 0.3,
            ack: false
        },
        "a new firing starts unacknowledged"
    );
}

fn column(psi: f64, drifted: bool, numeric: bool) -> ColumnReport {
    ColumnReport {
        kind: if numeric {
            ColumnKind::Numerical
        } else {
            ColumnKind::Categorical
        },
        psi,
        js_distance: 0.1,
        ks_statistic: numeric.then_some(0.2),
        ks_pvalue: numeric.then_some(0.03),
        wasserstein: numeric.then_some(1.5),
        chi2_statistic: (!numeric).then_some(9.0),
        chi2_pvalue: (!numeric).then_some(0.01),
        verdict: ColumnDrift {
            test: DriftTest::JensenShannon,
            score: 0.2,
            threshold: 0.1,
            drifted,
            distinct_values: 10,
        },
    }
}

fn fairness(dp_ratio: f64, dp_diff: f64, eo_ratio: f64, eo_diff: f64) -> FairnessReport<String> {
    FairnessReport {
        by_group: BTreeMap::from([(
            "a".to_string(),
            GroupRates {
                count: 10,
                selection_rate: 0.5,
                tpr: 0.5,
                fpr: 0.5,
            },
        )]),
        demographic_parity_difference: dp_diff,
        demographic_parity_ratio: dp_ratio,
        equalized_odds_difference: eo_diff,
        equalized_odds_ratio: eo_ratio,
    }
}

#[test]
fn values_come_from_the_report_and_the_traffic() {
    let report = WindowReport {
        rows: 100,
        labeled_rows: 0,
        features: BTreeMap::from([
            ("income".to_string(), column(0.31, true, true)),
            ("region".to_string(), column(0.02, false, false)),
        ]),
        outputs: BTreeMap::new(),
        drift_share: Some(0.5),
        dataset_drifted: Some(true),
        performance: None,
        fairness: BTreeMap::from([
            ("sex".to_string(), fairness(0.7, 0.2, 0.9, 0.05)),
            ("age".to_string(), fairness(0.9, 0.1, 0.6, 0.3)),
        ]),
        estimated_performance: Some(CbpeEstimate {
            accuracy: 0.9,
            precision: 0.8,
            recall: 0.7,
            f1: 0.75,
            roc_auc: None,
        }),
    };
    let traffic = WindowSummary {
        requests: 200,
        errors: 10,
        p99_ms: Some(12.8),
    };
    let quiet = WindowSummary {
        requests: 0,
        errors: 0,
        p99_ms: None,
    };
    let r = Some(&report);
    let cases: [(&str, Option<&WindowReport>, &WindowSummary, Option<f64>); 24] = [
        ("traffic.requests", r, &traffic, Some(200.0)),
        ("traffic.requests", None, &quiet, Some(0.0)),
        ("traffic.error_rate", None, &traffic, Some(0.05)),
        ("traffic.error_rate", r, &quiet, None),
        ("latency.p99_ms", None, &traffic, Some(12.8)),
        ("latency.p99_ms", r, &quiet, None),
        ("drift.share", r, &traffic, Some(0.5)),
        ("drift.share", None, &traffic, None),
        ("drift.dataset", r, &traffic, Some(1.0)),
        ("drift.psi.max", r, &traffic, Some(0.31)),
        ("features.income.psi", r, &traffic, Some(0.31)),
        ("features.income.drifted", r, &traffic, Some(1.0)),
        ("features.region.drifted", r, &traffic, Some(0.0)),
        ("features.income.ks_pvalue", r, &traffic, Some(0.03)),
        ("features.region.ks_pvalue", r, &traffic, None),
        ("features.region.chi2_pvalue", r, &traffic, Some(0.01)),
        ("features.age.psi", r, &traffic, None),
        ("performance.accuracy", r, &traffic, None),
        ("estimated_performance.recall", r, &traffic, Some(0.7)),
        ("estimated_performance.roc_auc", r, &traffic, None),
        (
            "fairness.sex.demographic_parity_ratio",
            r,
            &traffic,
            Some(0.7),
        ),
        (
            "fairness.any.demographic_parity_ratio",
            r,
            &traffic,
            Some(0.7),
        ),
        ("fairness.any.equalized_odds_ratio", r, &traffic, Some(0.6)),
        (
            "fairness.any.demographic_parity_difference",
            r,
            &traffic,
            Some(0.2),
        ),
    ];
    for (name, report, traffic, want) in cases {
        assert_eq!(value_of(&metric(name), report, traffic), want, "{name}");
    }
    let empty = WindowReport {
        features: BTreeMap::new(),
        fairness: BTreeMap::new(),
        ..report.clone()
    };
    for name in ["drift.psi.max", "fairness.any.demographic_parity_ratio"] {
        assert_eq!(
            value_of(&metric(name), Some(&empty), &traffic),
            None,
            "{name}"
        );
    }
}

#[test]
fn only_traffic_metrics_do_without_a_report() {
    for pattern in METRIC_PATTERNS {
        let m = metric(
            &pattern
                .replace("<feature>", "x")
                .replace("<attribute>", "g"),
        );
        assert_eq!(
            m.needs_report(),
            !pattern.starts_with("traffic.") && !pattern.starts_with("latency."),
            "{pattern}"
        );
    }
}

#[test]
fn event_messages_name_rule_deployment_and_value() {
    let r = &default_rules()[3];
    let e = AlertEvent {
        kind: AlertEventKind::Firing,
        value: 0.08,
        at: T0,
    };
    assert_eq!(
        event_message(r, "credit", &e),
        "[critical] error-rate-high on credit is firing: traffic.error_rate = 0.08 (rule: traffic.error_rate > 0.05 over 300 s)"
    );
}
