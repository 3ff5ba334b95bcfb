//! `hangar monitor`: a deployment's drift, performance and fairness over a
//! time window, as a report people can read top to bottom.
//!
//! The rendering functions are pure; only [`run`] talks to the server.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use crate::cli::values::deployment_name;
use crate::cli::{ClientArgs, WindowArgs};
use crate::client::{
    Baseline, Client, ClientError, ColumnDrift, EstimatedPerformance, Fairness, Figures,
    MonitoringReport, Performance,
};
use crate::output::{self, indent, percent, OutputFormat, Table};
use clap::Args;

pub const MONITOR_ABOUT: &str = "\
Report a deployment's drift, performance and fairness over a time window.

The window defaults to the last 24 hours; --from and --to take RFC 3339 times \
(2025-03-14T09:00:00Z), dates (--from 2025-03-01 starts that day, --to 2025-03-31 \
ends it, in UTC) or a span back from now (30m, 12h, 7d). The report covers one \
version: the one that answered most rows, or --version.

It reads, top to bottom: rows and labelled rows; the dataset drift verdict (drifted \
when at least half the features drift); one line per feature, worst first: PSI, the \
p-value of the Kolmogorov-Smirnov test (chi-squared for categorical features), the \
test that decides drift as Evidently does (Wasserstein distance or Jensen-Shannon \
distance), its score and the verdict; drift of the model's score; performance on \
the labelled rows; performance estimated without labels (CBPE, from the baseline's \
calibration); and for each --segment attribute the groups' selection rate, true and \
false positive rates, with the four-fifths rule: a demographic parity ratio below \
0.8 is flagged.

Drift needs the version's baseline (`hangar model baseline`). --output json prints \
the server's report.";

pub const MONITOR_EXAMPLES: &str = "\
Examples:
  hangar monitor credit-api
  hangar monitor credit-api --from 7d
  hangar monitor credit-api --from 2025-03-01 --to 2025-03-31 --version 3
  hangar monitor credit-api --output json | jq .drift_share";

#[derive(Args, Debug)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// Name of the deployment to report on
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub deployment: String,

    #[command(flatten)]
    pub window: WindowArgs,

    /// Report on this version's rows [default: the version that answered most rows]
    #[arg(long, value_name = "VERSION", value_parser = clap::value_parser!(u32).range(1..))]
    pub version: Option<u32>,
}

/// The four-fifths rule: a group selected at under 80% of the rate of the most
/// selected group is evidence of adverse impact.
const FOUR_FIFTHS: f64 = 0.8;

pub async fn run(args: MonitorArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let report = client
        .monitoring(&args.deployment, &args.window.window(), args.version)
        .await?;
    let text = match args.client.output {
        OutputFormat::Json => output::json(&report.raw),
        OutputFormat::Table => {
            // The baseline's in-sample figures sit beside the live ones; the
            // report stands without them.
            let baseline = match &report.body.figures {
                Some(f) if f.baseline.is_some() => {
                    match client.get_baseline(&f.model, f.version).await {
                        Ok(b) => Some(b.body),
                        Err(ClientError::Api { .. }) => None,
                        Err(e) => return Err(e.into()),
                    }
                }
                _ => None,
            };
            render(&report.body, baseline.as_ref())
        }
    };
    output::print(&text)
}

/// The whole report: summary card, drift, performance, fairness.
pub fn render(r: &MonitoringReport, baseline: Option<&Baseline>) -> String {
    let mut page = output::card(&summary_fields(r));
    if r.rows == 0 {
        page.push_str(
            "\nno predictions in this window: widen it with --from/--to, and check that the \
             deployment logs predictions (`hangar deployments show`: prediction log on)\n",
        );
        return page;
    }
    let figures = r.figures.as_ref();
    if let Some(f) = figures.filter(|f| !f.features.is_empty()) {
        page.push('\n');
        page.push_str(&drift_table("FEATURE", &f.features).render());
        page.push_str(&legend(f));
    }
    if let Some(f) = figures.filter(|f| !f.outputs.is_empty()) {
        page.push('\n');
        page.push_str(&drift_table("OUTPUT", &f.outputs).render());
    }
    page.push_str(&performance_section(r, baseline));
    for (attribute, fairness) in figures.into_iter().flat_map(|f| &f.fairness) {
        page.push_str(&format!("\nfairness by {attribute}:\n"));
        page.push_str(&indent(&fairness_block(fairness)));
    }
    page
}

fn summary_fields(r: &MonitoringReport) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("deployment", r.deployment.clone()),
        (
            "window",
            format!("{} → {}", output::when(&r.from), output::when(&r.to)),
        ),
    ];
    if let Some(Figures { model, version, .. }) = &r.figures {
        let version = *version;
        let mut cell = format!("{model}:{version}");
        let others: Vec<String> = r
            .versions
            .iter()
            .filter(|v| !(v.model == *model && v.version == version))
            .map(|v| format!("{}:{} ({} rows)", v.model, v.version, v.rows))
            .collect();
        if !others.is_empty() {
            cell.push_str(&format!(
                "; also in this window: {} (pick one with --version)",
                others.join(", ")
            ));
        }
        fields.push(("version", cell));
    }
    fields.push(("rows", format!("{} ({} labelled)", r.rows, r.labeled_rows)));
    if r.rows == 0 {
        return fields;
    }
    fields.push((
        "baseline",
        match r.figures.as_ref().and_then(|f| f.baseline.as_ref()) {
            Some(b) => {
                let mut cell = format!("{} rows", b.rows);
                if let Some(rate) = b.label_rate {
                    cell.push_str(&format!(", label rate {}", percent(rate)));
                }
                cell.push_str(if b.calibrated {
                    ", calibrated"
                } else {
                    ", not calibrated"
                });
                cell
            }
            None => format!(
                "none: {}",
                r.message
                    .as_deref()
                    .unwrap_or("drift needs one (`hangar model baseline`)")
            ),
        },
    ));
    if let Some(drift) = r.figures.as_ref().and_then(drift_cell) {
        fields.push(("drift", drift));
    }
    fields
}

/// `3 of 22 features drifted (13.6%): dataset drifted`.
fn drift_cell(r: &Figures) -> Option<String> {
    if r.features.is_empty() {
        return None;
    }
    let drifted = r.features.values().filter(|c| c.drifted).count();
    let share = r
        .drift_share
        .unwrap_or(drifted as f64 / r.features.len() as f64);
    let verdict = match r.dataset_drifted {
        Some(true) => "DATASET DRIFTED",
        Some(false) => "no dataset drift",
        None => "no dataset verdict",
    };
    Some(format!(
        "{drifted} of {} features drifted ({}): {verdict}",
        r.features.len(),
        percent(share)
    ))
}

/// One row per column, worst first: drifted before not, then by how far the
/// test's score is past (or short of) its threshold.
fn drift_table(first: &str, columns: &std::collections::BTreeMap<String, ColumnDrift>) -> Table {
    let mut sorted: Vec<(&String, &ColumnDrift)> = columns.iter().collect();
    sorted.sort_by(|(a_name, a), (b_name, b)| {
        b.drifted
            .cmp(&a.drifted)
            .then_with(|| severity(b).total_cmp(&severity(a)))
            .then_with(|| {
                b.psi
                    .unwrap_or(0.0)
                    .partial_cmp(&a.psi.unwrap_or(0.0))
                    .unwrap_or(Ordering::Equal)
            })
            .then_with(|| a_name.cmp(b_name))
    });
    let mut table = Table::new([first, "KIND", "PSI", "P-VALUE", "TEST", "SCORE", "DRIFTED"]);
    for (name, c) in sorted {
        let p = if c.kind == "categorical" {
            c.tests.chi2_pvalue
        } else {
            c.tests.ks_pvalue
        }
        .flatten();
        table.row(vec![
            name.clone(),
            c.kind.clone(),
            or_dash(c.psi),
            or_dash(p),
            if c.test.is_empty() {
                "-".to_owned()
            } else {
                c.test.clone()
            },
            or_dash(c.test_score),
            if c.drifted { "yes" } else { "no" }.to_owned(),
        ]);
    }
    table
}

/// The score as a multiple of its threshold; unknown scores sort last.
fn severity(c: &ColumnDrift) -> f64 {
    match (c.test_score, c.test_threshold) {
        (Some(score), Some(threshold)) if threshold > 0.0 => score / threshold,
        (Some(score), _) => score,
        _ => f64::NEG_INFINITY,
    }
}

/// What the columns mean, with the thresholds in force.
fn legend(r: &Figures) -> String {
    let thresholds: BTreeSet<(String, String)> = r
        .features
        .values()
        .filter(|c| !c.test.is_empty())
        .filter_map(|c| Some((c.test.clone(), output::number(c.test_threshold?))))
        .collect();
    let thresholds: Vec<String> = thresholds
        .into_iter()
        .map(|(test, t)| format!("{test} {t}"))
        .collect();
    let mut text = "drifted: SCORE of TEST at or over its threshold".to_owned();
    if !thresholds.is_empty() {
        text.push_str(&format!(" ({})", thresholds.join(", ")));
    }
    text.push_str("\nP-VALUE: Kolmogorov-Smirnov test, chi-squared for categorical features\n");
    text
}

/// Live performance on labelled rows, the CBPE estimate over all rows and
/// the baseline's in-sample figures, side by side.
fn performance_section(r: &MonitoringReport, baseline: Option<&Baseline>) -> String {
    let in_sample = baseline.and_then(|b| b.performance.as_ref());
    let actual = r.figures.as_ref().and_then(|f| f.performance.as_ref());
    let estimated = r
        .figures
        .as_ref()
        .and_then(|f| f.estimated_performance.as_ref())
        .map(estimate);
    let columns: Vec<(String, &Performance)> = [
        actual.map(|p| (format!("ACTUAL ({} labelled)", r.labeled_rows), p)),
        estimated
            .as_ref()
            .map(|p| ("ESTIMATED (CBPE)".to_owned(), p)),
        in_sample.map(|p| ("BASELINE (in-sample)".to_owned(), p)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut text = "\nperformance:\n".to_owned();
    if actual.is_none() && estimated.is_none() {
        text.push_str(if r.labeled_rows == 0 {
            "  no labelled rows yet: send outcomes with `hangar feedback`; a baseline with \
             labels (--label-column) estimates performance without them\n"
        } else {
            "  not computed for this window\n"
        });
        return text;
    }
    let mut table = Table::new(
        std::iter::once("METRIC".to_owned()).chain(columns.iter().map(|(h, _)| h.clone())),
    );
    type Metric = fn(&Performance) -> Option<f64>;
    let metrics: [(&str, Metric); 7] = [
        ("accuracy", |p| p.accuracy),
        ("precision", |p| p.precision),
        ("recall", |p| p.recall),
        ("f1", |p| p.f1),
        ("roc_auc", |p| p.roc_auc),
        ("log_loss", |p| p.log_loss),
        ("brier", |p| p.brier),
    ];
    for (name, metric) in metrics {
        let cells: Vec<Option<f64>> = columns.iter().map(|(_, p)| metric(p)).collect();
        if cells.iter().all(Option::is_none) {
            continue;
        }
        table.row(
            std::iter::once(name.to_owned())
                .chain(cells.into_iter().map(or_dash))
                .collect(),
        );
    }
    let rates = |p: &Performance| {
        p.positive_rate_true
            .zip(p.positive_rate_pred)
            .map(|(t, pred)| format!("{} true, {} predicted", percent(t), percent(pred)))
    };
    text.push_str(&indent(&table.render()));
    let mut notes = Vec::new();
    if let Some(cell) = actual.and_then(rates) {
        notes.push(("positive rate", cell));
    }
    if let Some(c) = actual.map(|p| &p.confusion) {
        notes.push((
            "confusion",
            format!("tp {}, fp {}, tn {}, fn {}", c.tp, c.fp, c.tn, c.fn_),
        ));
    }
    if !notes.is_empty() {
        text.push_str(&indent(&output::card(&notes)));
    }
    text
}

/// A CBPE estimate as a column of the performance table: the metrics it
/// estimates, the others unknown.
fn estimate(e: &EstimatedPerformance) -> Performance {
    Performance {
        accuracy: e.accuracy,
        precision: e.precision,
        recall: e.recall,
        f1: e.f1,
        roc_auc: e.roc_auc,
        ..Performance::default()
    }
}

/// The groups' rates, then parity with the four-fifths check.
fn fairness_block(f: &Fairness) -> String {
    let mut table = Table::new(["GROUP", "COUNT", "SELECTION", "TPR", "FPR"]);
    let rate = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), percent);
    for (group, g) in &f.groups {
        table.row(vec![
            group.clone(),
            g.count.to_string(),
            rate(g.selection_rate),
            rate(g.tpr),
            rate(g.fpr),
        ]);
    }
    let mut text = table.render();
    let parity = match f.demographic_parity_ratio {
        Some(ratio) if ratio < FOUR_FIFTHS => format!(
            "difference {}, ratio {}: FAILS the four-fifths rule (ratio < {FOUR_FIFTHS})",
            or_dash(f.demographic_parity_difference),
            output::number(ratio)
        ),
        Some(ratio) => format!(
            "difference {}, ratio {}: passes the four-fifths rule",
            or_dash(f.demographic_parity_difference),
            output::number(ratio)
        ),
        None => format!(
            "difference {}, ratio -",
            or_dash(f.demographic_parity_difference)
        ),
    };
    text.push_str(&output::card(&[
        ("demographic parity", parity),
        (
            "equalized odds",
            format!(
                "difference {}, ratio {}",
                or_dash(f.equalized_odds_difference),
                or_dash(f.equalized_odds_ratio)
            ),
        ),
    ]));
    text
}

fn or_dash(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), output::number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn report(extra: Value) -> MonitoringReport {
        let mut r = json!({
            "deployment": "credit-api",
            "from": "2025-03-14T00:00:00Z", "to": "2025-03-15T00:00:00Z",
            "versions": [{"model": "credit", "version": 1, "rows": 300}],
            "model": "credit", "version": 1, "rows": 300, "labeled_rows": 300,
            "features": {
                "age": {"kind": "numeric", "psi": 0.01, "js_distance": 0.02, "ks_statistic": 0.03,
                        "ks_pvalue": 0.71, "wasserstein": 0.02, "drifted": false,
                        "test": "wasserstein", "test_score": 0.02, "test_threshold": 0.1},
                "income": {"kind": "numeric", "psi": 1.2345, "js_distance": 0.4, "ks_statistic": 0.5,
                           "ks_pvalue": 1.2e-30, "wasserstein": 0.9, "drifted": true,
                           "test": "wasserstein", "test_score": 0.9, "test_threshold": 0.1},
                "housing_status": {"kind": "categorical", "psi": 0.2, "js_distance": 0.15,
                           "chi2_statistic": 12.0, "chi2_pvalue": 0.002, "drifted": true,
                           "test": "jensenshannon", "test_score": 0.15, "test_threshold": 0.1},
            },
            "outputs": {
                "score": {"kind": "numeric", "psi": 0.05, "ks_pvalue": 0.2, "drifted": false,
                          "test": "wasserstein", "test_score": 0.04, "test_threshold": 0.1},
            },
            "drift_share": 0.6667, "dataset_drifted": true,
            "performance": {"n": 300, "accuracy": 0.84, "precision": 0.7, "recall": 0.6, "f1": 0.646,
                            "roc_auc": 0.88, "log_loss": 0.4, "brier": 0.12,
                            "positive_rate_true": 0.3, "positive_rate_pred": 0.25,
                            "confusion": {"tn": 200, "fp": 10, "fn": 38, "tp": 52}},
            "fairness": {"group": {
                "groups": {"0": {"count": 150, "selection_rate": 0.3, "tpr": 0.7, "fpr": 0.1},
                           "1": {"count": 150, "selection_rate": 0.2, "tpr": 0.5, "fpr": 0.05}},
                "demographic_parity_difference": 0.1, "demographic_parity_ratio": 0.6667,
                "equalized_odds_difference": 0.2, "equalized_odds_ratio": 0.5,
            }},
            "estimated_performance": {"accuracy": 0.86, "precision": 0.72, "recall": 0.61,
                                      "f1": 0.66, "roc_auc": null},
            "baseline": {"rows": 20000, "calibrated": true, "label_rate": 0.3},
            "exact": true, "sample_size": 300,
        });
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        serde_json::from_value(r).unwrap()
    }

    #[test]
    fn the_summary_gives_window_version_rows_baseline_and_drift_verdict() {
        let page = render(&report(json!({})), None);
        assert!(
            page.starts_with(
                "deployment:  credit-api\n\
                 window:      2025-03-14 00:00 UTC → 2025-03-15 00:00 UTC\n\
                 version:     credit:1\n\
                 rows:        300 (300 labelled)\n\
                 baseline:    20000 rows, label rate 30%, calibrated\n\
                 drift:       2 of 3 features drifted (66.7%): DATASET DRIFTED\n"
            ),
            "{page}"
        );
    }

    #[test]
    fn features_are_listed_worst_first_with_the_deciding_test() {
        let page = render(&report(json!({})), None);
        let table: Vec<&str> = page
            .lines()
            .skip_while(|l| !l.starts_with("FEATURE"))
            .take(6)
            .collect();
        assert_eq!(
            table,
            [
                "FEATURE         KIND         PSI     P-VALUE    TEST           SCORE  DRIFTED",
                "income          numeric      1.2345  1.200e-30  wasserstein    0.9    yes",
                "housing_status  categorical  0.2     0.002      jensenshannon  0.15   yes",
                "age             numeric      0.01    0.71       wasserstein    0.02   no",
                "drifted: SCORE of TEST at or over its threshold (jensenshannon 0.1, wasserstein 0.1)",
                "P-VALUE: Kolmogorov-Smirnov test, chi-squared for categorical features",
            ]
        );
        assert!(
            page.contains(
                "\nOUTPUT  KIND     PSI   P-VALUE  TEST         SCORE  DRIFTED\n\
                           score   numeric  0.05  0.2      wasserstein  0.04   no\n"
            ),
            "{page}"
        );
    }

    #[test]
    fn performance_puts_actual_estimated_and_baseline_side_by_side() {
        let baseline: Baseline = serde_json::from_value(json!({
            "model": "credit", "version": 1, "digest": "sha256:ab", "rows": 20000,
            "label_column": "label", "features": [], "label_rate": 0.3, "calibrated": true,
            "performance": {"n": 20000, "accuracy": 0.87, "precision": null, "recall": null,
                            "f1": null, "roc_auc": 0.91, "log_loss": 0.35, "brier": null,
                            "positive_rate_true": null, "positive_rate_pred": null,
                            "confusion": {"tn": 0, "fp": 0, "fn": 0, "tp": 0}},
            "created_at": "2025-03-14T09:26:53Z", "created_by": "ana",
        }))
        .unwrap();
        let page = render(&report(json!({})), Some(&baseline));
        let section: Vec<&str> = page
            .lines()
            .skip_while(|l| *l != "performance:")
            .take(11)
            .collect();
        assert_eq!(
            section,
            [
                "performance:",
                "  METRIC     ACTUAL (300 labelled)  ESTIMATED (CBPE)  BASELINE (in-sample)",
                "  accuracy   0.84                   0.86              0.87",
                "  precision  0.7                    0.72              -",
                "  recall     0.6                    0.61              -",
                "  f1         0.646                  0.66              -",
                "  roc_auc    0.88                   -                 0.91",
                "  log_loss   0.4                    -                 0.35",
                "  brier      0.12                   -                 -",
                "  positive rate:  30% true, 25% predicted",
                "  confusion:      tp 52, fp 10, tn 200, fn 38",
            ]
        );
    }

    #[test]
    fn fairness_flags_a_parity_ratio_under_four_fifths() {
        let page = render(&report(json!({})), None);
        let section: Vec<&str> = page
            .lines()
            .skip_while(|l| *l != "fairness by group:")
            .collect();
        assert_eq!(
            section,
            [
                "fairness by group:",
                "  GROUP  COUNT  SELECTION  TPR  FPR",
                "  0      150    30%        70%  10%",
                "  1      150    20%        50%  5%",
                "  demographic parity:  difference 0.1, ratio 0.6667: FAILS the four-fifths rule (ratio < 0.8)",
                "  equalized odds:      difference 0.2, ratio 0.5",
            ]
        );
        let fair = fairness_block(&Fairness {
            demographic_parity_ratio: Some(0.9),
            ..Fairness::default()
        });
        assert!(
            fair.contains("ratio 0.9: passes the four-fifths rule"),
            "{fair}"
        );
    }

    #[test]
    fn an_empty_window_says_how_to_get_rows() {
        let r = report(json!({
            "versions": [], "model": null, "version": null, "rows": 0, "labeled_rows": 0,
            "features": {}, "outputs": {}, "fairness": {}, "performance": null,
            "estimated_performance": null, "baseline": null,
            "message": "no predictions in this range yet",
        }));
        let page = render(&r, None);
        assert!(page.contains("rows:        0 (0 labelled)\n"), "{page}");
        assert!(page.contains("no predictions in this window"), "{page}");
        assert!(!page.contains("performance"), "{page}");
    }

    #[test]
    fn without_a_baseline_or_labels_the_report_says_what_is_missing() {
        let r = report(json!({
            "features": {}, "outputs": {}, "drift_share": null, "dataset_drifted": null,
            "performance": null, "estimated_performance": null, "fairness": {},
            "labeled_rows": 0, "baseline": null,
            "message": "version 1 of model 'credit' has no baseline: push one with ...",
        }));
        let page = render(&r, None);
        assert!(
            page.contains("baseline:    none: version 1 of model 'credit' has no baseline"),
            "{page}"
        );
        assert!(!page.contains("drift:"), "{page}");
        assert!(page.contains("no labelled rows yet"), "{page}");
    }

    #[test]
    fn other_versions_in_the_window_are_named() {
        let r = report(json!({"versions": [
            {"model": "credit", "version": 1, "rows": 300},
            {"model": "credit", "version": 2, "rows": 12},
        ]}));
        let page = render(&r, None);
        assert!(
            page.contains(
                "version:     credit:1; also in this window: credit:2 (12 rows) (pick one with --version)\n"
            ),
            "{page}"
        );
    }
}
