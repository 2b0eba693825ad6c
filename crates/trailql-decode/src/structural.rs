//! Where a JSON value ends, found from its structure alone: strings and brackets, 64 bytes at a
//! time (the simdjson stage-1 idea).
//!
//! Each 64-byte block becomes bit masks: backslashes, quotes, opening and closing brackets. The
//! backslash runs give the escaped characters, the unescaped quotes give (by a prefix XOR) the
//! bytes inside strings, and the brackets outside strings give the depth. A block whose closing
//! brackets cannot bring the depth to zero is passed over without looking at its bits one by one.
//!
//! The masks come from SSE2 (the x86-64 baseline, through the `wide` crate) or, when the CPU has
//! them, from AVX2 or AVX-512 chosen at run time ([`crate::simd`]); the scan is the same code.
//!
//! Nothing here checks that the skipped text is valid JSON beyond balanced brackets and closed
//! strings: the caller parses (and so checks) every value it keeps.

use wide::u8x16;

/// The masks of one 64-byte block: bit `i` is byte `i`.
pub(crate) struct Block {
    pub(crate) backslash: u64,
    pub(crate) quote: u64,
    pub(crate) open: u64,
    pub(crate) close: u64,
}

/// How a 64-byte block becomes its masks, and how a prefix XOR is taken: the parts of the scan
/// that an instruction set does better.
pub(crate) trait Masks {
    fn block(bytes: &[u8; 64]) -> Block;
    /// Bit `i` = XOR of bits `0..=i`: with quote bits, the bytes from an opening quote up to
    /// (not including) its closing quote.
    fn prefix_xor(x: u64) -> u64;
}

/// `[` and `]` differ from `{` and `}` only in bit 0x20, and no other byte does: OR-ing 0x20
/// into every byte finds both kinds with one comparison.
pub(crate) const FOLD: u8 = 0x20;

/// SSE2 through `wide`: four 16-byte comparisons per mask, and shifts for the prefix XOR.
pub(crate) struct Portable;

impl Masks for Portable {
    #[inline(always)]
    fn block(bytes: &[u8; 64]) -> Block {
        let (bs, q, o, c) = (
            u8x16::splat(b'\\'),
            u8x16::splat(b'"'),
            u8x16::splat(b'{'),
            u8x16::splat(b'}'),
        );
        let fold = u8x16::splat(FOLD);
        let mut b = Block {
            backslash: 0,
            quote: 0,
            open: 0,
            close: 0,
        };
        for (k, chunk) in bytes.chunks_exact(16).enumerate() {
            let v = u8x16::new(chunk.try_into().expect("16-byte chunk"));
            let folded = v | fold;
            let at = 16 * k;
            b.backslash |= (v.simd_eq(bs).to_bitmask() as u64) << at;
            b.quote |= (v.simd_eq(q).to_bitmask() as u64) << at;
            b.open |= (folded.simd_eq(o).to_bitmask() as u64) << at;
            b.close |= (folded.simd_eq(c).to_bitmask() as u64) << at;
        }
        b
    }

    #[inline(always)]
    fn prefix_xor(mut x: u64) -> u64 {
        x ^= x << 1;
        x ^= x << 2;
        x ^= x << 4;
        x ^= x << 8;
        x ^= x << 16;
        x ^= x << 32;
        x
    }
}

/// The bytes escaped by a backslash (the byte after an odd run of backslashes). `carry` says
/// whether the first byte of this block is escaped by the previous block.
#[inline(always)]
fn escaped(backslash: u64, carry: &mut u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let backslash = backslash & !*carry;
    let follows = (backslash << 1) | *carry;
    let odd_starts = backslash & !EVEN & !follows;
    let (even_starts, overflow) = odd_starts.overflowing_add(backslash);
    *carry = overflow as u64;
    (EVEN ^ (even_starts << 1)) & follows
}

/// Scanning from `at` (outside any string) at bracket depth `depth`, the index just past the
/// bracket that brings the depth to zero. With `depth == 0`, `text[at]` must be `{` or `[`.
/// `None` when the text ends first.
pub(crate) fn container_end(text: &[u8], at: usize, depth: u64) -> Option<usize> {
    crate::simd::container_end(text, at, depth)
}

/// The blocks of `text` from a point outside any string, 64 bytes at a time, as the bits of
/// their opening and closing brackets outside strings (the carries of escapes and strings go
/// from one block to the next). The last, short block is padded with spaces.
struct Blocks<'t, M> {
    text: &'t [u8],
    at: usize,
    esc_carry: u64,
    str_carry: u64,
    masks: std::marker::PhantomData<M>,
}

impl<'t, M: Masks> Blocks<'t, M> {
    #[inline(always)]
    fn new(text: &'t [u8], at: usize) -> Self {
        Blocks {
            text,
            at,
            esc_carry: 0,
            str_carry: 0,
            masks: std::marker::PhantomData,
        }
    }

    /// The next block's start and its `(open, close)` bracket bits; `None` past the end.
    #[inline(always)]
    fn next(&mut self) -> Option<(usize, u64, u64)> {
        let (text, at) = (self.text, self.at);
        let b = match text.get(at..at + 64) {
            Some(bytes) => M::block(bytes.try_into().expect("64 bytes")),
            None if at < text.len() => {
                let mut pad = [b' '; 64];
                pad[..text.len() - at].copy_from_slice(&text[at..]);
                M::block(&pad)
            }
            None => return None,
        };
        let quotes = b.quote & !escaped(b.backslash, &mut self.esc_carry);
        let in_string = M::prefix_xor(quotes) ^ self.str_carry;
        self.str_carry = ((in_string as i64) >> 63) as u64;
        self.at += 64;
        Some((at, b.open & !in_string, b.close & !in_string))
    }
}

/// [`container_end`] with the masks of `M`. Inlined into each instruction set's entry point, so
/// that the bit arithmetic too is compiled for it (`popcnt`, `tzcnt`).
#[inline(always)]
pub(crate) fn container_end_with<M: Masks>(
    text: &[u8],
    at: usize,
    mut depth: u64,
) -> Option<usize> {
    let mut blocks = Blocks::<M>::new(text, at);
    while let Some((at, open, close)) = blocks.next() {
        if u64::from(close.count_ones()) < depth {
            depth = depth + u64::from(open.count_ones()) - u64::from(close.count_ones());
            continue;
        }
        let mut brackets = open | close;
        while brackets != 0 {
            let bit = brackets & brackets.wrapping_neg();
            if open & bit != 0 {
                depth += 1;
            } else {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(at + bit.trailing_zeros() as usize + 1);
                }
            }
            brackets &= brackets - 1;
        }
    }
    None
}

/// Does any bracket in `text` (outside strings) open more than `limit` levels deep? Blocks as
/// in [`container_end_with`]; a block is passed over whole when neither its closing brackets
/// can bring the depth below zero nor its opening ones past the limit, else walked bit by bit.
/// Closing brackets at depth zero are ignored, so a slice that starts inside a value is fine.
#[inline(always)]
pub(crate) fn deeper_than_with<M: Masks>(text: &[u8], limit: u64) -> bool {
    let mut blocks = Blocks::<M>::new(text, 0);
    let mut depth = 0u64;
    while let Some((_, open, close)) = blocks.next() {
        let (opens, closes) = (u64::from(open.count_ones()), u64::from(close.count_ones()));
        if closes <= depth && depth + opens <= limit {
            depth = depth + opens - closes;
            continue;
        }
        let mut brackets = open | close;
        while brackets != 0 {
            let bit = brackets & brackets.wrapping_neg();
            if open & bit != 0 {
                depth += 1;
                if depth > limit {
                    return true;
                }
            } else {
                depth = depth.saturating_sub(1);
            }
            brackets &= brackets - 1;
        }
    }
    false
}

/// `text[at]` is `"`: the index just past the closing quote, and whether the string has escapes.
pub(crate) fn string_end(text: &[u8], at: usize) -> Option<(usize, bool)> {
    let mut from = at + 1;
    let mut escapes = false;
    loop {
        let i = from + quote_or_backslash(text.get(from..)?)?;
        if text[i] == b'"' {
            return Some((i + 1, escapes));
        }
        escapes = true;
        from = i + 2;
    }
}

/// The first `"` or `\` in `hay`. Most strings here are short (keys, names, IDs): 16 bytes
/// at a time on SSE2, inlined, beats a general search's call and set-up.
#[inline(always)]
fn quote_or_backslash(hay: &[u8]) -> Option<usize> {
    let (q, bs) = (u8x16::splat(b'"'), u8x16::splat(b'\\'));
    let mut k = 0;
    while let Some(chunk) = hay.get(k..k + 16) {
        let v = u8x16::new(chunk.try_into().expect("16 bytes"));
        let hits = (v.simd_eq(q) | v.simd_eq(bs)).to_bitmask();
        if hits != 0 {
            return Some(k + hits.trailing_zeros() as usize);
        }
        k += 16;
    }
    hay[k..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|p| k + p)
}

/// The index of the first byte at or after `at` that is not JSON whitespace.
pub(crate) fn skip_ws(text: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = text.get(at) {
        at += 1;
    }
    at
}

/// A value starting at `text[at]`: the index just past it. Strings and containers are found by
/// structure; a scalar must look like `true`, `false`, `null` or a number.
pub(crate) fn value_end(text: &[u8], at: usize) -> Option<usize> {
    match *text.get(at)? {
        b'"' => string_end(text, at).map(|(end, _)| end),
        b'{' | b'[' => container_end(text, at, 0),
        _ => {
            let len = text[at..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                .unwrap_or(text.len() - at);
            let s = &text[at..at + len];
            let number = s.first().is_some_and(|c| *c == b'-' || c.is_ascii_digit())
                && s.iter()
                    .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'));
            (number || matches!(s, b"true" | b"false" | b"null")).then_some(at + len)
        }
    }
}

/// The brackets of `text` outside strings, found byte by byte: `(index, is_opening)`. The
/// reference the block scans are tested against.
#[cfg(test)]
pub(crate) fn naive_brackets(text: &[u8]) -> Vec<(usize, bool)> {
    let (mut in_str, mut esc) = (false, false);
    let mut out = Vec::new();
    for (i, &c) in text.iter().enumerate() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => out.push((i, true)),
            b'}' | b']' => out.push((i, false)),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious byte-by-byte scan, to check the block scan against.
    fn naive_container_end(text: &[u8], at: usize) -> Option<usize> {
        let mut depth = 0i64;
        for (i, open) in naive_brackets(&text[at..]) {
            depth += if open { 1 } else { -1 };
            if depth == 0 {
                return Some(at + i + 1);
            }
        }
        None
    }

    /// A small deterministic generator of JSON with long strings, escape runs and nesting.
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn string(&mut self, out: &mut String) {
            out.push('"');
            for _ in 0..self.next() % 90 {
                match self.next() % 12 {
                    0 => out.push_str("\\\\"),
                    1 => out.push_str("\\\""),
                    2 => out.push_str("\\\\\\\""),
                    3 => out.push_str("{["),
                    4 => out.push_str("]}"),
                    5 => out.push_str("\\u00e9"),
                    _ => out.push((b'a' + (self.next() % 26) as u8) as char),
                }
            }
            out.push('"');
        }
        fn value(&mut self, out: &mut String, depth: u32) {
            match (self.next() % 5, depth < 6) {
                (0, true) => {
                    out.push('{');
                    for i in 0..self.next() % 5 {
                        if i > 0 {
                            out.push(',');
                        }
                        self.string(out);
                        out.push(':');
                        self.value(out, depth + 1);
                    }
                    out.push('}');
                }
                (1, true) => {
                    out.push('[');
                    for i in 0..self.next() % 5 {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        self.value(out, depth + 1);
                    }
                    out.push(']');
                }
                (2, _) => out.push_str("-12.5e3"),
                _ => self.string(out),
            }
        }
    }

    /// Every instruction set this CPU has, against the byte scan.
    fn check(t: &[u8], at: usize, depth: u64, want: Option<usize>, text: &str) {
        for level in crate::simd::available() {
            let got = crate::simd::container_end_at(level, t, at, depth);
            assert_eq!(got, want, "{level:?}: {text}");
        }
    }

    #[test]
    fn block_scan_agrees_with_a_byte_scan() {
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let mut text = String::from("{\"k\":");
            g.value(&mut text, 1);
            text.push_str("} ,{\"next\":1}");
            let t = text.as_bytes();
            let end = naive_container_end(t, 0);
            check(t, 0, 0, end, &text);
            // From inside the object, at depth 1.
            check(t, 1, 1, end, &text);
            // Cut short: no end.
            check(&t[..end.unwrap() - 1], 0, 0, None, &text);
        }
    }

    #[test]
    fn escapes_across_block_edges() {
        // A run of backslashes that straddles the 64-byte edge, ending just before a quote.
        for run in 1..8 {
            for pad in 50..70 {
                let s = format!(
                    "[\"{}{}\\\"\"]",
                    "a".repeat(pad),
                    "\\\\".repeat(run) // an even run: the quote after is escaped by its own `\`
                );
                let t = s.as_bytes();
                check(t, 0, 0, naive_container_end(t, 0), &s);
            }
        }
    }

    #[test]
    fn strings_and_scalars() {
        assert_eq!(string_end(br#""ab" x"#, 0), Some((4, false)));
        assert_eq!(string_end(br#""a\"b\\" x"#, 0), Some((8, true)));
        assert_eq!(string_end(br#""open"#, 0), None);
        // Quotes and escapes before, at and after the 16-byte steps.
        for len in 0..40 {
            let plain = format!("\"{}\" x", "a".repeat(len));
            assert_eq!(
                string_end(plain.as_bytes(), 0),
                Some((len + 2, false)),
                "{plain}"
            );
            let escaped = format!("\"{}\\\"b\" x", "a".repeat(len));
            assert_eq!(
                string_end(escaped.as_bytes(), 0),
                Some((len + 5, true)),
                "{escaped}"
            );
            let open = format!("\"{}", "a".repeat(len));
            assert_eq!(string_end(open.as_bytes(), 0), None, "{open}");
        }
        assert_eq!(value_end(b"true,", 0), Some(4));
        assert_eq!(value_end(b"-1.5e3}", 0), Some(6));
        assert_eq!(value_end(b"null", 0), Some(4));
        assert_eq!(value_end(b"nope,", 0), None);
        assert_eq!(value_end(b",", 0), None);
        assert_eq!(value_end(b"[1,{\"a\":\"]\"}] ,", 0), Some(13));
        assert_eq!(skip_ws(b"  \n\tx", 0), 4);
    }
}
