//! `hangar alerts list|rules|ack|history|channels|deliveries`: what is alerting
//! now, the rules that decide it, what happened, and where alerts are sent.
//!
//! The rendering functions are pure; only [`run`] talks to the server.

use std::cmp::Ordering;

use hangar_core::alerts::{Comparison, MetricRef, MetricScale, Severity};
use hangar_core::{validate_name, NameKind};
use serde_json::json;

use crate::client::{
    Alert, AlertEvent, AlertRule, AlertRuleList, Channel, Client, Delivery, NewAlertRule,
    NewChannel,
};
use crate::output::{self, OutputFormat, Table};

#[cfg(test)]
mod cli_tests;
use crate::cli::values::{deployment_name, one_of};
use crate::cli::ClientArgs;
use clap::{Args, Subcommand};

pub const ALERTS_ABOUT: &str = "\
Alerts: live alerts, rules, acknowledgement, history and notification channels.

A rule is a condition on one of a deployment's figures (requests, error rate, p99 \
latency, drift, performance, fairness) over a window, e.g. `traffic.error_rate > 0.05` \
over the last 5 minutes. The server evaluates every rule for every deployment it \
applies to every few seconds. An alert is pending while its condition has held for \
less than the rule's --for, then firing; it resolves when the condition no longer \
holds. Every change is recorded (`hangar alerts history`) and sent to the \
notification channels (`hangar alerts channels`; each attempt in `hangar alerts \
deliveries`).

Every deployment gets the default rules (input drift, a feature's PSI, the \
four-fifths rule, error rate); a rule of the same name replaces a default, and a \
rule for one deployment replaces a rule for all of them. `hangar status` sums it up \
per deployment.

Durations are a number with a unit: 30s, 10m, 1h, 7d (or combined, 1h30m).";

pub const ALERTS_EXAMPLES: &str = "\
Examples:
  hangar alerts list
  hangar alerts rules
  hangar alerts rules add slow --metric latency.p99_ms --comparison '>' --threshold 250 \\
      --deployment credit-api --window 15m --for 5m
  hangar alerts ack slow --deployment credit-api
  hangar alerts history --deployment credit-api --limit 20
  hangar alerts channels add ops --kind webhook --url http://alerts.internal:9000/hangar
  hangar alerts deliveries --output json";

pub const RULE_ADD_ABOUT: &str = "\
Add an alert rule, or replace the rule of the same name and deployment.

The rule fires when METRIC, computed over the last --window, compares to --threshold \
as --comparison says, and has done so for --for. Without --deployment it applies to \
every deployment (\"*\"). A --guardrail rule that fires while the deployment has a \
canary judges the canary alone and rolls it back.

Metrics (<feature> is an input feature, <attribute> a --segment of the deployment; \
`any` means the worst attribute):
  traffic.requests, traffic.error_rate (0 to 1), latency.p99_ms
  drift.share (0 to 1), drift.dataset (0 or 1), drift.psi.max
  features.<feature>.psi, features.<feature>.js_distance,
  features.<feature>.ks_statistic, features.<feature>.ks_pvalue,
  features.<feature>.wasserstein, features.<feature>.chi2_pvalue,
  features.<feature>.drifted (0 or 1)
  performance.accuracy, performance.precision, performance.recall, performance.f1,
  performance.roc_auc, performance.log_loss, performance.brier (need feedback)
  estimated_performance.accuracy, estimated_performance.precision,
  estimated_performance.recall, estimated_performance.f1,
  estimated_performance.roc_auc (need a baseline with labels)
  fairness.<attribute>.demographic_parity_ratio,
  fairness.<attribute>.demographic_parity_difference,
  fairness.<attribute>.equalized_odds_ratio,
  fairness.<attribute>.equalized_odds_difference

Shares and rates are written from 0 to 1 (5% is 0.05). The server checks the rule \
and says what is wrong with it. Prints the rule as saved.";

pub const RULE_ADD_EXAMPLES: &str = "\
Examples:
  hangar alerts rules add error-burst --metric traffic.error_rate --comparison '>' \\
      --threshold 0.02 --window 10m --for 2m --severity critical
  hangar alerts rules add quiet --metric traffic.requests --comparison '<' --threshold 1 \\
      --deployment credit-api --window 1h --severity info
  hangar alerts rules add income-psi --metric features.income.psi --comparison gt \\
      --threshold 0.2 --window 1d --for 1h
  hangar alerts rules add canary-errors --metric traffic.error_rate --comparison '>' \\
      --threshold 0.05 --window 5m --guardrail";

#[derive(Args, Debug)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// List live alerts: pending, firing and just resolved, most serious first
    #[command(
        long_about = "List live alerts: pending, firing and just resolved, most serious first.\n\n\
            STATE is pending (the condition holds, not yet for the rule's --for), firing or \
            resolved; VALUE is the rule's metric at the last evaluation; SINCE is when the \
            alert started pending or firing, or when it resolved; ACK says whether a firing \
            alert was acknowledged (`hangar alerts ack`).",
        after_help = "Examples:\n  \
            hangar alerts list\n  \
            hangar alerts list --output json"
    )]
    List,
    /// List alert rules (custom and default) with their conditions in words, or add or delete one
    #[command(
        long_about = "List alert rules with their conditions in words, or add or delete one.\n\n\
            Without a subcommand, lists the custom rules, then the default rules every \
            deployment gets. SOURCE says which, and marks a default replaced by a custom rule \
            of the same name for every deployment, and guardrail rules.",
        after_help = "Examples:\n  \
            hangar alerts rules\n  \
            hangar alerts rules add busy --metric traffic.requests --comparison '>=' --threshold 1000 --window 1m\n  \
            hangar alerts rules delete busy"
    )]
    Rules(RulesArgs),
    /// Acknowledge a firing alert: someone is on it (it keeps firing until it resolves)
    #[command(
        long_about = "Acknowledge a firing alert: someone is on it.\n\n\
            The alert keeps firing until its condition no longer holds; the acknowledgement \
            (and who made it: $USER) is recorded in `hangar alerts history` and shown in \
            `hangar alerts list` and `hangar status`. Only a firing alert can be \
            acknowledged.",
        after_help = "Example:\n  hangar alerts ack error-rate-high --deployment credit-api"
    )]
    Ack(AckArgs),
    /// Show the alert history, newest first: pending, firing, resolved and acknowledged
    #[command(
        long_about = "Show the alert history, newest first: every alert that went pending, \
            fired or resolved, and every acknowledgement.",
        after_help = "Examples:\n  \
            hangar alerts history\n  \
            hangar alerts history --deployment credit-api --limit 20"
    )]
    History(AlertHistoryArgs),
    /// List notification channels, or add or delete one
    #[command(
        long_about = "List notification channels, or add or delete one.\n\n\
            Every alert event is sent to every channel: a webhook gets the event as JSON, \
            a slack channel (any Slack-compatible incoming webhook) gets {\"text\": ...}. \
            Failed sends are retried; `hangar alerts deliveries` shows every attempt.",
        after_help = "Examples:\n  \
            hangar alerts channels\n  \
            hangar alerts channels add ops --kind webhook --url http://alerts.internal:9000/hangar\n  \
            hangar alerts channels delete ops"
    )]
    Channels(ChannelsArgs),
    /// Show the latest attempts to send alert events to channels, newest first
    #[command(
        long_about = "Show the latest attempts to send alert events to the notification \
            channels, newest first: which event went to which channel, the attempt number, \
            and whether it was delivered (with the channel's answer or the error).",
        after_help = "Examples:\n  \
            hangar alerts deliveries\n  \
            hangar alerts deliveries --output json"
    )]
    Deliveries,
}

#[derive(Args, Debug)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: Option<RulesCommand>,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Add an alert rule, or replace the rule of the same name and deployment
    #[command(long_about = RULE_ADD_ABOUT, after_help = RULE_ADD_EXAMPLES)]
    Add(RuleAddArgs),
    /// Delete a custom alert rule (default rules cannot be deleted, only replaced)
    #[command(
        long_about = "Delete a custom alert rule: the rule for every deployment, or with \
            --deployment the rule for that deployment. Default rules cannot be deleted; a \
            custom rule of the same name replaces one.",
        after_help = "Examples:\n  \
            hangar alerts rules delete busy\n  \
            hangar alerts rules delete slow --deployment credit-api"
    )]
    Delete(RuleDeleteArgs),
}

/// How serious an alert is: `critical` makes a deployment failing, `warning`
/// makes it need attention, `info` is only recorded and sent.
fn severity_help(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "Recorded and sent; does not change the deployment's health",
        Severity::Warning => "The deployment needs attention",
        Severity::Critical => "The deployment is failing",
    }
}

#[derive(Args, Debug)]
pub struct RuleAddArgs {
    /// Name of the rule; a default rule's name replaces that default
    #[arg(value_name = "NAME", value_parser = rule_name)]
    pub name: String,

    /// The figure to watch, e.g. traffic.error_rate or features.income.psi (see above)
    #[arg(long, value_name = "METRIC")]
    pub metric: String,

    /// How the metric compares to the threshold when the rule fires: >, >=, <, <=
    /// (or gt, ge, lt, le; quote the symbols in a shell)
    #[arg(long, value_name = "OP", value_parser = comparison)]
    pub comparison: String,

    /// The line the metric is compared with (shares and rates from 0 to 1)
    #[arg(long, value_name = "NUMBER", value_parser = finite, allow_negative_numbers = true)]
    pub threshold: f64,

    /// The deployment the rule applies to, or "*" for every deployment [default: *]
    #[arg(long, value_name = "DEPLOYMENT", value_parser = rule_deployment)]
    pub deployment: Option<String>,

    /// The window the metric is computed over, e.g. 5m, 1h, 1d [default: 1h]
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub window: Option<u64>,

    /// How long the condition must hold before the alert fires, e.g. 10m [default: 0s, at once]
    #[arg(long = "for", value_name = "DURATION", value_parser = duration)]
    pub for_: Option<u64>,

    /// How serious the alert is [default: warning]
    #[arg(long, value_name = "SEVERITY", value_parser = one_of(&Severity::ALL, Severity::as_str, severity_help))]
    pub severity: Option<Severity>,

    /// When it fires while the deployment has a canary, judge the canary alone and roll it back
    #[arg(long)]
    pub guardrail: bool,
}

#[derive(Args, Debug)]
pub struct RuleDeleteArgs {
    /// Name of the rule to delete
    #[arg(value_name = "NAME", value_parser = rule_name)]
    pub name: String,

    /// Delete the rule for this deployment rather than the one for every deployment
    #[arg(long, value_name = "DEPLOYMENT", value_parser = rule_deployment, default_value = "*")]
    pub deployment: String,
}

#[derive(Args, Debug)]
pub struct AckArgs {
    /// Name of the firing alert's rule
    #[arg(value_name = "RULE", value_parser = rule_name)]
    pub rule: String,

    /// The deployment the alert fires on
    #[arg(long, value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub deployment: String,
}

#[derive(Args, Debug)]
pub struct AlertHistoryArgs {
    /// Only this deployment's alerts
    #[arg(long, value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub deployment: Option<String>,

    /// At most this many events, newest first [default: 200]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: Option<u32>,
}

#[derive(Args, Debug)]
pub struct ChannelsArgs {
    #[command(subcommand)]
    pub command: Option<ChannelsCommand>,
}

#[derive(Subcommand, Debug)]
pub enum ChannelsCommand {
    /// Add a notification channel, or change the one of the same name
    #[command(
        long_about = "Add a notification channel, or change the one of the same name.\n\n\
            --kind webhook POSTs each alert event as JSON to --url; --kind slack POSTs \
            {\"text\": ...} as a Slack-compatible incoming webhook expects. Their URL must be \
            http:// (put TLS at a proxy). Servers that offer --kind email send each event \
            over plain SMTP to the --url smtp://HOST:PORT, from --from to every --to. The \
            server checks the channel and says what is wrong with it.",
        after_help = "Examples:\n  \
            hangar alerts channels add ops --kind webhook --url http://alerts.internal:9000/hangar\n  \
            hangar alerts channels add team-chat --kind slack --url http://chat.example/hooks/T0/B0/x\n  \
            hangar alerts channels add risk-team --kind email --url smtp://mail.internal:25 \\\n      \
            --from hangar@example.com --to risk@example.com,ops@example.com"
    )]
    Add(ChannelAddArgs),
    /// Delete a notification channel
    #[command(after_help = "Example:\n  hangar alerts channels delete ops")]
    Delete(ChannelDeleteArgs),
}

pub const EMAIL: &str = "E-mail channels (sent only when given)";

#[derive(Args, Debug)]
pub struct ChannelAddArgs {
    /// Name of the channel
    #[arg(value_name = "NAME", value_parser = channel_name)]
    pub name: String,

    /// What the channel is: webhook (JSON), slack (Slack-compatible webhook), or
    /// email (SMTP) where the server offers it
    #[arg(long, value_name = "KIND", value_parser = channel_kind)]
    pub kind: String,

    /// Where to send alert events: http://… for webhook and slack, smtp://HOST:PORT for email
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// Recipients of an email channel (repeatable, or comma-separated)
    #[arg(long, value_name = "ADDRESS", value_delimiter = ',', help_heading = EMAIL)]
    pub to: Vec<String>,

    /// Sender of an email channel
    #[arg(long, value_name = "ADDRESS", help_heading = EMAIL)]
    pub from: Option<String>,
}

#[derive(Args, Debug)]
pub struct ChannelDeleteArgs {
    /// Name of the channel to delete
    #[arg(value_name = "NAME", value_parser = channel_name)]
    pub name: String,
}

/// A rule, or channel, name follows the naming rule of deployments.
pub fn rule_name(s: &str) -> Result<String, String> {
    named("rule name", s)
}

pub fn channel_name(s: &str) -> Result<String, String> {
    named("channel name", s)
}

/// `s` if it follows the naming rule, else the rule worded for `what`.
pub fn named(what: &str, s: &str) -> Result<String, String> {
    match validate_name(NameKind::Deployment, s) {
        Ok(()) => Ok(s.to_owned()),
        Err(e) => {
            let message = e.to_string();
            let rule = message
                .split_once(": ")
                .map_or(message.as_str(), |(_, r)| r);
            Err(format!("invalid {what} {:?}: {rule}", e.name))
        }
    }
}

/// A rule's deployment: a deployment name, or `*` for every deployment.
pub fn rule_deployment(s: &str) -> Result<String, String> {
    if s == "*" {
        return Ok(s.to_owned());
    }
    deployment_name(s).map_err(|e| format!("{e}; or \"*\" for every deployment"))
}

/// `>`, `>=`, `<`, `<=` (or `gt`, `ge`, `lt`, `le`), sent as the symbol.
pub fn comparison(s: &str) -> Result<String, String> {
    s.trim()
        .parse::<hangar_core::alerts::Comparison>()
        .map(|c| c.as_str().to_owned())
        .map_err(|e| e.to_string())
}

/// A channel kind: a lower-case word; the server says which kinds it has.
pub fn channel_kind(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not a channel kind; expected webhook, slack or email"
        ))
    }
}

/// Any finite number.
pub fn finite(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("{s:?} is not a number")),
    }
}

/// A duration in seconds from a number with a unit — `30s`, `10m`, `1h`, `7d`,
/// `2w` — or several (`1h30m`).
pub fn duration(s: &str) -> Result<u64, String> {
    let expected = "expected a number with a unit: 30s, 10m, 1h, 7d (or combined, 1h30m)";
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{s:?} has no unit; write {t}s for seconds, or {expected}"
        ));
    }
    let bad = || format!("{s:?} is not a duration; {expected}");
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(bad)?;
    }
    if t.is_empty() || !digits.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// The deployment of a rule that applies to every deployment.
const ANY_DEPLOYMENT: &str = "*";

pub async fn run(args: AlertsArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let format = args.client.output;
    let json = format == OutputFormat::Json;
    let text = match args.command {
        AlertsCommand::List => {
            let list = client.list_alerts().await?;
            match format {
                OutputFormat::Json => output::json(&list.raw),
                OutputFormat::Table => alerts_table(&list.body.alerts),
            }
        }
        AlertsCommand::Rules(RulesArgs { command: None }) => {
            let list = client.list_alert_rules().await?;
            match format {
                OutputFormat::Json => output::json(&list.raw),
                OutputFormat::Table => rules_table(&list.body).render(),
            }
        }
        AlertsCommand::Rules(RulesArgs {
            command: Some(RulesCommand::Add(add)),
        }) => {
            let saved = client.put_alert_rule(&new_rule(&add)).await?;
            match format {
                OutputFormat::Json => output::json(&saved.raw),
                OutputFormat::Table => saved_rule_line(&saved.body),
            }
        }
        AlertsCommand::Rules(RulesArgs {
            command: Some(RulesCommand::Delete(delete)),
        }) => {
            client
                .delete_alert_rule(&delete.name, &delete.deployment)
                .await?;
            if json {
                output::json(&json!({
                    "name": delete.name, "deployment": delete.deployment, "deleted": true,
                }))
            } else {
                format!(
                    "deleted rule {} ({})\n",
                    delete.name,
                    deployments(&delete.deployment)
                )
            }
        }
        AlertsCommand::Ack(ack) => {
            let done = client.acknowledge_alert(&ack.rule, &ack.deployment).await?;
            if json {
                output::json(&done.raw)
            } else {
                format!(
                    "acknowledged {} on {}; it keeps firing until its condition no longer holds\n",
                    ack.rule, ack.deployment
                )
            }
        }
        AlertsCommand::History(history) => {
            let list = client
                .alert_events(history.deployment.as_deref(), history.limit)
                .await?;
            match format {
                OutputFormat::Json => output::json(&list.raw),
                OutputFormat::Table if list.body.events.is_empty() => match &history.deployment {
                    Some(d) => format!("no alert events for {d} yet\n"),
                    None => "no alert events yet\n".to_owned(),
                },
                OutputFormat::Table => history_table(&list.body.events).render(),
            }
        }
        AlertsCommand::Channels(ChannelsArgs { command: None }) => {
            let list = client.list_channels().await?;
            match format {
                OutputFormat::Json => output::json(&list.raw),
                OutputFormat::Table if list.body.channels.is_empty() => {
                    "no notification channels; add one with \
                     `hangar alerts channels add NAME --kind webhook --url URL`\n"
                        .to_owned()
                }
                OutputFormat::Table => channels_table(&list.body.channels).render(),
            }
        }
        AlertsCommand::Channels(ChannelsArgs {
            command: Some(ChannelsCommand::Add(add)),
        }) => {
            let channel = NewChannel {
                kind: add.kind,
                url: add.url,
                to: add.to,
                from: add.from,
            };
            let saved = client.put_channel(&add.name, &channel).await?;
            match format {
                OutputFormat::Json => output::json(&saved.raw),
                OutputFormat::Table => format!(
                    "saved channel {} ({}: {})\n",
                    saved.body.name,
                    saved.body.kind,
                    destination(&saved.body)
                ),
            }
        }
        AlertsCommand::Channels(ChannelsArgs {
            command: Some(ChannelsCommand::Delete(delete)),
        }) => {
            client.delete_channel(&delete.name).await?;
            if json {
                output::json(&json!({ "name": delete.name, "deleted": true }))
            } else {
                format!("deleted channel {}\n", delete.name)
            }
        }
        AlertsCommand::Deliveries => {
            let list = client.deliveries().await?;
            match format {
                OutputFormat::Json => output::json(&list.raw),
                OutputFormat::Table if list.body.deliveries.is_empty() => {
                    "no alert events sent to channels yet\n".to_owned()
                }
                OutputFormat::Table => deliveries_table(&list.body.deliveries).render(),
            }
        }
    };
    output::print(&text)
}

/// The request for `rules add`: only what was given, so the server's defaults apply.
fn new_rule(add: &RuleAddArgs) -> NewAlertRule {
    NewAlertRule {
        name: add.name.clone(),
        deployment: add.deployment.clone(),
        metric: add.metric.clone(),
        comparison: add.comparison.clone(),
        threshold: add.threshold,
        window_secs: add.window,
        for_secs: add.for_,
        severity: add.severity.map(|s| s.as_str().to_owned()),
        guardrail: add.guardrail,
    }
}

/// `all deployments` or `deployment credit-api`.
fn deployments(deployment: &str) -> String {
    if deployment == ANY_DEPLOYMENT {
        "all deployments".to_owned()
    } else {
        format!("deployment {deployment}")
    }
}

/// `saved rule busy (all deployments): warning when the number of requests is at
/// or above 1 over 1h, at once`
fn saved_rule_line(r: &AlertRule) -> String {
    let held = match r.for_secs {
        0 => "at once".to_owned(),
        secs => format!("once it has held for {}", output::duration(secs)),
    };
    let guardrail = if r.guardrail {
        "; a guardrail: rolls back a canary"
    } else {
        ""
    };
    format!(
        "saved rule {} ({}): {} when {} over {}, {held}{guardrail}\n",
        r.name,
        deployments(&r.deployment),
        r.severity,
        rule_clause(r),
        output::duration(r.window_secs),
    )
}

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
                .as_deref()
                .map_or_else(|| "-".to_owned(), output::time),
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
fn rule_clause(r: &AlertRule) -> String {
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
            output::time(&e.at),
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
fn destination(c: &Channel) -> String {
    if c.to.is_empty() {
        c.url.clone()
    } else {
        format!("{} → {}", c.url, c.to.join(", "))
    }
}

pub fn channels_table(channels: &[Channel]) -> Table {
    let mut table = Table::new(["NAME", "KIND", "URL", "CREATED", "BY"]);
    for c in channels {
        table.row(vec![
            c.name.clone(),
            c.kind.clone(),
            destination(c),
            output::time(&c.created_at),
            c.created_by.clone(),
        ]);
    }
    table
}

pub fn deliveries_table(deliveries: &[Delivery]) -> Table {
    let mut table = Table::new(["AT", "CHANNEL", "EVENT", "ATTEMPT", "RESULT", "DETAIL"]);
    for d in deliveries {
        table.row(vec![
            output::time(&d.at),
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
    use serde_json::Value;

    fn rule(v: Value) -> AlertRule {
        serde_json::from_value(v).unwrap()
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
        let list: AlertRuleList = serde_json::from_value(json!({
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
        }))
        .unwrap();
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
