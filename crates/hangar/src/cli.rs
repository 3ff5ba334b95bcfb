//! The command line as clap sees it: every command, flag and help text.
//!
//! Values are checked here only where it is cheap and certain (names and
//! version references follow `hangar_core`'s rules); the command modules turn
//! these raw arguments into requests.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use clap::{Args, Parser, Subcommand};
use hangar_core::{validate_name, NameError, NameKind, VersionRef};

use crate::client::Window;
use crate::output::OutputFormat;
use crate::serve::ServeArgs;

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
  hangar audit verify";

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
value (a new deployment starts from the server's defaults). Monitoring settings say \
which request fields are not features: --segment names attributes recorded with \
each prediction for per-group (fairness) reports, --row-id names the field that \
identifies a row so `hangar feedback` can send its true label later; both are \
stripped before the model sees the row. Guardrails take a \
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
  hangar deploy credit-api --model credit-risk:3 --max-batch-size 32 --max-queue-delay-us 500
  hangar deploy credit-api --model credit-risk:3 --segment group --segment region \\
      --row-id application_id";

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
            --baseline FILE then uploads the version's training data for monitoring, as \
            `hangar model baseline` does (it needs --features, to match columns). If the \
            baseline is refused the version stays pushed and the command fails, saying how \
            to retry.\n\n\
            --meta KEY=VALUE is repeatable: `source_commit` and `training_run` are recorded \
            as such, `metrics.NAME=NUMBER` become metrics, and any other key becomes free-form \
            metadata.",
        after_help = "Examples:\n  \
            hangar model push model.onnx --name credit-risk\n  \
            hangar model push model.onnx --name credit-risk --features age,income,debt_ratio \\\n      \
            --description \"retrained on March data\" --meta source_commit=3f2a9c1 \\\n      \
            --meta metrics.auc=0.88 --meta dataset=applications-2025-03\n  \
            hangar model push model.onnx --name credit-risk --features age,income,job \\\n      \
            --baseline train.csv --label-column label --categorical job"
    )]
    Push(PushArgs),
    /// List registered models with their latest version and aliases
    List,
    /// Show a model's card, its versions and where its aliases point
    #[command(after_help = "Example:\n  hangar model show credit-risk")]
    Show(ShowArgs),
    /// Upload a version's baseline (its training data) for monitoring, or show it
    #[command(
        long_about = "Upload a version's baseline, its training data as CSV, for monitoring; \
            without FILE, show the baseline the version has.\n\n\
            The CSV has a header row; every feature of the version (`model push --features`) \
            must be a column, other columns are ignored. The server runs the model over the \
            rows and keeps their profile: `hangar monitor` compares each window of live \
            predictions with it (drift), and with --label-column also estimates performance \
            before labels arrive (CBPE). A new upload replaces the version's baseline.\n\n\
            Prints a one-line summary: rows, label rate, in-sample accuracy and AUC, and \
            whether scores were calibrated for performance estimation.",
        after_help = "Examples:\n  \
            hangar model baseline credit-risk:3 train.csv --label-column label \\\n      \
            --categorical employment_type,housing_status\n  \
            hangar model baseline credit-risk@production\n  \
            hangar model baseline credit-risk:3 --output json"
    )]
    Baseline(BaselineArgs),
    /// Show or change a model's card: risk tier, intended and out-of-scope uses, team
    #[command(long_about = CARD_ABOUT, after_help = CARD_EXAMPLES)]
    Card(CardArgs),
}

const CARD_ABOUT: &str = "\
Show or change a model's card: what it is for, what it must not be used for, how \
risky it is and which team owns it.

Only the fields given change; without any, the card is shown. The risk tier \
decides how the model reaches production: a version of a `high` risk model gets no \
production traffic (a route weight above zero, or the `production` alias) until an \
approver other than its pusher approves it (`hangar approve`). The intended use and \
out-of-scope uses are shown to whoever is issued a consumer key for a deployment \
serving the model. The team decides who sees and changes the model.";

const CARD_EXAMPLES: &str = "\
Examples:
  hangar model card credit-risk
  hangar model card credit-risk --risk-tier high \\
      --intended-use \"pre-screening consumer loan applications\" \\
      --out-of-scope \"employment decisions\" --out-of-scope \"insurance pricing\"
  hangar model card credit-risk --team credit --description \"GBDT on bureau data\"";

#[derive(Args, Debug, Default, PartialEq)]
pub struct CardArgs {
    /// Name of the model
    #[arg(value_name = "NAME", value_parser = model_name)]
    pub name: String,

    /// How much harm a wrong answer can do: high needs four-eyes approval for production
    #[arg(long, value_name = "TIER", value_parser = ["low", "medium", "high"])]
    pub risk_tier: Option<String>,

    /// What the model is built and validated for
    #[arg(long, value_name = "TEXT")]
    pub intended_use: Option<String>,

    /// A use the model must not be put to (repeatable; replaces the list)
    #[arg(long = "out-of-scope", value_name = "TEXT")]
    pub out_of_scope: Vec<String>,

    /// The team owning the model (who sees and changes it)
    #[arg(long, value_name = "TEAM", value_parser = team_name)]
    pub team: Option<String>,

    /// What the model is
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
}

const BASELINE: &str = "Baseline (training data for monitoring)";

#[derive(Args, Debug)]
pub struct BaselineArgs {
    /// The version: MODEL:VERSION, or MODEL@ALIAS for the version the alias points at
    #[arg(value_name = "MODEL:VERSION|MODEL@ALIAS")]
    pub target: VersionRef,

    /// Training data as CSV with a header row naming the features ("-" reads stdin);
    /// without it, the current baseline is shown
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// The CSV column holding the true label (0/1): enables in-sample performance
    /// and performance estimation without labels
    #[arg(long, value_name = "COLUMN", requires = "file")]
    pub label_column: Option<String>,

    /// Features that are categories, not quantities (compared by chi-squared and
    /// Jensen-Shannon instead of KS and Wasserstein)
    #[arg(long, value_name = "A,B", value_delimiter = ',', requires = "file")]
    pub categorical: Option<Vec<String>>,
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

    /// Training data (CSV with a header naming the features) to upload as the new
    /// version's baseline for monitoring, once the version is pushed
    #[arg(long, value_name = "FILE", help_heading = BASELINE, requires = "features")]
    pub baseline: Option<PathBuf>,

    /// The baseline's column holding the true label (0/1): enables in-sample
    /// performance and performance estimation without labels
    #[arg(long, value_name = "COLUMN", help_heading = BASELINE, requires = "baseline")]
    pub label_column: Option<String>,

    /// Features that are categories, not quantities (compared by chi-squared and
    /// Jensen-Shannon instead of KS and Wasserstein)
    #[arg(long, value_name = "A,B", value_delimiter = ',', help_heading = BASELINE, requires = "baseline")]
    pub categorical: Option<Vec<String>>,

    /// Sign the pushed version's digest with this Ed25519 secret key (from
    /// `hangar keys generate`) and register the signature
    #[arg(long, value_name = "KEY_FILE")]
    pub sign: Option<PathBuf>,

    /// The team owning the model when the push creates it [default: the
    /// server's choice, your team when you push in only one]
    #[arg(long, value_name = "TEAM", value_parser = team_name)]
    pub team: Option<String>,
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

    #[command(flatten)]
    pub monitoring: MonitoringSettingsArgs,
}

const MONITORING: &str = "Monitoring settings (sent only when given; others keep their value)";

#[derive(Args, Debug, Default, PartialEq)]
pub struct MonitoringSettingsArgs {
    /// A request field recorded with each prediction as a segment, for per-group
    /// (fairness) reports; never fed to the model. Repeatable; replaces the list
    #[arg(long = "segment", value_name = "ATTR", help_heading = MONITORING, value_parser = field_name)]
    pub segments: Vec<String>,

    /// The request field identifying each row (never fed to the model), so
    /// `hangar feedback` can send labels by row id; '' clears it
    #[arg(long, value_name = "FIELD", help_heading = MONITORING)]
    pub row_id: Option<String>,

    /// Stop logging predictions (no monitoring, feedback or export of new traffic)
    #[arg(long, help_heading = MONITORING, conflicts_with = "prediction_log")]
    pub no_prediction_log: bool,

    /// Log predictions again after --no-prediction-log (the server's default)
    #[arg(long, help_heading = MONITORING)]
    pub prediction_log: bool,
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

    /// Serve only versions signed by a trusted key (`hangar keys trust`); an
    /// unsigned version is refused
    #[arg(long, help_heading = SETTINGS, conflicts_with = "no_require_signed")]
    pub require_signed: bool,

    /// Serve unsigned versions again after --require-signed
    #[arg(long, help_heading = SETTINGS)]
    pub no_require_signed: bool,
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

const FEEDBACK_ABOUT: &str = "\
Send true outcomes (labels) for a deployment's logged predictions.

FILE is CSV, sent as-is: a header `row_id,label` (the deployment's --row-id field, as \
sent with each row) or `request_id,row,label` (the inference request's id and the \
0-based row within it), then one line per outcome. --json FILE sends \
{\"feedback\": [{\"row_id\": \"...\", \"label\": 1} | {\"request_id\": \"...\", \"row\": 0, \"label\": 0}]} \
instead. A label must be one of the classes of the model version that made the \
prediction (0 or 1 for a binary classifier; any number for a regressor); a label \
sent again replaces the earlier one. The server applies a large file in short \
batches as it arrives (other changes go on meanwhile), up to its \
--max-feedback-bytes (64 MiB by default).

Prints how many labels were received and how many updated a prediction, then lists \
the lines the server rejected, by line number (a row that is not a whole number from \
0, a label that is not a number or not one of the model's classes), and the ids that \
matched no logged prediction (mistyped, not predicted yet, predicted before \
prediction logging or the row id was set, or already removed by retention). The \
other lines are applied. Exits with 1 when any line was rejected or none matched; \
some unknown ids alone are not a failure.";

const FEEDBACK_EXAMPLES: &str = "\
Examples:
  hangar feedback credit-api outcomes.csv
  printf 'row_id,label\\nA-1001,1\\n' | hangar feedback credit-api -
  hangar feedback credit-api --json outcomes.json --output json";

const MONITOR_ABOUT: &str = "\
Report a deployment's drift, performance and fairness over a time window.

The window defaults to the last 24 hours; --from and --to take RFC 3339 times \
(2025-03-14T09:00:00Z), dates (--from 2025-03-01 starts that day, --to 2025-03-31 \
ends it, in UTC) or a span back from now (30m, 12h, 7d). The report covers one \
version: the one that answered most rows, or --version.

It reads, top to bottom: rows and labelled rows; the dataset drift verdict (drifted \
when at least half the features drift); one line per feature, worst first: PSI, the \
p-value of the Kolmogorov-Smirnov test (chi-squared for categorical features), the \
test that decides drift as Evidently does (Wasserstein distance or Jensen-Shannon \
distance), its score and the verdict; drift of the model's score; performance on \
the labelled rows; performance estimated without labels (CBPE, from the baseline's \
calibration); and for each --segment attribute the groups' selection rate, true and \
false positive rates, with the four-fifths rule: a demographic parity ratio below \
0.8 is flagged.

Drift needs the version's baseline (`hangar model baseline`). --output json prints \
the server's report.";

const MONITOR_EXAMPLES: &str = "\
Examples:
  hangar monitor credit-api
  hangar monitor credit-api --from 7d
  hangar monitor credit-api --from 2025-03-01 --to 2025-03-31 --version 3
  hangar monitor credit-api --output json | jq .drift_share";

#[derive(Args, Debug)]
pub struct FeedbackArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// Name of the deployment whose predictions the labels are for
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub deployment: String,

    #[command(flatten)]
    pub input: FeedbackInput,
}

/// Where the labels come from: exactly one of the two.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct FeedbackInput {
    /// CSV with a header `row_id,label` or `request_id,row,label`, sent as-is
    /// ("-" reads stdin)
    #[arg(value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// JSON body {"feedback": [...]} to send as-is ("-" reads stdin)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
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
pub struct MonitorArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// Name of the deployment to report on
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub deployment: String,

    #[command(flatten)]
    pub window: WindowArgs,

    /// Report on this version's rows [default: the version that answered most rows]
    #[arg(long, value_name = "VERSION", value_parser = clap::value_parser!(u32).range(1..))]
    pub version: Option<u32>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: ExportCommand,
}

#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// Write a deployment's logged predictions over a window to CSV or Parquet
    #[command(
        long_about = "Write a deployment's logged predictions over a window to a file: one row \
            per predicted row, with columns at, request_id, row, row_id, revision, model, \
            version, inputs (the features as a JSON array), outputs (JSON), score, predicted, \
            segments (JSON), latency_us and label (the feedback, when it came).\n\n\
            -o FILE ending in .parquet writes Parquet (snappy-compressed; at as a UTC \
            timestamp, numbers typed, empty cells null); any other name writes the server's \
            CSV unchanged; without -o the CSV goes to stdout. The file appears only once the \
            export is complete. The window is as for `hangar monitor` (default: the last 24 \
            hours). Prints where the rows went: rows, file, format and size (--output json: \
            as a JSON object).",
        after_help = "Examples:\n  \
            hangar export predictions credit-api -o today.csv\n  \
            hangar export predictions credit-api --from 2025-03-01 --to 2025-03-31 -o march.parquet\n  \
            hangar export predictions credit-api --from 2h | grep ',1$'"
    )]
    Predictions(ExportPredictionsArgs),
}

#[derive(Args, Debug)]
pub struct ExportPredictionsArgs {
    /// Name of the deployment whose predictions to export
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub deployment: String,

    #[command(flatten)]
    pub window: WindowArgs,

    /// Write to FILE: Parquet when it ends in .parquet, CSV otherwise ("-" or none:
    /// CSV to stdout)
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
}

const ALERTS_ABOUT: &str = "\
Alerts: live alerts, rules, acknowledgement, history and notification channels.

A rule is a condition on one of a deployment's figures (requests, error rate, p99 \
latency, drift, performance, fairness) over a window, e.g. `traffic.error_rate > 0.05` \
over the last 5 minutes. The server evaluates every rule for every deployment it \
applies to every few seconds. An alert is pending while its condition has held for \
less than the rule's --for, then firing; it resolves when the condition no longer \
holds. Every change is recorded (`hangar alerts history`) and sent to the \
notification channels (`hangar alerts channels`; each attempt in `hangar alerts \
deliveries`).

Every deployment gets the default rules (input drift, a feature's PSI, the \
four-fifths rule, error rate); a rule of the same name replaces a default, and a \
rule for one deployment replaces a rule for all of them. `hangar status` sums it up \
per deployment.

Durations are a number with a unit: 30s, 10m, 1h, 7d (or combined, 1h30m).";

const ALERTS_EXAMPLES: &str = "\
Examples:
  hangar alerts list
  hangar alerts rules
  hangar alerts rules add slow --metric latency.p99_ms --comparison '>' --threshold 250 \\
      --deployment credit-api --window 15m --for 5m
  hangar alerts ack slow --deployment credit-api
  hangar alerts history --deployment credit-api --limit 20
  hangar alerts channels add ops --kind webhook --url http://alerts.internal:9000/hangar
  hangar alerts deliveries --output json";

const RULE_ADD_ABOUT: &str = "\
Add an alert rule, or replace the rule of the same name and deployment.

The rule fires when METRIC, computed over the last --window, compares to --threshold \
as --comparison says, and has done so for --for. Without --deployment it applies to \
every deployment (\"*\"). A --guardrail rule that fires while the deployment has a \
canary judges the canary alone and rolls it back.

Metrics (<feature> is an input feature, <attribute> a --segment of the deployment; \
`any` means the worst attribute):
  traffic.requests, traffic.error_rate (0 to 1), latency.p99_ms
  drift.share (0 to 1), drift.dataset (0 or 1), drift.psi.max
  features.<feature>.psi, features.<feature>.js_distance,
  features.<feature>.ks_statistic, features.<feature>.ks_pvalue,
  features.<feature>.wasserstein, features.<feature>.chi2_pvalue,
  features.<feature>.drifted (0 or 1)
  performance.accuracy, performance.precision, performance.recall, performance.f1,
  performance.roc_auc, performance.log_loss, performance.brier (need feedback)
  estimated_performance.accuracy, estimated_performance.precision,
  estimated_performance.recall, estimated_performance.f1,
  estimated_performance.roc_auc (need a baseline with labels)
  fairness.<attribute>.demographic_parity_ratio,
  fairness.<attribute>.demographic_parity_difference,
  fairness.<attribute>.equalized_odds_ratio,
  fairness.<attribute>.equalized_odds_difference

Shares and rates are written from 0 to 1 (5% is 0.05). The server checks the rule \
and says what is wrong with it. Prints the rule as saved.";

const RULE_ADD_EXAMPLES: &str = "\
Examples:
  hangar alerts rules add error-burst --metric traffic.error_rate --comparison '>' \\
      --threshold 0.02 --window 10m --for 2m --severity critical
  hangar alerts rules add quiet --metric traffic.requests --comparison '<' --threshold 1 \\
      --deployment credit-api --window 1h --severity info
  hangar alerts rules add income-psi --metric features.income.psi --comparison gt \\
      --threshold 0.2 --window 1d --for 1h
  hangar alerts rules add canary-errors --metric traffic.error_rate --comparison '>' \\
      --threshold 0.05 --window 5m --guardrail";

const STATUS_ABOUT: &str = "\
Every deployment's health in plain words, or one deployment's.

Each deployment is `✗ failing` (a critical alert is firing), `! needs attention` (a \
warning alert is firing, or a figure is past the line of a default rule: input drift, \
a group below the four-fifths line, more than 5% of requests failing) or \
`✓ healthy`, followed by the reasons, most serious first. Deployments are listed \
failing first, then needing attention, then healthy.

--output json prints the server's health of each deployment (for all deployments: \
{\"deployments\": [...]}, in the same order).";

const STATUS_EXAMPLES: &str = "\
Examples:
  hangar status
  hangar status credit-api
  hangar status --output json | jq -r '.deployments[] | select(.health == \"failing\") | .deployment'";

#[derive(Args, Debug)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// List live alerts: pending, firing and just resolved, most serious first
    #[command(
        long_about = "List live alerts: pending, firing and just resolved, most serious first.\n\n\
            STATE is pending (the condition holds, not yet for the rule's --for), firing or \
            resolved; VALUE is the rule's metric at the last evaluation; SINCE is when the \
            alert started pending or firing, or when it resolved; ACK says whether a firing \
            alert was acknowledged (`hangar alerts ack`).",
        after_help = "Examples:\n  \
            hangar alerts list\n  \
            hangar alerts list --output json"
    )]
    List,
    /// List alert rules (custom and default) with their conditions in words, or add or delete one
    #[command(
        long_about = "List alert rules with their conditions in words, or add or delete one.\n\n\
            Without a subcommand, lists the custom rules, then the default rules every \
            deployment gets. SOURCE says which, and marks a default replaced by a custom rule \
            of the same name for every deployment, and guardrail rules.",
        after_help = "Examples:\n  \
            hangar alerts rules\n  \
            hangar alerts rules add busy --metric traffic.requests --comparison '>=' --threshold 1000 --window 1m\n  \
            hangar alerts rules delete busy"
    )]
    Rules(RulesArgs),
    /// Acknowledge a firing alert: someone is on it (it keeps firing until it resolves)
    #[command(
        long_about = "Acknowledge a firing alert: someone is on it.\n\n\
            The alert keeps firing until its condition no longer holds; the acknowledgement \
            (and who made it: $USER) is recorded in `hangar alerts history` and shown in \
            `hangar alerts list` and `hangar status`. Only a firing alert can be \
            acknowledged.",
        after_help = "Example:\n  hangar alerts ack error-rate-high --deployment credit-api"
    )]
    Ack(AckArgs),
    /// Show the alert history, newest first: pending, firing, resolved and acknowledged
    #[command(
        long_about = "Show the alert history, newest first: every alert that went pending, \
            fired or resolved, and every acknowledgement.",
        after_help = "Examples:\n  \
            hangar alerts history\n  \
            hangar alerts history --deployment credit-api --limit 20"
    )]
    History(AlertHistoryArgs),
    /// List notification channels, or add or delete one
    #[command(
        long_about = "List notification channels, or add or delete one.\n\n\
            Every alert event is sent to every channel: a webhook gets the event as JSON, \
            a slack channel (any Slack-compatible incoming webhook) gets {\"text\": ...}. \
            Failed sends are retried; `hangar alerts deliveries` shows every attempt.",
        after_help = "Examples:\n  \
            hangar alerts channels\n  \
            hangar alerts channels add ops --kind webhook --url http://alerts.internal:9000/hangar\n  \
            hangar alerts channels delete ops"
    )]
    Channels(ChannelsArgs),
    /// Show the latest attempts to send alert events to channels, newest first
    #[command(
        long_about = "Show the latest attempts to send alert events to the notification \
            channels, newest first: which event went to which channel, the attempt number, \
            and whether it was delivered (with the channel's answer or the error).",
        after_help = "Examples:\n  \
            hangar alerts deliveries\n  \
            hangar alerts deliveries --output json"
    )]
    Deliveries,
}

#[derive(Args, Debug)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: Option<RulesCommand>,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Add an alert rule, or replace the rule of the same name and deployment
    #[command(long_about = RULE_ADD_ABOUT, after_help = RULE_ADD_EXAMPLES)]
    Add(RuleAddArgs),
    /// Delete a custom alert rule (default rules cannot be deleted, only replaced)
    #[command(
        long_about = "Delete a custom alert rule: the rule for every deployment, or with \
            --deployment the rule for that deployment. Default rules cannot be deleted; a \
            custom rule of the same name replaces one.",
        after_help = "Examples:\n  \
            hangar alerts rules delete busy\n  \
            hangar alerts rules delete slow --deployment credit-api"
    )]
    Delete(RuleDeleteArgs),
}

/// How serious an alert is: `critical` makes a deployment failing, `warning`
/// makes it need attention, `info` is only recorded and sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Severity {
    /// Recorded and sent; does not change the deployment's health
    Info,
    /// The deployment needs attention
    Warning,
    /// The deployment is failing
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Args, Debug)]
pub struct RuleAddArgs {
    /// Name of the rule; a default rule's name replaces that default
    #[arg(value_name = "NAME", value_parser = rule_name)]
    pub name: String,

    /// The figure to watch, e.g. traffic.error_rate or features.income.psi (see above)
    #[arg(long, value_name = "METRIC")]
    pub metric: String,

    /// How the metric compares to the threshold when the rule fires: >, >=, <, <=
    /// (or gt, ge, lt, le; quote the symbols in a shell)
    #[arg(long, value_name = "OP", value_parser = comparison)]
    pub comparison: String,

    /// The line the metric is compared with (shares and rates from 0 to 1)
    #[arg(long, value_name = "NUMBER", value_parser = finite, allow_negative_numbers = true)]
    pub threshold: f64,

    /// The deployment the rule applies to, or "*" for every deployment [default: *]
    #[arg(long, value_name = "DEPLOYMENT", value_parser = rule_deployment)]
    pub deployment: Option<String>,

    /// The window the metric is computed over, e.g. 5m, 1h, 1d [default: 1h]
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub window: Option<u64>,

    /// How long the condition must hold before the alert fires, e.g. 10m [default: 0s, at once]
    #[arg(long = "for", value_name = "DURATION", value_parser = duration)]
    pub for_: Option<u64>,

    /// How serious the alert is [default: warning]
    #[arg(long, value_name = "SEVERITY", value_enum)]
    pub severity: Option<Severity>,

    /// When it fires while the deployment has a canary, judge the canary alone and roll it back
    #[arg(long)]
    pub guardrail: bool,
}

#[derive(Args, Debug)]
pub struct RuleDeleteArgs {
    /// Name of the rule to delete
    #[arg(value_name = "NAME", value_parser = rule_name)]
    pub name: String,

    /// Delete the rule for this deployment rather than the one for every deployment
    #[arg(long, value_name = "DEPLOYMENT", value_parser = rule_deployment, default_value = "*")]
    pub deployment: String,
}

#[derive(Args, Debug)]
pub struct AckArgs {
    /// Name of the firing alert's rule
    #[arg(value_name = "RULE", value_parser = rule_name)]
    pub rule: String,

    /// The deployment the alert fires on
    #[arg(long, value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub deployment: String,
}

#[derive(Args, Debug)]
pub struct AlertHistoryArgs {
    /// Only this deployment's alerts
    #[arg(long, value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub deployment: Option<String>,

    /// At most this many events, newest first [default: 200]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: Option<u32>,
}

#[derive(Args, Debug)]
pub struct ChannelsArgs {
    #[command(subcommand)]
    pub command: Option<ChannelsCommand>,
}

#[derive(Subcommand, Debug)]
pub enum ChannelsCommand {
    /// Add a notification channel, or change the one of the same name
    #[command(
        long_about = "Add a notification channel, or change the one of the same name.\n\n\
            --kind webhook POSTs each alert event as JSON to --url; --kind slack POSTs \
            {\"text\": ...} as a Slack-compatible incoming webhook expects. Their URL must be \
            http:// (put TLS at a proxy). Servers that offer --kind email send each event \
            over plain SMTP to the --url smtp://HOST:PORT, from --from to every --to. The \
            server checks the channel and says what is wrong with it.",
        after_help = "Examples:\n  \
            hangar alerts channels add ops --kind webhook --url http://alerts.internal:9000/hangar\n  \
            hangar alerts channels add team-chat --kind slack --url http://chat.example/hooks/T0/B0/x\n  \
            hangar alerts channels add risk-team --kind email --url smtp://mail.internal:25 \\\n      \
            --from hangar@example.com --to risk@example.com,ops@example.com"
    )]
    Add(ChannelAddArgs),
    /// Delete a notification channel
    #[command(after_help = "Example:\n  hangar alerts channels delete ops")]
    Delete(ChannelDeleteArgs),
}

const EMAIL: &str = "E-mail channels (sent only when given)";

#[derive(Args, Debug)]
pub struct ChannelAddArgs {
    /// Name of the channel
    #[arg(value_name = "NAME", value_parser = channel_name)]
    pub name: String,

    /// What the channel is: webhook (JSON), slack (Slack-compatible webhook), or
    /// email (SMTP) where the server offers it
    #[arg(long, value_name = "KIND", value_parser = channel_kind)]
    pub kind: String,

    /// Where to send alert events: http://… for webhook and slack, smtp://HOST:PORT for email
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// Recipients of an email channel (repeatable, or comma-separated)
    #[arg(long, value_name = "ADDRESS", value_delimiter = ',', help_heading = EMAIL)]
    pub to: Vec<String>,

    /// Sender of an email channel
    #[arg(long, value_name = "ADDRESS", help_heading = EMAIL)]
    pub from: Option<String>,
}

#[derive(Args, Debug)]
pub struct ChannelDeleteArgs {
    /// Name of the channel to delete
    #[arg(value_name = "NAME", value_parser = channel_name)]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// Only this deployment [default: every deployment]
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub deployment: Option<String>,
}

// ---- governance -------------------------------------------------------------

const LOGIN_ABOUT: &str = "\
Log in to a server (--server) and store a token for the commands that follow.

With --user, the password is read from stdin (--password-stdin) and exchanged for \
an API token (30 days unless --expires says otherwise). With --token (or \
HANGAR_TOKEN), that token is checked with the server and stored as is: the way to \
keep an administrator's or a CI token.

The token is kept in credentials.json under $HANGAR_CONFIG_DIR (else \
$XDG_CONFIG_HOME/hangar, else ~/.config/hangar), readable only by you, one per \
server URL. --token / HANGAR_TOKEN on any command takes precedence over it.";

const LOGIN_EXAMPLES: &str = "\
Examples:
  printf '%s' \"$PASSWORD\" | hangar login --user ada --password-stdin
  hangar login --user ada --password-stdin --expires 12h < password.txt
  hangar login --token \"$HANGAR_ADMIN_TOKEN\"
  hangar --server http://hangar.internal:8080 login --user ada --password-stdin";

const USER_ABOUT: &str = "\
Create or list users, or give a user a role in a team. Administrators only.

Roles are per team: admin (everything in the team), maintainer (deploy, promote, \
roll back, issue consumer keys), data-scientist (push versions, write model cards, \
set non-production aliases), approver (approve versions for production), viewer \
(read everything of the team). A user sees only their teams' models and \
deployments. --superuser makes a Hangar administrator (users, teams, keys, audit).";

const APPROVE_ABOUT: &str = "\
Approve a model version for production traffic, with a comment saying what was \
checked.

A version of a model whose card says risk tier high cannot receive production \
traffic (a route weight above zero, or the production alias) until a principal \
with the approver role, other than the one who pushed it, approves that exact \
version (its digest). Shadow traffic needs no approval. `hangar approvals` shows \
the decisions and whether production is allowed.";

const KEYS_ABOUT: &str = "\
Ed25519 signing keys for model versions.

`keys generate` makes a key pair on this machine: the secret key stays in a file \
only you can read, the public key goes to the server's administrators, who trust \
it with `keys trust`. `model push --sign KEY_FILE` signs the pushed version's \
digest, and a deployment made with `deploy --require-signed` serves only versions \
signed by a trusted key.";

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// Log in as this user with a password read from stdin (--password-stdin)
    #[arg(long, value_name = "USER", value_parser = user_name, requires = "password_stdin")]
    pub user: Option<String>,

    /// Read the password from stdin (its first line)
    #[arg(long, requires = "user")]
    pub password_stdin: bool,

    /// How long the token of a password login lasts: 30d, 12h, 90m or an RFC 3339 time [default: 30d]
    #[arg(long, value_name = "WHEN", requires = "user")]
    pub expires: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Args, Debug)]
pub struct WhoamiArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Args, Debug)]
pub struct TeamArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: TeamCommand,
}

#[derive(Subcommand, Debug)]
pub enum TeamCommand {
    /// Create a team (administrators)
    #[command(after_help = "Example:\n  hangar team create credit")]
    Create(TeamCreateArgs),
    /// List the teams you can see (all of them for administrators)
    #[command(after_help = "Examples:\n  hangar team list\n  hangar team list --output json")]
    List,
}

#[derive(Args, Debug)]
pub struct TeamCreateArgs {
    /// Name of the team
    #[arg(value_name = "TEAM", value_parser = team_name)]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: UserCommand,
}

/// A role in a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Everything in the team
    Admin,
    /// Deploy, promote, roll back, issue consumer keys
    Maintainer,
    /// Push versions, write model cards, set non-production aliases
    DataScientist,
    /// Approve versions for production
    Approver,
    /// Read everything of the team
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Maintainer => "maintainer",
            Role::DataScientist => "data-scientist",
            Role::Approver => "approver",
            Role::Viewer => "viewer",
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user, optionally with a role in a team and a password
    #[command(
        long_about = "Create a user, optionally with a role in a team (--team and --role \
            together) and a password for `hangar login` and the dashboard (--password-stdin, \
            at least 12 characters). A user without a password logs in with a token an \
            administrator creates for them (`hangar token create --user`).",
        after_help = "Examples:\n  \
            printf '%s' \"$PASSWORD\" | hangar user create ada --team credit --role data-scientist --password-stdin\n  \
            hangar user create grace --team credit --role approver\n  \
            hangar user create root2 --superuser --password-stdin < password.txt"
    )]
    Create(UserCreateArgs),
    /// List users with their roles
    #[command(after_help = "Examples:\n  hangar user list\n  hangar user list --output json")]
    List,
    /// Give a user a role in a team (in addition to the roles they have)
    #[command(after_help = "Example:\n  hangar user grant ada --team fraud --role viewer")]
    Grant(UserGrantArgs),
}

#[derive(Args, Debug)]
pub struct UserCreateArgs {
    /// Name of the user
    #[arg(value_name = "USER", value_parser = user_name)]
    pub name: String,

    /// The team the user gets --role in
    #[arg(long, value_name = "TEAM", value_parser = team_name, requires = "role")]
    pub team: Option<String>,

    /// The user's role in --team
    #[arg(long, value_name = "ROLE", value_enum, requires = "team")]
    pub role: Option<Role>,

    /// Read the user's password from stdin (its first line)
    #[arg(long)]
    pub password_stdin: bool,

    /// Make the user a Hangar administrator
    #[arg(long)]
    pub superuser: bool,
}

#[derive(Args, Debug)]
pub struct UserGrantArgs {
    /// Name of the user
    #[arg(value_name = "USER", value_parser = user_name)]
    pub name: String,

    /// The team
    #[arg(long, value_name = "TEAM", value_parser = team_name)]
    pub team: String,

    /// The role in that team
    #[arg(long, value_name = "ROLE", value_enum)]
    pub role: Role,
}

#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token (or a metrics token); it is printed once and never shown again
    #[command(
        long_about = "Create an API token for yourself, or (administrators) for --user. The \
            token acts with the user's roles; it is printed once and stored by the server \
            only as a hash, so keep it now. Without --expires it does not expire; revoke it \
            with `hangar token revoke ID`.\n\n\
            With --metrics (administrators), a metrics token instead: it belongs to no user \
            and may read /metrics (which covers every team's deployments) and nothing else. \
            Give it to a Prometheus scraper as its bearer token (`authorization: \
            credentials_file:` in the scrape config).",
        after_help = "Examples:\n  \
            hangar token create --name ci --expires 90d\n  \
            hangar token create --user ada --expires 30d --output json | jq -r .token\n  \
            hangar token create --metrics --name prometheus --output json | jq -r .token > /etc/prometheus/hangar-token"
    )]
    Create(TokenCreateArgs),
    /// List API tokens (never their secrets): expiry, last use, revocation
    #[command(after_help = "Examples:\n  hangar token list\n  hangar token list --user ada")]
    List(TokenListArgs),
    /// Revoke an API token at once
    #[command(after_help = "Example:\n  hangar token revoke 3f2a9c1b0d4e5f60")]
    Revoke(RevokeArgs),
}

#[derive(Args, Debug)]
pub struct TokenCreateArgs {
    /// The user the token acts as [default: you]; others' need an administrator
    #[arg(long, value_name = "USER", value_parser = user_name)]
    pub user: Option<String>,

    /// When the token expires: 30d, 12h, 90m or an RFC 3339 time [default: never]
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,

    /// A name saying what the token is for
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// A metrics token: reads /metrics and nothing else, for a Prometheus scraper
    /// (administrators)
    #[arg(long, conflicts_with = "user")]
    pub metrics: bool,
}

#[derive(Args, Debug)]
pub struct TokenListArgs {
    /// List this user's tokens [default: yours]; others' need an administrator
    #[arg(long, value_name = "USER", value_parser = user_name)]
    pub user: Option<String>,

    /// List the metrics tokens instead (administrators)
    #[arg(long, conflicts_with = "user")]
    pub metrics: bool,
}

#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// The id shown by `create` and `list`
    #[arg(value_name = "ID")]
    pub id: String,
}

#[derive(Args, Debug)]
pub struct ConsumerKeyArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: ConsumerKeyCommand,
}

#[derive(Subcommand, Debug)]
pub enum ConsumerKeyCommand {
    /// Issue an inference key for named deployments and a declared purpose
    #[command(
        long_about = "Issue a consumer key: a credential that may only call the named \
            deployments' inference (and feedback) routes, for the declared --purpose, which \
            is recorded with each prediction. Any other deployment answers 403.\n\n\
            Prints the key once (the server keeps only a hash) and, for every model the \
            deployments serve, its intended use and the uses it must not be put to: give \
            them to whoever gets the key. Needs the maintainer role in the deployments' team.",
        after_help = "Examples:\n  \
            hangar consumer-key create --deployment credit-api --purpose \"loan origination\"\n  \
            hangar consumer-key create --deployment credit-api --deployment credit-api-eu \\\n      \
            --purpose \"loan origination\" --expires 90d --rate-limit 50"
    )]
    Create(ConsumerKeyCreateArgs),
    /// List consumer keys of your teams' deployments
    #[command(
        after_help = "Examples:\n  hangar consumer-key list\n  hangar consumer-key list --output json"
    )]
    List,
    /// Revoke a consumer key at once
    #[command(after_help = "Example:\n  hangar consumer-key revoke 3f2a9c1b0d4e5f60")]
    Revoke(RevokeArgs),
}

#[derive(Args, Debug)]
pub struct ConsumerKeyCreateArgs {
    /// A deployment the key may call (repeatable)
    #[arg(long = "deployment", value_name = "DEPLOYMENT", value_parser = deployment_name, required = true)]
    pub deployments: Vec<String>,

    /// What the predictions are used for (recorded with each prediction)
    #[arg(long, value_name = "TEXT")]
    pub purpose: String,

    /// A name for the key (who holds it)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// When the key expires: 30d, 12h, 90m or an RFC 3339 time [default: never]
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,

    /// Requests per second the key may make (over it: 429) [default: the server's]
    #[arg(long, value_name = "N", value_parser = positive)]
    pub rate_limit: Option<f64>,
}

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

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Generate an Ed25519 key pair here: FILE (secret, mode 0600) and FILE.pub
    #[command(
        long_about = "Generate an Ed25519 key pair on this machine, without the server: \
            FILE holds the secret key in hex (readable only by you; keep it secret), \
            FILE.pub the public key in hex (give it to an administrator for `hangar keys \
            trust`). An existing FILE is never overwritten.",
        after_help = "Example:\n  hangar keys generate --out release.key"
    )]
    Generate(KeysGenerateArgs),
    /// Trust a public key: versions it signs satisfy `deploy --require-signed` (administrators)
    #[command(after_help = "Example:\n  hangar keys trust release-2025 release.key.pub")]
    Trust(KeysTrustArgs),
    /// List the trusted public keys
    #[command(after_help = "Examples:\n  hangar keys list\n  hangar keys list --output json")]
    List,
}

#[derive(Args, Debug)]
pub struct KeysGenerateArgs {
    /// Where to write the secret key; the public key goes to FILE.pub
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct KeysTrustArgs {
    /// A name for the key (who or what signs with it)
    #[arg(value_name = "NAME", value_parser = key_name)]
    pub name: String,

    /// The public key file (FILE.pub from `hangar keys generate`)
    #[arg(value_name = "FILE.pub")]
    pub file: PathBuf,
}

fn team_name(s: &str) -> Result<String, NameError> {
    validate_name(NameKind::Team, s).map(|()| s.to_owned())
}

fn user_name(s: &str) -> Result<String, NameError> {
    validate_name(NameKind::User, s).map(|()| s.to_owned())
}

fn key_name(s: &str) -> Result<String, NameError> {
    validate_name(NameKind::Key, s).map(|()| s.to_owned())
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

/// A request field name for --segment: not empty, no surrounding blanks.
fn field_name(s: &str) -> Result<String, String> {
    if s.is_empty() || s.trim() != s {
        return Err(format!(
            "{s:?} is not a field name; expected the name of a request field, e.g. group"
        ));
    }
    Ok(s.to_owned())
}

/// A rule, or channel, name follows the naming rule of deployments.
fn rule_name(s: &str) -> Result<String, String> {
    named("rule name", s)
}

fn channel_name(s: &str) -> Result<String, String> {
    named("channel name", s)
}

/// `s` if it follows the naming rule, else the rule worded for `what`.
fn named(what: &str, s: &str) -> Result<String, String> {
    match validate_name(NameKind::Deployment, s) {
        Ok(()) => Ok(s.to_owned()),
        Err(e) => {
            let message = e.to_string();
            let rule = message
                .split_once(": ")
                .map_or(message.as_str(), |(_, r)| r);
            Err(format!("invalid {what} {:?}: {rule}", e.name))
        }
    }
}

/// A rule's deployment: a deployment name, or `*` for every deployment.
fn rule_deployment(s: &str) -> Result<String, String> {
    if s == "*" {
        return Ok(s.to_owned());
    }
    deployment_name(s).map_err(|e| format!("{e}; or \"*\" for every deployment"))
}

/// `>`, `>=`, `<`, `<=` (or `gt`, `ge`, `lt`, `le`), sent as the symbol.
fn comparison(s: &str) -> Result<String, String> {
    s.trim()
        .parse::<hangar_core::alerts::Comparison>()
        .map(|c| c.as_str().to_owned())
        .map_err(|e| e.to_string())
}

/// A channel kind: a lower-case word; the server says which kinds it has.
fn channel_kind(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not a channel kind; expected webhook, slack or email"
        ))
    }
}

/// Any finite number.
fn finite(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("{s:?} is not a number")),
    }
}

/// A duration in seconds from a number with a unit — `30s`, `10m`, `1h`, `7d`,
/// `2w` — or several (`1h30m`).
pub fn duration(s: &str) -> Result<u64, String> {
    let expected = "expected a number with a unit: 30s, 10m, 1h, 7d (or combined, 1h30m)";
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{s:?} has no unit; write {t}s for seconds, or {expected}"
        ));
    }
    let bad = || format!("{s:?} is not a duration; {expected}");
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(bad)?;
    }
    if t.is_empty() || !digits.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// `--from`: a date starts at its midnight (UTC).
pub fn from_time(s: &str) -> Result<String, String> {
    time_arg(s, Utc::now(), Edge::Start)
}

/// `--to`: a date is passed on as-is, which the server reads as its end.
pub fn to_time(s: &str) -> Result<String, String> {
    time_arg(s, Utc::now(), Edge::End)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    Start,
    End,
}

/// An RFC 3339 time or date for the server, from RFC 3339, a date, `now`, or
/// a span back from `now` (`90s`, `30m`, `12h`, `7d`, `2w`).
fn time_arg(s: &str, now: DateTime<Utc>, edge: Edge) -> Result<String, String> {
    let t = s.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(t) {
        return Ok(time
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(match edge {
            Edge::Start => format!("{date}T00:00:00Z"),
            Edge::End => date.to_string(),
        });
    }
    if t == "now" {
        return Ok(now.to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    let span = t
        .char_indices()
        .last()
        .and_then(|(i, unit)| Some((t[..i].parse::<u32>().ok()?, unit)))
        .and_then(|(n, unit)| match unit {
            's' => Some(chrono::Duration::seconds(n.into())),
            'm' => Some(chrono::Duration::minutes(n.into())),
            'h' => Some(chrono::Duration::hours(n.into())),
            'd' => Some(chrono::Duration::days(n.into())),
            'w' => Some(chrono::Duration::weeks(n.into())),
            _ => None,
        });
    match span.and_then(|d| now.checked_sub_signed(d)) {
        Some(time) => Ok(time.to_rfc3339_opts(SecondsFormat::Secs, true)),
        None => Err(format!(
            "{s:?} is not a time; expected RFC 3339 (2025-03-14T09:00:00Z), a date \
             (2025-03-14), now, or a span back from now (30m, 12h, 7d)"
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
    fn push_takes_a_baseline_with_its_label_and_categorical_columns() {
        let cli = parse(&[
            "model",
            "push",
            "m.onnx",
            "--name",
            "credit",
            "--features",
            "a,b,job",
            "--baseline",
            "train.csv",
            "--label-column",
            "label",
            "--categorical",
            "job,b",
        ])
        .unwrap();
        let Command::Model(ModelArgs {
            command: ModelCommand::Push(push),
            ..
        }) = cli.command
        else {
            panic!("not a push")
        };
        assert_eq!(push.baseline, Some(PathBuf::from("train.csv")));
        assert_eq!(push.label_column.as_deref(), Some("label"));
        assert_eq!(push.categorical.unwrap(), ["job", "b"]);

        let cli = parse(&["model", "baseline", "credit@production"]).unwrap();
        let Command::Model(ModelArgs {
            command: ModelCommand::Baseline(baseline),
            ..
        }) = cli.command
        else {
            panic!("not a baseline")
        };
        assert_eq!(baseline.target.to_string(), "credit@production");
        assert_eq!(baseline.file, None);
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

    fn check_time(input: &str, edge: Edge, expected: Result<&str, &str>) {
        let now = DateTime::parse_from_rfc3339("2025-03-14T09:26:53Z")
            .unwrap()
            .with_timezone(&Utc);
        match (time_arg(input, now, edge), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
            (Err(message), Err(needle)) => assert!(message.contains(needle), "{input}: {message}"),
            (got, want) => panic!("{input}: got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn times_are_rfc3339_dates_now_or_spans_back_from_now() {
        check_time(
            "2025-03-01T12:00:00+01:00",
            Edge::Start,
            Ok("2025-03-01T11:00:00Z"),
        );
        check_time(
            "2025-03-01T12:00:00.5Z",
            Edge::End,
            Ok("2025-03-01T12:00:00.500Z"),
        );
        check_time("2025-03-01", Edge::Start, Ok("2025-03-01T00:00:00Z"));
        // The server reads a bare date as the end of that day.
        check_time("2025-03-01", Edge::End, Ok("2025-03-01"));
        check_time("now", Edge::End, Ok("2025-03-14T09:26:53Z"));
        check_time("90s", Edge::Start, Ok("2025-03-14T09:25:23Z"));
        check_time("30m", Edge::Start, Ok("2025-03-14T08:56:53Z"));
        check_time("12h", Edge::Start, Ok("2025-03-13T21:26:53Z"));
        check_time("7d", Edge::Start, Ok("2025-03-07T09:26:53Z"));
        check_time("2w", Edge::Start, Ok("2025-02-28T09:26:53Z"));
        for bad in ["", "yesterday", "7", "d", "-3d", "3y", "2025-13-01"] {
            check_time(bad, Edge::Start, Err("expected RFC 3339"));
        }
    }

    fn check_duration(input: &str, expected: Result<u64, &str>) {
        match (duration(input), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
            (Err(message), Err(needle)) => assert!(message.contains(needle), "{input}: {message}"),
            (got, want) => panic!("{input}: got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn durations_are_numbers_with_units() {
        check_duration("0s", Ok(0));
        check_duration("30s", Ok(30));
        check_duration("10m", Ok(600));
        check_duration("1h", Ok(3600));
        check_duration("7d", Ok(604_800));
        check_duration("2w", Ok(1_209_600));
        check_duration("1h30m", Ok(5400));
        check_duration(" 90s ", Ok(90));
        check_duration("600", Err("has no unit; write 600s"));
        for bad in [
            "",
            "h",
            "1x",
            "1.5h",
            "-1h",
            "1h 30m",
            "10mins",
            "99999999999999999999w",
        ] {
            check_duration(bad, Err("expected a number with a unit: 30s, 10m, 1h, 7d"));
        }
    }

    #[test]
    fn durations_print_back_as_they_parse() {
        for secs in [0, 45, 90, 600, 3600, 5400, 86_400, 604_800, 90_061] {
            assert_eq!(duration(&crate::output::duration(secs)), Ok(secs));
        }
    }

    #[test]
    fn rules_add_takes_a_condition_with_optional_scope_timing_and_severity() {
        let cli = parse(&[
            "alerts",
            "rules",
            "add",
            "busy",
            "--metric",
            "traffic.requests",
            "--comparison",
            "ge",
            "--threshold",
            "1",
            "--window",
            "1h",
            "--for",
            "0s",
            "--deployment",
            "credit-api",
            "--severity",
            "critical",
            "--guardrail",
            "--server",
            "http://h:1",
        ])
        .unwrap();
        let Command::Alerts(AlertsArgs {
            client,
            command:
                AlertsCommand::Rules(RulesArgs {
                    command: Some(RulesCommand::Add(add)),
                }),
        }) = cli.command
        else {
            panic!("not rules add")
        };
        assert_eq!(client.server, "http://h:1");
        assert_eq!(add.name, "busy");
        assert_eq!(add.comparison, ">=");
        assert_eq!(add.threshold, 1.0);
        assert_eq!((add.window, add.for_), (Some(3600), Some(0)));
        assert_eq!(add.deployment.as_deref(), Some("credit-api"));
        assert_eq!(add.severity, Some(Severity::Critical));
        assert!(add.guardrail);

        // Only what was given: the server's defaults apply to the rest.
        let cli = parse(&[
            "alerts",
            "rules",
            "add",
            "low",
            "--metric",
            "performance.accuracy",
            "--comparison",
            "<",
            "--threshold",
            "-0.5",
        ])
        .unwrap();
        let Command::Alerts(AlertsArgs {
            command:
                AlertsCommand::Rules(RulesArgs {
                    command: Some(RulesCommand::Add(add)),
                }),
            ..
        }) = cli.command
        else {
            panic!("not rules add")
        };
        // A negative threshold reaches the server, which says why it is wrong.
        assert_eq!(add.threshold, -0.5);
        assert_eq!(
            (add.deployment, add.window, add.for_, add.severity),
            (None, None, None, None)
        );
    }

    #[test]
    fn alerts_subcommands_without_a_subcommand_list() {
        let cli = parse(&["alerts", "rules", "--output", "json"]).unwrap();
        let Command::Alerts(AlertsArgs {
            client,
            command: AlertsCommand::Rules(RulesArgs { command: None }),
        }) = cli.command
        else {
            panic!("not rules")
        };
        assert_eq!(client.output, OutputFormat::Json);
        let cli = parse(&["alerts", "channels"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Alerts(AlertsArgs {
                command: AlertsCommand::Channels(ChannelsArgs { command: None }),
                ..
            })
        ));
        let cli = parse(&["alerts", "rules", "delete", "busy"]).unwrap();
        let Command::Alerts(AlertsArgs {
            command:
                AlertsCommand::Rules(RulesArgs {
                    command: Some(RulesCommand::Delete(delete)),
                }),
            ..
        }) = cli.command
        else {
            panic!("not rules delete")
        };
        assert_eq!(
            (delete.name.as_str(), delete.deployment.as_str()),
            ("busy", "*")
        );
    }

    #[test]
    fn ack_history_channels_and_status_take_their_arguments() {
        let cli = parse(&["alerts", "ack", "busy", "--deployment", "credit-api"]).unwrap();
        let Command::Alerts(AlertsArgs {
            command: AlertsCommand::Ack(ack),
            ..
        }) = cli.command
        else {
            panic!("not ack")
        };
        assert_eq!(
            (ack.rule.as_str(), ack.deployment.as_str()),
            ("busy", "credit-api")
        );

        let cli = parse(&["alerts", "history", "--deployment", "d", "--limit", "5"]).unwrap();
        let Command::Alerts(AlertsArgs {
            command: AlertsCommand::History(history),
            ..
        }) = cli.command
        else {
            panic!("not history")
        };
        assert_eq!(
            (history.deployment.as_deref(), history.limit),
            (Some("d"), Some(5))
        );

        let cli = parse(&[
            "alerts",
            "channels",
            "add",
            "ops",
            "--kind",
            "slack",
            "--url",
            "http://h/x",
        ])
        .unwrap();
        let Command::Alerts(AlertsArgs {
            command:
                AlertsCommand::Channels(ChannelsArgs {
                    command: Some(ChannelsCommand::Add(add)),
                }),
            ..
        }) = cli.command
        else {
            panic!("not channels add")
        };
        assert_eq!(
            (add.name.as_str(), add.kind.as_str(), add.url.as_str()),
            ("ops", "slack", "http://h/x")
        );

        let cli = parse(&[
            "alerts",
            "channels",
            "add",
            "risk",
            "--kind",
            "email",
            "--url",
            "smtp://mail:25",
            "--to",
            "a@example.com,b@example.com",
            "--to",
            "c@example.com",
            "--from",
            "hangar@example.com",
        ])
        .unwrap();
        let Command::Alerts(AlertsArgs {
            command:
                AlertsCommand::Channels(ChannelsArgs {
                    command: Some(ChannelsCommand::Add(add)),
                }),
            ..
        }) = cli.command
        else {
            panic!("not channels add")
        };
        assert_eq!(add.to, ["a@example.com", "b@example.com", "c@example.com"]);
        assert_eq!(add.from.as_deref(), Some("hangar@example.com"));

        let cli = parse(&["status"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Status(StatusArgs {
                deployment: None,
                ..
            })
        ));
        let cli = parse(&["status", "credit-api", "--output", "json"]).unwrap();
        let Command::Status(status) = cli.command else {
            panic!("not status")
        };
        assert_eq!(status.deployment.as_deref(), Some("credit-api"));
        assert_eq!(status.client.output, OutputFormat::Json);
    }

    #[test]
    fn bad_alert_arguments_are_usage_errors_that_say_what_was_expected() {
        let add = [
            "alerts",
            "rules",
            "add",
            "r",
            "--metric",
            "traffic.requests",
        ];
        for (extra, needle) in [
            (
                &["--comparison", "=", "--threshold", "1"][..],
                "unknown comparison \"=\"",
            ),
            (
                &["--comparison", ">", "--threshold", "many"],
                "\"many\" is not a number",
            ),
            (
                &["--comparison", ">", "--threshold", "NaN"],
                "\"NaN\" is not a number",
            ),
            (
                &[
                    "--comparison",
                    ">",
                    "--threshold",
                    "1",
                    "--window",
                    "1 hour",
                ],
                "is not a duration",
            ),
            (
                &["--comparison", ">", "--threshold", "1", "--for", "10"],
                "has no unit",
            ),
            (
                &[
                    "--comparison",
                    ">",
                    "--threshold",
                    "1",
                    "--severity",
                    "urgent",
                ],
                "urgent",
            ),
            (
                &[
                    "--comparison",
                    ">",
                    "--threshold",
                    "1",
                    "--deployment",
                    "Credit",
                ],
                "or \"*\" for every deployment",
            ),
            (&["--threshold", "1"], "--comparison"),
        ] {
            let args: Vec<&str> = add.iter().chain(extra).copied().collect();
            let err = parse(&args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert!(err.to_string().contains(needle), "{args:?}: {err}");
        }
        for (args, needle) in [
            (
                &["alerts", "rules", "add", "Busy Rule"][..],
                "invalid rule name \"Busy Rule\"",
            ),
            (&["alerts", "ack", "busy"], "--deployment"),
            (
                &["alerts", "ack", "busy", "--deployment", "*"],
                "invalid deployment name",
            ),
            (&["alerts", "history", "--limit", "0"], "--limit"),
            (
                &["alerts", "channels", "add", "ops", "--kind", "webhook"],
                "--url",
            ),
            (
                &[
                    "alerts", "channels", "add", "Ops", "--kind", "webhook", "--url", "http://h",
                ],
                "invalid channel name",
            ),
            (
                &[
                    "alerts", "channels", "add", "ops", "--kind", "Web Hook", "--url", "http://h",
                ],
                "expected webhook, slack or email",
            ),
            (&["alerts", "channels", "delete"], "<NAME>"),
            (&["alerts"], "Usage"),
            (&["status", "Not A Deployment"], "invalid deployment name"),
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert!(err.to_string().contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn rules_add_help_names_every_metric() {
        let mut cmd = Cli::command();
        let help = cmd
            .find_subcommand_mut("alerts")
            .and_then(|c| c.find_subcommand_mut("rules"))
            .and_then(|c| c.find_subcommand_mut("add"))
            .unwrap()
            .render_long_help()
            .to_string();
        for pattern in hangar_core::alerts::METRIC_PATTERNS {
            // `fairness.any.…` is `fairness.<attribute>.…` with `any` for the worst attribute.
            let pattern = pattern.replace("fairness.any.", "fairness.<attribute>.");
            assert!(help.contains(&pattern), "{pattern} is not in the help");
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

#[derive(clap::Args, Debug)]
pub struct ValidateModelArgs {
    /// Path to libonnxruntime.so
    #[arg(long, value_name = "FILE")]
    pub ort_dylib: std::path::PathBuf,
}
