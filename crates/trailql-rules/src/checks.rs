//! Conditions Sigma cannot state, named by a pack rule's `trailql.check`: the rule's Sigma
//! detection picks the candidate events, the check decides.
//!
//! `world_open_ingress`: an ingress rule that lets every address of a family in — port and
//! source of the *same* permission, in every request shape EC2 writes (nested
//! `ipPermissions.items[]`, the top-level `cidrIp` form, `ModifySecurityGroupRules`, the
//! normalised `securityGroupRuleSet` of the response), IPv4 and IPv6. It is the logic of
//! `trailql exposure`.
//!
//! `world_open_ingress_closed`: the other half of an exposure change — a world-open ingress
//! rule revoked (by its permission; a revoke by rule id alone cannot be told apart without the
//! group's history, which `trailql exposure` replays).

use serde_json::Value;
use trailql_investigate::cidr::Reach;
use trailql_investigate::sg::{changes, Change};
use trailql_investigate::Event;

/// A named check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    WorldOpenIngress,
    WorldOpenIngressClosed,
}

impl Check {
    pub const NAMES: [&'static str; 2] = ["world_open_ingress", "world_open_ingress_closed"];

    pub fn parse(name: &str) -> Option<Check> {
        match name {
            "world_open_ingress" => Some(Check::WorldOpenIngress),
            "world_open_ingress_closed" => Some(Check::WorldOpenIngressClosed),
            _ => None,
        }
    }

    /// `None` when the record does not pass; else the fields to show in the alert.
    pub fn run(&self, record: &Value) -> Option<Vec<(String, String)>> {
        match self {
            Check::WorldOpenIngress => world_open_ingress(record),
            Check::WorldOpenIngressClosed => world_open_ingress_closed(record),
        }
    }
}

/// `group` and `rule` fields for each rule, as alerts show them.
fn rule_fields(rules: Vec<trailql_investigate::sg::Rule>) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for r in rules {
        fields.push(("group".to_string(), r.group.clone()));
        let rule = if r.all_ports() {
            format!("all traffic from {}", r.target.text())
        } else {
            format!("{} {} from {}", r.protocol, r.ports(), r.target.text())
        };
        fields.push(("rule".to_string(), rule));
    }
    fields
}

fn world_open_ingress_closed(record: &Value) -> Option<Vec<(String, String)>> {
    let event = Event::from_record(record);
    if event.failed() {
        return None;
    }
    let closed: Vec<_> = changes(&event)
        .into_iter()
        .filter_map(|c| match c {
            Change::Remove(r) => Some(r),
            _ => None,
        })
        .filter(|r| !r.egress && r.target.reach() == Some(Reach::World))
        .collect();
    (!closed.is_empty()).then(|| rule_fields(closed))
}

fn world_open_ingress(record: &Value) -> Option<Vec<(String, String)>> {
    let event = Event::from_record(record);
    if event.failed() {
        return None;
    }
    let opened: Vec<_> = changes(&event)
        .into_iter()
        .filter_map(|c| match c {
            Change::Add(r) | Change::Modify { new: r, .. } => Some(r),
            _ => None,
        })
        .filter(|r| !r.egress && r.target.reach() == Some(Reach::World))
        .collect();
    (!opened.is_empty()).then(|| rule_fields(opened))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(r: Value) -> Option<Vec<(String, String)>> {
        Check::WorldOpenIngress.run(&r)
    }

    #[test]
    fn port_and_cidr_of_the_same_permission() {
        // 22 from 10/8 and 443 from the world: the world-open rule is 443.
        let r = json!({"eventName": "AuthorizeSecurityGroupIngress", "requestParameters": {"groupId": "sg-1", "ipPermissions": {"items": [
            {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}},
            {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}});
        let f = run(r).unwrap();
        assert_eq!(f[0], ("group".into(), "sg-1".into()));
        assert_eq!(f[1].1, "tcp 443 from 0.0.0.0/0");
    }

    #[test]
    fn every_shape() {
        let top = json!({"eventName": "AuthorizeSecurityGroupIngress", "requestParameters": {"groupId": "sg-2", "ipPermissions": {}, "cidrIp": "0.0.0.0/0", "ipProtocol": "-1"}});
        assert_eq!(run(top).unwrap()[1].1, "all traffic from 0.0.0.0/0");
        let v6 = json!({"eventName": "AuthorizeSecurityGroupIngress", "requestParameters": {"groupId": "sg-3", "ipPermissions": {"items": [
            {"ipProtocol": "tcp", "fromPort": 3389, "toPort": 3389, "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}}]}}});
        assert_eq!(run(v6).unwrap()[1].1, "tcp 3389 from ::/0");
        let modify = json!({"eventName": "ModifySecurityGroupRules", "requestParameters": {"ModifySecurityGroupRulesRequest": {"GroupId": "sg-4", "SecurityGroupRule": {"SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "0.0.0.0/0"}}}}});
        assert!(run(modify).is_some());
    }

    #[test]
    fn what_does_not_open_to_the_world() {
        let private = json!({"eventName": "AuthorizeSecurityGroupIngress", "requestParameters": {"groupId": "sg-1", "ipPermissions": {"items": [
            {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]}}});
        assert!(run(private).is_none());
        let egress = json!({"eventName": "AuthorizeSecurityGroupEgress", "requestParameters": {"groupId": "sg-1", "ipPermissions": {"items": [
            {"ipProtocol": "-1", "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}});
        assert!(run(egress).is_none());
        let failed = json!({"eventName": "AuthorizeSecurityGroupIngress", "errorCode": "Client.UnauthorizedOperation", "requestParameters": {"groupId": "sg-2", "ipPermissions": {}, "cidrIp": "0.0.0.0/0", "ipProtocol": "-1"}});
        assert!(run(failed).is_none());
    }
}
