//! Fuzzing the decoder as property tests (cargo-fuzz needs a nightly toolchain, which this
//! project's machines do not have): arbitrary bytes, JSON-shaped text from a small grammar, and
//! mutations of a real record, each compressed or not, through every projection, whole and
//! streamed in tiny windows. Properties: no panic; the report's counts add up; streaming gives
//! the rows the whole-file decode gives.

use std::io::Write;
use std::sync::Arc;

use proptest::prelude::*;
use trailql_decode::{table_schema, DecodePlan, FileDecoder, FileMeta, Prefilter, StreamLimits};

const SEED: &str = r#"{"Records":[{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/s","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/R"},"webIdFederationData":{"attributes":{"a":"b"}}}},"eventTime":"2024-08-01T00:00:00Z","eventName":"AuthorizeSecurityGroupIngress","requestParameters":{"groupId":"sg-1","ipPermissions":{"items":[{"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}},"resources":[{"ARN":"a","type":"t"}],"readOnly":false,"tlsDetails":{"tlsVersion":"TLSv1.2"},"eventID":"e1"},{"eventName":"X","eventID":"e2","errorMessage":"caf\u00e9 \"q\""}]}"#;

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[a-z\\\\\"{}\\[\\]:,é]{0,12}"
            .prop_map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))),
        "[\\[\\]{}\":,a-z0-9\\\\ ]{0,16}", // structural junk
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("eventName".to_string()),
                        Just("userIdentity".to_string()),
                        Just("resources".to_string()),
                        Just("requestParameters".to_string()),
                        Just("tlsDetails".to_string()),
                        Just("ARN".to_string()),
                        Just("sessionContext".to_string()),
                        "[a-zA-Z]{1,8}",
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| format!(
                "{{{}}}",
                kv.into_iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ]
    })
}

fn file_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(json_value(), 0..6).prop_map(|r| format!(
            "{{\"Records\":[{}]}}",
            r.join(",")
        )
        .into_bytes()),
        json_value().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..300),
        // A real file with bytes flipped, cut or inserted.
        (0..SEED.len(), any::<u8>(), 0usize..3).prop_map(|(at, b, how)| {
            let mut s = SEED.as_bytes().to_vec();
            match how {
                0 => s[at] = b,
                1 => s.truncate(at),
                _ => s.insert(at, b),
            }
            s
        }),
    ]
}

fn projections() -> impl Strategy<Value = Option<Vec<usize>>> {
    let n = table_schema().fields().len();
    prop_oneof![
        Just(None),
        prop::collection::btree_set(0..n, 0..5).prop_map(|s| Some(s.into_iter().collect())),
    ]
}

fn decode(raw: &[u8], plan: DecodePlan) -> (usize, trailql_decode::FileReport) {
    let mut d = FileDecoder::from_bytes(raw.to_vec(), FileMeta::default(), Arc::new(plan));
    let rows = d.by_ref().map(|b| b.num_rows()).sum();
    (rows, d.into_report())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn the_decoder_never_panics_and_streaming_agrees(
        text in file_text(),
        compress in any::<bool>(),
        projection in projections(),
        prefilter in any::<bool>(),
    ) {
        let raw = if compress { gz(&text) } else { text };
        let pf = prefilter.then(|| Prefilter::new(vec![vec!["eventName".into()]])).flatten();
        let whole = DecodePlan::new(projection.as_deref()).with_prefilter(pf.clone());
        let mut streamed = DecodePlan::new(projection.as_deref()).with_prefilter(pf);
        streamed.stream = StreamLimits { whole_max: 0, window: 64, max_record: 1 << 16, read_chunk: 7 };
        let (w_rows, w) = decode(&raw, whole);
        let (s_rows, s) = decode(&raw, streamed);
        prop_assert_eq!(w_rows as u64, w.rows);
        prop_assert_eq!(s_rows as u64, s.rows);
        // Both read the same records; a damaged file may be cut at a different record, never
        // with more rows than the intact part holds.
        if !w.has_problems() && !s.has_problems() {
            prop_assert_eq!(w.rows, s.rows);
        }
    }
}
