//! The key grammar and listing scope as property tests (see trailql-decode's tests/fuzz.rs for
//! why not cargo-fuzz): any key classifies without panicking, and a trail key that parses
//! keeps its parts.

use proptest::prelude::*;
use trailql_layout::{classify, folder_days, KeyKind, TrailRoot};

fn part() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("AWSLogs".to_string()),
        Just("CloudTrail".to_string()),
        Just("CloudTrail-Digest".to_string()),
        Just("o-abc123".to_string()),
        Just("111122223333".to_string()),
        Just("us-east-1".to_string()),
        Just("2024".to_string()),
        Just("13".to_string()),
        Just("08".to_string()),
        Just("31".to_string()),
        Just("111122223333_CloudTrail_us-east-1_20240801T1005Z_abc.json.gz".to_string()),
        Just("111122223333_CloudTrail_us-east-1_20241301T9999Z_x.json.gz".to_string()),
        ".{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_key_classifies(parts in prop::collection::vec(part(), 0..12), sep in prop_oneof![Just("/"), Just("\\"), Just("//")]) {
        let key = parts.join(sep);
        if let KeyKind::TrailLog(k) = classify(&key) {
            prop_assert!(key.contains(&k.account));
            prop_assert!(key.contains(&k.region));
        }
        let _ = TrailRoot::parse(&key);
        let comps: Vec<&str> = key.split('/').collect();
        let _ = folder_days(&comps);
    }
}
