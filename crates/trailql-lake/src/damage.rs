//! A lake file that fails while it is read (pages damaged behind a footer that parses, a read
//! that breaks off) is named, instead of ending the query with the reader's nameless error.
//!
//! DataFusion's Parquet source is wrapped ([`Guarded`]) so that each file's reading carries the
//! file's name: without `--strict`, the file's rows past the damage are left out, the file is
//! named in a warning and counted, and the query goes on; with it, the query fails naming the
//! file. Errors that are not the file's (a cast in the query's own filter, which the reader
//! evaluates) pass through unchanged.

use std::collections::HashSet;
use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::config::ConfigOptions;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileOpener, FileScanConfig, FileSource};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_expr::projection::ProjectionExprs;
use datafusion::physical_expr::{EquivalenceProperties, LexOrdering, PhysicalExpr};
use datafusion::physical_expr_common::sort_expr::PhysicalSortExpr;
use datafusion::physical_plan::filter_pushdown::FilterPushdownPropagation;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::sort_pushdown::SortOrderPushdownResult;
use datafusion::physical_plan::DisplayFormatType;
use datafusion_datasource::morsel::{Morsel, MorselPlan, MorselPlanner, Morselizer};
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::ObjectStore;
use parquet::errors::ParquetError;
use trailql_sql::ScanReport;

use crate::footers;

/// A lake file as messages show it: its full path, or its URL on S3.
pub(crate) fn shown(base: &ObjectStoreUrl, location: &Path) -> String {
    let url = format!("{}{location}", base.as_str());
    url.strip_prefix("file://")
        .map(str::to_string)
        .unwrap_or(url)
}

/// What becomes of a lake file that fails while it is read, shared by a scan's partitions.
pub(crate) struct Guard {
    report: Arc<ScanReport>,
    strict: bool,
    base: ObjectStoreUrl,
    /// Files already named (a file read in several ranges is named and counted once).
    named: Mutex<HashSet<String>>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("strict", &self.strict)
            .finish()
    }
}

impl Guard {
    pub(crate) fn new(report: Arc<ScanReport>, strict: bool, base: ObjectStoreUrl) -> Guard {
        Guard {
            report,
            strict,
            base,
            named: Mutex::new(HashSet::new()),
        }
    }

    /// What error `e`, met reading `file`, becomes: `None` when the file's rest is left out
    /// (named in a warning, counted), else the query's error.
    fn failed(&self, file: &str, e: DataFusionError) -> Option<DataFusionError> {
        if !of_the_file(&e) {
            return Some(e);
        }
        let reason = format!(
            "damaged Parquet data ({})",
            footers::tidy(&e.strip_backtrace())
        );
        if self.strict {
            return Some(DataFusionError::Execution(format!(
                "{file}: {reason}; without --strict the query leaves the rest of such a file out \
                 with a warning; to restore its rows, {}",
                footers::restore()
            )));
        }
        let first = self
            .named
            .lock()
            .map(|mut n| n.insert(file.to_string()))
            .unwrap_or(true);
        if first {
            self.report.warn(
                file,
                format!(
                    "{reason}; its rows from the damage on are left out of this query; to \
                     restore them, {}",
                    footers::restore()
                ),
            );
            self.report.add(&self.report.files_bad, 1);
        }
        None
    }
}

/// Whether `e` says the file could not be read (its bytes, or reading them), not that the
/// query's own expressions failed on its values (the reader evaluates the query's filters, and
/// their errors come back through it).
fn of_the_file(e: &DataFusionError) -> bool {
    let mut file = false;
    let mut next: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(a) = err.downcast_ref::<ArrowError>() {
            match a {
                // The reader's own errors reach arrow as text.
                ArrowError::ParquetError(text) => match computed(text) {
                    true => return false,
                    false => file = true,
                },
                ArrowError::IoError(..) => file = true,
                ArrowError::ExternalError(_) => {}
                _ => return false,
            }
        } else if let Some(p) = err.downcast_ref::<ParquetError>() {
            match p {
                ParquetError::ArrowError(_) => return false,
                ParquetError::External(_) => {}
                _ => file = true,
            }
        } else if let Some(d) = err.downcast_ref::<DataFusionError>() {
            if matches!(d, DataFusionError::ResourcesExhausted(_)) {
                return false;
            }
        } else if err.is::<object_store::Error>() || err.is::<std::io::Error>() {
            file = true;
        }
        next = err.source();
    }
    file
}

/// Whether a Parquet error's text is an arrow computation's error carried through the reader
/// (`External: Compute error: Error evaluating filter predicate: …`).
fn computed(text: &str) -> bool {
    const COMPUTED: [&str; 5] = [
        "Compute error",
        "Cast error",
        "Divide by zero error",
        "Arithmetic overflow",
        "Arrow: ",
    ];
    let mut t = text.trim_start();
    while let Some(rest) = t.strip_prefix("External: ") {
        t = rest.trim_start();
    }
    COMPUTED.iter().any(|c| t.starts_with(c))
}

/// DataFusion's Parquet source, each file's reading guarded by [`Guard`]. Everything else is
/// the source's own: the optimizer's rewrites of it come back wrapped.
pub(crate) struct Guarded {
    inner: Arc<dyn FileSource>,
    guard: Arc<Guard>,
}

impl Guarded {
    pub(crate) fn new(inner: Arc<dyn FileSource>, guard: Arc<Guard>) -> Guarded {
        Guarded { inner, guard }
    }

    fn wrap(&self, inner: Arc<dyn FileSource>) -> Arc<dyn FileSource> {
        Arc::new(Guarded::new(inner, self.guard.clone()))
    }
}

impl FileSource for Guarded {
    fn create_file_opener(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        self.inner
            .create_file_opener(object_store, base_config, partition)
    }

    fn create_morselizer(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> Result<Box<dyn Morselizer>> {
        Ok(Box::new(GuardedMorselizer {
            inner: self
                .inner
                .create_morselizer(object_store, base_config, partition)?,
            guard: self.guard.clone(),
        }))
    }

    fn table_schema(&self) -> &TableSchema {
        self.inner.table_schema()
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        self.wrap(self.inner.with_batch_size(batch_size))
    }

    fn filter(&self) -> Option<Arc<dyn PhysicalExpr>> {
        self.inner.filter()
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        self.inner.projection()
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        self.inner.metrics()
    }

    fn file_type(&self) -> &str {
        self.inner.file_type()
    }

    fn fmt_extra(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.fmt_extra(t, f)
    }

    fn supports_repartitioning(&self) -> bool {
        self.inner.supports_repartitioning()
    }

    fn repartitioned(
        &self,
        target_partitions: usize,
        repartition_file_min_size: usize,
        output_ordering: Option<LexOrdering>,
        config: &FileScanConfig,
    ) -> Result<Option<FileScanConfig>> {
        self.inner.repartitioned(
            target_partitions,
            repartition_file_min_size,
            output_ordering,
            config,
        )
    }

    fn try_pushdown_filters(
        &self,
        filters: Vec<Arc<dyn PhysicalExpr>>,
        config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn FileSource>>> {
        let mut pushed = self.inner.try_pushdown_filters(filters, config)?;
        pushed.updated_node = pushed.updated_node.map(|n| self.wrap(n));
        Ok(pushed)
    }

    fn try_pushdown_sort(
        &self,
        order: &[PhysicalSortExpr],
        eq_properties: &EquivalenceProperties,
    ) -> Result<SortOrderPushdownResult<Arc<dyn FileSource>>> {
        Ok(self
            .inner
            .try_pushdown_sort(order, eq_properties)?
            .map(|n| self.wrap(n)))
    }

    fn reorder_files(&self, files: Vec<PartitionedFile>) -> Vec<PartitionedFile> {
        self.inner.reorder_files(files)
    }

    fn try_pushdown_projection(
        &self,
        projection: &ProjectionExprs,
    ) -> Result<Option<Arc<dyn FileSource>>> {
        Ok(self
            .inner
            .try_pushdown_projection(projection)?
            .map(|n| self.wrap(n)))
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.inner.apply_expressions(f)
    }
}

#[derive(Debug)]
struct GuardedMorselizer {
    inner: Box<dyn Morselizer>,
    guard: Arc<Guard>,
}

impl Morselizer for GuardedMorselizer {
    fn plan_file(&self, file: PartitionedFile) -> Result<Box<dyn MorselPlanner>> {
        let name: Arc<str> = shown(&self.guard.base, &file.object_meta.location).into();
        let inner = self.inner.plan_file(file);
        planned(inner, name, self.guard.clone())
    }
}

/// The planner of one file's reading, or of nothing when the file is left out.
#[derive(Debug)]
struct GuardedPlanner {
    inner: Option<Box<dyn MorselPlanner>>,
    file: Arc<str>,
    guard: Arc<Guard>,
}

/// `planner` guarded, or if planning failed, the error the guard makes of it.
fn planned(
    planner: Result<Box<dyn MorselPlanner>>,
    file: Arc<str>,
    guard: Arc<Guard>,
) -> Result<Box<dyn MorselPlanner>> {
    let inner = match planner {
        Ok(p) => Some(p),
        Err(e) => match guard.failed(&file, e) {
            Some(e) => return Err(e),
            None => None,
        },
    };
    Ok(Box::new(GuardedPlanner { inner, file, guard }))
}

impl MorselPlanner for GuardedPlanner {
    fn plan(self: Box<Self>) -> Result<Option<MorselPlan>> {
        let Some(inner) = self.inner else {
            return Ok(None);
        };
        let mut plan = match inner.plan() {
            Ok(Some(plan)) => plan,
            Ok(None) => return Ok(None),
            Err(e) => {
                return match self.guard.failed(&self.file, e) {
                    Some(e) => Err(e),
                    None => Ok(None),
                }
            }
        };
        let (file, guard) = (self.file, self.guard);
        let morsels = plan
            .take_morsels()
            .into_iter()
            .map(|m| {
                Box::new(GuardedMorsel {
                    inner: m,
                    file: file.clone(),
                    guard: guard.clone(),
                }) as Box<dyn Morsel>
            })
            .collect();
        let planners = plan
            .take_ready_planners()
            .into_iter()
            .map(|p| planned(Ok(p), file.clone(), guard.clone()))
            .collect::<Result<_>>()?;
        let mut guarded = MorselPlan::new()
            .with_morsels(morsels)
            .with_planners(planners);
        if let Some(pending) = plan.take_pending_planner() {
            guarded.set_pending_planner(async move { planned(pending.await, file, guard) });
        }
        Ok(Some(guarded))
    }
}

#[derive(Debug)]
struct GuardedMorsel {
    inner: Box<dyn Morsel>,
    file: Arc<str>,
    guard: Arc<Guard>,
}

impl Morsel for GuardedMorsel {
    fn into_stream(self: Box<Self>) -> BoxStream<'static, Result<RecordBatch>> {
        let (file, guard) = (self.file, self.guard);
        // After an error the file's stream ends: its reader cannot go on past the damage.
        stream::unfold(Some(self.inner.into_stream()), move |batches| {
            let (file, guard) = (file.clone(), guard.clone());
            async move {
                let mut batches = batches?;
                match batches.next().await? {
                    Ok(batch) => Some((Ok(batch), Some(batches))),
                    Err(e) => guard.failed(&file, e).map(|e| (Err(e), None)),
                }
            }
        })
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrow(e: ArrowError) -> DataFusionError {
        DataFusionError::ArrowError(Box::new(e), None)
    }

    #[test]
    fn the_readers_errors_are_the_files_and_the_querys_own_are_not() {
        let damaged = arrow(ArrowError::ParquetError(
            "External: Data corruption detected".into(),
        ));
        assert!(of_the_file(&damaged));
        assert!(of_the_file(&DataFusionError::ParquetError(Box::new(
            ParquetError::EOF("unexpected end of file".into())
        ))));
        assert!(of_the_file(&DataFusionError::Shared(Arc::new(damaged))));
        assert!(of_the_file(&DataFusionError::IoError(
            std::io::Error::other("connection reset")
        )));

        // As the reader passes on an error of the query's filter, and the damage it meets.
        assert!(!of_the_file(&arrow(ArrowError::ParquetError(
            "External: Compute error: Error evaluating filter predicate: ArrowError(CastError(\"Cannot cast string 'AssumeRole' to value of Int32 type\"), Some(\"\"))".into()
        ))));
        assert!(!of_the_file(&DataFusionError::ParquetError(Box::new(
            ParquetError::External(Box::new(ArrowError::DivideByZero))
        ))));
        assert!(of_the_file(&DataFusionError::ParquetError(Box::new(
            ParquetError::External(Box::new(std::io::Error::other("Data corruption detected")))
        ))));
        assert!(!of_the_file(&arrow(ArrowError::CastError(
            "Cannot cast string 'x' to value of Int32 type".into()
        ))));
        assert!(!of_the_file(&arrow(ArrowError::ParquetError(
            "Arrow: Cast error: Cannot cast string 'x'".into()
        ))));
        assert!(!of_the_file(&DataFusionError::ParquetError(Box::new(
            ParquetError::ArrowError("Cast error".into())
        ))));
        assert!(!of_the_file(&DataFusionError::ResourcesExhausted(
            "memory".into()
        )));
    }

    #[test]
    fn a_file_is_named_once_and_strict_makes_it_the_error() {
        let report = Arc::new(ScanReport::default());
        let base = ObjectStoreUrl::parse("file://").unwrap();
        let guard = Guard::new(report.clone(), false, base.clone());
        let damaged = || arrow(ArrowError::ParquetError("External: Data corruption".into()));
        assert!(guard.failed("/lake/a.parquet", damaged()).is_none());
        assert!(guard.failed("/lake/a.parquet", damaged()).is_none());
        let cast = arrow(ArrowError::CastError("no".into()));
        assert!(guard.failed("/lake/a.parquet", cast).is_some());
        let warnings = report.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].path, "/lake/a.parquet");
        assert!(warnings[0]
            .message
            .starts_with("damaged Parquet data (Data corruption); its rows from the damage on"));
        assert_eq!(report.snapshot().files_bad, 1);

        let strict = Guard::new(Arc::new(ScanReport::default()), true, base);
        let e = strict.failed("/lake/a.parquet", damaged()).unwrap();
        let text = e.to_string();
        assert!(
            text.contains("/lake/a.parquet: damaged Parquet data (Data corruption)")
                && text.contains("sync again"),
            "{text}"
        );
    }
}
