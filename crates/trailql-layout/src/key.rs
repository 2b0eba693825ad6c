//! The CloudTrail S3 key grammar.
//!
//! ```text
//! [prefix/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz
//! [prefix/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOME_YYYYMMDDTHHmmssZ.json.gz
//! ```
//!
//! A key (or a local path, which is treated the same way) is classified into a [`KeyKind`]: a trail
//! log file whose account, region and delivery time are known from the key; a file that is part of
//! the AWSLogs tree but is not a trail log file (digests, Insights, Config…); or a JSON file outside
//! the layout that may still hold `{"Records":[…]}`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// What the key layout says about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// A trail log file in the delivery layout.
    TrailLog(TrailKey),
    /// Part of the AWSLogs tree but not a trail log file; never parsed as events.
    NotEvents(SkipReason),
    /// A `.json` / `.json.gz` file outside the layout: read it, and keep it if it holds `Records`.
    LooseJson,
    /// Not JSON at all by name (README, `.txt`, …).
    Other,
}

/// Why a file in the tree is not read as events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// `CloudTrail-Digest/`: integrity digests (see `trailql validate`).
    Digest,
    /// `CloudTrail-Insight/`: Insights events, a different record shape.
    Insight,
    /// AWS Config history/snapshot files delivered to the same bucket.
    Config,
    /// Another service folder under `AWSLogs/<account>/` (e.g. `CloudTrail-NetworkActivity`,
    /// `CloudTrail-Aggregated`, `elasticloadbalancing`).
    OtherService,
    /// Files CloudTrail writes to check bucket access (`ConfigWritabilityCheckFile`, …).
    NotJson,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Digest => "digest",
            SkipReason::Insight => "insight",
            SkipReason::Config => "config",
            SkipReason::OtherService => "other-service",
            SkipReason::NotJson => "not-json",
        }
    }
}

/// Account, region and delivery time of a trail log file, from its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailKey {
    /// `o-xxxxxxxxxx` for organization trails.
    pub org_id: Option<String>,
    pub account: String,
    pub region: String,
    /// The `YYYY/MM/DD` folder: the UTC day the file was delivered.
    pub date: NaiveDate,
    /// Delivery time from the file name (minute precision), when the name follows the format.
    pub delivered: Option<DateTime<Utc>>,
}

impl TrailKey {
    /// Athena's projection partition value `yyyy/MM/dd`.
    pub fn timestamp_partition(&self) -> String {
        self.date.format("%Y/%m/%d").to_string()
    }
}

/// Form decoding, as Java's `URLDecoder` and S3 event notifications' keys: `+` is a space,
/// `%XX` a byte; `None` for a broken escape or text that is not UTF-8 once decoded.
pub fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Classify a key or path (with `/` separators; a `\` is treated as `/`).
pub fn classify(key: &str) -> KeyKind {
    let key_owned;
    let key = if key.contains('\\') {
        key_owned = key.replace('\\', "/");
        key_owned.as_str()
    } else {
        key
    };
    let file_name = key.rsplit('/').next().unwrap_or(key);
    let lower_name = file_name.to_ascii_lowercase();
    let is_json = lower_name.ends_with(".json.gz") || lower_name.ends_with(".json");

    let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
    // Use the last AWSLogs component: prefixes may themselves contain anything.
    let Some(pos) = parts.iter().rposition(|p| *p == "AWSLogs") else {
        return if is_json {
            KeyKind::LooseJson
        } else {
            KeyKind::Other
        };
    };
    let mut rest = &parts[pos + 1..];
    let mut org_id = None;
    if let Some(first) = rest.first() {
        if first.starts_with("o-") {
            org_id = Some((*first).to_string());
            rest = &rest[1..];
        }
    }
    // rest = [ACCOUNT, SERVICE, REGION, YYYY, MM, DD, FILE]
    if rest.len() < 2 {
        return if is_json {
            KeyKind::LooseJson
        } else {
            KeyKind::Other
        };
    }
    let account = rest[0];
    let service = rest[1];
    match service {
        "CloudTrail" => {}
        "CloudTrail-Digest" => return KeyKind::NotEvents(SkipReason::Digest),
        "CloudTrail-Insight" => return KeyKind::NotEvents(SkipReason::Insight),
        "Config" => return KeyKind::NotEvents(SkipReason::Config),
        _ if !is_account_id(account) => {
            return if is_json {
                KeyKind::LooseJson
            } else {
                KeyKind::Other
            }
        }
        _ => return KeyKind::NotEvents(SkipReason::OtherService),
    }
    if !is_json {
        return KeyKind::NotEvents(SkipReason::NotJson);
    }
    if rest.len() != 7 {
        // Under CloudTrail/ but not at the expected depth: read it by content.
        return KeyKind::LooseJson;
    }
    let region = rest[2];
    let date = match (rest[3].parse(), rest[4].parse(), rest[5].parse()) {
        (Ok(y), Ok(m), Ok(d)) => NaiveDate::from_ymd_opt(y, m, d),
        _ => None,
    };
    let Some(date) = date else {
        return KeyKind::LooseJson;
    };
    KeyKind::TrailLog(TrailKey {
        org_id,
        account: account.to_string(),
        region: region.to_string(),
        date,
        delivered: delivery_time(file_name),
    })
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The `YYYYMMDDTHHmmZ` delivery time in `ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_ID.json.gz`.
pub fn delivery_time(file_name: &str) -> Option<DateTime<Utc>> {
    // Find the first `_dddddddd Tdddd Z` token; tolerate a missing `_` before the unique id.
    let b = file_name.as_bytes();
    let mut i = 0;
    while i + 14 <= b.len() {
        if b[i] == b'_'
            && i + 15 <= b.len()
            && b[i + 1..i + 9].iter().all(u8::is_ascii_digit)
            && b[i + 9] == b'T'
            && b[i + 10..i + 14].iter().all(u8::is_ascii_digit)
            && b[i + 14] == b'Z'
        {
            let s = &file_name[i + 1..i + 14];
            return NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M")
                .ok()
                .map(|t| Utc.from_utc_datetime(&t));
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trail_log_single_account() {
        let k = "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz";
        let KeyKind::TrailLog(t) = classify(k) else {
            panic!("not a trail log")
        };
        assert_eq!(t.org_id, None);
        assert_eq!(t.account, "111122223333");
        assert_eq!(t.region, "us-east-2");
        assert_eq!(t.timestamp_partition(), "2015/08/01");
        assert_eq!(
            t.delivered.unwrap().to_rfc3339(),
            "2015-08-01T02:10:00+00:00"
        );
    }

    #[test]
    fn org_trail_with_prefix_and_windows_separators() {
        let k = r"C:\logs\my-prefix\AWSLogs\o-abc12cdefg\123456789016\CloudTrail\us-east-1\2023\04\14\123456789016_CloudTrail_us-east-1_20230414T2355Z_abc.json.gz";
        let KeyKind::TrailLog(t) = classify(k) else {
            panic!("not a trail log")
        };
        assert_eq!(t.org_id.as_deref(), Some("o-abc12cdefg"));
        assert_eq!(t.account, "123456789016");
    }

    #[test]
    fn not_events() {
        assert_eq!(
            classify("AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_t_us-east-2_20150817T150131Z.json.gz"),
            KeyKind::NotEvents(SkipReason::Digest)
        );
        assert_eq!(
            classify("AWSLogs/111122223333/CloudTrail-Insight/us-east-2/2015/08/17/x.json.gz"),
            KeyKind::NotEvents(SkipReason::Insight)
        );
        assert_eq!(
            classify("AWSLogs/111122223333/Config/us-east-2/2015/8/17/ConfigHistory/x.json.gz"),
            KeyKind::NotEvents(SkipReason::Config)
        );
        assert_eq!(
            classify("AWSLogs/111122223333/CloudTrail/ConfigWritabilityCheckFile"),
            KeyKind::NotEvents(SkipReason::NotJson)
        );
        assert_eq!(classify("notes/readme.md"), KeyKind::Other);
        assert_eq!(classify("exports/events.json"), KeyKind::LooseJson);
    }

    #[test]
    fn delivery_time_tolerates_missing_separator() {
        let t = delivery_time(
            "123456789012_CloudTrail_us-west-1_20140620T1255ZHdkvFTXOA3Vnhbc.json.gz",
        );
        assert_eq!(t.unwrap().to_rfc3339(), "2014-06-20T12:55:00+00:00");
        assert_eq!(delivery_time("random.json.gz"), None);
    }
}
