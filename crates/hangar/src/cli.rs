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
  hangar deploy credit-api --model credit-risk:3 --canary credit-risk:4=10 --shadow credit-risk:5
  hangar promote credit-api
  hangar rollback credit-api
  hangar deployments history credit-api
  hangar predict credit-api --csv applicants.csv
  hangar model list --output json";

const DEPLOY_ABOUT: &str = "\
Create or change a deployment: a stable endpoint serving model versions.

Applications call the deployment by name (POST /v2/models/DEPLOYMENT/infer), so the \
models behind it can change without touching them. --model MODEL:VERSION pins a \
version; --model MODEL@ALIAS follows the alias whenever it moves.

Every deploy makes a new revision of the deployment (see `hangar deployments history`) \
and replaces its routes and shadow: --canary sends a share of traffic to a second \
version (promote it with `hangar promote`, undo with `hangar rollback`), --shadow \
sends a copy of every request to a version whose answers are compared with the \
served ones but never returned. A deploy without --canary or --shadow has none.

Settings and guardrails are sent only when given; the others keep their current \
value (a new deployment starts from the server's defaults). Guardrails take a \
canary out of traffic by themselves when its error rate or p99 latency over the \
window exceeds the limit.

Prints the new revision: its number, routes with their weights and resolved \
versions, the shadow and the endpoint.";

const DEPLOY_EXAMPLES: &str = "\
Examples:
  hangar deploy credit-api --model credit-risk@production
  hangar deploy credit-api --model credit-risk:3 --canary credit-risk:4=10 \\
      --message \"retrained on March data\"
  hangar deploy credit-api --model credit-risk:3 --canary credit-risk@staging=20 \\
      --shadow credit-risk:5 --guardrail-max-error-rate 0.05 --guardrail-max-p99-ms 250
  hangar deploy credit-api --model credit-risk:3 --max-batch-size 32 --max-queue-delay-us 500";

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
    /// Create or change a deployment: its model, canary, shadow and settings
    #[command(long_about = DEPLOY_ABOUT, after_help = DEPLOY_EXAMPLES)]
    Deploy(DeployArgs),
    /// Send all of a deployment's traffic to its canary (a new revision)
    #[command(
        long_about = "Send all of a deployment's traffic to its canary, as a new revision.\n\n\
            The canary (the second route of `deploy --canary`) becomes the only route; the \
            shadow and settings stay. A deployment without a canary has nothing to promote \
            and the command fails. Prints the new revision.",
        after_help = "Examples:\n  \
            hangar promote credit-api\n  \
            hangar promote credit-api --message \"v4 error rate matches v3 after a day\""
    )]
    Promote(PromoteArgs),
    /// Return a deployment to an earlier revision (a new revision)
    #[command(
        long_about = "Return a deployment to an earlier revision's routes, shadow and settings, \
            exactly as they were (the versions they resolved to then, even if an alias has moved \
            since), as a new revision.\n\n\
            Without --to it returns to the revision before the current one. Prints the new \
            revision and which revision it returned to; `hangar deployments history` lists \
            the revisions.",
        after_help = "Examples:\n  \
            hangar rollback credit-api\n  \
            hangar rollback credit-api --to 1 --message \"v4 misclassifies thin files\""
    )]
    Rollback(RollbackArgs),
    /// List deployments, show one, or list its revisions
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Deployments(DeploymentsArgs),
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

    /// A second version taking PERCENT (1 to 99) of the traffic; --model gets the rest
    #[arg(long, value_name = "MODEL:VERSION=PERCENT", value_parser = canary)]
    pub canary: Option<Canary>,

    /// A version that gets a copy of every request; its answers are compared, never returned
    #[arg(long, value_name = "MODEL:VERSION|MODEL@ALIAS")]
    pub shadow: Option<VersionRef>,

    /// Why this change: recorded with the revision and shown in its history
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,

    #[command(flatten)]
    pub settings: SettingsArgs,

    #[command(flatten)]
    pub guardrails: GuardrailArgs,
}

/// `--canary MODEL:VERSION=PERCENT` (or `MODEL@ALIAS=PERCENT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canary {
    pub target: VersionRef,
    /// Share of the traffic, 1 to 99.
    pub percent: u8,
}

const SETTINGS: &str = "Serving settings (sent only when given; others keep their value)";
const GUARDRAILS: &str = "Guardrails (roll a canary back by themselves; sent only when given)";

#[derive(Args, Debug, Default, PartialEq)]
pub struct SettingsArgs {
    /// Largest batch the server forms from waiting requests (1 turns batching off)
    #[arg(long, value_name = "N", help_heading = SETTINGS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_batch_size: Option<u32>,

    /// How long the first request of a batch may wait for more, in microseconds
    #[arg(long, value_name = "MICROSECONDS", help_heading = SETTINGS)]
    pub max_queue_delay_us: Option<u64>,

    /// Requests that may wait per version before more are refused with 429
    #[arg(long, value_name = "N", help_heading = SETTINGS, value_parser = clap::value_parser!(u32).range(1..))]
    pub queue_capacity: Option<u32>,

    /// Deadline of a request that does not set its own, in milliseconds
    #[arg(long, value_name = "MILLISECONDS", help_heading = SETTINGS, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: Option<u64>,

    /// Requests the deployment may have in flight at once
    #[arg(long, value_name = "N", help_heading = SETTINGS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrency: Option<u32>,
}

#[derive(Args, Debug, Default, PartialEq)]
pub struct GuardrailArgs {
    /// Roll the canary back when this fraction of its requests fail (0 to 1, e.g. 0.05)
    #[arg(long, value_name = "FRACTION", help_heading = GUARDRAILS, value_parser = fraction)]
    pub guardrail_max_error_rate: Option<f64>,

    /// Roll the canary back when its p99 latency exceeds this many milliseconds
    #[arg(long, value_name = "MILLISECONDS", help_heading = GUARDRAILS, value_parser = positive)]
    pub guardrail_max_p99_ms: Option<f64>,

    /// The window the guardrails look at, in seconds
    #[arg(long, value_name = "SECONDS", help_heading = GUARDRAILS, value_parser = clap::value_parser!(u64).range(1..))]
    pub guardrail_window_secs: Option<u64>,

    /// Canary requests in the window below which the guardrails decide nothing
    #[arg(long, value_name = "N", help_heading = GUARDRAILS)]
    pub guardrail_min_requests: Option<u64>,
}

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

/// `MODEL:VERSION=PERCENT` or `MODEL@ALIAS=PERCENT`; a trailing `%` is allowed.
pub fn canary(s: &str) -> Result<Canary, String> {
    let Some((target, percent)) = s.rsplit_once('=') else {
        return Err(format!(
            "{s:?} has no '=PERCENT'; expected MODEL:VERSION=PERCENT or MODEL@ALIAS=PERCENT \
             (e.g. credit-risk:4=10)"
        ));
    };
    let target: VersionRef = target.trim().parse().map_err(|e| format!("{e}"))?;
    let digits = percent.trim().strip_suffix('%').unwrap_or(percent.trim());
    match digits.parse::<u8>() {
        Ok(percent @ 1..=99) => Ok(Canary { target, percent }),
        _ => Err(format!(
            "canary percentage {percent:?} is not a whole number from 1 to 99 \
             (the canary's share of traffic; --model gets the rest)"
        )),
    }
}

/// A rate: a finite number from 0 to 1.
fn fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!(
            "{s:?} is not a fraction from 0 to 1 (e.g. 0.05 for 5%)"
        )),
    }
}

/// A finite number above zero.
fn positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!("{s:?} is not a number above 0")),
    }
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
            &["deploy", "d", "--model", "m:1", "--canary", "m:2"],
            &["deploy", "d", "--model", "m:1", "--shadow", "m"],
            &["deploy", "d", "--model", "m:1", "--max-batch-size", "0"],
            &[
                "deploy",
                "d",
                "--model",
                "m:1",
                "--guardrail-max-error-rate",
                "5",
            ],
            &["promote"],
            &["rollback", "d", "--to", "0"],
            &["deployments", "show"],
            &["deployments", "history", "Bad Name"],
            &["predict", "d"],
            &["predict", "d", "--json", "a.json", "--csv", "a.csv"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }

    fn check_canary(input: &str, expected: Result<(&str, u8), &str>) {
        let got = canary(input).map(|c| (c.target.to_string(), c.percent));
        match (got, expected) {
            (Ok((target, percent)), Ok(want)) => {
                assert_eq!((target.as_str(), percent), want, "{input}")
            }
            (Err(message), Err(needle)) => {
                assert!(message.contains(needle), "{input}: {message}")
            }
            (got, want) => panic!("{input}: got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn canary_is_a_version_or_alias_with_a_percentage() {
        check_canary("credit:4=10", Ok(("credit:4", 10)));
        check_canary("credit@staging=20", Ok(("credit@staging", 20)));
        check_canary("credit:4=10%", Ok(("credit:4", 10)));
        check_canary(" credit:4 = 99 ", Ok(("credit:4", 99)));
        check_canary("credit:4=1", Ok(("credit:4", 1)));
    }

    #[test]
    fn bad_canaries_say_what_was_expected() {
        check_canary(
            "credit:4",
            Err("expected MODEL:VERSION=PERCENT or MODEL@ALIAS=PERCENT"),
        );
        check_canary("credit=10", Err("expected MODEL:VERSION"));
        check_canary("credit:0=10", Err("expected MODEL:VERSION"));
        check_canary("Credit Risk:4=10", Err("model"));
        check_canary("credit:4=0", Err("from 1 to 99"));
        check_canary("credit:4=100", Err("from 1 to 99"));
        check_canary("credit:4=ten", Err("\"ten\""));
        check_canary("credit:4=-5", Err("from 1 to 99"));
        check_canary("credit:4=", Err("from 1 to 99"));
        check_canary("credit:4=12.5", Err("whole number"));
    }

    #[test]
    fn deploy_collects_canary_shadow_message_and_only_the_settings_given() {
        let cli = parse(&[
            "deploy",
            "credit-api",
            "--model",
            "credit:3",
            "--canary",
            "credit:4=10",
            "--shadow",
            "credit@staging",
            "--message",
            "try v4",
            "--max-batch-size",
            "8",
            "--guardrail-max-error-rate",
            "0.05",
            "--guardrail-min-requests",
            "50",
        ])
        .unwrap();
        let Command::Deploy(deploy) = cli.command else {
            panic!("not a deploy")
        };
        assert_eq!(deploy.canary.unwrap().percent, 10);
        assert_eq!(deploy.shadow.unwrap().to_string(), "credit@staging");
        assert_eq!(deploy.message.as_deref(), Some("try v4"));
        assert_eq!(
            deploy.settings,
            SettingsArgs {
                max_batch_size: Some(8),
                ..SettingsArgs::default()
            }
        );
        assert_eq!(
            deploy.guardrails,
            GuardrailArgs {
                guardrail_max_error_rate: Some(0.05),
                guardrail_min_requests: Some(50),
                ..GuardrailArgs::default()
            }
        );
    }

    #[test]
    fn rollback_and_show_take_revision_numbers() {
        let cli = parse(&["rollback", "credit-api", "--to", "2", "--message", "x"]).unwrap();
        let Command::Rollback(rollback) = cli.command else {
            panic!("not a rollback")
        };
        assert_eq!(
            (rollback.to, rollback.message.as_deref()),
            (Some(2), Some("x"))
        );

        let cli = parse(&["deployments", "show", "credit-api", "--revision", "3"]).unwrap();
        let Command::Deployments(DeploymentsArgs {
            command: DeploymentsCommand::Show(show),
            ..
        }) = cli.command
        else {
            panic!("not a show")
        };
        assert_eq!(show.revision, Some(3));
    }

    #[test]
    fn key_value_splits_at_the_first_equals_sign() {
        assert_eq!(key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(key_value("a="), Ok(("a".into(), String::new())));
        assert!(key_value("=b").is_err());
        assert!(key_value("ab").is_err());
    }
}
