//! Tests of the alerts commands' arguments.

use super::*;
use crate::cli::{parse, Cli, Command};
use crate::status::StatusArgs;
use clap::CommandFactory;

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
