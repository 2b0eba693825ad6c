//! Sigma rules for CloudTrail, without DataFusion: rule files (and the bundled pack) loaded with
//! rsigma-parser, compiled with rsigma-eval, evaluated on records with CloudTrail's semantics,
//! and the words a literal prefilter needs to skip records no rule can match.

pub mod alert;
pub mod checks;
pub mod correlate;
pub mod detector;
pub mod event;
pub mod literals;
pub mod load;
pub mod pack;
pub mod placeholders;
pub mod select;
pub mod slim;

pub use alert::Alert;
pub use correlate::{CorrelationInfo, Correlator, Fired};
pub use detector::{Detector, Hit, RuleInfo};
pub use event::TrailEvent;
pub use literals::Needle;
pub use load::{Origin, Problem, RuleSet};
pub use placeholders::Placeholders;
pub use rsigma_parser::Level;
pub use select::Selection;
pub use slim::Paths;
