//! Deduplication by `eventID`. CloudTrail may deliver an event twice (in two files, or a file a
//! sync converted before it was killed is converted again): before new rows are written to a
//! partition they are checked against the rows of that partition already in the lake, and
//! against each other. Duplicates share their `eventTime`, and lake files are sorted by it with
//! statistics per row group, so only the row groups whose time range overlaps the new rows' are
//! read, and only their `eventtime` and `eventid` columns: the cost is a fraction of the
//! partition's last hours, not of the lake.

use std::collections::HashSet;

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::error::{DataFusionError, Result};
use futures::TryStreamExt;
use object_store::ObjectMeta;
// arrow-rs 59 deprecates its object_store reader in favour of readers on a dedicated runtime;
// it is the simple, correct one for reading two columns of a few row groups here.
#[allow(deprecated)]
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::arrow::{parquet_column, ProjectionMask};
use parquet::file::statistics::Statistics;

use crate::columns::{EVENTID, EVENTTIME};
use crate::location::Lake;

fn pq(at: &str, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!(
        "{at}: cannot read lake file ({}); new rows of its partition cannot be checked against \
         it, so the sync stops here; if the file is damaged, {}",
        crate::footers::tidy(&e.to_string()),
        crate::footers::restore()
    ))
}

/// The `[min, max]` of the non-null strings of a column.
pub fn string_range(a: &StringArray) -> Option<(String, String)> {
    let mut it = a.iter().flatten();
    let first = it.next()?;
    let (mut lo, mut hi) = (first, first);
    for v in it {
        if v < lo {
            lo = v;
        }
        if v > hi {
            hi = v;
        }
    }
    Some((lo.to_string(), hi.to_string()))
}

/// The event ids of `files` whose `eventtime` is within `[lo, hi]`.
pub async fn ids_between(
    lake: &Lake,
    files: &[ObjectMeta],
    lo: &str,
    hi: &str,
) -> Result<HashSet<String>> {
    let mut ids = HashSet::new();
    for f in files {
        let at = format!("{}/{}", lake.url, lake.relative(&f.location));
        #[allow(deprecated)]
        let reader = ParquetObjectReader::new(lake.store().clone(), f.location.clone())
            .with_file_size(f.size);
        let builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(|e| pq(&at, e))?;
        let meta = builder.metadata().clone();
        let schema = builder.schema().clone();
        let descr = builder.parquet_schema();
        let (Some((time_leaf, _)), Some((id_leaf, _))) = (
            parquet_column(descr, &schema, EVENTTIME),
            parquet_column(descr, &schema, EVENTID),
        ) else {
            return Err(pq(&at, "it has no eventtime or eventid column"));
        };
        let groups: Vec<usize> = (0..meta.num_row_groups())
            .filter(
                |&g| match meta.row_group(g).column(time_leaf).statistics() {
                    Some(Statistics::ByteArray(s)) => {
                        let min = s.min_bytes_opt().map(String::from_utf8_lossy);
                        let max = s.max_bytes_opt().map(String::from_utf8_lossy);
                        match (min, max) {
                            (Some(min), Some(max)) => *min <= *hi && *max >= *lo,
                            _ => true,
                        }
                    }
                    _ => true,
                },
            )
            .collect();
        if groups.is_empty() {
            continue;
        }
        let mask = ProjectionMask::leaves(descr, [time_leaf, id_leaf]);
        let mut stream = builder
            .with_projection(mask)
            .with_row_groups(groups)
            .build()
            .map_err(|e| pq(&at, e))?;
        while let Some(b) = stream.try_next().await.map_err(|e| pq(&at, e))? {
            let (Some(t), Some(id)) = (b.column_by_name(EVENTTIME), b.column_by_name(EVENTID))
            else {
                continue;
            };
            let (t, id) = (t.as_string::<i32>(), id.as_string::<i32>());
            for i in 0..b.num_rows() {
                if id.is_null(i) || t.is_null(i) {
                    continue;
                }
                let ti = t.value(i);
                if ti >= lo && ti <= hi {
                    ids.insert(id.value(i).to_string());
                }
            }
        }
    }
    Ok(ids)
}
