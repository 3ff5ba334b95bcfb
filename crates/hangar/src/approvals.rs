//! `hangar approve|reject|approvals`: the four-eyes decisions on a version
//! and whether it may receive production traffic.

use crate::cli::ClientArgs;
use crate::client::{Approvals, Client, NewDecision};
use crate::output::{self, OutputFormat, Table};
use clap::Args;
use hangar_core::VersionRef;

pub const APPROVE_ABOUT: &str = "\
Approve a model version for production traffic, with a comment saying what was \
checked.

A version of a model whose card says risk tier high cannot receive production \
traffic (a route weight above zero, or the production alias) until a principal \
with the approver role, other than the one who pushed it, approves that exact \
version (its digest). Shadow traffic needs no approval. `hangar approvals` shows \
the decisions and whether production is allowed.";

/// `MODEL:VERSION`: one exact version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactVersion {
    pub model: String,
    pub version: u32,
}

impl std::fmt::Display for ExactVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.model, self.version)
    }
}

pub fn exact_version(s: &str) -> Result<ExactVersion, String> {
    let r: VersionRef = s
        .parse()
        .map_err(|e: hangar_core::model::VersionRefError| e.to_string())?;
    match r.selector {
        hangar_core::VersionSelector::Number(version) => Ok(ExactVersion {
            model: r.model,
            version,
        }),
        hangar_core::VersionSelector::Alias(_) => Err(format!(
            "{s:?} names an alias; decisions are about one exact version: MODEL:VERSION"
        )),
    }
}

#[derive(Args, Debug)]
pub struct DecisionArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// The version decided on
    #[arg(value_name = "MODEL:VERSION", value_parser = exact_version)]
    pub target: ExactVersion,

    /// What was checked, or why it was rejected (recorded with the decision)
    #[arg(long, value_name = "TEXT")]
    pub comment: String,
}

#[derive(Args, Debug)]
pub struct ApprovalsArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// The version
    #[arg(value_name = "MODEL:VERSION", value_parser = exact_version)]
    pub target: ExactVersion,
}

pub async fn decide(args: DecisionArgs, approve: bool) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let decision = NewDecision {
        decision: if approve { "approve" } else { "reject" }.to_owned(),
        comment: args.comment,
    };
    let d = client
        .decide(&args.target.model, args.target.version, &decision)
        .await?;
    output::print(&match args.client.output {
        OutputFormat::Json => output::json(&d.raw),
        OutputFormat::Table => format!(
            "{} {} ({}) as {}: {}\n",
            if approve { "approved" } else { "rejected" },
            args.target,
            output::short_digest(&d.body.digest),
            d.body.by,
            d.body.comment,
        ),
    })
}

pub async fn show(args: ApprovalsArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let a = client
        .approvals(&args.target.model, args.target.version)
        .await?;
    output::print(&match args.client.output {
        OutputFormat::Json => output::json(&a.raw),
        OutputFormat::Table => approvals_card(&args.target, &a.body),
    })
}

fn approvals_card(target: &ExactVersion, a: &Approvals) -> String {
    let production = if a.production_allowed {
        "allowed".to_owned()
    } else {
        format!("NOT allowed: {}", a.reason.as_deref().unwrap_or("-"))
    };
    let mut out = output::card(&[
        ("version", target.to_string()),
        ("digest", a.digest.clone()),
        ("pushed by", a.pushed_by.clone()),
        ("production", production),
        ("signatures", a.signatures.len().to_string()),
    ]);
    if a.decisions.is_empty() {
        out.push_str("\nno decisions yet; an approver other than the pusher decides with `hangar approve` or `hangar reject`\n");
    } else {
        let mut t = Table::new(["DECISION", "BY", "AT", "COMMENT"]);
        for d in &a.decisions {
            t.row(vec![
                d.decision.clone(),
                d.by.clone(),
                output::when(&d.at),
                d.comment.clone(),
            ]);
        }
        out.push('\n');
        out.push_str(&t.render());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_card_says_whether_production_is_allowed_and_why() {
        let target = ExactVersion {
            model: "credit".into(),
            version: 2,
        };
        let approvals: Approvals = serde_json::from_value(json!({
            "model": "credit", "version": 2,
            "digest": "sha256:ab", "pushed_by": "ada", "production_allowed": false,
            "reason": "credit:2 is high risk and not approved", "signatures": [],
            "decisions": [],
        }))
        .unwrap();
        let text = approvals_card(&target, &approvals);
        assert!(
            text.contains("production:  NOT allowed: credit:2 is high risk and not approved\n"),
            "{text}"
        );
        assert!(text.contains("no decisions yet"), "{text}");
    }
}
