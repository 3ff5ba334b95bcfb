//! Alerting as pure domain logic: metrics addressed by stable names, alert
//! rules and their validation, the per-(rule, deployment) state machine, and
//! the rules every deployment gets without writing any.
//!
//! Nothing here reads a clock or a store: the server computes a window's
//! [`WindowReport`] and [`WindowSummary`], asks [`value_of`] for each rule's
//! metric, and advances the rule's [`AlertState`] with [`step`], passing the
//! time in. Events ([`AlertEvent`]) are what it records and notifies.
//!
//! The life of an alert (per rule and deployment), as [`step`] moves it:
//!
//! | from              | the condition…              | to       | event    |
//! |-------------------|-----------------------------|----------|----------|
//! | Inactive/Resolved | holds, `for_secs` = 0       | Firing   | Firing   |
//! | Inactive/Resolved | holds, `for_secs` > 0       | Pending  | Pending  |
//! | Inactive/Resolved | does not hold               | Inactive | —        |
//! | Pending           | has held for `for_secs`     | Firing   | Firing   |
//! | Pending           | holds, not long enough yet  | Pending  | —        |
//! | Pending           | does not hold               | Inactive | —        |
//! | Firing            | holds                       | Firing   | —        |
//! | Firing            | does not hold               | Resolved | Resolved |
//!
//! A missing value (`None`, e.g. no labels yet, no traffic) changes nothing:
//! it neither fires nor resolves, and a pending alert keeps its start time.

mod metric;
mod rule;
mod state;
#[cfg(test)]
mod tests;

pub use metric::{
    value_of, EstimatedMetric, FairnessMetric, FairnessScope, FeatureStat, MetricRef, MetricScale,
    PerformanceMetric, ANY_ATTRIBUTE, MAX_LABEL_LEN, METRIC_PATTERNS,
};
pub use rule::{
    default_rules, AlertError, AlertRule, Comparison, Severity, ANY_DEPLOYMENT, FOUR_FIFTHS,
    MAX_RULE_SECS, PSI_MAJOR, RULE_ERROR_RATE_HIGH, RULE_FEATURE_PSI_HIGH, RULE_FOUR_FIFTHS,
    RULE_INPUT_DRIFT,
};
pub use state::{event_message, step, AlertEvent, AlertEventKind, AlertState};

/// At most 80 characters of user input, for error messages and logs.
fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}
