//! Governance: who may do what (roles, actions, principals), the four-eyes
//! rule for high-risk versions, and the audit log's hash chain.
//!
//! Everything here is a pure decision over plain values; the server looks up
//! the facts (the principal behind a token, the team owning a model, the
//! approvals of a version) and asks these functions.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A role a user holds in a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Everything within the team.
    Admin,
    /// Deploys, promotes, rolls back; sets the `production` alias; manages
    /// alert rules and the team's consumer keys.
    Maintainer,
    /// Pushes versions, writes model cards and baselines, sets
    /// non-production aliases.
    DataScientist,
    /// Approves or rejects versions for production; reads the audit log.
    Approver,
    /// Reads everything of the team (the dashboard).
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Maintainer,
        Role::DataScientist,
        Role::Approver,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Maintainer => "maintainer",
            Role::DataScientist => "data-scientist",
            Role::Approver => "approver",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected admin, maintainer, data-scientist, approver or viewer")]
pub struct RoleError(pub String);

impl FromStr for Role {
    type Err = RoleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| RoleError(s.chars().take(32).collect()))
    }
}

/// What a request does, for the permission check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See a team's models, versions, deployments, monitoring and alerts.
    Read,
    /// Call a deployment over the inference protocol.
    Infer,
    /// Send true outcomes for a deployment's predictions.
    Feedback,
    /// Create models, push versions and baselines, write model cards, set
    /// non-production aliases.
    Push,
    /// Deploy, promote, roll back, set the `production` alias, manage alert
    /// rules and acknowledgements, issue consumer keys.
    Deploy,
    /// Approve or reject a version for production.
    Approve,
    /// Read the audit log.
    Audit,
    /// Teams, users, trusted signing keys, notification channels.
    Administer,
}

/// The role → action table. `Administer` is never granted by a team role:
/// only a Hangar administrator (superuser) has it.
pub fn role_allows(role: Role, action: Action) -> bool {
    use Action as A;
    match role {
        Role::Admin => action != A::Administer,
        Role::Maintainer => matches!(action, A::Read | A::Infer | A::Feedback | A::Deploy),
        Role::DataScientist => matches!(action, A::Read | A::Infer | A::Feedback | A::Push),
        Role::Approver => matches!(action, A::Read | A::Approve | A::Audit),
        Role::Viewer => action == A::Read,
    }
}

/// The team a model belongs to when its card names none.
pub const DEFAULT_TEAM: &str = "default";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's name, or `key:<id>` for a consumer key.
    pub name: String,
    pub kind: PrincipalKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A person (password session or API token), with roles per team.
    User {
        superuser: bool,
        memberships: Vec<(String, Role)>,
    },
    /// An inference key: only the named deployments, for a declared purpose.
    ConsumerKey {
        id: String,
        deployments: Vec<String>,
        purpose: String,
    },
    /// A metrics token: reads the Prometheus metrics (`/metrics`) and
    /// nothing else; what a scraper holds.
    Metrics { id: String },
}

impl Principal {
    pub fn user(name: &str, superuser: bool, memberships: Vec<(String, Role)>) -> Self {
        Principal {
            name: name.to_string(),
            kind: PrincipalKind::User {
                superuser,
                memberships,
            },
        }
    }

    pub fn is_superuser(&self) -> bool {
        matches!(
            self.kind,
            PrincipalKind::User {
                superuser: true,
                ..
            }
        )
    }

    pub fn is_consumer_key(&self) -> bool {
        matches!(self.kind, PrincipalKind::ConsumerKey { .. })
    }

    /// A person (not a consumer key, not a metrics token).
    pub fn is_user(&self) -> bool {
        matches!(self.kind, PrincipalKind::User { .. })
    }

    /// A metrics token: may read `/metrics`, nothing else.
    pub fn is_metrics(&self) -> bool {
        matches!(self.kind, PrincipalKind::Metrics { .. })
    }

    /// The consumer key's declared purpose.
    pub fn purpose(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::ConsumerKey { purpose, .. } => Some(purpose),
            PrincipalKind::User { .. } | PrincipalKind::Metrics { .. } => None,
        }
    }

    /// May this principal do `action` on an object owned by `team`?
    pub fn can(&self, action: Action, team: &str) -> bool {
        match &self.kind {
            PrincipalKind::User {
                superuser: true, ..
            } => true,
            PrincipalKind::User { memberships, .. } => memberships
                .iter()
                .any(|(t, r)| t == team && role_allows(*r, action)),
            PrincipalKind::ConsumerKey { .. } | PrincipalKind::Metrics { .. } => false,
        }
    }

    /// May this principal do `action` in at least one team?
    pub fn can_anywhere(&self, action: Action) -> bool {
        match &self.kind {
            PrincipalKind::User {
                superuser: true, ..
            } => true,
            PrincipalKind::User { memberships, .. } => {
                memberships.iter().any(|(_, r)| role_allows(*r, action))
            }
            PrincipalKind::ConsumerKey { .. } | PrincipalKind::Metrics { .. } => false,
        }
    }

    /// Does this principal see objects of `team` at all?
    pub fn sees(&self, team: &str) -> bool {
        match &self.kind {
            PrincipalKind::User {
                superuser: true, ..
            } => true,
            PrincipalKind::User { memberships, .. } => memberships.iter().any(|(t, _)| t == team),
            PrincipalKind::ConsumerKey { .. } | PrincipalKind::Metrics { .. } => false,
        }
    }

    /// May this consumer key call `deployment` for `action`? Consumer keys
    /// infer, read the deployment's metadata and send feedback; nothing else.
    pub fn key_allows(&self, action: Action, deployment: &str) -> bool {
        match &self.kind {
            PrincipalKind::ConsumerKey { deployments, .. } => {
                matches!(action, Action::Infer | Action::Feedback)
                    && deployments.iter().any(|d| d == deployment)
            }
            PrincipalKind::User { .. } | PrincipalKind::Metrics { .. } => false,
        }
    }

    /// The teams this principal is a member of, with its roles in each.
    pub fn memberships(&self) -> &[(String, Role)] {
        match &self.kind {
            PrincipalKind::User { memberships, .. } => memberships,
            PrincipalKind::ConsumerKey { .. } | PrincipalKind::Metrics { .. } => &[],
        }
    }
}

/// An approval or rejection of one version, by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub digest: String,
    pub approved: bool,
    pub by: String,
}

/// Why a version may not receive production traffic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FourEyesError {
    #[error("{model}:{version} is a high-risk version and has not been approved for production; an approver other than {pushed_by} must run `hangar approve {model}:{version}`")]
    NotApproved {
        model: String,
        version: u32,
        pushed_by: String,
    },
    #[error("{model}:{version} was rejected by {by}; it cannot receive production traffic")]
    Rejected {
        model: String,
        version: u32,
        by: String,
    },
}

/// The four-eyes rule: a high-risk version receives production traffic only
/// when the latest decision on its exact digest, by someone other than its
/// pusher, is an approval.
pub fn production_allowed(
    model: &str,
    version: u32,
    high_risk: bool,
    digest: &str,
    pushed_by: &str,
    decisions: &[Decision],
) -> Result<(), FourEyesError> {
    if !high_risk {
        return Ok(());
    }
    let last = decisions
        .iter()
        .rev()
        .find(|d| d.digest == digest && d.by != pushed_by);
    match last {
        Some(d) if d.approved => Ok(()),
        Some(d) => Err(FourEyesError::Rejected {
            model: model.to_string(),
            version,
            by: d.by.clone(),
        }),
        None => Err(FourEyesError::NotApproved {
            model: model.to_string(),
            version,
            pushed_by: pushed_by.to_string(),
        }),
    }
}

/// May `approver` decide on a version pushed by `pushed_by`?
pub fn may_decide(approver: &str, pushed_by: &str) -> bool {
    approver != pushed_by
}

/// One audit log entry as stored; `hash` chains it to the entry before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub address: String,
    pub action: String,
    pub object: String,
    pub outcome: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of the chain before its first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl AuditEntry {
    /// The entry's hash: SHA-256 over the previous hash and every field,
    /// each length-prefixed so that no two different entries encode alike.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        let seq = self.seq.to_string();
        for field in [
            &self.prev_hash,
            &seq,
            &self.at,
            &self.actor,
            &self.address,
            &self.action,
            &self.object,
            &self.outcome,
            &self.detail,
        ] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// What the verifier found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The entry's own fields no longer produce its hash: it was edited.
    Edited { seq: i64 },
    /// The entry does not follow the one before it: an entry was removed or
    /// the entries were reordered.
    Broken { seq: i64, expected_prev: String },
    /// The chain ends before the recorded head: entries were removed from
    /// the end.
    Truncated { last_seq: i64, head_seq: i64 },
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainBreak::Edited { seq } => write!(
                f,
                "entry {seq} was edited: its contents no longer match its hash"
            ),
            ChainBreak::Broken { seq, .. } => write!(
                f,
                "entry {seq} does not follow the entry before it: an entry was removed or reordered"
            ),
            ChainBreak::Truncated { last_seq, head_seq } => write!(
                f,
                "the log ends at entry {last_seq} but entry {head_seq} was written: entries were removed from the end"
            ),
        }
    }
}

/// Checks the chain in `entries` (in seq order) against its recorded head
/// (the last seq and hash written). Returns the first break.
pub fn verify_chain(entries: &[AuditEntry], head: Option<(i64, &str)>) -> Result<(), ChainBreak> {
    let mut prev = GENESIS_HASH.to_string();
    let mut last_seq = 0;
    for e in entries {
        if e.prev_hash != prev {
            return Err(ChainBreak::Broken {
                seq: e.seq,
                expected_prev: prev,
            });
        }
        let h = e.compute_hash();
        if h != e.hash {
            return Err(ChainBreak::Edited { seq: e.seq });
        }
        prev = h;
        last_seq = e.seq;
    }
    if let Some((head_seq, head_hash)) = head {
        if head_seq != last_seq || head_hash != prev {
            return Err(ChainBreak::Truncated { last_seq, head_seq });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let at = format!("2026-11-27T00:00:{seq:02}Z");
                let mut e = AuditEntry {
                    seq,
                    at,
                    actor: "alice".into(),
                    address: "127.0.0.1".into(),
                    action: "deploy".into(),
                    object: "credit".into(),
                    outcome: "ok".into(),
                    detail: "{}".into(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = e.compute_hash();
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn head(c: &[AuditEntry]) -> Option<(i64, &str)> {
        c.last().map(|e| (e.seq, e.hash.as_str()))
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(5);
        assert_eq!(verify_chain(&c, head(&c)), Ok(()));
        assert_eq!(verify_chain(&[], None), Ok(()));
    }

    #[test]
    fn every_kind_of_tampering_is_named() {
        let c = chain(5);
        let h = (c[4].seq, c[4].hash.clone());
        let head = Some((h.0, h.1.as_str()));

        let mut edited = c.clone();
        edited[2].actor = "mallory".into();
        assert_eq!(
            verify_chain(&edited, head),
            Err(ChainBreak::Edited { seq: 3 })
        );

        let mut removed = c.clone();
        removed.remove(1);
        assert!(matches!(
            verify_chain(&removed, head),
            Err(ChainBreak::Broken { seq: 3, .. })
        ));

        let mut reordered = c.clone();
        reordered.swap(1, 2);
        assert!(matches!(
            verify_chain(&reordered, head),
            Err(ChainBreak::Broken { seq: 3, .. })
        ));

        let truncated = &c[..4];
        assert_eq!(
            verify_chain(truncated, head),
            Err(ChainBreak::Truncated {
                last_seq: 4,
                head_seq: 5
            })
        );
    }

    #[test]
    fn field_boundaries_matter() {
        let a = chain(1).remove(0);
        let b = AuditEntry {
            actor: "alic".into(),
            address: "e127.0.0.1".into(),
            ..a.clone()
        };
        assert_ne!(a.compute_hash(), b.compute_hash());
    }

    #[test]
    fn roles_grant_what_the_table_says() {
        use Action::*;
        assert!(role_allows(Role::Admin, Deploy));
        assert!(!role_allows(Role::Admin, Administer));
        assert!(role_allows(Role::Maintainer, Deploy));
        assert!(!role_allows(Role::Maintainer, Push));
        assert!(!role_allows(Role::Maintainer, Approve));
        assert!(role_allows(Role::DataScientist, Push));
        assert!(!role_allows(Role::DataScientist, Deploy));
        assert!(role_allows(Role::Approver, Approve));
        assert!(!role_allows(Role::Approver, Infer));
        assert!(role_allows(Role::Viewer, Read));
        assert!(!role_allows(Role::Viewer, Infer));
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("owner".parse::<Role>().is_err());
    }

    #[test]
    fn principals_are_scoped_to_their_teams() {
        let p = Principal::user("dana", false, vec![("risk".into(), Role::DataScientist)]);
        assert!(p.can(Action::Push, "risk"));
        assert!(!p.can(Action::Push, "fraud"));
        assert!(!p.sees("fraud"));
        assert!(p.can_anywhere(Action::Push));
        assert!(!p.can_anywhere(Action::Deploy));
        let root = Principal::user("admin", true, vec![]);
        assert!(root.can(Action::Administer, "anything"));
        let key = Principal {
            name: "key:k1".into(),
            kind: PrincipalKind::ConsumerKey {
                id: "k1".into(),
                deployments: vec!["credit".into()],
                purpose: "loan decisions".into(),
            },
        };
        assert!(key.key_allows(Action::Infer, "credit"));
        assert!(!key.key_allows(Action::Infer, "fraud"));
        assert!(!key.key_allows(Action::Deploy, "credit"));
        assert!(!key.can(Action::Read, "default"));
        assert_eq!(key.purpose(), Some("loan decisions"));
        // A metrics token holds no team role and no deployment.
        let scraper = Principal {
            name: "metrics:m1".into(),
            kind: PrincipalKind::Metrics { id: "m1".into() },
        };
        assert!(scraper.is_metrics() && !scraper.is_user() && !scraper.is_consumer_key());
        assert!(!scraper.is_superuser());
        assert!(!scraper.sees("default"));
        assert!(!scraper.can_anywhere(Action::Read));
        assert!(!scraper.key_allows(Action::Infer, "credit"));
        assert!(scraper.memberships().is_empty() && scraper.purpose().is_none());
    }

    #[test]
    fn four_eyes() {
        let d = "sha256:abc";
        // Low risk needs nothing.
        assert!(production_allowed("m", 1, false, d, "ds", &[]).is_ok());
        // High risk needs an approval ...
        assert!(matches!(
            production_allowed("m", 1, true, d, "ds", &[]),
            Err(FourEyesError::NotApproved { .. })
        ));
        // ... not by the pusher ...
        let own = Decision {
            digest: d.into(),
            approved: true,
            by: "ds".into(),
        };
        assert!(production_allowed("m", 1, true, d, "ds", std::slice::from_ref(&own)).is_err());
        // ... of this exact digest ...
        let other = Decision {
            digest: "sha256:def".into(),
            approved: true,
            by: "ap".into(),
        };
        assert!(production_allowed("m", 1, true, d, "ds", &[other]).is_err());
        // ... and the latest decision counts.
        let ok = Decision {
            digest: d.into(),
            approved: true,
            by: "ap".into(),
        };
        let no = Decision {
            approved: false,
            ..ok.clone()
        };
        assert!(production_allowed("m", 1, true, d, "ds", std::slice::from_ref(&ok)).is_ok());
        assert!(matches!(
            production_allowed("m", 1, true, d, "ds", &[ok.clone(), no.clone()]),
            Err(FourEyesError::Rejected { .. })
        ));
        assert!(production_allowed("m", 1, true, d, "ds", &[no, ok]).is_ok());
        assert!(!may_decide("ds", "ds"));
        assert!(may_decide("ap", "ds"));
    }
}
