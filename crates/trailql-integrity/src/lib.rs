//! CloudTrail log-file integrity validation, for local copies and S3 buckets through one [`Store`]
//! trait: digest chain walk from the newest digest back, SHA256withRSA signatures, SHA-256 of
//! every listed log file, missing digests counted from the hourly cadence, log files no digest
//! lists. No DataFusion.

pub mod cloudtrail;
pub mod digest;
pub mod keys;
mod rt;
pub mod s3;
pub mod store;
mod tree;
pub mod validate;

pub use cloudtrail::CloudTrailKeys;
pub use keys::{KeyRing, PublicKeys};
pub use s3::S3Store;
pub use store::{Dir, LocalStore, Store};
pub use validate::{validate, Options, Problem, Report, Severity, TrailReport};
