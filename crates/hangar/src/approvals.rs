//! `hangar approve|reject|approvals`: the four-eyes decisions on a version
//! and whether it may receive production traffic.

use reqwest::Method;
use serde_json::{json, Value};

use crate::cli::ClientArgs;
use crate::client::Client;
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
    let version = args.target.version.to_string();
    let v = client
        .send_json(
            Method::POST,
            &[
                "api",
                "v1",
                "models",
                &args.target.model,
                "versions",
                &version,
                "approvals",
            ],
            &json!({
                "decision": if approve { "approve" } else { "reject" },
                "comment": args.comment,
            }),
        )
        .await?;
    output::print(&match args.client.output {
        OutputFormat::Json => output::json(&v),
        OutputFormat::Table => format!(
            "{} {} ({}) as {}: {}\n",
            if approve { "approved" } else { "rejected" },
            args.target,
            output::short_digest(v["digest"].as_str().unwrap_or_default()),
            output::value(&v["by"]),
            output::value(&v["comment"]),
        ),
    })
}

pub async fn show(args: ApprovalsArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let version = args.target.version.to_string();
    let v = client
        .get_json(
            &[
                "api",
                "v1",
                "models",
                &args.target.model,
                "versions",
                &version,
                "approvals",
            ],
            &[],
        )
        .await?;
    output::print(&match args.client.output {
        OutputFormat::Json => output::json(&v),
        OutputFormat::Table => approvals_card(&args.target, &v),
    })
}

fn approvals_card(target: &ExactVersion, v: &Value) -> String {
    let production = if v["production_allowed"].as_bool() == Some(true) {
        "allowed".to_owned()
    } else {
        format!("NOT allowed: {}", output::value(&v["reason"]))
    };
    let signatures = v["signatures"].as_array().map_or(0, Vec::len);
    let mut out = output::card(&[
        ("version", target.to_string()),
        ("digest", output::value(&v["digest"])),
        ("pushed by", output::value(&v["pushed_by"])),
        ("production", production),
        ("signatures", signatures.to_string()),
    ]);
    let decisions = v["decisions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if decisions.is_empty() {
        out.push_str("\nno decisions yet; an approver other than the pusher decides with `hangar approve` or `hangar reject`\n");
    } else {
        let mut t = Table::new(["DECISION", "BY", "AT", "COMMENT"]);
        for d in decisions {
            t.row(vec![
                output::value(&d["decision"]),
                output::value(&d["by"]),
                d["at"]
                    .as_str()
                    .map_or_else(|| "-".to_owned(), output::time),
                output::value(&d["comment"]),
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

    #[test]
    fn the_card_says_whether_production_is_allowed_and_why() {
        let target = ExactVersion {
            model: "credit".into(),
            version: 2,
        };
        let text = approvals_card(
            &target,
            &json!({
                "digest": "sha256:ab", "pushed_by": "ada", "production_allowed": false,
                "reason": "credit:2 is high risk and not approved", "signatures": [],
                "decisions": [],
            }),
        );
        assert!(
            text.contains("production:  NOT allowed: credit:2 is high risk and not approved\n"),
            "{text}"
        );
        assert!(text.contains("no decisions yet"), "{text}");
    }
}
