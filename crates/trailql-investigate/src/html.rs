//! A self-contained HTML page for an incident ticket: the timeline drawn as an SVG chart (when,
//! who, what), the result table, and the exact query. No external assets or scripts.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::table::TextTable;

/// One mark on the timeline.
#[derive(Debug, Clone)]
pub struct Point {
    /// ISO 8601 UTC (`2024-08-01T12:00:00Z`).
    pub time: String,
    /// The lane: who.
    pub who: String,
    /// The tooltip: what.
    pub what: String,
    /// CSS class: `open`, `closed`, `failed`, `unknown`, `ok`, `denied`.
    pub class: &'static str,
}

pub struct Report<'a> {
    pub title: String,
    pub summary: String,
    pub points: Vec<Point>,
    pub table: &'a TextTable,
    pub sql: String,
    pub sources: Vec<String>,
    /// The marks' classes and what they mean, for the legend.
    pub legend: &'static [(&'static str, &'static str)],
    /// For a detect report: the rules that ran, shown instead of a query.
    pub rules: Option<String>,
}

/// The legend of an investigation's timeline.
pub const EVENT_LEGEND: &[(&str, &str)] = &[
    ("open", "opened, still open"),
    ("closed", "opened, later closed"),
    ("unknown", "status unknown"),
    ("failed", "failed / denied"),
    ("ok", "event"),
];

/// The legend of a detect report's timeline: the alerts' levels.
pub const LEVEL_LEGEND: &[(&str, &str)] = &[
    ("critical", "critical"),
    ("high", "high"),
    ("medium", "medium"),
    ("low", "low"),
    ("informational", "informational"),
];

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Seconds since 1970 for `YYYY-MM-DDTHH:MM:SS…` (UTC); `None` when it is not that shape.
pub fn epoch_seconds(t: &str) -> Option<i64> {
    let n = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (
        n(11..13).unwrap_or(0),
        n(14..16).unwrap_or(0),
        n(17..19).unwrap_or(0),
    );
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

const MAX_LANES: usize = 25;
const LANE_H: f64 = 26.0;
const LEFT: f64 = 260.0;
const WIDTH: f64 = 1100.0;

fn chart(points: &[Point]) -> String {
    let timed: Vec<(i64, &Point)> = points
        .iter()
        .filter_map(|p| epoch_seconds(&p.time).map(|s| (s, p)))
        .collect();
    if timed.is_empty() {
        return "<p class=\"empty\">No events to draw.</p>".into();
    }
    // Lanes: the busiest actors, the rest in one "others" lane.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, p) in &timed {
        *counts.entry(p.who.as_str()).or_default() += 1;
    }
    let mut lanes: Vec<(&str, usize)> = counts.into_iter().collect();
    lanes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let overflow = lanes.len() > MAX_LANES;
    lanes.truncate(if overflow { MAX_LANES - 1 } else { MAX_LANES });
    let lane_of = |who: &str| lanes.iter().position(|l| l.0 == who).unwrap_or(lanes.len());
    let n_lanes = lanes.len() + usize::from(overflow);
    let (lo, hi) = timed.iter().fold((i64::MAX, i64::MIN), |(lo, hi), (s, _)| {
        (lo.min(*s), hi.max(*s))
    });
    let span = (hi - lo).max(1) as f64;
    let plot_w = WIDTH - LEFT - 20.0;
    let height = n_lanes as f64 * LANE_H + 50.0;
    let x = |s: i64| LEFT + (s - lo) as f64 / span * plot_w;
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"timeline\">"
    );
    for i in 0..n_lanes {
        let y = 20.0 + i as f64 * LANE_H;
        let label = lanes.get(i).map(|l| l.0).unwrap_or("others");
        let _ = write!(
            o,
            "<line class=\"lane\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\"/><text class=\"who\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            WIDTH - 20.0,
            LEFT - 8.0,
            y + 4.0,
            escape(&truncate(label, 40))
        );
    }
    let axis_y = 20.0 + n_lanes as f64 * LANE_H;
    for k in 0..=4 {
        let s = lo + ((hi - lo) as f64 * k as f64 / 4.0) as i64;
        let label = points
            .iter()
            .find(|p| epoch_seconds(&p.time) == Some(s))
            .map(|p| p.time.clone())
            .unwrap_or_else(|| format_epoch(s));
        let anchor = match k {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            o,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            x(s),
            axis_y + 14.0,
            escape(&label)
        );
    }
    for (s, p) in &timed {
        let y = 20.0 + lane_of(&p.who) as f64 * LANE_H;
        let _ = write!(
            o,
            "<circle class=\"mark {}\" cx=\"{:.1}\" cy=\"{y}\" r=\"6\"><title>{} — {} — {}</title></circle>",
            p.class,
            x(*s),
            escape(&p.time),
            escape(&p.who),
            escape(&p.what)
        );
    }
    o.push_str("</svg>");
    o
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

fn format_epoch(s: i64) -> String {
    let days = s.div_euclid(86_400);
    let secs = s.rem_euclid(86_400);
    // Civil from days (inverse of the above).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:24px;color:#1d232a}
h1{font-size:20px;margin:0 0 4px}.summary{color:#444;margin:0 0 16px}
svg{border:1px solid #ddd;background:#fcfcfd;max-width:100%;height:auto}
.lane{stroke:#e5e7eb}.who,.tick{font-size:11px;fill:#333}
.mark{stroke:#fff;stroke-width:1.5}.open{fill:#d62728}.closed{fill:#2ca02c}.failed{fill:#ff7f0e}
.unknown{fill:#9467bd}.ok{fill:#1f77b4}.denied{fill:#ff7f0e}
.critical{fill:#7f1d1d}.high{fill:#d62728}.medium{fill:#ff7f0e}.low{fill:#bcbd22}.informational{fill:#1f77b4}
.legend i.open{background:#d62728}.legend i.closed{background:#2ca02c}.legend i.unknown{background:#9467bd}.legend i.failed{background:#ff7f0e}.legend i.ok{background:#1f77b4}
.legend i.critical{background:#7f1d1d}.legend i.high{background:#d62728}.legend i.medium{background:#ff7f0e}.legend i.low{background:#bcbd22}.legend i.informational{background:#1f77b4}
tr.critical td{background:#fde8e8}tr.high td{background:#fff1f1}tr.medium td{background:#fff7ed}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px}
table{border-collapse:collapse;margin-top:16px;font-size:12px}th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top;white-space:nowrap}
th{background:#f3f4f6;position:sticky;top:0}tr.open td{background:#fff1f1}tr.failed td,tr.denied td{background:#fff7ed}
pre{background:#f6f8fa;padding:12px;overflow:auto;font-size:12px}.meta{color:#666;font-size:12px}";

/// Checks in the browser that the chart laid out (used by the headless-Chromium test); sets
/// `data-rendered` on <body> to the number of marks with a non-empty box.
const SCRIPT: &str = "window.addEventListener('load',function(){var n=0;document.querySelectorAll('#timeline circle').forEach(function(c){var b=c.getBBox();if(b.width>0&&b.height>0)n++;});document.body.setAttribute('data-rendered',String(n));});";

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body><h1>{t}</h1><p class=\"summary\">{s}</p>",
        t = escape(&r.title),
        s = escape(&r.summary)
    );
    o.push_str("<p class=\"legend\">");
    for (class, label) in r.legend {
        let _ = write!(o, "<span><i class=\"{class}\"></i>{label}</span>");
    }
    o.push_str("</p>");
    o.push_str(&chart(&r.points));
    let status_col = r.table.columns.iter().position(|c| *c == "status");
    let error_col = r.table.columns.iter().position(|c| *c == "errorcode");
    let level_col = r.table.columns.iter().position(|c| *c == "level");
    let _ = write!(o, "<table><thead><tr>");
    for c in &r.table.columns {
        let _ = write!(o, "<th>{}</th>", escape(c));
    }
    o.push_str("</tr></thead><tbody>");
    for row in &r.table.rows {
        let level = level_col.and_then(|i| row[i].as_deref());
        let class = match (
            status_col.and_then(|i| row[i].as_deref()),
            error_col.and_then(|i| row[i].as_deref()),
        ) {
            _ if level.is_some() => LEVEL_LEGEND
                .iter()
                .find(|(l, _)| Some(*l) == level)
                .map_or("", |(l, _)| *l),
            (Some("open"), _) => "open",
            (Some("failed attempt"), _) => "failed",
            (_, Some(e)) if !e.is_empty() => "denied",
            _ => "",
        };
        let _ = write!(o, "<tr class=\"{class}\">");
        for v in row {
            let _ = write!(o, "<td>{}</td>", escape(v.as_deref().unwrap_or("")));
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table>");
    if let Some(rules) = &r.rules {
        let _ = write!(
            o,
            "<h2>Rules</h2><p class=\"meta\">Run by <code>trailql detect</code> over every record of the sources.</p><pre id=\"rules\">{}</pre>",
            escape(rules)
        );
    } else {
        o.push_str("<h2>Query</h2><p class=\"meta\">Run by trailql over table cloudtrail_logs; the same SQL works in <code>trailql query</code> and, for the most part, in Athena.</p>");
        let _ = write!(o, "<pre id=\"sql\">{}</pre>", escape(&r.sql));
    }
    let _ = write!(
        o,
        "<p class=\"meta\">Sources: {}. Generated by trailql {}.</p><script>{SCRIPT}</script></body></html>",
        escape(&r.sources.join(", ")),
        env!("CARGO_PKG_VERSION")
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_round_trip() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(epoch_seconds("2024-08-01T12:23:55Z"), Some(1_722_515_035));
        assert_eq!(format_epoch(1_722_515_035), "2024-08-01T12:23:55Z");
        assert_eq!(epoch_seconds("bad"), None);
    }

    #[test]
    fn escapes_everything_it_prints() {
        let t = TextTable {
            columns: vec!["actor"],
            rows: vec![vec![Some("<script>alert(1)</script>".into())]],
        };
        let html = render(&Report {
            title: "t".into(),
            summary: "s".into(),
            points: vec![Point {
                time: "2024-08-01T00:00:00Z".into(),
                who: "<b>".into(),
                what: "x".into(),
                class: "open",
            }],
            table: &t,
            sql: "SELECT '<x>'".into(),
            sources: vec![],
            legend: EVENT_LEGEND,
            rules: None,
        });
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;"));
        assert_eq!(html.matches("<circle").count(), 1);
    }
}
