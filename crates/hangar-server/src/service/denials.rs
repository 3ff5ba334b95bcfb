//! Denied requests in the audit log without letting anyone grow it at will.
//!
//! Denials are grouped by (address, actor, action, outcome). The first
//! denial of a group is written at once, as its own entry; the ones that
//! follow within [`WINDOW`] are only counted, and one aggregated entry —
//! the count, the first and last time, a few sample objects — is appended
//! when the window closes (or at [`THRESHOLD`] denials, or when someone
//! reads the log, or at shutdown). Nothing already written is ever edited,
//! so the hash chain stays verifiable.
//!
//! Bounded in memory and in the log: at most [`MAX_GROUPS`] groups are open
//! (past that, denials go to one overflow group per outcome), and at most
//! [`IMMEDIATE_PER_WINDOW`] first denials per window are written one by one
//! (past that, they are only counted). A flood from any number of addresses
//! therefore adds at most about `IMMEDIATE_PER_WINDOW + MAX_GROUPS` entries
//! a minute, each of bounded size; one address adds two per route a minute.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hangar_store::NewAuditEntry;
use serde_json::json;

/// How long denials of one group are counted before their entry is written.
pub const WINDOW: Duration = Duration::from_secs(60);
/// A group with this many counted denials is written at once.
pub const THRESHOLD: u64 = 10_000;
/// Most groups counted at a time.
pub const MAX_GROUPS: usize = 512;
/// Most first denials written one by one per window.
pub const IMMEDIATE_PER_WINDOW: u32 = 128;
/// Sample objects kept per aggregated entry.
const SAMPLES: usize = 3;
/// Teams kept per aggregated entry.
const TEAMS: usize = 16;

/// One denied request, as the permission check saw it.
#[derive(Debug, Clone)]
pub struct Denial {
    pub actor: String,
    pub address: String,
    pub action: String,
    pub object: String,
    pub outcome: String,
    pub reason: String,
    /// The request's path (capped when written).
    pub path: Option<String>,
    /// The teams owning what was asked for (their auditors may read it).
    pub teams: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    address: String,
    actor: String,
    action: String,
    outcome: String,
}

#[derive(Debug)]
struct Group {
    opened: Instant,
    /// Denials counted since the group opened (not written one by one).
    count: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    samples: Vec<String>,
    reason: String,
    teams: BTreeSet<String>,
}

struct State {
    groups: HashMap<Key, Group>,
    window_start: Instant,
    immediate: u32,
}

/// The open groups of denials.
pub struct Denials {
    state: Mutex<State>,
}

impl Default for Denials {
    fn default() -> Self {
        Denials {
            state: Mutex::new(State {
                groups: HashMap::new(),
                window_start: Instant::now(),
                immediate: 0,
            }),
        }
    }
}

/// Cuts `s` to at most `max` characters, marking the cut with `…`.
pub fn cap(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// The longest path kept in an entry's detail.
pub const PATH_CHARS: usize = 256;
/// The longest reason kept in an entry's detail.
const REASON_CHARS: usize = 512;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Denials {
    /// Counts a denial; returns the entries to append now: the denial itself
    /// when it opens a group (within the budget), or the group's aggregate
    /// when it reached [`THRESHOLD`].
    pub fn record(&self, d: Denial, now: Instant, at: DateTime<Utc>) -> Option<NewAuditEntry> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if now.saturating_duration_since(st.window_start) >= WINDOW {
            st.window_start = now;
            st.immediate = 0;
        }
        let mut key = Key {
            address: d.address.clone(),
            actor: d.actor.clone(),
            action: d.action.clone(),
            outcome: d.outcome.clone(),
        };
        if !st.groups.contains_key(&key) {
            if st.groups.len() >= MAX_GROUPS {
                key = Key {
                    address: "*".into(),
                    actor: "*".into(),
                    action: "*".into(),
                    outcome: d.outcome.clone(),
                };
            } else if st.immediate < IMMEDIATE_PER_WINDOW {
                st.immediate += 1;
                st.groups.insert(
                    key,
                    Group {
                        opened: now,
                        count: 0,
                        first: None,
                        last: None,
                        samples: Vec::new(),
                        reason: String::new(),
                        teams: BTreeSet::new(),
                    },
                );
                return Some(single(d));
            }
        }
        let g = st.groups.entry(key.clone()).or_insert_with(|| Group {
            opened: now,
            count: 0,
            first: None,
            last: None,
            samples: Vec::new(),
            reason: String::new(),
            teams: BTreeSet::new(),
        });
        g.count += 1;
        g.first.get_or_insert(at);
        g.last = Some(at);
        let object = cap(&d.object, PATH_CHARS);
        if g.samples.len() < SAMPLES && !g.samples.contains(&object) {
            g.samples.push(object);
        }
        g.reason = cap(&d.reason, REASON_CHARS);
        for t in d.teams {
            if g.teams.len() < TEAMS {
                g.teams.insert(t);
            }
        }
        if g.count >= THRESHOLD {
            let g = st.groups.remove(&key)?;
            return aggregate(key, g);
        }
        None
    }

    /// Closes the groups whose window has passed (every group when `all`),
    /// returning their aggregated entries.
    pub fn due(&self, now: Instant, all: bool) -> Vec<NewAuditEntry> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let closing: Vec<Key> = st
            .groups
            .iter()
            .filter(|(_, g)| all || now.saturating_duration_since(g.opened) >= WINDOW)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for k in closing {
            if let Some(g) = st.groups.remove(&k) {
                out.extend(aggregate(k, g));
            }
        }
        out
    }

    /// Groups open now, for tests.
    #[cfg(test)]
    pub fn open_groups(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .groups
            .len()
    }
}

/// The entry of one denial written on its own.
fn single(d: Denial) -> NewAuditEntry {
    let reason = cap(&d.reason, REASON_CHARS);
    let detail = match &d.path {
        Some(p) => json!({ "path": cap(p, PATH_CHARS), "reason": reason }),
        None => json!({ "reason": reason }),
    };
    NewAuditEntry {
        actor: d.actor,
        address: d.address,
        action: d.action,
        object: cap(&d.object, PATH_CHARS),
        outcome: d.outcome,
        detail: detail.to_string(),
        teams: d.teams,
    }
}

/// The aggregated entry of a group; none when nothing was counted.
fn aggregate(k: Key, g: Group) -> Option<NewAuditEntry> {
    if g.count == 0 {
        return None;
    }
    let detail = json!({
        "aggregated": true,
        "count": g.count,
        "first": g.first.map(ts),
        "last": g.last.map(ts),
        "samples": g.samples,
        "reason": g.reason,
    });
    Some(NewAuditEntry {
        object: g.samples.first().cloned().unwrap_or_else(|| "*".into()),
        actor: k.actor,
        address: k.address,
        action: k.action,
        outcome: k.outcome,
        detail: detail.to_string(),
        teams: g.teams.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(address: &str, action: &str, object: &str) -> Denial {
        Denial {
            actor: "-".into(),
            address: address.into(),
            action: action.into(),
            object: object.into(),
            outcome: "unauthenticated".into(),
            reason: "authentication required".into(),
            path: Some(format!("/{object}")),
            teams: vec![],
        }
    }

    #[test]
    fn the_first_denial_is_written_the_rest_are_counted_until_the_window_closes() {
        let d = Denials::default();
        let t0 = Instant::now();
        let at = Utc::now();
        let first = d.record(denial("a", "GET /x", "x/1"), t0, at).unwrap();
        assert!(
            first.detail.contains("\"path\":\"/x/1\""),
            "{}",
            first.detail
        );
        for i in 0..499 {
            assert!(d
                .record(denial("a", "GET /x", &format!("x/{i}")), t0, at)
                .is_none());
        }
        assert!(d.due(t0 + WINDOW / 2, false).is_empty());
        let closed = d.due(t0 + WINDOW, false);
        assert_eq!(closed.len(), 1);
        let v: serde_json::Value = serde_json::from_str(&closed[0].detail).unwrap();
        assert_eq!(v["count"], 499);
        assert_eq!(v["aggregated"], true);
        assert_eq!(v["samples"].as_array().unwrap().len(), SAMPLES);
        assert_eq!(d.open_groups(), 0);
        // The next one opens a new group and is written at once again.
        assert!(d
            .record(denial("a", "GET /x", "x/1"), t0 + WINDOW, at)
            .is_some());
    }

    #[test]
    fn a_group_reaching_the_threshold_is_written_early() {
        let d = Denials::default();
        let t0 = Instant::now();
        let at = Utc::now();
        let written: Vec<_> = (0..=THRESHOLD)
            .filter_map(|_| d.record(denial("a", "GET /x", "x"), t0, at))
            .collect();
        assert_eq!(written.len(), 2);
        assert!(written[1]
            .detail
            .contains(&format!("\"count\":{THRESHOLD}")));
    }

    #[test]
    fn many_addresses_stay_within_the_budget_and_the_group_cap() {
        let d = Denials::default();
        let t0 = Instant::now();
        let at = Utc::now();
        let mut written = Vec::new();
        for i in 0..100_000 {
            written.extend(d.record(denial(&format!("10.{}", i % 20_000), "GET /x", "x"), t0, at));
        }
        let count = |e: &NewAuditEntry| {
            let v: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
            v["count"].as_u64().unwrap_or(1)
        };
        let singles = written
            .iter()
            .filter(|e| !e.detail.contains("aggregated"))
            .count();
        assert_eq!(singles, IMMEDIATE_PER_WINDOW as usize);
        // The overflow group was written each time it reached the threshold.
        assert!(written.len() - singles <= 100_000 / THRESHOLD as usize);
        assert!(d.open_groups() <= MAX_GROUPS + 1);
        let closed = d.due(t0, true);
        assert!(closed.len() <= MAX_GROUPS + 1);
        let total: u64 = written.iter().chain(&closed).map(count).sum();
        assert_eq!(total, 100_000, "every denial is counted");
        assert!(closed.iter().any(|e| e.address == "*"));
    }

    #[test]
    fn long_objects_and_paths_are_capped() {
        let d = Denials::default();
        let long = "é".repeat(60_000);
        let e = d
            .record(denial("a", "GET /x", &long), Instant::now(), Utc::now())
            .unwrap();
        assert!(
            e.detail.chars().count() < PATH_CHARS + 200,
            "{}",
            e.detail.len()
        );
        assert_eq!(cap("abc", 2), "ab…");
        assert_eq!(cap("abc", 3), "abc");
    }
}
