//! LookupEvents filters on at most one attribute per call. A query's filters can name several;
//! the most selective one is sent (one call per value for `IN (…)` lists), and the query still
//! applies every filter to the events that come back.

use std::fmt;

/// The attributes LookupEvents can filter on (`LookupAttributeKey`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    // In order of selectivity: the first that a query names is sent.
    EventId,
    AccessKeyId,
    ResourceName,
    Username,
    EventName,
    ResourceType,
    EventSource,
    ReadOnly,
}

impl Key {
    pub const ALL: [Key; 8] = [
        Key::EventId,
        Key::AccessKeyId,
        Key::ResourceName,
        Key::Username,
        Key::EventName,
        Key::ResourceType,
        Key::EventSource,
        Key::ReadOnly,
    ];

    /// The name the API takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Key::EventId => "EventId",
            Key::AccessKeyId => "AccessKeyId",
            Key::ResourceName => "ResourceName",
            Key::Username => "Username",
            Key::EventName => "EventName",
            Key::ResourceType => "ResourceType",
            Key::EventSource => "EventSource",
            Key::ReadOnly => "ReadOnly",
        }
    }

    /// The API's name, case-insensitively.
    pub fn parse(s: &str) -> Option<Key> {
        Key::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Most values of one attribute looked up one call sequence each; more and the window is read
/// whole (cheaper than many passes over it at two requests a second).
pub const MAX_VALUES: usize = 8;

/// One attribute and the values wanted (any of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub key: Key,
    pub values: Vec<String>,
}

impl Lookup {
    /// `Key=Value[,Value…]`, as `--lookup` takes it (e.g. `ResourceName=sg-0123`).
    pub fn parse(s: &str) -> Result<Lookup, String> {
        let names = Key::ALL.map(Key::as_str).join(", ");
        let Some((k, v)) = s.split_once('=') else {
            return Err(format!("--lookup {s}: write KEY=VALUE, KEY one of {names}"));
        };
        let key =
            Key::parse(k).ok_or_else(|| format!("--lookup {s}: '{k}' is not one of {names}"))?;
        let mut values: Vec<String> = v
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect();
        values.dedup();
        if values.is_empty() {
            return Err(format!("--lookup {s}: no value after '='"));
        }
        if values.len() > MAX_VALUES {
            return Err(format!(
                "--lookup {s}: at most {MAX_VALUES} values (each is its own pass over the window)"
            ));
        }
        Ok(Lookup { key, values })
    }

    /// The lookup to send among what a query's filters allow: the most selective key, and for
    /// it the fewest values; `None` when no candidate has between 1 and [`MAX_VALUES`] values.
    pub fn choose(candidates: impl IntoIterator<Item = Lookup>) -> Option<Lookup> {
        candidates
            .into_iter()
            .filter(|l| (1..=MAX_VALUES).contains(&l.values.len()))
            .min_by_key(|l| (l.key, l.values.len()))
    }
}

impl fmt::Display for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.values.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(key: Key, values: &[&str]) -> Lookup {
        Lookup {
            key,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn parses_key_value_lists() {
        assert_eq!(
            Lookup::parse("resourcename=sg-1, sg-2").unwrap(),
            l(Key::ResourceName, &["sg-1", "sg-2"])
        );
        assert!(Lookup::parse("EventName")
            .unwrap_err()
            .contains("write KEY=VALUE"));
        assert!(Lookup::parse("Region=x")
            .unwrap_err()
            .contains("'Region' is not one of EventId"));
        assert!(Lookup::parse("EventName=").is_err());
    }

    #[test]
    fn the_most_selective_candidate_is_sent() {
        let chosen = Lookup::choose([
            l(Key::EventName, &["RunInstances"]),
            l(Key::Username, &["alice", "bob"]),
            l(Key::ReadOnly, &["false"]),
        ]);
        assert_eq!(chosen, Some(l(Key::Username, &["alice", "bob"])));
        let many: Vec<String> = (0..=MAX_VALUES).map(|i| i.to_string()).collect();
        let too_many = Lookup {
            key: Key::EventId,
            values: many,
        };
        assert_eq!(
            Lookup::choose([too_many, l(Key::EventSource, &["s3.amazonaws.com"])]),
            Some(l(Key::EventSource, &["s3.amazonaws.com"]))
        );
        assert_eq!(Lookup::choose([]), None);
    }
}
