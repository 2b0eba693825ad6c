//! Names of the files a run writes: sortable by when they were written, unique across runs and
//! machines (time, process and a random part), so concurrent or repeated runs never collide.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// `{kind}-{YYYYMMDDTHHMMSS}-{random}-{n}`.
pub fn unique(kind: &str) -> String {
    let now = chrono::Utc::now();
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_i64(now.timestamp_nanos_opt().unwrap_or_default());
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!(
        "{kind}-{}-{:08x}-{n:05}",
        now.format("%Y%m%dT%H%M%S"),
        h.finish() as u32
    )
}
