//! `hangar deployments list|show|history`: what each deployment serves now and
//! how it got there.

use crate::cli::values::deployment_name;
use crate::cli::ClientArgs;
use crate::client::Client;
use crate::output::{self, OutputFormat};
use crate::revision;
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct DeploymentsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: DeploymentsCommand,
}

#[derive(Subcommand, Debug)]
pub enum DeploymentsCommand {
    /// List deployments with their current revision, routes and shadow
    #[command(
        long_about = "List deployments with their current revision, routes and shadow.\n\n\
            ROUTES reads `credit-risk:3 90% → v3, credit-risk:4 10% → v4`: each route's \
            target, its share of traffic and the version it serves.",
        after_help = "Examples:\n  \
            hangar deployments list\n  \
            hangar deployments list --output json"
    )]
    List,
    /// Show a deployment: current revision, routes, shadow agreement, settings, guardrails
    #[command(
        long_about = "Show a deployment: its current revision, routes, shadow, settings and \
            guardrails.\n\n\
            With a shadow, also how its answers agree with the served ones: requests compared, \
            the rate of identical labels, the mean absolute difference of scores, and copies \
            dropped because the shadow could not keep up. --revision shows an earlier revision \
            instead.",
        after_help = "Examples:\n  \
            hangar deployments show credit-api\n  \
            hangar deployments show credit-api --revision 2 --output json"
    )]
    Show(DeploymentShowArgs),
    /// List a deployment's revisions, oldest first: who changed what, when and why
    #[command(
        long_about = "List a deployment's revisions, oldest first: who changed what, when and why.\n\n\
            KIND is deploy, promote, `rollback → N` (returned to revision N), `guardrail \
            rollback` with the guardrail's reason, or `alias moved` when a followed alias moved.",
        after_help = "Examples:\n  \
            hangar deployments history credit-api\n  \
            hangar deployments history credit-api --output json"
    )]
    History(HistoryArgs),
}

#[derive(Args, Debug)]
pub struct DeploymentShowArgs {
    /// Name of the deployment to show
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub name: String,

    /// Show this revision instead of the current one
    #[arg(long, value_name = "REVISION", value_parser = clap::value_parser!(u32).range(1..))]
    pub revision: Option<u32>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Name of the deployment
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub name: String,
}

pub async fn run(args: DeploymentsArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let format = args.client.output;
    let text = match args.command {
        DeploymentsCommand::List => {
            let list = client.list_deployments().await?;
            match format {
                OutputFormat::Json => output::json(&list.raw),
                OutputFormat::Table if list.body.deployments.is_empty() => {
                    "no deployments yet; create one with \
                     `hangar deploy DEPLOYMENT --model MODEL:VERSION`\n"
                        .to_owned()
                }
                OutputFormat::Table => revision::deployments_table(&list.body.deployments).render(),
            }
        }
        DeploymentsCommand::Show(show) => match show.revision {
            Some(n) => {
                let r = client.get_revision(&show.name, n).await?;
                match format {
                    OutputFormat::Json => output::json(&r.raw),
                    OutputFormat::Table => revision::revision_page(&r.body),
                }
            }
            None => {
                let d = client.get_deployment(&show.name).await?;
                match format {
                    OutputFormat::Json => output::json(&d.raw),
                    OutputFormat::Table => revision::deployment_page(
                        &d.body,
                        &client.absolute(&revision::endpoint(&d.body)),
                    ),
                }
            }
        },
        DeploymentsCommand::History(history) => {
            let list = client.list_revisions(&history.name).await?;
            match format {
                OutputFormat::Json => output::json(&list.raw),
                OutputFormat::Table => revision::history_table(&list.body.revisions).render(),
            }
        }
    };
    output::print(&text)
}
