//! `hangar model push|list|show`: the registry's models and their versions.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::StreamExt;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use tokio_util::io::ReaderStream;

use crate::cli::values::{model_name, team_name};
use crate::cli::ClientArgs;
use crate::client::{
    Artifact, Baseline, BaselineColumns, Client, ClientError, Fetched, Model, NewVersion,
    Performance, TensorSpec, Upload, Version,
};
use crate::output::{self, OutputFormat, Table};
use clap::{Args, Subcommand};
use hangar_core::{VersionRef, VersionSelector};
use std::path::PathBuf;

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

pub const BASELINE: &str = "Baseline (training data for monitoring)";

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

pub async fn run(args: ModelArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let format = args.client.output;
    match args.command {
        ModelCommand::Push(push_args) => push(&client, format, push_args).await,
        ModelCommand::List => list(&client, format).await,
        ModelCommand::Show(show_args) => show(&client, format, &show_args.name).await,
        ModelCommand::Baseline(baseline_args) => baseline(&client, format, baseline_args).await,
        ModelCommand::Card(card_args) => card(&client, format, card_args).await,
    }
}

async fn push(client: &Client, format: OutputFormat, args: PushArgs) -> anyhow::Result<()> {
    // Everything local is checked before the first request.
    let metadata = version_metadata(args.description, &args.meta, args.features)?;
    let columns = baseline_columns(
        args.label_column,
        args.categorical,
        metadata.features.as_deref(),
    )?;
    let baseline_source = match &args.baseline {
        Some(path) => Some(Source::open(path).await?),
        None => None,
    };
    let path = args.file.as_path();
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

    let signing_key = match &args.sign {
        Some(path) => Some(crate::signing::load_key(path)?),
        None => None,
    };

    // A model that does not exist yet is created by the push itself, and
    // only if the server accepts the version: a refused first push leaves
    // nothing behind.
    let (exists, previous) = match client.get_model(&args.name).await {
        Ok(m) => (true, m.body.latest_version),
        Err(e) if e.is_not_found() => (false, None),
        Err(e) => return Err(e.into()),
    };
    let create = (!exists).then_some(args.team.as_deref());

    let bar = upload_bar(info.len(), &file_name(path));
    let artifact = Artifact {
        file_name: file_name(path),
        length: info.len(),
        body: reqwest::Body::wrap_stream(progress_stream(
            file,
            info.len(),
            bar.clone(),
            "uploaded; the server is checking the model",
        )),
    };
    let pushed = client
        .push_version(&args.name, create, &metadata, artifact)
        .await;
    bar.finish_and_clear();
    let version = pushed.map_err(|e| too_large(e, info.len()))?;
    // Said after the version is shown.
    let mut notes = Vec::new();
    if let Some(created) = &version.body.created_model {
        notes.push(format!(
            "created model {}{}",
            args.name,
            created
                .owner_team
                .as_ref()
                .map(|t| format!(" in team {t}"))
                .unwrap_or_default()
        ));
    }
    if metadata.features.is_none() {
        let tabular =
            matches!(version.body.signature.inputs.as_slice(), [one] if one.shape.len() == 2);
        match (&version.body.feature_names, previous) {
            (Some(_), Some(p)) => notes.push(format!(
                "feature names as in {}:{p}, whose inputs are the same (--features sets others)",
                args.name
            )),
            (None, _) if tabular => notes.push(format!(
                "{}:{} has no feature names, so CSV and named-feature requests cannot reach it; \
                 push with --features to name its input's columns",
                args.name, version.body.version
            )),
            _ => {}
        }
    }

    let signed = match &signing_key {
        None => None,
        Some(key) => {
            let v = version.body.version;
            let signed =
                crate::signing::sign_version(client, key, &args.name, v, &version.body.digest)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "pushed {} version {v}, but its signature was not registered: {e:#}; \
                     push again with --sign, or check the key file",
                            args.name
                        )
                    })?;
            Some(signed)
        }
    };

    let baseline = match baseline_source {
        None => None,
        Some(source) => {
            let v = version.body.version;
            let uploaded = upload_baseline(client, &args.name, v, &columns, source)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "pushed {} version {v}, but its baseline was not stored: {e:#}; \
                         retry with `hangar model baseline {}:{v} FILE`",
                        args.name,
                        args.name
                    )
                })?;
            Some(uploaded)
        }
    };

    output::print(&match format {
        OutputFormat::Json => {
            // The version as the server sent it, with its baseline when one was given.
            let mut raw = version.raw.clone();
            if let (Some(b), Value::Object(map)) = (&baseline, &mut raw) {
                map.insert("baseline".to_owned(), b.raw.clone());
            }
            if let (Some(s), Value::Object(map)) = (&signed, &mut raw) {
                map.insert("signature".to_owned(), s.clone());
            }
            output::json(&raw)
        }
        OutputFormat::Table => {
            let mut text = format!(
                "pushed {} version {} ({}, {})\n",
                args.name,
                version.body.version,
                output::short_digest(&version.body.digest),
                version.body.format
            );
            if let Some(s) = &signed {
                let by = match s["trusted_key"].as_str() {
                    Some(name) => format!("trusted key {name}"),
                    None => format!(
                        "key {}… (not trusted by the server yet: `hangar keys trust`)",
                        s["public_key"]
                            .as_str()
                            .unwrap_or_default()
                            .chars()
                            .take(16)
                            .collect::<String>()
                    ),
                };
                text.push_str(&format!(
                    "signed {}:{} ({}) with {by}\n",
                    args.name,
                    version.body.version,
                    output::short_digest(&version.body.digest)
                ));
            }
            if let Some(b) = &baseline {
                text.push_str(&baseline_summary(&b.body));
            }
            text
        }
    })?;
    for n in notes {
        note(&n);
    }
    Ok(())
}

/// `hangar model card`: change the fields given, then show the card.
async fn card(client: &Client, format: OutputFormat, args: CardArgs) -> anyhow::Result<()> {
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

/// `hangar model baseline`: upload a version's baseline, or show it.
async fn baseline(client: &Client, format: OutputFormat, args: BaselineArgs) -> anyhow::Result<()> {
    let columns = baseline_columns(args.label_column, args.categorical, None)?;
    let source = match &args.file {
        Some(path) => Some(Source::open(path).await?),
        None => None,
    };
    let model = args.target.model.clone();
    let version = resolve_version(client, &args.target).await?;
    let (fetched, text) = match source {
        Some(source) => {
            // The server matches columns by feature name: check before uploading.
            let v = client.get_version(&model, version).await?;
            let Some(features) = v.body.feature_names else {
                bail!(
                    "version {version} of {model} has no feature names, so baseline columns \
                     cannot be matched; push the model again with --features"
                );
            };
            baseline_columns(
                columns.label_column.clone(),
                Some(columns.categorical.clone()),
                Some(&features),
            )?;
            let b = upload_baseline(client, &model, version, &columns, source).await?;
            let text = baseline_summary(&b.body);
            (b, text)
        }
        None => {
            let b = client.get_baseline(&model, version).await?;
            let text = baseline_page(&b.body);
            (b, text)
        }
    };
    output::print(&match format {
        OutputFormat::Json => output::json(&fetched.raw),
        OutputFormat::Table => text,
    })
}

/// The version number `MODEL:VERSION` names, or the one `MODEL@ALIAS` points at now.
async fn resolve_version(client: &Client, target: &VersionRef) -> anyhow::Result<u32> {
    match &target.selector {
        VersionSelector::Number(n) => Ok(*n),
        VersionSelector::Alias(alias) => {
            let model = client.get_model(&target.model).await?;
            model.body.aliases.get(alias).copied().with_context(|| {
                format!(
                    "model {} has no alias {alias:?}; set it with `hangar alias set {} {alias} VERSION`",
                    target.model, target.model
                )
            })
        }
    }
}

/// Where a baseline CSV comes from: a file, or stdin read whole.
struct Source {
    name: String,
    length: u64,
    reader: Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>,
}

impl Source {
    async fn open(path: &Path) -> anyhow::Result<Source> {
        if path.as_os_str() == "-" {
            // Read whole: a pipe has no length to announce or show progress against.
            let bytes = crate::predict::read_input(path)?;
            return Ok(Source {
                name: "stdin".to_owned(),
                length: bytes.len() as u64,
                reader: Box::new(std::io::Cursor::new(bytes)),
            });
        }
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
        Ok(Source {
            name: file_name(path),
            length: info.len(),
            reader: Box::new(file),
        })
    }
}

/// Streams the baseline CSV with a progress bar while the server profiles it.
async fn upload_baseline(
    client: &Client,
    model: &str,
    version: u32,
    columns: &BaselineColumns,
    source: Source,
) -> anyhow::Result<Fetched<Baseline>> {
    let bar = upload_bar(source.length, &source.name);
    let body = reqwest::Body::wrap_stream(progress_stream(
        source.reader,
        source.length,
        bar.clone(),
        "uploaded; the server is profiling the baseline",
    ));
    let uploaded = client
        .put_baseline(
            model,
            version,
            columns,
            Upload {
                length: source.length,
                body,
            },
        )
        .await;
    bar.finish_and_clear();
    uploaded.map_err(|e| too_large(e, source.length))
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

/// `--label-column` and `--categorical` checked: names not empty, categorical
/// features among the version's features when those are known here.
fn baseline_columns(
    label_column: Option<String>,
    categorical: Option<Vec<String>>,
    features: Option<&[String]>,
) -> anyhow::Result<BaselineColumns> {
    let label_column = label_column.map(|l| l.trim().to_owned());
    if label_column.as_deref() == Some("") {
        bail!("--label-column is empty; expected the name of the CSV column holding 0/1 labels");
    }
    let categorical: Vec<String> = categorical
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.trim().to_owned())
        .collect();
    if categorical.iter().any(String::is_empty) {
        bail!("--categorical has an empty name; expected comma-separated feature names");
    }
    if let (Some(features), Some(label)) = (features, &label_column) {
        if features.contains(label) {
            bail!("--label-column {label} is one of the model's features; the label cannot be a model input");
        }
    }
    if let Some(features) = features {
        if let Some(c) = categorical.iter().find(|c| !features.contains(c)) {
            bail!("--categorical {c} is not one of the model's features");
        }
    }
    Ok(BaselineColumns {
        label_column,
        categorical,
    })
}

/// One line: rows, features, and with labels the label rate, in-sample
/// accuracy and AUC, and whether scores were calibrated.
pub fn baseline_summary(b: &Baseline) -> String {
    let categorical = b
        .features
        .iter()
        .filter(|f| f.kind == "categorical")
        .count();
    let mut line = format!(
        "baseline for {}:{}: {} rows, {} {}",
        b.model,
        b.version,
        b.rows,
        b.features.len(),
        if b.features.len() == 1 {
            "feature"
        } else {
            "features"
        }
    );
    if categorical > 0 {
        line.push_str(&format!(" ({categorical} categorical)"));
    }
    match (&b.label_column, b.label_rate) {
        (Some(label), rate) => {
            line.push_str(&format!("; labels from {label}"));
            if let Some(rate) = rate {
                line.push_str(&format!(" ({} positive)", output::percent(rate)));
            }
            if let Some(p) = &b.performance {
                line.push_str(&format!(
                    ": in-sample accuracy {}, AUC {}",
                    or_dash(p.accuracy),
                    or_dash(p.roc_auc)
                ));
            }
            line.push_str(&format!(
                "; calibrated: {}",
                if b.calibrated { "yes" } else { "no" }
            ));
        }
        (None, _) => line.push_str("; no labels (give --label-column to estimate performance)"),
    }
    line.push('\n');
    line
}

/// `hangar model baseline M:V`: the summary, then each feature's kind and mean.
fn baseline_page(b: &Baseline) -> String {
    let mut fields = vec![
        ("model", format!("{}:{}", b.model, b.version)),
        ("rows", b.rows.to_string()),
        (
            "label column",
            b.label_column.clone().unwrap_or_else(|| "-".to_owned()),
        ),
        (
            "label rate",
            b.label_rate.map_or_else(|| "-".to_owned(), output::percent),
        ),
        (
            "calibrated",
            if b.calibrated { "yes" } else { "no" }.to_owned(),
        ),
    ];
    if !b.created_at.is_empty() {
        fields.push(("uploaded", output::time(&b.created_at)));
    }
    let mut page = output::card(&fields);
    if let Some(p) = &b.performance {
        page.push_str("\nin-sample performance:\n");
        page.push_str(&output::indent(&performance_card(p)));
    }
    if !b.features.is_empty() {
        let mut table = Table::new(["FEATURE", "KIND", "MEAN"]);
        for f in &b.features {
            table.row(vec![f.name.clone(), f.kind.clone(), or_dash(f.mean)]);
        }
        page.push('\n');
        page.push_str(&table.render());
    }
    page
}

/// Accuracy, precision, recall, F1, AUC, log loss and Brier score, as far as known.
pub fn performance_card(p: &Performance) -> String {
    let mut fields = Vec::new();
    if let Some(n) = p.n {
        fields.push(("rows", n.to_string()));
    }
    for (label, value) in [
        ("accuracy", p.accuracy),
        ("precision", p.precision),
        ("recall", p.recall),
        ("f1", p.f1),
        ("roc_auc", p.roc_auc),
        ("log_loss", p.log_loss),
        ("brier", p.brier),
    ] {
        // An estimate has no log loss or Brier score: leave them out rather than dash them.
        if value.is_some() || !matches!(label, "log_loss" | "brier") {
            fields.push((label, or_dash(value)));
        }
    }
    if let (Some(t), Some(pred)) = (p.positive_rate_true, p.positive_rate_pred) {
        fields.push((
            "positive rate",
            format!(
                "{} true, {} predicted",
                output::percent(t),
                output::percent(pred)
            ),
        ));
    }
    if let Some(c) = &p.confusion {
        fields.push((
            "confusion",
            format!("tp {}, fp {}, tn {}, fn {}", c.tp, c.fp, c.tn, c.fn_),
        ));
    }
    output::card(&fields)
}

fn or_dash(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), output::number)
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

/// Sorts `--meta` pairs into the version's fields: `source_commit` and
/// `training_run` are first-class, `metrics.NAME=NUMBER` are metrics, anything
/// else is free-form metadata.
pub fn version_metadata(
    description: Option<String>,
    meta: &[(String, String)],
    features: Option<Vec<String>>,
) -> anyhow::Result<NewVersion> {
    let mut out = NewVersion {
        description,
        features: features.map(check_features).transpose()?,
        ..NewVersion::default()
    };
    let mut seen = BTreeSet::new();
    for (key, value) in meta {
        if !seen.insert(key.as_str()) {
            bail!("--meta {key} is given more than once");
        }
        match key.as_str() {
            "source_commit" => out.source_commit = Some(value.clone()),
            "training_run" => out.training_run = Some(value.clone()),
            _ => {
                match key.strip_prefix("metrics.") {
                    Some(metric) => {
                        if metric.is_empty() {
                            bail!("--meta {key}={value}: the metric has no name; expected metrics.NAME=NUMBER");
                        }
                        let number = value
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite())
                        .with_context(|| {
                            format!("--meta {key}={value}: metrics must be numbers, e.g. {key}=0.88")
                        })?;
                        out.metrics.insert(metric.to_owned(), number);
                    }
                    None => {
                        out.metadata.insert(key.clone(), value.clone());
                    }
                }
            }
        }
    }
    Ok(out)
}

fn check_features(features: Vec<String>) -> anyhow::Result<Vec<String>> {
    let features: Vec<String> = features.into_iter().map(|f| f.trim().to_owned()).collect();
    if features.is_empty() || features.iter().any(String::is_empty) {
        bail!(
            "--features has an empty name; expected comma-separated column names like age,income"
        );
    }
    let mut seen = BTreeSet::new();
    if let Some(dup) = features.iter().find(|f| !seen.insert(f.as_str())) {
        bail!("--features names {dup:?} twice");
    }
    Ok(features)
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
            output::time(&m.updated_at),
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
            format!("{} by {}", output::time(&m.created_at), m.created_by),
        ),
        ("updated", output::time(&m.updated_at)),
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
            output::time(&v.created_at),
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
    use crate::cli::{parse, Command};

    fn meta(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn meta_keys_are_sorted_into_version_fields() {
        let got = version_metadata(
            Some("retrained".into()),
            &meta(&[
                ("source_commit", "3f2a9c1"),
                ("training_run", "run-42"),
                ("metrics.auc", "0.88"),
                ("metrics.f1", " 7 "),
                ("dataset", "march"),
                ("note", "a=b"),
            ]),
            Some(vec!["age".into(), " income".into()]),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&got).unwrap(),
            json!({
                "description": "retrained",
                "features": ["age", "income"],
                "source_commit": "3f2a9c1",
                "training_run": "run-42",
                "metrics": {"auc": 0.88, "f1": 7.0},
                "metadata": {"dataset": "march", "note": "a=b"},
            })
        );
    }

    #[test]
    fn bad_meta_is_refused_with_the_offending_pair() {
        for (pairs, features, needle) in [
            (meta(&[("metrics.auc", "high")]), None, "metrics.auc=high"),
            (
                meta(&[("metrics.auc", "NaN")]),
                None,
                "metrics must be numbers",
            ),
            (meta(&[("metrics.", "1")]), None, "no name"),
            (meta(&[("a", "1"), ("a", "2")]), None, "more than once"),
            (vec![], Some(vec!["a".into(), "".into()]), "empty name"),
            (vec![], Some(vec!["a".into(), "a".into()]), "\"a\" twice"),
        ] {
            let err = version_metadata(None, &pairs, features)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err} should contain {needle}");
        }
    }

    #[test]
    fn nothing_given_sends_an_empty_object() {
        let got = version_metadata(None, &[], None).unwrap();
        assert_eq!(serde_json::to_value(&got).unwrap(), json!({}));
    }

    fn baseline(extra: Value) -> Baseline {
        let mut b = json!({
            "model": "credit", "version": 1, "digest": "sha256:ab", "rows": 20000,
            "label_column": "label",
            "features": [{"name": "age", "kind": "numeric", "bin_cuts": [], "mean": 41.5},
                         {"name": "job", "kind": "categorical", "bin_cuts": [], "mean": 1.2}],
            "label_rate": 0.499, "calibrated": true,
            "performance": {"n": 20000, "accuracy": 0.8023, "precision": 0.79, "recall": 0.81,
                            "f1": 0.8, "roc_auc": 0.8875, "log_loss": 0.43, "brier": 0.14,
                            "positive_rate_true": 0.499, "positive_rate_pred": 0.507,
                            "confusion": {"tn": 7961, "fp": 2063, "fn": 1891, "tp": 8085}},
            "created_at": "2025-03-14T09:26:53Z", "created_by": "ana",
        });
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        serde_json::from_value(b).unwrap()
    }

    #[test]
    fn a_baseline_summary_is_one_line_with_labels_performance_and_calibration() {
        assert_eq!(
            baseline_summary(&baseline(json!({}))),
            "baseline for credit:1: 20000 rows, 2 features (1 categorical); labels from label \
             (49.9% positive): in-sample accuracy 0.8023, AUC 0.8875; calibrated: yes\n"
        );
        assert_eq!(
            baseline_summary(&baseline(json!({
                "label_column": null, "label_rate": null, "performance": null, "calibrated": false,
                "features": [{"name": "age", "kind": "numeric"}],
            }))),
            "baseline for credit:1: 20000 rows, 1 feature; no labels \
             (give --label-column to estimate performance)\n"
        );
    }

    #[test]
    fn a_baseline_page_lists_performance_and_features() {
        let page = baseline_page(&baseline(json!({})));
        assert!(
            page.starts_with("model:         credit:1\nrows:          20000\n"),
            "{page}"
        );
        assert!(
            page.contains(
                "\nin-sample performance:\n  rows:           20000\n  accuracy:       0.8023\n"
            ),
            "{page}"
        );
        assert!(
            page.contains("  confusion:      tp 8085, fp 2063, tn 7961, fn 1891\n"),
            "{page}"
        );
        assert!(
            page.ends_with("FEATURE  KIND         MEAN\nage      numeric      41.5\njob      categorical  1.2\n"),
            "{page}"
        );
    }

    #[test]
    fn baseline_columns_must_fit_the_features() {
        let features = ["age".to_owned(), "job".to_owned()];
        let ok = baseline_columns(
            Some(" label ".into()),
            Some(vec!["job".into()]),
            Some(&features),
        )
        .unwrap();
        assert_eq!(
            ok,
            BaselineColumns {
                label_column: Some("label".into()),
                categorical: vec!["job".into()]
            }
        );
        for (label, categorical, needle) in [
            (Some(""), None, "--label-column is empty"),
            (Some("age"), None, "label cannot be a model input"),
            (
                None,
                Some(vec!["city".to_owned()]),
                "--categorical city is not one of",
            ),
            (
                None,
                Some(vec!["job".to_owned(), " ".to_owned()]),
                "empty name",
            ),
        ] {
            let err = baseline_columns(label.map(str::to_owned), categorical, Some(&features))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

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
    fn key_value_splits_at_the_first_equals_sign() {
        assert_eq!(key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(key_value("a="), Ok(("a".into(), String::new())));
        assert!(key_value("=b").is_err());
        assert!(key_value("ab").is_err());
    }
}
