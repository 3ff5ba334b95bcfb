//! `hangar consumer-key`: inference keys scoped to deployments and a declared
//! purpose, issued with the served models' intended and out-of-scope uses.

use reqwest::Method;
use serde_json::{json, Value};

use crate::cli::values::{deployment_name, positive};
use crate::cli::{ClientArgs, RevokeArgs};
use crate::client::Client;
use crate::login::time_cell;
use crate::output::{self, OutputFormat, Table};
use clap::{Args, Subcommand};

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

pub async fn run(args: ConsumerKeyArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let format = args.client.output;
    let (v, text) = match args.command {
        ConsumerKeyCommand::Create(c) => {
            let mut body = json!({"deployments": c.deployments, "purpose": c.purpose});
            if let Some(n) = c.name {
                body["name"] = json!(n);
            }
            if let Some(e) = c.expires {
                body["expires"] = json!(e);
            }
            if let Some(r) = c.rate_limit {
                body["rate_limit"] = json!(r);
            }
            let v = client
                .send_json(Method::POST, &["api", "v1", "consumer-keys"], &body)
                .await?;
            let text = created_key(&v);
            (v, text)
        }
        ConsumerKeyCommand::List => {
            let v = client
                .get_json(&["api", "v1", "consumer-keys"], &[])
                .await?;
            let text = keys_table(&v["keys"]);
            (v, text)
        }
        ConsumerKeyCommand::Revoke(r) => {
            let v = client
                .delete_json(&["api", "v1", "consumer-keys", &r.id])
                .await?;
            let text = format!(
                "revoked consumer key {}; it no longer calls {}\n",
                output::value(&v["id"]),
                list(&v["deployments"])
            );
            (v, text)
        }
    };
    output::print(&match format {
        OutputFormat::Json => output::json(&v),
        OutputFormat::Table => text,
    })
}

fn list(v: &Value) -> String {
    let items: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(output::value)
        .collect();
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

/// The key once, then what the models behind it may and may not be used for.
fn created_key(v: &Value) -> String {
    let mut out = format!(
        "created consumer key {} for {} (purpose: {})\n\n  {}\n\n\
         This key will not be shown again: store it now. It calls only the \
         deployments above; revoke it with `hangar consumer-key revoke {}`.\n",
        output::value(&v["id"]),
        list(&v["deployments"]),
        output::value(&v["purpose"]),
        output::value(&v["token"]),
        output::value(&v["id"]),
    );
    for m in v["models"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\nModel {} (risk tier {})\n",
            output::value(&m["model"]),
            output::value(&m["risk_tier"])
        ));
        out.push_str(&format!(
            "  Intended use: {}\n",
            m["intended_use"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("(not stated on the model card)")
        ));
        let oos: Vec<&str> = m["out_of_scope_uses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if oos.is_empty() {
            out.push_str("  Out of scope: (none stated on the model card)\n");
        } else {
            out.push_str("  OUT OF SCOPE: this key must not be used for\n");
            for use_ in oos {
                out.push_str(&format!("    ✗ {use_}\n"));
            }
        }
    }
    out
}

fn keys_table(keys: &Value) -> String {
    let keys = keys.as_array().map(Vec::as_slice).unwrap_or_default();
    if keys.is_empty() {
        return "no consumer keys; issue one with `hangar consumer-key create --deployment D --purpose TEXT`\n".to_owned();
    }
    let mut t = Table::new([
        "ID",
        "NAME",
        "DEPLOYMENTS",
        "PURPOSE",
        "BY",
        "EXPIRES",
        "LAST USED",
        "REVOKED",
    ]);
    for k in keys {
        t.row(vec![
            output::value(&k["id"]),
            k["name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or("-")
                .to_owned(),
            list(&k["deployments"]),
            output::value(&k["purpose"]),
            output::value(&k["created_by"]),
            time_cell(&k["expires_at"]),
            time_cell(&k["last_used_at"]),
            time_cell(&k["revoked_at"]),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_shows_the_out_of_scope_uses_of_every_model() {
        let text = created_key(&json!({
            "id": "0123456789abcdef", "deployments": ["credit-api"], "purpose": "loan origination",
            "token": "hgr_0123456789abcdef_s3cret",
            "models": [{"model": "credit", "risk_tier": "high", "intended_use": "consumer loans",
                        "out_of_scope_uses": ["employment decisions", "insurance pricing"]}],
        }));
        assert!(text.contains("\n  hgr_0123456789abcdef_s3cret\n"), "{text}");
        assert!(text.contains("will not be shown again"), "{text}");
        assert!(text.contains("Model credit (risk tier high)\n  Intended use: consumer loans\n  OUT OF SCOPE: this key must not be used for\n    ✗ employment decisions\n    ✗ insurance pricing\n"), "{text}");
    }
}
