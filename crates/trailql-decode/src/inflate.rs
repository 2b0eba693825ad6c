//! Bytes of a file → its JSON text: gzip (multi-member) or plain, with a cap on the inflated size.

use std::io::Read;

/// Default cap on one file's inflated size. CloudTrail delivers at most 50 MB compressed per file;
/// JSON compresses about 7–15x, so real files stay well below this.
pub const DEFAULT_MAX_INFLATED: u64 = 2 << 30;

/// The inflated bytes, and the error that stopped inflation early (the bytes before it are kept).
pub struct Inflated {
    pub bytes: Vec<u8>,
    pub error: Option<String>,
}

/// Is this a gzip stream (by magic number, not by name)?
pub fn is_gzip(raw: &[u8]) -> bool {
    raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b
}

/// Inflate `raw` if it is gzip, else return it as is. Stops with an error past `limit` bytes.
pub fn inflate(raw: &[u8], limit: u64) -> Inflated {
    if !is_gzip(raw) {
        if raw.len() as u64 > limit {
            return Inflated {
                bytes: Vec::new(),
                error: Some(format!(
                    "file is {} bytes, over the {limit}-byte limit (raise --max-inflated-bytes)",
                    raw.len()
                )),
            };
        }
        return Inflated {
            bytes: raw.to_vec(),
            error: None,
        };
    }
    // ISIZE (last 4 bytes) is the inflated size mod 2^32 of the last member: a good capacity hint.
    let hint = raw
        .get(raw.len().saturating_sub(4)..)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64)
        .unwrap_or(0)
        .min(limit)
        .min(raw.len() as u64 * 64);
    match crate::libdeflate::gunzip(raw, limit, hint as usize) {
        Ok(bytes) => {
            return Inflated { bytes, error: None };
        }
        Err(crate::libdeflate::Slow::TooBig) => {
            return Inflated {
                bytes: Vec::new(),
                error: Some(bomb(limit)),
            }
        }
        // Damaged: the streaming inflater below keeps what precedes the damage and says why.
        Err(crate::libdeflate::Slow::Damaged) => {}
    }
    let mut bytes = Vec::with_capacity(hint as usize + 1);
    let mut dec = flate2::read::MultiGzDecoder::new(raw).take(limit + 1);
    let error = match dec.read_to_end(&mut bytes) {
        Ok(_) if bytes.len() as u64 > limit => {
            bytes = Vec::new();
            Some(bomb(limit))
        }
        Ok(_) => None,
        Err(e) => Some(format!(
            "corrupt or truncated gzip after {} inflated bytes: {e}",
            bytes.len()
        )),
    };
    Inflated { bytes, error }
}

fn bomb(limit: u64) -> String {
    format!(
        "inflates to more than {limit} bytes (a decompression bomb?); skipped — raise --max-inflated-bytes if the file is genuine"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn plain_gzip_and_multi_member() {
        assert_eq!(inflate(b"{}", 100).bytes, b"{}");
        assert_eq!(inflate(&gz(b"hello"), 100).bytes, b"hello");
        let mut two = gz(b"ab");
        two.extend(gz(b"cd"));
        let out = inflate(&two, 100);
        assert_eq!(out.bytes, b"abcd");
        assert!(out.error.is_none());
    }

    #[test]
    fn large_multi_member_files_are_inflated_whole() {
        let a: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut two = gz(&a);
        two.extend(gz(b"tail"));
        let out = inflate(&two, 1 << 30);
        assert!(out.error.is_none());
        assert_eq!(out.bytes.len(), a.len() + 4);
        assert!(out.bytes.ends_with(b"tail"));
    }

    #[test]
    fn truncated_keeps_prefix_and_reports() {
        let data = vec![b'x'; 100_000];
        let z = gz(&data);
        let out = inflate(&z[..z.len() / 2], 1 << 20);
        assert!(out.error.unwrap().contains("truncated"));
    }

    #[test]
    fn bomb_is_capped() {
        let z = gz(&vec![0u8; 10 << 20]);
        let out = inflate(&z, 1 << 20);
        assert!(out.bytes.is_empty());
        assert!(out.error.unwrap().contains("decompression bomb"));
    }
}
