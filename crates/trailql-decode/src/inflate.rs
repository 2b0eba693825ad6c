//! Gzip facts and the cap on a file's inflated size (inflation itself: [`crate::stream`]).

/// Default cap on one file's inflated size: the work spent on one file, not the memory it
/// takes (a large file is streamed). CloudTrail delivers at most 50 MB compressed per file;
/// JSON compresses about 7–15x, so real files stay well below this.
pub const DEFAULT_MAX_INFLATED: u64 = 2 << 30;

/// Is this a gzip stream (by magic number, not by name)?
pub fn is_gzip(raw: &[u8]) -> bool {
    raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b
}

pub(crate) fn bomb(limit: u64) -> String {
    format!(
        "inflates to more than {limit} bytes (a decompression bomb?): not read past that — raise --max-inflated-bytes if the file is genuine"
    )
}
