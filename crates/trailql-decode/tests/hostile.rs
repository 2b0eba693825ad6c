//! Hostile and oversized input: nesting that would overflow a recursive parser, files decoded
//! in windows (the same rows as decoded whole), bombs, lying gzip trailers, huge records.
//! A stack overflow aborts this test binary, so "no crash" is checked by running at all.

use std::io::Write;
use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use flate2::{write::GzEncoder, Compression};
use trailql_decode::nesting::MAX_NESTING;
use trailql_decode::{
    decode_file, table_schema, DecodePlan, FileDecoder, FileMeta, Prefilter, StreamLimits,
};

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn meta() -> FileMeta {
    FileMeta {
        path: "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/f.json.gz".into(),
        ..FileMeta::default()
    }
}

fn idx(name: &str) -> usize {
    table_schema().index_of(name).unwrap()
}

fn record(i: usize) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/u{i}","sessionContext":{{"attributes":{{"mfaAuthenticated":"false"}}}}}},"eventTime":"2024-08-01T00:{:02}:00Z","eventSource":"ec2.amazonaws.com","eventName":"{}","awsRegion":"us-east-1","requestParameters":{{"groupId":"sg-{i}","ipPermissions":{{"items":[{{"ipRanges":{{"items":[{{"cidrIp":"0.0.0.0/0"}}]}}}}]}}}},"responseElements":null,"resources":[{{"ARN":"arn:aws:ec2:::sg-{i}","type":"AWS::EC2::SecurityGroup"}}],"eventID":"e-{i}","readOnly":false,"note":"caf\u00e9 \"{i}\" ]}}["}}"#,
        i % 60,
        if i.is_multiple_of(3) {
            "AuthorizeSecurityGroupIngress"
        } else {
            "DescribeInstances"
        }
    )
}

fn file_of(records: &[String]) -> String {
    format!("{{\"Records\":[{}]}}", records.join(",\n"))
}

/// Every batch of a file through the pull-based decoder, and its report.
fn decode_with(raw: &[u8], plan: DecodePlan) -> (Vec<RecordBatch>, trailql_decode::FileReport) {
    let mut d = FileDecoder::from_bytes(raw.to_vec(), meta(), Arc::new(plan));
    let batches: Vec<RecordBatch> = d.by_ref().collect();
    (batches, d.into_report())
}

/// Limits small enough that every file is streamed, in windows of a few records, read a few
/// bytes at a time.
fn tiny() -> StreamLimits {
    StreamLimits {
        whole_max: 0,
        window: 700,
        max_record: 64 << 10,
        read_chunk: 97,
    }
}

fn streamed(projection: Option<&[usize]>) -> DecodePlan {
    let mut p = DecodePlan::new(projection);
    p.stream = tiny();
    p
}

fn column(batches: &[RecordBatch], name: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column(b.schema().index_of(name).unwrap());
            let opts = arrow_cast::display::FormatOptions::default();
            let f = arrow_cast::display::ArrayFormatter::try_new(c.as_ref(), &opts).unwrap();
            (0..c.len())
                .map(|i| c.is_valid(i).then(|| f.value(i).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

fn deep_array(n: usize) -> String {
    format!("{}{}", "[".repeat(n), "]".repeat(n))
}

fn deep_object(n: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n))
}

/// A record whose `field` holds `value`, then an ordinary record.
fn with_deep(field: &str, value: &str) -> String {
    let deep = format!(
        r#"{{"eventName":"Deep","eventID":"deep","eventTime":"2024-08-01T00:00:00Z","{field}":{value}}}"#
    );
    file_of(&[deep, record(1)])
}

#[test]
fn deep_nesting_in_every_column_kind_never_overflows() {
    let fields = [
        "requestParameters",   // free-form text
        "responseElements",    // free-form text
        "additionalEventData", // free-form text
        "serviceEventDetails", // free-form text
        "edgeDeviceDetails",   // free-form text
        "eventSource",         // plain string column
        "userIdentity",        // struct
        "tlsDetails",          // struct
        "addendum",            // struct
        "resources",           // list of structs
        "somethingUnknown",    // no column: only in eventjson
    ];
    let eventjson = idx("eventjson");
    let projections: Vec<Option<Vec<usize>>> = vec![
        None,
        Some(vec![]),
        Some(vec![idx("eventid")]),
        Some(vec![
            idx("eventid"),
            idx("requestparameters"),
            idx("useridentity"),
        ]),
        Some(vec![idx("eventid"), eventjson]),
    ];
    for field in fields {
        for value in [
            deep_array(200_000),
            deep_object(100_000),
            "[".repeat(150_000),
        ] {
            let text = with_deep(field, &value);
            for projection in &projections {
                for prefilter in [
                    None,
                    Prefilter::new(vec![vec!["e-1".into(), "deep".into()]]),
                ] {
                    let mut stream = streamed(projection.as_deref());
                    stream.stream.max_record = 4 << 20;
                    for plan in [DecodePlan::new(projection.as_deref()), stream] {
                        let plan = plan.with_prefilter(prefilter.clone());
                        let (b, r) = decode_with(text.as_bytes(), plan);
                        let closed = value.ends_with(']') || value.ends_with('}');
                        if closed {
                            // The deep record is kept (a field NULL or raw) or dropped and
                            // counted; the ordinary record after it always comes back.
                            assert!(r.rows + r.bad_records == 2, "{field} {projection:?}: {r:?}");
                            if projection
                                .as_ref()
                                .is_some_and(|p| p.contains(&idx("eventid")))
                            {
                                assert!(column(&b, "eventid").contains(&Some("e-1".into())));
                            }
                        } else {
                            // Never closed: the file is cut short there, and says so.
                            assert!(r.file_error.is_some(), "{field}: {r:?}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn a_deep_free_form_value_is_kept_as_raw_text() {
    let value = deep_array(MAX_NESTING + 1);
    let text = with_deep("requestParameters", &value);
    let plan = DecodePlan::new(Some(&[idx("eventid"), idx("requestparameters")]));
    let d = decode_file(text.as_bytes(), &meta(), &plan);
    let got = column(&d.batches, "requestparameters");
    assert_eq!(got[0].as_deref(), Some(value.as_str()));
    assert!(got[1].as_deref().unwrap().contains("sg-1"));
    assert_eq!(d.report.type_problems, 1);
    assert!(
        d.report.describe().contains("nests deeper than 512 levels"),
        "{}",
        d.report.describe()
    );
    // At the limit itself it is parsed (and checked) as usual.
    let ok = with_deep("requestParameters", &deep_array(MAX_NESTING));
    let d = decode_file(ok.as_bytes(), &meta(), &plan);
    assert_eq!(d.report.type_problems, 0, "{}", d.report.describe());
}

#[test]
fn a_deep_struct_value_is_null_and_named() {
    let text = with_deep("userIdentity", &deep_object(MAX_NESTING + 5));
    let plan = DecodePlan::new(Some(&[idx("eventid"), idx("useridentity")]));
    let d = decode_file(text.as_bytes(), &meta(), &plan);
    let ui = d.batches[0].column(1);
    assert!(ui.is_null(0));
    assert!(ui.is_valid(1));
    assert!(
        d.report
            .describe()
            .contains("field `useridentity` nests deeper"),
        "{}",
        d.report.describe()
    );
}

#[test]
fn deep_top_level_keys_before_records_are_walked_without_recursion() {
    let text = format!(
        "{{\"other\":{},\"Records\":[{}]}}",
        deep_array(300_000),
        record(0)
    );
    let mut stream = streamed(None);
    stream.stream.max_record = 1 << 20; // a file not led by `Records` is read whole up to this
    for plan in [DecodePlan::new(None), stream] {
        let (b, r) = decode_with(text.as_bytes(), plan);
        assert_eq!(rows(&b), 1, "{r:?}");
    }
}

fn corpus(n: usize) -> Vec<String> {
    (0..n).map(record).collect()
}

#[test]
fn streamed_windows_give_the_same_rows_as_a_whole_file() {
    let text = file_of(&corpus(300));
    let bare = format!("[{}]", corpus(50).join(","));
    for raw in [
        text.as_bytes().to_vec(),
        gz(text.as_bytes()),
        [gz(&text.as_bytes()[..5000]), gz(&text.as_bytes()[5000..])].concat(),
        bare.into_bytes(),
    ] {
        for projection in [
            None,
            Some(vec![]),
            Some(vec![idx("eventname"), idx("eventid")]),
            Some(vec![idx("eventjson")]),
        ] {
            for prefilter in [
                None,
                Prefilter::new(vec![vec!["AuthorizeSecurityGroupIngress".into()]]),
            ] {
                let whole =
                    DecodePlan::new(projection.as_deref()).with_prefilter(prefilter.clone());
                let (wb, wr) = decode_with(&raw, whole);
                let (sb, sr) = decode_with(
                    &raw,
                    streamed(projection.as_deref()).with_prefilter(prefilter),
                );
                assert!(!wr.has_problems() && !sr.has_problems(), "{wr:?} {sr:?}");
                assert_eq!(rows(&wb), rows(&sb));
                assert_eq!(wr.rows, sr.rows);
                for f in wb.first().map(|b| b.schema()).iter().flat_map(|s| {
                    s.fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect::<Vec<_>>()
                }) {
                    assert_eq!(column(&wb, &f), column(&sb, &f), "{f}");
                }
            }
        }
    }
}

#[test]
fn a_file_cut_short_anywhere_keeps_the_records_before_the_cut() {
    let text = file_of(&corpus(40));
    let z = gz(text.as_bytes());
    for cut in (20..z.len()).step_by(z.len() / 37) {
        for plan in [
            DecodePlan::new(Some(&[idx("eventid")])),
            streamed(Some(&[idx("eventid")])),
        ] {
            let (b, r) = decode_with(&z[..cut], plan);
            let ids = column(&b, "eventid");
            let want: Vec<Option<String>> =
                (0..ids.len()).map(|i| Some(format!("e-{i}"))).collect();
            assert_eq!(ids, want, "cut at {cut}");
            let e = r.file_error.as_deref().unwrap_or("");
            assert!(e.contains("corrupt or truncated gzip"), "cut at {cut}: {e}");
        }
    }
    // Plain text cut short: the record that does not end is named.
    for cut in [text.len() / 3, text.len() - 3] {
        for plan in [DecodePlan::new(None), streamed(None)] {
            let (_, r) = decode_with(&text.as_bytes()[..cut], plan);
            let e = r.file_error.unwrap();
            assert!(e.contains("does not end"), "{e}");
        }
    }
}

#[test]
fn messages_in_later_windows_name_the_record_in_the_file() {
    let mut recs = corpus(30);
    recs[25] = r#"{"eventName":"X","eventID":"bad","userIdentity":"not an object"}"#.into();
    let text = file_of(&recs);
    let plan = streamed(Some(&[idx("eventid"), idx("useridentity")]));
    let (_, r) = decode_with(text.as_bytes(), plan);
    assert_eq!(r.rows, 30);
    assert!(r.describe().contains("record 25:"), "{}", r.describe());
    // A missing comma stops the file at that record, wherever the window is.
    let text = file_of(&corpus(30)).replacen(
        &format!("}},\n{}", record(20)),
        &format!("}} {}", record(20)),
        1,
    );
    for plan in [
        DecodePlan::new(Some(&[idx("eventid")])),
        streamed(Some(&[idx("eventid")])),
    ] {
        let (b, r) = decode_with(text.as_bytes(), plan);
        assert_eq!(rows(&b), 20, "{r:?}");
        assert!(r.file_error.unwrap().contains("record 19"));
    }
}

#[test]
fn a_bomb_is_stopped_at_the_cap_with_the_records_before_it() {
    // Records, then a run of spaces inside the array: inflates far past the cap.
    let mut text = file_of(&corpus(10));
    text.truncate(text.len() - 2);
    text.push(',');
    let mut body = text.into_bytes();
    body.extend(std::iter::repeat_n(b' ', 40 << 20));
    let z = gz(&body);
    let mut plan = DecodePlan::new(Some(&[idx("eventid")]));
    plan.max_inflated = 8 << 20;
    let (b, r) = decode_with(&z, plan);
    assert_eq!(rows(&b), 10);
    assert!(r.file_error.unwrap().contains("decompression bomb"));
    // Zeros: not JSON, said at once.
    let (b, r) = decode_with(&gz(&vec![0u8; 30 << 20]), DecodePlan::new(None));
    assert_eq!(rows(&b), 0);
    assert!(r.file_error.unwrap().contains("not a CloudTrail log file"));
}

#[test]
fn a_gzip_trailer_that_lies_about_the_size_is_streamed() {
    let text = file_of(&corpus(200));
    let mut z = gz(text.as_bytes());
    let n = z.len();
    z[n - 4..].copy_from_slice(&16u32.to_le_bytes()); // ISIZE says 16 bytes
    let mut plan = DecodePlan::new(Some(&[idx("eventid")]));
    plan.stream.whole_max = 64 << 10; // the file inflates past this
    let (b, r) = decode_with(&z, plan);
    assert_eq!(rows(&b), 200);
    // The streaming inflater checks the trailer at the end and says so.
    assert!(r.file_error.unwrap().contains("corrupt or truncated gzip"));
}

#[test]
fn a_record_over_the_record_limit_stops_the_file_and_says_why() {
    let mut recs = corpus(5);
    recs.insert(
        3,
        format!(r#"{{"eventName":"Big","x":"{}"}}"#, "a".repeat(200 << 10)),
    );
    let text = file_of(&recs);
    let (b, r) = decode_with(text.as_bytes(), streamed(Some(&[idx("eventid")])));
    assert_eq!(rows(&b), 3);
    assert!(r.file_error.unwrap().contains("record 3 is larger than"));
}

#[test]
fn a_large_file_is_decoded_a_window_at_a_time() {
    // 20 MB of records: over the whole-file size, so it is streamed with the default limits.
    let n = 20 << 20;
    let mut recs = Vec::new();
    let mut len = 0;
    while len < n {
        let r = record(recs.len());
        len += r.len() + 2;
        recs.push(r);
    }
    let z = gz(file_of(&recs).as_bytes());
    let plan = Arc::new(DecodePlan::new(Some(&[idx("eventid")])));
    let mut d = FileDecoder::from_bytes(z, meta(), plan);
    let mut batches = 0;
    let mut total = 0;
    for b in d.by_ref() {
        batches += 1;
        total += b.num_rows();
    }
    assert_eq!(total, recs.len());
    assert!(batches >= 5, "{batches} batch(es): not windowed");
    assert!(!d.report().has_problems(), "{:?}", d.report());
}
