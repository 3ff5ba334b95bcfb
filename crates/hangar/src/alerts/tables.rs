//! How `hangar alerts` prints alerts, rules, history, channels and deliveries.

use std::cmp::Ordering;

use hangar_core::alerts::{Comparison, MetricRef, MetricScale};

use super::ANY_DEPLOYMENT;
use crate::client::{Alert, AlertEvent, AlertRule, AlertRuleList, Channel, Delivery};
use crate::output::{self, Table};

/// Live alerts, most serious first: firing before pending before resolved,
/// critical before warning before info.
pub fn alerts_table(alerts: &[Alert]) -> String {
    if alerts.is_empty() {
        return "no alerts: nothing is pending or firing (the rules: `hangar alerts rules`)\n"
            .to_owned();
    }
    let mut sorted: Vec<&Alert> = alerts.iter().collect();
    sorted.sort_by(|a, b| {
        state_rank(&a.state)
            .cmp(&state_rank(&b.state))
            .then_with(|| {
                severity_rank(a.severity.as_deref()).cmp(&severity_rank(b.severity.as_deref()))
            })
            .then_with(|| a.deployment.cmp(&b.deployment))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    let mut table = Table::new([
        "STATE",
        "SEVERITY",
        "DEPLOYMENT",
        "RULE",
        "VALUE",
        "SINCE",
        "ACK",
    ]);
    for a in sorted {
        let metric = a.condition.as_deref().and_then(condition_metric);
        table.row(vec![
            a.state.clone(),
            a.severity.clone().unwrap_or_else(|| "-".to_owned()),
            a.deployment.clone(),
            a.rule.clone(),
            a.value
                .map_or_else(|| "-".to_owned(), |v| value(metric.as_ref(), v)),
            a.since
                .flatten()
                .as_ref()
                .map_or_else(|| "-".to_owned(), output::when),
            match a.acknowledged {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            }
            .to_owned(),
        ]);
    }
    table.render()
}

fn state_rank(state: &str) -> u8 {
    match state {
        "firing" => 0,
        "pending" => 1,
        "resolved" => 2,
        _ => 3,
    }
}

fn severity_rank(severity: Option<&str>) -> u8 {
    match severity {
        Some("critical") => 0,
        Some("warning") => 1,
        Some("info") => 2,
        _ => 3,
    }
}

/// The custom rules, then the defaults, each with its condition in words.
pub fn rules_table(list: &AlertRuleList) -> Table {
    let mut table = Table::new([
        "NAME",
        "DEPLOYMENT",
        "SEVERITY",
        "CONDITION",
        "WINDOW",
        "FOR",
        "SOURCE",
    ]);
    let mut custom: Vec<&AlertRule> = list.rules.iter().collect();
    custom.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| match (a.deployment.as_str(), b.deployment.as_str()) {
                (ANY_DEPLOYMENT, ANY_DEPLOYMENT) => Ordering::Equal,
                (ANY_DEPLOYMENT, _) => Ordering::Less,
                (_, ANY_DEPLOYMENT) => Ordering::Greater,
                (x, y) => x.cmp(y),
            })
    });
    for r in custom {
        let source = if r.guardrail {
            "custom, guardrail"
        } else {
            "custom"
        };
        table.row(rule_row(r, source.to_owned()));
    }
    for r in &list.defaults {
        let replaced: Vec<&str> = list
            .rules
            .iter()
            .filter(|c| c.name == r.name)
            .map(|c| c.deployment.as_str())
            .collect();
        let source = if replaced.contains(&ANY_DEPLOYMENT) {
            "default, replaced".to_owned()
        } else if replaced.is_empty() {
            "default".to_owned()
        } else {
            format!("default, replaced for {}", replaced.join(", "))
        };
        table.row(rule_row(r, source));
    }
    table
}

fn rule_row(r: &AlertRule, source: String) -> Vec<String> {
    vec![
        r.name.clone(),
        if r.deployment == ANY_DEPLOYMENT {
            "all".to_owned()
        } else {
            r.deployment.clone()
        },
        r.severity.clone(),
        rule_words(r),
        output::duration(r.window_secs),
        output::duration(r.for_secs),
        source,
    ]
}

/// A rule's condition in words: `the share of failed requests above 5%`.
/// Metrics this CLI does not know keep the server's description and the symbol.
pub fn rule_words(r: &AlertRule) -> String {
    condition_words(r, "")
}

/// The condition as a clause: `the share of failed requests is above 5%`.
pub(super) fn rule_clause(r: &AlertRule) -> String {
    condition_words(r, "is ")
}

/// `<what> <verb><comparison> <threshold>`; for a flag, `<what>: yes|no`, or
/// as a clause `there is [no] <what>`.
fn condition_words(r: &AlertRule, verb: &str) -> String {
    let metric = r.metric.parse::<MetricRef>().ok();
    let what = match (&metric, r.description.is_empty()) {
        (_, false) => r.description.clone(),
        (Some(m), true) => m.describe(),
        (None, true) => r.metric.clone(),
    };
    let Ok(comparison) = r.comparison.parse::<Comparison>() else {
        return format!(
            "{what} {verb}{} {}",
            r.comparison,
            output::number(r.threshold)
        );
    };
    let threshold = match metric.as_ref().map(MetricRef::scale) {
        // A flag (0 or 1) reads as whether it is set.
        Some(MetricScale::Flag) => {
            match (
                comparison.holds(1.0, r.threshold),
                comparison.holds(0.0, r.threshold),
            ) {
                (true, false) if verb.is_empty() => return format!("{what}: yes"),
                (false, true) if verb.is_empty() => return format!("{what}: no"),
                (true, false) => return format!("there is {what}"),
                (false, true) => return format!("there is no {what}"),
                _ => output::number(r.threshold),
            }
        }
        _ => value(metric.as_ref(), r.threshold),
    };
    format!("{what} {verb}{} {threshold}", comparison.words())
}

/// The metric of a condition as written (`features.credit score.psi > 0.2`).
fn condition_metric(condition: &str) -> Option<MetricRef> {
    let mut parts = condition.rsplitn(3, ' ');
    let (_threshold, _comparison) = (parts.next()?, parts.next()?);
    parts.next()?.parse().ok()
}

/// A metric's value as people read it: shares as percentages, flags as yes or
/// no, milliseconds with their unit; a metric this CLI does not know as a number.
fn value(metric: Option<&MetricRef>, x: f64) -> String {
    match metric.map(MetricRef::scale) {
        Some(MetricScale::Percent) => output::percent(x),
        Some(MetricScale::Flag) => if x >= 0.5 { "yes" } else { "no" }.to_owned(),
        Some(MetricScale::Milliseconds) => format!("{} ms", output::number(x)),
        Some(MetricScale::Count | MetricScale::Proportion | MetricScale::NonNegative) | None => {
            output::number(x)
        }
    }
}

/// The history, newest first, as the server sent it.
pub fn history_table(events: &[AlertEvent]) -> Table {
    let mut table = Table::new([
        "AT",
        "EVENT",
        "SEVERITY",
        "DEPLOYMENT",
        "RULE",
        "VALUE",
        "MESSAGE",
    ]);
    for e in events {
        table.row(vec![
            output::when(&e.at),
            e.kind.clone(),
            if e.severity.is_empty() {
                "-".to_owned()
            } else {
                e.severity.clone()
            },
            e.deployment.clone(),
            e.rule.clone(),
            e.value.map_or_else(|| "-".to_owned(), output::number),
            e.message.clone(),
        ]);
    }
    table
}

/// Where a channel's events go: its URL, and an e-mail channel's recipients.
pub(super) fn destination(c: &Channel) -> String {
    match c.to.as_deref() {
        None | Some([]) => c.url.clone(),
        Some(to) => format!("{} → {}", c.url, to.join(", ")),
    }
}

pub fn channels_table(channels: &[Channel]) -> Table {
    let mut table = Table::new(["NAME", "KIND", "URL", "CREATED", "BY"]);
    for c in channels {
        table.row(vec![
            c.name.clone(),
            c.kind.clone(),
            destination(c),
            c.created_at.as_ref().map_or_else(String::new, output::when),
            c.created_by.clone().unwrap_or_default(),
        ]);
    }
    table
}

pub fn deliveries_table(deliveries: &[Delivery]) -> Table {
    let mut table = Table::new(["AT", "CHANNEL", "EVENT", "ATTEMPT", "RESULT", "DETAIL"]);
    for d in deliveries {
        table.row(vec![
            output::when(&d.at),
            d.channel.clone(),
            d.event_id.to_string(),
            d.attempt.to_string(),
            if d.ok { "delivered" } else { "failed" }.to_owned(),
            d.detail.clone(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::saved_rule_line;
    use serde_json::{json, Value};

    fn rule(v: Value) -> AlertRule {
        serde_json::from_value(whole(v)).unwrap()
    }

    /// A rule as the server sends it: the fields a case leaves out at
    /// their empty values (no server description: the CLI's words).
    fn whole(mut v: Value) -> Value {
        let defaults = json!({"for_secs": 0, "severity": "warning", "guardrail": false,
                              "condition": "", "description": ""});
        for (k, d) in defaults.as_object().unwrap() {
            if v.get(k).is_none() {
                v[k] = d.clone();
            }
        }
        v
    }

    /// A rule as the server sends it, with the server's description when given.
    fn check_words(metric: &str, comparison: &str, threshold: f64, expected: &str) {
        let r = rule(json!({
            "name": "r", "deployment": "*", "metric": metric, "comparison": comparison,
            "threshold": threshold, "window_secs": 3600,
        }));
        assert_eq!(
            rule_words(&r),
            expected,
            "{metric} {comparison} {threshold}"
        );
    }

    #[test]
    fn conditions_read_in_words_with_values_on_the_metrics_scale() {
        check_words(
            "traffic.requests",
            ">=",
            1.0,
            "the number of requests at or above 1",
        );
        check_words(
            "traffic.error_rate",
            ">",
            0.05,
            "the share of failed requests above 5%",
        );
        check_words(
            "latency.p99_ms",
            ">",
            250.0,
            "the 99th-percentile response time above 250 ms",
        );
        check_words(
            "fairness.any.demographic_parity_ratio",
            "<",
            0.8,
            "the lowest demographic parity ratio of any attribute below 0.8",
        );
        check_words(
            "features.income.psi",
            "<=",
            0.25,
            "the PSI of input feature income at or below 0.25",
        );
        check_words(
            "drift.dataset",
            ">=",
            1.0,
            "drift of the input data as a whole: yes",
        );
        check_words(
            "drift.dataset",
            "<",
            0.5,
            "drift of the input data as a whole: no",
        );
        // What this CLI does not know is shown as the server wrote it.
        check_words("queue.depth", ">", 10.0, "queue.depth above 10");
        check_words("queue.depth", "~", 10.0, "queue.depth ~ 10");
    }

    #[test]
    fn the_servers_description_of_a_metric_wins() {
        let r = rule(json!({
            "name": "r", "deployment": "*", "metric": "queue.depth", "comparison": ">",
            "threshold": 10, "window_secs": 60, "description": "the requests waiting",
        }));
        assert_eq!(rule_words(&r), "the requests waiting above 10");
    }

    #[test]
    fn live_alerts_are_listed_most_serious_first() {
        let alerts: Vec<Alert> = serde_json::from_value(json!([
            {"rule": "quiet", "deployment": "b", "state": "resolved", "severity": "info",
             "condition": "traffic.requests < 1", "since": "2025-03-14T09:00:00Z", "value": 3.0},
            {"rule": "slow", "deployment": "a", "state": "pending", "severity": "warning",
             "condition": "latency.p99_ms > 250", "since": "2025-03-14T09:10:00Z", "value": 300.0},
            {"rule": "busy", "deployment": "b", "state": "firing", "severity": "warning",
             "condition": "traffic.requests >= 1", "since": "2025-03-14T09:20:00Z",
             "value": 5.0, "acknowledged": true},
            {"rule": "error-rate-high", "deployment": "b", "state": "firing",
             "severity": "critical", "condition": "traffic.error_rate > 0.05",
             "since": "2025-03-14T09:26:53Z", "value": 0.125, "acknowledged": false},
        ]))
        .unwrap();
        assert_eq!(
            alerts_table(&alerts),
            "\
STATE     SEVERITY  DEPLOYMENT  RULE             VALUE   SINCE                 ACK
firing    critical  b           error-rate-high  12.5%   2025-03-14 09:26 UTC  no
firing    warning   b           busy             5       2025-03-14 09:20 UTC  yes
pending   warning   a           slow             300 ms  2025-03-14 09:10 UTC  -
resolved  info      b           quiet            3       2025-03-14 09:00 UTC  -
"
        );
        assert!(alerts_table(&[]).starts_with("no alerts: nothing is pending or firing"));
    }

    #[test]
    fn values_of_features_with_spaces_keep_their_scale() {
        assert_eq!(
            condition_metric("features.credit score.ks_pvalue < 0.05"),
            "features.credit score.ks_pvalue".parse().ok()
        );
        assert_eq!(condition_metric("nonsense"), None);
    }

    #[test]
    fn rules_list_custom_then_defaults_and_say_which_defaults_are_replaced() {
        let mut list = json!({
            "rules": [
                {"name": "error-rate-high", "deployment": "credit-api",
                 "metric": "traffic.error_rate", "comparison": ">", "threshold": 0.01,
                 "window_secs": 600, "for_secs": 0, "severity": "critical", "guardrail": true,
                 "description": "the share of failed requests"},
                {"name": "busy", "deployment": "*", "metric": "traffic.requests",
                 "comparison": ">=", "threshold": 1000, "window_secs": 60, "for_secs": 300,
                 "severity": "info", "guardrail": false},
            ],
            "defaults": [
                {"name": "error-rate-high", "deployment": "*", "metric": "traffic.error_rate",
                 "comparison": ">", "threshold": 0.05, "window_secs": 300, "for_secs": 120,
                 "severity": "critical", "guardrail": false},
                {"name": "input-drift", "deployment": "*", "metric": "drift.share",
                 "comparison": ">=", "threshold": 0.5, "window_secs": 3600, "for_secs": 600,
                 "severity": "warning", "guardrail": false},
            ],
        });
        for key in ["rules", "defaults"] {
            let rules = list[key].as_array().unwrap().iter().cloned().map(whole);
            list[key] = rules.collect();
        }
        let list: AlertRuleList = serde_json::from_value(list).unwrap();
        assert_eq!(
            rules_table(&list).render(),
            "\
NAME             DEPLOYMENT  SEVERITY  CONDITION                                            WINDOW  FOR  SOURCE
busy             all         info      the number of requests at or above 1000              1m      5m   custom
error-rate-high  credit-api  critical  the share of failed requests above 1%                10m     0s   custom, guardrail
error-rate-high  all         critical  the share of failed requests above 5%                5m      2m   default, replaced for credit-api
input-drift      all         warning   the share of drifted input features at or above 50%  1h      10m  default
"
        );
    }

    #[test]
    fn a_saved_rule_is_confirmed_in_words() {
        let r = rule(json!({
            "name": "busy", "deployment": "*", "metric": "traffic.requests",
            "comparison": ">=", "threshold": 1, "window_secs": 3600, "for_secs": 0,
            "severity": "warning", "guardrail": false,
            "description": "the number of requests",
        }));
        assert_eq!(
            saved_rule_line(&r),
            "saved rule busy (all deployments): warning when the number of requests is \
             at or above 1 over 1h, at once\n"
        );
        let r = rule(json!({
            "name": "canary-errors", "deployment": "credit-api", "metric": "traffic.error_rate",
            "comparison": ">", "threshold": 0.05, "window_secs": 300, "for_secs": 600,
            "severity": "critical", "guardrail": true,
        }));
        assert_eq!(
            saved_rule_line(&r),
            "saved rule canary-errors (deployment credit-api): critical when the share of \
             failed requests is above 5% over 5m, once it has held for 10m; a guardrail: rolls \
             back a canary\n"
        );
    }

    #[test]
    fn a_saved_flag_rule_reads_as_a_sentence() {
        let r = rule(json!({
            "name": "income-drift", "deployment": "*", "metric": "features.income.drifted",
            "comparison": ">=", "threshold": 1, "window_secs": 3600, "for_secs": 5400,
            "severity": "warning",
        }));
        assert_eq!(rule_words(&r), "drift of input feature income: yes");
        assert_eq!(
            saved_rule_line(&r),
            "saved rule income-drift (all deployments): warning when there is drift of input \
             feature income over 1h, once it has held for 1h30m\n"
        );
    }

    #[test]
    fn history_deliveries_and_channels_are_tables() {
        let events: Vec<AlertEvent> = serde_json::from_value(json!([
            {"id": 2, "rule": "busy", "deployment": "credit-api", "kind": "acknowledged",
             "severity": "", "value": null, "message": "acknowledged by ana",
             "at": "2025-03-14T09:27:00Z"},
            {"id": 1, "rule": "busy", "deployment": "credit-api", "kind": "firing",
             "severity": "warning", "value": 5.0, "message": "[warning] busy on credit-api is firing",
             "at": "2025-03-14T09:26:53Z"},
        ]))
        .unwrap();
        assert_eq!(
            history_table(&events).render(),
            "\
AT                    EVENT         SEVERITY  DEPLOYMENT  RULE  VALUE  MESSAGE
2025-03-14 09:27 UTC  acknowledged  -         credit-api  busy  -      acknowledged by ana
2025-03-14 09:26 UTC  firing        warning   credit-api  busy  5      [warning] busy on credit-api is firing
"
        );

        let deliveries: Vec<Delivery> = serde_json::from_value(json!([
            {"event_id": 1, "channel": "ops", "attempt": 2, "ok": true, "detail": "HTTP 200",
             "at": "2025-03-14T09:26:55Z"},
            {"event_id": 1, "channel": "ops", "attempt": 1, "ok": false,
             "detail": "connection refused", "at": "2025-03-14T09:26:54Z"},
        ]))
        .unwrap();
        assert_eq!(
            deliveries_table(&deliveries).render(),
            "\
AT                    CHANNEL  EVENT  ATTEMPT  RESULT     DETAIL
2025-03-14 09:26 UTC  ops      1      2        delivered  HTTP 200
2025-03-14 09:26 UTC  ops      1      1        failed     connection refused
"
        );

        let channels: Vec<Channel> = serde_json::from_value(json!([
            {"name": "ops", "kind": "webhook", "url": "http://127.0.0.1:9/x",
             "created_at": "2025-03-14T09:00:00Z", "created_by": "ana"},
            {"name": "risk", "kind": "email", "url": "smtp://mail:25",
             "to": ["a@example.com", "b@example.com"], "from": "hangar@example.com",
             "created_at": "2025-03-14T09:05:00Z", "created_by": "ana"},
        ]))
        .unwrap();
        assert_eq!(
            channels_table(&channels).render(),
            "\
NAME  KIND     URL                                            CREATED               BY
ops   webhook  http://127.0.0.1:9/x                           2025-03-14 09:00 UTC  ana
risk  email    smtp://mail:25 → a@example.com, b@example.com  2025-03-14 09:05 UTC  ana
"
        );
    }
}
