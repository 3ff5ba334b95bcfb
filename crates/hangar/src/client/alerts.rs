//! Alerts: live alerts, their history, rules, channels and deliveries.

use super::{Client, ClientError, Fetched};

pub use hangar_api::{
    Acknowledged, Alert, AlertEvent, AlertEventList, AlertList, AlertRule, AlertRuleList, Channel,
    ChannelList, Delivery, DeliveryList, NewAlertRule, NewChannel,
};

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
    ) -> Result<Fetched<Acknowledged>, ClientError> {
        let url = self.url(&["api", "v1", "alerts", "ack"]);
        let body = hangar_api::AckAlert {
            rule: rule.to_owned(),
            deployment: deployment.to_owned(),
        };
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
    use serde_json::json;

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
            to: Some(vec!["a@example.com".into()]),
            from: Some("hangar@example.com".into()),
        };
        assert_eq!(
            serde_json::to_value(&email).unwrap(),
            json!({"kind": "email", "url": "smtp://mail:25", "to": ["a@example.com"], "from": "hangar@example.com"})
        );
    }
}
