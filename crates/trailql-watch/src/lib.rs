//! `trailql watch`: follow a trail as CloudTrail delivers it and alert minutes after a change.
//!
//! Sources (local folders, woken by file-system notifications, S3 prefixes polled with
//! `start-after`, and an SQS queue of delivery notifications) → each new file through the rules ([`engine`]) → the state records the file
//! and its alerts as one step ([`state`]) → every output gets each alert it lacks, in order
//! ([`output`]). The state folder makes it restartable at any moment: nothing is processed
//! twice, no alert is lost, and the alert file gets each alert exactly once. DataFusion-free:
//! a file at a time needs the decoder and the rules, not a query engine.

pub mod engine;
pub mod integrity;
pub mod notification;
pub mod output;
pub mod source;
pub mod sqs;
pub mod state;
pub mod wake;
pub mod watch;

pub use engine::Engine;
pub use integrity::Keys;
pub use output::{Output, OutputSpec};
pub use source::Source;
pub use sqs::Queue;
pub use state::State;
pub use watch::{run, Config, Stats};
