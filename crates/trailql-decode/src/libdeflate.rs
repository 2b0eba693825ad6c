//! libdeflate's one-shot gzip inflater (about twice zlib's speed, with a fast CRC-32), used for
//! intact files. It is called member by member with `libdeflate_gzip_decompress_ex`, which
//! reports the input it consumed, so a multi-member file is inflated whole — the plain
//! `libdeflate_gzip_decompress` would silently stop after the first member. Damaged input is
//! left to the streaming inflater, which keeps the bytes before the damage.
#![allow(unsafe_code)] // FFI to libdeflate: the one place that needs it.

use std::cell::RefCell;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE,
    libdeflate_result_LIBDEFLATE_SUCCESS,
};

struct Decompressor(*mut libdeflate_decompressor);

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor, freed once.
        unsafe { libdeflate_free_decompressor(self.0) }
    }
}

thread_local! {
    static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
}

/// Why the fast path did not produce the file's bytes.
pub(crate) enum Slow {
    /// Inflates past the limit.
    TooBig,
    /// Corrupt, truncated or not gzip: use the streaming inflater.
    Damaged,
}

/// Inflate every gzip member of `raw`, at most `limit` bytes; `hint` is the expected size.
pub(crate) fn gunzip(raw: &[u8], limit: u64, hint: usize) -> Result<Vec<u8>, Slow> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            // SAFETY: plain allocation; NULL is checked below.
            let p = unsafe { libdeflate_alloc_decompressor() };
            if p.is_null() {
                return Err(Slow::Damaged);
            }
            *slot = Some(Decompressor(p));
        }
        let d = slot.as_ref().expect("decompressor allocated").0;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut out: Vec<u8> = Vec::with_capacity(hint.clamp(1 << 12, limit.max(1 << 12)));
        let mut pos = 0usize;
        while pos < raw.len() {
            let input = &raw[pos..];
            if input.len() < 18 || input[0] != 0x1f || input[1] != 0x8b {
                return Err(Slow::Damaged);
            }
            loop {
                let spare = out.capacity() - out.len();
                let mut used_in = 0usize;
                let mut wrote = 0usize;
                // SAFETY: `input` is valid for `input.len()` bytes; the output pointer is the
                // vector's spare capacity, valid for `spare` bytes; libdeflate writes at most
                // `spare` bytes and reports how many in `wrote`.
                let ret = unsafe {
                    libdeflate_gzip_decompress_ex(
                        d,
                        input.as_ptr().cast(),
                        input.len(),
                        out.as_mut_ptr().add(out.len()).cast(),
                        spare,
                        &mut used_in,
                        &mut wrote,
                    )
                };
                if ret == libdeflate_result_LIBDEFLATE_SUCCESS {
                    // SAFETY: libdeflate initialised `wrote` bytes after the old length.
                    unsafe { out.set_len(out.len() + wrote) };
                    pos += used_in;
                    break;
                } else if ret == libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE {
                    if out.capacity() >= limit {
                        return Err(Slow::TooBig);
                    }
                    let grow = out.capacity().max(1 << 16).min(limit - out.capacity());
                    out.reserve_exact(out.capacity() - out.len() + grow);
                } else {
                    return Err(Slow::Damaged);
                }
            }
        }
        if out.len() > limit {
            return Err(Slow::TooBig);
        }
        Ok(out)
    })
}
