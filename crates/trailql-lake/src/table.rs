//! The lake as a source: `cloudtrail_logs` over the lake's Parquet files, with the very columns
//! of the raw table, so the same SQL gives the same answers.
//!
//! DataFusion's `ListingTable` reads the files (Hive partitions `account`/`region`/`date` pruned
//! from the folder names, row groups and pages pruned by statistics, predicates pushed into the
//! reader). A thin provider around it adds, for every `eventtime` window the query implies, the
//! `date` and `eventtime` bounds that prune by them, whatever form the window was written in
//! (`from_iso8601_timestamp(eventtime) > …`). A view on top maps the lake's columns to the raw
//! table's: `timestamp`/`date`/`year`/`month`/`day` from the partition (in a lake the event's own
//! UTC day), `"$path"` from `sourcefile`, `"$verified"` NULL.
//!
//! A file whose footer does not parse is left out of the scan and named in a warning (with
//! `--strict`, the query fails naming it), and so is the rest of a file whose pages turn out
//! damaged while it is read ([`damage`]): one damaged file does not stop every query.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::{provider_as_source, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::functions::string::expr_fn::replace;
use datafusion::functions::unicode::expr_fn::substring;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    cast, col, lit, Expr, LogicalPlanBuilder, TableProviderFilterPushDown,
};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::ExecutionPlan;
use trailql_decode::schema::{column, Extra};
use trailql_decode::{table_schema, Column as TableColumn};
use trailql_sql::filters::time_window;
use trailql_sql::ScanReport;

use crate::columns::{file_schema, EVENTJSON, EVENTTIME, PARTITIONS, SOURCEFILE};
use crate::damage::{self, Guard, Guarded};
use crate::footers;
use crate::location::Lake;

/// The lake's files as DataFusion lists them, with time bounds added to each scan, and the
/// files that cannot be read left out of it.
#[derive(Debug)]
struct LakeFiles {
    inner: ListingTable,
    /// Where an unreadable file is counted and named.
    report: Arc<ScanReport>,
    /// An unreadable file fails the query.
    strict: bool,
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// Bounds implied by the `eventtime` window of `filters`: on `date` (which partitions are
/// listed) and on `eventtime` itself (which row groups and pages are read).
fn time_bounds(filters: &[Expr]) -> (Vec<Expr>, Vec<Expr>) {
    let w = time_window(filters);
    let (mut days, mut times) = (Vec::new(), Vec::new());
    if let Some(s) = w.start {
        days.push(col("date").gt_eq(lit(day(s))));
        times.push(col(EVENTTIME).gt_eq(lit(s.format("%Y-%m-%dT%H:%M:%S").to_string())));
    }
    if let Some(e) = w.end {
        days.push(col("date").lt_eq(lit(day(e))));
        times.push(col(EVENTTIME).lt_eq(lit(e.format("%Y-%m-%dT%H:%M:%SZ").to_string())));
    }
    (days, times)
}

#[async_trait]
impl TableProvider for LakeFiles {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (days, times) = time_bounds(filters);
        let mut all = filters.to_vec();
        all.extend(days);
        let plan = self.inner.scan(state, projection, &all, limit).await?;
        let plan = self.without_unreadable(state, plan).await?;
        let plan = self.guarded(plan);
        // The listing table prunes partitions by the filters it is given; row groups and pages
        // are pruned by the predicates of the filters above the scan (physical filter
        // pushdown), so the time bounds go in a filter there. It is implied by the query's own
        // filters: it drops no row they keep.
        let schema = plan.schema();
        let Some(bounds) = conjunction(times) else {
            return Ok(plan);
        };
        if schema.index_of(EVENTTIME).is_err() {
            return Ok(plan);
        }
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let predicate = state.create_physical_expr(bounds, &df_schema)?;
        Ok(Arc::new(FilterExec::try_new(predicate, plan)?))
    }
}

impl LakeFiles {
    /// `plan` without the files (of those it reads, after partition pruning) whose footers
    /// cannot be read: each named in a warning and counted as a bad file, or with `strict` the
    /// query's error. The footers read are kept in the session's cache, where the scan finds
    /// them.
    async fn without_unreadable(
        &self,
        state: &dyn Session,
        plan: Arc<dyn ExecutionPlan>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(config) = plan
            .downcast_ref::<DataSourceExec>()
            .and_then(|e| e.data_source().downcast_ref::<FileScanConfig>())
        else {
            return Ok(plan);
        };
        let store = state.runtime_env().object_store(&config.object_store_url)?;
        let files: Vec<_> = config
            .file_groups
            .iter()
            .flat_map(|g| g.iter())
            .map(|f| f.object_meta.clone())
            .collect();
        let cache = state.runtime_env().cache_manager.get_file_metadata_cache();
        let hint = state.config_options().execution.parquet.metadata_size_hint;
        let bad = footers::unreadable(store, &files, Some(cache), hint).await;
        if bad.is_empty() {
            return Ok(plan);
        }
        let shown =
            |u: &footers::Unreadable| damage::shown(&config.object_store_url, &u.file.location);
        if self.strict {
            let first = &bad[0];
            let more = match bad.len() - 1 {
                0 => String::new(),
                n => format!(" (and {n} more unreadable files)"),
            };
            return Err(DataFusionError::Execution(format!(
                "{}: {}{more}; without --strict the query leaves such files out with a warning; \
                 to restore their rows, {}",
                shown(first),
                first.reason,
                footers::restore()
            )));
        }
        for u in &bad {
            let message = format!(
                "{}; its rows are left out of this query; to restore them, {}",
                u.reason,
                footers::restore()
            );
            self.report.warn(shown(u), message);
            self.report.add(&self.report.files_bad, 1);
        }
        let left_out: HashSet<_> = bad.iter().map(|u| &u.file.location).collect();
        let groups: Vec<FileGroup> = config
            .file_groups
            .iter()
            .map(|g| {
                FileGroup::new(
                    g.iter()
                        .filter(|f| !left_out.contains(&f.object_meta.location))
                        .cloned()
                        .collect(),
                )
            })
            .filter(|g| !g.is_empty())
            .collect();
        if groups.is_empty() {
            return Ok(Arc::new(EmptyExec::new(plan.schema())));
        }
        let config = FileScanConfigBuilder::from(config.clone())
            .with_file_groups(groups)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }

    /// `plan` with each file's reading guarded: a file that fails while it is read is named
    /// ([`damage`]).
    fn guarded(&self, plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        let Some(config) = plan
            .downcast_ref::<DataSourceExec>()
            .and_then(|e| e.data_source().downcast_ref::<FileScanConfig>())
        else {
            return plan;
        };
        let guard = Guard::new(
            self.report.clone(),
            self.strict,
            config.object_store_url.clone(),
        );
        let mut config = config.clone();
        config.file_source = Arc::new(Guarded::new(config.file_source.clone(), Arc::new(guard)));
        DataSourceExec::from_data_source(config)
    }
}

/// The lake's files as a listing table (`account`, `region`, `date` from the folders).
fn files(lake: &Lake) -> Result<ListingTable> {
    let format = ParquetFormat::default()
        .with_enable_pruning(true)
        .with_force_view_types(false);
    let options = ListingOptions::new(Arc::new(format))
        .with_file_extension(".parquet")
        .with_table_partition_cols(
            PARTITIONS
                .iter()
                .map(|p| (p.to_string(), DataType::Utf8))
                .collect(),
        )
        .with_file_sort_order(vec![vec![col(EVENTTIME).sort(true, true)]]);
    let config = ListingTableConfig::new(lake.listing_url()?)
        .with_listing_options(options)
        .with_schema(read_schema());
    ListingTable::try_new(config)
}

/// The files' schema as the reader is asked for it: text columns as `Utf8View` ([`read_as_view`]).
fn read_schema() -> SchemaRef {
    let fields: Vec<Field> = file_schema()
        .fields()
        .iter()
        .map(|f| match read_as_view(f) {
            true => f.as_ref().clone().with_data_type(DataType::Utf8View),
            false => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Whether the reader reads file column `f` as `Utf8View`: every top-level text column but
/// `eventtime` (whose time bounds compare it as `Utf8`). A view points into the page read instead
/// of copying each value out of it, which was most of a filter's cost (measured on the compacted
/// bench lake: the needle 0.14 s → 0.12 s). The table above casts them back to the raw table's
/// `Utf8`, after the filters pushed into the reader have dropped the rows they rule out.
fn read_as_view(f: &Field) -> bool {
    f.data_type() == &DataType::Utf8 && f.name() != EVENTTIME
}

/// File column `n` with the raw table's type.
fn file_column(n: &str) -> Expr {
    let e = Expr::Column(Column::from_name(n));
    match file_schema().field_with_name(n) {
        Ok(f) if read_as_view(f) => cast(e, DataType::Utf8),
        _ => e,
    }
}

/// `cloudtrail_logs` over a lake: the raw table's columns, in its order. The session it is
/// queried in must know the lake's store ([`Lake::register`]). An unreadable file is named in
/// `report` and left out, or with `strict` fails the query.
pub fn lake_table(
    lake: &Lake,
    report: Arc<ScanReport>,
    strict: bool,
) -> Result<Arc<dyn TableProvider>> {
    let source = provider_as_source(Arc::new(LakeFiles {
        inner: files(lake)?,
        report,
        strict,
    }));
    let schema = table_schema();
    let name = |n: &str| Expr::Column(Column::from_name(n));
    let part = |from: i64, len: i64| substring(name("date"), lit(from), lit(len));
    let exprs: Vec<Expr> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            // A column of the files is passed as it is (an alias to its own name trips
            // DataFusion 55's projection push-down).
            let e = match column(i) {
                TableColumn::Record(_) => match file_column(f.name()) {
                    e @ Expr::Column(_) => return e,
                    e => e,
                },
                TableColumn::Extra(x) => match x {
                    Extra::Account | Extra::Region => return name(f.name()),
                    Extra::Timestamp | Extra::Date => replace(name("date"), lit("-"), lit("/")),
                    Extra::Year => part(1, 4),
                    Extra::Month => part(6, 2),
                    Extra::Day => part(9, 2),
                    Extra::EventJson => file_column(EVENTJSON),
                    Extra::Path => file_column(SOURCEFILE),
                    Extra::Verified => lit(ScalarValue::Boolean(None)),
                },
            };
            e.alias(f.name())
        })
        .collect();
    let plan = LogicalPlanBuilder::scan("lake", source, None)?
        .project(exprs)?
        .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}
