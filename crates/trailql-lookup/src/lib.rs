//! CloudTrail's event history (the LookupEvents API) as a trailql source, for accounts with no
//! trail to S3: `-s cloudtrail-api://us-east-1,eu-west-1`.
//!
//! The API returns 50 events a page at two requests a second per account and region, newest
//! first, filtered by time and at most one attribute. [`fetch`] reads a window of every region in
//! parallel at that pace and writes each event's `CloudTrailEvent` text — the record a trail
//! file would hold — as trail files ([`files`]), so the decoder, the SQL table, the
//! investigations and detection read them exactly as they read a bucket's. Which attribute to
//! send is chosen from a query's filters by the caller ([`Lookup::choose`]).

pub mod attribute;
pub mod fetch;
pub mod files;
pub mod url;

pub use attribute::{Key, Lookup};
pub use fetch::{fetch, window, Fetched, LookupError, Progress, Request, HISTORY_DAYS};
pub use url::{ApiSource, SCHEME};
