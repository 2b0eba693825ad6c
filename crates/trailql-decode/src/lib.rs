//! CloudTrail log files decoded straight to Arrow.
//!
//! Bytes → inflate ([`stream`]: whole for ordinary files, a bounded window at a time for large
//! ones and bombs) → the `Records` array, walked by structure (`records`, `structural`: SIMD bit
//! masks, values nobody reads are never parsed) → the [`prefilter`] skips records that cannot
//! match → only the projected columns are parsed (sonic-rs, never past [`nesting`]'s depth) and
//! built (`builder`) → record batches of the [`schema`]. Every problem is counted in a
//! [`report::FileReport`] and decoding goes on wherever the format allows.

mod builder;
mod field;
pub mod file;
pub mod inflate;
mod libdeflate;
pub mod nesting;
pub mod prefilter;
mod records;
pub mod report;
pub mod schema;
mod simd;
pub mod stream;
mod structural;

pub use file::{decode_file, decode_text, DecodePlan, Decoded, FileMeta};
pub use prefilter::{Prefilter, Words};
pub use report::{FileReport, NotEventsContent};
pub use schema::{table_schema, Column, Extra};
pub use stream::{FileDecoder, StreamLimits};
