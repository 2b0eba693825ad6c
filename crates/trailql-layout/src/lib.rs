//! Where CloudTrail files live and which of them a question needs.
//!
//! - [`key`]: the `AWSLogs/…` key grammar (account, region, delivery day and minute; digests and
//!   other non-event files recognised by key);
//! - [`window`]: time pruning with a late-delivery margin;
//! - [`discover`]: walking local sources;
//! - [`scope`]: which accounts, regions and key range a listing needs (used for S3 prefixes).
//!
//! This crate does not depend on DataFusion so that its tests build in seconds.

pub mod discover;
pub mod key;
pub mod scope;
pub mod window;

pub use discover::{
    check_local, discover_local, walk_local, DiscoverError, Discovery, Location, SourceFile, Walked,
};
pub use key::{classify, form_decode, KeyKind, SkipReason, TrailKey};
pub use scope::{folder_days, ListScope, TrailRoot};
pub use window::{parse_late_margin, TimeWindow, DEFAULT_LATE_MARGIN};
