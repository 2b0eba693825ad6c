//! trailql's ready answers to the common incident questions. Each one is a SQL query over
//! `cloudtrail_logs` (in [`queries`]) plus Rust that turns its rows into the answer, so this crate
//! needs no DataFusion and its tests build fast.
//!
//! - [`exposure`]: which security-group rules opened a group to the internet, who did it, and
//!   whether the rule is still open (replaying revokes, modifications and deletions);
//! - [`timeline`]: everything that touched a resource (`history`), everything a principal did
//!   (`activity`);
//! - [`html`]: a self-contained report page with the timeline drawn as a chart.

pub mod actor;
pub mod cidr;
pub mod event;
pub mod exposure;
pub mod html;
pub mod queries;
pub mod sg;
pub mod table;
pub mod timeline;

pub use actor::{Actor, Identity};
pub use event::{events_from_batches, Event, EVENT_COLUMNS};
pub use exposure::{exposure, findings_table, ExposureOptions, Finding, Status};
pub use queries::Scope;
pub use table::TextTable;
