//! The `cloudtrail_logs` table: local folders walked and buckets listed per query, leaving out
//! what the query's account, region and time rule out, then files pruned by key and filters.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DataFusionError, Result};
use datafusion::datasource::TableType;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use trailql_decode::{table_schema, DecodePlan, FileMeta, Prefilter};
use trailql_integrity::PublicKeys;
use trailql_layout::{discover_local, KeyKind, ListScope, SourceFile, TimeWindow};
use trailql_s3::{S3Client, S3Url};

use crate::verify::verified_files;

use crate::exec::{CloudTrailExec, ScanFile};
use crate::filters::{
    only_partition_columns, partition_extra, partition_values, required_literals, time_window,
};
use crate::report::ScanReport;

/// How scans behave.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Allowance for late delivery when pruning by `eventtime` (`None`: any delay).
    pub late_margin: Option<Duration>,
    /// Any bad file or record fails the query.
    pub strict: bool,
    pub max_inflated: u64,
    /// Skip records that cannot contain a required literal before parsing them.
    pub prefilter: bool,
    /// CloudTrail's public keys: fill `"$verified"` by validating the files a query reads.
    pub public_keys: Option<Arc<PublicKeys>>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            late_margin: Some(trailql_layout::DEFAULT_LATE_MARGIN),
            strict: false,
            max_inflated: trailql_decode::inflate::DEFAULT_MAX_INFLATED,
            prefilter: true,
            public_keys: None,
        }
    }
}

/// Buckets to list at scan time, when the query's filters are known.
#[derive(Debug, Clone)]
pub struct RemoteSources {
    pub urls: Vec<S3Url>,
    pub client: Arc<S3Client>,
}

#[derive(Debug)]
pub struct CloudTrailTable {
    /// Local folders and files, walked per query.
    local: Vec<PathBuf>,
    remote: Option<RemoteSources>,
    options: ScanOptions,
    report: Arc<ScanReport>,
}

impl CloudTrailTable {
    pub fn new(local: Vec<PathBuf>, options: ScanOptions, report: Arc<ScanReport>) -> Self {
        CloudTrailTable {
            local,
            remote: None,
            options,
            report,
        }
    }

    /// Also read these buckets, listed per query with the query's account, region and time.
    pub fn with_remote(mut self, remote: RemoteSources) -> Self {
        self.report.attach_s3(remote.client.stats().clone());
        self.remote = Some(remote);
        self
    }

    /// The accounts, regions and time one scan can touch.
    fn scope(&self, filters: &[Expr], window: TimeWindow) -> ListScope {
        ListScope {
            accounts: partition_values(filters, "account"),
            regions: partition_values(filters, "region"),
            window,
            late_margin: self.options.late_margin,
        }
    }

    /// A folder or prefix that cannot be listed: a warning, or with `--strict` an error.
    fn listing_problem(&self, at: String, problem: impl std::fmt::Display) -> Result<()> {
        let msg = format!("cannot list: {problem}");
        if self.options.strict {
            return Err(DataFusionError::Execution(format!(
                "{at}: {msg} (--strict: a folder or prefix that cannot be listed is an error)"
            )));
        }
        self.report.warn(at, msg);
        Ok(())
    }

    /// Walk the local sources for one scan, leaving out the folders the scope rules out.
    fn list_local(&self, scope: &ListScope) -> Result<Vec<Arc<SourceFile>>> {
        if self.local.is_empty() {
            return Ok(Vec::new());
        }
        let found = discover_local(&self.local, scope)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        for p in found.problems {
            self.listing_problem(p.path, p.message)?;
        }
        self.report
            .add(&self.report.folders_pruned, found.folders_pruned);
        Ok(found.files.into_iter().map(Arc::new).collect())
    }

    /// List the buckets for one scan: only the accounts, regions and key range the scope allows.
    async fn list_remote(&self, scope: &ListScope) -> Result<Vec<Arc<SourceFile>>> {
        let Some(remote) = &self.remote else {
            return Ok(Vec::new());
        };
        let listings =
            futures::future::join_all(remote.urls.iter().map(|u| remote.client.list(u, scope)))
                .await;
        let mut out = Vec::new();
        for listing in listings {
            let listing = listing.map_err(|e| DataFusionError::External(Box::new(e)))?;
            for (prefix, problem) in listing.problems {
                self.listing_problem(prefix, problem)?;
            }
            out.extend(listing.files.into_iter().map(Arc::new));
        }
        Ok(out)
    }

    fn s3(&self) -> Option<Arc<S3Client>> {
        self.remote.as_ref().map(|r| r.client.clone())
    }

    pub fn report(&self) -> &Arc<ScanReport> {
        &self.report
    }
}

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

/// Evaluate partition-only filters once over a batch with one row per candidate file.
fn partition_mask(state: &dyn Session, filters: &[&Expr], metas: &[FileMeta]) -> Result<Vec<bool>> {
    let mut keep = vec![true; metas.len()];
    if filters.is_empty() || metas.is_empty() {
        return Ok(keep);
    }
    // Unqualify column references: the batch below has bare names.
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
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for n in &names {
        let Some(extra) = partition_extra(n) else {
            return Ok(keep);
        };
        fields.push(Field::new(n, DataType::Utf8, true));
        let values: StringArray = metas.iter().map(|m| extra_value(m, extra)).collect();
        arrays.push(Arc::new(values));
    }
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
    for e in exprs {
        let phys = state.create_physical_expr(e, &df_schema)?;
        let result = phys.evaluate(&batch)?.into_array(batch.num_rows())?;
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

fn extra_value(m: &FileMeta, e: trailql_decode::Extra) -> Option<String> {
    use trailql_decode::Extra::*;
    match e {
        Account => m.account.clone(),
        Region => m.region.clone(),
        Timestamp => m.timestamp.clone(),
        Year => m.year.clone(),
        Month => m.month.clone(),
        Day => m.day.clone(),
        Path => Some(m.path.clone()),
        EventJson | Verified => None,
    }
}

#[async_trait]
impl TableProvider for CloudTrailTable {
    fn schema(&self) -> SchemaRef {
        table_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Used for pruning and prefiltering; always re-checked on the rows.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let report = &self.report;
        let window: TimeWindow = time_window(filters);
        let partition_filters: Vec<&Expr> = filters
            .iter()
            .filter(|f| only_partition_columns(f))
            .collect();

        let scope = self.scope(filters, window);
        let mut listed = self.list_local(&scope)?;
        listed.extend(self.list_remote(&scope).await?);
        let files_total = listed.len();
        let mut candidates = Vec::new();
        let mut skipped: HashMap<&'static str, u64> = HashMap::new();
        let mut pruned = 0u64;
        for f in listed.iter() {
            match &f.kind {
                KeyKind::TrailLog(k) => {
                    if window.may_contain(k, self.options.late_margin) {
                        candidates.push(f);
                    } else {
                        pruned += 1;
                    }
                }
                KeyKind::LooseJson => candidates.push(f),
                KeyKind::NotEvents(r) => *skipped.entry(r.as_str()).or_default() += 1,
                KeyKind::Other => *skipped.entry("not-json").or_default() += 1,
            }
        }
        // Key-derived values are built per file only when a filter needs them (and again,
        // one file at a time, when the file is read).
        let mask = if partition_filters.is_empty() {
            vec![true; candidates.len()]
        } else {
            let metas: Vec<FileMeta> = candidates.iter().map(|f| file_meta(f, None)).collect();
            partition_mask(state, &partition_filters, &metas)?
        };
        let mut scan_files: Vec<ScanFile> = Vec::new();
        for (f, keep) in candidates.into_iter().zip(mask) {
            if keep {
                scan_files.push(f.clone());
            } else {
                pruned += 1;
            }
        }

        report.add(&report.files_total, files_total as u64);
        report.add(&report.files_pruned, pruned);
        for (reason, n) in skipped {
            for _ in 0..n {
                report.skip(reason);
            }
        }
        report.add(&report.files_to_read, scan_files.len() as u64);
        report.add(
            &report.bytes_to_read,
            scan_files.iter().map(|f| f.size).sum::<u64>(),
        );

        // "$verified" read: validate the files first (only then; it reads the digests).
        let verified_col = table_schema().index_of("$verified").ok();
        let wants_verified = match projection {
            Some(p) => verified_col.is_some_and(|i| p.contains(&i)),
            None => true,
        };
        let valid = match (&self.options.public_keys, wants_verified) {
            (Some(keys), true) => Some(Arc::new(
                verified_files(
                    &scan_files,
                    keys.clone(),
                    self.s3(),
                    self.options.max_inflated,
                    report,
                )
                .await,
            )),
            _ => None,
        };

        let prefilter = if self.options.prefilter {
            Prefilter::new(required_literals(filters))
        } else {
            None
        };
        let mut plan = DecodePlan::new(projection.map(|p| p.as_slice())).with_prefilter(prefilter);
        plan.max_inflated = self.options.max_inflated;
        plan.batch_size = state.config().batch_size();
        let partitions = state.config().target_partitions().max(1);
        Ok(Arc::new(CloudTrailExec::new(
            scan_files,
            plan,
            partitions,
            limit,
            window,
            self.options.clone(),
            report.clone(),
            pruned,
            self.s3(),
            valid,
        )))
    }
}
