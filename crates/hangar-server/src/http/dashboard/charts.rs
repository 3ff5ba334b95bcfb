//! Charts as inline SVG, drawn in Rust: no script, no library, nothing to
//! fetch. Every chart carries a `<title>` and `<desc>` for screen readers;
//! the pages put a data table beside each one.

use std::fmt::Write;

use super::esc;

// Chart coordinates: narrow enough that text stays legible when a chart is
// scaled down to a phone's 390 px.
const W: f64 = 480.0;
const H: f64 = 220.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 32.0;

/// One line of a time chart: `(unix seconds, value)` points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// The CSS class giving its colour and dash pattern (`s1`, `s2`, …).
    pub class: &'static str,
}

/// A short human figure for an axis label.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn open(out: &mut String, id: &str, title: &str, desc: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-t {id}-d" preserveAspectRatio="xMidYMid meet"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        esc(title),
        esc(desc)
    );
}

fn y_axis(out: &mut String, max: f64, unit: &str) {
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = TOP + (H - TOP - BOTTOM) * (1.0 - f64::from(i) / 4.0);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            esc(&fmt_num(v))
        );
    }
    let _ = write!(
        out,
        r#"<text class="unit" x="4" y="{}">{}</text>"#,
        TOP - 10.0,
        esc(unit)
    );
}

/// A line chart over time. `x` is the range in unix seconds; the x axis is
/// labelled in UTC hours (the table beside it has the exact times).
pub fn line_chart(
    id: &str,
    title: &str,
    desc: &str,
    unit: &str,
    x: (f64, f64),
    series: &[Series],
) -> String {
    let mut out = String::new();
    open(&mut out, id, title, desc);
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    let max = nice_max(max);
    y_axis(&mut out, max, unit);
    let span = (x.1 - x.0).max(1.0);
    let px = |t: f64| LEFT + (W - LEFT - RIGHT) * ((t - x.0) / span).clamp(0.0, 1.0);
    let py = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - (v / max).clamp(0.0, 1.0));
    for i in 0..=4 {
        let t = x.0 + span * f64::from(i) / 4.0;
        let label = chrono::DateTime::from_timestamp(t as i64, 0)
            .map(|d| {
                if span > 3.0 * 86400.0 {
                    d.format("%d %b").to_string()
                } else {
                    d.format("%H:%M").to_string()
                }
            })
            .unwrap_or_default();
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            out,
            r#"<text class="tick" x="{:.1}" y="{}" text-anchor="{anchor}">{}</text>"#,
            px(t),
            H - 10.0,
            esc(&label)
        );
    }
    let _ = write!(
        out,
        r#"<text class="tick" x="{}" y="{}" text-anchor="end">UTC</text>"#,
        W - RIGHT,
        H - 0.5
    );
    for s in series {
        if s.points.is_empty() {
            continue;
        }
        let d: Vec<String> = s
            .points
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", px(t), py(v)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="line {}" points="{}"><title>{}</title></polyline>"#,
            s.class,
            d.join(" "),
            esc(&s.name)
        );
        if s.points.len() == 1 {
            let (t, v) = s.points[0];
            let _ = write!(
                out,
                r#"<circle class="dot {}" cx="{:.1}" cy="{:.1}" r="3"/>"#,
                s.class,
                px(t),
                py(v)
            );
        }
    }
    out.push_str("</svg>");
    if series.len() > 1 {
        out.push_str(r#"<ul class="legend">"#);
        for s in series {
            let _ = write!(
                out,
                r#"<li><span class="key {}" aria-hidden="true"></span>{}</li>"#,
                s.class,
                esc(&s.name)
            );
        }
        out.push_str("</ul>");
    }
    out
}

/// One bar of a bar chart.
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// `ok`, `warn` or `bad`: the bar's colour; the page says the same in words.
    pub class: &'static str,
}

/// Horizontal bars, with an optional reference line (`(value, label)`), e.g.
/// the four-fifths line of a fairness chart or a drift threshold.
pub fn bar_chart(
    id: &str,
    title: &str,
    desc: &str,
    unit: &str,
    bars: &[Bar],
    max: Option<f64>,
    line: Option<(f64, &str)>,
) -> String {
    let row = 24.0;
    let label_w = 190.0;
    let h = TOP + row * bars.len().max(1) as f64 + BOTTOM;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart bars" viewBox="0 0 {W} {h}" role="img" aria-labelledby="{id}-t {id}-d"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        esc(title),
        esc(desc)
    );
    let top = bars.iter().map(|b| b.value).fold(0.0f64, f64::max);
    let max = max.unwrap_or_else(|| nice_max(top.max(line.map_or(0.0, |l| l.0))));
    let x0 = label_w;
    let plot = W - x0 - RIGHT - 40.0;
    let px = |v: f64| x0 + plot * (v / max).clamp(0.0, 1.0);
    for (i, b) in bars.iter().enumerate() {
        let y = TOP + row * i as f64;
        let label: String = if b.label.chars().count() > 24 {
            b.label.chars().take(23).chain(['…']).collect()
        } else {
            b.label.clone()
        };
        let _ = write!(
            out,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect class="bar {}" x="{x0}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}: {}</title></rect><text class="tick" x="{:.1}" y="{:.1}">{}</text>"#,
            x0 - 6.0,
            y + 17.0,
            esc(&label),
            b.class,
            y + 5.0,
            (px(b.value) - x0).max(1.0),
            row - 10.0,
            esc(&b.label),
            esc(&fmt_num(b.value)),
            px(b.value) + 4.0,
            y + 17.0,
            esc(&fmt_num(b.value)),
        );
    }
    let base = TOP + row * bars.len().max(1) as f64;
    let _ = write!(
        out,
        r#"<line class="axis" x1="{x0}" x2="{x0}" y1="{TOP}" y2="{base:.1}"/><text class="tick" x="{x0}" y="{:.1}">0</text><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{} {}</text>"#,
        base + 16.0,
        x0 + plot,
        base + 16.0,
        esc(&fmt_num(max)),
        esc(unit)
    );
    if let Some((v, label)) = line {
        let x = px(v);
        let _ = write!(
            out,
            r#"<line class="ref" x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{base:.1}"/><text class="ref-label" x="{:.1}" y="{}" text-anchor="{}">{}</text>"#,
            TOP - 4.0,
            if x > W - 140.0 { x - 4.0 } else { x + 4.0 },
            TOP - 8.0,
            if x > W - 140.0 { "end" } else { "start" },
            esc(label)
        );
    }
    out.push_str("</svg>");
    out
}

/// A round upper bound for an axis.
fn nice_max(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        for (v, want) in [
            (0.0, 1.0),
            (0.8, 1.0),
            (3.0, 5.0),
            (120.0, 200.0),
            (1.0, 1.0),
        ] {
            assert_eq!(nice_max(v), want, "{v}");
        }
    }

    #[test]
    fn charts_are_labelled_and_escape_their_text() {
        let svg = bar_chart(
            "f",
            "Selection <rate>",
            "per group",
            "",
            &[Bar {
                label: "a&b".into(),
                value: 0.5,
                class: "ok",
            }],
            Some(1.0),
            Some((0.8, "four-fifths")),
        );
        assert!(svg.contains("<title id=\"f-t\">Selection &lt;rate&gt;</title>"));
        assert!(svg.contains("a&amp;b"));
        assert!(svg.contains("four-fifths"));
    }
}
