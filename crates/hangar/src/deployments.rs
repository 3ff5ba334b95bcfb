//! `hangar deployments list|show|history`: what each deployment serves now and
//! how it got there.

use crate::cli::{DeploymentsArgs, DeploymentsCommand};
use crate::client::Client;
use crate::output::{self, OutputFormat};
use crate::revision;

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
