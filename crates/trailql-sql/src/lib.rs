//! DataFusion glue: the `cloudtrail_logs` table provider and its scan, filter analysis for
//! pruning and prefiltering, Athena SQL rewrites, and session setup.

pub mod exec;
pub mod filters;
pub mod investigate;
pub mod report;
pub mod rewrite;
pub mod session;
pub mod table;

pub use report::{ReportSnapshot, ScanReport, Warning};
pub use session::{session_config, Engine, OpenError, TABLE};
pub use table::{CloudTrailTable, ScanOptions};
