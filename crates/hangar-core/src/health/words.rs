//! Figures, periods and lists in the plain words of a health reason
//! ("the last hour", "72%", "a, b, c and 4 others").

use crate::alerts::MetricScale;

/// "a, b, c and 4 others"; "a and b".
pub(super) fn list(names: &[&str]) -> String {
    const SHOWN: usize = 3;
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        _ if names.len() <= SHOWN => format!(
            "{} and {}",
            names[..names.len() - 1].join(", "),
            names[names.len() - 1]
        ),
        _ => {
            let rest = names.len() - SHOWN;
            format!(
                "{} and {rest} {}",
                names[..SHOWN].join(", "),
                if rest == 1 { "other" } else { "others" }
            )
        }
    }
}

pub(super) fn with_notes(text: String, notes: &[String]) -> String {
    if notes.is_empty() {
        text
    } else {
        format!("{text} ({})", notes.join("; "))
    }
}

/// "the last hour", "the last 5 minutes", "the last 90 seconds", "the last 2 days".
pub(super) fn period(secs: u64) -> String {
    let secs = secs.max(1);
    // A match rather than `is_multiple_of`, which needs Rust 1.87.
    let (n, unit) = match (secs % 86_400, secs % 3600, secs % 60) {
        (0, _, _) => (secs / 86_400, "day"),
        (_, 0, _) => (secs / 3600, "hour"),
        (_, _, 0) => (secs / 60, "minute"),
        _ => (secs, "second"),
    };
    if n == 1 {
        format!("the last {unit}")
    } else {
        format!("the last {n} {unit}s")
    }
}

/// "firing for 12 minutes", rounded down.
pub(super) fn duration(secs: u64) -> String {
    let (n, unit) = if secs < 60 {
        return "firing for less than a minute".to_string();
    } else if secs < 3600 {
        (secs / 60, "minute")
    } else if secs < 86_400 {
        (secs / 3600, "hour")
    } else {
        (secs / 86_400, "day")
    };
    format!("firing for {n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// 12400 → "12,400".
pub(super) fn count(n: u64) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).unwrap_or_default())
        .collect();
    groups.join(",")
}

/// 0.052 → "5.2%", 0.05 → "5%", 0.0001 → "under 0.1%".
pub(super) fn percent(x: f64) -> String {
    if x > 0.0 && x < 0.0005 {
        return "under 0.1%".to_string();
    }
    format!("{}%", trim(format!("{:.1}", x * 100.0)))
}

/// Up to two decimals ("0.8", "0.25"); small non-zero values in scientific
/// notation ("1.2e-4") so a p-value never reads as 0.
pub(super) fn decimal(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.01 {
        format!("{x:.1e}")
    } else {
        trim(format!("{x:.2}"))
    }
}

/// "51.2 ms", "1.6 s"; the last latency bucket has no upper bound.
pub(super) fn milliseconds(x: f64) -> String {
    if !x.is_finite() {
        "more than 100 s".to_string()
    } else if x >= 1000.0 {
        format!("{} s", trim(format!("{:.1}", x / 1000.0)))
    } else {
        format!("{} ms", trim(format!("{x:.1}")))
    }
}

pub(super) fn format_value(scale: MetricScale, x: f64) -> String {
    match scale {
        MetricScale::Count => count(x.max(0.0).round() as u64),
        MetricScale::Percent => percent(x),
        MetricScale::Proportion | MetricScale::NonNegative => decimal(x),
        MetricScale::Flag => if x >= 0.5 { "yes" } else { "no" }.to_string(),
        MetricScale::Milliseconds => milliseconds(x),
    }
}

/// "5.0" → "5", "0.80" → "0.8".
fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
