//! DataFusion glue: the `cloudtrail_logs` table provider and its scan, filter analysis for
//! pruning and prefiltering, Athena SQL rewrites, and session setup.

mod calls;
pub mod exec;
pub mod filters;
pub mod investigate;
mod listing;
pub mod output;
mod partition;
pub mod report;
pub mod rewrite;
pub mod session;
pub mod table;
pub mod verify;

pub use report::{ReportSnapshot, ScanReport, Warning};
pub use session::{session_config, Engine, OpenError, Source, TABLE};
pub use table::{CloudTrailTable, RemoteSources, ScanOptions};
pub use trailql_lakesql::Dialect;
pub use trailql_s3::{S3Options, S3Url};
