//! The trailql lake: an incremental, deduplicated Parquet copy of a trail in a Hive layout
//! (`account=…/region=…/date=YYYY-MM-DD/*.parquet`) that trailql, Athena, Spark, Trino and DuckDB
//! all query.
//!
//! - [`sync`] converts the trail files the [`manifest`] does not hold yet ([`write`], [`dedup`],
//!   `writers`);
//! - [`compact`] merges each partition's files;
//! - [`table`] is the lake as a source, with the raw table's columns ([`footers`]: the files
//!   that cannot be read, left out; `damage`: a file that fails mid-read, named);
//! - [`ddl`] prints the statements that register the lake elsewhere.

pub mod columns;
pub mod compact;
mod damage;
pub mod ddl;
pub mod dedup;
pub mod footers;
mod gather;
pub mod location;
pub mod manifest;
mod names;
pub mod partition;
pub mod sync;
pub mod table;
pub mod write;
mod writers;

use std::sync::Arc;

use datafusion::error::Result;
use trailql_s3::S3Client;
use trailql_sql::{Engine, ScanOptions, ScanReport};

pub use compact::{compact, CompactReport};
pub use ddl::{ddl, Dialect, LakeShape};
pub use location::{Lake, LakeUrl};
pub use manifest::Manifest;
pub use sync::{sync, SyncReport};
pub use write::Budget;

/// A session whose `cloudtrail_logs` is the lake.
pub fn engine(lake: &Lake, s3: Option<Arc<S3Client>>, options: &ScanOptions) -> Result<Engine> {
    let report = Arc::new(ScanReport::default());
    report.set_lake(lake.url.to_string());
    let table = table::lake_table(lake, report.clone(), options.strict)?;
    let engine = Engine::over(table, report, s3, options)?;
    // DataFusion 55.2's rule fails to plan a struct field both grouped and ordered by over the
    // lake's view ("duplicate unqualified field name __common_expr_1"); without it the scan
    // reads the whole struct column, which costs little (lake_table's tests run the query).
    engine
        .ctx
        .remove_optimizer_rule("push_down_leaf_projections");
    if matches!(lake.url, LakeUrl::Local(_)) {
        // A local file is read in as many reads as it takes at little cost each, so its footer
        // is read in one that holds it, not in DataFusion's 512 KiB, sized for S3's round trips
        // (a synced bench file's footer, page index and bloom filter: 36-49 KiB; measured on the
        // 189-file bench lake: needle and aggregate about 10% faster).
        let state = engine.ctx.state_ref();
        let mut state = state.write();
        state
            .config_mut()
            .options_mut()
            .execution
            .parquet
            .metadata_size_hint = Some(LOCAL_FOOTER_HINT);
    }
    lake.register(&engine.ctx)?;
    Ok(engine)
}

/// The bytes read from the end of a local lake file to find its footer.
const LOCAL_FOOTER_HINT: usize = 64 << 10;

/// The accounts, regions and days a lake holds, for its DDL.
pub async fn shape(lake: &Lake) -> Result<LakeShape> {
    let mut s = LakeShape {
        location: lake.url.to_string(),
        ..LakeShape::default()
    };
    for dir in compact::partitions(lake).await?.keys() {
        if let Some(k) = partition::PartitionKey::of_path(&format!("{dir}/x")) {
            s.accounts.insert(k.account);
            s.regions.insert(k.region);
            if s.first_day.as_ref().is_none_or(|d| k.date < *d) {
                s.first_day = Some(k.date.clone());
            }
            if s.last_day.as_ref().is_none_or(|d| k.date > *d) {
                s.last_day = Some(k.date);
            }
        }
    }
    Ok(s)
}
