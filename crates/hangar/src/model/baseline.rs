//! `hangar model baseline`: a version's baseline, uploaded or shown, and its summary.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use hangar_core::{VersionRef, VersionSelector};

use crate::client::{Baseline, BaselineColumns, Client, Fetched, Performance, Upload};
use crate::output::{self, OutputFormat, Table};

use super::{file_name, open_file, progress_stream, too_large, upload_bar};

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

/// `hangar model baseline`: upload a version's baseline, or show it.
pub(super) async fn baseline(
    client: &Client,
    format: OutputFormat,
    args: BaselineArgs,
) -> anyhow::Result<()> {
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
pub(super) struct Source {
    name: String,
    length: u64,
    reader: Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>,
}

impl Source {
    pub(super) async fn open(path: &Path) -> anyhow::Result<Source> {
        if path.as_os_str() == "-" {
            // Read whole: a pipe has no length to announce or show progress against.
            let bytes = crate::predict::read_input(path)?;
            return Ok(Source {
                name: "stdin".to_owned(),
                length: bytes.len() as u64,
                reader: Box::new(std::io::Cursor::new(bytes)),
            });
        }
        let (file, length) = open_file(path).await?;
        Ok(Source {
            name: file_name(path),
            length,
            reader: Box::new(file),
        })
    }
}

/// Streams the baseline CSV with a progress bar while the server profiles it.
pub(super) async fn upload_baseline(
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

/// `--label-column` and `--categorical` checked: names not empty, categorical
/// features among the version's features when those are known here.
pub(super) fn baseline_columns(
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
    fields.push(("uploaded", output::when(&b.created_at)));
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
    fields.push(("rows", p.n.to_string()));
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
    let c = &p.confusion;
    fields.push((
        "confusion",
        format!("tp {}, fp {}, tn {}, fn {}", c.tp, c.fp, c.tn, c.fn_),
    ));
    output::card(&fields)
}

fn or_dash(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), output::number)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

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
                "features": [{"name": "age", "kind": "numeric", "bin_cuts": [], "mean": null}],
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
}
