//! Names of models, aliases and deployments: `[a-z0-9][a-z0-9._-]{0,62}`.
//!
//! One rule for every user-chosen name keeps URLs, file names and log lines
//! safe (no path traversal, no quoting) and predictable.

use std::fmt;

/// What a name is for; used only to word the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Model,
    Alias,
    Deployment,
    Team,
    User,
    Key,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Model => "model name",
            NameKind::Alias => "alias",
            NameKind::Deployment => "deployment name",
            NameKind::Team => "team name",
            NameKind::User => "user name",
            NameKind::Key => "key name",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {name:?}: names must match [a-z0-9][a-z0-9._-]{{0,62}} (lower-case letters, digits, '.', '_', '-'; 1 to 63 characters; starting with a letter or digit)")]
pub struct NameError {
    pub kind: NameKind,
    pub name: String,
}

pub const MAX_NAME_LEN: usize = 63;

/// Checks `name` against the naming rule.
pub fn validate_name(kind: NameKind, name: &str) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(NameError {
            kind,
            // Never echo an unbounded string back into errors and logs.
            name: name.chars().take(80).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, ok: bool) {
        assert_eq!(validate_name(NameKind::Model, name).is_ok(), ok, "{name:?}");
    }

    #[test]
    fn names_follow_the_rule() {
        check("credit-risk", true);
        check("a", true);
        check("0", true);
        check("m.v_2-x", true);
        check(&"a".repeat(63), true);
        check(&"a".repeat(64), false);
        check("", false);
        check("-lead", false);
        check(".hidden", false);
        check("_x", false);
        check("Upper", false);
        check("a/b", false);
        check("../etc", false);
        check("sp ace", false);
        check("ümlaut", false);
    }

    #[test]
    fn error_message_states_the_rule() {
        let e = validate_name(NameKind::Deployment, "Bad Name").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("deployment name"), "{msg}");
        assert!(msg.contains("[a-z0-9][a-z0-9._-]{0,62}"), "{msg}");
    }
}
