//! Writing query results: table, CSV, JSON, JSON Lines, Parquet. Streams where the format allows.
//! Shared by the CLI's `--format` and the web server's downloads.

use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::{DataFusionError, Result};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Jsonl,
    Parquet,
}

/// Write all batches of `stream` in `format`; returns the number of rows.
pub async fn write_stream(
    mut stream: SendableRecordBatchStream,
    format: Format,
    out: impl Write + Send,
) -> Result<u64> {
    let schema = stream.schema();
    let mut rows = 0u64;
    match format {
        Format::Table => {
            let mut batches = Vec::new();
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                batches.push(b);
            }
            let mut out = out;
            if batches.is_empty() {
                batches.push(RecordBatch::new_empty(schema));
            }
            writeln!(out, "{}", pretty_format_batches(&batches)?)?;
            out.flush()?;
        }
        Format::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            while let Some(b) = stream.next().await {
                let b = flatten_nested(&b?)?;
                rows += b.num_rows() as u64;
                w.write(&b)?;
            }
            if rows == 0 {
                w.write(&flatten_nested(&RecordBatch::new_empty(schema))?)?;
            }
        }
        Format::Json => {
            let mut w = datafusion::arrow::json::ArrayWriter::new(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b)?;
            }
            w.finish()?;
            let mut out = w.into_inner();
            if rows == 0 {
                write!(out, "[]")?;
            }
            writeln!(out)?;
        }
        Format::Jsonl => {
            let mut w = datafusion::arrow::json::LineDelimitedWriter::new(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b)?;
            }
            w.finish()?;
        }
        Format::Parquet => {
            let mut w = ArrowWriter::try_new(out, schema, None)?;
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b)?;
            }
            w.close()?;
        }
    }
    Ok(rows)
}

/// CSV holds no nested values: struct, list and map columns become their JSON text.
pub fn flatten_nested(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        if f.data_type().is_nested() {
            fields.push(Field::new(f.name(), DataType::Utf8, true));
            cols.push(Arc::new(json_text(f.name(), c)?));
        } else {
            fields.push(f.as_ref().clone());
            cols.push(c.clone());
        }
    }
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    Ok(RecordBatch::try_new(schema, cols)?)
}

fn json_text(name: &str, col: &ArrayRef) -> Result<datafusion::arrow::array::StringArray> {
    let one = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            name,
            col.data_type().clone(),
            true,
        )])),
        vec![col.clone()],
    )?;
    let mut buf = Vec::new();
    {
        let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
        w.write(&one)?;
        w.finish()?;
    }
    let text = String::from_utf8(buf).map_err(|e| {
        DataFusionError::Internal(format!("JSON writer produced invalid UTF-8: {e}"))
    })?;
    let prefix = format!(
        "{{{}:",
        serde_json::to_string(name).map_err(|e| DataFusionError::External(Box::new(e)))?
    );
    let mut b = StringBuilder::new();
    for (i, line) in text.lines().enumerate() {
        if col.is_null(i) {
            b.append_null();
        } else {
            let v = line
                .strip_prefix(&prefix)
                .and_then(|s| s.strip_suffix('}'))
                .unwrap_or(line);
            b.append_value(v);
        }
    }
    Ok(b.finish())
}
