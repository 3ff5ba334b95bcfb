//! `hangar consumer-key`: inference keys scoped to deployments and a declared
//! purpose, issued with the served models' intended and out-of-scope uses.

use crate::cli::values::{deployment_name, positive};
use crate::cli::{ClientArgs, RevokeArgs};
use crate::client::{Client, CreatedConsumerKey, NewConsumerKey, Token};
use crate::login::at_cell;
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
            let key = client
                .create_consumer_key(&NewConsumerKey {
                    deployment: None,
                    deployments: c.deployments,
                    purpose: c.purpose,
                    name: c.name,
                    expires: c.expires,
                    rate_limit: c.rate_limit,
                })
                .await?;
            let text = created_key(&key.body);
            (key.raw, text)
        }
        ConsumerKeyCommand::List => {
            let list = client.list_consumer_keys().await?;
            let text = keys_table(&list.body.keys);
            (list.raw, text)
        }
        ConsumerKeyCommand::Revoke(r) => {
            let key = client.revoke_consumer_key(&r.id).await?;
            let text = format!(
                "revoked consumer key {}; it no longer calls {}\n",
                key.body.id,
                list(&key.body.deployments)
            );
            (key.raw, text)
        }
    };
    output::print(&match format {
        OutputFormat::Json => output::json(&v),
        OutputFormat::Table => text,
    })
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

/// The key once, then what the models behind it may and may not be used for.
fn created_key(k: &CreatedConsumerKey) -> String {
    let mut out = format!(
        "created consumer key {} for {} (purpose: {})\n\n  {}\n\n\
         This key will not be shown again: store it now. It calls only the \
         deployments above; revoke it with `hangar consumer-key revoke {}`.\n",
        k.key.id,
        list(&k.key.deployments),
        k.key.purpose,
        k.secret,
        k.key.id,
    );
    for m in &k.models {
        out.push_str(&format!(
            "\nModel {} (risk tier {})\n",
            m.model, m.risk_tier
        ));
        out.push_str(&format!(
            "  Intended use: {}\n",
            m.intended_use
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or("(not stated on the model card)")
        ));
        if m.out_of_scope_uses.is_empty() {
            out.push_str("  Out of scope: (none stated on the model card)\n");
        } else {
            out.push_str("  OUT OF SCOPE: this key must not be used for\n");
            for use_ in &m.out_of_scope_uses {
                out.push_str(&format!("    ✗ {use_}\n"));
            }
        }
    }
    out
}

fn keys_table(keys: &[Token]) -> String {
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
            k.id.clone(),
            if k.name.is_empty() {
                "-".to_owned()
            } else {
                k.name.clone()
            },
            list(&k.deployments),
            k.purpose.clone(),
            k.created_by.clone(),
            at_cell(k.expires_at.as_ref()),
            at_cell(k.last_used_at.as_ref()),
            at_cell(k.revoked_at.as_ref()),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_new_key_shows_the_out_of_scope_uses_of_every_model() {
        let key: CreatedConsumerKey = serde_json::from_value(json!({
            "id": "0123456789abcdef", "kind": "consumer", "user": null, "name": "",
            "deployments": ["credit-api"], "purpose": "loan origination", "rate_limit": null,
            "created_at": "2026-01-02T03:04:05Z", "created_by": "ada",
            "expires_at": null, "revoked_at": null, "last_used_at": null,
            "token": "hgr_0123456789abcdef_s3cret",
            "models": [{"model": "credit", "risk_tier": "high", "intended_use": "consumer loans",
                        "out_of_scope_uses": ["employment decisions", "insurance pricing"]}],
        }))
        .unwrap();
        let text = created_key(&key);
        assert!(text.contains("\n  hgr_0123456789abcdef_s3cret\n"), "{text}");
        assert!(text.contains("will not be shown again"), "{text}");
        assert!(text.contains("Model credit (risk tier high)\n  Intended use: consumer loans\n  OUT OF SCOPE: this key must not be used for\n    ✗ employment decisions\n    ✗ insurance pricing\n"), "{text}");
    }
}
