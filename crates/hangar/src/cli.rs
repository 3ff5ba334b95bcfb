//! The command line as clap sees it: every command, flag and help text.
//!
//! Each command's own arguments live in its module, next to its `run`; here
//! are the top-level parser, the list of commands and the arguments several
//! commands share. Values are checked at parse time only where it is cheap and
//! certain (names and version references follow `hangar_core`'s rules; see
//! `values`); the command modules turn these raw arguments into requests.

use clap::{Args, Parser, Subcommand};

use crate::alerts::{AlertsArgs, ALERTS_ABOUT, ALERTS_EXAMPLES};
use crate::alias::AliasArgs;
use crate::approvals::{ApprovalsArgs, DecisionArgs, APPROVE_ABOUT};
use crate::audit::AuditArgs;
use crate::client::Window;
use crate::consumer_keys::ConsumerKeyArgs;
use crate::deploy::{DeployArgs, DEPLOY_ABOUT, DEPLOY_EXAMPLES};
use crate::deployments::DeploymentsArgs;
use crate::export::ExportArgs;
use crate::feedback::{FeedbackArgs, FEEDBACK_ABOUT, FEEDBACK_EXAMPLES};
use crate::login::{LoginArgs, LogoutArgs, TokenArgs, WhoamiArgs, LOGIN_ABOUT, LOGIN_EXAMPLES};
use crate::model::ModelArgs;
use crate::monitor::{MonitorArgs, MONITOR_ABOUT, MONITOR_EXAMPLES};
use crate::output::OutputFormat;
use crate::predict::PredictArgs;
use crate::principals::{TeamArgs, UserArgs, USER_ABOUT};
use crate::rollout::{PromoteArgs, RollbackArgs};
use crate::serve::ServeArgs;
use crate::signing::{KeysArgs, KEYS_ABOUT};
use crate::status::{StatusArgs, STATUS_ABOUT, STATUS_EXAMPLES};
use crate::store::{StoreArgs, STORE_ABOUT};

pub mod values;

use values::{from_time, to_time};

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

const ABOUT: &str = "Hangar: register, version, deploy and serve ONNX models";

const LONG_ABOUT: &str = "\
Hangar: register, version, deploy and serve ONNX models.

`hangar serve` runs the server. Every other command is a client of a running \
server, chosen with --server (or HANGAR_SERVER; default http://127.0.0.1:8080). \
Every request is authenticated: with --token (or HANGAR_TOKEN), else with the \
token `hangar login` stored for that server. The server records who did what \
under the token's user.";

const EXAMPLES: &str = "\
Examples:
  hangar serve
  printf '%s' \"$PASSWORD\" | hangar login --user ada --password-stdin
  hangar model push model.onnx --name credit-risk --features age,income,debt_ratio
  hangar alias set credit-risk production 1
  hangar deploy credit-api --model credit-risk@production
  hangar deploy credit-api --model credit-risk:3 --canary credit-risk:4=10 --shadow credit-risk:5
  hangar promote credit-api
  hangar rollback credit-api
  hangar deployments history credit-api
  hangar predict credit-api --csv applicants.csv
  hangar model list --output json

Monitoring:
  hangar model push model.onnx --name credit-risk --features age,income,debt_ratio \\
      --baseline train.csv --label-column label
  hangar deploy credit-api --model credit-risk:3 --segment group --row-id application_id
  hangar feedback credit-api outcomes.csv
  hangar monitor credit-api --from 7d
  hangar export predictions credit-api --from 2025-03-01 --to 2025-03-31 -o march.parquet

Alerts and health:
  hangar status
  hangar alerts rules add error-burst --metric traffic.error_rate --comparison '>' \\
      --threshold 0.02 --window 10m --for 2m --severity critical
  hangar alerts channels add ops --kind slack --url http://chat.example/hooks/T0/B0/x
  hangar alerts list
  hangar alerts ack error-burst --deployment credit-api
  hangar alerts history --deployment credit-api

Governance:
  hangar team create credit
  hangar user create ada --team credit --role data-scientist --password-stdin
  hangar model card credit-risk --risk-tier high --intended-use \"consumer credit decisions\"
  hangar consumer-key create --deployment credit-api --purpose \"loan origination\"
  hangar approve credit-risk:4 --comment \"validation report CR-112 reviewed\"
  hangar keys generate --out release.key
  hangar model push model.onnx --name credit-risk --sign release.key
  hangar audit verify

Growing beyond one machine:
  hangar store copy --data-dir ./hangar-data --to-database postgres://hangar@db:5432/hangar \\
      --to-artifacts s3://models/hangar";

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
    /// Send true outcomes (labels) for a deployment's logged predictions
    #[command(
        long_about = FEEDBACK_ABOUT,
        after_help = FEEDBACK_EXAMPLES,
        override_usage = "hangar feedback [OPTIONS] <DEPLOYMENT> <FILE | --json FILE>"
    )]
    Feedback(FeedbackArgs),
    /// Report a deployment's drift, performance and fairness over a time window
    #[command(long_about = MONITOR_ABOUT, after_help = MONITOR_EXAMPLES)]
    Monitor(MonitorArgs),
    /// Export a deployment's prediction log (CSV or Parquet)
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Export(ExportArgs),
    /// Live alerts, alert rules, acknowledgement, history and notification channels
    #[command(
        subcommand_required = true,
        arg_required_else_help = true,
        long_about = ALERTS_ABOUT,
        after_help = ALERTS_EXAMPLES
    )]
    Alerts(AlertsArgs),
    /// Every deployment's health in plain words (healthy, needs attention, failing) and why
    #[command(long_about = STATUS_ABOUT, after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
    /// Log in to a server and store the token for later commands
    #[command(long_about = LOGIN_ABOUT, after_help = LOGIN_EXAMPLES)]
    Login(LoginArgs),
    /// Forget (and revoke) the token `hangar login` stored for the server
    #[command(
        long_about = "Forget the token `hangar login` stored for the server (--server), and \
            revoke it on the server when it was issued by a password login.",
        after_help = "Example:\n  hangar logout"
    )]
    Logout(LogoutArgs),
    /// Show who the server takes you for: user, roles per team, or consumer key
    #[command(
        after_help = "Examples:\n  hangar whoami\n  hangar whoami --token \"$TOKEN\" --output json"
    )]
    Whoami(WhoamiArgs),
    /// Create or list teams (a model and its deployments belong to one team)
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Team(TeamArgs),
    /// Create or list users, or give a user a role in a team (administrators)
    #[command(
        subcommand_required = true,
        arg_required_else_help = true,
        long_about = USER_ABOUT
    )]
    User(UserArgs),
    /// Create, list or revoke your API tokens (for scripts and CI)
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Token(TokenArgs),
    /// Create, list or revoke consumer keys: inference keys scoped to deployments and a purpose
    #[command(subcommand_required = true, arg_required_else_help = true)]
    ConsumerKey(ConsumerKeyArgs),
    /// Approve a model version for production traffic (four eyes: not its pusher)
    #[command(long_about = APPROVE_ABOUT, after_help = "Example:\n  hangar approve credit-risk:4 --comment \"validation report CR-112 reviewed\"")]
    Approve(DecisionArgs),
    /// Reject a model version: it stays out of production traffic
    #[command(
        long_about = "Reject a model version, with a comment saying why. A high-risk version \
            with a rejection cannot receive production traffic until it is approved again. \
            The person who pushed the version cannot decide on it.",
        after_help = "Example:\n  hangar reject credit-risk:4 --comment \"fails the thin-file fairness check\""
    )]
    Reject(DecisionArgs),
    /// Show a version's approvals and rejections, and whether production traffic is allowed and why
    #[command(
        after_help = "Examples:\n  hangar approvals credit-risk:4\n  hangar approvals credit-risk:4 --output json"
    )]
    Approvals(ApprovalsArgs),
    /// List the tamper-evident audit log, or verify its hash chain
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Audit(AuditArgs),
    /// Generate Ed25519 signing keys, trust public keys, list trusted keys
    #[command(
        subcommand_required = true,
        arg_required_else_help = true,
        long_about = KEYS_ABOUT
    )]
    Keys(KeysArgs),
    /// Run the Hangar server (management API, inference API)
    Serve(ServeArgs),
    /// Move an embedded install (a data directory) into PostgreSQL and object storage
    #[command(
        subcommand_required = true,
        arg_required_else_help = true,
        long_about = STORE_ABOUT
    )]
    Store(StoreArgs),
    /// Internal: load the model on stdin with ONNX Runtime and print the verdict as one JSON
    /// line (the server runs this in a child process for every pushed model)
    #[command(hide = true)]
    ValidateModel(ValidateModelArgs),
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

    /// API token to authenticate with [default: the one `hangar login` stored for --server]
    #[arg(
        long,
        value_name = "TOKEN",
        env = "HANGAR_TOKEN",
        hide_env_values = true,
        global = true,
        help_heading = "Global options"
    )]
    pub token: Option<String>,
}

/// A time range; either end may be left to the server's default.
#[derive(Args, Debug, Default, Clone, PartialEq)]
pub struct WindowArgs {
    /// Start of the window: RFC 3339, a date (its start, UTC) or a span back from
    /// now like 12h or 7d [default: 24 hours before --to]
    #[arg(long, value_name = "TIME", value_parser = from_time)]
    pub from: Option<String>,

    /// End of the window: RFC 3339, a date (its end, UTC), a span back from now,
    /// or now [default: now]
    #[arg(long, value_name = "TIME", value_parser = to_time)]
    pub to: Option<String>,
}

impl WindowArgs {
    pub fn window(&self) -> Window {
        Window {
            from: self.from.clone(),
            to: self.to.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// The id shown by `create` and `list`
    #[arg(value_name = "ID")]
    pub id: String,
}

#[derive(clap::Args, Debug)]
pub struct ValidateModelArgs {
    /// Path to libonnxruntime.so
    #[arg(long, value_name = "FILE")]
    pub ort_dylib: std::path::PathBuf,
}

#[cfg(test)]
pub fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("hangar").chain(args.iter().copied()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployments::DeploymentsCommand;
    use crate::export::ExportCommand;
    use clap::CommandFactory;
    use std::path::PathBuf;

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
            // A baseline needs feature names to match columns; its options need a baseline.
            &[
                "model",
                "push",
                "m.onnx",
                "--name",
                "m",
                "--baseline",
                "t.csv",
            ],
            &[
                "model",
                "push",
                "m.onnx",
                "--name",
                "m",
                "--label-column",
                "y",
            ],
            &["model", "baseline", "m", "t.csv"],
            &["model", "baseline", "m:1", "--label-column", "y"],
            &["deploy", "d", "--model", "m:1", "--segment", ""],
            &[
                "deploy",
                "d",
                "--model",
                "m:1",
                "--prediction-log",
                "--no-prediction-log",
            ],
            &["feedback", "d"],
            &["feedback", "d", "a.csv", "--json", "a.json"],
            &["monitor", "d", "--from", "yesterday"],
            &["monitor", "d", "--to", "5y"],
            &["monitor", "d", "--version", "0"],
            &["export", "predictions"],
            &["export", "predictions", "d", "-o"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn feedback_monitor_and_export_take_their_inputs() {
        let cli = parse(&["feedback", "credit-api", "-"]).unwrap();
        let Command::Feedback(feedback) = cli.command else {
            panic!("not feedback")
        };
        assert_eq!(feedback.input.csv, Some(PathBuf::from("-")));

        let cli = parse(&[
            "monitor",
            "credit-api",
            "--from",
            "2025-03-01",
            "--to",
            "2025-03-31",
            "--version",
            "2",
            "--output",
            "json",
        ])
        .unwrap();
        let Command::Monitor(monitor) = cli.command else {
            panic!("not monitor")
        };
        assert_eq!(
            monitor.window.window(),
            Window {
                from: Some("2025-03-01T00:00:00Z".into()),
                to: Some("2025-03-31".into()),
            }
        );
        assert_eq!(monitor.version, Some(2));
        assert_eq!(monitor.client.output, OutputFormat::Json);

        let cli = parse(&["export", "predictions", "credit-api", "-o", "x.parquet"]).unwrap();
        let Command::Export(ExportArgs {
            command: ExportCommand::Predictions(export),
            ..
        }) = cli.command
        else {
            panic!("not an export")
        };
        assert_eq!(export.out, Some(PathBuf::from("x.parquet")));
        assert_eq!(export.window, WindowArgs::default());
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
}
