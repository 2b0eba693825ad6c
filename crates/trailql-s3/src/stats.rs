//! What the run asked of S3, and what that costs.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// S3 Standard request prices (us-east-1, USD): LIST is billed like PUT.
pub const LIST_PRICE_PER_1000: f64 = 0.005;
pub const GET_PRICE_PER_1000: f64 = 0.0004;

/// Counted at the HTTP layer, so retries are included (S3 bills them too).
#[derive(Debug, Default)]
pub struct S3Stats {
    pub list_requests: AtomicU64,
    pub get_requests: AtomicU64,
    pub head_requests: AtomicU64,
    pub other_requests: AtomicU64,
    /// Responses that were retried or failed: 5xx, 429 and dropped connections.
    pub server_errors: AtomicU64,
    pub bytes_downloaded: AtomicU64,
    pub objects_fetched: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_bytes: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub list_requests: u64,
    pub get_requests: u64,
    pub head_requests: u64,
    pub other_requests: u64,
    pub server_errors: u64,
    pub bytes_downloaded: u64,
    pub objects_fetched: u64,
    pub cache_hits: u64,
    pub cache_bytes: u64,
}

impl S3Stats {
    pub fn add(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            list_requests: self.list_requests.load(Relaxed),
            get_requests: self.get_requests.load(Relaxed),
            head_requests: self.head_requests.load(Relaxed),
            other_requests: self.other_requests.load(Relaxed),
            server_errors: self.server_errors.load(Relaxed),
            bytes_downloaded: self.bytes_downloaded.load(Relaxed),
            objects_fetched: self.objects_fetched.load(Relaxed),
            cache_hits: self.cache_hits.load(Relaxed),
            cache_bytes: self.cache_bytes.load(Relaxed),
        }
    }
}

impl StatsSnapshot {
    /// The requests made after `base` was taken.
    pub fn since(&self, base: &StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            list_requests: self.list_requests - base.list_requests,
            get_requests: self.get_requests - base.get_requests,
            head_requests: self.head_requests - base.head_requests,
            other_requests: self.other_requests - base.other_requests,
            server_errors: self.server_errors - base.server_errors,
            bytes_downloaded: self.bytes_downloaded - base.bytes_downloaded,
            objects_fetched: self.objects_fetched - base.objects_fetched,
            cache_hits: self.cache_hits - base.cache_hits,
            cache_bytes: self.cache_bytes - base.cache_bytes,
        }
    }

    pub fn requests(&self) -> u64 {
        self.list_requests + self.get_requests + self.head_requests + self.other_requests
    }

    /// Estimated request cost in USD (data transfer out of AWS is billed apart from this).
    pub fn cost_usd(&self) -> f64 {
        self.list_requests as f64 * LIST_PRICE_PER_1000 / 1000.0
            + (self.get_requests + self.head_requests) as f64 * GET_PRICE_PER_1000 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost() {
        let s = StatsSnapshot {
            list_requests: 2000,
            get_requests: 100_000,
            ..StatsSnapshot::default()
        };
        assert!((s.cost_usd() - (0.01 + 0.04)).abs() < 1e-9);
    }
}
