//! CloudTrail's `LookupEvents`, served by [`CloudTrailServer`](crate::CloudTrailServer) from
//! records a test sets per region, with the real API's shape and limits:
//!
//! - events whose time is in `[StartTime, EndTime]`, newest first, `MaxResults` (at most 50,
//!   default 50) a page;
//! - at most one `LookupAttributes` entry, of the eight keys the API knows, compared exactly;
//!   `Username` is the IAM user's name or the role session's, `ResourceName`/`ResourceType` come
//!   from the record's `resources` and the request's `groupId`, `bucketName`, `userName`,
//!   `roleName`, `instanceId`s;
//! - `NextToken` opaque and tied to the request it continues (`InvalidNextTokenException`
//!   otherwise);
//! - `ThrottlingException` ("Rate exceeded", HTTP 400) when a region gets a third request within
//!   0.9 s — the API allows two a second per account and region — or when a test asks for it;
//! - each event as the API returns it: `EventId`, `EventName`, `ReadOnly` (a string),
//!   `AccessKeyId`, `EventTime` (epoch seconds), `EventSource`, `Username`, `Resources`, and
//!   `CloudTrailEvent`, the record's JSON text.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::DateTime;
use serde_json::{json, Value};

use crate::cloudtrail::{error_json, reply_json};

const KEYS: [&str; 8] = [
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
];

/// One LookupEvents request as the endpoint saw it, and how it was answered.
#[derive(Debug, Clone)]
pub struct LookupCall {
    pub region: String,
    pub at: Instant,
    /// The lookup attribute's key and value.
    pub attribute: Option<(String, String)>,
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub next_token: Option<String>,
    /// 200, or 400 with the error's type.
    pub status: u16,
    pub error: Option<String>,
    /// Events in the answer.
    pub events: usize,
}

struct Served {
    time: f64,
    id: String,
    event: Value,
}

#[derive(Default)]
pub(crate) struct LookupState {
    events: Mutex<HashMap<String, Vec<Served>>>,
    throttle: Mutex<HashMap<String, usize>>,
    calls: Mutex<Vec<LookupCall>>,
}

impl LookupState {
    pub(crate) fn set_events(&self, region: &str, records: Vec<Value>) {
        let mut served: Vec<Served> = records.into_iter().map(served).collect();
        served.sort_by(|a, b| b.time.total_cmp(&a.time).then_with(|| a.id.cmp(&b.id)));
        self.events
            .lock()
            .unwrap()
            .insert(region.to_string(), served);
    }

    /// An event whose `CloudTrailEvent` is `text` as given (e.g. not JSON), at `time` (epoch s).
    pub(crate) fn add_raw(&self, region: &str, time: f64, id: &str, text: &str) {
        let event = json!({"EventId": id, "EventTime": time, "CloudTrailEvent": text});
        let mut events = self.events.lock().unwrap();
        let list = events.entry(region.to_string()).or_default();
        list.push(Served {
            time,
            id: id.to_string(),
            event,
        });
        list.sort_by(|a, b| b.time.total_cmp(&a.time).then_with(|| a.id.cmp(&b.id)));
    }

    pub(crate) fn throttle_next(&self, region: &str, n: usize) {
        *self
            .throttle
            .lock()
            .unwrap()
            .entry(region.to_string())
            .or_default() += n;
    }

    pub(crate) fn calls(&self) -> Vec<LookupCall> {
        self.calls.lock().unwrap().clone()
    }
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// A record as LookupEvents returns it.
fn served(r: Value) -> Served {
    let time = text(&r, &["eventTime"])
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(0.0, |t| t.timestamp() as f64);
    let id = text(&r, &["eventID"]).unwrap_or_default().to_string();
    let username = text(&r, &["userIdentity", "userName"])
        .map(str::to_string)
        .or_else(|| {
            (text(&r, &["userIdentity", "type"]) == Some("AssumedRole"))
                .then(|| text(&r, &["userIdentity", "arn"])?.rsplit('/').next())
                .flatten()
                .map(str::to_string)
        });
    let mut resources: Vec<Value> = r
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|x| json!({"ResourceType": x.get("type"), "ResourceName": x.get("ARN")}))
        .collect();
    for (field, kind) in [
        ("groupId", "AWS::EC2::SecurityGroup"),
        ("bucketName", "AWS::S3::Bucket"),
        ("userName", "AWS::IAM::User"),
        ("roleName", "AWS::IAM::Role"),
    ] {
        if let Some(name) = text(&r, &["requestParameters", field]) {
            resources.push(json!({"ResourceType": kind, "ResourceName": name}));
        }
    }
    if let Some(items) = r
        .pointer("/requestParameters/instancesSet/items")
        .and_then(Value::as_array)
    {
        for i in items {
            if let Some(id) = i.get("instanceId").and_then(Value::as_str) {
                resources.push(json!({"ResourceType": "AWS::EC2::Instance", "ResourceName": id}));
            }
        }
    }
    let read_only = match r.get("readOnly") {
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let mut event = json!({
        "EventId": id,
        "EventName": r.get("eventName"),
        "ReadOnly": read_only,
        "AccessKeyId": text(&r, &["userIdentity", "accessKeyId"]),
        "EventTime": time,
        "EventSource": r.get("eventSource"),
        "Username": username,
        "Resources": resources,
        "CloudTrailEvent": r.to_string(),
    });
    // The API leaves absent members out rather than sending null.
    if let Value::Object(m) = &mut event {
        m.retain(|_, v| !v.is_null());
    }
    Served { time, id, event }
}

fn matches(e: &Value, key: &str, value: &str) -> bool {
    if key == "ResourceName" || key == "ResourceType" {
        return e["Resources"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r[key].as_str() == Some(value)));
    }
    e[key].as_str() == Some(value)
}

fn epoch(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

pub(crate) fn serve(
    s: &mut TcpStream,
    st: &LookupState,
    region: &str,
    body: &Value,
) -> std::io::Result<()> {
    let attrs = body["LookupAttributes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let attribute = attrs.first().map(|a| {
        (
            a["AttributeKey"].as_str().unwrap_or_default().to_string(),
            a["AttributeValue"].as_str().unwrap_or_default().to_string(),
        )
    });
    let mut call = LookupCall {
        region: region.to_string(),
        at: Instant::now(),
        attribute: attribute.clone(),
        start: epoch(&body["StartTime"]),
        end: epoch(&body["EndTime"]),
        next_token: body["NextToken"].as_str().map(str::to_string),
        status: 400,
        error: None,
        events: 0,
    };
    let (status, out) = answer(st, &mut call, &attrs, body);
    call.status = status;
    if status != 200 {
        call.error = out["__type"].as_str().map(str::to_string);
    }
    st.calls.lock().unwrap().push(call);
    reply_json(s, status, &out)
}

fn answer(st: &LookupState, call: &mut LookupCall, attrs: &[Value], body: &Value) -> (u16, Value) {
    let region = call.region.clone();
    {
        let mut throttle = st.throttle.lock().unwrap();
        let forced = throttle.get_mut(&region).filter(|n| **n > 0);
        let calls = st.calls.lock().unwrap();
        let recent = calls
            .iter()
            .filter(|c| {
                c.region == region
                    && c.status == 200
                    && call.at.duration_since(c.at) < Duration::from_millis(900)
            })
            .count();
        if let Some(n) = forced {
            *n -= 1;
            return (400, error_json("ThrottlingException", "Rate exceeded"));
        }
        if recent >= 2 {
            return (400, error_json("ThrottlingException", "Rate exceeded"));
        }
    }
    if attrs.len() > 1 {
        return (
            400,
            error_json(
                "InvalidLookupAttributesException",
                "You cannot specify more than one lookup attribute.",
            ),
        );
    }
    if let Some((key, _)) = &call.attribute {
        if !KEYS.contains(&key.as_str()) {
            return (
                400,
                error_json(
                    "InvalidLookupAttributesException",
                    &format!("The attribute key {key} is not valid."),
                ),
            );
        }
    }
    let size = match body.get("MaxResults").map(|m| m.as_u64()) {
        None => 50,
        Some(Some(n @ 1..=50)) => n as usize,
        Some(_) => {
            return (
                400,
                error_json(
                    "InvalidMaxResultsException",
                    "Value for MaxResults is invalid: it must be between 1 and 50.",
                ),
            )
        }
    };
    if let (Some(s), Some(e)) = (call.start, call.end) {
        if s > e {
            return (
                400,
                error_json(
                    "InvalidTimeRangeException",
                    "Start time must be earlier than end time.",
                ),
            );
        }
    }
    // The token is tied to the request it continues.
    let mut h = DefaultHasher::new();
    (
        region.as_str(),
        &call.attribute,
        body["StartTime"].to_string(),
        body["EndTime"].to_string(),
    )
        .hash(&mut h);
    let fingerprint = format!("{:016x}", h.finish());
    let offset = match &call.next_token {
        None => 0,
        Some(t) => match t
            .split_once('.')
            .filter(|(_, f)| *f == fingerprint)
            .and_then(|(o, _)| o.parse::<usize>().ok())
        {
            Some(o) => o,
            None => {
                return (
                    400,
                    error_json(
                        "InvalidNextTokenException",
                        "A token that is not valid was specified.",
                    ),
                )
            }
        },
    };
    let events = st.events.lock().unwrap();
    let wanted = events.get(&region).into_iter().flatten().filter(|e| {
        call.start.is_none_or(|s| e.time >= s)
            && call.end.is_none_or(|t| e.time <= t)
            && call
                .attribute
                .as_ref()
                .is_none_or(|(k, v)| matches(&e.event, k, v))
    });
    let page: Vec<Value> = wanted
        .clone()
        .skip(offset)
        .take(size)
        .map(|e| e.event.clone())
        .collect();
    call.events = page.len();
    let mut out = json!({ "Events": page });
    if wanted.count() > offset + size {
        out["NextToken"] = json!(format!("{}.{fingerprint}", offset + size));
    }
    (200, out)
}
