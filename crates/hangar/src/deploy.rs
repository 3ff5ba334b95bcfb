//! `hangar deploy`: create a deployment or give it a new revision (model,
//! canary, shadow, settings).

use crate::cli::values::{deployment_name, positive};
use crate::cli::ClientArgs;
use crate::client::{CanaryRoute, Client, DeployRequest, GuardrailsPatch, SettingsPatch};
use crate::output::{self, OutputFormat};
use crate::revision;
use clap::Args;
use hangar_core::VersionRef;

pub const DEPLOY_ABOUT: &str = "\
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

pub const DEPLOY_EXAMPLES: &str = "\
Examples:
  hangar deploy credit-api --model credit-risk@production
  hangar deploy credit-api --model credit-risk:3 --canary credit-risk:4=10 \\
      --message \"retrained on March data\"
  hangar deploy credit-api --model credit-risk:3 --canary credit-risk@staging=20 \\
      --shadow credit-risk:5 --guardrail-max-error-rate 0.05 --guardrail-max-p99-ms 250
  hangar deploy credit-api --model credit-risk:3 --max-batch-size 32 --max-queue-delay-us 500
  hangar deploy credit-api --model credit-risk:3 --segment group --segment region \\
      --row-id application_id";

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

pub const MONITORING: &str = "Monitoring settings (sent only when given; others keep their value)";

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

pub const SETTINGS: &str = "Serving settings (sent only when given; others keep their value)";
pub const GUARDRAILS: &str = "Guardrails (roll a canary back by themselves; sent only when given)";

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
pub fn field_name(s: &str) -> Result<String, String> {
    if s.is_empty() || s.trim() != s {
        return Err(format!(
            "{s:?} is not a field name; expected the name of a request field, e.g. group"
        ));
    }
    Ok(s.to_owned())
}

/// A rate: a finite number from 0 to 1.
pub fn fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!(
            "{s:?} is not a fraction from 0 to 1 (e.g. 0.05 for 5%)"
        )),
    }
}

pub async fn run(args: DeployArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let deployed = client.deploy(&args.name, &request(&args)).await?;
    output::print(&match args.client.output {
        OutputFormat::Json => output::json(&deployed.raw),
        OutputFormat::Table => revision::change_card(
            &deployed.body,
            &client.absolute(&revision::endpoint(&deployed.body)),
        ),
    })
}

/// The request body: the routes and shadow always (a deploy replaces them),
/// settings only as far as flags were given.
fn request(args: &DeployArgs) -> DeployRequest {
    DeployRequest {
        model: Some(args.model.to_string()),
        routes: None,
        canary: args.canary.as_ref().map(|c| CanaryRoute {
            model: c.target.to_string(),
            weight: c.percent,
        }),
        shadow: args.shadow.as_ref().map(ToString::to_string),
        settings: settings(&args.settings, &args.guardrails, &args.monitoring),
        message: args.message.clone(),
    }
}

/// `None` when no flag was given, so the server keeps every setting.
fn settings(
    s: &SettingsArgs,
    g: &GuardrailArgs,
    m: &MonitoringSettingsArgs,
) -> Option<SettingsPatch> {
    let guardrails = GuardrailsPatch {
        max_error_rate: g.guardrail_max_error_rate,
        max_p99_ms: g.guardrail_max_p99_ms,
        window_secs: g.guardrail_window_secs,
        min_requests: g.guardrail_min_requests,
    };
    let settings = SettingsPatch {
        max_batch_size: s.max_batch_size,
        max_queue_delay_us: s.max_queue_delay_us,
        queue_capacity: s.queue_capacity,
        timeout_ms: s.timeout_ms,
        max_concurrency: s.max_concurrency,
        guardrails: (guardrails != GuardrailsPatch::default()).then_some(guardrails),
        segments: (!m.segments.is_empty()).then(|| m.segments.clone()),
        row_id: m.row_id.as_ref().map(|r| r.trim().to_owned()),
        log_predictions: match (m.no_prediction_log, m.prediction_log) {
            (true, _) => Some(false),
            (false, true) => Some(true),
            (false, false) => None,
        },
        require_signed: match (s.require_signed, s.no_require_signed) {
            (true, _) => Some(true),
            (false, true) => Some(false),
            (false, false) => None,
        },
    };
    (settings != SettingsPatch::default()).then_some(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse;
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use serde_json::json;

    fn check(args: &[&str], expected: serde_json::Value) {
        let cli = Cli::try_parse_from(
            ["hangar", "deploy", "credit-api"]
                .into_iter()
                .chain(args.iter().copied()),
        )
        .unwrap();
        let Command::Deploy(deploy) = cli.command else {
            panic!("not a deploy")
        };
        assert_eq!(
            serde_json::to_value(request(&deploy)).unwrap(),
            expected,
            "{args:?}"
        );
    }

    #[test]
    fn flags_become_the_request_and_absent_settings_are_not_sent() {
        check(
            &["--model", "credit@production"],
            json!({"model": "credit@production"}),
        );
        check(
            &[
                "--model",
                "credit:3",
                "--canary",
                "credit:4=10",
                "--shadow",
                "credit:5",
                "--message",
                "try v4",
            ],
            json!({
                "model": "credit:3",
                "canary": {"model": "credit:4", "weight": 10},
                "shadow": "credit:5",
                "message": "try v4",
            }),
        );
        check(
            &[
                "--model",
                "credit:3",
                "--max-batch-size",
                "8",
                "--timeout-ms",
                "250",
            ],
            json!({"model": "credit:3", "settings": {"max_batch_size": 8, "timeout_ms": 250}}),
        );
        check(
            &["--model", "credit:3", "--require-signed"],
            json!({"model": "credit:3", "settings": {"require_signed": true}}),
        );
        check(
            &["--model", "credit:3", "--no-require-signed"],
            json!({"model": "credit:3", "settings": {"require_signed": false}}),
        );
        check(
            &[
                "--model",
                "credit:3",
                "--guardrail-max-p99-ms",
                "250",
                "--guardrail-window-secs",
                "30",
            ],
            json!({
                "model": "credit:3",
                "settings": {"guardrails": {"max_p99_ms": 250.0, "window_secs": 30}},
            }),
        );
        check(
            &[
                "--model",
                "credit:3",
                "--max-queue-delay-us",
                "500",
                "--queue-capacity",
                "100",
                "--max-concurrency",
                "4",
                "--guardrail-max-error-rate",
                "0.05",
                "--guardrail-min-requests",
                "50",
            ],
            json!({
                "model": "credit:3",
                "settings": {
                    "max_queue_delay_us": 500, "queue_capacity": 100, "max_concurrency": 4,
                    "guardrails": {"max_error_rate": 0.05, "min_requests": 50},
                },
            }),
        );
    }

    #[test]
    fn monitoring_flags_become_settings_only_when_given() {
        check(
            &[
                "--model",
                "credit:1",
                "--segment",
                "group",
                "--segment",
                "region",
                "--row-id",
                "row_id",
            ],
            json!({
                "model": "credit:1",
                "settings": {"segments": ["group", "region"], "row_id": "row_id"},
            }),
        );
        check(
            &["--model", "credit:1", "--no-prediction-log"],
            json!({"model": "credit:1", "settings": {"log_predictions": false}}),
        );
        check(
            &["--model", "credit:1", "--prediction-log"],
            json!({"model": "credit:1", "settings": {"log_predictions": true}}),
        );
        // '' clears the row id on the server.
        check(
            &["--model", "credit:1", "--row-id", ""],
            json!({"model": "credit:1", "settings": {"row_id": ""}}),
        );
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
}
