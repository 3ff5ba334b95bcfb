//! Alerts: live alerts, their history, rules, channels and deliveries.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Client, ClientError, Fetched};

/// A live alert (`GET /api/v1/alerts`): one rule on one deployment that is
/// pending, firing or just resolved.
#[derive(Debug, Clone, Deserialize)]
pub struct Alert {
    pub rule: String,
    pub deployment: String,
    /// `pending`, `firing`, `resolved`, or whatever a newer server adds.
    pub state: String,
    #[serde(default)]
    pub severity: Option<String>,
    /// The rule's condition as written: `traffic.error_rate > 0.05`.
    #[serde(default)]
    pub condition: Option<String>,
    /// When it started pending or firing, or when it resolved.
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub value: Option<f64>,
    /// Only a firing alert can be acknowledged; absent otherwise.
    #[serde(default)]
    pub acknowledged: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct AlertList {
    pub alerts: Vec<Alert>,
}

/// One entry of the alert history: a change of state or an acknowledgement.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertEvent {
    pub rule: String,
    pub deployment: String,
    /// `pending`, `firing`, `resolved`, `acknowledged`, …
    pub kind: String,
    /// Empty for acknowledgements.
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub at: String,
}

#[derive(Debug, Deserialize)]
pub struct AlertEventList {
    pub events: Vec<AlertEvent>,
}

/// An alert rule as the server stores (or builds in) it.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertRule {
    pub name: String,
    /// A deployment, or `*` for every deployment.
    pub deployment: String,
    pub metric: String,
    pub comparison: String,
    pub threshold: f64,
    pub window_secs: u64,
    #[serde(default)]
    pub for_secs: u64,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub guardrail: bool,
    /// The metric in plain words: `the share of failed requests`.
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
pub struct AlertRuleList {
    /// Rules written by people.
    pub rules: Vec<AlertRule>,
    /// The rules every deployment gets unless a rule of the same name replaces one.
    #[serde(default)]
    pub defaults: Vec<AlertRule>,
}

/// What `POST /api/v1/alerts/rules` is asked to store; `None` leaves the
/// server's default (every deployment, a one-hour window, firing at once,
/// severity warning).
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct NewAlertRule {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    pub metric: String,
    pub comparison: String,
    pub threshold: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub guardrail: bool,
}

/// Where alert events are sent.
#[derive(Debug, Clone, Deserialize)]
pub struct Channel {
    pub name: String,
    /// `webhook`, `slack`, or whatever a newer server adds.
    pub kind: String,
    #[serde(default)]
    pub url: String,
    /// Recipients, for e-mail channels.
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub created_by: String,
}

/// What `PUT /api/v1/alerts/channels/{name}` is asked to make the channel;
/// `to` and `from` (e-mail) are sent only when given.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct NewChannel {
    pub kind: String,
    pub url: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ChannelList {
    pub channels: Vec<Channel>,
}

/// One attempt to send an alert event to a channel.
#[derive(Debug, Clone, Deserialize)]
pub struct Delivery {
    pub event_id: i64,
    pub channel: String,
    #[serde(default)]
    pub attempt: u32,
    pub ok: bool,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub at: String,
}

#[derive(Debug, Deserialize)]
pub struct DeliveryList {
    pub deliveries: Vec<Delivery>,
}

impl Client {
    /// Alerts that are pending, firing or just resolved, on every deployment.
    pub async fn list_alerts(&self) -> Result<Fetched<AlertList>, ClientError> {
        let url = self.url(&["api", "v1", "alerts"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    /// The alert history, newest first.
    pub async fn alert_events(
        &self,
        deployment: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Fetched<AlertEventList>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "events"]);
        let mut query = Vec::new();
        if let Some(d) = deployment {
            query.push(("deployment", d.to_owned()));
        }
        if let Some(n) = limit {
            query.push(("limit", n.to_string()));
        }
        self.call(self.http.get(url.clone()).query(&query), &url)
            .await
    }

    pub async fn list_alert_rules(&self) -> Result<Fetched<AlertRuleList>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "rules"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    /// Creates the rule, or replaces the one of the same name and deployment.
    pub async fn put_alert_rule(
        &self,
        rule: &NewAlertRule,
    ) -> Result<Fetched<AlertRule>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "rules"]);
        self.call(self.http.post(url.clone()).json(rule), &url)
            .await
    }

    /// Deletes the rule `name` of `deployment` (`*`: the rule for every deployment).
    pub async fn delete_alert_rule(&self, name: &str, deployment: &str) -> Result<(), ClientError> {
        let url = self.url(&["api", "v1", "alerts", "rules", name]);
        let request = self
            .http
            .delete(url.clone())
            .query(&[("deployment", deployment)]);
        self.call_no_content(request, &url).await
    }

    pub async fn acknowledge_alert(
        &self,
        rule: &str,
        deployment: &str,
    ) -> Result<Fetched<Value>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "ack"]);
        let body = json!({ "rule": rule, "deployment": deployment });
        self.call(self.http.post(url.clone()).json(&body), &url)
            .await
    }

    pub async fn list_channels(&self) -> Result<Fetched<ChannelList>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "channels"]);
        self.call(self.http.get(url.clone()), &url).await
    }

    /// Creates the channel or changes it.
    pub async fn put_channel(
        &self,
        name: &str,
        channel: &NewChannel,
    ) -> Result<Fetched<Channel>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "channels", name]);
        self.call(self.http.put(url.clone()).json(channel), &url)
            .await
    }

    pub async fn delete_channel(&self, name: &str) -> Result<(), ClientError> {
        let url = self.url(&["api", "v1", "alerts", "channels", name]);
        self.call_no_content(self.http.delete(url.clone()), &url)
            .await
    }

    /// The latest attempts to send alert events to channels, newest first.
    pub async fn deliveries(&self) -> Result<Fetched<DeliveryList>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "deliveries"]);
        self.call(self.http.get(url.clone()), &url).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_rules_send_only_what_was_given() {
        let plain = NewAlertRule {
            name: "busy".into(),
            metric: "traffic.requests".into(),
            comparison: ">=".into(),
            threshold: 1.0,
            ..NewAlertRule::default()
        };
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            json!({"name": "busy", "metric": "traffic.requests", "comparison": ">=", "threshold": 1.0})
        );
        let full = NewAlertRule {
            deployment: Some("credit-api".into()),
            window_secs: Some(600),
            for_secs: Some(0),
            severity: Some("critical".into()),
            guardrail: true,
            ..plain
        };
        assert_eq!(
            serde_json::to_value(&full).unwrap(),
            json!({
                "name": "busy", "deployment": "credit-api", "metric": "traffic.requests",
                "comparison": ">=", "threshold": 1.0, "window_secs": 600, "for_secs": 0,
                "severity": "critical", "guardrail": true,
            })
        );
    }

    #[test]
    fn channels_send_recipients_and_sender_only_when_given() {
        let webhook = NewChannel {
            kind: "webhook".into(),
            url: "http://h/x".into(),
            ..NewChannel::default()
        };
        assert_eq!(
            serde_json::to_value(&webhook).unwrap(),
            json!({"kind": "webhook", "url": "http://h/x"})
        );
        let email = NewChannel {
            kind: "email".into(),
            url: "smtp://mail:25".into(),
            to: vec!["a@example.com".into()],
            from: Some("hangar@example.com".into()),
        };
        assert_eq!(
            serde_json::to_value(&email).unwrap(),
            json!({"kind": "email", "url": "smtp://mail:25", "to": ["a@example.com"], "from": "hangar@example.com"})
        );
    }
}
