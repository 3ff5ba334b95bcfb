//! How results reach stdout: aligned tables and cards for people, the server's
//! JSON for scripts (`--output json`).
//!
//! Everything here builds strings; only [`print`] writes, so rendering is tested
//! without capturing stdout.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for reading
    Table,
    /// The server's JSON, pretty-printed, for scripts and jq
    Json,
}

/// Writes to stdout; a closed pipe (`hangar model list | head -1`) is not an error.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Pretty JSON with a trailing newline.
pub fn json(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    s.push('\n');
    s
}

/// Columns left-aligned, two spaces apart, no trailing blanks.
#[derive(Debug)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Table {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).map(String::as_str).unwrap_or("");
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', width - cell.chars().count()));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `label:  value` lines with the values aligned.
pub fn card(fields: &[(&str, String)]) -> String {
    // Characters, not bytes: `{:<width$}` pads by characters (labels like `mean |Δ score|`).
    let width = fields
        .iter()
        .map(|(k, _)| k.chars().count() + 1)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value) in fields {
        let label = format!("{key}:");
        out.push_str(format!("{label:<width$}  {value}").trim_end());
        out.push('\n');
    }
    out
}

/// `sha256:` and the first 12 hex digits: enough to tell versions apart.
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algo, hex)) => format!("{algo}:{}", hex.chars().take(12).collect::<String>()),
        None => digest.chars().take(12).collect(),
    }
}

/// RFC 3339 from the server as `2025-03-14 09:26 UTC`; anything else unchanged.
pub fn time(rfc3339: &str) -> String {
    match DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => when(&t.with_timezone(&Utc)),
        Err(_) => rfc3339.to_owned(),
    }
}

/// A time as [`time`] prints it: `2025-03-14 09:26 UTC`.
pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Seconds as `--window` and `--for` take them: `90` as `1m30s`, `3600` as
/// `1h`, `604800` as `7d`, `0` as `0s`.
pub fn duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut rest = secs;
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// A number as people read it: integers exactly, other values to four decimals
/// (scientific notation when that would hide them).
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    if x.abs() < 1e-3 || x.abs() >= 1e12 {
        return format!("{x:.3e}");
    }
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0" } else { s }.to_owned()
}

/// A rate as a percentage: `0.9166` as `91.7%`, `1` as `100%`.
pub fn percent(rate: f64) -> String {
    if !rate.is_finite() {
        return "-".to_owned();
    }
    let s = format!("{:.1}", rate * 100.0);
    format!("{}%", s.trim_end_matches(".0"))
}

/// Every line indented by two spaces, for a block under a heading.
pub fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// One JSON value as a table cell.
pub fn value(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => n.as_f64().map(number).unwrap_or_else(|| n.to_string()),
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_columns_without_trailing_blanks() {
        let mut t = Table::new(["NAME", "LATEST"]);
        t.row(vec!["credit-risk".into(), "3".into()]);
        t.row(vec!["a".into(), String::new()]);
        assert_eq!(t.render(), "NAME         LATEST\ncredit-risk  3\na\n");
    }

    #[test]
    fn cards_align_values() {
        assert_eq!(
            card(&[
                ("name", "credit".into()),
                ("risk tier", "low".into()),
                ("tags", String::new())
            ]),
            "name:       credit\nrisk tier:  low\ntags:\n"
        );
    }

    #[test]
    fn cards_align_labels_with_non_ascii_characters() {
        assert_eq!(
            card(&[("mean |Δ score|", "0.1".into()), ("dropped", "0".into())]),
            "mean |Δ score|:  0.1
dropped:         0
"
        );
    }

    #[test]
    fn digests_are_shortened_to_twelve_hex_digits() {
        assert_eq!(
            short_digest("sha256:0123456789abcdef0123"),
            "sha256:0123456789ab"
        );
        assert_eq!(short_digest("abc"), "abc");
    }

    #[test]
    fn times_are_shown_in_utc_to_the_minute() {
        assert_eq!(time("2025-03-14T09:26:53Z"), "2025-03-14 09:26 UTC");
        assert_eq!(time("2025-03-14T10:26:53+01:00"), "2025-03-14 09:26 UTC");
        assert_eq!(time("yesterday"), "yesterday");
    }

    #[test]
    fn numbers_read_well() {
        for (x, want) in [
            (1.0, "1"),
            (-3.0, "-3"),
            (0.4594159722328186, "0.4594"),
            (0.5, "0.5"),
            (12345.678, "12345.678"),
            (0.00001234, "1.234e-5"),
            (-0.00001, "-1.000e-5"),
            (-0.00004, "-4.000e-5"),
            (0.0, "0"),
        ] {
            assert_eq!(number(x), want, "{x}");
        }
    }

    #[test]
    fn durations_read_in_the_largest_units_that_fit() {
        for (secs, want) in [
            (0, "0s"),
            (45, "45s"),
            (90, "1m30s"),
            (600, "10m"),
            (3600, "1h"),
            (5400, "1h30m"),
            (86_400, "1d"),
            (604_800, "7d"),
            (90_061, "1d1h1m1s"),
        ] {
            assert_eq!(duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn percentages_keep_one_decimal_when_it_matters() {
        assert_eq!(percent(0.9166666), "91.7%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.05), "5%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(f64::NAN), "-");
    }

    #[test]
    fn json_values_become_cells() {
        assert_eq!(value(&json!(7)), "7");
        assert_eq!(value(&json!(0.25)), "0.25");
        assert_eq!(value(&json!("yes")), "yes");
        assert_eq!(value(&json!(true)), "true");
        assert_eq!(value(&json!(null)), "-");
    }
}
