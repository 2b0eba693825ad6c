//! One alert: a rule matching an event (or a correlation completed by one), with what an
//! analyst reads first.

use std::collections::BTreeMap;

use crate::correlate::Fired;
use crate::detector::{Hit, RuleInfo};
use crate::Level;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trailql_investigate::{Event, TextTable};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub rule_id: String,
    pub rule_title: String,
    pub level: String,
    pub tags: String,
    pub event_time: String,
    pub event_id: String,
    pub account: String,
    pub region: String,
    /// The resolved actor, as `exposure` shows it: `alice (IAM user)`, `role Deployer, session bob`.
    pub actor: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub event_name: String,
    pub error_code: Option<String>,
    /// `field=value` for each field that matched, `; `-separated.
    pub matched: String,
    /// The log file the record came from.
    pub file: Option<String>,
}

/// Level names, lowest first; `informational` when a rule gives none.
pub fn level_name(l: Option<Level>) -> &'static str {
    l.map(|l| l.as_str()).unwrap_or("informational")
}

/// Level names, lowest first.
pub const LEVELS: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

/// The rank of a level (informational 0 … critical 4).
pub fn level_rank(l: Option<Level>) -> u8 {
    rank_of(level_name(l))
}

/// The rank of a level by name (0 for an unknown one).
pub fn rank_of(level: &str) -> u8 {
    LEVELS.iter().position(|l| *l == level).unwrap_or(0) as u8
}

impl Alert {
    pub fn new(rule: &RuleInfo, hit: &Hit, record: &Value, file: Option<String>) -> Alert {
        Alert::of(rule, hit, &Header::of(record), file)
    }

    /// The alert of `hit` on the record `header` was read from: a record matching several
    /// rules is read once.
    pub fn of(rule: &RuleInfo, hit: &Hit, header: &Header, file: Option<String>) -> Alert {
        let e = &header.event;
        let mut seen = std::collections::BTreeSet::new();
        let matched = hit
            .fields
            .iter()
            .filter(|f| seen.insert(*f))
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        Alert {
            rule_id: rule.id.clone(),
            rule_title: rule.title.clone(),
            level: level_name(rule.level).to_string(),
            tags: rule.tags.join(", "),
            event_time: e.time.clone(),
            event_id: e.event_id.clone(),
            account: e.account.clone(),
            region: e.region.clone(),
            actor: header.actor.clone(),
            source_ip: e.source_ip.clone(),
            user_agent: e.user_agent.clone(),
            event_name: e.name.clone(),
            error_code: e.error_code.clone(),
            matched,
            file,
        }
    }

    /// The alert of a correlation that `self`'s event completed: the same event, the
    /// correlation's rule, and what it counted as `matched`.
    pub fn correlated(&self, f: &Fired) -> Alert {
        Alert {
            rule_id: f.id.clone(),
            rule_title: f.title.clone(),
            level: level_name(f.level).to_string(),
            tags: f.tags.join(", "),
            matched: correlation_matched(f),
            error_code: None,
            ..self.clone()
        }
    }

    /// The alert's stable id: its rule and its event (`RULE_ID/EVENT_ID`), the same on every
    /// run over the same event.
    pub fn id(&self) -> String {
        format!("{}/{}", self.rule_id, self.event_id)
    }
}

/// What a correlation alert shows as `matched`: `event_count 12 within 600s for user=alice`.
pub fn correlation_matched(f: &Fired) -> String {
    let group = f
        .group
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut matched = format!("{} {} within {}s", f.kind, f.value, f.timespan_secs);
    if !group.is_empty() {
        matched.push_str(&format!(" for {group}"));
    }
    matched
}

/// What every alert on one record shows of it: its header fields and resolved actor.
#[derive(Debug, Clone)]
pub struct Header {
    event: Event,
    actor: String,
}

impl Header {
    pub fn of(record: &Value) -> Header {
        let event = Event::header_from_record(record);
        let actor = event.identity.resolve().display;
        Header { event, actor }
    }
}

/// The alerts' columns, in order.
pub const COLUMNS: [&str; 15] = [
    "event_time",
    "level",
    "rule_title",
    "rule_id",
    "actor",
    "event_name",
    "account",
    "region",
    "source_ip",
    "error_code",
    "matched",
    "event_id",
    "tags",
    "user_agent",
    "file",
];

/// The columns a terminal table shows.
pub const BRIEF: [&str; 9] = [
    "event_time",
    "level",
    "rule_title",
    "actor",
    "event_name",
    "account",
    "region",
    "source_ip",
    "matched",
];

impl Alert {
    /// The value of column `c` of [`COLUMNS`] (`None` past them).
    pub fn cell(&self, c: usize) -> Option<&str> {
        match c {
            0 => Some(&self.event_time),
            1 => Some(&self.level),
            2 => Some(&self.rule_title),
            3 => Some(&self.rule_id),
            4 => Some(&self.actor),
            5 => Some(&self.event_name),
            6 => Some(&self.account),
            7 => Some(&self.region),
            8 => self.source_ip.as_deref(),
            9 => self.error_code.as_deref(),
            10 => Some(&self.matched),
            11 => Some(&self.event_id),
            12 => Some(&self.tags),
            13 => self.user_agent.as_deref(),
            14 => self.file.as_deref(),
            _ => None,
        }
    }
}

/// Alerts as a table of [`COLUMNS`].
pub fn to_table(alerts: &[Alert]) -> TextTable {
    let mut t = TextTable::new(&COLUMNS);
    for a in alerts {
        t.rows.push(
            (0..COLUMNS.len())
                .map(|c| a.cell(c).map(str::to_string))
                .collect(),
        );
    }
    t
}

/// Alerts counted by level (highest first) and by rule.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub by_level: BTreeMap<std::cmp::Reverse<u8>, (String, u64)>,
    pub by_rule: BTreeMap<(std::cmp::Reverse<u8>, String), u64>,
}

impl Summary {
    /// `n` more alerts of rule `title` at `level`.
    pub fn add(&mut self, level: &str, title: &str, n: u64) {
        let rank = std::cmp::Reverse(rank_of(level));
        self.by_level
            .entry(rank)
            .or_insert_with(|| (level.to_string(), 0))
            .1 += n;
        *self.by_rule.entry((rank, title.to_string())).or_default() += n;
    }

    /// Both counts together.
    pub fn merge(&mut self, other: &Summary) {
        for ((rank, title), n) in &other.by_rule {
            self.add(LEVELS[rank.0 as usize], title, *n);
        }
    }

    /// All alerts counted.
    pub fn total(&self) -> u64 {
        self.by_level.values().map(|(_, n)| n).sum()
    }

    /// `high 2, medium 1`.
    pub fn levels(&self) -> String {
        self.by_level
            .values()
            .map(|(name, n)| format!("{name} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
