//! JSONPath parsing and the `json_*` functions' kernels as property tests (see trailql-decode's
//! tests/fuzz.rs for why not cargo-fuzz): any path text parses or is refused, and any JSON text
//! (deep, broken, huge numbers) is answered or NULL, never a panic or a stack overflow.

use proptest::prelude::*;
use trailql_functions::jsonpath;

fn json() -> impl Strategy<Value = String> {
    prop_oneof![
        "[\\[\\]{}\":,a-z0-9\\\\ .eE+-]{0,40}",
        (1usize..3000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
        (1usize..3000).prop_map(|n| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n))),
        (1usize..3000).prop_map(|n| "[{\"a\":".repeat(n)),
        Just(r#"{"a":{"b":[1,{"c d":"x"}]},"n":1e999999,"s":"\ud800"}"#.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn paths_and_documents_never_panic(path in "[$.\\[\\]'\"a-z0-9* ]{0,16}", doc in json()) {
        if let Ok(p) = jsonpath::parse(&path) {
            let _ = p.extract_scalar(&doc);
            let _ = p.extract(&doc);
        }
        for p in ["$", "$.a", "$.a.b[1]['c d']", "$[0]"] {
            let p = jsonpath::parse(p).unwrap();
            let _ = p.extract_scalar(&doc);
            let _ = p.extract(&doc);
        }
    }
}
