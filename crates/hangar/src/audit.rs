//! `hangar audit list|verify`: the tamper-evident audit log.

use anyhow::bail;

use crate::cli::{ClientArgs, WindowArgs};
use crate::client::{AuditEntry, Client};
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
            let log = client.audit(&query).await?;
            output::print(&match format {
                OutputFormat::Json => output::json(&log.raw),
                OutputFormat::Table => entries_table(&log.body.entries),
            })
        }
        AuditCommand::Verify => {
            let v = client.verify_audit().await?;
            if format == OutputFormat::Json {
                output::print(&output::json(&v.raw))?;
            }
            let entries = v.body.entries;
            if v.body.ok {
                if format == OutputFormat::Table {
                    output::print(&format!(
                        "audit log ok: {entries} entries, hash chain intact\n"
                    ))?;
                }
                Ok(())
            } else {
                let (seq, message) = v
                    .body
                    .first_break
                    .map_or(("-".to_owned(), "-".to_owned()), |b| {
                        (b.seq.to_string(), b.message)
                    });
                bail!(
                    "the audit log's hash chain is broken at entry {seq}: {message} ({entries} entries checked)"
                )
            }
        }
    }
}

fn entries_table(entries: &[AuditEntry]) -> String {
    if entries.is_empty() {
        return "no audit entries match\n".to_owned();
    }
    let mut t = Table::new([
        "SEQ", "AT", "ACTOR", "ADDRESS", "ACTION", "OBJECT", "OUTCOME",
    ]);
    for e in entries {
        t.row(vec![
            e.seq.to_string(),
            output::time(&e.at),
            e.actor.clone(),
            e.address.clone(),
            e.action.clone(),
            e.object.clone(),
            e.outcome.clone(),
        ]);
    }
    t.render()
}
