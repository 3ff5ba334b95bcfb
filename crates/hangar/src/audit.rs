//! `hangar audit list|verify`: the tamper-evident audit log.

use anyhow::bail;
use serde_json::Value;

use crate::cli::{ClientArgs, WindowArgs};
use crate::client::Client;
use crate::output::{self, OutputFormat, Table};
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// List audit entries, newest first: who changed what, when, from where; and denials
    #[command(
        long_about = "List audit entries, newest first: every change (models, versions, \
            aliases, deployments, keys, users, approvals, alert rules) and every denied \
            request, with who, when, from which address and what changed. Filters combine. \
            Administrators and approvers only.",
        after_help = "Examples:\n  \
            hangar audit list\n  \
            hangar audit list --actor ada --from 7d\n  \
            hangar audit list --object models/credit-risk --limit 20 --output json"
    )]
    List(AuditListArgs),
    /// Check the audit log's hash chain; exits with 1 naming the first broken entry
    #[command(
        long_about = "Check the audit log's hash chain: each entry's hash covers its content \
            and the previous entry's hash, so an entry edited, removed or reordered behind \
            Hangar's back breaks the chain there. Prints ok and the number of entries, or \
            names the first broken entry and exits with 1.",
        after_help = "Examples:\n  hangar audit verify\n  hangar audit verify --output json"
    )]
    Verify,
}

#[derive(Args, Debug)]
pub struct AuditListArgs {
    /// Only entries by this actor (a user, a consumer key's name)
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,

    /// Only entries about this object or below it, e.g. models/credit-risk
    #[arg(long, value_name = "OBJECT")]
    pub object: Option<String>,

    #[command(flatten)]
    pub window: WindowArgs,

    /// At most this many entries [default: 200]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: Option<u32>,
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let format = args.client.output;
    match args.command {
        AuditCommand::List(l) => {
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(a) = l.actor {
                query.push(("actor", a));
            }
            if let Some(o) = l.object {
                query.push(("object", o));
            }
            if let Some(f) = l.window.from {
                query.push(("from", f));
            }
            if let Some(t) = l.window.to {
                query.push(("to", t));
            }
            if let Some(n) = l.limit {
                query.push(("limit", n.to_string()));
            }
            let v = client.get_json(&["api", "v1", "audit"], &query).await?;
            output::print(&match format {
                OutputFormat::Json => output::json(&v),
                OutputFormat::Table => entries_table(&v["entries"]),
            })
        }
        AuditCommand::Verify => {
            let v = client
                .get_json(&["api", "v1", "audit", "verify"], &[])
                .await?;
            if format == OutputFormat::Json {
                output::print(&output::json(&v))?;
            }
            let entries = output::value(&v["entries"]);
            if v["ok"].as_bool() == Some(true) {
                if format == OutputFormat::Table {
                    output::print(&format!(
                        "audit log ok: {entries} entries, hash chain intact\n"
                    ))?;
                }
                Ok(())
            } else {
                let b = &v["first_break"];
                bail!(
                    "the audit log's hash chain is broken at entry {}: {} ({entries} entries checked)",
                    output::value(&b["seq"]),
                    output::value(&b["message"])
                )
            }
        }
    }
}

fn entries_table(entries: &Value) -> String {
    let entries = entries.as_array().map(Vec::as_slice).unwrap_or_default();
    if entries.is_empty() {
        return "no audit entries match\n".to_owned();
    }
    let mut t = Table::new([
        "SEQ", "AT", "ACTOR", "ADDRESS", "ACTION", "OBJECT", "OUTCOME",
    ]);
    for e in entries {
        t.row(vec![
            output::value(&e["seq"]),
            e["at"]
                .as_str()
                .map_or_else(|| "-".to_owned(), output::time),
            output::value(&e["actor"]),
            output::value(&e["address"]),
            output::value(&e["action"]),
            output::value(&e["object"]),
            output::value(&e["outcome"]),
        ]);
    }
    t.render()
}
