//! `hangar alerts list|rules|ack|history|channels|deliveries`: what is alerting
//! now, the rules that decide it, what happened, and where alerts are sent.
//!
//! The rendering functions are pure; only [`run`] talks to the server.

use hangar_core::alerts::Severity;
use hangar_core::{validate_name, NameKind};
use serde_json::json;

use crate::client::{AlertRule, Client, NewAlertRule, NewChannel};
use crate::output::{self, OutputFormat};

#[cfg(test)]
mod cli_tests;
mod tables;

use crate::cli::values::{deployment_name, one_of};
use crate::cli::ClientArgs;
use clap::{Args, Subcommand};
pub use tables::{alerts_table, channels_table, deliveries_table, history_table, rules_table};
use tables::{destination, rule_clause};

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
pub(crate) const ANY_DEPLOYMENT: &str = "*";

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
                to: (!add.to.is_empty()).then_some(add.to),
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
