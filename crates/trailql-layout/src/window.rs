//! Time pruning: which files can hold events of an `eventtime` window.
//!
//! A log file is named after the minute it was *delivered*; it holds events that happened before
//! that. So a file delivered before the window starts cannot hold an event of the window (exact),
//! and a file delivered long after the window ends normally does not — but CloudTrail does not
//! guarantee delivery time, so files delivered up to `late_margin` after the window's end are
//! still read.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::key::TrailKey;

/// Default allowance for late delivery: CloudTrail delivers within about 5 minutes on average,
/// with no guarantee. One hour keeps a one-day question at ~25 hours of files.
pub const DEFAULT_LATE_MARGIN: Duration = Duration::hours(1);

/// An `eventtime` window `[start, end]` (either side open), both inclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl TimeWindow {
    pub const ALL: TimeWindow = TimeWindow {
        start: None,
        end: None,
    };

    pub fn is_unbounded(&self) -> bool {
        self.start.is_none() && self.end.is_none()
    }

    /// Narrow to the intersection with `other`.
    pub fn intersect(self, other: TimeWindow) -> TimeWindow {
        let start = match (self.start, other.start) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let end = match (self.end, other.end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        TimeWindow { start, end }
    }

    /// Can a file with this key hold an event inside the window?
    ///
    /// `late_margin = None` means "any delay": only the exact lower bound prunes.
    pub fn may_contain(&self, key: &TrailKey, late_margin: Option<Duration>) -> bool {
        // The delivery minute, or the whole delivery day when the name has no time.
        let (first, last) = match key.delivered {
            Some(t) => (t, t + Duration::seconds(59)),
            None => day_bounds(key.date),
        };
        if let Some(start) = self.start {
            // Delivered (at the latest) before the window starts: only older events inside.
            if last < start {
                return false;
            }
        }
        if let (Some(end), Some(margin)) = (self.end, late_margin) {
            if first > end + margin {
                return false;
            }
        }
        true
    }
}

fn day_bounds(d: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = d.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    (start, start + Duration::seconds(86_399))
}

/// Parse a late margin such as `1h`, `90m`, `2d`, `3600s` or `none` (no upper pruning).
pub fn parse_late_margin(s: &str) -> Result<Option<Duration>, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("unbounded") {
        return Ok(None);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("invalid late margin {s:?}: expected e.g. 1h, 90m, 2d or none"))?;
    let d = match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" | "" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => {
            return Err(format!(
                "invalid late margin unit in {s:?}: use s, m, h or d (or none)"
            ))
        }
    };
    Ok(Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{classify, KeyKind};
    use chrono::TimeZone;

    fn key(name: &str) -> TrailKey {
        match classify(&format!(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/{name}"
        )) {
            KeyKind::TrailLog(k) => k,
            other => panic!("{other:?}"),
        }
    }

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 8, 1, h, m, s).unwrap()
    }

    #[test]
    fn lower_bound_is_exact_to_the_minute() {
        let k = key("111122223333_CloudTrail_us-east-1_20240801T1205Z_x.json.gz");
        let w = |start| TimeWindow {
            start: Some(start),
            end: None,
        };
        // An event at 12:05:30 may be in the 1205Z file.
        assert!(w(t(12, 5, 30)).may_contain(&k, Some(DEFAULT_LATE_MARGIN)));
        assert!(!w(t(12, 6, 0)).may_contain(&k, Some(DEFAULT_LATE_MARGIN)));
    }

    #[test]
    fn upper_bound_keeps_the_late_margin() {
        let k = key("111122223333_CloudTrail_us-east-1_20240801T1255Z_x.json.gz");
        let w = TimeWindow {
            start: None,
            end: Some(t(12, 0, 0)),
        };
        assert!(w.may_contain(&k, Some(Duration::hours(1))));
        assert!(!w.may_contain(&k, Some(Duration::minutes(30))));
        assert!(w.may_contain(&k, None));
    }

    #[test]
    fn margins_parse() {
        assert_eq!(
            parse_late_margin("90m").unwrap(),
            Some(Duration::minutes(90))
        );
        assert_eq!(parse_late_margin("2d").unwrap(), Some(Duration::days(2)));
        assert_eq!(parse_late_margin("none").unwrap(), None);
        assert!(parse_late_margin("2w").is_err());
    }
}
