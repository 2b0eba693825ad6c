//! Results as a table of text: printed by the CLI, served to SQL as a RecordBatch.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

#[derive(Debug, Clone, Default)]
pub struct TextTable {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// The Arrow schema of a table with these columns (all nullable text).
pub fn text_schema(columns: &[&str]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

impl TextTable {
    pub fn new(columns: &[&'static str]) -> TextTable {
        TextTable {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        text_schema(&self.columns)
    }

    pub fn to_batch(&self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = (0..self.columns.len())
            .map(|c| {
                Arc::new(
                    self.rows
                        .iter()
                        .map(|r| r[c].as_deref())
                        .collect::<StringArray>(),
                ) as ArrayRef
            })
            .collect();
        RecordBatch::try_new(self.schema(), arrays).expect("columns match the schema")
    }

    /// Only the named columns, in that order.
    pub fn select(&self, names: &[&'static str]) -> TextTable {
        let idx: Vec<usize> = names
            .iter()
            .filter_map(|n| self.columns.iter().position(|c| c == n))
            .collect();
        TextTable {
            columns: idx.iter().map(|&i| self.columns[i]).collect(),
            rows: self
                .rows
                .iter()
                .map(|r| idx.iter().map(|&i| r[i].clone()).collect())
                .collect(),
        }
    }

    pub fn column(&self, name: &str) -> Option<Vec<Option<&str>>> {
        let i = self.columns.iter().position(|c| *c == name)?;
        Some(self.rows.iter().map(|r| r[i].as_deref()).collect())
    }
}
