//! Deployment revisions and traffic routing: the routing table, its
//! validation, canary promotion, rollback targets and the choice of a route
//! for one request (consistent for a routing key, weighted random otherwise).

use chrono::{DateTime, Utc};

use crate::model::VersionRef;

/// One route as the user asks for it: a version or alias and a weight in
/// percent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub target: VersionRef,
    pub weight: u8,
}

/// A route with the version its target resolved to when the revision was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRoute {
    pub target: VersionRef,
    pub weight: u8,
    pub version: u32,
}

/// A shadow: gets a copy of every request; its answers are compared, never returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedShadow {
    pub target: VersionRef,
    pub version: u32,
}

/// The full routing table of one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingTable {
    pub routes: Vec<ResolvedRoute>,
    pub shadow: Option<ResolvedShadow>,
}

impl RoutingTable {
    /// Versions this table sends live traffic to (weight above zero).
    pub fn live_versions(&self) -> impl Iterator<Item = (&str, u32)> {
        self.routes
            .iter()
            .filter(|r| r.weight > 0)
            .map(|r| (r.target.model.as_str(), r.version))
    }

    /// A shadow must be a version no route serves live (weight above
    /// zero), whatever the references name: `m@staging` as the shadow of a
    /// table serving `m:3` is refused when the alias resolves to 3.
    pub fn validate_shadow(&self) -> Result<(), RoutingError> {
        match &self.shadow {
            Some(s)
                if self
                    .live_versions()
                    .any(|(model, version)| model == s.target.model && version == s.version) =>
            {
                Err(RoutingError::ShadowIsLive(s.target.to_string()))
            }
            _ => Ok(()),
        }
    }

    pub fn weights(&self) -> Vec<u8> {
        self.routes.iter().map(|r| r.weight).collect()
    }

    /// Whether the table follows `model@alias` anywhere.
    pub fn follows(&self, model: &str, alias: &str) -> bool {
        let follows = |t: &VersionRef| {
            t.model == model
                && matches!(&t.selector, crate::VersionSelector::Alias(a) if a == alias)
        };
        self.routes.iter().any(|r| follows(&r.target))
            || self.shadow.as_ref().is_some_and(|s| follows(&s.target))
    }
}

/// Automatic rollback of a canary when it misbehaves over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Guardrails {
    /// Roll back when the canary's share of failed requests exceeds this (0..1).
    pub max_error_rate: Option<f64>,
    /// Roll back when the canary's p99 latency exceeds this, in milliseconds.
    pub max_p99_ms: Option<f64>,
    /// The window the conditions are evaluated over, in seconds.
    pub window_secs: u64,
    /// Fewer canary requests than this in the window decide nothing.
    pub min_requests: u64,
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            max_error_rate: None,
            max_p99_ms: None,
            window_secs: 60,
            min_requests: 20,
        }
    }
}

/// Serving settings of a deployment, carried by each revision.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentSettings {
    /// Largest batch the dynamic batcher forms (1 = batching off).
    pub max_batch_size: u32,
    /// How long the batcher may hold the first request waiting for more, in µs.
    pub max_queue_delay_us: u64,
    /// Requests that may wait per version before new ones get 429.
    pub queue_capacity: u32,
    /// Default deadline of a request, in ms (a request header can set its own).
    pub timeout_ms: Option<u64>,
    /// Requests one deployment may have in flight at once.
    pub max_concurrency: Option<u32>,
    pub guardrails: Guardrails,
    /// Segment attributes (e.g. a sensitive attribute) that arrive with each
    /// request, are recorded, and are never fed to the model.
    pub segments: Vec<String>,
    /// The request field that identifies a row, for feedback by row id.
    pub row_id: Option<String>,
    /// Whether predictions are recorded in the prediction log.
    pub log_predictions: bool,
    /// Serve only versions carrying a valid Ed25519 signature by a trusted
    /// key (`hangar keys trust`).
    pub require_signed: bool,
}

impl Default for DeploymentSettings {
    fn default() -> Self {
        DeploymentSettings {
            max_batch_size: 64,
            max_queue_delay_us: 0,
            queue_capacity: 512,
            timeout_ms: None,
            max_concurrency: None,
            guardrails: Guardrails::default(),
            segments: Vec::new(),
            row_id: None,
            log_predictions: true,
            require_signed: false,
        }
    }
}

/// Why a revision was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevisionKind {
    /// Created or changed by a user.
    Deploy,
    /// A canary promoted to all traffic.
    Promote,
    /// Back to the table of an earlier revision.
    Rollback { to: u32 },
    /// A followed alias moved.
    AliasMoved { model: String, alias: String },
    /// A guardrail fired and took the canary of revision `from` out of traffic.
    Guardrail { from: u32, reason: String },
}

impl RevisionKind {
    pub fn name(&self) -> &'static str {
        match self {
            RevisionKind::Deploy => "deploy",
            RevisionKind::Promote => "promote",
            RevisionKind::Rollback { .. } => "rollback",
            RevisionKind::AliasMoved { .. } => "alias_moved",
            RevisionKind::Guardrail { .. } => "guardrail_rollback",
        }
    }

    pub fn is_rollback(&self) -> bool {
        matches!(
            self,
            RevisionKind::Rollback { .. } | RevisionKind::Guardrail { .. }
        )
    }
}

/// An immutable revision of a deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub deployment: String,
    pub number: u32,
    pub table: RoutingTable,
    pub settings: DeploymentSettings,
    pub kind: RevisionKind,
    pub message: String,
    pub actor: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("a deployment needs at least one route")]
    NoRoutes,
    #[error("at most {max} routes are allowed")]
    TooManyRoutes { max: usize },
    #[error("route weights are percentages and must sum to 100; these sum to {0}")]
    WeightSum(u32),
    #[error("route {0} appears twice")]
    Duplicate(String),
    #[error(
        "the shadow {0} also takes live traffic; a shadow must be a version that no route serves"
    )]
    ShadowIsLive(String),
    #[error("nothing to promote: the deployment has no canary (promote needs exactly two routes, the second being the canary)")]
    NoCanary,
    #[error("nothing to roll back to: revision 1 is the first")]
    NothingToRollBack,
    #[error("revision {0} is the current revision")]
    RollbackToCurrent(u32),
    #[error("invalid canary weight {0}: a canary takes 1 to 99 percent")]
    CanaryWeight(u8),
    #[error("invalid settings: {0}")]
    Settings(String),
}

pub const MAX_ROUTES: usize = 16;

/// Checks a requested table: 1 to 16 routes, weights summing to 100, no
/// target twice. (Whether the shadow serves live traffic is a question for
/// the resolved table: [`RoutingTable::validate_shadow`].)
pub fn validate_routes(routes: &[Route]) -> Result<(), RoutingError> {
    if routes.is_empty() {
        return Err(RoutingError::NoRoutes);
    }
    if routes.len() > MAX_ROUTES {
        return Err(RoutingError::TooManyRoutes { max: MAX_ROUTES });
    }
    let sum: u32 = routes.iter().map(|r| u32::from(r.weight)).sum();
    if sum != 100 {
        return Err(RoutingError::WeightSum(sum));
    }
    for (i, r) in routes.iter().enumerate() {
        if routes[..i].iter().any(|o| o.target == r.target) {
            return Err(RoutingError::Duplicate(r.target.to_string()));
        }
    }
    Ok(())
}

pub fn validate_settings(s: &DeploymentSettings) -> Result<(), RoutingError> {
    let bad = |m: &str| Err(RoutingError::Settings(m.to_string()));
    if s.max_batch_size == 0 || s.max_batch_size > 4096 {
        return bad("max_batch_size must be 1 to 4096");
    }
    if s.max_queue_delay_us > 1_000_000 {
        return bad("max_queue_delay_us must be at most 1 000 000 (one second)");
    }
    if s.queue_capacity == 0 || s.queue_capacity > 1_000_000 {
        return bad("queue_capacity must be 1 to 1 000 000");
    }
    if s.timeout_ms == Some(0) || s.max_concurrency == Some(0) {
        return bad("timeout_ms and max_concurrency must be at least 1 when set");
    }
    if s.segments.len() > 16 {
        return bad("at most 16 segment attributes");
    }
    for name in s.segments.iter().chain(&s.row_id) {
        if name.is_empty() || name.len() > 128 {
            return bad("segment and row-id field names must be 1 to 128 characters");
        }
    }
    if s.row_id.as_ref().is_some_and(|r| s.segments.contains(r)) {
        return bad("the row-id field cannot also be a segment attribute");
    }
    let g = &s.guardrails;
    if g.max_error_rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
        return bad("guardrails.max_error_rate must be between 0 and 1");
    }
    if g.max_p99_ms.is_some_and(|p| !(p > 0.0 && p.is_finite())) {
        return bad("guardrails.max_p99_ms must be a positive number");
    }
    if g.window_secs == 0 || g.window_secs > 86_400 {
        return bad("guardrails.window_secs must be 1 to 86400");
    }
    Ok(())
}

/// The table without its canary: the primary route takes all traffic.
pub fn without_canary(table: &RoutingTable) -> Result<RoutingTable, RoutingError> {
    match table.routes.as_slice() {
        [primary, _] => Ok(RoutingTable {
            routes: vec![ResolvedRoute {
                weight: 100,
                ..primary.clone()
            }],
            shadow: table.shadow.clone(),
        }),
        _ => Err(RoutingError::NoCanary),
    }
}

/// `primary` with an optional canary taking `percent` of traffic.
pub fn with_canary(
    primary: VersionRef,
    canary: Option<(VersionRef, u8)>,
) -> Result<Vec<Route>, RoutingError> {
    match canary {
        None => Ok(vec![Route {
            target: primary,
            weight: 100,
        }]),
        Some((_, w)) if w == 0 || w >= 100 => Err(RoutingError::CanaryWeight(w)),
        Some((target, w)) => Ok(vec![
            Route {
                target: primary,
                weight: 100 - w,
            },
            Route { target, weight: w },
        ]),
    }
}

/// The table after promoting the canary (the second of exactly two routes)
/// to all traffic. The shadow is kept.
pub fn promote(table: &RoutingTable) -> Result<RoutingTable, RoutingError> {
    match table.routes.as_slice() {
        [_, canary] => Ok(RoutingTable {
            routes: vec![ResolvedRoute {
                weight: 100,
                ..canary.clone()
            }],
            shadow: table.shadow.clone(),
        }),
        _ => Err(RoutingError::NoCanary),
    }
}

/// Which revision a rollback returns to: `to`, or the one before `current`.
pub fn rollback_target(current: u32, to: Option<u32>) -> Result<u32, RoutingError> {
    match to {
        Some(t) if t == current => Err(RoutingError::RollbackToCurrent(t)),
        Some(t) => Ok(t),
        None if current <= 1 => Err(RoutingError::NothingToRollBack),
        None => Ok(current - 1),
    }
}

/// Buckets of 0.01 %: weights in percent map onto 10 000 buckets.
const BUCKETS: u64 = 10_000;

/// A well-mixed 64-bit hash of a routing key (FNV-1a, then the splitmix64
/// finaliser), stable across processes and releases.
pub fn key_hash(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Picks a route index. With a routing key the key's bucket decides, so the
/// same key always reaches the same route of a table, and a small change of
/// weights moves only the keys whose buckets change hands. Without a key,
/// `random` (any uniformly random number) decides.
pub fn pick_route(weights: &[u8], key: Option<&str>, random: u64) -> usize {
    let bucket = match key {
        Some(k) => key_hash(k) % BUCKETS,
        None => random % BUCKETS,
    };
    let mut upper = 0u64;
    for (i, &w) in weights.iter().enumerate() {
        upper += u64::from(w) * (BUCKETS / 100);
        if bucket < upper {
            return i;
        }
    }
    // Weights sum to 100 in a valid table; fall back to the last live route.
    weights.iter().rposition(|&w| w > 0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str, w: u8) -> Route {
        Route {
            target: s.parse().unwrap(),
            weight: w,
        }
    }

    #[test]
    fn tables_are_validated() {
        let check = |routes: Vec<Route>, want: Result<(), RoutingError>| {
            assert_eq!(validate_routes(&routes), want);
        };
        check(vec![r("m:1", 100)], Ok(()));
        check(vec![r("m:1", 90), r("m:2", 10)], Ok(()));
        check(vec![], Err(RoutingError::NoRoutes));
        check(vec![r("m:1", 90)], Err(RoutingError::WeightSum(90)));
        check(
            vec![r("m:1", 60), r("m:2", 60)],
            Err(RoutingError::WeightSum(120)),
        );
        check(
            vec![r("m:1", 50), r("m:1", 50)],
            Err(RoutingError::Duplicate("m:1".into())),
        );
        check(
            (0..20).map(|i| r(&format!("m:{}", i + 1), 5)).collect(),
            Err(RoutingError::TooManyRoutes { max: 16 }),
        );
    }

    #[test]
    fn a_shadow_serves_no_live_traffic_whatever_its_reference() {
        let table = |routes: &[(&str, u8, u32)], shadow: (&str, u32)| RoutingTable {
            routes: routes
                .iter()
                .map(|(t, weight, version)| ResolvedRoute {
                    target: t.parse().unwrap(),
                    weight: *weight,
                    version: *version,
                })
                .collect(),
            shadow: Some(ResolvedShadow {
                target: shadow.0.parse().unwrap(),
                version: shadow.1,
            }),
        };
        assert_eq!(
            table(&[("m:1", 100, 1)], ("m:3", 3)).validate_shadow(),
            Ok(())
        );
        // A route at weight 0 serves nothing live.
        assert_eq!(
            table(&[("m:1", 100, 1), ("m:2", 0, 2)], ("m:2", 2)).validate_shadow(),
            Ok(())
        );
        assert_eq!(
            table(&[("m:1", 100, 1)], ("m:1", 1)).validate_shadow(),
            Err(RoutingError::ShadowIsLive("m:1".into()))
        );
        // Through an alias that resolves to the live version.
        assert_eq!(
            table(&[("m:3", 100, 3)], ("m@staging", 3)).validate_shadow(),
            Err(RoutingError::ShadowIsLive("m@staging".into()))
        );
        // The same version number of another model is another version.
        assert_eq!(
            table(&[("a:1", 100, 1)], ("b:1", 1)).validate_shadow(),
            Ok(())
        );
    }

    #[test]
    fn canary_splits_and_promotes() {
        let routes =
            with_canary("m:3".parse().unwrap(), Some(("m:4".parse().unwrap(), 10))).unwrap();
        assert_eq!(routes, vec![r("m:3", 90), r("m:4", 10)]);
        assert_eq!(
            with_canary("m:3".parse().unwrap(), Some(("m:4".parse().unwrap(), 100))),
            Err(RoutingError::CanaryWeight(100))
        );
        let table = RoutingTable {
            routes: routes
                .into_iter()
                .zip([3, 4])
                .map(|(r, version)| ResolvedRoute {
                    target: r.target,
                    weight: r.weight,
                    version,
                })
                .collect(),
            shadow: None,
        };
        let promoted = promote(&table).unwrap();
        assert_eq!(promoted.routes.len(), 1);
        assert_eq!(
            (promoted.routes[0].version, promoted.routes[0].weight),
            (4, 100)
        );
        assert_eq!(promote(&promoted), Err(RoutingError::NoCanary));
    }

    #[test]
    fn rollback_targets() {
        assert_eq!(rollback_target(5, None), Ok(4));
        assert_eq!(rollback_target(5, Some(2)), Ok(2));
        assert_eq!(
            rollback_target(1, None),
            Err(RoutingError::NothingToRollBack)
        );
        assert_eq!(
            rollback_target(5, Some(5)),
            Err(RoutingError::RollbackToCurrent(5))
        );
    }

    #[test]
    fn a_routing_key_always_reaches_the_same_route() {
        for key in ["alice", "bob", "42", ""] {
            let first = pick_route(&[50, 50], Some(key), 0);
            for random in 0..50 {
                assert_eq!(pick_route(&[50, 50], Some(key), random * 7919), first);
            }
        }
    }

    #[test]
    fn keys_spread_by_weight_and_a_small_weight_change_moves_few_keys() {
        let keys: Vec<String> = (0..20_000).map(|i| format!("customer-{i}")).collect();
        let share = |w: &[u8]| {
            keys.iter()
                .filter(|k| pick_route(w, Some(k), 0) == 1)
                .count() as f64
                / keys.len() as f64
        };
        assert!(
            (share(&[90, 10]) - 0.10).abs() < 0.01,
            "{}",
            share(&[90, 10])
        );
        assert!((share(&[50, 50]) - 0.50).abs() < 0.02);
        let moved = keys
            .iter()
            .filter(|k| pick_route(&[90, 10], Some(k), 0) != pick_route(&[88, 12], Some(k), 0))
            .count() as f64
            / keys.len() as f64;
        assert!(moved < 0.03, "2 points of weight moved {moved} of the keys");
    }

    #[test]
    fn random_choice_follows_weights_and_skips_zero_weights() {
        let n = 10_000u64;
        let picks: Vec<usize> = (0..n)
            .map(|i| pick_route(&[0, 70, 30], None, i.wrapping_mul(2_654_435_761)))
            .collect();
        assert!(picks.iter().all(|&p| p != 0));
        let second = picks.iter().filter(|&&p| p == 2).count() as f64 / n as f64;
        assert!((second - 0.30).abs() < 0.02, "{second}");
    }

    #[test]
    fn settings_are_bounded() {
        assert!(validate_settings(&DeploymentSettings::default()).is_ok());
        let bad = DeploymentSettings {
            max_batch_size: 0,
            ..Default::default()
        };
        assert!(validate_settings(&bad).is_err());
        let bad = DeploymentSettings {
            guardrails: Guardrails {
                max_error_rate: Some(2.0),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(validate_settings(&bad).is_err());
    }
}
