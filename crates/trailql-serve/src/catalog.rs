//! What the schema page lists and the editor completes: the table's columns (with their nested
//! fields), the SQL functions the session knows, the table functions, and example statements.

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::prelude::SessionContext;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    /// Dotted paths of nested fields (`useridentity.arn`), for completion.
    pub fields: Vec<String>,
    pub note: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub title: &'static str,
    pub sql: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableFunction {
    pub name: &'static str,
    pub signature: &'static str,
    pub about: &'static str,
    pub example: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    pub table: &'static str,
    pub columns: Vec<Column>,
    pub table_functions: Vec<TableFunction>,
    /// Scalar, aggregate and window functions by name (Athena's and DataFusion's).
    pub functions: Vec<String>,
    pub examples: Vec<Example>,
}

/// Notes for the columns users most ask about.
fn note(name: &str) -> &'static str {
    match name {
        "eventtime" => "ISO 8601 text, as in Athena: compare with from_iso8601_timestamp(eventtime), or use `timestamp`",
        "useridentity" => "who called: type, arn, accountid, accesskeyid, sessioncontext.sessionissuer (role), invokedby",
        "eventsource" => "the service, e.g. ec2.amazonaws.com",
        "eventname" => "the API call, e.g. AuthorizeSecurityGroupIngress",
        "awsregion" => "the region of the call",
        "sourceipaddress" => "caller IP, or a service name when AWS called on your behalf",
        "errorcode" => "NULL when the call succeeded",
        "requestparameters" => "the request as JSON text; its shape depends on the API: json_extract_scalar(requestparameters, '$.groupId')",
        "responseelements" => "the response as JSON text (NULL for many read calls)",
        "additionaleventdata" => "JSON text: json_extract_scalar(additionaleventdata, '$.MFAUsed')",
        "resources" => "array of {arn, accountid, type}",
        "readonly" => "'true' or 'false' (text)",
        "recipientaccountid" => "the account the event belongs to",
        "account" => "from the object key: prunes files before they are read",
        "region" => "from the object key: prunes files before they are read",
        "timestamp" => "eventtime as a timestamp; filters on it prune files by their key's date",
        "date" => "the key's date folder (YYYY/MM/DD); prunes files",
        "year" | "month" | "day" => "from the object key; prunes files",
        "eventjson" => "the whole record as JSON text: nothing is lost",
        "$path" => "the file the event came from",
        "$verified" => "the file's hash matched its digest (when validated)",
        _ => "",
    }
}

fn fields(prefix: &str, t: &DataType, out: &mut Vec<String>) {
    match t {
        DataType::Struct(children) => {
            for c in children {
                let p = format!("{prefix}.{}", c.name());
                out.push(p.clone());
                fields(&p, c.data_type(), out);
            }
        }
        DataType::List(item) | DataType::LargeList(item) => fields(prefix, item.data_type(), out),
        _ => {}
    }
}

fn column(f: &Field) -> Column {
    let mut nested = Vec::new();
    fields(f.name(), f.data_type(), &mut nested);
    Column {
        name: f.name().clone(),
        data_type: hive_type(f.data_type()),
        fields: nested,
        note: note(f.name()),
    }
}

/// Types as Athena's DDL spells them.
fn hive_type(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Int32 => "int".into(),
        DataType::Float64 => "double".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::Date32 => "date".into(),
        DataType::Struct(c) => format!(
            "struct<{}>",
            c.iter()
                .map(|f| format!("{}:{}", f.name(), hive_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        DataType::List(i) | DataType::LargeList(i) => {
            format!("array<{}>", hive_type(i.data_type()))
        }
        DataType::Map(e, _) => match e.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "map<{},{}>",
                hive_type(kv[0].data_type()),
                hive_type(kv[1].data_type())
            ),
            _ => "map".into(),
        },
        other => other.to_string().to_lowercase(),
    }
}

pub const TABLE_FUNCTIONS: &[TableFunction] = &[
    TableFunction {
        name: "exposure",
        signature: "exposure() · exposure(true)",
        about: "security-group rules opened to the world (0.0.0.0/0, ::/0), every request shape, with who opened them and whether they were closed; exposure(true) reports any public CIDR",
        example: "SELECT * FROM exposure() WHERE status = 'open'",
    },
    TableFunction {
        name: "history",
        signature: "history('resource')",
        about: "every change to one resource (a group id, instance id, bucket, ARN…), oldest first, with the resolved actor",
        example: "SELECT * FROM history('sg-0123456789abcdef0')",
    },
    TableFunction {
        name: "activity",
        signature: "activity('principal')",
        about: "what one principal did (user name, role, ARN or access key id), oldest first",
        example: "SELECT eventname, count(*) FROM activity('alice') GROUP BY 1 ORDER BY 2 DESC",
    },
    TableFunction {
        name: "detections",
        signature: "detections() · detections('rules/')",
        about: "one row per alert of the bundled rule pack, or of the Sigma rules in a folder or file",
        example: "SELECT level, rule_title, count(*) FROM detections() GROUP BY 1, 2 ORDER BY 3 DESC",
    },
];

pub const EXAMPLES: &[Example] = &[
    Example {
        title: "Who opened a security group to the world, and when",
        sql: "SELECT opened_at, group_id, ports, cidr, actor, source_ip, status, closed_at\nFROM exposure()\nORDER BY opened_at",
    },
    Example {
        title: "The seed question as Athena users write it",
        sql: "SELECT eventtime, useridentity.arn, sourceipaddress,\n       json_extract_scalar(requestparameters, '$.groupId') AS group_id,\n       requestparameters\nFROM cloudtrail_logs\nWHERE eventsource = 'ec2.amazonaws.com'\n  AND eventname IN ('AuthorizeSecurityGroupIngress', 'ModifySecurityGroupRules')\n  AND requestparameters LIKE '%0.0.0.0/0%'\nORDER BY eventtime",
    },
    Example {
        title: "Busiest API calls",
        sql: "SELECT eventsource, eventname, count(*) AS calls\nFROM cloudtrail_logs\nGROUP BY 1, 2\nORDER BY calls DESC\nLIMIT 20",
    },
    Example {
        title: "Denied calls by principal",
        sql: "SELECT useridentity.arn, errorcode, count(*) AS n\nFROM cloudtrail_logs\nWHERE errorcode IN ('AccessDenied', 'Client.UnauthorizedOperation')\nGROUP BY 1, 2\nORDER BY n DESC",
    },
    Example {
        title: "Console logins without MFA",
        sql: "SELECT eventtime, useridentity.arn, sourceipaddress,\n       json_extract_scalar(additionaleventdata, '$.MFAUsed') AS mfa\nFROM cloudtrail_logs\nWHERE eventname = 'ConsoleLogin'\n  AND json_extract_scalar(additionaleventdata, '$.MFAUsed') = 'No'",
    },
    Example {
        title: "Alerts of the bundled detection pack",
        sql: "SELECT level, rule_title, count(*) AS alerts\nFROM detections()\nGROUP BY 1, 2\nORDER BY alerts DESC",
    },
    Example {
        title: "Root account activity",
        sql: "SELECT eventtime, eventname, sourceipaddress, useragent\nFROM cloudtrail_logs\nWHERE useridentity.type = 'Root'\nORDER BY eventtime",
    },
];

/// The catalogue of this session.
pub fn catalog(ctx: &SessionContext) -> Catalog {
    let columns = trailql_decode::table_schema()
        .fields()
        .iter()
        .map(|f| column(f.as_ref()))
        .collect();
    let state = ctx.state();
    let mut functions: Vec<String> = state
        .scalar_functions()
        .keys()
        .chain(state.aggregate_functions().keys())
        .chain(state.window_functions().keys())
        .cloned()
        .collect();
    functions.sort();
    functions.dedup();
    Catalog {
        table: trailql_sql::TABLE,
        columns,
        table_functions: TABLE_FUNCTIONS.to_vec(),
        functions,
        examples: EXAMPLES.to_vec(),
    }
}
