//! `hangar status`: every deployment's health in plain words — a symbol and a
//! word, never colour alone — with its reasons, the most troubled first.
//!
//! The rendering functions are pure; only [`run`] talks to the server.

use futures_util::{StreamExt, TryStreamExt};
use serde_json::{json, Value};

use crate::cli::values::deployment_name;
use crate::cli::ClientArgs;
use crate::client::{Client, Fetched, Health};
use crate::output::{self, OutputFormat};
use clap::Args;

pub const STATUS_ABOUT: &str = "\
Every deployment's health in plain words, or one deployment's.

Each deployment is `✗ failing` (a critical alert is firing), `! needs attention` (a \
warning alert is firing, or a figure is past the line of a default rule: input drift, \
a group below the four-fifths line, more than 5% of requests failing) or \
`✓ healthy`, followed by the reasons, most serious first. Deployments are listed \
failing first, then needing attention, then healthy.

--output json prints the server's health of each deployment (for all deployments: \
{\"deployments\": [...]}, in the same order).";

pub const STATUS_EXAMPLES: &str = "\
Examples:
  hangar status
  hangar status credit-api
  hangar status --output json | jq -r '.deployments[] | select(.health == \"failing\") | .deployment'";

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// Only this deployment [default: every deployment]
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub deployment: Option<String>,
}

/// Health requests in flight at once while surveying every deployment.
const CONCURRENT_REQUESTS: usize = 8;

pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let text = match &args.deployment {
        Some(name) => {
            let health = client.health(name).await?;
            match args.client.output {
                OutputFormat::Json => output::json(&health.raw),
                OutputFormat::Table => render(&[health.body], false),
            }
        }
        None => {
            let list = client.list_deployments().await?;
            if list.body.deployments.is_empty() && args.client.output == OutputFormat::Table {
                return output::print(
                    "no deployments yet; create one with \
                     `hangar deploy DEPLOYMENT --model MODEL:VERSION`\n",
                );
            }
            let names = list.body.deployments.iter().map(|d| d.name.as_str());
            let fetched: Vec<Option<Fetched<Health>>> = futures_util::stream::iter(names)
                .map(|name| {
                    let client = &client;
                    async move {
                        match client.health(name).await {
                            Ok(h) => Ok(Some(h)),
                            // Deleted since it was listed: nothing to report.
                            Err(e) if e.has_code("deployment_not_found") => Ok(None),
                            Err(e) => Err(e),
                        }
                    }
                })
                .buffered(CONCURRENT_REQUESTS)
                .try_collect()
                .await?;
            let mut healths: Vec<Fetched<Health>> = fetched.into_iter().flatten().collect();
            healths.sort_by(|a, b| {
                rank(&a.body.health)
                    .cmp(&rank(&b.body.health))
                    .then_with(|| a.body.deployment.cmp(&b.body.deployment))
            });
            match args.client.output {
                OutputFormat::Json => {
                    let raw: Vec<Value> = healths.into_iter().map(|h| h.raw).collect();
                    output::json(&json!({ "deployments": raw }))
                }
                OutputFormat::Table => {
                    let bodies: Vec<Health> = healths.into_iter().map(|h| h.body).collect();
                    render(&bodies, true)
                }
            }
        }
    };
    output::print(&text)
}

/// Most troubled first: failing, needing attention, healthy, then levels a
/// newer server may add.
fn rank(level: &str) -> u8 {
    match level {
        "failing" => 0,
        "needs_attention" => 1,
        "healthy" => 2,
        _ => 3,
    }
}

/// The symbol and word for a level; readable without colour or Unicode fonts
/// that tell ✓ from ✗ (the word says it too).
fn level(h: &Health) -> String {
    match h.health.as_str() {
        "failing" => "✗ failing".to_owned(),
        "needs_attention" => "! needs attention".to_owned(),
        "healthy" => "✓ healthy".to_owned(),
        _ if !h.label.is_empty() => format!("? {}", h.label.to_lowercase()),
        other => format!("? {}", other.replace('_', " ")),
    }
}

/// One block per deployment, in the order given: its level and name, then its
/// reasons. With `summary`, a first line counts deployments by level.
pub fn render(healths: &[Health], summary: bool) -> String {
    let mut out = String::new();
    if summary {
        out.push_str(&summary_line(healths));
        out.push('\n');
    }
    let width = healths
        .iter()
        .map(|h| level(h).chars().count())
        .max()
        .unwrap_or(0);
    for h in healths {
        let level = level(h);
        let pad = width - level.chars().count();
        out.push_str(&format!("{level}{}  {}\n", " ".repeat(pad), h.deployment));
        for reason in &h.reasons {
            out.push_str(&format!("    - {reason}\n"));
        }
    }
    out
}

/// `3 deployments: 1 failing, 1 needs attention, 1 healthy`
fn summary_line(healths: &[Health]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for h in healths {
        let word = level(h)
            .split_once(' ')
            .map_or(String::new(), |(_, w)| w.to_owned());
        match counts.iter_mut().find(|(w, _)| *w == word) {
            Some((_, n)) => *n += 1,
            None => counts.push((word, 1)),
        }
    }
    let n = healths.len();
    let parts: Vec<String> = counts.iter().map(|(w, c)| format!("{c} {w}")).collect();
    format!(
        "{n} deployment{}: {}\n",
        if n == 1 { "" } else { "s" },
        parts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(deployment: &str, level: &str, reasons: &[&str]) -> Health {
        serde_json::from_value(json!({
            "deployment": deployment, "health": level, "label": "", "reasons": reasons,
        }))
        .unwrap()
    }

    #[test]
    fn each_deployment_shows_a_symbol_a_word_and_its_reasons() {
        let healths = [
            health(
                "fraud-api",
                "failing",
                &[
                    "12.5% of requests failed in the last 5 minutes (alert \"error-rate-high\" firing for 3 minutes)",
                    "no traffic in the last hour",
                ],
            ),
            health(
                "credit-api",
                "needs_attention",
                &["3 of 22 input features have drifted (income, age, debt)"],
            ),
            health(
                "scoring-api",
                "healthy",
                &["serving normally (120 requests in the last hour, none failed)"],
            ),
        ];
        assert_eq!(
            render(&healths, true),
            "\
3 deployments: 1 failing, 1 needs attention, 1 healthy

✗ failing          fraud-api
    - 12.5% of requests failed in the last 5 minutes (alert \"error-rate-high\" firing for 3 minutes)
    - no traffic in the last hour
! needs attention  credit-api
    - 3 of 22 input features have drifted (income, age, debt)
✓ healthy          scoring-api
    - serving normally (120 requests in the last hour, none failed)
"
        );
        assert_eq!(
            render(&healths[2..], false),
            "✓ healthy  scoring-api\n    - serving normally (120 requests in the last hour, none failed)\n"
        );
    }

    #[test]
    fn levels_sort_most_troubled_first_and_unknown_levels_keep_their_words() {
        let mut levels = ["healthy", "degraded", "failing", "needs_attention"];
        levels.sort_by_key(|l| rank(l));
        assert_eq!(
            levels,
            ["failing", "needs_attention", "healthy", "degraded"]
        );

        let mut h = health("a", "degraded", &[]);
        assert_eq!(level(&h), "? degraded");
        h.label = "Partly degraded".into();
        assert_eq!(level(&h), "? partly degraded");
        assert_eq!(summary_line(&[h]), "1 deployment: 1 partly degraded\n");
    }
}
