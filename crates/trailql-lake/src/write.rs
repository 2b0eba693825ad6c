//! Writing partition files: rows buffered per partition within a memory budget, and each flush
//! deduplicated, sorted by `eventtime` and written as one Parquet file, atomically.

use std::collections::HashMap;

use bytes::Bytes;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::{concat_batches, sort_to_indices, take_record_batch, SortOptions};
use datafusion::error::{DataFusionError, Result};
use parquet::arrow::ArrowWriter;

use crate::columns::{file_schema, index, writer_properties, EVENTTIME};
use crate::dedup::{drop_duplicates, ids_between, string_range};
use crate::location::Lake;
use crate::names::unique;
use crate::partition::PartitionKey;

/// How much a sync holds in memory before it writes.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// All partitions' buffered rows together (Arrow bytes): past it the largest is written.
    pub total: usize,
    /// One partition's buffered rows: past it they are written as one file.
    pub file: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            total: 64 << 20,
            file: 48 << 20,
        }
    }
}

/// Pushes after which a partition no row went to is taken as complete.
const IDLE_PUSHES: u64 = 8;

#[derive(Default)]
struct Part {
    batches: Vec<RecordBatch>,
    bytes: usize,
    /// When rows were last pushed (the buffers' push count).
    touched: u64,
}

/// Rows waiting to be written, by partition.
#[derive(Default)]
pub struct Buffers {
    parts: HashMap<PartitionKey, Part>,
    total: usize,
    pushes: u64,
}

impl Buffers {
    pub fn push(&mut self, key: PartitionKey, batch: RecordBatch) {
        let n = batch.get_array_memory_size();
        self.pushes += 1;
        let p = self.parts.entry(key).or_default();
        p.touched = self.pushes;
        p.bytes += n;
        p.batches.push(batch);
        self.total += n;
    }

    /// The partition to write now: one past the file budget; past the total, the one pushed to
    /// least recently; and one no row went to for a while (a sync reads trail files in key
    /// order, so it is most likely complete: written whole, as one file, and no longer held).
    pub fn due(&self, budget: &Budget) -> Option<PartitionKey> {
        if let Some((k, _)) = self.parts.iter().find(|(_, p)| p.bytes >= budget.file) {
            return Some(k.clone());
        }
        let (k, p) = self.parts.iter().min_by_key(|(_, p)| p.touched)?;
        (self.total >= budget.total || p.touched + IDLE_PUSHES <= self.pushes).then(|| k.clone())
    }

    /// A partition's rows, taken out to be written.
    pub fn take(&mut self, key: &PartitionKey) -> Vec<RecordBatch> {
        let p = self.parts.remove(key).unwrap_or_default();
        self.total -= p.bytes;
        p.batches
    }

    pub fn keys(&self) -> Vec<PartitionKey> {
        let mut k: Vec<_> = self.parts.keys().cloned().collect();
        k.sort();
        k
    }
}

/// Rows sorted by `eventtime` (stable; rows with no time first).
pub fn sort_by_time(batch: &RecordBatch) -> Result<RecordBatch> {
    let idx = sort_to_indices(
        batch.column(index(EVENTTIME)),
        Some(SortOptions {
            descending: false,
            nulls_first: true,
        }),
        None,
    )?;
    Ok(take_record_batch(batch, &idx)?)
}

/// Batches of the file schema as one Parquet file.
pub fn encode(batches: &[RecordBatch]) -> Result<Bytes> {
    let mut w = ArrowWriter::try_new(Vec::new(), file_schema(), Some(writer_properties()))?;
    for b in batches {
        w.write(b)?;
    }
    Ok(Bytes::from(w.into_inner()?))
}

/// What a flush did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flushed {
    pub rows: u64,
    pub duplicates: u64,
    pub files: u64,
    pub bytes: u64,
}

impl std::ops::AddAssign for Flushed {
    fn add_assign(&mut self, o: Flushed) {
        self.rows += o.rows;
        self.duplicates += o.duplicates;
        self.files += o.files;
        self.bytes += o.bytes;
    }
}

/// Parquet files already in a partition.
pub async fn partition_files(
    lake: &Lake,
    key: &PartitionKey,
) -> Result<Vec<object_store::ObjectMeta>> {
    Ok(lake
        .list(&key.dir())
        .await?
        .into_iter()
        .filter(|m| m.location.as_ref().ends_with(".parquet"))
        .collect())
}

/// Write one partition's buffered rows as a new file: duplicates of rows already in the
/// partition, or of each other, dropped; sorted by time.
pub async fn flush(lake: &Lake, key: &PartitionKey, batches: Vec<RecordBatch>) -> Result<Flushed> {
    if batches.is_empty() {
        return Ok(Flushed::default());
    }
    let range = time_range(&batches);
    let existing = match range {
        Some((lo, hi)) => ids_between(lake, &partition_files(lake, key).await?, &lo, &hi).await?,
        None => Default::default(),
    };
    let batch = concat_batches(&file_schema(), &batches)?;
    drop(batches);
    let (batch, duplicates) = drop_duplicates(&batch, &existing)?;
    let mut out = Flushed {
        duplicates,
        ..Flushed::default()
    };
    if batch.num_rows() == 0 {
        return Ok(out);
    }
    let sorted = sort_by_time(&batch)?;
    drop(batch);
    let bytes = encode(std::slice::from_ref(&sorted))?;
    out.rows = sorted.num_rows() as u64;
    out.files = 1;
    out.bytes = bytes.len() as u64;
    let rel = format!("{}/{}.parquet", key.dir(), unique("part"));
    lake.put(&rel, bytes)
        .await
        .map_err(|e| DataFusionError::Execution(format!("writing {rel}: {e}")))?;
    Ok(out)
}

/// The first and last `eventtime` of the rows.
fn time_range(batches: &[RecordBatch]) -> Option<(String, String)> {
    batches
        .iter()
        .filter_map(|b| string_range(b.column(index(EVENTTIME)).as_string::<i32>()))
        .reduce(|(lo, hi), (l, h)| (lo.min(l), hi.max(h)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Int32Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn key(date: &str) -> PartitionKey {
        PartitionKey {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            date: date.into(),
        }
    }

    fn rows(n: i32) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int32Array::from_iter_values(0..n))]).unwrap()
    }

    #[test]
    fn a_partition_the_scan_has_moved_past_is_written_whole() {
        let roomy = Budget {
            total: 1 << 30,
            file: 1 << 30,
        };
        let mut b = Buffers::default();
        b.push(key("2024-08-01"), rows(100));
        b.push(key("2024-08-01"), rows(100));
        for _ in 0..IDLE_PUSHES - 1 {
            b.push(key("2024-08-02"), rows(100));
            assert_eq!(b.due(&roomy), None, "the day may still get rows");
        }
        b.push(key("2024-08-02"), rows(100));
        assert_eq!(b.due(&roomy), Some(key("2024-08-01")));
        let taken = b.take(&key("2024-08-01"));
        assert_eq!(taken.iter().map(|t| t.num_rows()).sum::<usize>(), 200);
        assert_eq!(b.due(&roomy), None, "the day being read stays");
    }

    #[test]
    fn past_the_budget_the_least_recently_pushed_goes_first() {
        let one = rows(1000).get_array_memory_size();
        let tight = Budget {
            total: 3 * one,
            file: 1 << 30,
        };
        let mut b = Buffers::default();
        b.push(key("2024-08-02"), rows(1000));
        b.push(key("2024-08-01"), rows(1000));
        assert_eq!(b.due(&tight), None);
        b.push(key("2024-08-02"), rows(1000));
        assert_eq!(b.due(&tight), Some(key("2024-08-01")));
        let past_file = Budget {
            total: 1 << 30,
            file: 2 * one,
        };
        assert_eq!(b.due(&past_file), Some(key("2024-08-02")));
    }
}
