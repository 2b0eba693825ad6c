//! Hand-built security-group histories, one per shape and event the replay must understand.

use trailql_investigate::actor::Identity;
use trailql_investigate::{exposure, Event, ExposureOptions, Finding, Status};

fn alice() -> Identity {
    Identity {
        kind: Some("IAMUser".into()),
        arn: Some("arn:aws:iam::111122223333:user/alice".into()),
        user_name: Some("alice".into()),
        access_key_id: Some("AKIAALICE".into()),
        ..Default::default()
    }
}

fn deployer() -> Identity {
    Identity {
        kind: Some("AssumedRole".into()),
        arn: Some("arn:aws:sts::111122223333:assumed-role/Deployer/bob".into()),
        issuer_arn: Some("arn:aws:iam::111122223333:role/Deployer".into()),
        issuer_user_name: Some("Deployer".into()),
        mfa_authenticated: Some("true".into()),
        credential_from_console: Some("true".into()),
        ..Default::default()
    }
}

fn ev(time: &str, name: &str, req: &str, resp: Option<&str>, who: Identity) -> Event {
    Event {
        time: time.into(),
        source: "ec2.amazonaws.com".into(),
        name: name.into(),
        account: "111122223333".into(),
        region: "us-east-1".into(),
        event_id: format!("id-{time}"),
        source_ip: Some("198.51.100.7".into()),
        request: Some(req.into()),
        response: resp.map(str::to_string),
        identity: who,
        ..Default::default()
    }
}

fn rule_set(rule_id: &str, proto: &str, from: i64, to: i64, key: &str, cidr: &str) -> String {
    format!(
        r#"{{"_return":true,"securityGroupRuleSet":{{"items":[{{"groupOwnerId":"111122223333","groupId":"sg-1","securityGroupRuleId":"{rule_id}","isEgress":false,"ipProtocol":"{proto}","fromPort":{from},"toPort":{to},"{key}":"{cidr}"}}]}}}}"#
    )
}

fn nested(proto: &str, from: i64, to: i64, cidr: &str) -> String {
    let ranges = if cidr.contains(':') {
        format!(r#""ipRanges":{{}},"ipv6Ranges":{{"items":[{{"cidrIpv6":"{cidr}"}}]}}"#)
    } else {
        format!(r#""ipRanges":{{"items":[{{"cidrIp":"{cidr}"}}]}},"ipv6Ranges":{{}}"#)
    };
    format!(
        r#"{{"groupId":"sg-1","ipPermissions":{{"items":[{{"ipProtocol":"{proto}","fromPort":{from},"toPort":{to},"groups":{{}},{ranges},"prefixListIds":{{}}}}]}}}}"#
    )
}

fn modify(rule_id: &str, cidr: &str) -> String {
    format!(
        r#"{{"ModifySecurityGroupRulesRequest":{{"GroupId":"sg-1","SecurityGroupRule":{{"SecurityGroupRuleId":"{rule_id}","SecurityGroupRule":{{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"CidrIpv4":"{cidr}"}},"tag":1}}}}}}"#
    )
}

/// (opened at, status, ports, cidr, closed at)
type Brief = (Option<String>, Status, String, String, Option<String>);

fn brief(f: &[Finding]) -> Vec<Brief> {
    f.iter()
        .map(|f| {
            (
                f.opened.as_ref().map(|o| o.time.clone()),
                f.status,
                f.ports.clone(),
                f.cidr.clone(),
                f.closed.as_ref().map(|c| c.time.clone()),
            )
        })
        .collect()
}

const AUTH: &str = "AuthorizeSecurityGroupIngress";
const REVOKE: &str = "RevokeSecurityGroupIngress";

#[test]
fn opened_modified_to_32_opened_again_revoked() {
    let events = vec![
        ev(
            "2024-08-01T10:00:00Z",
            AUTH,
            &nested("tcp", 22, 22, "0.0.0.0/0"),
            Some(&rule_set("sgr-a", "tcp", 22, 22, "cidrIpv4", "0.0.0.0/0")),
            alice(),
        ),
        ev(
            "2024-08-01T11:00:00Z",
            "ModifySecurityGroupRules",
            &modify("sgr-a", "203.0.113.5/32"),
            Some(r#"{"ModifySecurityGroupRulesResponse":{"return":true}}"#),
            deployer(),
        ),
        ev(
            "2024-08-01T12:00:00Z",
            "ModifySecurityGroupRules",
            &modify("sgr-a", "0.0.0.0/0"),
            None,
            alice(),
        ),
        ev(
            "2024-08-01T13:00:00Z",
            REVOKE,
            r#"{"groupId":"sg-1","securityGroupRuleIds":{"items":[{"securityGroupRuleId":"sgr-a"}]}}"#,
            None,
            deployer(),
        ),
    ];
    let f = exposure(&events, &ExposureOptions::default());
    assert_eq!(
        brief(&f),
        vec![
            (
                Some("2024-08-01T10:00:00Z".into()),
                Status::Closed,
                "22".into(),
                "0.0.0.0/0".into(),
                Some("2024-08-01T11:00:00Z".into())
            ),
            (
                Some("2024-08-01T12:00:00Z".into()),
                Status::Closed,
                "22".into(),
                "0.0.0.0/0".into(),
                Some("2024-08-01T13:00:00Z".into())
            ),
        ]
    );
    assert_eq!(
        f[0].note.as_deref(),
        Some("modified to tcp 22 203.0.113.5/32")
    );
    assert_eq!(f[0].rule_id.as_deref(), Some("sgr-a"));
    let closer = &f[0].closed.as_ref().unwrap().actor;
    assert_eq!(closer.display, "role Deployer, session bob");
    assert_eq!(
        closer.issuer.as_deref(),
        Some("arn:aws:iam::111122223333:role/Deployer")
    );
    assert_eq!((closer.via, closer.mfa), ("console", "yes"));
    let opener = &f[0].opened.as_ref().unwrap();
    assert_eq!(opener.actor.display, "alice (IAM user)");
    assert_eq!(opener.actor.access_key_id.as_deref(), Some("AKIAALICE"));
    assert_eq!(opener.source_ip.as_deref(), Some("198.51.100.7"));
}

#[test]
fn ipv6_only_port_range_and_revoke_by_spec() {
    let events = vec![
        ev(
            "2024-08-02T00:00:00Z",
            AUTH,
            &nested("tcp", 8000, 8100, "::/0"),
            None,
            alice(),
        ),
        // Private and /32 rules are not openings.
        ev(
            "2024-08-02T00:01:00Z",
            AUTH,
            &nested("tcp", 22, 22, "10.0.0.0/8"),
            None,
            alice(),
        ),
        ev(
            "2024-08-02T00:02:00Z",
            AUTH,
            &nested("tcp", 22, 22, "203.0.113.5/32"),
            None,
            alice(),
        ),
        // Revoke of a different port range on the same CIDR does not close it (and EC2 says the
        // rule it named does not exist).
        ev(
            "2024-08-02T01:00:00Z",
            REVOKE,
            &nested("tcp", 8000, 8000, "::/0"),
            Some(
                r#"{"_return":true,"unknownIpPermissionSet":{"items":[{"ipProtocol":"tcp","fromPort":8000,"toPort":8000,"ipv6Ranges":{"items":[{"cidrIpv6":"::/0"}]}}]}}"#,
            ),
            alice(),
        ),
    ];
    let f = exposure(&events, &ExposureOptions::default());
    assert_eq!(
        brief(&f),
        vec![(
            Some("2024-08-02T00:00:00Z".into()),
            Status::Open,
            "8000-8100".into(),
            "::/0".into(),
            None
        )]
    );
    assert_eq!(f[0].reach, "world");
    // --port: inside the range, outside it.
    let p = |port| {
        exposure(
            &events,
            &ExposureOptions {
                port: Some(port),
                ..Default::default()
            },
        )
        .len()
    };
    assert_eq!((p(8080), p(22)), (1, 0));
    // --public adds the /32 public rule, never the private one.
    let public = exposure(
        &events,
        &ExposureOptions {
            public: true,
            ..Default::default()
        },
    );
    let cidrs: Vec<_> = public.iter().map(|f| (f.cidr.as_str(), f.reach)).collect();
    assert_eq!(cidrs, vec![("::/0", "world"), ("203.0.113.5/32", "public")]);
    // The exact revoke closes it.
    let mut more = events.clone();
    more.push(ev(
        "2024-08-02T02:00:00Z",
        REVOKE,
        &nested("tcp", 8000, 8100, "::/0"),
        None,
        deployer(),
    ));
    assert_eq!(
        exposure(&more, &ExposureOptions::default())[0].status,
        Status::Closed
    );
}

#[test]
fn top_level_shape_all_protocols_and_slash_zero_with_host_bits() {
    let events = vec![
        // The shape from the Stratus Red Team data: ipPermissions {}, a /0 with host bits set.
        ev(
            "2024-08-03T00:00:00Z",
            AUTH,
            r#"{"cidrIp":"208.236.235.254/0","fromPort":22,"groupId":"sg-1","ipPermissions":{},"ipProtocol":"tcp","toPort":22}"#,
            None,
            alice(),
        ),
        ev(
            "2024-08-03T00:05:00Z",
            AUTH,
            r#"{"groupId":"sg-2","ipPermissions":{},"ipProtocol":"-1","cidrIp":"0.0.0.0/0"}"#,
            None,
            alice(),
        ),
        // Revoked using the canonical text: same rule.
        ev(
            "2024-08-03T01:00:00Z",
            REVOKE,
            r#"{"groupId":"sg-1","ipPermissions":{},"ipProtocol":"tcp","fromPort":22,"toPort":22,"cidrIp":"0.0.0.0/0"}"#,
            None,
            alice(),
        ),
    ];
    let f = exposure(&events, &ExposureOptions::default());
    assert_eq!(f.len(), 2);
    assert_eq!((f[0].group.as_str(), f[0].status), ("sg-1", Status::Closed));
    assert_eq!(
        (f[1].group.as_str(), f[1].ports.as_str(), f[1].status),
        ("sg-2", "all", Status::Open)
    );
    assert_eq!(
        exposure(
            &events,
            &ExposureOptions {
                port: Some(5432),
                ..Default::default()
            }
        )
        .len(),
        1
    );
}

#[test]
fn failed_attempt_is_never_an_opening() {
    let mut e = ev(
        "2024-08-04T00:00:00Z",
        AUTH,
        &nested("tcp", 22, 22, "0.0.0.0/0"),
        None,
        deployer(),
    );
    e.error_code = Some("Client.UnauthorizedOperation".into());
    let f = exposure(&[e.clone()], &ExposureOptions::default());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].status, Status::Failed);
    assert_eq!(
        f[0].opened.as_ref().unwrap().error_code.as_deref(),
        Some("Client.UnauthorizedOperation")
    );
    // A later revoke of that rule finds nothing to close and reports no pre-existing rule either:
    // the failed call added nothing.
    let mut failed_revoke = ev(
        "2024-08-04T01:00:00Z",
        REVOKE,
        &nested("tcp", 22, 22, "0.0.0.0/0"),
        None,
        alice(),
    );
    failed_revoke.error_code = Some("InvalidPermission.NotFound".into());
    assert_eq!(
        exposure(&[e, failed_revoke], &ExposureOptions::default()).len(),
        1
    );
}

#[test]
fn egress_deleted_group_and_history_gaps() {
    let events = vec![
        ev(
            "2024-08-05T00:00:00Z",
            "CreateSecurityGroup",
            r#"{"groupName":"web","groupDescription":"web","vpcId":"vpc-1"}"#,
            Some(r#"{"_return":true,"groupId":"sg-9"}"#),
            alice(),
        ),
        ev(
            "2024-08-05T00:01:00Z",
            "AuthorizeSecurityGroupEgress",
            r#"{"groupId":"sg-9","ipPermissions":{"items":[{"ipProtocol":"-1","ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}"#,
            None,
            alice(),
        ),
        // Authorize by group name: resolved to sg-9 through CreateSecurityGroup.
        ev(
            "2024-08-05T00:02:00Z",
            AUTH,
            r#"{"groupName":"web","ipPermissions":{},"ipProtocol":"tcp","fromPort":443,"toPort":443,"cidrIp":"0.0.0.0/0"}"#,
            None,
            alice(),
        ),
        // A rule that existed before the logs: revoked here.
        ev(
            "2024-08-05T00:03:00Z",
            REVOKE,
            &nested("tcp", 3389, 3389, "0.0.0.0/0"),
            None,
            alice(),
        ),
        // A rule that existed before the logs: only its description is updated.
        ev(
            "2024-08-05T00:04:00Z",
            "UpdateSecurityGroupRuleDescriptionsIngress",
            &nested("tcp", 80, 80, "0.0.0.0/0"),
            None,
            alice(),
        ),
        ev(
            "2024-08-05T00:05:00Z",
            "DeleteSecurityGroup",
            r#"{"groupId":"sg-9"}"#,
            None,
            deployer(),
        ),
    ];
    let f = exposure(&events, &ExposureOptions::default());
    let got: Vec<_> = f
        .iter()
        .map(|f| {
            (
                f.group.as_str(),
                f.direction,
                f.ports.as_str(),
                f.status,
                f.opened.is_some(),
                f.note.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("sg-1", "ingress", "3389", Status::Closed, false, Some("opened before the first event in these logs".into())),
            ("sg-1", "ingress", "80", Status::Open, false,
             Some("opened before the first event in these logs; seen in UpdateSecurityGroupRuleDescriptionsIngress at 2024-08-05T00:04:00Z".into())),
            ("sg-9", "egress", "all", Status::Closed, true, Some("security group deleted".into())),
            ("sg-9", "ingress", "443", Status::Closed, true, Some("security group deleted".into())),
        ]
    );
    // --group by id or by name.
    let by = |g: &str| {
        exposure(
            &events,
            &ExposureOptions {
                group: Some(g.into()),
                ..Default::default()
            },
        )
        .len()
    };
    assert_eq!((by("sg-9"), by("sg-1"), by("sg-404")), (2, 2, 0));
}

#[test]
fn revoke_by_unknown_rule_id_makes_status_unknown() {
    let events = vec![
        ev(
            "2024-08-06T00:00:00Z",
            AUTH,
            &nested("tcp", 22, 22, "0.0.0.0/0"),
            None,
            alice(),
        ),
        ev(
            "2024-08-06T01:00:00Z",
            REVOKE,
            r#"{"groupId":"sg-1","securityGroupRuleIds":{"items":[{"securityGroupRuleId":"sgr-x"}]}}"#,
            None,
            alice(),
        ),
    ];
    let f = exposure(&events, &ExposureOptions::default());
    assert_eq!(f[0].status, Status::Unknown);
    assert!(f[0].note.as_deref().unwrap().contains("sgr-x"));
}
