//! `hangar feedback`: send true outcomes (labels) for a deployment's logged
//! predictions, and say which ids matched none.

use anyhow::{bail, Context};
use serde_json::{Map, Value};

use crate::cli::values::deployment_name;
use crate::cli::ClientArgs;
use crate::client::{Client, FeedbackReceipt, Rejected, UnknownKey};
use crate::output::{self, OutputFormat, Table};
use crate::predict::read_input;
use clap::Args;
use std::path::PathBuf;

pub const FEEDBACK_ABOUT: &str = "\
Send true outcomes (labels) for a deployment's logged predictions.

FILE is CSV, sent as-is: a header `row_id,label` (the deployment's --row-id field, as \
sent with each row) or `request_id,row,label` (the inference request's id and the \
0-based row within it), then one line per outcome. --json FILE sends \
{\"feedback\": [{\"row_id\": \"...\", \"label\": 1} | {\"request_id\": \"...\", \"row\": 0, \"label\": 0}]} \
instead. A label must be one of the classes of the model version that made the \
prediction (0 or 1 for a binary classifier; any number for a regressor); a label \
sent again replaces the earlier one. The server applies a large file in short \
batches as it arrives (other changes go on meanwhile), up to its \
--max-feedback-bytes (64 MiB by default).

Prints how many labels were received and how many updated a prediction, then lists \
the lines the server rejected, by line number (a row that is not a whole number from \
0, a label that is not a number or not one of the model's classes), and the ids that \
matched no logged prediction (mistyped, not predicted yet, predicted before \
prediction logging or the row id was set, or already removed by retention). The \
other lines are applied. Exits with 1 when any line was rejected or none matched; \
some unknown ids alone are not a failure.";

pub const FEEDBACK_EXAMPLES: &str = "\
Examples:
  hangar feedback credit-api outcomes.csv
  printf 'row_id,label\\nA-1001,1\\n' | hangar feedback credit-api -
  hangar feedback credit-api --json outcomes.json --output json";

#[derive(Args, Debug)]
pub struct FeedbackArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// Name of the deployment whose predictions the labels are for
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub deployment: String,

    #[command(flatten)]
    pub input: FeedbackInput,
}

/// Where the labels come from: exactly one of the two.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct FeedbackInput {
    /// CSV with a header `row_id,label` or `request_id,row,label`, sent as-is
    /// ("-" reads stdin)
    #[arg(value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// JSON body {"feedback": [...]} to send as-is ("-" reads stdin)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub async fn run(args: FeedbackArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let (body, content_type) = match (&args.input.csv, &args.input.json) {
        (Some(path), None) => {
            let bytes = read_input(path)?;
            // Sent as-is, but a wrong header deserves a local message.
            check_csv_header(&bytes).with_context(|| format!("reading {}", path.display()))?;
            (bytes, "text/csv")
        }
        (None, Some(path)) => {
            let bytes = read_input(path)?;
            check_json(&bytes).with_context(|| format!("reading {}", path.display()))?;
            (bytes, "application/json")
        }
        // clap's argument group guarantees exactly one.
        _ => bail!("give exactly one of FILE or --json FILE"),
    };
    let receipt = client
        .feedback(&args.deployment, body, content_type)
        .await?;
    let r = &receipt.body;
    if r.received > 0 && r.updated == 0 && r.rejected_count == 0 {
        bail!("{}", nothing_matched(&args.deployment, r));
    }
    output::print(&match args.client.output {
        OutputFormat::Json => output::json(&receipt.raw),
        OutputFormat::Table => receipt_text(r),
    })?;
    if r.rejected_count > 0 {
        bail!(
            "{} of {} {} rejected (listed above); the others were applied",
            r.rejected_count,
            r.received,
            plural(r.received, "line was", "lines were"),
        );
    }
    Ok(())
}

/// The header must name `label` and `row_id` or `request_id` (with `row`).
fn check_csv_header(bytes: &[u8]) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let Some(header) = text.lines().find(|l| !l.trim().is_empty()) else {
        bail!("the file is empty; expected a header `row_id,label` or `request_id,row,label`, then one line per outcome");
    };
    let columns: Vec<&str> = header
        .split(',')
        .map(|c| c.trim().trim_matches('"').trim())
        .collect();
    let has = |name: &str| columns.contains(&name);
    if !has("label") || !(has("row_id") || has("request_id")) {
        bail!(
            "the header {:?} needs a label column and row_id (or request_id and row); \
             expected `row_id,label` or `request_id,row,label`",
            header.trim()
        );
    }
    if text.lines().filter(|l| !l.trim().is_empty()).count() < 2 {
        bail!("there is a header but no outcomes to send");
    }
    Ok(())
}

fn check_json(bytes: &[u8]) -> anyhow::Result<()> {
    let object: Map<String, Value> = serde_json::from_slice(bytes).context("not a JSON object")?;
    match object.get("feedback") {
        Some(Value::Array(items)) if !items.is_empty() => Ok(()),
        Some(Value::Array(_)) => bail!("\"feedback\" is empty: there are no outcomes to send"),
        _ => bail!(
            "expected {{\"feedback\": [{{\"row_id\": \"...\", \"label\": 1}}, ...]}} \
             (or request_id and row instead of row_id)"
        ),
    }
}

/// `received 300 labels, updated 298 predictions`, then the rejected lines
/// and the unknown ids.
fn receipt_text(r: &FeedbackReceipt) -> String {
    let mut text = format!(
        "received {} {}, updated {} {}",
        r.received,
        plural(r.received, "label", "labels"),
        r.updated,
        plural(r.updated, "prediction", "predictions")
    );
    if r.rejected_count > 0 {
        text.push_str(&format!(", rejected {}", r.rejected_count));
    }
    text.push('\n');
    if !r.rejected.is_empty() {
        text.push_str(&format!(
            "\n{} rejected{}:\n",
            r.rejected_count,
            shown(r.rejected.len(), r.rejected_count)
        ));
        text.push_str(&rejected_table(&r.rejected).render());
    }
    let unknown = r.unknown_count;
    if !r.unknown.is_empty() {
        text.push_str(&format!(
            "\n{} unknown (no logged prediction has {}){}:\n",
            unknown,
            plural(unknown, "this id", "these ids"),
            shown(r.unknown.len(), unknown)
        ));
        text.push_str(&unknown_table(&r.unknown).render());
    }
    text
}

/// `, the first 1000 listed` when the server listed fewer than it counted.
fn shown(listed: usize, count: u64) -> String {
    if (listed as u64) < count {
        format!(", the first {listed} listed")
    } else {
        String::new()
    }
}

/// `LINE  ERROR` (CSV) or `ITEM  ERROR` (JSON).
fn rejected_table(rejected: &[Rejected]) -> Table {
    let by_line = rejected.iter().any(|r| r.line.is_some());
    let unit = if by_line { "LINE" } else { "ITEM" };
    let mut table = Table::new([unit, "ERROR"]);
    for r in rejected {
        let number = if by_line { r.line } else { r.item };
        table.row(vec![
            number.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            r.error.clone(),
        ]);
    }
    table
}

/// `ROW_ID`, or `REQUEST_ID  ROW`, or all three when both kinds were sent.
fn unknown_table(unknown: &[UnknownKey]) -> Table {
    let by_row_id = unknown
        .iter()
        .any(|k| matches!(k, UnknownKey::RowId { .. }));
    let by_request = unknown
        .iter()
        .any(|k| matches!(k, UnknownKey::Request { .. }));
    let mut headers = Vec::new();
    if by_row_id || !by_request {
        headers.push("ROW_ID");
    }
    if by_request {
        headers.extend(["REQUEST_ID", "ROW"]);
    }
    let mut table = Table::new(headers.iter().copied());
    for key in unknown {
        let (row_id, request_id, row) = match key {
            UnknownKey::RowId { row_id } => (row_id.clone(), "-".to_owned(), "-".to_owned()),
            UnknownKey::Request { request_id, row } => {
                ("-".to_owned(), request_id.clone(), row.to_string())
            }
        };
        let mut cells = Vec::new();
        if by_row_id || !by_request {
            cells.push(row_id);
        }
        if by_request {
            cells.extend([request_id, row]);
        }
        table.row(cells);
    }
    table
}

/// The one error line when every label was for an unknown id.
fn nothing_matched(deployment: &str, r: &FeedbackReceipt) -> String {
    const SHOWN: usize = 5;
    let mut ids: Vec<String> = r.unknown.iter().take(SHOWN).map(key_text).collect();
    if r.unknown.len() > SHOWN {
        ids.push(format!("and {} more", r.unknown.len() - SHOWN));
    }
    format!(
        "no label matched a logged prediction of {deployment} ({} sent; unknown: {}); \
         send the deployment's --row-id values (or request ids and rows) of predictions \
         made while prediction logging was on",
        r.received,
        ids.join(", ")
    )
}

/// `row_id A-17` or `request_id 3f2a row 0`.
fn key_text(key: &UnknownKey) -> String {
    match key {
        UnknownKey::RowId { row_id } => format!("row_id {row_id}"),
        UnknownKey::Request { request_id, row } => format!("request_id {request_id} row {row}"),
    }
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rejected_lines_are_listed_with_their_numbers() {
        let r: FeedbackReceipt = serde_json::from_value(json!({
            "received": 4, "updated": 1, "unknown": [{"request_id": "q", "row": 0}], "unknown_count": 1,
            "rejected": [{"line": 3, "error": "label 2 is not one of the model's classes (0, 1)"},
                         {"line": 5, "error": "row \"-1\" is not a row number"}],
            "rejected_count": 2,
        }))
        .unwrap();
        assert_eq!(
            receipt_text(&r),
            "received 4 labels, updated 1 prediction, rejected 2\n\
             \n\
             2 rejected:\n\
             LINE  ERROR\n\
             3     label 2 is not one of the model's classes (0, 1)\n\
             5     row \"-1\" is not a row number\n\
             \n\
             1 unknown (no logged prediction has this id):\n\
             REQUEST_ID  ROW\n\
             q           0\n"
        );
        let many: FeedbackReceipt = serde_json::from_value(json!({
            "received": 5000, "updated": 0, "rejected": [{"item": 0, "error": "x"}], "rejected_count": 3000,
            "unknown": [{"row_id": "a"}], "unknown_count": 2000,
        }))
        .unwrap();
        let text = receipt_text(&many);
        assert!(
            text.contains("3000 rejected, the first 1 listed:\nITEM  ERROR\n0     x\n"),
            "{text}"
        );
        assert!(
            text.contains("2000 unknown (no logged prediction has these ids), the first 1 listed"),
            "{text}"
        );
    }

    fn receipt(received: u64, updated: u64, unknown: Value) -> FeedbackReceipt {
        let unknown_count = unknown.as_array().map_or(0, Vec::len);
        serde_json::from_value(json!({
            "received": received, "updated": updated, "unknown": unknown,
            "unknown_count": unknown_count, "rejected": [], "rejected_count": 0,
        }))
        .unwrap()
    }

    fn keys(json: Value) -> Vec<UnknownKey> {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_full_match_is_one_line() {
        assert_eq!(
            receipt_text(&receipt(300, 300, json!([]))),
            "received 300 labels, updated 300 predictions\n"
        );
        assert_eq!(
            receipt_text(&receipt(1, 1, json!([]))),
            "received 1 label, updated 1 prediction\n"
        );
    }

    #[test]
    fn unknown_ids_are_listed_by_their_kind() {
        assert_eq!(
            receipt_text(&receipt(
                3,
                1,
                json!([{"row_id": "A-17"}, {"row_id": "A-18"}])
            )),
            "received 3 labels, updated 1 prediction\n\
             \n\
             2 unknown (no logged prediction has these ids):\n\
             ROW_ID\n\
             A-17\n\
             A-18\n"
        );
        assert_eq!(
            unknown_table(&keys(
                json!([{"request_id": "3f2a", "row": 2}, {"row_id": "A-17"}])
            ))
            .render(),
            "ROW_ID  REQUEST_ID  ROW\n\
             -       3f2a        2\n\
             A-17    -           -\n"
        );
    }

    #[test]
    fn nothing_matched_names_the_first_ids_and_counts_the_rest() {
        let unknown: Vec<Value> = (0..7).map(|i| json!({"row_id": format!("r{i}")})).collect();
        let message = nothing_matched("credit-api", &receipt(7, 0, json!(unknown)));
        assert!(
            message.starts_with(
                "no label matched a logged prediction of credit-api (7 sent; \
                 unknown: row_id r0, row_id r1, row_id r2, row_id r3, row_id r4, and 2 more);"
            ),
            "{message}"
        );
        assert_eq!(
            key_text(&keys(json!([{"request_id": "3f2a", "row": 1}]))[0]),
            "request_id 3f2a row 1"
        );
    }

    #[test]
    fn csv_headers_are_checked_before_sending() {
        for ok in [
            "row_id,label\nA-1,1\n",
            "\u{feff}\"request_id\", row ,label\r\nabc,0,1\r\n",
            "label,row_id,extra\n1,A,x\n",
        ] {
            assert!(check_csv_header(ok.as_bytes()).is_ok(), "{ok:?}");
        }
        for (bad, needle) in [
            ("", "empty"),
            ("id,label\n1,1\n", "needs a label column and row_id"),
            ("row_id,outcome\n1,1\n", "needs a label column"),
            ("row_id,label\n", "no outcomes"),
        ] {
            let err = check_csv_header(bad.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
    }

    #[test]
    fn json_bodies_need_a_feedback_list() {
        assert!(check_json(br#"{"feedback": [{"row_id": "a", "label": 1}]}"#).is_ok());
        for (bad, needle) in [
            (&b"[1]"[..], "not a JSON object"),
            (br#"{"labels": []}"#, "expected {\"feedback\""),
            (br#"{"feedback": []}"#, "empty"),
        ] {
            let err = check_json(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
