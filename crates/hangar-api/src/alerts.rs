//! Alerting: live alerts and their history, rules, acknowledgements,
//! notification channels and deliveries, and a deployment's health.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A live alert (`GET /api/v1/alerts`): one rule on one deployment that is
/// pending, firing or just resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    pub rule: String,
    pub deployment: String,
    /// `pending`, `firing` or `resolved`.
    pub state: String,
    /// `null` when the rule is gone.
    pub severity: Option<String>,
    /// The rule's condition as written: `traffic.error_rate > 0.05`.
    pub condition: Option<String>,
    /// When it started pending or firing, or when it resolved.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::monitoring::nullable"
    )]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub since: Option<Option<DateTime<Utc>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Only a firing alert can be acknowledged; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<Alert>,
}

/// One entry of the alert history: a change of state or an acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertEvent {
    pub id: i64,
    pub rule: String,
    pub deployment: String,
    /// `pending`, `firing`, `resolved`, `acknowledged`, …
    pub kind: String,
    /// Empty for acknowledgements.
    pub severity: String,
    pub value: Option<f64>,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertEventList {
    pub events: Vec<AlertEvent>,
}

/// An alert rule as the server stores (or builds in) it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertRule {
    pub name: String,
    /// A deployment, or `*` for every deployment.
    pub deployment: String,
    pub metric: String,
    pub comparison: String,
    pub threshold: f64,
    pub window_secs: u64,
    pub for_secs: u64,
    pub severity: String,
    pub guardrail: bool,
    /// `metric comparison threshold`.
    pub condition: String,
    /// The metric in plain words: `the share of failed requests`.
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertRuleList {
    /// Rules written by people.
    pub rules: Vec<AlertRule>,
    /// The rules every deployment gets unless a rule of the same name replaces one.
    pub defaults: Vec<AlertRule>,
}

/// What `POST /api/v1/alerts/rules` is asked to store; `None` leaves the
/// server's default (every deployment, a one-hour window, firing at once,
/// severity warning).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAlertRule {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    pub metric: String,
    pub comparison: String,
    pub threshold: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guardrail: bool,
}

/// `POST /api/v1/alerts/ack`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckAlert {
    pub rule: String,
    pub deployment: String,
}

/// The answer to an acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Acknowledged {
    pub rule: String,
    pub deployment: String,
    pub acknowledged: bool,
}

/// Where alert events are sent. `to` and `from` are sent for e-mail
/// channels only; `created_at` and `created_by` in the list only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Channel {
    pub name: String,
    /// `webhook`, `slack` or `email`.
    pub kind: String,
    pub url: String,
    /// Recipients, for e-mail channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// What `PUT /api/v1/alerts/channels/{name}` is asked to make the channel:
/// `{"kind": "webhook"|"slack", "url": "http://..."}` or
/// `{"kind": "email", "url": "smtp://HOST:PORT", "to": [...], "from": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    pub kind: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChannelList {
    pub channels: Vec<Channel>,
}

/// One attempt to send an alert event to a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub event_id: i64,
    pub channel: String,
    pub attempt: u32,
    pub ok: bool,
    pub detail: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<Delivery>,
}

/// `GET /api/v1/deployments/{name}/health`: health at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub deployment: String,
    /// `healthy`, `degraded`, … (the level's name).
    pub health: String,
    /// The level in plain words.
    pub label: String,
    pub reasons: Vec<String>,
    pub firing: Vec<FiringAlert>,
}

/// A firing alert of a deployment's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FiringAlert {
    pub rule: String,
    pub severity: String,
    pub value: f64,
    pub acknowledged: bool,
}
