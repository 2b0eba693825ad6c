//! `trailql history RESOURCE` and `trailql activity PRINCIPAL`: the events that mention a
//! resource, or that a principal made, in time order with the actor resolved.

use std::collections::BTreeMap;

use crate::event::Event;
use crate::table::TextTable;

/// Does the event's request, response or resources list mention `resource` (exact text)?
pub fn mentions(e: &Event, resource: &str) -> bool {
    [&e.request, &e.response, &e.resources]
        .iter()
        .any(|t| t.as_deref().is_some_and(|t| t.contains(resource)))
}

/// Events in time order (stable for equal times).
pub fn sorted<'a>(events: impl IntoIterator<Item = &'a Event>) -> Vec<&'a Event> {
    let mut v: Vec<&Event> = events.into_iter().collect();
    v.sort_by(|a, b| a.time.cmp(&b.time));
    v
}

pub fn history<'a>(events: &'a [Event], resource: &str) -> Vec<&'a Event> {
    sorted(events.iter().filter(|e| mentions(e, resource)))
}

pub fn activity<'a>(events: &'a [Event], principal: &str) -> Vec<&'a Event> {
    sorted(events.iter().filter(|e| e.identity.is(principal)))
}

pub const TIMELINE_COLUMNS: [&str; 15] = [
    "eventtime",
    "account",
    "region",
    "eventsource",
    "eventname",
    "result",
    "actor",
    "actor_type",
    "principal_arn",
    "access_key_id",
    "source_ip",
    "via",
    "errorcode",
    "errormessage",
    "eventid",
];

pub fn timeline_table(events: &[&Event]) -> TextTable {
    let mut t = TextTable::new(&TIMELINE_COLUMNS);
    for e in events {
        let a = e.identity.resolve();
        t.rows.push(vec![
            Some(e.time.clone()),
            Some(e.account.clone()),
            Some(e.region.clone()),
            Some(e.source.clone()),
            Some(e.name.clone()),
            Some(result(e)),
            Some(a.display),
            Some(a.kind.to_string()),
            a.arn,
            a.access_key_id,
            e.source_ip.clone(),
            Some(a.via.to_string()),
            e.error_code.clone(),
            e.error_message.clone(),
            Some(e.event_id.clone()),
        ]);
    }
    t
}

/// `ok`, `DENIED (code)` for refusals, `failed (code)` for other errors.
pub fn result(e: &Event) -> String {
    match e.error_code.as_deref() {
        Some(c) if !c.is_empty() && is_denied(e) => format!("DENIED ({c})"),
        Some(c) if !c.is_empty() => format!("failed ({c})"),
        _ => "ok".to_string(),
    }
}

/// The columns `trailql history` / `activity` print as a table.
pub const TIMELINE_BRIEF: [&str; 8] = [
    "eventtime",
    "account",
    "region",
    "eventsource",
    "eventname",
    "result",
    "actor",
    "source_ip",
];

/// Is this a refusal (the principal tried something it may not do)?
pub fn is_denied(e: &Event) -> bool {
    e.error_code.as_deref().is_some_and(|c| {
        c.contains("AccessDenied") || c.contains("Unauthorized") || c.contains("Forbidden")
    })
}

pub const SUMMARY_COLUMNS: [&str; 7] = [
    "eventsource",
    "eventname",
    "events",
    "failed",
    "access_denied",
    "first",
    "last",
];

/// Activity grouped by service and event name, the busiest first.
pub fn activity_summary(events: &[&Event]) -> TextTable {
    #[derive(Default)]
    struct G {
        n: u64,
        failed: u64,
        denied: u64,
        first: String,
        last: String,
    }
    let mut groups: BTreeMap<(String, String), G> = BTreeMap::new();
    for e in events {
        let g = groups
            .entry((e.source.clone(), e.name.clone()))
            .or_default();
        g.n += 1;
        g.failed += u64::from(e.failed());
        g.denied += u64::from(is_denied(e));
        if g.first.is_empty() || e.time < g.first {
            g.first = e.time.clone();
        }
        if e.time > g.last {
            g.last = e.time.clone();
        }
    }
    let mut v: Vec<_> = groups.into_iter().collect();
    v.sort_by(|a, b| b.1.n.cmp(&a.1.n).then_with(|| a.0.cmp(&b.0)));
    let mut t = TextTable::new(&SUMMARY_COLUMNS);
    for ((source, name), g) in v {
        t.rows.push(vec![
            Some(source),
            Some(name),
            Some(g.n.to_string()),
            Some(g.failed.to_string()),
            Some(g.denied.to_string()),
            Some(g.first),
            Some(g.last),
        ]);
    }
    t
}
