//! CloudTrail Lake's event schema, as [`VIEW`](crate::VIEW) gives it over `cloudtrail_logs`.
//!
//! Names are matched ignoring case (unquoted identifiers are folded to lower case, as in Trino),
//! so `eventTime` and `eventtime` are one column. Types follow Lake's: `eventTime` a timestamp
//! (UTC), `readOnly`, `managementEvent` and `sessionCredentialFromConsole` booleans, and the
//! free-form objects `map<string,string>` whose nested values are JSON text.

/// The view's definition over `cloudtrail_logs` (its lower-case columns and functions).
pub const VIEW_SQL: &str = "SELECT
  eventversion,
  useridentity,
  CAST(from_iso8601_timestamp(eventtime) AS TIMESTAMP) AS eventtime,
  eventsource,
  eventname,
  awsregion,
  sourceipaddress,
  useragent,
  errorcode,
  errormessage,
  json_to_map(requestparameters) AS requestparameters,
  json_to_map(responseelements) AS responseelements,
  json_to_map(additionaleventdata) AS additionaleventdata,
  requestid,
  eventid,
  TRY_CAST(readonly AS BOOLEAN) AS readonly,
  resources,
  eventtype,
  apiversion,
  TRY_CAST(json_extract_scalar(eventjson, '$.managementEvent') AS BOOLEAN) AS managementevent,
  recipientaccountid,
  sharedeventid,
  json_extract_scalar(eventjson, '$.annotation') AS annotation,
  vpcendpointid,
  vpcendpointaccountid,
  json_to_map(serviceeventdetails) AS serviceeventdetails,
  addendum,
  edgedevicedetails,
  json_extract(eventjson, '$.insightDetails') AS insightdetails,
  eventcategory,
  tlsdetails,
  TRY_CAST(sessioncredentialfromconsole AS BOOLEAN) AS sessioncredentialfromconsole,
  eventjson
FROM cloudtrail_logs";

/// The columns as Lake names and types them (`trailql schema --dialect lake`).
pub const COLUMNS: &[(&str, &str)] = &[
    ("eventVersion", "string"),
    (
        "userIdentity",
        "struct<type:string, principalId:string, arn:string, accountId:string, invokedBy:string, \
         accessKeyId:string, userName:string, onBehalfOf:struct<userId:string, \
         identityStoreArn:string>, sessionContext:struct<attributes:struct<mfaAuthenticated:string, \
         creationDate:string>, sessionIssuer:struct<type:string, principalId:string, arn:string, \
         accountId:string, userName:string>, ec2RoleDelivery:string, \
         webIdFederationData:struct<federatedProvider:string, attributes:map<string,string>>>>",
    ),
    ("eventTime", "timestamp"),
    ("eventSource", "string"),
    ("eventName", "string"),
    ("awsRegion", "string"),
    ("sourceIPAddress", "string"),
    ("userAgent", "string"),
    ("errorCode", "string"),
    ("errorMessage", "string"),
    ("requestParameters", "map<string,string>"),
    ("responseElements", "map<string,string>"),
    ("additionalEventData", "map<string,string>"),
    ("requestID", "string"),
    ("eventID", "string"),
    ("readOnly", "boolean"),
    (
        "resources",
        "array<struct<ARN:string, accountId:string, type:string>>",
    ),
    ("eventType", "string"),
    ("apiVersion", "string"),
    ("managementEvent", "boolean"),
    ("recipientAccountId", "string"),
    ("sharedEventID", "string"),
    ("annotation", "string"),
    ("vpcEndpointId", "string"),
    ("vpcEndpointAccountId", "string"),
    ("serviceEventDetails", "map<string,string>"),
    (
        "addendum",
        "struct<reason:string, updatedFields:string, originalRequestID:string, \
         originalEventID:string>",
    ),
    ("edgeDeviceDetails", "string (JSON text)"),
    ("insightDetails", "string (JSON text)"),
    ("eventCategory", "string"),
    (
        "tlsDetails",
        "struct<tlsVersion:string, cipherSuite:string, clientProvidedHostHeader:string>",
    ),
    ("sessionCredentialFromConsole", "boolean"),
    ("eventJson", "string (the whole record's JSON text)"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_column_is_in_the_view_in_order() {
        let select = VIEW_SQL
            .strip_prefix("SELECT")
            .and_then(|s| s.split("\nFROM").next())
            .unwrap();
        let names: Vec<String> = select
            .split(",\n")
            .map(|c| c.trim().rsplit(' ').next().unwrap().to_string())
            .collect();
        let listed: Vec<String> = COLUMNS.iter().map(|(n, _)| n.to_lowercase()).collect();
        assert_eq!(names, listed);
    }
}
