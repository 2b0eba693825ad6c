//! Security-group rule changes, read from the request and response shapes EC2 writes to CloudTrail.
//!
//! One API call appears in several shapes in real logs:
//! - `requestParameters.ipPermissions.items[]`, each with `ipRanges`, `ipv6Ranges`,
//!   `prefixListIds` and `groups` lists (port and CIDR belong to the same permission);
//! - the top-level `cidrIp` / `ipProtocol` / `fromPort` / `toPort` shape, where `ipPermissions`
//!   is `{}`;
//! - the normalised `responseElements.securityGroupRuleSet.items[]`, one item per rule with its
//!   `securityGroupRuleId` (preferred when present);
//! - `ModifySecurityGroupRules` with capitalised keys (`SecurityGroupRuleId`, `CidrIpv4`, ...).
//!
//! Keys are looked up case-insensitively so that both spellings read the same way.

use serde_json::Value;

use crate::cidr::{Cidr, Reach};
use crate::event::Event;

/// The EC2 calls that change (or reveal) a security group's rules.
pub const EVENT_NAMES: [&str; 9] = [
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
    "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress",
];

/// Where a rule lets traffic come from (or go to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Cidr { text: String, parsed: Option<Cidr> },
    PrefixList(String),
    Group(String),
}

impl Target {
    fn cidr(text: &str) -> Target {
        Target::Cidr {
            text: text.to_string(),
            parsed: Cidr::parse(text),
        }
    }

    pub fn reach(&self) -> Option<Reach> {
        match self {
            Target::Cidr { parsed, .. } => parsed.map(|c| c.reach()),
            _ => None,
        }
    }

    pub fn text(&self) -> String {
        match self {
            Target::Cidr { text, .. } => text.clone(),
            Target::PrefixList(p) => format!("prefix list {p}"),
            Target::Group(g) => format!("group {g}"),
        }
    }

    fn same(&self, other: &Target) -> bool {
        match (self, other) {
            (
                Target::Cidr {
                    parsed: Some(a), ..
                },
                Target::Cidr {
                    parsed: Some(b), ..
                },
            ) => a == b,
            _ => self == other,
        }
    }
}

/// One rule of a security group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `sg-…`, or `name:<groupName>` when the call named the group instead.
    pub group: String,
    pub egress: bool,
    /// `all`, `tcp`, `udp`, `icmp`, `icmpv6` or the protocol number.
    pub protocol: String,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub target: Target,
    pub rule_id: Option<String>,
}

impl Rule {
    pub fn all_ports(&self) -> bool {
        self.protocol == "all"
    }

    /// `22`, `8000-8080`, `all`, or `icmp 8/0`.
    pub fn ports(&self) -> String {
        if self.all_ports() {
            return "all".into();
        }
        match (self.from_port, self.to_port) {
            (Some(a), Some(b)) if a == b => a.to_string(),
            (Some(-1), Some(-1)) | (None, None) => "all".into(),
            (Some(a), Some(b)) => format!("{a}-{b}"),
            (Some(a), None) | (None, Some(a)) => a.to_string(),
        }
    }

    /// Does the rule let traffic reach `port` (TCP or UDP)?
    pub fn covers_port(&self, port: u16) -> bool {
        if self.all_ports() {
            return true;
        }
        if self.protocol != "tcp" && self.protocol != "udp" {
            return false;
        }
        let p = i64::from(port);
        match (self.from_port, self.to_port) {
            (Some(a), Some(b)) => (a <= p && p <= b) || (a == -1 && b == -1),
            _ => false,
        }
    }

    /// The same rule as far as a revoke is concerned (direction, protocol, ports, target).
    pub fn same_spec(&self, o: &Rule) -> bool {
        self.egress == o.egress
            && self.protocol == o.protocol
            && (self.all_ports() || (self.from_port, self.to_port) == (o.from_port, o.to_port))
            && self.target.same(&o.target)
    }
}

/// What one event did to security groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Add(Rule),
    Remove(Rule),
    RemoveId {
        group: String,
        rule_id: String,
    },
    /// `egress` is `None` when the call does not say (ModifySecurityGroupRules).
    Modify {
        group: String,
        rule_id: String,
        new: Rule,
    },
    /// UpdateSecurityGroupRuleDescriptions*: proves the rule exists at that moment.
    Describe(Rule),
    CreateGroup {
        id: Option<String>,
        name: Option<String>,
    },
    DeleteGroup {
        group: String,
    },
}

/// Case-insensitive object lookup.
pub fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let o = v.as_object()?;
    o.get(key).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn text(v: &Value, key: &str) -> Option<String> {
    match field(v, key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: &Value, key: &str) -> Option<i64> {
    match field(v, key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The members of an `{"items": [...]}` wrapper, a bare array, or a single object.
pub fn items(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => match field(o, "items") {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(_) => vec![],
            None if o.as_object().is_some_and(|m| m.is_empty()) => vec![],
            None => vec![o],
        },
        _ => vec![],
    }
}

fn protocol(p: Option<String>) -> String {
    match p.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("-1") | Some("all") => "all".into(),
        Some("6") => "tcp".into(),
        Some("17") => "udp".into(),
        Some("1") => "icmp".into(),
        Some("58") => "icmpv6".into(),
        Some(other) => other.to_string(),
    }
}

fn group_of(v: &Value) -> Option<String> {
    text(v, "groupId").or_else(|| text(v, "groupName").map(|n| format!("name:{n}")))
}

/// Rules of a request: `ipPermissions.items[]` plus the top-level `cidrIp` shape.
fn request_rules(req: &Value, egress: bool) -> Vec<Rule> {
    let Some(group) = group_of(req) else {
        return vec![];
    };
    let mut out = Vec::new();
    let mut push = |p: &Value, target: Target| {
        out.push(Rule {
            group: group.clone(),
            egress,
            protocol: protocol(text(p, "ipProtocol")),
            from_port: int(p, "fromPort"),
            to_port: int(p, "toPort"),
            target,
            rule_id: None,
        })
    };
    for p in items(field(req, "ipPermissions")) {
        for r in items(field(p, "ipRanges")) {
            if let Some(c) = text(r, "cidrIp") {
                push(p, Target::cidr(&c));
            }
        }
        for r in items(field(p, "ipv6Ranges")) {
            if let Some(c) = text(r, "cidrIpv6") {
                push(p, Target::cidr(&c));
            }
        }
        for r in items(field(p, "prefixListIds")) {
            if let Some(c) = text(r, "prefixListId") {
                push(p, Target::PrefixList(c));
            }
        }
        for r in items(field(p, "groups")) {
            if let Some(g) = text(r, "groupId").or_else(|| text(r, "groupName")) {
                push(p, Target::Group(g));
            }
        }
    }
    // The older top-level shape (ipPermissions is `{}`).
    if let Some(c) = text(req, "cidrIp") {
        push(req, Target::cidr(&c));
    }
    if let Some(g) = text(req, "sourceSecurityGroupName") {
        push(req, Target::Group(g));
    }
    out
}

/// A rule in the normalised form: response `securityGroupRuleSet` items, or a
/// ModifySecurityGroupRules `SecurityGroupRule` body.
fn normalised_rule(r: &Value, group: Option<String>, egress: bool) -> Option<Rule> {
    let group = group.or_else(|| text(r, "groupId"))?;
    let target = if let Some(c) = text(r, "cidrIpv4").or_else(|| text(r, "cidrIpv6")) {
        Target::cidr(&c)
    } else if let Some(p) = text(r, "prefixListId") {
        Target::PrefixList(p)
    } else if let Some(g) = text(r, "referencedGroupId")
        .or_else(|| field(r, "referencedGroupInfo").and_then(|i| text(i, "groupId")))
    {
        Target::Group(g)
    } else {
        return None;
    };
    let egress = match field(r, "isEgress") {
        Some(Value::Bool(b)) => *b,
        _ => egress,
    };
    Some(Rule {
        group,
        egress,
        protocol: protocol(text(r, "ipProtocol")),
        from_port: int(r, "fromPort"),
        to_port: int(r, "toPort"),
        target,
        rule_id: text(r, "securityGroupRuleId"),
    })
}

fn parse(s: Option<&str>) -> Value {
    s.and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

/// The rule changes an event made (or, for a failed call, tried to make).
pub fn changes(e: &Event) -> Vec<Change> {
    let req = parse(e.request.as_deref());
    let resp = parse(e.response.as_deref());
    let egress = e.name.ends_with("Egress");
    match e.name.as_str() {
        "AuthorizeSecurityGroupIngress" | "AuthorizeSecurityGroupEgress" => {
            let from_response: Vec<Rule> =
                items(field(&resp, "securityGroupRuleSet").filter(|v| !v.is_null()))
                    .into_iter()
                    .filter_map(|r| normalised_rule(r, None, egress))
                    .collect();
            let rules = if from_response.is_empty() {
                request_rules(&req, egress)
            } else {
                from_response
            };
            rules.into_iter().map(Change::Add).collect()
        }
        "RevokeSecurityGroupIngress" | "RevokeSecurityGroupEgress" => {
            let group = group_of(&req);
            // Rules the caller named that did not exist are echoed back in
            // `unknownIpPermissionSet`: nothing was revoked for them.
            let unknown = match (&group, field(&resp, "unknownIpPermissionSet")) {
                (Some(g), Some(set)) => request_rules(
                    &serde_json::json!({"groupId": g.clone(), "ipPermissions": set.clone()}),
                    egress,
                ),
                _ => vec![],
            };
            let mut out: Vec<Change> = request_rules(&req, egress)
                .into_iter()
                .filter(|r| !unknown.iter().any(|u| u.same_spec(r)))
                .map(Change::Remove)
                .collect();
            if let Some(g) = group {
                for r in items(field(&req, "securityGroupRuleIds")) {
                    let id = match r {
                        Value::String(s) => Some(s.clone()),
                        other => text(other, "securityGroupRuleId"),
                    };
                    if let Some(rule_id) = id {
                        out.push(Change::RemoveId {
                            group: g.clone(),
                            rule_id,
                        });
                    }
                }
            }
            out
        }
        "ModifySecurityGroupRules" => {
            let body = field(&req, "ModifySecurityGroupRulesRequest").unwrap_or(&req);
            let Some(group) = group_of(body) else {
                return vec![];
            };
            items(field(body, "SecurityGroupRule"))
                .into_iter()
                .filter_map(|m| {
                    let rule_id = text(m, "SecurityGroupRuleId")?;
                    let spec = field(m, "SecurityGroupRule")?;
                    let mut new = normalised_rule(spec, Some(group.clone()), false)?;
                    new.rule_id = Some(rule_id.clone());
                    Some(Change::Modify {
                        group: group.clone(),
                        rule_id,
                        new,
                    })
                })
                .collect()
        }
        "UpdateSecurityGroupRuleDescriptionsIngress"
        | "UpdateSecurityGroupRuleDescriptionsEgress" => request_rules(&req, egress)
            .into_iter()
            .map(Change::Describe)
            .collect(),
        "CreateSecurityGroup" => vec![Change::CreateGroup {
            id: text(&resp, "groupId"),
            name: text(&req, "groupName"),
        }],
        "DeleteSecurityGroup" => group_of(&req)
            .map(|group| vec![Change::DeleteGroup { group }])
            .unwrap_or_default(),
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, req: &str, resp: Option<&str>) -> Event {
        Event {
            name: name.into(),
            request: Some(req.into()),
            response: resp.map(str::to_string),
            ..Default::default()
        }
    }

    fn added(c: &[Change]) -> Vec<(String, String, String, bool)> {
        c.iter()
            .map(|c| match c {
                Change::Add(r) | Change::Remove(r) | Change::Describe(r) => {
                    (r.group.clone(), r.ports(), r.target.text(), r.egress)
                }
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn nested_request_keeps_port_and_cidr_together() {
        let c = changes(&ev(
            "AuthorizeSecurityGroupIngress",
            r#"{"groupId":"sg-1","ipPermissions":{"items":[
                {"ipProtocol":"tcp","fromPort":5432,"toPort":5432,"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"}]}},
                {"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]},
                 "ipv6Ranges":{"items":[{"cidrIpv6":"::/0"}]},"prefixListIds":{"items":[{"prefixListId":"pl-1"}]},
                 "groups":{"items":[{"groupId":"sg-2"}]}}]}}"#,
            None,
        ));
        assert_eq!(
            added(&c),
            vec![
                ("sg-1".into(), "5432".into(), "10.0.0.0/8".into(), false),
                ("sg-1".into(), "22".into(), "0.0.0.0/0".into(), false),
                ("sg-1".into(), "22".into(), "::/0".into(), false),
                ("sg-1".into(), "22".into(), "prefix list pl-1".into(), false),
                ("sg-1".into(), "22".into(), "group sg-2".into(), false),
            ]
        );
    }

    #[test]
    fn top_level_shape_and_group_name() {
        let c = changes(&ev(
            "AuthorizeSecurityGroupIngress",
            r#"{"groupName":"web","ipPermissions":{},"ipProtocol":"tcp","fromPort":"80","toPort":"443","cidrIp":"0.0.0.0/0"}"#,
            None,
        ));
        assert_eq!(
            added(&c),
            vec![(
                "name:web".into(),
                "80-443".into(),
                "0.0.0.0/0".into(),
                false
            )]
        );
    }

    #[test]
    fn response_rule_set_is_preferred() {
        let c = changes(&ev(
            "AuthorizeSecurityGroupEgress",
            r#"{"groupId":"sg-1","ipPermissions":{},"cidrIp":"1.2.3.4/32","ipProtocol":"-1"}"#,
            Some(
                r#"{"_return":true,"securityGroupRuleSet":{"items":[{"groupId":"sg-1","securityGroupRuleId":"sgr-9",
                "isEgress":true,"ipProtocol":"-1","fromPort":-1,"toPort":-1,"cidrIpv4":"1.2.3.4/32"}]}}"#,
            ),
        ));
        let Change::Add(r) = &c[0] else { panic!() };
        assert_eq!(r.rule_id.as_deref(), Some("sgr-9"));
        assert!(r.egress && r.all_ports());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn revoke_by_id_and_modify() {
        let c = changes(&ev(
            "RevokeSecurityGroupIngress",
            r#"{"groupId":"sg-1","securityGroupRuleIds":{"items":[{"securityGroupRuleId":"sgr-1"}]}}"#,
            None,
        ));
        assert_eq!(
            c,
            vec![Change::RemoveId {
                group: "sg-1".into(),
                rule_id: "sgr-1".into()
            }]
        );
        let c = changes(&ev(
            "ModifySecurityGroupRules",
            r#"{"ModifySecurityGroupRulesRequest":{"GroupId":"sg-1","SecurityGroupRule":{"SecurityGroupRuleId":"sgr-1",
               "SecurityGroupRule":{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"CidrIpv4":"203.0.113.5/32"},"tag":1}}}"#,
            None,
        ));
        let Change::Modify { rule_id, new, .. } = &c[0] else {
            panic!("{c:?}")
        };
        assert_eq!(rule_id, "sgr-1");
        assert_eq!(new.target.text(), "203.0.113.5/32");
    }

    #[test]
    fn ports() {
        let r = |p: &str, a, b| Rule {
            group: "g".into(),
            egress: false,
            protocol: protocol(Some(p.into())),
            from_port: Some(a),
            to_port: Some(b),
            target: Target::cidr("0.0.0.0/0"),
            rule_id: None,
        };
        assert!(r("-1", -1, -1).covers_port(22));
        assert!(r("6", 0, 65535).covers_port(22));
        assert!(r("tcp", 20, 23).covers_port(22));
        assert!(!r("tcp", 80, 80).covers_port(22));
        assert!(!r("icmp", 8, 0).covers_port(8));
        assert_eq!(r("tcp", 0, 65535).ports(), "0-65535");
    }
}
