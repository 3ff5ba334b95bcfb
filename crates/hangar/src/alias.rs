//! `hangar alias set`: point a model's named aliases at versions.

use crate::cli::values::model_name;
use crate::cli::ClientArgs;
use crate::client::{AliasMove, Client};
use crate::output::{self, OutputFormat};
use clap::{Args, Subcommand};
use hangar_core::{validate_name, NameError, NameKind};

#[derive(Args, Debug)]
pub struct AliasArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: AliasCommand,
}

#[derive(Subcommand, Debug)]
pub enum AliasCommand {
    /// Point an alias at a version, creating the alias or moving it
    #[command(
        long_about = "Point an alias at a version, creating the alias or moving it.\n\n\
            Deployments that follow the alias (--model MODEL@ALIAS) switch to the new version. \
            Prints the move, e.g. `production: 2 -> 3`.",
        after_help = "Example:\n  hangar alias set credit-risk production 3"
    )]
    Set(AliasSetArgs),
}

#[derive(Args, Debug)]
pub struct AliasSetArgs {
    /// Name of the model
    #[arg(value_name = "MODEL", value_parser = model_name)]
    pub model: String,

    /// Alias to set, e.g. production or staging
    #[arg(value_name = "ALIAS", value_parser = alias_name)]
    pub alias: String,

    /// Version number the alias should point at
    #[arg(value_name = "VERSION", value_parser = clap::value_parser!(u32).range(1..))]
    pub version: u32,
}

pub fn alias_name(s: &str) -> Result<String, NameError> {
    validate_name(NameKind::Alias, s).map(|()| s.to_owned())
}

pub async fn run(args: AliasArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    match args.command {
        AliasCommand::Set(set) => {
            let moved = client
                .set_alias(&set.model, &set.alias, set.version)
                .await?;
            output::print(&match args.client.output {
                OutputFormat::Json => output::json(&moved.raw),
                OutputFormat::Table => describe_move(&moved.body),
            })
        }
    }
}

/// `production: 2 -> 3`, with `(none)` for an alias that did not exist before.
fn describe_move(m: &AliasMove) -> String {
    let side = |v: Option<u32>| v.map_or_else(|| "(none)".to_owned(), |v| v.to_string());
    format!(
        "{}: {} -> {}\n",
        m.alias,
        side(m.from_version),
        side(m.to_version)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(from: Option<u32>, to: Option<u32>, expected: &str) {
        let m = AliasMove {
            model: "credit".into(),
            alias: "production".into(),
            from_version: from,
            to_version: to,
            actor: "ana".into(),
            at: chrono::DateTime::UNIX_EPOCH,
        };
        assert_eq!(describe_move(&m), expected);
    }

    #[test]
    fn moves_read_from_old_to_new() {
        check(Some(2), Some(3), "production: 2 -> 3\n");
        check(None, Some(1), "production: (none) -> 1\n");
        check(Some(3), Some(3), "production: 3 -> 3\n");
    }
}
