//! Alert evaluation, a background loop: every few seconds each rule is evaluated
//! for each deployment it applies to (the state machine is in
//! `hangar_core::alerts`), events are recorded, sent to the notification
//! channels — webhooks, Slack-compatible webhooks and e-mail over plain SMTP —
//! (retried with backoff, every attempt logged), and a firing guardrail rule
//! rolls the canary back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use hangar_core::alerts::{
    default_rules, event_message, step, AlertEventKind, AlertRule, AlertState,
};
use hangar_core::monitor::WindowReport;
use hangar_core::window::WindowSummary;
use hangar_store::{AlertEventRecord, ChannelRecord, DeliveryRecord};
use lettre::address::Envelope;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::service::error::Error;
use crate::state::AppState;

/// Live alert states by (rule, deployment). Kept in memory: after a restart
/// alerts re-derive their state from the figures within one evaluation.
/// (deployment, window in seconds, canary version when judging a canary).
type ReportKey = (String, u64, Option<u32>);
/// When a report was computed, and the report (none without predictions).
type CachedReport = (std::time::Instant, Option<Arc<WindowReport>>);

pub struct Alerting {
    /// How long a window report is reused: six evaluation intervals.
    report_ttl: Duration,
    states: Mutex<HashMap<(String, String), AlertState>>,
    /// Window reports by (deployment, window, canary scope), reused for
    /// `report_ttl`: reports read the prediction log, traffic figures do not.
    reports: Mutex<HashMap<ReportKey, CachedReport>>,
}

impl Alerting {
    /// Alerting evaluated every `interval`.
    pub fn new(interval: Duration) -> Self {
        Alerting {
            report_ttl: interval * 6,
            states: Mutex::default(),
            reports: Mutex::default(),
        }
    }

    pub fn snapshot(&self) -> Vec<((String, String), AlertState)> {
        let s = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = s.iter().map(|(k, v)| (k.clone(), *v)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn acknowledge(&self, rule: &str, deployment: &str) -> bool {
        let mut s = self.states.lock().unwrap_or_else(|p| p.into_inner());
        s.get_mut(&(rule.to_string(), deployment.to_string()))
            .is_some_and(AlertState::acknowledge)
    }

    /// The window report for a rule, reused for `report_ttl`.
    async fn report(
        &self,
        state: &AppState,
        deployment: &str,
        window: u64,
        scope: Option<u32>,
    ) -> Result<Option<Arc<WindowReport>>, Error> {
        let key = (deployment.to_string(), window, scope);
        {
            let cache = self.reports.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, r)) = cache.get(&key) {
                if at.elapsed() < self.report_ttl {
                    return Ok(r.clone());
                }
            }
        }
        let r = crate::service::reports::recent_report(state, deployment, window, scope)
            .await?
            .map(Arc::new);
        let mut cache = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        let ttl = self.report_ttl;
        cache.retain(|_, (at, _)| at.elapsed() < ttl);
        cache.insert(key, (std::time::Instant::now(), r.clone()));
        Ok(r)
    }

    fn get(&self, key: &(String, String)) -> AlertState {
        self.states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
            .unwrap_or_default()
    }

    fn set(&self, key: (String, String), state: AlertState) {
        self.states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, state);
    }
}

/// The rules that apply to a deployment: its own, then `*` rules, then the
/// defaults — a rule of the same name replaces a broader one.
pub fn rules_for(all: &[AlertRule], deployment: &str) -> Vec<AlertRule> {
    let mut out: Vec<AlertRule> = all
        .iter()
        .filter(|r| r.deployment == deployment)
        .cloned()
        .collect();
    for r in all
        .iter()
        .filter(|r| r.deployment == hangar_core::alerts::ANY_DEPLOYMENT)
    {
        if !out.iter().any(|o| o.name == r.name) {
            out.push(r.clone());
        }
    }
    for r in default_rules() {
        if !out.iter().any(|o| o.name == r.name) {
            out.push(r);
        }
    }
    out
}

fn now_secs() -> u64 {
    Utc::now().timestamp().max(0) as u64
}

/// Traffic of a deployment over a window: all its versions, or one.
pub fn traffic(
    state: &AppState,
    deployment: &str,
    secs: u64,
    version: Option<u32>,
) -> WindowSummary {
    let mut total = WindowSummary {
        requests: 0,
        errors: 0,
        p99_ms: None,
    };
    for (v, stats) in state.metrics.deployment_stats(deployment) {
        if version.is_some_and(|only| only != v) {
            continue;
        }
        let w = stats.window(secs);
        total.requests += w.requests;
        total.errors += w.errors;
        total.p99_ms = match (total.p99_ms, w.p99_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    total
}

/// One evaluation pass over every live deployment.
pub async fn evaluate(state: &AppState) -> Result<(), Error> {
    let stored = state.db.list_rules().await?;
    let now = now_secs();
    for d in state.serving.active() {
        let canary = (d.routes.len() == 2).then(|| d.routes[1].version.version);
        for rule in rules_for(&stored, &d.name) {
            // A guardrail judges the canary alone while there is one.
            let scope = if rule.guardrail { canary } else { None };
            let summary = traffic(state, &d.name, rule.window_secs, scope);
            let report = if rule.metric.needs_report() {
                state
                    .alerting
                    .report(state, &d.name, rule.window_secs, scope)
                    .await?
            } else {
                None
            };
            let report = report.as_deref();
            let value = hangar_core::alerts::value_of(&rule.metric, report, &summary);
            let key = (rule.name.clone(), d.name.clone());
            let (next, event) = step(state.alerting.get(&key), &rule, value, now);
            state.alerting.set(key, next);
            let Some(event) = event else { continue };
            let message = event_message(&rule, &d.name, &event);
            tracing::warn!(rule = %rule.name, deployment = %d.name, kind = event.kind.as_str(), value = event.value, "{message}");
            let record = AlertEventRecord {
                id: 0,
                rule: rule.name.clone(),
                deployment: d.name.clone(),
                kind: event.kind.as_str().to_string(),
                severity: rule.severity.as_str().to_string(),
                value: Some(event.value),
                message: message.clone(),
                at: Utc::now(),
            };
            let id = state.db.add_alert_event(&record).await?;
            tokio::spawn(notify(state.clone(), id, rule.clone(), record));
            if rule.guardrail && matches!(event.kind, AlertEventKind::Firing) && canary.is_some() {
                let reason = format!("guardrail '{}' fired: {message}", rule.name);
                state
                    .serving
                    .guardrail_rollback(&d.name, d.revision.number, &reason)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Evaluates alerts every `every`.
pub async fn watch(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = evaluate(&state).await {
            tracing::error!(error = %e, "alert evaluation failed");
        }
    }
}

/// How long one delivery attempt may take, for webhooks and SMTP alike.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per channel and event; the pause between them doubles from
/// [`FIRST_RETRY_DELAY`].
const DELIVERY_ATTEMPTS: u32 = 3;
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);

/// Sends an event to every channel: generic webhooks get the event as JSON,
/// Slack-compatible ones `{"text": ...}`, e-mail channels a plain-text
/// message over SMTP. Three attempts with backoff; every attempt is logged.
async fn notify(state: AppState, event_id: i64, rule: AlertRule, e: AlertEventRecord) {
    let channels = match state.db.list_channels().await {
        Ok(c) => c,
        Err(err) => {
            tracing::error!(error = %err, "cannot read notification channels");
            return;
        }
    };
    let client = reqwest::Client::builder().timeout(DELIVERY_TIMEOUT).build();
    let Ok(client) = client else { return };
    for c in channels {
        let log = |attempt: u32, ok: bool, detail: String| {
            let db = state.db.clone();
            let channel = c.name.clone();
            async move {
                let _ = db
                    .add_delivery(&DeliveryRecord {
                        event_id,
                        channel,
                        attempt,
                        ok,
                        detail,
                        at: Utc::now(),
                    })
                    .await;
            }
        };
        let outbound = match Outbound::prepare(&c, &rule, &e, event_id) {
            Ok(o) => o,
            Err(detail) => {
                // A stored channel the API would refuse: nothing to retry.
                tracing::error!(channel = %c.name, detail, "cannot deliver to channel");
                log(1, false, detail).await;
                continue;
            }
        };
        let mut delay = FIRST_RETRY_DELAY;
        for attempt in 1..=DELIVERY_ATTEMPTS {
            let (ok, detail) = outbound.send(&client).await;
            log(attempt, ok, detail.clone()).await;
            if ok {
                break;
            }
            tracing::warn!(channel = %c.name, attempt, detail, "alert delivery failed");
            if attempt < DELIVERY_ATTEMPTS {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}

/// One event made ready for one channel, so that retries resend the same
/// bytes.
enum Outbound {
    Http {
        url: String,
        body: serde_json::Value,
    },
    Email {
        mailer: AsyncSmtpTransport<Tokio1Executor>,
        envelope: Envelope,
        message: Vec<u8>,
    },
}

impl Outbound {
    fn prepare(
        c: &ChannelRecord,
        rule: &AlertRule,
        e: &AlertEventRecord,
        event_id: i64,
    ) -> Result<Self, String> {
        let body = match c.kind.as_str() {
            "slack" => {
                serde_json::json!({ "text": slack_text(e) })
            }
            "webhook" => serde_json::json!({
                "rule": e.rule,
                "deployment": e.deployment,
                "state": e.kind,
                "severity": e.severity,
                "value": e.value,
                "condition": rule.condition(),
                "metric": rule.metric.to_string(),
                "threshold": rule.threshold,
                "message": e.message,
                "at": e.at,
                "event_id": event_id,
            }),
            "email" => {
                let target = EmailTarget::parse(
                    &c.url,
                    &c.email_to,
                    c.email_from.as_deref().unwrap_or_default(),
                )
                .map_err(|reason| format!("invalid email channel: {reason}"))?;
                let message = email_message(&target, rule, e, event_id)
                    .map_err(|err| format!("cannot build the e-mail: {err}"))?;
                let mailer =
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&target.server.host)
                        .port(target.server.port)
                        .timeout(Some(DELIVERY_TIMEOUT))
                        .build();
                return Ok(Outbound::Email {
                    mailer,
                    envelope: message.envelope().clone(),
                    message: message.formatted(),
                });
            }
            other => return Err(format!("unknown channel kind '{other}'")),
        };
        Ok(Outbound::Http {
            url: c.url.clone(),
            body,
        })
    }

    /// One attempt: whether it was delivered, and what the other side said.
    async fn send(&self, client: &reqwest::Client) -> (bool, String) {
        match self {
            Outbound::Http { url, body } => match client.post(url).json(body).send().await {
                Ok(r) => (
                    r.status().is_success(),
                    format!("HTTP {}", r.status().as_u16()),
                ),
                Err(err) => (false, err.to_string()),
            },
            Outbound::Email {
                mailer,
                envelope,
                message,
            } => match mailer.send_raw(envelope, message).await {
                Ok(r) => (
                    true,
                    format!("SMTP {} {}", r.code(), r.first_line().unwrap_or_default())
                        .trim_end()
                        .to_string(),
                ),
                Err(err) => (false, format!("SMTP: {err}")),
            },
        }
    }
}

/// The SMTP port when the URL names none.
pub const SMTP_DEFAULT_PORT: u16 = 25;
/// Recipients of one e-mail channel, at most.
pub const MAX_EMAIL_RECIPIENTS: usize = 50;
const MAX_URL_LEN: usize = 2048;

/// An SMTP server reached in plain text (`smtp://HOST[:PORT]`). There is no
/// TLS in this release, so neither `smtps://` nor credentials (which would
/// travel in the clear) are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    /// A host name or IP address (an IPv6 address without its brackets).
    pub host: String,
    pub port: u16,
}

impl SmtpServer {
    /// Parses `smtp://HOST[:PORT]`; the error says what to write instead.
    pub fn parse(url: &str) -> Result<Self, String> {
        const SHAPE: &str =
            "an email channel's url must be smtp://HOST:PORT (e.g. smtp://mail.internal:25)";
        if url.len() > MAX_URL_LEN {
            return Err(format!(
                "{SHAPE}; this one is longer than {MAX_URL_LEN} characters"
            ));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!("{SHAPE}, not '{}'", clip(url)));
        };
        if scheme.eq_ignore_ascii_case("smtps") {
            return Err(
                "smtps:// (SMTP over TLS) is not supported in this release: use smtp://HOST:PORT \
                 to a relay you trust on your network"
                    .into(),
            );
        }
        if !scheme.eq_ignore_ascii_case("smtp") {
            return Err(format!("{SHAPE}, not a {}:// URL", clip(scheme)));
        }
        if rest.contains('@') {
            return Err(
                "credentials in an smtp:// url are not supported: SMTP authentication \
                        needs TLS, not in this release"
                    .into(),
            );
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(format!("{SHAPE}, with nothing after the port"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((addr, after)) = v6.split_once(']') else {
                return Err(format!("{SHAPE}: an IPv6 address needs its closing ']'"));
            };
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("'{}' is not an IPv6 address", clip(addr)));
            }
            match after {
                "" => (addr, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (addr, Some(port)),
                    None => return Err(format!("{SHAPE}, with nothing after the port")),
                },
            }
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        let is_hostname = !host.is_empty()
            && host.len() <= 253
            && host
                .split('.')
                .all(|label| !label.is_empty() && label.len() <= 63)
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !(is_hostname || host.parse::<std::net::Ipv6Addr>().is_ok()) {
            return Err(format!("{SHAPE}; '{}' is not a host name", clip(host)));
        }
        let port = match port {
            None => SMTP_DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(format!("the SMTP port must be 1-65535, not '{}'", clip(p))),
            },
        };
        Ok(SmtpServer {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// Everything an e-mail channel needs, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailTarget {
    pub server: SmtpServer,
    pub to: Vec<Address>,
    /// `hangar@example.com` or `Hangar <hangar@example.com>`.
    pub from: Mailbox,
}

impl EmailTarget {
    /// Checks an e-mail channel's fields; the error names the field.
    pub fn parse(url: &str, to: &[String], from: &str) -> Result<Self, String> {
        let server = SmtpServer::parse(url)?;
        if to.is_empty() {
            return Err("an email channel needs at least one recipient in \"to\"".into());
        }
        if to.len() > MAX_EMAIL_RECIPIENTS {
            return Err(format!(
                "an email channel takes at most {MAX_EMAIL_RECIPIENTS} recipients in \"to\", not {}",
                to.len()
            ));
        }
        let to = to
            .iter()
            .map(|a| {
                a.trim()
                    .parse::<Address>()
                    .map_err(|e| format!("\"to\": '{}' is not an e-mail address ({e})", clip(a)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let from = from.trim().parse::<Mailbox>().map_err(|e| {
            format!(
                "\"from\": '{}' is not an e-mail address ({e}); write hangar@example.com \
                 or Hangar <hangar@example.com>",
                clip(from)
            )
        })?;
        Ok(EmailTarget { server, to, from })
    }
}

/// At most 100 characters of what the caller sent, for error messages.
fn clip(s: &str) -> String {
    match s.char_indices().nth(100) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A Slack message: the event's message, which already starts with its
/// severity (`[critical] …`); the severity is added only when it does not.
fn slack_text(e: &AlertEventRecord) -> String {
    let tag = format!("[{}]", e.severity);
    if e.message.starts_with(&tag) {
        e.message.clone()
    } else {
        format!("{tag} {}", e.message)
    }
}

/// `[hangar][critical] firing: rule on deployment`.
pub fn email_subject(e: &AlertEventRecord) -> String {
    format!(
        "[hangar][{}] {}: {} on {}",
        e.severity, e.kind, e.rule, e.deployment
    )
}

/// The plain-text body: what fired, where, when, and the figure.
pub fn email_body(rule: &AlertRule, e: &AlertEventRecord, event_id: i64) -> String {
    let value = e
        .value
        .map_or_else(|| "none".to_string(), |v| v.to_string());
    format!(
        "Alert {kind}: {rule} on {deployment}\n\
         \n\
         Rule:        {rule}\n\
         Condition:   {condition} over {window} s\n\
         Metric:      {describe}\n\
         Value:       {value}\n\
         Deployment:  {deployment}\n\
         State:       {kind}\n\
         Severity:    {severity}\n\
         Time:        {at}\n\
         Event:       {event_id}\n\
         \n\
         {message}\n\
         \n\
         -- \n\
         Sent by Hangar. Acknowledge with POST /api/v1/alerts/ack \
         {{\"rule\": \"{rule}\", \"deployment\": \"{deployment}\"}}.\n",
        kind = e.kind,
        rule = e.rule,
        deployment = e.deployment,
        condition = rule.condition(),
        window = rule.window_secs,
        describe = rule.metric.describe(),
        severity = e.severity,
        at = e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        message = e.message,
    )
}

fn email_message(
    target: &EmailTarget,
    rule: &AlertRule,
    e: &AlertEventRecord,
    event_id: i64,
) -> Result<Message, lettre::error::Error> {
    let mut builder = Message::builder()
        .from(target.from.clone())
        .subject(email_subject(e))
        .header(ContentType::TEXT_PLAIN);
    for to in &target.to {
        builder = builder.to(Mailbox::new(None, to.clone()));
    }
    builder.body(email_body(rule, e, event_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_url(url: &str, expected: Result<(&str, u16), &str>) {
        let got = SmtpServer::parse(url);
        match (got, expected) {
            (Ok(s), Ok((host, port))) => {
                assert_eq!((s.host.as_str(), s.port), (host, port), "{url}")
            }
            (Err(e), Err(part)) => assert!(e.contains(part), "{url}: {e}"),
            (got, expected) => panic!("{url}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn smtp_urls_name_a_plain_text_server() {
        check_url("smtp://mail.internal:2525", Ok(("mail.internal", 2525)));
        check_url("smtp://Mail.Internal", Ok(("mail.internal", 25)));
        check_url("SMTP://127.0.0.1:25/", Ok(("127.0.0.1", 25)));
        check_url("smtp://[::1]:2525", Ok(("::1", 2525)));
        check_url("smtp://[::1]", Ok(("::1", 25)));
        check_url(
            "smtps://mail.internal:465",
            Err("not supported in this release"),
        );
        check_url("http://mail.internal", Err("must be smtp://HOST:PORT"));
        check_url("mail.internal:25", Err("must be smtp://HOST:PORT"));
        check_url("smtp://user:pw@mail.internal", Err("credentials"));
        check_url("smtp://mail.internal:0", Err("1-65535"));
        check_url("smtp://mail.internal:99999", Err("1-65535"));
        check_url("smtp://mail.internal:x", Err("1-65535"));
        check_url("smtp://", Err("is not a host name"));
        check_url("smtp://:25", Err("is not a host name"));
        check_url("smtp://mail..internal", Err("is not a host name"));
        check_url("smtp://mail_internal", Err("is not a host name"));
        check_url("smtp://mail.internal/path", Err("nothing after the port"));
        check_url("smtp://mail.internal?x=1", Err("nothing after the port"));
        check_url("smtp://[::1", Err("closing ']'"));
        check_url("smtp://[nope]:25", Err("not an IPv6 address"));
        check_url("smtp://[::1]x", Err("nothing after the port"));
        check_url(&format!("smtp://{}", "a".repeat(3000)), Err("longer than"));
    }

    fn check_target(to: &[&str], from: &str, expected: Result<(), &str>) {
        let to: Vec<String> = to.iter().map(|s| s.to_string()).collect();
        match (
            EmailTarget::parse("smtp://127.0.0.1:25", &to, from),
            expected,
        ) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(part)) => assert!(e.contains(part), "{to:?} {from}: {e}"),
            (got, expected) => panic!("{to:?} {from}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn email_channels_need_valid_recipients_and_sender() {
        let ok = "hangar@example.com";
        check_target(&["ops@example.com"], ok, Ok(()));
        check_target(&["ops@example.com", "oncall@example.org"], ok, Ok(()));
        check_target(&["ops@example.com"], "Hangar <hangar@example.com>", Ok(()));
        check_target(&[], ok, Err("at least one recipient"));
        check_target(&["ops"], ok, Err("\"to\": 'ops' is not an e-mail address"));
        check_target(&["ops@example.com", "a b@c"], ok, Err("'a b@c'"));
        check_target(&["ops@example.com"], "", Err("\"from\""));
        check_target(&["ops@example.com"], "hangar", Err("\"from\": 'hangar'"));
        let many: Vec<String> = (0..51).map(|i| format!("u{i}@example.com")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        check_target(&many, ok, Err("at most 50"));
    }

    #[test]
    fn a_slack_message_names_the_severity_once() {
        let mut e = AlertEventRecord {
            id: 1,
            rule: "error-rate-high".into(),
            deployment: "credit".into(),
            kind: "firing".into(),
            severity: "critical".into(),
            value: Some(0.08),
            message: String::new(),
            at: "2025-01-02T03:04:05Z".parse().unwrap(),
        };
        let rule = AlertRule {
            name: "error-rate-high".into(),
            deployment: "credit".into(),
            metric: "traffic.error_rate".parse().unwrap(),
            comparison: ">".parse().unwrap(),
            threshold: 0.05,
            window_secs: 300,
            for_secs: 0,
            severity: "critical".parse().unwrap(),
            guardrail: false,
        };
        // What the evaluator records: the message already carries "[critical]".
        e.message = hangar_core::alerts::event_message(
            &rule,
            "credit",
            &hangar_core::alerts::AlertEvent {
                kind: hangar_core::alerts::AlertEventKind::Firing,
                value: 0.08,
                at: 0,
            },
        );
        assert!(
            e.message.starts_with("[critical] error-rate-high"),
            "{}",
            e.message
        );
        assert_eq!(slack_text(&e), e.message);
        assert!(!slack_text(&e).contains("[critical] [critical]"));
        e.message = "requests went up".into();
        assert_eq!(slack_text(&e), "[critical] requests went up");
        let c = ChannelRecord {
            name: "chat".into(),
            kind: "slack".into(),
            url: "http://127.0.0.1:9/hooks".into(),
            email_to: vec![],
            email_from: None,
            created_at: e.at,
            created_by: "admin".into(),
        };
        match Outbound::prepare(&c, &rule, &e, 1).unwrap() {
            Outbound::Http { body, .. } => {
                assert_eq!(
                    body,
                    serde_json::json!({"text": "[critical] requests went up"})
                )
            }
            Outbound::Email { .. } => panic!("a slack channel posts JSON"),
        }
    }

    #[test]
    fn an_alert_email_says_what_fired_where_and_when() {
        let rule = AlertRule {
            name: "any-traffic".into(),
            deployment: "api".into(),
            metric: "traffic.requests".parse().unwrap(),
            comparison: ">=".parse().unwrap(),
            threshold: 1.0,
            window_secs: 3600,
            for_secs: 0,
            severity: "critical".parse().unwrap(),
            guardrail: false,
        };
        let e = AlertEventRecord {
            id: 7,
            rule: "any-traffic".into(),
            deployment: "api".into(),
            kind: "firing".into(),
            severity: "critical".into(),
            value: Some(3.0),
            message: "requests went up".into(),
            at: "2025-01-02T03:04:05Z".parse().unwrap(),
        };
        assert_eq!(
            email_subject(&e),
            "[hangar][critical] firing: any-traffic on api"
        );
        let body = email_body(&rule, &e, 7);
        for line in [
            "Rule:        any-traffic",
            "Condition:   traffic.requests >= 1 over 3600 s",
            "Value:       3",
            "Deployment:  api",
            "Time:        2025-01-02T03:04:05Z",
            "requests went up",
        ] {
            assert!(body.lines().any(|l| l == line), "{line:?} in\n{body}");
        }
        let target = EmailTarget::parse(
            "smtp://127.0.0.1:25",
            &["ops@example.com".into(), "oncall@example.com".into()],
            "Hangar <hangar@example.com>",
        )
        .unwrap();
        let m = email_message(&target, &rule, &e, 7).unwrap();
        let to: Vec<String> = m.envelope().to().iter().map(|a| a.to_string()).collect();
        assert_eq!(to, ["ops@example.com", "oncall@example.com"]);
        assert_eq!(
            m.envelope().from().unwrap().to_string(),
            "hangar@example.com"
        );
    }
}
