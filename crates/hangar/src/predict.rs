//! `hangar predict`: send rows (CSV or a JSON request body) to a deployment and
//! print one prediction per row.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context};
use serde_json::{Map, Number, Value};

use crate::cli::values::deployment_name;
use crate::cli::ClientArgs;
use crate::client::{Client, InferResponse, OutputTensor};
use crate::output::{self, OutputFormat, Table};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// Name of the deployment to call
    #[arg(value_name = "DEPLOYMENT", value_parser = deployment_name)]
    pub deployment: String,

    #[command(flatten)]
    pub input: PredictInput,
}

/// Where the rows come from: exactly one of the two.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct PredictInput {
    /// Request body to send as-is: a V2 inference request or {"instances": [...]}
    /// ("-" reads stdin)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// CSV with a header row of feature names and one instance per row ("-" reads stdin)
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

pub async fn run(args: PredictArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    let body = match (&args.input.json, &args.input.csv) {
        (Some(path), None) => {
            let bytes = read_input(path)?;
            // Sent as-is, but a local typo deserves a local message.
            if let Err(e) = serde_json::from_slice::<Map<String, Value>>(&bytes) {
                bail!("{} is not a JSON object: {e}", path.display());
            }
            bytes
        }
        (None, Some(path)) => {
            let text = String::from_utf8(read_input(path)?)
                .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))?;
            let instances =
                csv_to_instances(&text).with_context(|| format!("reading {}", path.display()))?;
            serde_json::to_vec(&instances)?
        }
        // clap's argument group guarantees exactly one.
        _ => bail!("give exactly one of --json FILE or --csv FILE"),
    };
    let response = client.infer(&args.deployment, body).await?;
    output::print(&match args.client.output {
        OutputFormat::Json => output::json(&response.raw),
        OutputFormat::Table => predictions_table(&response.body)?.render(),
    })
}

pub fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `{"instances": [{header: cell, ...}, ...]}`, one object per data row;
/// numeric cells become JSON numbers, everything else strings.
pub fn csv_to_instances(text: &str) -> anyhow::Result<Value> {
    let mut records = parse_csv(text)?.into_iter();
    let Some((_, header)) = records.next() else {
        bail!(
            "the file is empty; expected a header row of feature names, then one row per instance"
        );
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_owned()).collect();
    for (i, name) in header.iter().enumerate() {
        if name.is_empty() {
            bail!("line 1: column {} has no name", i + 1);
        }
        if header[..i].contains(name) {
            bail!("line 1: column {name:?} appears twice");
        }
    }
    let mut instances = Vec::new();
    for (line, row) in records {
        if row.len() != header.len() {
            bail!(
                "line {line}: {} values, but the header has {} columns",
                row.len(),
                header.len()
            );
        }
        let object: Map<String, Value> = header
            .iter()
            .cloned()
            .zip(row.iter().map(|c| cell(c)))
            .collect();
        instances.push(Value::Object(object));
    }
    if instances.is_empty() {
        bail!("there is a header but no rows to predict");
    }
    Ok(serde_json::json!({ "instances": instances }))
}

/// A CSV cell as JSON: integers and finite decimals as numbers, else a string.
fn cell(raw: &str) -> Value {
    let t = raw.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Value::Number(i.into());
    }
    // Rust also parses "inf" and "NaN"; JSON has no such numbers.
    let looks_numeric = t.bytes().any(|b| b.is_ascii_digit())
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    match t
        .parse::<f64>()
        .ok()
        .filter(|_| looks_numeric)
        .and_then(Number::from_f64)
    {
        Some(n) => Value::Number(n),
        None => Value::String(raw.to_owned()),
    }
}

/// RFC 4180 records with the line each starts on: quoted fields may hold
/// commas, doubled quotes and line breaks; blank lines are skipped.
fn parse_csv(text: &str) -> anyhow::Result<Vec<(usize, Vec<String>)>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut record = Vec::new();
        let mut field = String::new();
        let mut quoted_record = false;
        loop {
            match chars.next() {
                None => {
                    record.push(std::mem::take(&mut field));
                    break;
                }
                Some('"') if field.trim().is_empty() => {
                    quoted_record = true;
                    field.clear();
                    loop {
                        match chars.next() {
                            None => bail!("line {start}: a quoted field is never closed"),
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            Some('"') => break,
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                field.push(c);
                            }
                        }
                    }
                    while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                        chars.next();
                    }
                    if !matches!(chars.peek(), None | Some(',' | '\r' | '\n')) {
                        bail!("line {line}: unexpected text after a closing quote");
                    }
                }
                Some(',') => record.push(std::mem::take(&mut field)),
                Some('\r') if chars.peek() == Some(&'\n') => {}
                Some('\n') => {
                    line += 1;
                    record.push(std::mem::take(&mut field));
                    break;
                }
                Some(c) => field.push(c),
            }
        }
        let blank = !quoted_record && record.len() == 1 && record[0].trim().is_empty();
        if !blank {
            records.push((start, record));
        }
    }
    Ok(records)
}

/// One row per instance: `ROW`, then one column per output. An output of
/// shape `[N]` gives its value; `[N, K, ...]` gives the row's values as a list.
pub fn predictions_table(response: &InferResponse) -> anyhow::Result<Table> {
    if response.outputs.is_empty() {
        bail!("the server returned no outputs");
    }
    let rows = row_count(&response.outputs)?;
    let mut table = Table::new(
        std::iter::once("ROW".to_owned()).chain(response.outputs.iter().map(|o| o.name.clone())),
    );
    for row in 0..rows {
        let mut cells = vec![row.to_string()];
        for o in &response.outputs {
            cells.push(row_cell(o, row, rows));
        }
        table.row(cells);
    }
    Ok(table)
}

fn row_count(outputs: &[OutputTensor]) -> anyhow::Result<usize> {
    let mut rows = None;
    for o in outputs {
        let elements: u64 = o.shape.iter().product();
        if elements != o.data.len() as u64 {
            bail!(
                "output '{}' has {} values but its shape {:?} needs {elements}; use --output json to see the response",
                o.name,
                o.data.len(),
                o.shape
            );
        }
        let n = o.shape.first().map_or(1, |&n| n as usize);
        match rows {
            None => rows = Some(n),
            Some(r) if r == n => {}
            Some(r) => bail!(
                "outputs disagree on the number of rows ({r} and {n} for '{}'); use --output json to see the response",
                o.name
            ),
        }
    }
    Ok(rows.unwrap_or(0))
}

fn row_cell(o: &OutputTensor, row: usize, rows: usize) -> String {
    if o.shape.len() <= 1 {
        return output::value(&o.data[row]);
    }
    let width = o.data.len() / rows.max(1);
    let values: Vec<String> = o.data[row * width..(row + 1) * width]
        .iter()
        .map(output::value)
        .collect();
    format!("[{}]", values.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_csv(text: &str, expected: Value) {
        assert_eq!(csv_to_instances(text).unwrap(), expected, "{text:?}");
    }

    fn check_csv_error(text: &str, needle: &str) {
        let err = csv_to_instances(text).unwrap_err().to_string();
        assert!(
            err.contains(needle),
            "{text:?}: {err:?} should contain {needle:?}"
        );
    }

    #[test]
    fn csv_rows_become_instances_with_typed_cells() {
        check_csv(
            "age,income,ratio,job\n41,52000,0.35,clerk\n-3, 1e3 ,.5,\n",
            json!({"instances": [
                {"age": 41, "income": 52000, "ratio": 0.35, "job": "clerk"},
                {"age": -3, "income": 1000.0, "ratio": 0.5, "job": ""},
            ]}),
        );
    }

    #[test]
    fn csv_handles_quotes_crlf_bom_and_blank_lines() {
        check_csv(
            "\u{feff}name,\"note\"\r\n\"Smith, J\",\"said \"\"hi\"\"\nthen left\"\r\n\r\n\"7\",NaN\n",
            json!({"instances": [
                {"name": "Smith, J", "note": "said \"hi\"\nthen left"},
                {"name": 7, "note": "NaN"},
            ]}),
        );
        check_csv("a\n1", json!({"instances": [{"a": 1}]}));
        check_csv("a\ninf\n", json!({"instances": [{"a": "inf"}]}));
    }

    #[test]
    fn csv_mistakes_name_the_line() {
        check_csv_error("", "empty");
        check_csv_error("a,b\n", "no rows");
        check_csv_error(
            "a,b\n1,2\n3\n",
            "line 3: 1 values, but the header has 2 columns",
        );
        check_csv_error("a,a\n1,2\n", "\"a\" appears twice");
        check_csv_error("a,,c\n1,2,3\n", "column 2 has no name");
        check_csv_error("a\n\"open\n", "never closed");
        check_csv_error(
            "a,b\n\"x\"y,2\n",
            "line 2: unexpected text after a closing quote",
        );
    }

    fn response(outputs: Value) -> InferResponse {
        serde_json::from_value(json!({"model_name": "d", "model_version": "1", "outputs": outputs}))
            .unwrap()
    }

    #[test]
    fn each_row_gets_its_label_and_probabilities() {
        let r = response(json!([
            {"name": "label", "shape": [2], "datatype": "INT64", "data": [1, 0]},
            {"name": "probabilities", "shape": [2, 2], "datatype": "FP32",
             "data": [0.4594159722328186, 0.5405840277671814, 0.6, 0.4]},
        ]));
        assert_eq!(
            predictions_table(&r).unwrap().render(),
            "ROW  label  probabilities\n\
             0    1      [0.4594, 0.5406]\n\
             1    0      [0.6, 0.4]\n"
        );
    }

    #[test]
    fn higher_rank_outputs_are_flattened_per_row() {
        let r = response(
            json!([{"name": "y", "shape": [1, 2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]),
        );
        assert_eq!(
            predictions_table(&r).unwrap().render(),
            "ROW  y\n0    [1, 2, 3, 4]\n"
        );
    }

    #[test]
    fn inconsistent_responses_are_reported_not_misprinted() {
        let short =
            response(json!([{"name": "y", "shape": [3], "datatype": "FP32", "data": [1, 2]}]));
        assert!(predictions_table(&short)
            .unwrap_err()
            .to_string()
            .contains("needs 3"));
        let disagree = response(json!([
            {"name": "a", "shape": [2], "datatype": "FP32", "data": [1, 2]},
            {"name": "b", "shape": [1], "datatype": "FP32", "data": [1]},
        ]));
        assert!(predictions_table(&disagree)
            .unwrap_err()
            .to_string()
            .contains("disagree"));
        assert!(predictions_table(&response(json!([]))).is_err());
    }
}
