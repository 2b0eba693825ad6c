//! Trino date/time semantics, pure chrono: ISO 8601 parsing, MySQL-style formats, unit math.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// `from_iso8601_timestamp`: `2023-07-19T21:17:28Z`, with optional fraction and offset, a
/// date alone, or the basic form `20131102T010628Z`. No zone means UTC (the session zone).
pub fn parse_iso8601(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M%#z",
        "%Y%m%dT%H%M%S%#z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H",
        "%Y%m%dT%H%M%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    parse_iso8601_date(naive)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
}

/// `from_iso8601_date`: `2023-07-19` (also `2023-07`, `2023`).
pub fn parse_iso8601_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d"))
        .or_else(|_| NaiveDate::parse_from_str(&format!("{s}-01-01"), "%Y-%m-%d"))
        .ok()
}

/// Translate a MySQL-style format (`date_parse`, `date_format`) to chrono's.
pub fn mysql_to_chrono(fmt: &str) -> Result<String, String> {
    let mut out = String::with_capacity(fmt.len() + 8);
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            return Err(format!("format {fmt:?} ends with a lone %"));
        };
        let rep = match spec {
            'Y' => "%Y",
            'y' => "%y",
            'm' => "%m",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'H' => "%H",
            'k' => "%-H",
            'h' | 'I' => "%I",
            'l' => "%-I",
            'i' => "%M",
            's' | 'S' => "%S",
            'f' => "%6f",
            'p' => "%p",
            'T' => "%H:%M:%S",
            'r' => "%I:%M:%S %p",
            'M' => "%B",
            'b' => "%b",
            'W' => "%A",
            'a' => "%a",
            'j' => "%j",
            '%' => "%%",
            'D' | 'U' | 'u' | 'V' | 'w' | 'X' | 'x' | 'v' => {
                return Err(format!(
                    "format specifier %{spec} is not supported (as in Trino)"
                ))
            }
            other => return Err(format!("unknown format specifier %{other} in {fmt:?}")),
        };
        out.push_str(rep);
    }
    Ok(out)
}

/// `date_parse(string, format)`: a timestamp without zone (taken as UTC here).
pub fn date_parse(s: &str, chrono_fmt: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, chrono_fmt)
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, chrono_fmt)
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// Units of `date_add` / `date_diff` / `date_trunc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

pub fn parse_unit(s: &str) -> Result<Unit, String> {
    Ok(match s.trim().to_ascii_lowercase().trim_end_matches('s') {
        "millisecond" => Unit::Millisecond,
        "second" => Unit::Second,
        "minute" => Unit::Minute,
        "hour" => Unit::Hour,
        "day" => Unit::Day,
        "week" => Unit::Week,
        "month" => Unit::Month,
        "quarter" => Unit::Quarter,
        "year" => Unit::Year,
        _ => {
            return Err(format!(
                "unknown unit {s:?}: use millisecond, second, minute, hour, day, week, month, quarter or year"
            ))
        }
    })
}

/// `date_add(unit, value, ts)` on UTC milliseconds.
pub fn add(unit: Unit, n: i64, ms: i64) -> Option<i64> {
    let t = Utc.timestamp_millis_opt(ms).single()?;
    let fixed = |d: Duration| t.checked_add_signed(d);
    let months = |m: i64| {
        if m >= 0 {
            t.checked_add_months(Months::new(u32::try_from(m).ok()?))
        } else {
            t.checked_sub_months(Months::new(u32::try_from(-m).ok()?))
        }
    };
    let r = match unit {
        Unit::Millisecond => fixed(Duration::milliseconds(n)),
        Unit::Second => fixed(Duration::try_seconds(n)?),
        Unit::Minute => fixed(Duration::try_minutes(n)?),
        Unit::Hour => fixed(Duration::try_hours(n)?),
        Unit::Day => fixed(Duration::try_days(n)?),
        Unit::Week => fixed(Duration::try_weeks(n)?),
        Unit::Month => months(n),
        Unit::Quarter => months(n.checked_mul(3)?),
        Unit::Year => months(n.checked_mul(12)?),
    }?;
    Some(r.timestamp_millis())
}

/// `date_diff(unit, a, b)`: whole units from `a` to `b` (truncated toward zero).
pub fn diff(unit: Unit, a_ms: i64, b_ms: i64) -> Option<i64> {
    let d = b_ms - a_ms;
    let fixed = |per: i64| Some(d / per);
    match unit {
        Unit::Millisecond => Some(d),
        Unit::Second => fixed(1_000),
        Unit::Minute => fixed(60_000),
        Unit::Hour => fixed(3_600_000),
        Unit::Day => fixed(86_400_000),
        Unit::Week => fixed(7 * 86_400_000),
        Unit::Month | Unit::Quarter | Unit::Year => {
            let a = Utc.timestamp_millis_opt(a_ms).single()?;
            let b = Utc.timestamp_millis_opt(b_ms).single()?;
            let mut months =
                (b.year() as i64 - a.year() as i64) * 12 + b.month() as i64 - a.month() as i64;
            // Not a whole month yet if b's day/time-of-month is before a's.
            let a_rest = a.timestamp_millis() - a.with_day(1)?.timestamp_millis();
            let b_rest = b.timestamp_millis() - b.with_day(1)?.timestamp_millis();
            if months > 0 && b_rest < a_rest {
                months -= 1;
            } else if months < 0 && b_rest > a_rest {
                months += 1;
            }
            Some(match unit {
                Unit::Month => months,
                Unit::Quarter => months / 3,
                _ => months / 12,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        parse_iso8601(s).unwrap().timestamp_millis()
    }

    #[test]
    fn iso8601_forms() {
        let want = ms("2023-07-19T21:17:28Z");
        assert_eq!(ms("2023-07-19T21:17:28.000Z"), want);
        assert_eq!(ms("2023-07-19T23:17:28+02:00"), want);
        assert_eq!(ms("2023-07-19T21:17:28"), want);
        assert_eq!(ms("20230719T211728Z"), want);
        assert_eq!(ms("2023-07-19"), ms("2023-07-19T00:00:00Z"));
        assert!(parse_iso8601("yesterday").is_none());
    }

    #[test]
    fn mysql_formats() {
        let f = mysql_to_chrono("%Y-%m-%dT%H:%i:%sZ").unwrap();
        let t = date_parse("2023-07-19T21:17:28Z", &f).unwrap();
        assert_eq!(t.and_utc().timestamp_millis(), ms("2023-07-19T21:17:28Z"));
        assert_eq!(mysql_to_chrono("%Y/%m/%d").unwrap(), "%Y/%m/%d");
        assert!(mysql_to_chrono("%D").is_err());
    }

    #[test]
    fn unit_math() {
        let a = ms("2024-01-31T10:00:00Z");
        assert_eq!(add(Unit::Day, 1, a), Some(ms("2024-02-01T10:00:00Z")));
        assert_eq!(add(Unit::Month, 1, a), Some(ms("2024-02-29T10:00:00Z")));
        assert_eq!(add(Unit::Hour, -11, a), Some(ms("2024-01-30T23:00:00Z")));
        assert_eq!(diff(Unit::Second, a, a + 90_500), Some(90));
        assert_eq!(diff(Unit::Day, a, ms("2024-02-02T09:59:59Z")), Some(1));
        assert_eq!(
            diff(
                Unit::Month,
                ms("2024-01-15T00:00:00Z"),
                ms("2024-03-14T00:00:00Z")
            ),
            Some(1)
        );
        assert_eq!(
            diff(
                Unit::Month,
                ms("2024-01-15T00:00:00Z"),
                ms("2024-03-15T00:00:00Z")
            ),
            Some(2)
        );
        assert_eq!(
            diff(
                Unit::Year,
                ms("2020-06-01T00:00:00Z"),
                ms("2024-05-31T00:00:00Z")
            ),
            Some(3)
        );
        assert_eq!(parse_unit("Days").unwrap(), Unit::Day);
        assert!(parse_unit("fortnight").is_err());
    }
}

/// What a Joda pattern is converted for: parsing accepts numbers without padding, formatting
/// writes them as the pattern's width says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joda {
    Parse,
    Format,
}

/// A Joda-Time pattern (Trino's `parse_datetime` / `format_datetime`: `yyyy-MM-dd'T'HH:mm:ss.SSSZ`)
/// as a chrono format string.
pub fn joda_to_chrono(pattern: &str, mode: Joda) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // 'literal', with '' for a quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            let mut j = i + 1;
            while j < chars.len() {
                if chars[j] == '\'' {
                    if chars.get(j + 1) == Some(&'\'') {
                        out.push('\'');
                        j += 2;
                        continue;
                    }
                    break;
                }
                push_literal(&mut out, chars[j]);
                j += 1;
            }
            if j >= chars.len() {
                return Err(format!("unclosed quote in the Joda pattern {pattern:?}"));
            }
            i = j + 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let pad = |short: &str, long: &str| -> String {
            if run >= 2 || mode == Joda::Parse {
                long.to_string()
            } else {
                short.to_string()
            }
        };
        let spec = match c {
            'y' | 'Y' | 'u' => {
                if run == 2 {
                    "%y".into()
                } else {
                    "%Y".into()
                }
            }
            'x' => "%G".into(),
            'w' => pad("%-V", "%V"),
            'M' => match run {
                1 | 2 => pad("%-m", "%m"),
                3 => "%b".into(),
                _ => "%B".into(),
            },
            'd' => pad("%-d", "%d"),
            'D' => "%j".into(),
            'e' => "%u".into(),
            'E' => {
                if run >= 4 {
                    "%A".into()
                } else {
                    "%a".into()
                }
            }
            'a' => "%p".into(),
            'H' => pad("%-H", "%H"),
            'k' => pad("%-H", "%H"),
            'h' | 'K' => pad("%-I", "%I"),
            'm' => pad("%-M", "%M"),
            's' => pad("%-S", "%S"),
            'S' => match run {
                1..=3 => "%3f".into(),
                4..=6 => "%6f".into(),
                _ => "%9f".into(),
            },
            'Z' => {
                if run == 1 {
                    "%z".into()
                } else {
                    "%:z".into()
                }
            }
            'z' => "%Z".into(),
            c if c.is_ascii_alphabetic() => {
                return Err(format!(
                    "the Joda pattern letter {c:?} in {pattern:?} is not supported"
                ))
            }
            c => {
                for _ in 0..run {
                    push_literal(&mut out, c);
                }
                i += run;
                continue;
            }
        };
        out.push_str(&spec);
        i += run;
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod joda_tests {
    use super::*;

    #[test]
    fn joda_patterns() {
        assert_eq!(
            joda_to_chrono("yyyy-MM-dd'T'HH:mm:ss.SSSZ", Joda::Format).unwrap(),
            "%Y-%m-%dT%H:%M:%S.%3f%z"
        );
        assert_eq!(
            joda_to_chrono("d MMM yy h:mm a", Joda::Format).unwrap(),
            "%-d %b %y %-I:%M %p"
        );
        assert_eq!(joda_to_chrono("d/M/yyyy", Joda::Parse).unwrap(), "%d/%m/%Y");
        assert_eq!(
            joda_to_chrono("'it''s' 100%", Joda::Format).unwrap(),
            "it's 100%%"
        );
        assert!(joda_to_chrono("yyyy q", Joda::Format).is_err());
        assert!(joda_to_chrono("'open", Joda::Format).is_err());
    }
}
