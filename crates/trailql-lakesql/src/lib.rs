//! CloudTrail Lake's SQL, unchanged, over a trail.
//!
//! CloudTrail Lake statements name an *event data store* as their table — its id (a UUID, which
//! is not a valid bare identifier), its ARN, or in AWS's published samples a placeholder such as
//! `$EDS_ID`, `<EDS ID>` or `<event_data_store_id>`. [`rewrite`] finds those references in table
//! position and points them at [`VIEW`], a view of `cloudtrail_logs` with Lake's column types
//! ([`schema`]); the rest of the statement is left as written (Lake's functions are Trino's, which
//! the engine already takes). No DataFusion here: the recognition uses sqlparser's tokenizer only.

pub mod schema;
mod store;

pub use store::{rewrite, Dialect, Rewrite};

/// The view that has CloudTrail Lake's schema.
pub const VIEW: &str = "cloudtrail_lake";
