//! How deep JSON may nest before trailql stops parsing it.
//!
//! The JSON parsers underneath (sonic-rs when it checks a value, serde_json) descend into
//! arrays and objects by recursion, so a value nested a few hundred thousand levels deep — no
//! CloudTrail record comes near that, but a hostile or broken file can — would overflow the
//! stack and abort the process. Every place that hands untrusted JSON to such a parser asks
//! [`too_deep`] first (one SIMD pass over the brackets, the same masks as the structural walk)
//! and treats a value past [`MAX_NESTING`] as one it cannot parse: a free-form text column
//! keeps its raw text, a typed column is NULL with a warning, a JSON function returns NULL.

/// The deepest nesting parsed. Real CloudTrail records nest about 10 levels; Jackson (Trino,
/// Athena) stops at 1,000 and serde_json at 128. 512 levels of the recursive parsers use a
/// few hundred KB of stack, well inside a 2 MiB thread.
pub const MAX_NESTING: usize = 512;

/// Does `json` nest deeper than [`MAX_NESTING`] (brackets inside strings do not count)?
/// Text shorter than the limit cannot, and is not scanned.
pub fn too_deep(json: &[u8]) -> bool {
    deeper_than(json, MAX_NESTING)
}

/// Does `json` nest deeper than `limit`?
pub fn deeper_than(json: &[u8], limit: usize) -> bool {
    json.len() > limit && crate::simd::deeper_than(json, limit as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The deepest nesting, byte by byte (closing brackets at depth zero ignored).
    fn naive_depth(text: &[u8]) -> usize {
        let (mut depth, mut max) = (0usize, 0usize);
        for (_, open) in crate::structural::naive_brackets(text) {
            if open {
                depth += 1;
                max = max.max(depth);
            } else {
                depth = depth.saturating_sub(1);
            }
        }
        max
    }

    #[test]
    fn deep_values_are_found_at_every_level() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..next() % 400 {
                s.push_str(match next() % 9 {
                    0 => "[",
                    1 => "{\"k\":",
                    2 => "]",
                    3 => "}",
                    4 => "\"[[{\\\"[\"",
                    5 => "\\\\",
                    6 => ",",
                    7 => "\"}}]]\"",
                    _ => "x",
                });
            }
            let t = s.as_bytes();
            let depth = naive_depth(t);
            for limit in [0, 1, 3, depth.saturating_sub(1), depth, depth + 1] {
                for level in crate::simd::available() {
                    assert_eq!(
                        crate::simd::deeper_than_at(level, t, limit as u64),
                        depth > limit,
                        "{level:?} limit {limit}: {s}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_limit_itself_is_allowed() {
        let at = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(!too_deep(at(MAX_NESTING).as_bytes()));
        assert!(too_deep(at(MAX_NESTING + 1).as_bytes()));
        assert!(too_deep("[".repeat(200_000).as_bytes()));
        let quoted = format!("\"{}\"", "[".repeat(10_000));
        assert!(!too_deep(quoted.as_bytes()));
    }
}
