//! The `cloudtrail_logs` table: Athena's current CloudTrail DDL (Hive JSON SerDe, partition
//! projection), lower-case names, every scalar a string, free-form objects as raw JSON text.
//!
//! After the DDL's columns come the partition columns taken from the key (`account`, `region`,
//! `timestamp`, `year`, `month`, `day`) and two extras: `eventjson`, the whole record's JSON text
//! (so fields the DDL does not name — `managementEvent`, `insightDetails`, `userIdentity.inScopeOf`
//! … — stay reachable with `json_extract_scalar(eventjson, '$.managementEvent')`), `"$path"`,
//! the file the record came from (Athena's pseudo-column of the same name), and `"$verified"`,
//! whether that file validated against its CloudTrail digest (NULL unless public keys are given).

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};

/// How a column is filled from a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A JSON string becomes its text; other values become their JSON text. `freeform` columns
    /// (requestparameters …) expect any JSON; others warn when given an object or array.
    Str {
        freeform: bool,
    },
    Struct(Vec<Spec>),
    /// An array of objects (`resources`).
    ListOfStruct(Vec<Spec>),
    /// An object of string values (`webidfederationdata.attributes`).
    MapStr,
}

/// One column or nested field: its lower-case name (matched case-insensitively against JSON keys).
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub name: &'static str,
    pub kind: Kind,
}

const fn s(name: &'static str) -> Spec {
    Spec {
        name,
        kind: Kind::Str { freeform: false },
    }
}
const fn j(name: &'static str) -> Spec {
    Spec {
        name,
        kind: Kind::Str { freeform: true },
    }
}
fn st(name: &'static str, children: Vec<Spec>) -> Spec {
    Spec {
        name,
        kind: Kind::Struct(children),
    }
}

/// The record columns, in Athena's DDL order.
pub fn record_specs() -> &'static [Spec] {
    static SPECS: OnceLock<Vec<Spec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        vec![
            s("eventversion"),
            st(
                "useridentity",
                vec![
                    s("type"),
                    s("principalid"),
                    s("arn"),
                    s("accountid"),
                    s("invokedby"),
                    s("accesskeyid"),
                    s("username"),
                    st("onbehalfof", vec![s("userid"), s("identitystorearn")]),
                    st(
                        "sessioncontext",
                        vec![
                            st("attributes", vec![s("mfaauthenticated"), s("creationdate")]),
                            st(
                                "sessionissuer",
                                vec![
                                    s("type"),
                                    s("principalid"),
                                    s("arn"),
                                    s("accountid"),
                                    s("username"),
                                ],
                            ),
                            s("ec2roledelivery"),
                            st(
                                "webidfederationdata",
                                vec![
                                    s("federatedprovider"),
                                    Spec {
                                        name: "attributes",
                                        kind: Kind::MapStr,
                                    },
                                ],
                            ),
                        ],
                    ),
                ],
            ),
            s("eventtime"),
            s("eventsource"),
            s("eventname"),
            s("awsregion"),
            s("sourceipaddress"),
            s("useragent"),
            s("errorcode"),
            s("errormessage"),
            j("requestparameters"),
            j("responseelements"),
            j("additionaleventdata"),
            s("requestid"),
            s("eventid"),
            Spec {
                name: "resources",
                kind: Kind::ListOfStruct(vec![s("arn"), s("accountid"), s("type")]),
            },
            s("eventtype"),
            s("apiversion"),
            s("readonly"),
            s("recipientaccountid"),
            j("serviceeventdetails"),
            s("sharedeventid"),
            s("vpcendpointid"),
            s("vpcendpointaccountid"),
            s("eventcategory"),
            st(
                "addendum",
                vec![
                    s("reason"),
                    s("updatedfields"),
                    s("originalrequestid"),
                    s("originaleventid"),
                ],
            ),
            s("sessioncredentialfromconsole"),
            j("edgedevicedetails"),
            st(
                "tlsdetails",
                vec![
                    s("tlsversion"),
                    s("ciphersuite"),
                    s("clientprovidedhostheader"),
                ],
            ),
        ]
    })
}

/// Columns that do not come from the record's own fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    Account,
    Region,
    /// Athena projection partition `yyyy/MM/dd` (delivery day).
    Timestamp,
    /// The same value under the name other shared projection DDLs give it (`"date"`).
    Date,
    Year,
    Month,
    Day,
    /// The record's whole JSON text.
    EventJson,
    /// The source file.
    Path,
    /// Did the source file validate against its digest (boolean; NULL when not checked)?
    Verified,
}

pub const EXTRAS: [(&str, Extra); 10] = [
    ("account", Extra::Account),
    ("region", Extra::Region),
    ("timestamp", Extra::Timestamp),
    ("date", Extra::Date),
    ("year", Extra::Year),
    ("month", Extra::Month),
    ("day", Extra::Day),
    ("eventjson", Extra::EventJson),
    ("$path", Extra::Path),
    ("$verified", Extra::Verified),
];

/// Where a table column comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Index into [`record_specs`].
    Record(usize),
    Extra(Extra),
}

impl Column {
    /// Partition columns are constant per file and known from its key.
    pub fn is_partition(self) -> bool {
        matches!(
            self,
            Column::Extra(
                Extra::Account
                    | Extra::Region
                    | Extra::Timestamp
                    | Extra::Date
                    | Extra::Year
                    | Extra::Month
                    | Extra::Day
                    | Extra::Path
            )
        )
    }
}

/// Column `i` of [`table_schema`].
pub fn column(i: usize) -> Column {
    let n = record_specs().len();
    if i < n {
        Column::Record(i)
    } else {
        Column::Extra(EXTRAS[i - n].1)
    }
}

pub fn data_type(spec: &Spec) -> DataType {
    match &spec.kind {
        Kind::Str { .. } => DataType::Utf8,
        Kind::Struct(children) => DataType::Struct(struct_fields(children)),
        Kind::ListOfStruct(children) => DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(struct_fields(children)),
            true,
        ))),
        Kind::MapStr => map_type(),
    }
}

pub fn struct_fields(children: &[Spec]) -> Fields {
    children
        .iter()
        .map(|c| Field::new(c.name, data_type(c), true))
        .collect()
}

/// `map<string,string>` as arrow-rs's `MapBuilder` produces it.
pub fn map_type() -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("keys", DataType::Utf8, false),
            Field::new("values", DataType::Utf8, true),
        ])),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

/// The full `cloudtrail_logs` schema.
pub fn table_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields: Vec<Field> = record_specs()
                .iter()
                .map(|s| Field::new(s.name, data_type(s), true))
                .collect();
            for (name, e) in EXTRAS {
                let t = match e {
                    Extra::Verified => DataType::Boolean,
                    _ => DataType::Utf8,
                };
                fields.push(Field::new(name, t, true));
            }
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// Index in [`record_specs`] of a top-level JSON key (matched case-insensitively, as Hive's
/// JSON SerDe does). The exact CloudTrail spellings are tried first.
pub fn record_index_of_key(key: &str) -> Option<usize> {
    let i = match key {
        "eventVersion" => 0,
        "userIdentity" => 1,
        "eventTime" => 2,
        "eventSource" => 3,
        "eventName" => 4,
        "awsRegion" => 5,
        "sourceIPAddress" => 6,
        "userAgent" => 7,
        "errorCode" => 8,
        "errorMessage" => 9,
        "requestParameters" => 10,
        "responseElements" => 11,
        "additionalEventData" => 12,
        "requestID" => 13,
        "eventID" => 14,
        "resources" => 15,
        "eventType" => 16,
        "apiVersion" => 17,
        "readOnly" => 18,
        "recipientAccountId" => 19,
        "serviceEventDetails" => 20,
        "sharedEventID" => 21,
        "vpcEndpointId" => 22,
        "vpcEndpointAccountId" => 23,
        "eventCategory" => 24,
        "addendum" => 25,
        "sessionCredentialFromConsole" => 26,
        "edgeDeviceDetails" => 27,
        "tlsDetails" => 28,
        _ => {
            return record_specs()
                .iter()
                .position(|s| s.name.eq_ignore_ascii_case(key))
        }
    };
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_key_table_matches_specs() {
        for (i, spec) in record_specs().iter().enumerate() {
            assert_eq!(record_index_of_key(spec.name), Some(i), "{}", spec.name);
        }
        for (k, name) in [
            ("sourceIPAddress", "sourceipaddress"),
            ("requestID", "requestid"),
            ("tlsDetails", "tlsdetails"),
            ("EVENTNAME", "eventname"),
        ] {
            assert_eq!(record_specs()[record_index_of_key(k).unwrap()].name, name);
        }
        assert_eq!(record_index_of_key("managementEvent"), None);
    }

    #[test]
    fn schema_has_athena_columns_then_partitions() {
        let schema = table_schema();
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names[0], "eventversion");
        assert_eq!(names[28], "tlsdetails");
        assert_eq!(
            &names[29..],
            [
                "account",
                "region",
                "timestamp",
                "date",
                "year",
                "month",
                "day",
                "eventjson",
                "$path",
                "$verified"
            ]
        );
        assert_eq!(column(30), Column::Extra(Extra::Region));
    }
}
