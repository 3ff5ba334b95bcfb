//! `hangar model push`: a model file uploaded as the next version.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::Value;

use crate::cli::values::{model_name, team_name};
use crate::client::{Artifact, Client, NewVersion};
use crate::output::{self, OutputFormat};

use super::baseline::{baseline_columns, baseline_summary, upload_baseline, Source, BASELINE};
use super::{file_name, note, open_file, progress_stream, too_large, upload_bar};

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

pub(super) async fn push(
    client: &Client,
    format: OutputFormat,
    args: PushArgs,
) -> anyhow::Result<()> {
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
    let (file, length) = open_file(path).await?;

    let signing_key = match &args.sign {
        Some(path) => Some(crate::signing::load_key(path)?),
        None => None,
    };

    // A model that does not exist yet is created by the push itself, and
    // only if the server accepts the version: a refused first push leaves
    // nothing behind.
    let (exists, previous) = match client.get_model(&args.name).await {
        Ok(m) => (true, m.body.latest_version),
        Err(e) if e.has_code("model_not_found") => (false, None),
        Err(e) => return Err(e.into()),
    };
    let create = (!exists).then_some(args.team.as_deref());

    let bar = upload_bar(length, &file_name(path));
    let artifact = Artifact {
        file_name: file_name(path),
        length,
        body: reqwest::Body::wrap_stream(progress_stream(
            file,
            length,
            bar.clone(),
            "uploaded; the server is checking the model",
        )),
    };
    let pushed = client
        .push_version(&args.name, create, &metadata, artifact)
        .await;
    bar.finish_and_clear();
    let version = pushed.map_err(|e| too_large(e, length))?;
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

/// Sorts `--meta` pairs into the version's fields: `source_commit` and
/// `training_run` are first-class, `metrics.NAME=NUMBER` are metrics, anything
/// else is free-form metadata.
pub fn version_metadata(
    description: Option<String>,
    meta: &[(String, String)],
    features: Option<Vec<String>>,
) -> anyhow::Result<NewVersion> {
    let mut out = NewVersion {
        description: description.unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cli::{parse, Command};
    use crate::model::{ModelArgs, ModelCommand};

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
