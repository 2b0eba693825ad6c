//! Key-derived (partition) values of a file, and the filters that use only them, evaluated a
//! batch of files at a time before any file is opened.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;
use trailql_decode::{Extra, FileMeta};
use trailql_layout::{KeyKind, SourceFile};

use crate::filters::partition_extra;

/// Key-derived values of a file; `valid` (when the query checks integrity) says whether it
/// validated.
pub(crate) fn file_meta(f: &SourceFile, valid: Option<&HashSet<String>>) -> FileMeta {
    let verified = valid.map(|v| v.contains(&f.display));
    match &f.kind {
        KeyKind::TrailLog(k) => FileMeta {
            path: f.display.clone(),
            account: Some(k.account.clone()),
            region: Some(k.region.clone()),
            timestamp: Some(k.timestamp_partition()),
            year: Some(k.date.format("%Y").to_string()),
            month: Some(k.date.format("%m").to_string()),
            day: Some(k.date.format("%d").to_string()),
            verified,
        },
        _ => FileMeta {
            path: f.display.clone(),
            verified,
            ..FileMeta::default()
        },
    }
}

/// Filters over partition columns only, planned once per scan.
#[derive(Debug)]
pub(crate) struct PartitionFilter {
    /// The columns the filters use, in the order of `schema`.
    columns: Vec<Extra>,
    schema: SchemaRef,
    exprs: Vec<Arc<dyn PhysicalExpr>>,
}

impl PartitionFilter {
    /// Plan `filters` (each using only partition columns); `None` when there are none.
    pub fn new(state: &dyn Session, filters: &[&Expr]) -> Result<Option<PartitionFilter>> {
        if filters.is_empty() {
            return Ok(None);
        }
        // Unqualify column references: the batches evaluated have bare names.
        let mut names: Vec<String> = Vec::new();
        let exprs: Vec<Expr> = filters
            .iter()
            .map(|f| {
                (*f).clone()
                    .transform(|e| {
                        Ok(match e {
                            Expr::Column(c) => {
                                if !names.contains(&c.name) {
                                    names.push(c.name.clone());
                                }
                                Transformed::yes(Expr::Column(
                                    datafusion::common::Column::new_unqualified(c.name),
                                ))
                            }
                            other => Transformed::no(other),
                        })
                    })
                    .map(|t| t.data)
            })
            .collect::<Result<_>>()?;
        let mut columns = Vec::new();
        for n in &names {
            let Some(extra) = partition_extra(n) else {
                return Ok(None);
            };
            columns.push(extra);
        }
        let schema: SchemaRef = Arc::new(Schema::new(
            names
                .iter()
                .map(|n| Field::new(n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let exprs = exprs
            .into_iter()
            .map(|e| state.create_physical_expr(e, &df_schema))
            .collect::<Result<_>>()?;
        Ok(Some(PartitionFilter {
            columns,
            schema,
            exprs,
        }))
    }

    /// Which of these files can hold a matching row (one evaluation over all of them).
    pub fn mask(&self, metas: &[FileMeta]) -> Result<Vec<bool>> {
        let mut keep = vec![true; metas.len()];
        if metas.is_empty() {
            return Ok(keep);
        }
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|&c| {
                let values: StringArray = metas.iter().map(|m| extra_value(m, c)).collect();
                Arc::new(values) as ArrayRef
            })
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        for e in &self.exprs {
            let result = e.evaluate(&batch)?.into_array(batch.num_rows())?;
            let Some(mask) = result.as_any().downcast_ref::<BooleanArray>() else {
                continue;
            };
            for (i, k) in keep.iter_mut().enumerate() {
                // NULL (e.g. a loose file without an account) does not satisfy the filter.
                *k &= mask.is_valid(i) && mask.value(i);
            }
        }
        Ok(keep)
    }
}

fn extra_value(m: &FileMeta, e: Extra) -> Option<String> {
    use Extra::*;
    match e {
        Account => m.account.clone(),
        Region => m.region.clone(),
        Timestamp | Date => m.timestamp.clone(),
        Year => m.year.clone(),
        Month => m.month.clone(),
        Day => m.day.clone(),
        Path => Some(m.path.clone()),
        EventJson | Verified => None,
    }
}
