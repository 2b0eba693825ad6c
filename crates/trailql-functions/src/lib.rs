//! Athena (Trino) SQL functions that CloudTrail queries rely on, for DataFusion.
//!
//! - [`jsonpath`]: Trino's JSONPath subset over sonic-rs (no DataFusion);
//! - [`time`]: ISO 8601 parsing, MySQL-style formats, unit arithmetic (no DataFusion);
//! - [`udf`]: the DataFusion UDFs and [`register_all`].

pub mod jsonpath;
pub mod time;
pub mod udf;

pub use udf::{all_functions, register_all};
