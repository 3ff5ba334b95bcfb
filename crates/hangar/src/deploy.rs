//! `hangar deploy`: create a deployment or give it a new revision (model,
//! canary, shadow, settings).

use crate::cli::{DeployArgs, GuardrailArgs, MonitoringSettingsArgs, SettingsArgs};
use crate::client::{CanaryRoute, Client, DeployRequest, Guardrails, Settings};
use crate::output::{self, OutputFormat};
use crate::revision;

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
        model: args.model.to_string(),
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
fn settings(s: &SettingsArgs, g: &GuardrailArgs, m: &MonitoringSettingsArgs) -> Option<Settings> {
    let guardrails = Guardrails {
        max_error_rate: g.guardrail_max_error_rate,
        max_p99_ms: g.guardrail_max_p99_ms,
        window_secs: g.guardrail_window_secs,
        min_requests: g.guardrail_min_requests,
    };
    let settings = Settings {
        max_batch_size: s.max_batch_size,
        max_queue_delay_us: s.max_queue_delay_us,
        queue_capacity: s.queue_capacity,
        timeout_ms: s.timeout_ms,
        max_concurrency: s.max_concurrency,
        guardrails: (guardrails != Guardrails::default()).then_some(guardrails),
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
    (settings != Settings::default()).then_some(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
