//! `hangar model push|list|show`: the registry's models and their versions.

mod baseline;
mod card;
mod push;

pub use baseline::BaselineArgs;
pub use card::{CardArgs, CARD_ABOUT, CARD_EXAMPLES};
pub use push::PushArgs;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use futures_util::StreamExt;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use tokio_util::io::ReaderStream;

use crate::cli::values::model_name;
use crate::cli::ClientArgs;
use crate::client::{Client, ClientError, Fetched, Model, TensorSpec, Version};
use crate::output::{self, OutputFormat, Table};

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

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Name of the model to show
    #[arg(value_name = "NAME", value_parser = model_name)]
    pub name: String,
}

pub async fn run(args: ModelArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let format = args.client.output;
    match args.command {
        ModelCommand::Push(push_args) => push::push(&client, format, push_args).await,
        ModelCommand::List => list(&client, format).await,
        ModelCommand::Show(show_args) => show(&client, format, &show_args.name).await,
        ModelCommand::Baseline(baseline_args) => {
            baseline::baseline(&client, format, baseline_args).await
        }
        ModelCommand::Card(card_args) => card::card(&client, format, card_args).await,
    }
}

/// `path` opened for an upload, with its length; only a regular file will do.
async fn open_file(path: &Path) -> anyhow::Result<(tokio::fs::File, u64)> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let info = file
        .metadata()
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !info.is_file() {
        bail!("{} is not a file", path.display());
    }
    Ok((file, info.len()))
}

/// A connection closed mid-upload is most likely the server's size limit.
fn too_large(e: ClientError, length: u64) -> anyhow::Error {
    match e {
        ClientError::ConnectionClosed { .. } => anyhow::anyhow!(
            "{e}; this file is {}, which may be over the server's upload limit \
             (`hangar serve --max-upload-bytes`)",
            HumanBytes(length)
        ),
        other => other.into(),
    }
}

/// The bytes as a stream that advances `bar` as the request body is sent;
/// `done` shows once they all are, while the server works.
fn progress_stream(
    reader: impl tokio::io::AsyncRead + Send + Sync + Unpin + 'static,
    length: u64,
    bar: ProgressBar,
    done: &'static str,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    ReaderStream::with_capacity(reader, 64 * 1024).map(move |chunk| {
        if let Ok(bytes) = &chunk {
            bar.inc(bytes.len() as u64);
            if bar.position() >= length && bar.message().is_empty() {
                bar.set_message(done);
                // Nothing else updates the bar while the server works: keep it drawn.
                bar.enable_steady_tick(Duration::from_millis(250));
            }
        }
        chunk
    })
}

/// A byte progress bar on stderr; hidden when stderr is not a terminal.
fn upload_bar(length: u64, name: &str) -> ProgressBar {
    let bar = ProgressBar::new(length);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(format!("uploading {name}"));
    bar
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "artifact".to_owned())
}

/// A progress note for people: stderr, so stdout stays the command's result.
fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

async fn list(client: &Client, format: OutputFormat) -> anyhow::Result<()> {
    let models = client.list_models().await?;
    output::print(&match format {
        OutputFormat::Json => output::json(&json!({
            "models": models.iter().map(|m| m.raw.clone()).collect::<Vec<Value>>()
        })),
        OutputFormat::Table if models.is_empty() => {
            "no models yet; push one with `hangar model push FILE --name NAME`\n".to_owned()
        }
        OutputFormat::Table => models_table(models.iter().map(|m| &m.body)).render(),
    })
}

fn models_table<'a>(models: impl Iterator<Item = &'a Model>) -> Table {
    let mut table = Table::new(["NAME", "LATEST", "RISK", "ALIASES", "UPDATED"]);
    for m in models {
        table.row(vec![
            m.name.clone(),
            m.latest_version
                .map_or_else(|| "-".to_owned(), |v| v.to_string()),
            m.risk_tier.clone(),
            aliases_cell(&m.aliases),
            output::when(&m.updated_at),
        ]);
    }
    table
}

/// `production=2, staging=3`
fn aliases_cell(aliases: &BTreeMap<String, u32>) -> String {
    if aliases.is_empty() {
        return "-".to_owned();
    }
    aliases
        .iter()
        .map(|(alias, v)| format!("{alias}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn show(client: &Client, format: OutputFormat, name: &str) -> anyhow::Result<()> {
    let (model, versions) = tokio::try_join!(client.get_model(name), client.list_versions(name))?;
    output::print(&match format {
        OutputFormat::Json => output::json(&json!({
            "model": model.raw,
            "versions": versions.iter().map(|v| v.raw.clone()).collect::<Vec<Value>>(),
        })),
        OutputFormat::Table => model_page(&model, &versions),
    })
}

fn model_page(model: &Fetched<Model>, versions: &[Fetched<Version>]) -> String {
    let m = &model.body;
    let or_dash = |s: &Option<String>| {
        s.clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "-".to_owned())
    };
    let list_or_dash = |l: &[String]| {
        if l.is_empty() {
            "-".to_owned()
        } else {
            l.join(", ")
        }
    };
    let mut page = output::card(&[
        ("name", m.name.clone()),
        (
            "description",
            if m.description.is_empty() {
                "-".to_owned()
            } else {
                m.description.clone()
            },
        ),
        ("owner team", or_dash(&m.owner_team)),
        ("intended use", or_dash(&m.intended_use)),
        ("out of scope", list_or_dash(&m.out_of_scope_uses)),
        ("risk tier", m.risk_tier.clone()),
        ("tags", list_or_dash(&m.tags)),
        (
            "latest version",
            m.latest_version
                .map_or_else(|| "-".to_owned(), |v| v.to_string()),
        ),
        ("aliases", aliases_cell(&m.aliases)),
        (
            "created",
            format!("{} by {}", output::when(&m.created_at), m.created_by),
        ),
        ("updated", output::when(&m.updated_at)),
    ]);
    page.push('\n');
    if versions.is_empty() {
        page.push_str("no versions yet; push one with `hangar model push FILE --name NAME`\n");
        return page;
    }
    let mut sorted: Vec<&Version> = versions.iter().map(|v| &v.body).collect();
    sorted.sort_by_key(|v| v.version);
    let mut table = Table::new([
        "VERSION", "DIGEST", "FORMAT", "INPUTS", "CREATED", "ALIASES",
    ]);
    for v in sorted {
        let aliases: Vec<&str> = m
            .aliases
            .iter()
            .filter(|(_, &target)| target == v.version)
            .map(|(alias, _)| alias.as_str())
            .collect();
        table.row(vec![
            v.version.to_string(),
            output::short_digest(&v.digest),
            v.format.clone(),
            inputs_cell(&v.signature.inputs),
            output::when(&v.created_at),
            if aliases.is_empty() {
                "-".to_owned()
            } else {
                aliases.join(", ")
            },
        ]);
    }
    page.push_str(&table.render());
    page
}

/// `input FP32[-1,22]`, one per input.
fn inputs_cell(inputs: &[TensorSpec]) -> String {
    if inputs.is_empty() {
        return "-".to_owned();
    }
    inputs
        .iter()
        .map(|i| {
            let shape: Vec<String> = i.shape.iter().map(i64::to_string).collect();
            format!("{} {}[{}]", i.name, i.datatype, shape.join(","))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(aliases: &[(&str, u32)]) -> Fetched<Model> {
        let raw = json!({
            "name": "credit", "description": "", "owner_team": null, "intended_use": null,
            "out_of_scope_uses": [], "risk_tier": "low", "tags": [], "latest_version": 2,
            "aliases": aliases.iter().map(|(a, v)| (a.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "created_at": "2025-03-14T09:26:53Z", "updated_at": "2025-03-15T10:00:00Z",
            "created_by": "ana",
        });
        Fetched {
            body: serde_json::from_value(raw.clone()).unwrap(),
            raw,
        }
    }

    fn version(n: u32) -> Fetched<Version> {
        let raw = json!({
            "model": "credit", "version": n, "digest": format!("sha256:{n}123456789abcdef0"),
            "size_bytes": 10, "format": "onnx",
            "signature": {"inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 22]}], "outputs": []},
            "feature_names": null, "description": "", "source_commit": null, "training_run": null,
            "metrics": {}, "metadata": {}, "created_at": "2025-03-14T09:26:53Z", "created_by": "ana",
        });
        Fetched {
            body: serde_json::from_value(raw.clone()).unwrap(),
            raw,
        }
    }

    #[test]
    fn model_list_shows_latest_version_and_aliases() {
        let m = model(&[("production", 1), ("staging", 2)]);
        assert_eq!(
            models_table(std::iter::once(&m.body)).render(),
            "NAME    LATEST  RISK  ALIASES                  UPDATED\n\
             credit  2       low   production=1, staging=2  2025-03-15 10:00 UTC\n"
        );
    }

    #[test]
    fn model_page_lists_versions_in_order_with_their_aliases() {
        let page = model_page(&model(&[("production", 1)]), &[version(2), version(1)]);
        let table: Vec<&str> = page
            .lines()
            .skip_while(|l| !l.starts_with("VERSION"))
            .collect();
        assert_eq!(
            table,
            [
                "VERSION  DIGEST               FORMAT  INPUTS             CREATED               ALIASES",
                "1        sha256:1123456789ab  onnx    input FP32[-1,22]  2025-03-14 09:26 UTC  production",
                "2        sha256:2123456789ab  onnx    input FP32[-1,22]  2025-03-14 09:26 UTC  -",
            ]
        );
        assert!(
            page.contains("created:         2025-03-14 09:26 UTC by ana\n"),
            "{page}"
        );
    }
}
