//! The `cloudtrail_logs` table: each scan plans its listing (local folders walked and buckets
//! listed while the files are read, leaving out what the query's account, region and time rule
//! out; files pruned by key and filters on the way, see [`crate::listing`]) and its decoding.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::TableType;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use trailql_decode::{table_schema, DecodePlan, Prefilter};
use trailql_integrity::PublicKeys;
use trailql_layout::{ListScope, TimeWindow};
use trailql_s3::{S3Client, S3Url};

use crate::exec::{CloudTrailExec, Files, ScanFile};
use crate::filters::{only_partition_columns, partition_values, required_literals, time_window};
use crate::listing::{Feed, FileQueue, Triage};
use crate::partition::PartitionFilter;
use crate::report::ScanReport;
use crate::verify::verified_files;

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
    /// Only records holding one of these words (ignoring ASCII case) can be of interest:
    /// `detect` passes its rules' words here, and the others are skipped unparsed.
    pub words: Option<trailql_decode::Words>,
    /// The session's memory pool, in bytes: sorts and aggregations past it spill to disk
    /// (`None`: unbounded, as DataFusion's default).
    pub memory_limit: Option<usize>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            late_margin: Some(trailql_layout::DEFAULT_LATE_MARGIN),
            strict: false,
            max_inflated: trailql_decode::inflate::DEFAULT_MAX_INFLATED,
            prefilter: true,
            public_keys: None,
            words: None,
            memory_limit: None,
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
    /// Read exactly these files instead of listing the sources (`lake sync`).
    fixed: Option<Arc<Vec<ScanFile>>>,
    options: ScanOptions,
    report: Arc<ScanReport>,
}

impl CloudTrailTable {
    pub fn new(local: Vec<PathBuf>, options: ScanOptions, report: Arc<ScanReport>) -> Self {
        CloudTrailTable {
            local,
            remote: None,
            fixed: None,
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

    /// Read these files, already listed (see [`CloudTrailTable::list`]), whatever the filters.
    pub fn with_files(mut self, files: Vec<ScanFile>) -> Self {
        self.fixed = Some(Arc::new(files));
        self
    }

    /// The event files of the sources within `window` (by their keys, allowing for late
    /// delivery), triaged and counted in the report as a scan would: what is not events is
    /// skipped, and a folder or prefix that cannot be listed is a warning (an error if strict).
    pub async fn list(&self, window: TimeWindow) -> Result<Vec<ScanFile>> {
        let feed = Feed {
            local: self.local.clone(),
            remote: self.remote.clone(),
            scope: self.scope(&[], window),
            strict: self.options.strict,
            triage: Triage {
                window,
                late_margin: self.options.late_margin,
                partition: None,
                report: self.report.clone(),
            },
        };
        let queue = FileQueue::start(Arc::new(feed));
        let mut files = Vec::new();
        while let Some(f) = queue.next().await {
            files.push(f?);
        }
        Ok(files)
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

    fn s3(&self) -> Option<Arc<S3Client>> {
        self.remote.as_ref().map(|r| r.client.clone())
    }

    pub fn report(&self) -> &Arc<ScanReport> {
        &self.report
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

        let feed = Feed {
            local: self.local.clone(),
            remote: self.remote.clone(),
            scope: self.scope(filters, window),
            strict: self.options.strict,
            triage: Triage {
                window,
                late_margin: self.options.late_margin,
                partition: PartitionFilter::new(state, &partition_filters)?,
                report: report.clone(),
            },
        };

        // "$verified" read: list and validate the files first (only then; it reads the digests).
        let verified_col = table_schema().index_of("$verified").ok();
        let wants_verified = match projection {
            Some(p) => verified_col.is_some_and(|i| p.contains(&i)),
            None => true,
        };
        let (files, valid) = match (&self.options.public_keys, wants_verified) {
            _ if self.fixed.is_some() => {
                let files = self.fixed.clone().expect("checked");
                self.report
                    .add(&self.report.files_total, files.len() as u64);
                self.report
                    .add(&self.report.files_to_read, files.len() as u64);
                self.report.add(
                    &self.report.bytes_to_read,
                    files.iter().map(|f| f.size).sum(),
                );
                (Files::Fixed(files), None)
            }
            (Some(keys), true) => {
                let queue = FileQueue::start(Arc::new(feed));
                let mut files = Vec::new();
                while let Some(f) = queue.next().await {
                    files.push(f?);
                }
                let valid = verified_files(
                    &files,
                    keys.clone(),
                    self.s3(),
                    self.options.max_inflated,
                    report,
                )
                .await;
                (Files::Fixed(Arc::new(files)), Some(Arc::new(valid)))
            }
            _ => (Files::Listed(Arc::new(feed)), None),
        };

        let prefilter = if self.options.prefilter {
            Prefilter::with_words(required_literals(filters), self.options.words.clone())
        } else {
            None
        };
        let mut plan = DecodePlan::new(projection.map(|p| p.as_slice())).with_prefilter(prefilter);
        plan.max_inflated = self.options.max_inflated;
        plan.batch_size = state.config().batch_size();
        let partitions = state.config().target_partitions().max(1);
        Ok(Arc::new(CloudTrailExec::new(
            files,
            plan,
            partitions,
            limit,
            window,
            self.options.clone(),
            report.clone(),
            self.s3(),
            valid,
        )))
    }
}
