//! Event templates: identities, services, and the planted security-group openings.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};

pub(crate) struct TrailCtx<'a> {
    pub account: &'a str,
    pub accounts: &'a [String],
    pub region: &'a str,
    pub seed: u64,
}

#[derive(Default)]
pub(crate) struct TrailOutput {
    pub events: u64,
    pub files: u64,
    pub planted: Vec<Planted>,
}

/// One planted security-group rule change, as the ground truth lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Planted {
    pub event_id: String,
    pub event_time: String,
    pub account: String,
    pub region: String,
    pub group_id: String,
    pub cidr: String,
    pub protocol: String,
    pub from_port: i64,
    pub to_port: i64,
    /// `nested` (ipPermissions.items[].ipRanges/ipv6Ranges) or `top-level` (cidrIp).
    pub shape: String,
    pub actor_arn: String,
    pub source_ip: String,
    pub error_code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlantKind {
    NestedV4,
    TopLevel,
    NestedV6,
    Failed,
}

impl PlantKind {
    /// `n` plants: both shapes first, then IPv6 and a failed attempt, then repeat.
    pub fn cycle(n: usize) -> Vec<PlantKind> {
        const ORDER: [PlantKind; 4] = [
            PlantKind::NestedV4,
            PlantKind::TopLevel,
            PlantKind::Failed,
            PlantKind::NestedV6,
        ];
        (0..n).map(|i| ORDER[i % ORDER.len()]).collect()
    }
}

pub(crate) fn alnum(rng: &mut ChaCha8Rng, n: usize) -> String {
    const CH: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| CH[rng.random_range(0..CH.len())] as char)
        .collect()
}

fn hex(rng: &mut ChaCha8Rng, n: usize) -> String {
    const CH: &[u8] = b"0123456789abcdef";
    (0..n)
        .map(|_| CH[rng.random_range(0..16)] as char)
        .collect()
}

fn uuid(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{}-{}-4{}-a{}-{}",
        hex(rng, 8),
        hex(rng, 4),
        hex(rng, 3),
        hex(rng, 3),
        hex(rng, 12)
    )
}

fn upper(rng: &mut ChaCha8Rng, n: usize) -> String {
    const CH: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    (0..n)
        .map(|_| CH[rng.random_range(0..CH.len())] as char)
        .collect()
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

const USERS: [&str; 4] = ["alice", "bob", "carol", "ci-deployer"];
const ROLES: [(&str, &str); 4] = [
    ("Admin", "alice@example.com"),
    ("DevOps", "dave@example.com"),
    ("OrganizationAccountAccessRole", "breakglass"),
    ("lambda-processor-role", "lambda-processor"),
];
const AGENTS: [&str; 5] = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79 exe/x86_64.amzn.2023 prompt/off command/ec2.describe-instances",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.79 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "console.amazonaws.com",
    "Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0 aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.151.0",
    "aws-sdk-java/2.25.11 Linux/5.10.213 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
];

pub(crate) struct EventGen<'a> {
    ctx: &'a TrailCtx<'a>,
    groups: Vec<String>,
    instances: Vec<String>,
}

struct Actor {
    identity: Value,
    arn: String,
    source_ip: String,
    agent: String,
}

impl<'a> EventGen<'a> {
    pub fn new(ctx: &'a TrailCtx<'a>) -> Self {
        let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(ctx.seed ^ 0xabcdef);
        EventGen {
            ctx,
            groups: (0..12)
                .map(|_| format!("sg-0{}", hex(&mut rng, 16)))
                .collect(),
            instances: (0..20)
                .map(|_| format!("i-0{}", hex(&mut rng, 16)))
                .collect(),
        }
    }

    fn actor(&self, rng: &mut ChaCha8Rng, t: DateTime<Utc>) -> Actor {
        let acct = self.ctx.account;
        let ip = format!(
            "{}.{}.{}.{}",
            [198, 203, 192, 52][rng.random_range(0..4)],
            rng.random_range(0..255),
            rng.random_range(0..255),
            rng.random_range(1..255)
        );
        let agent = AGENTS[rng.random_range(0..AGENTS.len())].to_string();
        match rng.random_range(0..100) {
            0..=29 => {
                let u = USERS[rng.random_range(0..USERS.len())];
                let arn = format!("arn:aws:iam::{acct}:user/{u}");
                Actor {
                    identity: json!({
                        "type": "IAMUser", "principalId": format!("AIDA{}", upper(rng, 17)),
                        "arn": arn, "accountId": acct, "accessKeyId": format!("AKIA{}", upper(rng, 16)),
                        "userName": u
                    }),
                    arn,
                    source_ip: ip,
                    agent,
                }
            }
            30..=79 => {
                let (role, session) = ROLES[rng.random_range(0..ROLES.len())];
                let role_id = format!("AROA{}", upper(rng, 17));
                let arn = format!("arn:aws:sts::{acct}:assumed-role/{role}/{session}");
                let console = agent == "console.amazonaws.com";
                let mut id = json!({
                    "type": "AssumedRole", "principalId": format!("{role_id}:{session}"),
                    "arn": arn, "accountId": acct, "accessKeyId": format!("ASIA{}", upper(rng, 16)),
                    "sessionContext": {
                        "sessionIssuer": {"type": "Role", "principalId": role_id,
                            "arn": format!("arn:aws:iam::{acct}:role/{role}"), "accountId": acct, "userName": role},
                        "webIdFederationData": {},
                        "attributes": {"creationDate": iso(t - Duration::minutes(rng.random_range(1..600))),
                            "mfaAuthenticated": if console { "true" } else { "false" }}
                    }
                });
                if console {
                    id["sessionContext"]["sourceIdentity"] = json!(session);
                }
                Actor {
                    identity: id,
                    arn,
                    source_ip: ip,
                    agent,
                }
            }
            80..=93 => {
                let svc = [
                    "ec2.amazonaws.com",
                    "lambda.amazonaws.com",
                    "cloudformation.amazonaws.com",
                ][rng.random_range(0..3)];
                Actor {
                    identity: json!({"type": "AWSService", "invokedBy": svc}),
                    arn: String::new(),
                    source_ip: svc.to_string(),
                    agent: svc.to_string(),
                }
            }
            94..=97 => Actor {
                identity: json!({
                    "type": "IdentityCenterUser", "accountId": acct,
                    "onBehalfOf": {"userId": uuid(rng),
                        "identityStoreArn": format!("arn:aws:identitystore::{acct}:identitystore/d-90676{}", hex(rng, 5))},
                    "credentialId": alnum(rng, 40)
                }),
                arn: String::new(),
                source_ip: ip,
                agent,
            },
            _ => {
                let arn = format!("arn:aws:iam::{acct}:root");
                Actor {
                    identity: json!({"type": "Root", "principalId": acct, "arn": arn, "accountId": acct,
                        "accessKeyId": format!("ASIA{}", upper(rng, 16))}),
                    arn,
                    source_ip: ip,
                    agent: "console.amazonaws.com".into(),
                }
            }
        }
    }

    fn base(
        &self,
        rng: &mut ChaCha8Rng,
        t: DateTime<Utc>,
        actor: &Actor,
        source: &str,
        name: &str,
        read_only: bool,
    ) -> Value {
        let region = self.ctx.region;
        let mut v = json!({
            "eventVersion": "1.09",
            "userIdentity": actor.identity,
            "eventTime": iso(t),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": actor.source_ip,
            "userAgent": actor.agent,
            "requestParameters": null,
            "responseElements": null,
            "requestID": uuid(rng),
            "eventID": uuid(rng),
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": self.ctx.account,
            "eventCategory": "Management",
        });
        if actor.identity["type"] != "AWSService" {
            let host = source.replace(".amazonaws.com", &format!(".{region}.amazonaws.com"));
            v["tlsDetails"] = json!({"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": host});
        }
        if actor.agent == "console.amazonaws.com" {
            v["sessionCredentialFromConsole"] = json!("true");
        }
        v
    }

    /// An ordinary event delivered in the file delivered at `delivered`.
    pub fn event(&mut self, rng: &mut ChaCha8Rng, delivered: DateTime<Utc>) -> String {
        // Mostly within the 5 minutes before delivery; some up to 20 minutes late.
        let lag = if rng.random_range(0..20) == 0 {
            rng.random_range(300..1200)
        } else {
            rng.random_range(1..300)
        };
        let t = delivered - Duration::seconds(lag);
        let actor = self.actor(rng, t);
        let acct = self.ctx.account;
        let region = self.ctx.region;
        let sg = self.groups[rng.random_range(0..self.groups.len())].clone();
        let inst = self.instances[rng.random_range(0..self.instances.len())].clone();
        let pick = rng.random_range(0..1000);
        let mut v = match pick {
            0..=179 => {
                let mut v = self.base(
                    rng,
                    t,
                    &actor,
                    "ec2.amazonaws.com",
                    "DescribeInstances",
                    true,
                );
                v["requestParameters"] = json!({"instancesSet": {}, "filterSet": {"items": [{"name": "instance-state-name", "valueSet": {"items": [{"value": "running"}]}}]}});
                v
            }
            180..=299 => {
                let mut v = self.base(rng, t, &actor, "sts.amazonaws.com", "AssumeRole", false);
                let (role, session) = ROLES[rng.random_range(0..ROLES.len())];
                let other = &self.ctx.accounts[rng.random_range(0..self.ctx.accounts.len())];
                let role_arn = format!("arn:aws:iam::{other}:role/{role}");
                v["requestParameters"] = json!({"roleArn": role_arn, "roleSessionName": session, "durationSeconds": 3600});
                v["responseElements"] = json!({
                    "credentials": {"accessKeyId": format!("ASIA{}", upper(rng, 16)), "sessionToken": alnum(rng, 380),
                        "expiration": "Aug 1, 2024, 11:00:00 PM"},
                    "assumedRoleUser": {"assumedRoleId": format!("AROA{}:{session}", upper(rng, 17)),
                        "arn": format!("arn:aws:sts::{other}:assumed-role/{role}/{session}")}
                });
                v["resources"] =
                    json!([{"accountId": other, "type": "AWS::IAM::Role", "ARN": role_arn}]);
                v["sharedEventID"] = json!(uuid(rng));
                v
            }
            300..=399 => {
                let mut v = self.base(rng, t, &actor, "kms.amazonaws.com", "Decrypt", true);
                let key = format!("arn:aws:kms:{region}:{acct}:key/{}", uuid(rng));
                v["requestParameters"] = json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                    "encryptionContext": {"aws:lambda:FunctionArn": format!("arn:aws:lambda:{region}:{acct}:function:processor")}});
                v["resources"] = json!([{"accountId": acct, "type": "AWS::KMS::Key", "ARN": key}]);
                v
            }
            400..=489 => {
                let mut v = self.base(rng, t, &actor, "s3.amazonaws.com", "GetBucketAcl", true);
                let bucket = format!("corp-data-{}", rng.random_range(1..6));
                v["requestParameters"] = json!({"bucketName": bucket, "Host": format!("{bucket}.s3.amazonaws.com"), "acl": ""});
                v["additionalEventData"] = json!({"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                    "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader", "x-amz-id-2": alnum(rng, 60), "bytesTransferredOut": 550});
                v["resources"] = json!([{"accountId": acct, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}]);
                v
            }
            490..=569 => {
                let mut v = self.base(
                    rng,
                    t,
                    &actor,
                    "ec2.amazonaws.com",
                    "DescribeSecurityGroups",
                    true,
                );
                v["requestParameters"] = json!({"securityGroupSet": {"items": [{"groupId": sg}]}, "securityGroupIdSet": {}, "filterSet": {}});
                v
            }
            570..=629 => {
                let mut v = self.base(rng, t, &actor, "ssm.amazonaws.com", "GetParameter", true);
                v["requestParameters"] = json!({"name": format!("/app/{}/db-password", ["prod", "staging"][rng.random_range(0..2)]), "withDecryption": true});
                v
            }
            630..=679 => {
                let mut v = self.base(rng, t, &actor, "iam.amazonaws.com", "ListRoles", true);
                v["requestParameters"] = json!({"maxItems": 100});
                v["awsRegion"] = json!("us-east-1");
                v
            }
            680..=719 => {
                let mut v = self.base(
                    rng,
                    t,
                    &actor,
                    "logs.amazonaws.com",
                    "CreateLogStream",
                    false,
                );
                v["requestParameters"] = json!({"logGroupName": "/aws/lambda/processor", "logStreamName": format!("2024/08/01/[$LATEST]{}", hex(rng, 32))});
                v
            }
            720..=759 => {
                let mut v = self.base(rng, t, &actor, "ec2.amazonaws.com", "RunInstances", false);
                v["requestParameters"] = json!({
                    "instancesSet": {"items": [{"imageId": format!("ami-0{}", hex(rng, 16)), "minCount": 1, "maxCount": 1}]},
                    "instanceType": "t3.micro", "blockDeviceMapping": {}, "monitoring": {"enabled": false},
                    "disableApiTermination": false, "disableApiStop": false, "clientToken": uuid(rng),
                    "networkInterfaceSet": {"items": [{"deviceIndex": 0, "subnetId": format!("subnet-0{}", hex(rng, 16)),
                        "groupSet": {"items": [{"groupId": sg}]}}]},
                    "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [{"key": "Name", "value": "worker"}, {"key": "team", "value": "data"}]}]}
                });
                v["responseElements"] = json!({
                    "requestId": uuid(rng), "reservationId": format!("r-0{}", hex(rng, 16)), "ownerId": acct,
                    "groupSet": {}, "instancesSet": {"items": [{
                        "instanceId": inst, "imageId": format!("ami-0{}", hex(rng, 16)), "currentInstanceBootMode": "uefi",
                        "instanceState": {"code": 0, "name": "pending"}, "privateDnsName": format!("ip-10-0-{}-{}.ec2.internal", rng.random_range(0..255), rng.random_range(0..255)),
                        "amiLaunchIndex": 0, "productCodes": {}, "instanceType": "t3.micro", "launchTime": delivered.timestamp_millis(),
                        "placement": {"availabilityZone": format!("{region}a"), "tenancy": "default"}, "monitoring": {"state": "disabled"},
                        "subnetId": format!("subnet-0{}", hex(rng, 16)), "vpcId": format!("vpc-0{}", hex(rng, 16)),
                        "privateIpAddress": format!("10.0.{}.{}", rng.random_range(0..255), rng.random_range(0..255)),
                        "stateReason": {"code": "pending", "message": "pending"}, "architecture": "x86_64", "rootDeviceType": "ebs",
                        "rootDeviceName": "/dev/xvda", "blockDeviceMapping": {}, "virtualizationType": "hvm", "hypervisor": "xen",
                        "groupSet": {"items": [{"groupId": sg, "groupName": "workers"}]}, "sourceDestCheck": true,
                        "networkInterfaceSet": {"items": [{"networkInterfaceId": format!("eni-0{}", hex(rng, 16)), "status": "in-use",
                            "macAddress": "02:4f:3a:11:22:33", "sourceDestCheck": true, "interfaceType": "interface"}]},
                        "ebsOptimized": false, "enaSupport": true, "cpuOptions": {"coreCount": 1, "threadsPerCore": 2},
                        "capacityReservationSpecification": {"capacityReservationPreference": "open"}, "enclaveOptions": {"enabled": false},
                        "metadataOptions": {"state": "pending", "httpTokens": "required", "httpPutResponseHopLimit": 2, "httpEndpoint": "enabled"},
                        "privateDnsNameOptions": {"hostnameType": "ip-name", "enableResourceNameDnsARecord": false}
                    }]}
                });
                v
            }
            760..=789 => {
                // Noise for the needle: ingress from private ranges, both shapes.
                let mut v = self.base(
                    rng,
                    t,
                    &actor,
                    "ec2.amazonaws.com",
                    "AuthorizeSecurityGroupIngress",
                    false,
                );
                let cidr =
                    ["10.0.0.0/8", "172.16.0.0/12", "192.168.10.0/24"][rng.random_range(0..3)];
                if rng.random_bool(0.5) {
                    v["requestParameters"] = json!({"groupId": sg, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432,
                        "groups": {}, "ipRanges": {"items": [{"cidrIp": cidr, "description": "db from vpc"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}});
                } else {
                    v["requestParameters"] = json!({"groupId": sg, "ipPermissions": {}, "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIp": cidr});
                }
                v["responseElements"] = json!({"requestId": uuid(rng), "_return": true, "securityGroupRuleSet": {"items": [{
                    "groupOwnerId": acct, "groupId": sg, "securityGroupRuleId": format!("sgr-0{}", hex(rng, 16)), "isEgress": false,
                    "ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrIpv4": cidr}]}});
                v
            }
            790..=809 => {
                let mut v = self.base(
                    rng,
                    t,
                    &actor,
                    "signin.amazonaws.com",
                    "ConsoleLogin",
                    false,
                );
                v["eventType"] = json!("AwsConsoleSignIn");
                v["responseElements"] = json!({"ConsoleLogin": "Success"});
                v["additionalEventData"] = json!({"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "Yes"});
                v["awsRegion"] = json!("us-east-1");
                v
            }
            810..=839 => {
                let mut v = self.base(
                    rng,
                    t,
                    &actor,
                    "cloudtrail.amazonaws.com",
                    "LookupEvents",
                    true,
                );
                v["requestParameters"] = json!({"maxResults": 50, "lookupAttributes": [{"attributeKey": "EventName", "attributeValue": "ConsoleLogin"}]});
                v
            }
            840..=869 => {
                let mut v = self.base(rng, t, &actor, "iam.amazonaws.com", "PutRolePolicy", false);
                v["requestParameters"] = json!({"roleName": "lambda-processor-role", "policyName": "inline",
                    "policyDocument": "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Effect\": \"Allow\", \"Action\": [\"s3:GetObject\"], \"Resource\": \"arn:aws:s3:::corp-data-1/*\"}]\n}"});
                v["awsRegion"] = json!("us-east-1");
                v
            }
            _ => {
                let mut v = self.base(
                    rng,
                    t,
                    &actor,
                    "sts.amazonaws.com",
                    "GetCallerIdentity",
                    true,
                );
                v["readOnly"] = json!(true);
                v
            }
        };
        if pick % 37 == 0 {
            v["errorCode"] = json!("AccessDenied");
            v["errorMessage"] = json!(format!(
                "User: {} is not authorized to perform this operation",
                actor.arn
            ));
            v["responseElements"] = Value::Null;
        }
        v.to_string()
    }

    /// A planted security-group change, delivered in the file delivered at `delivered`.
    pub fn planted(
        &mut self,
        rng: &mut ChaCha8Rng,
        delivered: DateTime<Utc>,
        kind: PlantKind,
    ) -> (String, Planted) {
        let t = delivered - Duration::seconds(rng.random_range(1..240));
        // Openings are made by people: an IAM user or an assumed role.
        let mut actor = self.actor(rng, t);
        while !matches!(
            actor.identity["type"].as_str(),
            Some("IAMUser" | "AssumedRole")
        ) {
            actor = self.actor(rng, t);
        }
        let acct = self.ctx.account;
        let sg = format!("sg-0{}", hex(rng, 16));
        let mut v = self.base(
            rng,
            t,
            &actor,
            "ec2.amazonaws.com",
            "AuthorizeSecurityGroupIngress",
            false,
        );
        let (cidr, port, shape) = match kind {
            PlantKind::NestedV4 | PlantKind::Failed => ("0.0.0.0/0", 22, "nested"),
            PlantKind::TopLevel => ("0.0.0.0/0", 3389, "top-level"),
            PlantKind::NestedV6 => ("::/0", 22, "nested"),
        };
        match kind {
            PlantKind::TopLevel => {
                v["requestParameters"] = json!({"groupId": sg, "ipPermissions": {}, "ipProtocol": "tcp",
                    "fromPort": port, "toPort": port, "cidrIp": cidr});
            }
            PlantKind::NestedV6 => {
                v["requestParameters"] = json!({"groupId": sg, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": port, "toPort": port,
                    "groups": {}, "ipRanges": {}, "ipv6Ranges": {"items": [{"cidrIpv6": cidr}]}, "prefixListIds": {}}]}});
            }
            _ => {
                v["requestParameters"] = json!({"groupId": sg, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": port, "toPort": port,
                    "groups": {}, "ipRanges": {"items": [{"cidrIp": cidr, "description": "temp debug"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}});
            }
        }
        let error_code = if kind == PlantKind::Failed {
            v["errorCode"] = json!("Client.UnauthorizedOperation");
            v["errorMessage"] = json!("You are not authorized to perform this operation.");
            Some("Client.UnauthorizedOperation".to_string())
        } else {
            let cidr_key = if cidr.contains(':') {
                "cidrIpv6"
            } else {
                "cidrIpv4"
            };
            v["responseElements"] = json!({"requestId": uuid(rng), "_return": true, "securityGroupRuleSet": {"items": [{
                "groupOwnerId": acct, "groupId": sg, "securityGroupRuleId": format!("sgr-0{}", hex(rng, 16)), "isEgress": false,
                "ipProtocol": "tcp", "fromPort": port, "toPort": port, cidr_key: cidr}]}});
            None
        };
        let planted = Planted {
            event_id: v["eventID"].as_str().unwrap_or_default().to_string(),
            event_time: iso(t),
            account: acct.to_string(),
            region: self.ctx.region.to_string(),
            group_id: sg,
            cidr: cidr.to_string(),
            protocol: "tcp".into(),
            from_port: port,
            to_port: port,
            shape: shape.into(),
            actor_arn: actor.arn.clone(),
            source_ip: actor.source_ip.clone(),
            error_code,
        };
        (v.to_string(), planted)
    }
}
