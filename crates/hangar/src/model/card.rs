//! `hangar model card`: a model's card, shown or changed.

use clap::Args;
use serde_json::{json, Value};

use crate::cli::values::{model_name, team_name};
use crate::client::{Client, Model};
use crate::output::{self, OutputFormat};

use super::note;

pub const CARD_ABOUT: &str = "\
Show or change a model's card: what it is for, what it must not be used for, how \
risky it is and which team owns it.

Only the fields given change; without any, the card is shown. The risk tier \
decides how the model reaches production: a version of a `high` risk model gets no \
production traffic (a route weight above zero, or the `production` alias) until an \
approver other than its pusher approves it (`hangar approve`). The intended use and \
out-of-scope uses are shown to whoever is issued a consumer key for a deployment \
serving the model. The team decides who sees and changes the model.";

pub const CARD_EXAMPLES: &str = "\
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

/// `hangar model card`: change the fields given, then show the card.
pub(super) async fn card(
    client: &Client,
    format: OutputFormat,
    args: CardArgs,
) -> anyhow::Result<()> {
    let patch = card_patch(&args);
    let model = if patch.as_object().is_some_and(|m| m.is_empty()) {
        client.get_model(&args.name).await?
    } else {
        client.update_card(&args.name, &patch).await?
    };
    // A move to another team takes the model's deployments along.
    if let Some(moved) = model.raw["deployments_moved"].as_array() {
        let names: Vec<&str> = moved.iter().filter_map(Value::as_str).collect();
        if !names.is_empty() {
            note(&format!(
                "moved with it to team {}: {} {}",
                model.body.owner_team.as_deref().unwrap_or("default"),
                if names.len() == 1 {
                    "deployment"
                } else {
                    "deployments"
                },
                names.join(", ")
            ));
        }
    }
    output::print(&match format {
        OutputFormat::Json => output::json(&model.raw),
        OutputFormat::Table => card_text(&model.body),
    })
}

/// Only the fields given, so the others keep their value.
fn card_patch(args: &CardArgs) -> Value {
    let mut patch = serde_json::Map::new();
    if let Some(d) = &args.description {
        patch.insert("description".into(), json!(d));
    }
    if let Some(t) = &args.team {
        patch.insert("owner_team".into(), json!(t));
    }
    if let Some(u) = &args.intended_use {
        patch.insert("intended_use".into(), json!(u));
    }
    if !args.out_of_scope.is_empty() {
        patch.insert("out_of_scope_uses".into(), json!(args.out_of_scope));
    }
    if let Some(r) = &args.risk_tier {
        patch.insert("risk_tier".into(), json!(r));
    }
    Value::Object(patch)
}

fn card_text(m: &Model) -> String {
    let or_dash = |s: Option<&str>| s.filter(|s| !s.is_empty()).unwrap_or("-").to_owned();
    let mut text = output::card(&[
        ("model", m.name.clone()),
        ("description", or_dash(Some(&m.description))),
        ("team", or_dash(m.owner_team.as_deref())),
        ("risk tier", or_dash(Some(&m.risk_tier))),
        ("intended use", or_dash(m.intended_use.as_deref())),
    ]);
    if m.out_of_scope_uses.is_empty() {
        text.push_str("out of scope:  -\n");
    } else {
        text.push_str("out of scope:\n");
        for u in &m.out_of_scope_uses {
            text.push_str(&format!("  ✗ {u}\n"));
        }
    }
    if m.risk_tier == "high" {
        text.push_str(
            "\nhigh risk: a version gets production traffic only once an approver other \
             than its pusher approves it (`hangar approve MODEL:VERSION`)\n",
        );
    }
    text
}
