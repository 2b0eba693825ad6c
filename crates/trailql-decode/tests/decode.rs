//! Decoding checked column by column against hand-written records.

use arrow_array::{Array, ListArray, MapArray, RecordBatch, StringArray, StructArray};
use trailql_decode::{
    decode_file, decode_text, table_schema, DecodePlan, FileMeta, FileReport, Prefilter,
};

const START_INSTANCES: &str = r#"{"Records": [{
    "eventVersion": "1.08",
    "userIdentity": {
        "type": "IAMUser",
        "principalId": "EXAMPLE6E4XEGITWATV6R",
        "arn": "arn:aws:iam::123456789012:user/Mateo",
        "accountId": "123456789012",
        "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
        "userName": "Mateo",
        "sessionContext": {
            "sessionIssuer": {},
            "webIdFederationData": {},
            "attributes": {"creationDate": "2023-07-19T21:11:57Z", "mfaAuthenticated": "false"}
        }
    },
    "eventTime": "2023-07-19T21:17:28Z",
    "eventSource": "ec2.amazonaws.com",
    "eventName": "StartInstances",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "192.0.2.0",
    "userAgent": "aws-cli/2.13.5",
    "requestParameters": {"instancesSet": {"items": [{"instanceId": "i-EXAMPLE56126103cb"}]}},
    "responseElements": {"requestId": "e4336db0"},
    "requestID": "e4336db0-149f-4a6b-844d-EXAMPLEb9d16",
    "eventID": "e755e09c-42f9-4c5c-9064-EXAMPLE228c7",
    "readOnly": false,
    "eventType": "AwsApiCall",
    "managementEvent": true,
    "recipientAccountId": "123456789012",
    "eventCategory": "Management",
    "tlsDetails": {"tlsVersion": "TLSv1.2", "cipherSuite": "ECDHE-RSA-AES128-GCM-SHA256", "clientProvidedHostHeader": "ec2.us-east-1.amazonaws.com"},
    "sessionCredentialFromConsole": "true"
},
{
    "eventVersion": "1.05",
    "userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROAIDPPEZS35WEXAMPLE:MySessionName",
        "arn": "arn:aws:sts::123456789012:assumed-role/RoleToBeAssumed/MySessionName",
        "accountId": "123456789012",
        "onBehalfOf": {"userId": "u-1", "identityStoreArn": "arn:aws:identitystore::123456789012:identitystore/d-1"},
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAIDPPEZS35WEXAMPLE", "arn": "arn:aws:iam::123456789012:role/RoleToBeAssumed", "accountId": "123456789012", "userName": "RoleToBeAssumed"},
            "ec2RoleDelivery": "2.0",
            "webIdFederationData": {"federatedProvider": "accounts.google.com", "attributes": {"aud": "app", "n": 7}}
        }
    },
    "eventTime": "2014-07-18T15:07:39Z",
    "eventSource": "sts.amazonaws.com",
    "eventName": "AssumeRole",
    "awsRegion": "us-east-2",
    "sourceIPAddress": "192.0.2.101",
    "errorCode": "AccessDenied",
    "errorMessage": "Caf\u00e9 \"quoted\" — ünïcode",
    "requestParameters": null,
    "resources": [
        {"ARN": "arn:aws:iam::111122223333:role/EC2-dev", "accountId": "111122223333", "type": "AWS::IAM::Role"},
        {"ARN": "arn:aws:iam::111122223333:role/Other", "accountId": "111122223333", "type": "AWS::IAM::Role"}
    ],
    "additionalEventData": {"MFAUsed": "No"},
    "serviceEventDetails": "plain string",
    "sharedEventID": "bEXAMPLE",
    "vpcEndpointId": "vpce-1",
    "vpcEndpointAccountId": "111122223333",
    "addendum": {"reason": "DELIVERY_DELAY", "updatedFields": "x", "originalRequestID": "r", "originalEventID": "e"},
    "edgeDeviceDetails": {"type": "outposts", "attributes": {"a": "b"}},
    "apiVersion": "2016_01_28"
}]}"#;

fn meta() -> FileMeta {
    FileMeta {
        path: "AWSLogs/123456789012/CloudTrail/us-east-1/2023/07/19/f.json.gz".into(),
        account: Some("123456789012".into()),
        region: Some("us-east-1".into()),
        timestamp: Some("2023/07/19".into()),
        year: Some("2023".into()),
        month: Some("07".into()),
        day: Some("19".into()),
        verified: Some(true),
    }
}

fn decode(text: &str, plan: &DecodePlan) -> (RecordBatch, FileReport) {
    let mut batches = Vec::new();
    let mut report = FileReport::default();
    decode_text(text, &meta(), plan, &mut batches, &mut report);
    let schema = plan.schema.clone();
    let batch = arrow_select_concat(&schema, &batches);
    (batch, report)
}

fn arrow_select_concat(schema: &arrow_schema::SchemaRef, batches: &[RecordBatch]) -> RecordBatch {
    assert!(batches.len() <= 1, "small inputs fit one batch");
    batches
        .first()
        .cloned()
        .unwrap_or_else(|| RecordBatch::new_empty(schema.clone()))
}

fn col<'a>(b: &'a RecordBatch, name: &str) -> &'a StringArray {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
}

fn opt(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

fn field<'a>(s: &'a StructArray, name: &str) -> &'a dyn Array {
    s.column_by_name(name).unwrap().as_ref()
}

fn sfield<'a>(s: &'a StructArray, name: &str) -> &'a StringArray {
    field(s, name).as_any().downcast_ref().unwrap()
}

fn nested<'a>(s: &'a StructArray, name: &str) -> &'a StructArray {
    field(s, name).as_any().downcast_ref().unwrap()
}

#[test]
fn every_column_decodes_as_hand_checked() {
    let plan = DecodePlan::new(None);
    let (b, report) = decode(START_INSTANCES, &plan);
    assert_eq!(report.rows, 2);
    assert!(!report.has_problems(), "{}", report.describe());
    assert_eq!(b.schema(), table_schema());

    assert_eq!(opt(col(&b, "eventversion"), 0), Some("1.08"));
    assert_eq!(opt(col(&b, "eventtime"), 0), Some("2023-07-19T21:17:28Z"));
    assert_eq!(opt(col(&b, "eventsource"), 0), Some("ec2.amazonaws.com"));
    assert_eq!(opt(col(&b, "eventname"), 0), Some("StartInstances"));
    assert_eq!(opt(col(&b, "awsregion"), 0), Some("us-east-1"));
    assert_eq!(opt(col(&b, "sourceipaddress"), 0), Some("192.0.2.0"));
    assert_eq!(opt(col(&b, "useragent"), 0), Some("aws-cli/2.13.5"));
    assert_eq!(opt(col(&b, "errorcode"), 0), None);
    assert_eq!(opt(col(&b, "errorcode"), 1), Some("AccessDenied"));
    assert_eq!(
        opt(col(&b, "errormessage"), 1),
        Some("Café \"quoted\" — ünïcode")
    );
    assert_eq!(
        opt(col(&b, "requestparameters"), 0),
        Some(r#"{"instancesSet": {"items": [{"instanceId": "i-EXAMPLE56126103cb"}]}}"#)
    );
    assert_eq!(
        opt(col(&b, "requestparameters"), 1),
        None,
        "JSON null is NULL"
    );
    assert_eq!(
        opt(col(&b, "responseelements"), 0),
        Some(r#"{"requestId": "e4336db0"}"#)
    );
    assert_eq!(
        opt(col(&b, "additionaleventdata"), 1),
        Some(r#"{"MFAUsed": "No"}"#)
    );
    assert_eq!(opt(col(&b, "serviceeventdetails"), 1), Some("plain string"));
    assert_eq!(
        opt(col(&b, "requestid"), 0),
        Some("e4336db0-149f-4a6b-844d-EXAMPLEb9d16")
    );
    assert_eq!(
        opt(col(&b, "eventid"), 0),
        Some("e755e09c-42f9-4c5c-9064-EXAMPLE228c7")
    );
    assert_eq!(opt(col(&b, "eventtype"), 0), Some("AwsApiCall"));
    assert_eq!(opt(col(&b, "apiversion"), 1), Some("2016_01_28"));
    assert_eq!(
        opt(col(&b, "readonly"), 0),
        Some("false"),
        "booleans read as text"
    );
    assert_eq!(opt(col(&b, "recipientaccountid"), 0), Some("123456789012"));
    assert_eq!(opt(col(&b, "sharedeventid"), 1), Some("bEXAMPLE"));
    assert_eq!(opt(col(&b, "vpcendpointid"), 1), Some("vpce-1"));
    assert_eq!(
        opt(col(&b, "vpcendpointaccountid"), 1),
        Some("111122223333")
    );
    assert_eq!(opt(col(&b, "eventcategory"), 0), Some("Management"));
    assert_eq!(
        opt(col(&b, "sessioncredentialfromconsole"), 0),
        Some("true")
    );
    assert_eq!(opt(col(&b, "sessioncredentialfromconsole"), 1), None);
    assert_eq!(
        opt(col(&b, "edgedevicedetails"), 1),
        Some(r#"{"type": "outposts", "attributes": {"a": "b"}}"#)
    );

    // useridentity
    let ui: &StructArray = b
        .column_by_name("useridentity")
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    assert_eq!(opt(sfield(ui, "type"), 0), Some("IAMUser"));
    assert_eq!(
        opt(sfield(ui, "principalid"), 0),
        Some("EXAMPLE6E4XEGITWATV6R")
    );
    assert_eq!(
        opt(sfield(ui, "arn"), 0),
        Some("arn:aws:iam::123456789012:user/Mateo")
    );
    assert_eq!(opt(sfield(ui, "accountid"), 0), Some("123456789012"));
    assert_eq!(
        opt(sfield(ui, "accesskeyid"), 0),
        Some("AKIAIOSFODNN7EXAMPLE")
    );
    assert_eq!(opt(sfield(ui, "username"), 0), Some("Mateo"));
    assert_eq!(opt(sfield(ui, "invokedby"), 0), None);
    let obo = nested(ui, "onbehalfof");
    assert!(obo.is_null(0));
    assert_eq!(opt(sfield(obo, "userid"), 1), Some("u-1"));
    assert_eq!(
        opt(sfield(obo, "identitystorearn"), 1),
        Some("arn:aws:identitystore::123456789012:identitystore/d-1")
    );
    let sc = nested(ui, "sessioncontext");
    let attrs = nested(sc, "attributes");
    assert_eq!(opt(sfield(attrs, "mfaauthenticated"), 0), Some("false"));
    assert_eq!(
        opt(sfield(attrs, "creationdate"), 0),
        Some("2023-07-19T21:11:57Z")
    );
    assert!(attrs.is_null(1));
    let si = nested(sc, "sessionissuer");
    assert!(
        si.is_valid(0),
        "an empty object is a struct of NULLs, not NULL"
    );
    assert_eq!(opt(sfield(si, "arn"), 0), None);
    assert_eq!(opt(sfield(si, "type"), 1), Some("Role"));
    assert_eq!(
        opt(sfield(si, "arn"), 1),
        Some("arn:aws:iam::123456789012:role/RoleToBeAssumed")
    );
    assert_eq!(opt(sfield(si, "username"), 1), Some("RoleToBeAssumed"));
    assert_eq!(opt(sfield(sc, "ec2roledelivery"), 1), Some("2.0"));
    let wif = nested(sc, "webidfederationdata");
    assert_eq!(
        opt(sfield(wif, "federatedprovider"), 1),
        Some("accounts.google.com")
    );
    let map: &MapArray = field(wif, "attributes").as_any().downcast_ref().unwrap();
    let entries = map.value(1);
    let keys: &StringArray = entries.column(0).as_any().downcast_ref().unwrap();
    let vals: &StringArray = entries.column(1).as_any().downcast_ref().unwrap();
    assert_eq!((keys.value(0), vals.value(0)), ("aud", "app"));
    assert_eq!((keys.value(1), vals.value(1)), ("n", "7"));

    // resources: the JSON key is `ARN`, the column `arn`
    let res: &ListArray = b
        .column_by_name("resources")
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    assert!(res.is_null(0));
    let r1 = res.value(1);
    let r1: &StructArray = r1.as_any().downcast_ref().unwrap();
    assert_eq!(r1.len(), 2);
    assert_eq!(
        opt(sfield(r1, "arn"), 0),
        Some("arn:aws:iam::111122223333:role/EC2-dev")
    );
    assert_eq!(opt(sfield(r1, "accountid"), 1), Some("111122223333"));
    assert_eq!(opt(sfield(r1, "type"), 1), Some("AWS::IAM::Role"));

    let add: &StructArray = b
        .column_by_name("addendum")
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    assert_eq!(opt(sfield(add, "reason"), 1), Some("DELIVERY_DELAY"));
    assert_eq!(opt(sfield(add, "originaleventid"), 1), Some("e"));
    let tls: &StructArray = b
        .column_by_name("tlsdetails")
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    assert_eq!(opt(sfield(tls, "tlsversion"), 0), Some("TLSv1.2"));
    assert_eq!(
        opt(sfield(tls, "clientprovidedhostheader"), 0),
        Some("ec2.us-east-1.amazonaws.com")
    );

    // partitions and extras
    assert_eq!(opt(col(&b, "account"), 1), Some("123456789012"));
    assert_eq!(opt(col(&b, "region"), 1), Some("us-east-1"));
    assert_eq!(opt(col(&b, "timestamp"), 1), Some("2023/07/19"));
    assert_eq!(opt(col(&b, "year"), 0), Some("2023"));
    assert_eq!(opt(col(&b, "month"), 0), Some("07"));
    assert_eq!(opt(col(&b, "day"), 0), Some("19"));
    assert!(opt(col(&b, "eventjson"), 0)
        .unwrap()
        .contains(r#""managementEvent": true"#));
    assert!(opt(col(&b, "$path"), 0).unwrap().ends_with("f.json.gz"));
}

#[test]
fn projection_builds_only_asked_columns() {
    let schema = table_schema();
    let idx = |n: &str| schema.index_of(n).unwrap();
    let plan = DecodePlan::new(Some(&[idx("eventname"), idx("account")]));
    let (b, _) = decode(START_INSTANCES, &plan);
    assert_eq!(b.num_columns(), 2);
    assert_eq!(opt(col(&b, "eventname"), 1), Some("AssumeRole"));
    let count_only = DecodePlan::new(Some(&[]));
    let (b, r) = decode(START_INSTANCES, &count_only);
    assert_eq!((b.num_columns(), b.num_rows(), r.rows), (0, 2, 2));
}

#[test]
fn unexpected_types_are_kept_and_counted() {
    let text = r#"{"Records":[
        {"eventName": {"odd": 1}, "userIdentity": "root", "resources": {"ARN": "x"}, "readOnly": true, "eventVersion": 1.08},
        42,
        {"eventName": "Ok", "resources": ["not-an-object"], "userIdentity": {"sessionContext": {"webIdFederationData": {"attributes": []}}}}
    ]}"#;
    let plan = DecodePlan::new(None);
    let (b, r) = decode(text, &plan);
    assert_eq!(r.rows, 2);
    assert_eq!(r.bad_records, 1, "the number 42 is not a record");
    assert_eq!(r.type_problems, 5, "{:?}", r.messages);
    assert!(
        r.describe()
            .contains("`useridentity` is a string, expected an object"),
        "{}",
        r.describe()
    );
    assert_eq!(opt(col(&b, "eventname"), 0), Some(r#"{"odd": 1}"#));
    assert_eq!(opt(col(&b, "readonly"), 0), Some("true"));
    assert_eq!(opt(col(&b, "eventversion"), 0), Some("1.08"));
    let ui = b.column_by_name("useridentity").unwrap();
    assert!(ui.is_null(0));
    let res = b.column_by_name("resources").unwrap();
    assert!(res.is_null(0));
    assert!(res.is_valid(1));
}

#[test]
fn keys_match_case_insensitively_and_duplicates_keep_the_first() {
    let text = r#"{"Records":[{"EVENTNAME":"A","eventName":"B","UserIdentity":{"ARN":"x"}}]}"#;
    let (b, _) = decode(text, &DecodePlan::new(None));
    assert_eq!(opt(col(&b, "eventname"), 0), Some("A"));
    let ui: &StructArray = b
        .column_by_name("useridentity")
        .unwrap()
        .as_any()
        .downcast_ref()
        .unwrap();
    assert_eq!(opt(sfield(ui, "arn"), 0), Some("x"));
}

#[test]
fn invalid_json_keeps_the_records_before_it() {
    let text = r#"{"Records":[{"eventName":"A"},{"eventName":"B"},{"eventName": oops}]}"#;
    let (b, r) = decode(text, &DecodePlan::new(None));
    assert_eq!(b.num_rows(), 2);
    assert!(r.file_error.unwrap().contains("record 2"));
}

#[test]
fn files_without_records() {
    let plan = DecodePlan::new(None);
    for (text, want) in [
        (
            r#"{"awsAccountId":"1","digestPublicKeyFingerprint":"ab","logFiles":[]}"#,
            "digest",
        ),
        (r#"{"fileVersion":"1.0","configurationItems":[]}"#, "config"),
        (r#"{"foo": 1}"#, "no `Records` key"),
        ("not json", "not a CloudTrail log file"),
        ("", "empty file"),
        (r#"{"Records": {"a": 1}}"#, "not an array"),
    ] {
        let (_, r) = decode(text, &plan);
        let got = match (r.not_events, &r.file_error) {
            (Some(trailql_decode::NotEventsContent::Digest), _) => "digest".to_string(),
            (Some(trailql_decode::NotEventsContent::Config), _) => "config".to_string(),
            (None, Some(e)) => e.clone(),
            (None, None) => panic!("{text}: no problem reported"),
        };
        assert!(got.contains(want), "{text}: {got}");
    }
}

#[test]
fn a_bare_array_of_records_is_accepted() {
    let (b, r) = decode(
        r#"[{"eventName":"A"},{"eventName":"B"}]"#,
        &DecodePlan::new(None),
    );
    assert_eq!((b.num_rows(), r.rows), (2, 2));
}

#[test]
fn prefilter_skips_records_and_files() {
    let pf = Prefilter::new(vec![vec!["AssumeRole".into()]]);
    let plan = DecodePlan::new(None).with_prefilter(pf);
    let (b, r) = decode(START_INSTANCES, &plan);
    assert_eq!(b.num_rows(), 1);
    assert_eq!(r.prefiltered_records, 1);
    // The file has a \u escape, so it is not skipped whole; its records still are.
    let pf = Prefilter::new(vec![vec!["NeverThere".into()]]);
    let plan = DecodePlan::new(None).with_prefilter(pf);
    let (b, r) = decode(START_INSTANCES, &plan);
    assert!(!r.prefiltered_file);
    assert_eq!(
        (b.num_rows(), r.prefiltered_records),
        (1, 1),
        "the escaped record is parsed"
    );
    let plain = r#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#;
    let (_, r) = decode(plain, &plan);
    assert!(r.prefiltered_file);
    assert_eq!(r.rows, 0);
}

#[test]
fn batches_split_at_batch_size() {
    let recs: Vec<String> = (0..10)
        .map(|i| format!(r#"{{"eventName":"E{i}"}}"#))
        .collect();
    let text = format!(r#"{{"Records":[{}]}}"#, recs.join(","));
    let mut plan = DecodePlan::new(None);
    plan.batch_size = 4;
    let mut batches = Vec::new();
    let mut report = FileReport::default();
    decode_text(&text, &meta(), &plan, &mut batches, &mut report);
    let sizes: Vec<_> = batches.iter().map(|b| b.num_rows()).collect();
    assert_eq!(sizes, [4, 4, 2]);
}

#[test]
fn gzip_files_and_huge_values() {
    use std::io::Write;
    let big = "x".repeat(40_000);
    let text = format!(
        r#"{{"Records":[{{"eventName":"Big","requestParameters":{{"policy":"{big}"}}}}]}}"#
    );
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    let gz = e.finish().unwrap();
    let d = decode_file(&gz, &meta(), &DecodePlan::new(None));
    assert_eq!(d.report.rows, 1);
    let rp = col(&d.batches[0], "requestparameters");
    assert_eq!(rp.value(0).len(), 40_000 + r#"{"policy":""}"#.len());

    // Truncated: the error names gzip, and complete records before the cut are kept.
    let many: Vec<String> = (0..2000)
        .map(|i| format!(r#"{{"eventName":"E{i}","eventID":"{i:08}"}}"#))
        .collect();
    let text = format!(r#"{{"Records":[{}]}}"#, many.join(","));
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    let gz = e.finish().unwrap();
    let d = decode_file(&gz[..gz.len() * 2 / 3], &meta(), &DecodePlan::new(None));
    let err = d.report.file_error.clone().unwrap();
    assert!(err.contains("gzip"), "{err}");
    assert!(
        d.report.rows > 0 && d.report.rows < 2000,
        "{}",
        d.report.rows
    );

    // Invalid UTF-8 is replaced, not fatal.
    let bad = b"{\"Records\":[{\"eventName\":\"a\xffb\"}]}";
    let d = decode_file(bad, &meta(), &DecodePlan::new(None));
    assert_eq!(col(&d.batches[0], "eventname").value(0), "a\u{fffd}b");
    assert!(d.report.describe().contains("UTF-8"));
    // The prefilter sees the bytes first: a file it rules out is skipped whole, unchecked; one
    // it lets through is checked (and its damage reported) as without a prefilter.
    let needle = |lit: &str| {
        DecodePlan::new(None).with_prefilter(Prefilter::new(vec![vec![lit.to_string()]]))
    };
    let d = decode_file(bad, &meta(), &needle("Other"));
    assert!(d.report.prefiltered_file && !d.report.has_problems());
    let d = decode_file(bad, &meta(), &needle("eventName"));
    assert!(d.report.describe().contains("UTF-8"));
    assert_eq!(col(&d.batches[0], "eventname").value(0), "a\u{fffd}b");
    // An empty file is reported whatever the prefilter.
    let d = decode_file(b" \n", &meta(), &needle("Other"));
    assert!(d.report.file_error.unwrap().contains("empty"));
}

#[test]
fn single_pass_and_record_by_record_paths_agree() {
    // Record columns only: decoded in one pass. With eventjson: record by record.
    let record_cols: Vec<usize> = (0..29).collect();
    let mut with_json = record_cols.clone();
    with_json.push(table_schema().index_of("eventjson").unwrap());
    let odd = r#"{"Records":[{"eventName":"A","userIdentity":"root","resources":{"ARN":"x"}},7,{"eventName":"B\u00e9","readOnly":true}]}"#;
    for text in [START_INSTANCES, odd] {
        let (one, r1) = decode(text, &DecodePlan::new(Some(&record_cols)));
        let (two, r2) = decode(text, &DecodePlan::new(Some(&with_json)));
        assert_eq!(one.columns(), &two.columns()[..29]);
        assert_eq!(
            (r1.rows, r1.bad_records, r1.type_problems),
            (r2.rows, r2.bad_records, r2.type_problems)
        );
        assert_eq!(r1.messages.len(), r2.messages.len());
    }
    // Invalid JSON: the single pass gives up and the record-by-record path keeps what precedes it.
    let (b, r) = decode(
        r#"{"Records":[{"eventName":"A"},{"eventName": oops}]}"#,
        &DecodePlan::new(Some(&record_cols)),
    );
    assert_eq!(b.num_rows(), 1);
    assert!(r.file_error.unwrap().contains("record 1"));
}

/// Records that stress the structural walk: escapes and brackets inside strings, odd spacing,
/// keys in any order, duplicates, nulls and non-string scalars, values of unexpected types.
const TRICKY: &str = concat!(
    r#"{"Records":[ {"requestParameters":{"p":"a\"}]\\","q":[{"r":"{[\\\\"}],"s":"\\"},"#,
    r#""eventName" : "Put\"Object\\" , "eventSource":"s3.amazonaws.com","readOnly":true,"#,
    r#""eventName":"Duplicate","userIdentity":{"type":"Root","arn":"arn:{x}"}},"#,
    "\n\t{ \"eventTime\":\"2024-01-01T00:00:00Z\",\"eventName\":null,\"resources\":[],",
    r#""userIdentity":"a string","eventSource":"ec2.amazonaws.com"} ,"#,
    r#"{},{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","apiVersion":7,"#,
    r#""responseElements":{"user":{"tags":[["k","v"]],"n":-1.5e3,"b":false}},"eventID":"id-3"}"#,
    "]}"
);

/// The same text with an escaped key first, which the structural walk does not take: the
/// record-by-record path decodes it instead. The key is not a column, so both give one answer.
fn record_by_record(text: &str) -> String {
    let at = text.find("[").unwrap();
    let first = at + text[at..].find('{').unwrap();
    format!(r#"{}{{"x\\y":0,{}"#, &text[..first], &text[first + 1..])
}

#[test]
fn structural_walk_and_record_by_record_path_agree() {
    let schema = table_schema();
    let ix = |n: &str| schema.index_of(n).unwrap();
    let mut projections: Vec<Vec<usize>> = (0..29).map(|i| vec![i]).collect();
    projections.push(vec![ix("eventsource"), ix("eventname")]);
    projections.push(vec![ix("eventname"), ix("eventsource"), ix("eventid")]);
    projections.push((0..29).collect());
    projections.push(vec![ix("eventjson"), ix("eventname")]);
    projections.push(vec![ix("recipientaccountid")]);
    projections.push(vec![]);
    let prefilters = [
        None,
        Prefilter::new(vec![vec!["CreateUser".into(), "Object".into()]]),
    ];
    for text in [START_INSTANCES, TRICKY] {
        let slow_text = record_by_record(text);
        for p in &projections {
            for pf in &prefilters {
                let plan = DecodePlan::new(Some(p)).with_prefilter(pf.clone());
                let (fast, r1) = decode(text, &plan);
                let (slow, r2) = decode(&slow_text, &plan);
                let what = format!("projection {p:?}, prefilter {pf:?}");
                assert_eq!(fast.num_rows(), slow.num_rows(), "{what}");
                if p.contains(&ix("eventjson")) {
                    // The record text differs by the escaped key; the other columns do not.
                    let keep: Vec<usize> =
                        (0..p.len()).filter(|&i| p[i] != ix("eventjson")).collect();
                    assert_eq!(
                        fast.project(&keep).unwrap(),
                        slow.project(&keep).unwrap(),
                        "{what}"
                    );
                } else {
                    assert_eq!(fast.columns(), slow.columns(), "{what}");
                }
                assert_eq!(
                    (
                        r1.rows,
                        r1.bad_records,
                        r1.type_problems,
                        r1.prefiltered_records
                    ),
                    (
                        r2.rows,
                        r2.bad_records,
                        r2.type_problems,
                        r2.prefiltered_records
                    ),
                    "{what}"
                );
                assert_eq!(r1.file_error, r2.file_error, "{what}");
            }
        }
    }
    // Spot checks of what both paths give.
    let (b, r) = decode(
        TRICKY,
        &DecodePlan::new(Some(&[ix("eventname"), ix("requestparameters")])),
    );
    assert_eq!(b.num_rows(), 4);
    assert_eq!(opt(col(&b, "eventname"), 0), Some("Put\"Object\\"));
    assert_eq!(
        opt(col(&b, "requestparameters"), 0),
        Some(r#"{"p":"a\"}]\\","q":[{"r":"{[\\\\"}],"s":"\\"}"#)
    );
    assert_eq!(opt(col(&b, "eventname"), 1), None);
    assert_eq!(opt(col(&b, "eventname"), 3), Some("CreateUser"));
    assert_eq!(r.type_problems, 0);
}

#[test]
fn damage_the_structural_walk_cannot_take_is_reported() {
    let plan = DecodePlan::new(Some(&[table_schema().index_of("eventname").unwrap()]));
    for (text, want) in [
        // A record that is not an object.
        (
            r#"{"Records":[{"eventName":"A"},"text",{"eventName":"B"}]}"#,
            2,
        ),
        // A bad scalar in a field the query does not read.
        (
            r#"{"Records":[{"eventName":"A"},{"readOnly":tru,"eventName":"B"}]}"#,
            1,
        ),
        // A missing comma.
        (
            r#"{"Records":[{"eventName":"A"},{"eventName":"B" "x":1}]}"#,
            1,
        ),
        // Cut inside a nested value.
        (
            r#"{"Records":[{"eventName":"A"},{"eventName":"B","x":{"y":["#,
            1,
        ),
    ] {
        let (b, r) = decode(text, &plan);
        assert_eq!(b.num_rows(), want, "{text}");
        assert!(
            r.file_error.is_some() || r.bad_records == 1,
            "{text}: {r:?}"
        );
    }
}
