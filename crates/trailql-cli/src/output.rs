//! Where query results go (`--output FILE` or standard output), in the `--format` asked for;
//! the writers themselves are `trailql_sql::output`'s.

use std::io::Write;

use anyhow::{Context, Result};
use datafusion::physical_plan::SendableRecordBatchStream;
use trailql_sql::output;

use crate::args::Format;

/// `--output FILE`, or standard output.
pub fn open(output: Option<&std::path::Path>) -> Result<Box<dyn Write + Send>> {
    Ok(match output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    })
}

/// Write all batches of `stream` in `format`; returns the number of rows.
pub async fn write_stream(
    stream: SendableRecordBatchStream,
    format: Format,
    out: Box<dyn Write + Send>,
) -> Result<u64> {
    let format = match format {
        Format::Table => output::Format::Table,
        Format::Csv => output::Format::Csv,
        Format::Json => output::Format::Json,
        Format::Jsonl => output::Format::Jsonl,
        Format::Parquet => output::Format::Parquet,
    };
    Ok(output::write_stream(stream, format, out).await?)
}
