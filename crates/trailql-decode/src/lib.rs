//! CloudTrail log files decoded straight to Arrow.
//!
//! Bytes → [`inflate`] (gzip, capped) → the `Records` array, walked lazily with sonic-rs (SIMD) →
//! the [`prefilter`] skips records that cannot match → only the projected columns are built
//! ([`builder`]) → record batches of the [`schema`]. Every problem is counted in a
//! [`report::FileReport`] and decoding goes on wherever the format allows.

mod builder;
pub mod file;
pub mod inflate;
mod libdeflate;
pub mod prefilter;
pub mod report;
pub mod schema;
mod single_pass;

pub use file::{decode_file, decode_text, DecodePlan, Decoded, FileMeta};
pub use prefilter::Prefilter;
pub use report::{FileReport, NotEventsContent};
pub use schema::{table_schema, Column, Extra};
