//! The structural scan ([`crate::structural`]) with the widest masks the CPU has, chosen at run
//! time: the binary stays a baseline x86-64 build and still uses AVX2 or AVX-512 where present.
//!
//! On x86-64: AVX-512 (BW) compares a whole 64-byte block at once, AVX2 in two halves; both
//! take the prefix XOR with one carry-less multiply. Anything else uses the portable SSE2 masks.
#![allow(unsafe_code)] // calling `#[target_feature]` code once the CPU is known to have it.

use std::sync::OnceLock;

use crate::structural::{container_end_with, deeper_than_with, Portable};

/// The instruction sets the scan can use, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// The widest level this CPU supports (detected once).
pub(crate) fn detected() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let base = is_x86_feature_detected!("pclmulqdq")
                && is_x86_feature_detected!("popcnt")
                && is_x86_feature_detected!("bmi1");
            if base && is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512f") {
                return Level::Avx512;
            }
            if base && is_x86_feature_detected!("avx2") {
                return Level::Avx2;
            }
        }
        Level::Portable
    })
}

/// Every level this CPU can run (for tests that compare them).
#[cfg(test)]
pub(crate) fn available() -> Vec<Level> {
    let all = [
        Level::Portable,
        #[cfg(target_arch = "x86_64")]
        Level::Avx2,
        #[cfg(target_arch = "x86_64")]
        Level::Avx512,
    ];
    all.into_iter().filter(|l| *l <= detected()).collect()
}

/// [`crate::structural::container_end`] at the detected level.
#[inline]
pub(crate) fn container_end(text: &[u8], at: usize, depth: u64) -> Option<usize> {
    container_end_at(detected(), text, at, depth)
}

/// [`container_end`] at a given level, which must not be wider than [`detected`].
#[inline]
pub(crate) fn container_end_at(level: Level, text: &[u8], at: usize, depth: u64) -> Option<usize> {
    assert!(
        level <= detected(),
        "{level:?} is not supported by this CPU"
    );
    match level {
        Level::Portable => container_end_with::<Portable>(text, at, depth),
        // SAFETY: `detected()` found every feature these functions are compiled with.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { x86::container_end_avx2(text, at, depth) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { x86::container_end_avx512(text, at, depth) },
    }
}

/// [`crate::structural::deeper_than_with`] at the detected level.
#[inline]
pub(crate) fn deeper_than(text: &[u8], limit: u64) -> bool {
    deeper_than_at(detected(), text, limit)
}

/// [`deeper_than`] at a given level, which must not be wider than [`detected`].
#[inline]
pub(crate) fn deeper_than_at(level: Level, text: &[u8], limit: u64) -> bool {
    assert!(
        level <= detected(),
        "{level:?} is not supported by this CPU"
    );
    match level {
        Level::Portable => deeper_than_with::<Portable>(text, limit),
        // SAFETY: `detected()` found every feature these functions are compiled with.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { x86::deeper_than_avx2(text, limit) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { x86::deeper_than_avx512(text, limit) },
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use crate::structural::{container_end_with, deeper_than_with, Block, Masks, FOLD};

    #[target_feature(enable = "avx2,pclmulqdq,popcnt,bmi1")]
    pub(super) unsafe fn container_end_avx2(text: &[u8], at: usize, depth: u64) -> Option<usize> {
        container_end_with::<Avx2>(text, at, depth)
    }

    #[target_feature(enable = "avx512f,avx512bw,pclmulqdq,popcnt,bmi1")]
    pub(super) unsafe fn container_end_avx512(text: &[u8], at: usize, depth: u64) -> Option<usize> {
        container_end_with::<Avx512>(text, at, depth)
    }

    #[target_feature(enable = "avx2,pclmulqdq,popcnt,bmi1")]
    pub(super) unsafe fn deeper_than_avx2(text: &[u8], limit: u64) -> bool {
        deeper_than_with::<Avx2>(text, limit)
    }

    #[target_feature(enable = "avx512f,avx512bw,pclmulqdq,popcnt,bmi1")]
    pub(super) unsafe fn deeper_than_avx512(text: &[u8], limit: u64) -> bool {
        deeper_than_with::<Avx512>(text, limit)
    }

    /// Prefix XOR as a carry-less multiply by all ones.
    #[inline(always)]
    fn clmul_prefix_xor(x: u64) -> u64 {
        // SAFETY: only reached from the functions above, compiled with `pclmulqdq`.
        unsafe {
            let product = _mm_clmulepi64_si128(_mm_set_epi64x(0, x as i64), _mm_set1_epi8(-1), 0);
            _mm_cvtsi128_si64(product) as u64
        }
    }

    struct Avx2;

    impl Masks for Avx2 {
        #[inline(always)]
        fn block(bytes: &[u8; 64]) -> Block {
            // SAFETY: only reached from the `_avx2` entry points, compiled with AVX2; the two
            // unaligned loads read the 64 bytes of `bytes`.
            unsafe {
                let p = bytes.as_ptr() as *const __m256i;
                let (lo, hi) = (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)));
                let mask = |v: __m256i, byte: u8| {
                    let eq = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(byte as i8));
                    u64::from(_mm256_movemask_epi8(eq) as u32)
                };
                let both = |byte: u8, fold: bool| {
                    let f = _mm256_set1_epi8(if fold { FOLD as i8 } else { 0 });
                    mask(_mm256_or_si256(lo, f), byte) | mask(_mm256_or_si256(hi, f), byte) << 32
                };
                Block {
                    backslash: both(b'\\', false),
                    quote: both(b'"', false),
                    open: both(b'{', true),
                    close: both(b'}', true),
                }
            }
        }

        #[inline(always)]
        fn prefix_xor(x: u64) -> u64 {
            clmul_prefix_xor(x)
        }
    }

    struct Avx512;

    impl Masks for Avx512 {
        #[inline(always)]
        fn block(bytes: &[u8; 64]) -> Block {
            // SAFETY: only reached from the `_avx512` entry points, compiled with AVX-512 F and BW;
            // the unaligned load reads the 64 bytes of `bytes`.
            unsafe {
                let v = _mm512_loadu_si512(bytes.as_ptr() as *const __m512i);
                let folded = _mm512_or_si512(v, _mm512_set1_epi8(FOLD as i8));
                let eq =
                    |v: __m512i, byte: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(byte as i8));
                Block {
                    backslash: eq(v, b'\\'),
                    quote: eq(v, b'"'),
                    open: eq(folded, b'{'),
                    close: eq(folded, b'}'),
                }
            }
        }

        #[inline(always)]
        fn prefix_xor(x: u64) -> u64 {
            clmul_prefix_xor(x)
        }
    }
}
