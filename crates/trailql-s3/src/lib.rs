//! Trail buckets on S3: find the objects a question needs without listing the whole bucket, and
//! read them with counted, retried, optionally cached GETs.
//!
//! - [`url`]: `s3://bucket/prefix` sources;
//! - [`client`]: one [`S3Client`] per run — object_store S3 stores per bucket (region found by
//!   HeadBucket), the AWS credential chain, retries with backoff, the cache;
//! - [`list`]: the pruned walk down `AWSLogs/[org/]ACCOUNT/CloudTrail/REGION/` with start-after;
//! - [`stats`]: LIST/GET/HEAD requests, bytes and an estimated request cost;
//! - [`error`]: what went wrong, where, and what to do.
//!
//! No DataFusion here, so these tests build fast; the table provider calls this crate.

pub mod cache;
pub mod client;
pub mod credentials;
pub mod error;
mod http;
pub mod list;
pub mod stats;
pub mod url;

pub use aws_config::SdkConfig;
pub use client::{S3Client, S3Options};
pub use credentials::sdk_config;
pub use error::S3Error;
pub use list::{Listed, Listing};
pub use stats::{S3Stats, StatsSnapshot};
pub use url::S3Url;
