//! One CloudTrail event as the investigations need it, read from query results.

use arrow_array::{Array, RecordBatch, StringArray};
use arrow_schema::DataType;

use crate::actor::Identity;

/// The select list every investigation query uses; [`events_from_batches`] reads it back.
pub const EVENT_COLUMNS: &str =
    "eventtime, eventsource, eventname, recipientaccountid, awsregion, \
eventid, errorcode, errormessage, sourceipaddress, useragent, requestparameters, responseelements, \
json_format(resources) AS resources_json, sessioncredentialfromconsole, \
useridentity.type AS ui_type, useridentity.arn AS ui_arn, useridentity.username AS ui_username, \
useridentity.principalid AS ui_principalid, useridentity.accountid AS ui_accountid, \
useridentity.accesskeyid AS ui_accesskeyid, useridentity.invokedby AS ui_invokedby, \
useridentity.onbehalfof.userid AS ui_onbehalfof, \
useridentity.sessioncontext.sessionissuer.type AS ui_issuer_type, \
useridentity.sessioncontext.sessionissuer.arn AS ui_issuer_arn, \
useridentity.sessioncontext.sessionissuer.username AS ui_issuer_username, \
useridentity.sessioncontext.attributes.mfaauthenticated AS ui_mfa";

/// The top-level fields of a record [`Event::header_from_record`] reads (whole).
pub const HEADER_FIELDS: [&str; 12] = [
    "eventTime",
    "eventSource",
    "eventName",
    "recipientAccountId",
    "awsRegion",
    "eventID",
    "errorCode",
    "errorMessage",
    "sourceIPAddress",
    "userAgent",
    "userIdentity",
    "sessionCredentialFromConsole",
];

/// The free-form fields [`Event::from_record`] reads besides [`HEADER_FIELDS`].
pub const PAYLOAD_FIELDS: [&str; 3] = ["requestParameters", "responseElements", "resources"];

#[derive(Debug, Clone, Default)]
pub struct Event {
    pub time: String,
    pub source: String,
    pub name: String,
    pub account: String,
    pub region: String,
    pub event_id: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request: Option<String>,
    pub response: Option<String>,
    pub resources: Option<String>,
    pub identity: Identity,
}

impl Event {
    pub fn failed(&self) -> bool {
        self.error_code.as_deref().is_some_and(|c| !c.is_empty())
    }
}

impl Event {
    /// An event from a record's JSON, as CloudTrail writes it (keys matched ignoring case);
    /// free-form fields become their JSON text, as the table gives them.
    pub fn from_record(r: &serde_json::Value) -> Event {
        Event::read(r, true)
    }

    /// The same without the free-form fields (`request`, `response`, `resources` are `None`):
    /// who, what, when and where, without writing the payloads back to text.
    pub fn header_from_record(r: &serde_json::Value) -> Event {
        Event::read(r, false)
    }

    fn read(r: &serde_json::Value, payloads: bool) -> Event {
        use crate::sg::field;
        use serde_json::Value;
        // Every alert reads this: each parent object is looked up once, not once per field.
        let text = |parent: Option<&Value>, key: &str| -> Option<String> {
            match field(parent?, key)? {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            }
        };
        let root = Some(r);
        let top = |k: &str| text(root, k);
        let ui = field(r, "userIdentity");
        let context = ui.and_then(|u| field(u, "sessionContext"));
        let issuer = context.and_then(|c| field(c, "sessionIssuer"));
        let attributes = context.and_then(|c| field(c, "attributes"));
        let on_behalf_of = ui.and_then(|u| field(u, "onBehalfOf"));
        Event {
            time: top("eventTime").unwrap_or_default(),
            source: top("eventSource").unwrap_or_default(),
            name: top("eventName").unwrap_or_default(),
            account: top("recipientAccountId").unwrap_or_default(),
            region: top("awsRegion").unwrap_or_default(),
            event_id: top("eventID").unwrap_or_default(),
            error_code: top("errorCode"),
            error_message: top("errorMessage"),
            source_ip: top("sourceIPAddress"),
            user_agent: top("userAgent"),
            request: payloads.then(|| top("requestParameters")).flatten(),
            response: payloads.then(|| top("responseElements")).flatten(),
            resources: payloads.then(|| top("resources")).flatten(),
            identity: Identity {
                kind: text(ui, "type"),
                arn: text(ui, "arn"),
                user_name: text(ui, "userName"),
                principal_id: text(ui, "principalId"),
                account_id: text(ui, "accountId"),
                access_key_id: text(ui, "accessKeyId"),
                invoked_by: text(ui, "invokedBy"),
                on_behalf_of: text(on_behalf_of, "userId"),
                issuer_type: text(issuer, "type"),
                issuer_arn: text(issuer, "arn"),
                issuer_user_name: text(issuer, "userName"),
                mfa_authenticated: text(attributes, "mfaAuthenticated"),
                credential_from_console: top("sessionCredentialFromConsole"),
            },
        }
    }
}

/// A column of `batch` as UTF-8 strings (whatever string type the engine produced).
fn strings(batch: &RecordBatch, name: &str) -> Result<StringArray, String> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| format!("query result has no column {name}"))?;
    let cast = arrow_cast::cast(col, &DataType::Utf8).map_err(|e| format!("column {name}: {e}"))?;
    cast.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| format!("column {name} is not text"))
}

/// Read the rows of a query that selected [`EVENT_COLUMNS`].
pub fn events_from_batches(batches: &[RecordBatch]) -> Result<Vec<Event>, String> {
    let mut out = Vec::new();
    for b in batches {
        let c = |n: &str| strings(b, n);
        let (time, source, name, account, region, id) = (
            c("eventtime")?,
            c("eventsource")?,
            c("eventname")?,
            c("recipientaccountid")?,
            c("awsregion")?,
            c("eventid")?,
        );
        let (err, msg, ip, ua, req, resp, res, console) = (
            c("errorcode")?,
            c("errormessage")?,
            c("sourceipaddress")?,
            c("useragent")?,
            c("requestparameters")?,
            c("responseelements")?,
            c("resources_json")?,
            c("sessioncredentialfromconsole")?,
        );
        let ui: Vec<StringArray> = [
            "ui_type",
            "ui_arn",
            "ui_username",
            "ui_principalid",
            "ui_accountid",
            "ui_accesskeyid",
            "ui_invokedby",
            "ui_onbehalfof",
            "ui_issuer_type",
            "ui_issuer_arn",
            "ui_issuer_username",
            "ui_mfa",
        ]
        .iter()
        .map(|n| c(n))
        .collect::<Result<_, _>>()?;
        let opt = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
        let req_s = |a: &StringArray, i: usize| opt(a, i).unwrap_or_default();
        for i in 0..b.num_rows() {
            let u = |k: usize| opt(&ui[k], i);
            out.push(Event {
                time: req_s(&time, i),
                source: req_s(&source, i),
                name: req_s(&name, i),
                account: req_s(&account, i),
                region: req_s(&region, i),
                event_id: req_s(&id, i),
                error_code: opt(&err, i),
                error_message: opt(&msg, i),
                source_ip: opt(&ip, i),
                user_agent: opt(&ua, i),
                request: opt(&req, i),
                response: opt(&resp, i),
                resources: opt(&res, i),
                identity: Identity {
                    kind: u(0),
                    arn: u(1),
                    user_name: u(2),
                    principal_id: u(3),
                    account_id: u(4),
                    access_key_id: u(5),
                    invoked_by: u(6),
                    on_behalf_of: u(7),
                    issuer_type: u(8),
                    issuer_arn: u(9),
                    issuer_user_name: u(10),
                    mfa_authenticated: u(11),
                    credential_from_console: opt(&console, i),
                },
            });
        }
    }
    Ok(out)
}
