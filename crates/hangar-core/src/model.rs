//! Models, versions, aliases and deployments as the domain sees them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::name::{validate_name, NameError, NameKind};
use crate::signature::Signature;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RiskTier {
    #[default]
    Low,
    Medium,
    High,
}

impl RiskTier {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskTier::Low => "low",
            RiskTier::Medium => "medium",
            RiskTier::High => "high",
        }
    }
}

impl fmt::Display for RiskTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid risk tier {0:?}: expected low, medium or high")]
pub struct RiskTierError(pub String);

impl FromStr for RiskTier {
    type Err = RiskTierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low" => Ok(RiskTier::Low),
            "medium" => Ok(RiskTier::Medium),
            "high" => Ok(RiskTier::High),
            other => Err(RiskTierError(other.chars().take(32).collect())),
        }
    }
}

/// What the people responsible for a model say about it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelCard {
    pub description: String,
    pub owner_team: Option<String>,
    pub intended_use: Option<String>,
    pub out_of_scope_uses: Vec<String>,
    pub risk_tier: RiskTier,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub name: String,
    pub card: ModelCard,
    pub latest_version: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactFormat {
    Onnx,
}

impl ArtifactFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactFormat::Onnx => "onnx",
        }
    }

    /// Recognises a format from the artifact's first bytes. ONNX files are
    /// protobuf `ModelProto`s, whose first field is `ir_version` (field 1,
    /// varint: tag byte 0x08).
    pub fn sniff(head: &[u8]) -> Option<ArtifactFormat> {
        match head.first() {
            Some(0x08) => Some(ArtifactFormat::Onnx),
            _ => None,
        }
    }
}

impl FromStr for ArtifactFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "onnx" => Ok(ArtifactFormat::Onnx),
            other => Err(format!("unknown artifact format {other:?}")),
        }
    }
}

/// An immutable, numbered artifact of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersion {
    pub model: String,
    pub version: u32,
    /// `sha256:<hex>` of the artifact bytes.
    pub digest: String,
    pub size_bytes: u64,
    pub format: ArtifactFormat,
    pub signature: Signature,
    /// Column names of the single 2-D input, in order, when known.
    pub feature_names: Option<Vec<String>>,
    pub description: String,
    pub source_commit: Option<String>,
    pub training_run: Option<String>,
    pub metrics: BTreeMap<String, f64>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// One move of an alias: set (`from` = None), moved, or deleted (`to` = None).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasEvent {
    pub model: String,
    pub alias: String,
    pub from_version: Option<u32>,
    pub to_version: Option<u32>,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// How a version is picked: by number or by alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    Number(u32),
    Alias(String),
}

/// `model:3` or `model@production`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRef {
    pub model: String,
    pub selector: VersionSelector,
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            VersionSelector::Number(v) => write!(f, "{}:{}", self.model, v),
            VersionSelector::Alias(a) => write!(f, "{}@{}", self.model, a),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionRefError {
    #[error("invalid model reference {0:?}: expected MODEL:VERSION (e.g. credit-risk:3) or MODEL@ALIAS (e.g. credit-risk@production)")]
    Syntax(String),
    #[error(transparent)]
    Name(#[from] NameError),
}

impl FromStr for VersionRef {
    type Err = VersionRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || VersionRefError::Syntax(s.chars().take(80).collect());
        let (model, selector) = if let Some((m, v)) = s.split_once(':') {
            let n: u32 = v.parse().map_err(|_| syntax())?;
            if n == 0 {
                return Err(syntax());
            }
            (m, VersionSelector::Number(n))
        } else if let Some((m, a)) = s.split_once('@') {
            validate_name(NameKind::Alias, a)?;
            (m, VersionSelector::Alias(a.to_string()))
        } else {
            return Err(syntax());
        };
        validate_name(NameKind::Model, model)?;
        Ok(VersionRef {
            model: model.to_string(),
            selector,
        })
    }
}

/// A stable name that applications call, with its current revision.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub name: String,
    pub current: crate::routing::Revision,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_refs_parse_numbers_and_aliases() {
        assert_eq!(
            "credit:3".parse::<VersionRef>().unwrap(),
            VersionRef {
                model: "credit".into(),
                selector: VersionSelector::Number(3)
            }
        );
        assert_eq!(
            "credit@production".parse::<VersionRef>().unwrap(),
            VersionRef {
                model: "credit".into(),
                selector: VersionSelector::Alias("production".into())
            }
        );
        for bad in [
            "credit",
            "credit:0",
            "credit:x",
            "credit:-1",
            "Credit:1",
            "credit@Prod",
            ":1",
            "credit:",
        ] {
            assert!(bad.parse::<VersionRef>().is_err(), "{bad}");
        }
        assert_eq!("a:7".parse::<VersionRef>().unwrap().to_string(), "a:7");
        assert_eq!("a@b".parse::<VersionRef>().unwrap().to_string(), "a@b");
    }

    #[test]
    fn risk_tiers_parse_exactly() {
        assert_eq!("high".parse::<RiskTier>().unwrap(), RiskTier::High);
        assert!("HIGH".parse::<RiskTier>().is_err());
    }

    #[test]
    fn onnx_is_sniffed_from_its_first_field() {
        assert_eq!(
            ArtifactFormat::sniff(&[0x08, 0x07]),
            Some(ArtifactFormat::Onnx)
        );
        assert_eq!(ArtifactFormat::sniff(b"{\"learner\""), None);
        assert_eq!(ArtifactFormat::sniff(b""), None);
    }
}
