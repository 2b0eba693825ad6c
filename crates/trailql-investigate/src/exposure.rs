//! `trailql exposure`: replay security-group rule changes in time order and report every rule that
//! opened a group to the internet, with who did it and whether it is still open.

use std::collections::HashMap;

use serde::Serialize;

use crate::actor::Actor;
use crate::cidr::Reach;
use crate::event::Event;
use crate::sg::{changes, Change, Rule};

#[derive(Debug, Clone, Default)]
pub struct ExposureOptions {
    /// Report any CIDR with public addresses, not only `/0`.
    pub public: bool,
    /// Only this group (id `sg-…` or name).
    pub group: Option<String>,
    /// Only rules that let traffic reach this TCP/UDP port.
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No later event closed it.
    Open,
    /// Revoked, modified to a narrower range, or its group deleted.
    Closed,
    /// A later change may have closed it but cannot be tied to it with certainty.
    Unknown,
    /// The call failed (errorCode set): an attempt, not an opening.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Closed => "closed",
            Status::Unknown => "unknown",
            Status::Failed => "failed attempt",
        }
    }
}

/// An event as cited by a finding.
#[derive(Debug, Clone, Serialize)]
pub struct EventRef {
    pub time: String,
    pub event_name: String,
    pub event_id: String,
    pub actor: Actor,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

impl EventRef {
    pub fn of(e: &Event) -> EventRef {
        EventRef {
            time: e.time.clone(),
            event_name: e.name.clone(),
            event_id: e.event_id.clone(),
            actor: e.identity.resolve(),
            source_ip: e.source_ip.clone(),
            user_agent: e.user_agent.clone(),
            error_code: e.error_code.clone(),
            error_message: e.error_message.clone(),
        }
    }
}

/// One rule that opened (or tried to open) a group to the internet.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub status: Status,
    pub account: String,
    pub region: String,
    pub group: String,
    pub direction: &'static str,
    pub protocol: String,
    pub ports: String,
    pub cidr: String,
    pub reach: &'static str,
    pub rule_id: Option<String>,
    /// `None` when the rule existed before the first event in the logs.
    pub opened: Option<EventRef>,
    pub closed: Option<EventRef>,
    pub note: Option<String>,
}

struct Active {
    rule: Rule,
    finding: Option<usize>,
}

#[derive(Default)]
struct Replay {
    opts: ExposureOptions,
    findings: Vec<Finding>,
    /// (account, region, group) → rules in force.
    rules: HashMap<(String, String, String), Vec<Active>>,
    /// (account, region, name) → group id, from CreateSecurityGroup and responses.
    names: HashMap<(String, String, String), String>,
}

impl Replay {
    fn key(&self, e: &Event, group: &str) -> (String, String, String) {
        let g = match group.strip_prefix("name:") {
            Some(n) => self
                .names
                .get(&(e.account.clone(), e.region.clone(), n.to_string()))
                .cloned()
                .unwrap_or_else(|| group.to_string()),
            None => group.to_string(),
        };
        (e.account.clone(), e.region.clone(), g)
    }

    fn reach(&self, r: &Rule) -> Option<Reach> {
        let reach = r.target.reach()?;
        let wanted = reach == Reach::World || (self.opts.public && reach == Reach::Public);
        let port_ok = self.opts.port.is_none_or(|p| r.covers_port(p));
        (wanted && port_ok).then_some(reach)
    }

    fn group_wanted(&self, key: &(String, String, String)) -> bool {
        match &self.opts.group {
            None => true,
            Some(g) => {
                key.2 == *g
                    || key.2 == format!("name:{g}")
                    || self
                        .names
                        .get(&(key.0.clone(), key.1.clone(), g.clone()))
                        .is_some_and(|id| *id == key.2)
            }
        }
    }

    fn new_finding(
        &mut self,
        key: &(String, String, String),
        r: &Rule,
        reach: Reach,
        status: Status,
        opened: Option<EventRef>,
    ) -> usize {
        self.findings.push(Finding {
            status,
            account: key.0.clone(),
            region: key.1.clone(),
            group: key.2.clone(),
            direction: if r.egress { "egress" } else { "ingress" },
            protocol: r.protocol.clone(),
            ports: r.ports(),
            cidr: r.target.text(),
            reach: reach.as_str(),
            rule_id: r.rule_id.clone(),
            opened,
            closed: None,
            note: None,
        });
        self.findings.len() - 1
    }

    fn close(&mut self, i: usize, e: &Event, note: Option<String>) {
        let f = &mut self.findings[i];
        f.status = Status::Closed;
        f.closed = Some(EventRef::of(e));
        if note.is_some() {
            f.note = note;
        }
    }

    fn apply(&mut self, e: &Event) {
        let failed = e.failed();
        for change in changes(e) {
            match change {
                Change::Add(rule) => {
                    let key = self.key(e, &rule.group);
                    let wanted = self.group_wanted(&key);
                    let reach = self.reach(&rule).filter(|_| wanted);
                    if failed {
                        if let Some(reach) = reach {
                            self.new_finding(
                                &key,
                                &rule,
                                reach,
                                Status::Failed,
                                Some(EventRef::of(e)),
                            );
                        }
                        continue;
                    }
                    let finding = reach.map(|reach| {
                        self.new_finding(&key, &rule, reach, Status::Open, Some(EventRef::of(e)))
                    });
                    self.rules
                        .entry(key)
                        .or_default()
                        .push(Active { rule, finding });
                }
                _ if failed => {}
                Change::Remove(rule) => {
                    let key = self.key(e, &rule.group);
                    let active = self.rules.entry(key.clone()).or_default();
                    let before = active.len();
                    let mut closed = Vec::new();
                    active.retain(|a| {
                        let same = a.rule.same_spec(&rule);
                        if same {
                            closed.extend(a.finding);
                        }
                        !same
                    });
                    let matched = active.len() != before;
                    for i in closed {
                        self.close(i, e, None);
                    }
                    if !matched && self.group_wanted(&key) {
                        if let Some(reach) = self.reach(&rule) {
                            // Revoking a rule the logs never saw being added: it was open before
                            // the history starts.
                            let i = self.new_finding(&key, &rule, reach, Status::Closed, None);
                            self.findings[i].closed = Some(EventRef::of(e));
                            self.findings[i].note =
                                Some("opened before the first event in these logs".into());
                        }
                    }
                }
                Change::RemoveId { group, rule_id } => {
                    let key = self.key(e, &group);
                    let active = self.rules.entry(key.clone()).or_default();
                    if let Some(pos) = active
                        .iter()
                        .position(|a| a.rule.rule_id.as_deref() == Some(&rule_id))
                    {
                        if let Some(i) = active.remove(pos).finding {
                            self.close(i, e, None);
                        }
                    } else {
                        self.uncertain(&key, e, &rule_id);
                    }
                }
                Change::Modify {
                    group,
                    rule_id,
                    mut new,
                } => {
                    let key = self.key(e, &group);
                    let active = self.rules.entry(key.clone()).or_default();
                    let pos = active
                        .iter()
                        .position(|a| a.rule.rule_id.as_deref() == Some(&rule_id));
                    let old = pos.map(|p| active.remove(p));
                    match &old {
                        Some(a) => new.egress = a.rule.egress,
                        None => self.uncertain(&key, e, &rule_id),
                    }
                    if let Some(i) = old.and_then(|a| a.finding) {
                        self.close(
                            i,
                            e,
                            Some(format!(
                                "modified to {} {} {}",
                                new.protocol,
                                new.ports(),
                                new.target.text()
                            )),
                        );
                    }
                    let wanted = self.group_wanted(&key);
                    let finding = self.reach(&new).filter(|_| wanted).map(|reach| {
                        self.new_finding(&key, &new, reach, Status::Open, Some(EventRef::of(e)))
                    });
                    self.rules
                        .entry(key)
                        .or_default()
                        .push(Active { rule: new, finding });
                }
                Change::Describe(rule) => {
                    let key = self.key(e, &rule.group);
                    let known = self
                        .rules
                        .get(&key)
                        .is_some_and(|v| v.iter().any(|a| a.rule.same_spec(&rule)));
                    if known || !self.group_wanted(&key) {
                        continue;
                    }
                    let finding = self.reach(&rule).map(|reach| {
                        let i = self.new_finding(&key, &rule, reach, Status::Open, None);
                        self.findings[i].note = Some(format!(
                            "opened before the first event in these logs; seen in {} at {}",
                            e.name, e.time
                        ));
                        i
                    });
                    self.rules
                        .entry(key)
                        .or_default()
                        .push(Active { rule, finding });
                }
                Change::CreateGroup { id, name } => {
                    if let (Some(id), Some(name)) = (id, name) {
                        self.names
                            .insert((e.account.clone(), e.region.clone(), name), id);
                    }
                }
                Change::DeleteGroup { group } => {
                    let key = self.key(e, &group);
                    for a in self.rules.remove(&key).unwrap_or_default() {
                        if let Some(i) = a.finding {
                            self.close(i, e, Some("security group deleted".into()));
                        }
                    }
                }
            }
        }
    }

    /// A change names a rule id the replay cannot tie to a known rule: every still-open finding
    /// of that group whose id is unknown may be the one it changed.
    fn uncertain(&mut self, key: &(String, String, String), e: &Event, rule_id: &str) {
        let candidates: Vec<usize> = self
            .rules
            .get(key)
            .into_iter()
            .flatten()
            .filter(|a| a.rule.rule_id.is_none())
            .filter_map(|a| a.finding)
            .collect();
        for i in candidates {
            let f = &mut self.findings[i];
            if f.status == Status::Open {
                f.status = Status::Unknown;
                f.note = Some(format!(
                    "{} on rule {rule_id} at {} by {} may have changed it (the opening event has no rule id)",
                    e.name,
                    e.time,
                    e.identity.resolve().display
                ));
            }
        }
    }
}

/// Replay `events` (any order; sorted here by event time, stable) and return the findings in
/// the order they were opened (rules older than the logs first).
pub fn exposure(events: &[Event], opts: &ExposureOptions) -> Vec<Finding> {
    let mut order: Vec<&Event> = events.iter().collect();
    order.sort_by(|a, b| a.time.cmp(&b.time));
    let mut replay = Replay {
        opts: opts.clone(),
        ..Default::default()
    };
    for e in order {
        replay.apply(e);
    }
    let mut findings = replay.findings;
    findings.sort_by(|a, b| {
        let t = |f: &Finding| f.opened.as_ref().map(|o| o.time.clone());
        t(a).cmp(&t(b))
    });
    findings
}

pub const EXPOSURE_COLUMNS: [&str; 28] = [
    "opened_at",
    "status",
    "account",
    "region",
    "group_id",
    "direction",
    "protocol",
    "ports",
    "cidr",
    "reach",
    "rule_id",
    "eventname",
    "actor",
    "actor_type",
    "principal_arn",
    "issuer_arn",
    "access_key_id",
    "source_ip",
    "user_agent",
    "via",
    "mfa",
    "eventid",
    "errorcode",
    "closed_at",
    "closed_by",
    "closed_eventname",
    "closed_eventid",
    "note",
];

/// The columns `trailql exposure` prints as a table (all of them go to JSON/CSV and SQL).
pub const EXPOSURE_BRIEF: [&str; 12] = [
    "opened_at",
    "status",
    "account",
    "region",
    "group_id",
    "protocol",
    "ports",
    "cidr",
    "actor",
    "source_ip",
    "closed_at",
    "closed_by",
];

pub fn findings_table(findings: &[Finding]) -> crate::table::TextTable {
    let mut t = crate::table::TextTable::new(&EXPOSURE_COLUMNS);
    for f in findings {
        let o = f.opened.as_ref();
        let c = f.closed.as_ref();
        let s = |v: &str| Some(v.to_string());
        t.rows.push(vec![
            o.map(|o| o.time.clone()),
            s(f.status.as_str()),
            s(&f.account),
            s(&f.region),
            s(&f.group),
            s(f.direction),
            s(&f.protocol),
            s(&f.ports),
            s(&f.cidr),
            s(f.reach),
            f.rule_id.clone(),
            o.map(|o| o.event_name.clone()),
            o.map(|o| o.actor.display.clone()),
            o.map(|o| o.actor.kind.to_string()),
            o.and_then(|o| o.actor.arn.clone()),
            o.and_then(|o| o.actor.issuer.clone()),
            o.and_then(|o| o.actor.access_key_id.clone()),
            o.and_then(|o| o.source_ip.clone()),
            o.and_then(|o| o.user_agent.clone()),
            o.map(|o| o.actor.via.to_string()),
            o.map(|o| o.actor.mfa.to_string()),
            o.map(|o| o.event_id.clone()),
            o.and_then(|o| o.error_code.clone()),
            c.map(|c| c.time.clone()),
            c.map(|c| c.actor.display.clone()),
            c.map(|c| c.event_name.clone()),
            c.map(|c| c.event_id.clone()),
            f.note.clone(),
        ]);
    }
    t
}
