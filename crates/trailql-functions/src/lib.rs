//! Athena (Trino) SQL functions that CloudTrail queries rely on, for DataFusion.
//!
//! - [`jsonpath`]: Trino's JSONPath subset over sonic-rs (no DataFusion);
//! - [`time`]: ISO 8601 parsing, MySQL-style formats, unit arithmetic (no DataFusion);
//! - [`udf`]: the DataFusion UDFs and [`register_all`]; more kernels by domain in `strings`
//!   (`replace`, `split*`, `regexp_*`), `url` (`url_*`), `arrays` (`contains`, `slice`, …) and
//!   `dates` (`year`…`millisecond`, Joda `parse_datetime`/`format_datetime`, `typeof`) and `maps`
//!   (`json_to_map`, CloudTrail Lake's map columns).

mod arrays;
mod dates;
pub mod jsonpath;
pub mod maps;
mod strings;
pub mod time;
pub mod udf;
mod url;

pub use udf::{all_functions, register_all};
