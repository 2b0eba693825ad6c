//! Digest keys and public-key files as property tests (see trailql-decode's tests/fuzz.rs for
//! why not cargo-fuzz): any text is parsed or refused with a reason, never a panic; nesting
//! past serde_json's limit is an error.

use proptest::prelude::*;
use trailql_integrity::digest::DigestKey;
use trailql_integrity::keys::PublicKeys;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn digest_keys_parse_or_not(parts in prop::collection::vec(prop_oneof![
        Just("AWSLogs"), Just("CloudTrail-Digest"), Just("o-abc"), Just("111122223333"),
        Just("us-east-1"), Just("2024"), Just("08"), Just("01"),
        Just("111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20240801T010203Z.json.gz"),
        Just("x_CloudTrail-Digest_y_z_w_2024T.json.gz"), Just(""),
    ], 0..10)) {
        let _ = DigestKey::parse(&parts.join("/"));
    }

    #[test]
    fn public_key_files_parse_or_say_why(text in prop_oneof![
        "[\\[\\]{}\":,a-zA-Z0-9 ]{0,60}",
        (1usize..100_000).prop_map(|n| format!("{{\"PublicKeyList\":{}{}}}", "[".repeat(n), "]".repeat(n))),
        Just(r#"{"PublicKeyList":[{"Fingerprint":"ab","Value":"not base64","ValidityStartTime":1}]}"#.to_string()),
    ]) {
        if let Err(e) = PublicKeys::from_json(&text) {
            prop_assert!(!e.is_empty());
        }
    }
}
