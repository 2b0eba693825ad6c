//! `trailql detect`: the rules of `trailql-rules` run over the same scan `query` uses (sources,
//! pruning, progress), with the rules' words as a record prefilter, producing alerts.

pub mod alert;
pub mod correlate;
pub mod correlate_exec;
pub mod exec;
pub mod scan;
pub mod table;

pub use alert::{Alert, Summary};
pub use correlate::{correlate, Correlation};
pub use correlate_exec::CorrelateExec;
pub use exec::{Counts, DetectExec, Feed};
pub use scan::{plan, scan_options, statement};
pub use table::{register, DetectionsTable};
