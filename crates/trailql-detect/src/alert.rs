//! Alerts as DataFusion sees them: [`trailql_rules::alert`]'s rows, with their Arrow schema.

pub use trailql_rules::alert::*;

/// The schema of alerts as a table of [`COLUMNS`].
pub fn schema() -> datafusion::arrow::datatypes::SchemaRef {
    trailql_investigate::table::text_schema(&COLUMNS)
}
