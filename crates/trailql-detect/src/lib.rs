//! `trailql detect`: the rules of `trailql-rules` run over the same scan `query` uses (sources,
//! pruning, progress), with the rules' words as a record prefilter, producing alerts.

pub mod alert;
pub mod scan;
pub mod table;

pub use alert::{Alert, Summary};
pub use scan::{detect, detect_in, scan_options, statement, Outcome};
pub use table::register;
