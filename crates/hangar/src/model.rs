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

use crate::cli::{ModelArgs, ModelCommand, PushArgs};
use crate::client::{
    Artifact, Client, ClientError, Fetched, Model, NewVersion, TensorSpec, Version,
};
use crate::output::{self, OutputFormat, Table};

pub async fn run(args: ModelArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client.server)?;
    let format = args.client.output;
    match args.command {
        ModelCommand::Push(push_args) => push(&client, format, push_args).await,
        ModelCommand::List => list(&client, format).await,
        ModelCommand::Show(show_args) => show(&client, format, &show_args.name).await,
    }
}

async fn push(client: &Client, format: OutputFormat, args: PushArgs) -> anyhow::Result<()> {
    // Everything local is checked before the first request.
    let metadata = version_metadata(args.description, &args.meta, args.features)?;
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

    match client.get_model(&args.name).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => match client.create_model(&args.name).await {
            Ok(_) => note(&format!("created model {}", args.name)),
            // Someone else created it in the meantime: push to theirs.
            Err(e) if e.is_conflict() => {}
            Err(e) => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    }

    let bar = upload_bar(info.len(), &file_name(path));
    let artifact = Artifact {
        file_name: file_name(path),
        length: info.len(),
        body: reqwest::Body::wrap_stream(progress_stream(file, info.len(), bar.clone())),
    };
    let pushed = client.push_version(&args.name, &metadata, artifact).await;
    bar.finish_and_clear();
    let version = pushed.map_err(|e| match e {
        ClientError::ConnectionClosed { .. } => anyhow::anyhow!(
            "{e}; this file is {}, which may be over the server's upload limit \
             (`hangar serve --max-upload-bytes`)",
            HumanBytes(info.len())
        ),
        other => other.into(),
    })?;

    output::print(&match format {
        OutputFormat::Json => output::json(&version.raw),
        OutputFormat::Table => format!(
            "pushed {} version {} ({}, {})\n",
            args.name,
            version.body.version,
            output::short_digest(&version.body.digest),
            version.body.format
        ),
    })
}

/// The file's bytes as a stream that advances `bar` as the request body is sent.
fn progress_stream(
    file: tokio::fs::File,
    length: u64,
    bar: ProgressBar,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    ReaderStream::with_capacity(file, 64 * 1024).map(move |chunk| {
        if let Ok(bytes) = &chunk {
            bar.inc(bytes.len() as u64);
            if bar.position() >= length && bar.message().is_empty() {
                bar.set_message("uploaded; the server is checking the model");
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
