//! What a listing of a trail bucket must enumerate for one question.
//!
//! A trail's keys are `PREFIX/AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/FILE`, and
//! inside one region folder they sort by delivery time (zero-padded day folders, then file names
//! that carry `YYYYMMDDTHHmmZ`). So a question needs, per wanted account and region, one listing
//! of the region folder that starts after the key of the first minute that can matter (S3
//! `start-after`) and stops at the first day folder past the window's end (plus the late-delivery
//! margin). [`TrailRoot`] says where in that grammar a user's `s3://bucket/prefix` points.

use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate, Timelike};

use crate::key::TrailKey;
use crate::window::TimeWindow;

/// The accounts, regions and time a question can touch.
#[derive(Debug, Clone, Default)]
pub struct ListScope {
    /// `None`: every account found.
    pub accounts: Option<BTreeSet<String>>,
    /// `None`: every region found.
    pub regions: Option<BTreeSet<String>>,
    pub window: TimeWindow,
    /// Allowance for late delivery after the window's end (`None`: any delay).
    pub late_margin: Option<Duration>,
}

impl ListScope {
    pub fn wants_account(&self, account: &str) -> bool {
        self.accounts.as_ref().is_none_or(|a| a.contains(account))
    }

    pub fn wants_region(&self, region: &str) -> bool {
        self.regions.as_ref().is_none_or(|r| r.contains(region))
    }

    /// The key to list a region folder (`region_prefix`, ending in `/`) after: the name of the
    /// first delivery minute whose file can hold an event at or after the window's start, minus
    /// its `Z`, so that minute's files (`…THHmmZ_ID.json.gz`) sort after it. Files in that day
    /// folder whose names do not follow CloudTrail's pattern may sort before it and be missed;
    /// CloudTrail itself always writes the pattern.
    pub fn start_after(&self, region_prefix: &str, account: &str, region: &str) -> Option<String> {
        let start = self.window.start?;
        let minute = start.with_second(0)?.with_nanosecond(0)?;
        Some(format!(
            "{region_prefix}{}/{account}_CloudTrail_{region}_{}",
            minute.format("%Y/%m/%d"),
            minute.format("%Y%m%dT%H%M")
        ))
    }

    /// The last delivery day whose folder can hold an event of the window (`None`: no end).
    pub fn last_day(&self) -> Option<NaiveDate> {
        let end = self.window.end? + self.late_margin?;
        Some(end.date_naive())
    }

    /// Was this file delivered after the last minute that can hold an event of the window?
    /// Files of one region folder sort by delivery time, so a listing can stop at the first.
    pub fn beyond(&self, key: &TrailKey) -> bool {
        let (Some(end), Some(margin)) = (self.window.end, self.late_margin) else {
            return false;
        };
        match key.delivered {
            Some(t) => t > end + margin,
            None => key.date > (end + margin).date_naive(),
        }
    }

    /// Can a file under this folder matter? Decided from the folder's place in the
    /// `AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD` grammar (its path components, in
    /// order): a folder of an account or region the question leaves out, or of days wholly before
    /// the window's first day or after its last delivery day, is not needed. Folders outside the
    /// grammar are.
    pub fn wants_folder(&self, components: &[&str]) -> bool {
        let Some(c) = components.iter().rposition(|p| *p == "CloudTrail") else {
            return true;
        };
        let under_awslogs = match c {
            0 | 1 => false,
            _ if components[c - 2] == "AWSLogs" => true,
            _ => c >= 3 && components[c - 3] == "AWSLogs" && components[c - 2].starts_with("o-"),
        };
        if !under_awslogs {
            return true;
        }
        if !self.wants_account(components[c - 1]) {
            return false;
        }
        let rest = &components[c + 1..];
        if rest
            .first()
            .is_some_and(|region| !self.wants_region(region))
        {
            return false;
        }
        let Some((first, last)) = folder_days(rest.get(1..).unwrap_or(&[])) else {
            return true;
        };
        let before = self
            .window
            .start
            .is_some_and(|start| last < start.date_naive());
        let after = self.last_day().is_some_and(|end| first > end);
        !(before || after)
    }

    /// Is a key of a region folder (`YYYY/MM/DD/…` after `region_prefix`) past the last day?
    /// Keys sort by day, so a listing can stop at the first such key.
    pub fn past_end(&self, region_prefix: &str, key: &str) -> bool {
        let Some(last) = self.last_day() else {
            return false;
        };
        let Some(rest) = key.strip_prefix(region_prefix) else {
            return false;
        };
        let mut parts = rest.splitn(4, '/');
        let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        match (y.parse(), m.parse(), d.parse()) {
            (Ok(y), Ok(m), Ok(d)) => NaiveDate::from_ymd_opt(y, m, d).is_some_and(|day| day > last),
            _ => false,
        }
    }
}

/// The days a `YYYY[/MM[/DD]]` folder path covers (`None`: not such a path, or no date part).
pub fn folder_days(parts: &[&str]) -> Option<(NaiveDate, NaiveDate)> {
    let num = |i: usize| -> Option<u32> {
        let p = parts.get(i)?;
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse().ok())?
    };
    let year = i32::try_from(num(0)?).ok()?;
    let first_of = |m: u32| NaiveDate::from_ymd_opt(year, m, 1);
    match (num(1), num(2)) {
        (None, _) => Some((first_of(1)?, NaiveDate::from_ymd_opt(year, 12, 31)?)),
        (Some(m), None) => {
            let first = first_of(m)?;
            let next = first.checked_add_months(chrono::Months::new(1))?;
            Some((first, next.pred_opt()?))
        }
        (Some(m), Some(d)) => {
            let day = NaiveDate::from_ymd_opt(year, m, d)?;
            Some((day, day))
        }
    }
}

/// Where a source prefix points in the `AWSLogs/` grammar. Every `base` ends with `/` (or is
/// empty for a bucket's root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrailRoot {
    /// Above `AWSLogs/`: the bucket root or the trail's own prefix.
    Above { base: String },
    /// `…/AWSLogs/`: children are organization ids and account ids.
    AwsLogs { base: String },
    /// `…/AWSLogs/o-xxxx/`: children are account ids.
    Org { base: String },
    /// `…/ACCOUNT/` or `…/ACCOUNT/CloudTrail/`: `base` is the `CloudTrail/` folder.
    Account { base: String, account: String },
    /// `…/CloudTrail/REGION/`.
    Region {
        base: String,
        account: String,
        region: String,
    },
    /// Anywhere else (inside a region, another service, a folder of exports): list everything
    /// under it and classify each key.
    Flat { base: String },
}

impl TrailRoot {
    /// Read a prefix (no bucket, no leading `/`).
    pub fn parse(prefix: &str) -> TrailRoot {
        let parts: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
        let join = |n: usize| -> String {
            parts[..n]
                .iter()
                .map(|p| format!("{p}/"))
                .collect::<String>()
        };
        let Some(pos) = parts.iter().rposition(|p| *p == "AWSLogs") else {
            return TrailRoot::Above {
                base: join(parts.len()),
            };
        };
        let mut i = pos + 1;
        if i == parts.len() {
            return TrailRoot::AwsLogs { base: join(i) };
        }
        if parts[i].starts_with("o-") {
            i += 1;
            if i == parts.len() {
                return TrailRoot::Org { base: join(i) };
            }
        }
        let account = parts[i].to_string();
        let rest = &parts[i + 1..];
        match rest {
            [] => TrailRoot::Account {
                base: format!("{}CloudTrail/", join(i + 1)),
                account,
            },
            ["CloudTrail"] => TrailRoot::Account {
                base: join(i + 2),
                account,
            },
            ["CloudTrail", region] => TrailRoot::Region {
                base: join(i + 3),
                account,
                region: region.to_string(),
            },
            _ => TrailRoot::Flat {
                base: join(parts.len()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn folders_out_of_scope_are_not_walked() {
        let scope = ListScope {
            accounts: Some(["111122223333".to_string()].into()),
            regions: None,
            window: TimeWindow {
                start: Some(t("2024-08-02T10:00:00Z")),
                end: Some(t("2024-08-02T23:30:00Z")),
            },
            late_margin: Some(Duration::hours(1)),
        };
        let wants = |p: &str| scope.wants_folder(&p.split('/').collect::<Vec<_>>());
        let region = "data/AWSLogs/111122223333/CloudTrail/us-east-1";
        for (folder, want) in [
            ("data", true),
            ("data/AWSLogs/111122223333", true),
            ("data/AWSLogs/999999999999/CloudTrail", false),
            (
                "data/AWSLogs/o-abc/999999999999/CloudTrail/eu-west-1",
                false,
            ),
            (
                "data/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/08/01",
                true,
            ),
            (region, true),
            (&format!("{region}/2023"), false),
            (&format!("{region}/2024"), true),
            (&format!("{region}/2024/07"), false),
            (&format!("{region}/2024/08"), true),
            (&format!("{region}/2024/08/01"), false),
            (&format!("{region}/2024/08/02"), true),
            // The end plus the late margin is past midnight: the next day's files may hold it.
            (&format!("{region}/2024/08/03"), true),
            (&format!("{region}/2024/08/04"), false),
            (&format!("{region}/2024/09"), false),
            (&format!("{region}/2024/08/xx"), true),
            // A user's own folder named CloudTrail above the trail is not the grammar's.
            ("CloudTrail/2019", true),
        ] {
            assert_eq!(wants(folder), want, "{folder}");
        }
        let open = ListScope::default();
        assert!(open.wants_folder(&["AWSLogs", "1", "CloudTrail", "r", "1999"]));
    }

    #[test]
    fn roots() {
        assert_eq!(TrailRoot::parse(""), TrailRoot::Above { base: "".into() });
        assert_eq!(
            TrailRoot::parse("trails/prod/"),
            TrailRoot::Above {
                base: "trails/prod/".into()
            }
        );
        assert_eq!(
            TrailRoot::parse("p/AWSLogs"),
            TrailRoot::AwsLogs {
                base: "p/AWSLogs/".into()
            }
        );
        assert_eq!(
            TrailRoot::parse("AWSLogs/o-abc123/"),
            TrailRoot::Org {
                base: "AWSLogs/o-abc123/".into()
            }
        );
        assert_eq!(
            TrailRoot::parse("AWSLogs/o-abc123/111122223333"),
            TrailRoot::Account {
                base: "AWSLogs/o-abc123/111122223333/CloudTrail/".into(),
                account: "111122223333".into()
            }
        );
        assert_eq!(
            TrailRoot::parse("AWSLogs/111122223333/CloudTrail/"),
            TrailRoot::Account {
                base: "AWSLogs/111122223333/CloudTrail/".into(),
                account: "111122223333".into()
            }
        );
        assert_eq!(
            TrailRoot::parse("AWSLogs/111122223333/CloudTrail/eu-west-1"),
            TrailRoot::Region {
                base: "AWSLogs/111122223333/CloudTrail/eu-west-1/".into(),
                account: "111122223333".into(),
                region: "eu-west-1".into()
            }
        );
        assert_eq!(
            TrailRoot::parse("AWSLogs/111122223333/CloudTrail/eu-west-1/2024/08"),
            TrailRoot::Flat {
                base: "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/08/".into()
            }
        );
    }

    #[test]
    fn start_after_and_end() {
        let scope = ListScope {
            window: TimeWindow {
                start: Some(t("2024-08-01T14:00:30Z")),
                end: Some(t("2024-08-01T23:30:00Z")),
            },
            late_margin: Some(Duration::hours(1)),
            ..ListScope::default()
        };
        let p = "AWSLogs/111122223333/CloudTrail/us-east-1/";
        let after = scope.start_after(p, "111122223333", "us-east-1").unwrap();
        assert_eq!(
            after,
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/111122223333_CloudTrail_us-east-1_20240801T1400"
        );
        // The 14:00 file sorts after the start key (it can hold 14:00:30); 13:55 sorts before.
        let file = |hm: &str, day: &str| {
            format!(
                "{p}2024/08/{day}/111122223333_CloudTrail_us-east-1_202408{day}T{hm}Z_x.json.gz"
            )
        };
        assert!(file("1400", "01") > after);
        assert!(file("1355", "01") < after);
        // Late delivery reaches into the next day; the day after is past the end.
        assert_eq!(scope.last_day(), NaiveDate::from_ymd_opt(2024, 8, 2));
        assert!(!scope.past_end(p, &file("0020", "02")));
        assert!(scope.past_end(p, &file("0000", "03")));
        let open = ListScope::default();
        assert!(open.start_after(p, "a", "r").is_none());
        assert!(!open.past_end(p, &file("0000", "03")));
        let only = ListScope {
            accounts: Some(["111122223333".to_string()].into()),
            ..ListScope::default()
        };
        assert!(only.wants_account("111122223333") && !only.wants_account("444455556666"));
        assert!(only.wants_region("any"));
    }
}
