//! The SQL each investigation runs over `cloudtrail_logs`. Shown in reports as "the exact query".
//!
//! Scope filters are written so the table can prune by key: the partition columns (`account`,
//! `region`) are tested alone (NULL for loose files outside the AWSLogs layout), the record's own
//! fields decide.

use crate::event::EVENT_COLUMNS;
use crate::sg::EVENT_NAMES;

/// Which part of the trail to look at.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub account: Option<String>,
    pub region: Option<String>,
    /// Inclusive, ISO 8601 (`2024-08-01` or `2024-08-01T10:00:00Z`).
    pub start: Option<String>,
    /// Exclusive.
    pub end: Option<String>,
}

/// A SQL string literal.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Check an ISO 8601 time bound typed by a user: `YYYY-MM-DD` optionally followed by `THH:MM[:SS]`
/// and `Z`.
pub fn check_time(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let date_ok = b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10);
    let rest_ok = b.len() == 10
        || (b.len() >= 16 && b[10] == b'T' && digits(11..13) && b[13] == b':' && digits(14..16));
    if date_ok && rest_ok && !s.contains('\'') {
        Ok(())
    } else {
        Err(format!(
            "time '{s}' is not ISO 8601: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC), e.g. 2024-08-01T14:00:00Z"
        ))
    }
}

impl Scope {
    /// The scope as a WHERE condition (`None` for the whole trail), written to prune by key.
    pub fn condition(&self) -> Option<String> {
        let c = self.conditions();
        (!c.is_empty()).then(|| c.join("\n  AND "))
    }

    fn conditions(&self) -> Vec<String> {
        let mut c = Vec::new();
        if let Some(a) = &self.account {
            c.push(format!(
                "(account = {q} OR account IS NULL) AND recipientaccountid = {q}",
                q = quote(a)
            ));
        }
        if let Some(r) = &self.region {
            c.push(format!(
                "(region = {q} OR region IS NULL) AND awsregion = {q}",
                q = quote(r)
            ));
        }
        if let Some(s) = &self.start {
            c.push(format!("eventtime >= {}", quote(s)));
        }
        if let Some(e) = &self.end {
            c.push(format!("eventtime < {}", quote(e)));
        }
        c
    }
}

fn select(mut conditions: Vec<String>, scope: &Scope) -> String {
    conditions.extend(scope.conditions());
    format!(
        "SELECT {EVENT_COLUMNS}\nFROM cloudtrail_logs\nWHERE {}\nORDER BY eventtime",
        conditions.join("\n  AND ")
    )
}

/// Every security-group rule change.
pub fn exposure_sql(scope: &Scope) -> String {
    let names: Vec<String> = EVENT_NAMES.iter().map(|n| quote(n)).collect();
    select(
        vec![
            "eventsource = 'ec2.amazonaws.com'".into(),
            format!("eventname IN ({})", names.join(", ")),
        ],
        scope,
    )
}

/// A LIKE pattern that matches any text containing `s` (`%` and `_` in `s` stay wildcards, so
/// this may match more; callers check the exact text afterwards).
fn contains_pattern(s: &str) -> String {
    quote(&format!("%{s}%"))
}

fn check_needle(what: &str, s: &str) -> Result<(), String> {
    if s.trim().len() < 3 || s.contains('\\') {
        return Err(format!(
            "{what} '{s}' is too short or contains a backslash: give an id, name or ARN of 3 or more characters"
        ));
    }
    Ok(())
}

/// Events whose request, response or resources mention `resource`.
pub fn history_sql(resource: &str, scope: &Scope) -> Result<String, String> {
    check_needle("resource", resource)?;
    let p = contains_pattern(resource);
    Ok(select(
        vec![format!(
            "(requestparameters LIKE {p} OR responseelements LIKE {p} OR json_format(resources) LIKE {p})"
        )],
        scope,
    ))
}

/// Events made by `principal`: a user name, user/role/session ARN, role name, access key id,
/// principal id or Identity Center user id.
pub fn activity_sql(principal: &str, scope: &Scope) -> Result<String, String> {
    check_needle("principal", principal)?;
    let q = quote(principal);
    let fields = [
        "useridentity.arn",
        "useridentity.username",
        "useridentity.accesskeyid",
        "useridentity.principalid",
        "useridentity.sessioncontext.sessionissuer.arn",
        "useridentity.sessioncontext.sessionissuer.username",
        "useridentity.onbehalfof.userid",
    ];
    let mut ors: Vec<String> = fields.iter().map(|f| format!("{f} = {q}")).collect();
    ors.push(format!(
        "useridentity.arn LIKE {}",
        quote(&format!("{principal}/%"))
    ));
    Ok(select(vec![format!("({})", ors.join(" OR "))], scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert!(check_time("2024-08-01").is_ok());
        assert!(check_time("2024-08-01T10:00:00Z").is_ok());
        assert!(check_time("2024-08-01T10:00").is_ok());
        assert!(check_time("yesterday").is_err());
        assert!(check_time("2024-08-01' OR 1=1 --").is_err());
    }

    #[test]
    fn quoting_and_needles() {
        assert_eq!(quote("o'brien"), "'o''brien'");
        assert!(history_sql("sg", &Scope::default()).is_err());
        assert!(history_sql("a\\b", &Scope::default()).is_err());
        let s = activity_sql("o'brien", &Scope::default()).unwrap();
        assert!(s.contains("useridentity.username = 'o''brien'"));
    }
}
