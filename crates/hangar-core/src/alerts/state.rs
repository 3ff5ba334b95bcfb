//! The per-(rule, deployment) state machine (the table in the module docs
//! of [`crate::alerts`]) and the events it records.

use super::AlertRule;

/// Where one rule stands for one deployment. Times are seconds on the
/// caller's clock (e.g. the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum AlertState {
    /// The condition does not hold (or has never been evaluated).
    #[default]
    Inactive,
    /// The condition has held since `since`, not yet for `for_secs`.
    Pending { since: u64, value: f64 },
    /// The alert fired at `since`; `value` is the latest value. `ack` records
    /// that someone acknowledged it; it changes nothing else.
    Firing { since: u64, value: f64, ack: bool },
    /// The alert stopped firing at `at` with `value`. Lasts until the next
    /// evaluation: Inactive if the condition still does not hold, Pending or
    /// Firing again if it does.
    Resolved { at: u64, value: f64 },
}

impl AlertState {
    /// `inactive`, `pending`, `firing` or `resolved`.
    pub fn name(&self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending { .. } => "pending",
            AlertState::Firing { .. } => "firing",
            AlertState::Resolved { .. } => "resolved",
        }
    }

    pub fn is_firing(&self) -> bool {
        matches!(self, AlertState::Firing { .. })
    }

    /// Marks a firing alert acknowledged; returns false (and changes nothing)
    /// when the alert is not firing. A new firing starts unacknowledged.
    pub fn acknowledge(&mut self) -> bool {
        match self {
            AlertState::Firing { ack, .. } => {
                *ack = true;
                true
            }
            _ => false,
        }
    }
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertEventKind {
    Pending,
    Firing,
    Resolved,
}

impl AlertEventKind {
    /// `pending`, `firing` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertEventKind::Pending => "pending",
            AlertEventKind::Firing => "firing",
            AlertEventKind::Resolved => "resolved",
        }
    }
}

/// A transition worth recording (and, for `Firing` and `Resolved`, notifying):
/// the metric's value and the time it was seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertEvent {
    pub kind: AlertEventKind,
    pub value: f64,
    pub at: u64,
}

/// Advances one rule's state for one deployment with the value seen at
/// `now_secs`.
///
/// - `None` (or NaN) changes nothing: no data neither fires nor resolves.
/// - Inactive or Resolved, condition holds: Firing at once when `for_secs` is
///   0 (event Firing), else Pending (event Pending).
/// - Pending, condition holds for `for_secs` since it started: Firing (event
///   Firing); stops holding: Inactive without an event (it never fired).
/// - Firing, condition holds: stays Firing with the latest value and its `ack`;
///   stops holding: Resolved (event Resolved). There is no hysteresis: the
///   first evaluation that does not hold resolves.
/// - Resolved, condition does not hold: Inactive (no event).
///
/// A clock that steps back counts as no time elapsed.
pub fn step(
    state: AlertState,
    rule: &AlertRule,
    value: Option<f64>,
    now_secs: u64,
) -> (AlertState, Option<AlertEvent>) {
    let Some(value) = value.filter(|v| !v.is_nan()) else {
        return (state, None);
    };
    let event = |kind| {
        Some(AlertEvent {
            kind,
            value,
            at: now_secs,
        })
    };
    let firing = AlertState::Firing {
        since: now_secs,
        value,
        ack: false,
    };
    match (state, rule.holds(value)) {
        (AlertState::Inactive | AlertState::Resolved { .. }, true) => {
            if rule.for_secs == 0 {
                (firing, event(AlertEventKind::Firing))
            } else {
                (
                    AlertState::Pending {
                        since: now_secs,
                        value,
                    },
                    event(AlertEventKind::Pending),
                )
            }
        }
        (AlertState::Inactive | AlertState::Resolved { .. }, false) => (AlertState::Inactive, None),
        (AlertState::Pending { since, .. }, true) => {
            if now_secs.saturating_sub(since) >= rule.for_secs {
                (firing, event(AlertEventKind::Firing))
            } else {
                (AlertState::Pending { since, value }, None)
            }
        }
        (AlertState::Pending { .. }, false) => (AlertState::Inactive, None),
        (AlertState::Firing { since, ack, .. }, true) => {
            (AlertState::Firing { since, value, ack }, None)
        }
        (AlertState::Firing { .. }, false) => (
            AlertState::Resolved {
                at: now_secs,
                value,
            },
            event(AlertEventKind::Resolved),
        ),
    }
}

/// A one-line message for logs and notifications:
/// `[critical] error-rate-high on credit is firing: traffic.error_rate = 0.08 (rule: traffic.error_rate > 0.05 over 300 s)`.
pub fn event_message(rule: &AlertRule, deployment: &str, event: &AlertEvent) -> String {
    format!(
        "[{}] {} on {} is {}: {} = {} (rule: {} over {} s)",
        rule.severity,
        rule.name,
        deployment,
        event.kind.as_str(),
        rule.metric,
        event.value,
        rule.condition(),
        rule.window_secs
    )
}
