//! `hangar promote` and `hangar rollback`: move a deployment to a new revision
//! made from its canary or from an earlier revision.

use crate::cli::values::deployment_name;
use crate::cli::ClientArgs;
use crate::client::{Client, Deployment, Fetched};
use crate::output::{self, OutputFormat};
use crate::revision;
use clap::Args;

#[derive(Args, Debug)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// Name of the deployment whose canary takes all traffic
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub name: String,

    /// Why: recorded with the new revision and shown in its history
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// Name of the deployment to roll back
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub name: String,

    /// The revision to return to (default: the one before the current)
    #[arg(long, value_name = "REVISION", value_parser = clap::value_parser!(u32).range(1..))]
    pub to: Option<u32>,

    /// Why: recorded with the new revision and shown in its history
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
}

pub async fn promote(args: PromoteArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let promoted = client.promote(&args.name, args.message.as_deref()).await?;
    print(&client, args.client.output, &promoted, promote_headline)
}

pub async fn rollback(args: RollbackArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let rolled_back = client
        .rollback(&args.name, args.to, args.message.as_deref())
        .await?;
    print(&client, args.client.output, &rolled_back, rollback_headline)
}

fn print(
    client: &Client,
    format: OutputFormat,
    d: &Fetched<Deployment>,
    headline: fn(&Deployment) -> String,
) -> anyhow::Result<()> {
    output::print(&match format {
        OutputFormat::Json => output::json(&d.raw),
        OutputFormat::Table => {
            let url = client.absolute(&revision::endpoint(&d.body));
            headline(&d.body) + &revision::change_card(&d.body, &url)
        }
    })
}

/// `promoted credit:4 to all traffic of credit-api`
fn promote_headline(d: &Deployment) -> String {
    let target = d
        .current
        .as_ref()
        .and_then(|r| r.routes.first())
        .map_or(d.target.as_str(), |r| r.target.as_str());
    format!("promoted {target} to all traffic of {}\n", d.name)
}

/// `rolled credit-api back to revision 1`
fn rollback_headline(d: &Deployment) -> String {
    match d.current.as_ref().and_then(|r| r.rolled_back_to) {
        Some(to) => format!("rolled {} back to revision {to}\n", d.name),
        None => format!("rolled {} back\n", d.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(kind: &str, rolled_back_to: Option<u32>) -> Deployment {
        serde_json::from_value(json!({
            "name": "credit-api", "model": "credit", "target": "credit:3", "version": 3,
            "ready": true, "error": null, "endpoint": "/v2/models/credit-api/infer",
            "created_at": "2025-03-14T09:00:00Z", "updated_at": "2025-03-14T09:26:53Z",
            "updated_by": "ana",
            "current": {
                "deployment": "credit-api", "revision": 4, "kind": kind,
                "rolled_back_to": rolled_back_to,
                "routes": [{"target": "credit:4", "weight": 100, "version": 4}],
                "settings": {}, "message": "", "actor": "ana", "at": "2025-03-14T09:26:53Z",
            },
        }))
        .unwrap()
    }

    #[test]
    fn headlines_say_what_was_promoted_and_where_a_rollback_went() {
        assert_eq!(
            promote_headline(&deployment("promote", None)),
            "promoted credit:4 to all traffic of credit-api\n"
        );
        assert_eq!(
            rollback_headline(&deployment("rollback", Some(2))),
            "rolled credit-api back to revision 2\n"
        );
    }
}
