//! The command line as clap sees it: every command, flag and help text.
//!
//! Values are checked here only where it is cheap and certain (names and
//! version references follow `hangar_core`'s rules); the command modules turn
//! these raw arguments into requests.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hangar_core::{validate_name, NameError, NameKind, VersionRef};

use crate::output::OutputFormat;
use crate::serve::ServeArgs;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

const ABOUT: &str = "Hangar: register, version, deploy and serve ONNX models";

const LONG_ABOUT: &str = "\
Hangar: register, version, deploy and serve ONNX models.

`hangar serve` runs the server. Every other command is a client of a running \
server, chosen with --server (or HANGAR_SERVER; default http://127.0.0.1:8080). \
Requests carry an X-Hangar-Actor header with your user name ($USER, or \"cli\") \
so the registry records who did what.";

const EXAMPLES: &str = "\
Examples:
  hangar serve
  hangar model push model.onnx --name credit-risk --features age,income,debt_ratio
  hangar alias set credit-risk production 1
  hangar deploy credit-api --model credit-risk@production
  hangar predict credit-api --csv applicants.csv
  hangar model list --output json";

#[derive(Parser, Debug)]
#[command(
    name = "hangar",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Register models, push new versions and inspect them
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Model(ModelArgs),
    /// Point a model's aliases (such as `production`) at versions
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Alias(AliasArgs),
    /// Create or move a deployment: a stable endpoint serving one model version
    #[command(
        long_about = "Create or move a deployment: a stable endpoint serving one model version.\n\n\
            Applications call the deployment by name (POST /v2/models/DEPLOYMENT/infer), \
            so the model behind it can change without touching them. --model MODEL:VERSION \
            pins a version; --model MODEL@ALIAS follows the alias whenever it moves.",
        after_help = "Examples:\n  \
            hangar deploy credit-api --model credit-risk@production\n  \
            hangar deploy credit-canary --model credit-risk:4"
    )]
    Deploy(DeployArgs),
    /// Send rows to a deployment and print one prediction per row
    #[command(
        long_about = "Send rows to a deployment and print one prediction per row.\n\n\
            --csv FILE reads a header of feature names and one row per instance; each row \
            becomes one object of {\"instances\": [...]} (numeric cells as numbers, others \
            as strings). The model version must have feature names (see `model push --features`).\n\n\
            --json FILE sends the file as the request body, unchanged: an Open Inference \
            Protocol V2 request ({\"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}]}) \
            or {\"instances\": [...]}.\n\n\
            The table has a ROW column (0-based, as in the request) and one column per model \
            output; --output json prints the server's response.",
        after_help = "Examples:\n  \
            hangar predict credit-api --csv applicants.csv\n  \
            hangar predict credit-api --json request.json --output json"
    )]
    Predict(PredictArgs),
    /// Run the Hangar server (management API, inference API)
    Serve(ServeArgs),
}

/// Options shared by every client command.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// Base URL of the Hangar server to talk to
    #[arg(
        long,
        value_name = "URL",
        env = "HANGAR_SERVER",
        default_value = DEFAULT_SERVER,
        global = true,
        help_heading = "Global options"
    )]
    pub server: String,

    /// How to print results: aligned tables for people, or the server's JSON for scripts
    #[arg(
        long,
        value_name = "FORMAT",
        value_enum,
        default_value_t = OutputFormat::Table,
        global = true,
        help_heading = "Global options"
    )]
    pub output: OutputFormat,
}

#[derive(Args, Debug)]
pub struct ModelArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: ModelCommand,
}

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Upload a model file as the model's next version, creating the model if needed
    #[command(
        long_about = "Upload a model file as the model's next version, creating the model if needed.\n\n\
            The file is streamed to the server, which checks that the model loads and runs \
            before it is registered; the new version number is printed.\n\n\
            --meta KEY=VALUE is repeatable: `source_commit` and `training_run` are recorded \
            as such, `metrics.NAME=NUMBER` become metrics, and any other key becomes free-form \
            metadata.",
        after_help = "Examples:\n  \
            hangar model push model.onnx --name credit-risk\n  \
            hangar model push model.onnx --name credit-risk --features age,income,debt_ratio \\\n      \
            --description \"retrained on March data\" --meta source_commit=3f2a9c1 \\\n      \
            --meta metrics.auc=0.88 --meta dataset=applications-2025-03"
    )]
    Push(PushArgs),
    /// List registered models with their latest version and aliases
    List,
    /// Show a model's card, its versions and where its aliases point
    #[command(after_help = "Example:\n  hangar model show credit-risk")]
    Show(ShowArgs),
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// The model file to upload (ONNX)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Name of the model to push to; created if it does not exist yet
    #[arg(long, value_name = "NAME", value_parser = model_name)]
    pub name: String,

    /// What this version is, or what changed in it
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// Extra information about this version (repeatable): source_commit=SHA,
    /// training_run=ID, metrics.NAME=NUMBER, or any other KEY=VALUE
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = key_value)]
    pub meta: Vec<(String, String)>,

    /// Column names of the model's 2-D input, in order; lets callers send named
    /// features ({"instances": [...]} or `predict --csv`)
    #[arg(long, value_name = "A,B,C", value_delimiter = ',')]
    pub features: Option<Vec<String>>,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Name of the model to show
    #[arg(value_name = "NAME", value_parser = model_name)]
    pub name: String,
}

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

#[derive(Args, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// Name of the deployment; applications call /v2/models/DEPLOYMENT/infer
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub name: String,

    /// What to serve: MODEL:VERSION pins a version, MODEL@ALIAS follows the alias
    #[arg(long, value_name = "MODEL:VERSION|MODEL@ALIAS")]
    pub model: VersionRef,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// Name of the deployment to call
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub deployment: String,

    #[command(flatten)]
    pub input: PredictInput,
}

/// Where the rows come from: exactly one of the two.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct PredictInput {
    /// Request body to send as-is: a V2 inference request or {"instances": [...]}
    /// ("-" reads stdin)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// CSV with a header row of feature names and one instance per row ("-" reads stdin)
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

fn model_name(s: &str) -> Result<String, NameError> {
    validate_name(NameKind::Model, s).map(|()| s.to_owned())
}

fn alias_name(s: &str) -> Result<String, NameError> {
    validate_name(NameKind::Alias, s).map(|()| s.to_owned())
}

fn deployment_name(s: &str) -> Result<String, NameError> {
    validate_name(NameKind::Deployment, s).map(|()| s.to_owned())
}

/// `KEY=VALUE`, split at the first `=`; the value may be empty, the key may not.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        Some(_) => Err(format!("{s:?} has an empty key; expected KEY=VALUE")),
        None => Err(format!("{s:?} has no '='; expected KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    /// `--help` is the manual: every command and every flag explains itself.
    #[test]
    fn every_command_and_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name()).trim().to_owned();
            if cmd.get_about().is_none() {
                missing.push(format!("{path}: command has no help"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path}: argument {id} has no help"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        let mut cmd = Cli::command();
        cmd.build();
        walk(&cmd, "", &mut missing);
        assert!(missing.is_empty(), "{missing:#?}");
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("hangar").chain(args.iter().copied()))
    }

    #[test]
    fn global_options_are_accepted_after_any_client_subcommand() {
        let cli = parse(&[
            "model",
            "list",
            "--server",
            "http://h:1",
            "--output",
            "json",
        ])
        .unwrap();
        let Command::Model(args) = cli.command else {
            panic!("not a model command")
        };
        assert_eq!(args.client.server, "http://h:1");
        assert_eq!(args.client.output, OutputFormat::Json);

        let cli = parse(&["model", "--output", "json", "show", "m"]).unwrap();
        let Command::Model(args) = cli.command else {
            panic!("not a model command")
        };
        assert_eq!(args.client.output, OutputFormat::Json);
    }

    #[test]
    fn push_collects_repeated_meta_and_comma_separated_features() {
        let cli = parse(&[
            "model",
            "push",
            "m.onnx",
            "--name",
            "credit",
            "--features",
            "a,b,c",
            "--meta",
            "source_commit=abc",
            "--meta",
            "metrics.auc=0.9",
        ])
        .unwrap();
        let Command::Model(ModelArgs {
            command: ModelCommand::Push(push),
            ..
        }) = cli.command
        else {
            panic!("not a push")
        };
        assert_eq!(push.features.unwrap(), ["a", "b", "c"]);
        assert_eq!(push.meta.len(), 2);
        assert_eq!(push.meta[1], ("metrics.auc".into(), "0.9".into()));
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["model", "push", "m.onnx", "--name", "Bad Name"][..],
            &[
                "model", "push", "m.onnx", "--name", "m", "--meta", "novalue",
            ],
            &["alias", "set", "m", "production", "0"],
            &["deploy", "d", "--model", "m"],
            &["predict", "d"],
            &["predict", "d", "--json", "a.json", "--csv", "a.csv"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn key_value_splits_at_the_first_equals_sign() {
        assert_eq!(key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(key_value("a="), Ok(("a".into(), String::new())));
        assert!(key_value("=b").is_err());
        assert!(key_value("ab").is_err());
    }
}
