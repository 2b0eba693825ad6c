//! What the pushed-down filters tell the scan before any file is opened:
//! - the `eventtime` window (string comparisons and `from_iso8601_timestamp(eventtime)` ranges);
//! - which filters use only key-derived (partition) columns, evaluated per file;
//! - literals every matching record must contain (for the prefilter).
//!
//! Every filter stays `Inexact`: DataFusion re-applies it to the rows, so this module may only
//! ever *over*-approximate what can match.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{expr::InList, expr::Like, BinaryExpr, Expr, Operator};
use trailql_decode::{schema::column, Column, Extra};
use trailql_layout::TimeWindow;

/// Columns filled from the file's key, not from the record.
pub fn is_partition_column(name: &str) -> bool {
    matches!(
        name,
        "account" | "region" | "timestamp" | "date" | "year" | "month" | "day" | "$path"
    )
}

/// Does `e` reference only partition columns (and at least one)?
pub fn only_partition_columns(e: &Expr) -> bool {
    let cols = e.column_refs();
    !cols.is_empty() && cols.iter().all(|c| is_partition_column(&c.name))
}

fn conjuncts(e: &Expr) -> Vec<&Expr> {
    datafusion::logical_expr::utils::split_conjunction(e)
}

fn strip_casts(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => strip_casts(&c.expr),
        Expr::TryCast(c) => strip_casts(&c.expr),
        Expr::Alias(a) => strip_casts(&a.expr),
        other => other,
    }
}

fn is_column(e: &Expr, name: &str) -> bool {
    matches!(strip_casts(e), Expr::Column(c) if c.name == name)
}

/// `eventtime` as a string, or `from_iso8601_timestamp(eventtime)` as a time.
enum TimeOperand {
    Str,
    Time,
}

fn time_operand(e: &Expr) -> Option<TimeOperand> {
    match strip_casts(e) {
        Expr::Column(c) if c.name == "eventtime" => Some(TimeOperand::Str),
        Expr::ScalarFunction(f)
            if f.name() == "from_iso8601_timestamp"
                && f.args.len() == 1
                && is_column(&f.args[0], "eventtime") =>
        {
            Some(TimeOperand::Time)
        }
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match strip_casts(e) {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

fn scalar_str(v: &ScalarValue) -> Option<&str> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s),
        _ => None,
    }
}

fn scalar_time(v: &ScalarValue) -> Option<DateTime<Utc>> {
    let ns = match v {
        ScalarValue::TimestampSecond(Some(x), _) => x.checked_mul(1_000_000_000)?,
        ScalarValue::TimestampMillisecond(Some(x), _) => x.checked_mul(1_000_000)?,
        ScalarValue::TimestampMicrosecond(Some(x), _) => x.checked_mul(1_000)?,
        ScalarValue::TimestampNanosecond(Some(x), _) => *x,
        _ => return None,
    };
    Some(Utc.timestamp_nanos(ns))
}

/// The earliest time whose ISO string (`YYYY-MM-DDTHH:MM:SSZ`) sorts at or after `prefix`.
fn iso_prefix_floor(prefix: &str) -> Option<DateTime<Utc>> {
    const TEMPLATE: &str = "0000-01-01T00:00:00";
    let p = prefix.trim_end_matches('Z');
    if p.len() < 4 || p.len() > TEMPLATE.len() || !p.is_char_boundary(p.len()) {
        // Longer strings carry fractions: parse them directly.
        return DateTime::parse_from_rfc3339(prefix)
            .ok()
            .map(|t| t.with_timezone(&Utc));
    }
    // The prefix must have the template's shape: digits where digits go, separators equal.
    for (a, b) in p.bytes().zip(TEMPLATE.bytes()) {
        if b.is_ascii_digit() != a.is_ascii_digit() || (!b.is_ascii_digit() && a != b) {
            return None;
        }
    }
    let mut full = p.to_string();
    full.push_str(&TEMPLATE[p.len()..]);
    // Month/day "00" from a short prefix like "2024-0" would not parse: round up to 01.
    let full = full.replace("-00", "-01");
    NaiveDateTime::parse_from_str(&full, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| Utc.from_utc_datetime(&t))
}

fn flip(op: Operator) -> Option<Operator> {
    Some(match op {
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Eq => Operator::Eq,
        _ => return None,
    })
}

fn bound(operand: TimeOperand, op: Operator, v: &ScalarValue) -> Option<TimeWindow> {
    let t = match operand {
        TimeOperand::Str => iso_prefix_floor(scalar_str(v)?)?,
        TimeOperand::Time => scalar_time(v)?,
    };
    let (start, end) = match op {
        Operator::Gt | Operator::GtEq => (Some(t), None),
        // `eventtime < '2024-08-02'` and `<=` both end before 2024-08-02T00:00:00 (for a date
        // prefix); for a full time `<=` includes it. Either way `t` is a safe inclusive end.
        Operator::Lt | Operator::LtEq => (None, Some(t)),
        Operator::Eq => (Some(t), Some(t + Duration::seconds(1))),
        _ => return None,
    };
    Some(TimeWindow { start, end })
}

/// The `eventtime` window implied by the conjunction of `filters`.
pub fn time_window(filters: &[Expr]) -> TimeWindow {
    let mut w = TimeWindow::ALL;
    for f in filters {
        for c in conjuncts(f) {
            let found = match c {
                Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                    if let (Some(o), Some(v)) = (time_operand(left), literal(right)) {
                        bound(o, *op, v)
                    } else if let (Some(v), Some(o), Some(op)) =
                        (literal(left), time_operand(right), flip(*op))
                    {
                        bound(o, op, v)
                    } else {
                        None
                    }
                }
                Expr::Between(b) if !b.negated => time_operand(&b.expr).and_then(|o| {
                    let lo = bound(
                        match o {
                            TimeOperand::Str => TimeOperand::Str,
                            TimeOperand::Time => TimeOperand::Time,
                        },
                        Operator::GtEq,
                        literal(&b.low)?,
                    )?;
                    let hi = bound(o, Operator::LtEq, literal(&b.high)?)?;
                    Some(lo.intersect(hi))
                }),
                _ => None,
            };
            if let Some(found) = found {
                w = w.intersect(found);
            }
        }
    }
    w
}

/// Is `e` a value taken verbatim from the record's JSON text (a record column, a struct field of
/// one, or `json_extract_scalar` of one)?
fn from_record_text(e: &Expr) -> bool {
    match e {
        Expr::Column(c) => !is_partition_column(&c.name),
        Expr::ScalarFunction(f) if f.name() == "get_field" => {
            f.args.first().is_some_and(from_record_text)
        }
        // json_format writes the record's own values: a literal it contains is in the record.
        Expr::ScalarFunction(f)
            if f.name() == "json_extract_scalar" || f.name() == "json_format" =>
        {
            f.args.first().is_some_and(from_record_text)
        }
        _ => false,
    }
}

/// The longest run of literal characters in a LIKE pattern.
fn like_fragment(pattern: &str) -> Option<String> {
    pattern
        .split(['%', '_'])
        .max_by_key(|s| s.len())
        .filter(|s| s.len() >= 2)
        .map(str::to_string)
}

/// Literal groups that every matching record must contain (one literal of each group).
fn required(e: &Expr) -> Vec<Vec<String>> {
    match e {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            let mut g = required(left);
            g.extend(required(right));
            g
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            // Each side must supply one group; their union is required.
            match (
                required(left).into_iter().next(),
                required(right).into_iter().next(),
            ) {
                (Some(mut a), Some(b)) => {
                    a.extend(b);
                    vec![a]
                }
                _ => vec![],
            }
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            let (col, lit) = if literal(right).is_some() {
                (left, right)
            } else {
                (right, left)
            };
            match literal(lit).and_then(scalar_str) {
                Some(s) if from_record_text(col) && !s.is_empty() => vec![vec![s.to_string()]],
                _ => vec![],
            }
        }
        Expr::Like(Like {
            negated: false,
            expr,
            pattern,
            escape_char: None,
            case_insensitive: false,
        }) if from_record_text(expr) => match literal(pattern)
            .and_then(scalar_str)
            .and_then(like_fragment)
        {
            Some(f) => vec![vec![f]],
            None => vec![],
        },
        Expr::InList(InList {
            expr,
            list,
            negated: false,
        }) if from_record_text(expr) => {
            let lits: Option<Vec<String>> = list
                .iter()
                .map(|l| literal(l).and_then(scalar_str).map(str::to_string))
                .collect();
            match lits {
                Some(l) if !l.is_empty() && l.iter().all(|s| !s.is_empty()) => vec![l],
                _ => vec![],
            }
        }
        _ => vec![],
    }
}

/// Literal groups required by all filters.
pub fn required_literals(filters: &[Expr]) -> Vec<Vec<String>> {
    filters.iter().flat_map(required).collect()
}

/// The values a key-derived column can take under the filters (`col = 'x'`, `col IN (…)`,
/// intersected over the conjunction); `None` when the filters do not restrict it. Used to list
/// only the wanted accounts' and regions' prefixes.
pub fn partition_values(filters: &[Expr], name: &str) -> Option<BTreeSet<String>> {
    let mut out: Option<BTreeSet<String>> = None;
    for f in filters {
        for c in conjuncts(f) {
            let found: Option<BTreeSet<String>> = match c {
                Expr::BinaryExpr(BinaryExpr {
                    left,
                    op: Operator::Eq,
                    right,
                }) => {
                    let v = if is_column(left, name) {
                        literal(right)
                    } else if is_column(right, name) {
                        literal(left)
                    } else {
                        None
                    };
                    v.and_then(scalar_str).map(|s| [s.to_string()].into())
                }
                Expr::InList(InList {
                    expr,
                    list,
                    negated: false,
                }) if is_column(expr, name) => list
                    .iter()
                    .map(|e| literal(e).and_then(scalar_str).map(str::to_string))
                    .collect(),
                _ => None,
            };
            if let Some(found) = found {
                out = Some(match out {
                    Some(prev) => prev.intersection(&found).cloned().collect(),
                    None => found,
                });
            }
        }
    }
    out
}

/// Columns the table can fill from a file's key (for per-file filter evaluation).
pub fn partition_extra(name: &str) -> Option<Extra> {
    let schema = trailql_decode::table_schema();
    let i = schema.index_of(name).ok()?;
    match column(i) {
        Column::Extra(e) if is_partition_column(name) => Some(e),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn string_windows() {
        let w = time_window(&[col("eventtime")
            .gt_eq(lit("2024-08-01"))
            .and(col("eventtime").lt(lit("2024-08-02")))]);
        assert_eq!(w.start, Some(t("2024-08-01T00:00:00Z")));
        assert_eq!(w.end, Some(t("2024-08-02T00:00:00Z")));
        let w = time_window(&[lit("2024-08-01T10:30:00Z").lt_eq(col("eventtime"))]);
        assert_eq!(w.start, Some(t("2024-08-01T10:30:00Z")));
        let w = time_window(&[col("eventtime").gt(lit("not a time"))]);
        assert!(w.is_unbounded());
        let w = time_window(&[col("eventtime").between(lit("2024-08"), lit("2024-09-01T12"))]);
        assert_eq!(w.start, Some(t("2024-08-01T00:00:00Z")));
        assert_eq!(w.end, Some(t("2024-09-01T12:00:00Z")));
    }

    #[test]
    fn literal_groups() {
        let f = col("eventname")
            .eq(lit("AuthorizeSecurityGroupIngress"))
            .and(col("requestparameters").like(lit("%0.0.0.0/0%")));
        assert_eq!(
            required_literals(&[f]),
            vec![
                vec!["AuthorizeSecurityGroupIngress".to_string()],
                vec!["0.0.0.0/0".to_string()]
            ]
        );
        let f = col("eventname")
            .eq(lit("A"))
            .or(col("eventname").eq(lit("B")));
        assert_eq!(
            required_literals(&[f]),
            vec![vec!["A".to_string(), "B".to_string()]]
        );
        // Partition columns are not in the record text; OR with an unconstrained side requires nothing.
        assert!(required_literals(&[col("account").eq(lit("123"))]).is_empty());
        let f = col("eventname").eq(lit("A")).or(col("errorcode").is_null());
        assert!(required_literals(&[f]).is_empty());
        assert!(required_literals(&[col("eventname").not_like(lit("%x%"))]).is_empty());
    }

    #[test]
    fn partition_value_sets() {
        let f = [
            col("account").eq(lit("111122223333")),
            col("region")
                .in_list(vec![lit("us-east-1"), lit("eu-west-1")], false)
                .and(col("region").eq(lit("eu-west-1"))),
        ];
        assert_eq!(
            partition_values(&f, "account"),
            Some(["111122223333".to_string()].into())
        );
        assert_eq!(
            partition_values(&f, "region"),
            Some(["eu-west-1".to_string()].into())
        );
        let open = [col("account").eq(lit("1")).or(col("account").eq(lit("2")))];
        assert_eq!(partition_values(&open, "account"), None);
        assert_eq!(partition_values(&f, "year"), None);
    }

    #[test]
    fn partition_columns() {
        assert!(only_partition_columns(
            &col("account").eq(lit("1")).and(col("region").eq(lit("x")))
        ));
        assert!(!only_partition_columns(
            &col("account").eq(col("recipientaccountid"))
        ));
        assert_eq!(partition_extra("timestamp"), Some(Extra::Timestamp));
        assert_eq!(partition_extra("eventjson"), None);
    }
}
