//! Value parsers for arguments several commands share: names, times.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use hangar_core::{validate_name, NameError, NameKind};

pub fn team_name(s: &str) -> Result<String, NameError> {
    validate_name(NameKind::Team, s).map(|()| s.to_owned())
}

pub fn user_name(s: &str) -> Result<String, NameError> {
    validate_name(NameKind::User, s).map(|()| s.to_owned())
}

pub fn model_name(s: &str) -> Result<String, NameError> {
    validate_name(NameKind::Model, s).map(|()| s.to_owned())
}

pub fn deployment_name(s: &str) -> Result<String, NameError> {
    validate_name(NameKind::Deployment, s).map(|()| s.to_owned())
}

/// `--from`: a date starts at its midnight (UTC).
pub fn from_time(s: &str) -> Result<String, String> {
    time_arg(s, Utc::now(), Edge::Start)
}

/// `--to`: a date is passed on as-is, which the server reads as its end.
pub fn to_time(s: &str) -> Result<String, String> {
    time_arg(s, Utc::now(), Edge::End)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Start,
    End,
}

/// An RFC 3339 time or date for the server, from RFC 3339, a date, `now`, or
/// a span back from `now` (`90s`, `30m`, `12h`, `7d`, `2w`).
pub fn time_arg(s: &str, now: DateTime<Utc>, edge: Edge) -> Result<String, String> {
    let t = s.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(t) {
        return Ok(time
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    if let Ok(date) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(match edge {
            Edge::Start => format!("{date}T00:00:00Z"),
            Edge::End => date.to_string(),
        });
    }
    if t == "now" {
        return Ok(now.to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    let span = t
        .char_indices()
        .last()
        .and_then(|(i, unit)| Some((t[..i].parse::<u32>().ok()?, unit)))
        .and_then(|(n, unit)| match unit {
            's' => Some(chrono::Duration::seconds(n.into())),
            'm' => Some(chrono::Duration::minutes(n.into())),
            'h' => Some(chrono::Duration::hours(n.into())),
            'd' => Some(chrono::Duration::days(n.into())),
            'w' => Some(chrono::Duration::weeks(n.into())),
            _ => None,
        });
    match span.and_then(|d| now.checked_sub_signed(d)) {
        Some(time) => Ok(time.to_rfc3339_opts(SecondsFormat::Secs, true)),
        None => Err(format!(
            "{s:?} is not a time; expected RFC 3339 (2025-03-14T09:00:00Z), a date \
             (2025-03-14), now, or a span back from now (30m, 12h, 7d)"
        )),
    }
}

/// A finite number above zero.
pub fn positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!("{s:?} is not a number above 0")),
    }
}

/// One of a core enum's values (`hangar_core` has no clap), listed in `--help`
/// with a line each, as clap's `ValueEnum` would.
pub fn one_of<T, E>(
    all: &[T],
    name: fn(T) -> &'static str,
    help: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr<Err = E> + Copy + Send + Sync + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    PossibleValuesParser::new(
        all.iter()
            .map(|&v| PossibleValue::new(name(v)).help(help(v))),
    )
    .try_map(|s| s.parse::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_time(input: &str, edge: Edge, expected: Result<&str, &str>) {
        let now = DateTime::parse_from_rfc3339("2025-03-14T09:26:53Z")
            .unwrap()
            .with_timezone(&Utc);
        match (time_arg(input, now, edge), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
            (Err(message), Err(needle)) => assert!(message.contains(needle), "{input}: {message}"),
            (got, want) => panic!("{input}: got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn times_are_rfc3339_dates_now_or_spans_back_from_now() {
        check_time(
            "2025-03-01T12:00:00+01:00",
            Edge::Start,
            Ok("2025-03-01T11:00:00Z"),
        );
        check_time(
            "2025-03-01T12:00:00.5Z",
            Edge::End,
            Ok("2025-03-01T12:00:00.500Z"),
        );
        check_time("2025-03-01", Edge::Start, Ok("2025-03-01T00:00:00Z"));
        // The server reads a bare date as the end of that day.
        check_time("2025-03-01", Edge::End, Ok("2025-03-01"));
        check_time("now", Edge::End, Ok("2025-03-14T09:26:53Z"));
        check_time("90s", Edge::Start, Ok("2025-03-14T09:25:23Z"));
        check_time("30m", Edge::Start, Ok("2025-03-14T08:56:53Z"));
        check_time("12h", Edge::Start, Ok("2025-03-13T21:26:53Z"));
        check_time("7d", Edge::Start, Ok("2025-03-07T09:26:53Z"));
        check_time("2w", Edge::Start, Ok("2025-02-28T09:26:53Z"));
        for bad in ["", "yesterday", "7", "d", "-3d", "3y", "2025-13-01"] {
            check_time(bad, Edge::Start, Err("expected RFC 3339"));
        }
    }
}
