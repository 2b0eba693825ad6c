//! Writing partition files: rows buffered per partition within a memory budget, and each flush
//! deduplicated, sorted by `eventtime` and written as one Parquet file, atomically.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::interleave_record_batch;
use datafusion::error::{DataFusionError, Result};
use parquet::arrow::ArrowWriter;

use crate::columns::{file_schema, index, writer_properties, EVENTID, EVENTJSON, EVENTTIME};
use crate::dedup::{ids_between, string_range};
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

    /// Past the total budget: a partition must be written before the scan goes on.
    pub fn full(&self, budget: &Budget) -> bool {
        self.total >= budget.total
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

/// Rows encoded at a time: the sorted rows are gathered from the buffered batches a chunk at a
/// time, so a flush holds the partition's rows once, not a concatenated and a sorted copy too.
const CHUNK_ROWS: usize = 2048;

/// The rows to write, as (batch, row) in `eventtime` order (stable; rows with no time first),
/// without those whose event id is in `existing` or repeats an earlier row's (a row with no
/// event id is dropped only when its whole JSON text repeats one of these rows); and how many
/// were dropped.
pub fn sorted_rows(
    batches: &[RecordBatch],
    existing: &HashSet<String>,
) -> (Vec<(usize, usize)>, u64) {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut seen: HashSet<&str> = HashSet::with_capacity(rows);
    let mut seen_json: HashSet<&str> = HashSet::new();
    let mut kept: Vec<(Option<&str>, usize, usize)> = Vec::with_capacity(rows);
    let mut dropped = 0u64;
    for (b, batch) in batches.iter().enumerate() {
        let ids = batch.column(index(EVENTID)).as_string::<i32>();
        let json = batch.column(index(EVENTJSON)).as_string::<i32>();
        let time = batch.column(index(EVENTTIME)).as_string::<i32>();
        for i in 0..batch.num_rows() {
            let keep = if ids.is_null(i) || ids.value(i).is_empty() {
                json.is_null(i) || seen_json.insert(json.value(i))
            } else {
                let id = ids.value(i);
                !existing.contains(id) && seen.insert(id)
            };
            if keep {
                kept.push((time.is_valid(i).then(|| time.value(i)), b, i));
            } else {
                dropped += 1;
            }
        }
    }
    kept.sort_by(|x, y| x.0.cmp(&y.0));
    (kept.into_iter().map(|(_, b, i)| (b, i)).collect(), dropped)
}

/// A partition's rows deduplicated, sorted and encoded as one Parquet file (CPU only: a sync
/// runs it on a blocking thread while its scan goes on).
pub fn encode(batches: &[RecordBatch], existing: &HashSet<String>) -> Result<(Bytes, Flushed)> {
    let (order, duplicates) = sorted_rows(batches, existing);
    let mut out = Flushed {
        duplicates,
        ..Flushed::default()
    };
    if order.is_empty() {
        return Ok((Bytes::new(), out));
    }
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    let mut w = ArrowWriter::try_new(Vec::new(), file_schema(), Some(writer_properties()))?;
    for chunk in order.chunks(CHUNK_ROWS) {
        w.write(&interleave_record_batch(&refs, chunk)?)?;
    }
    let bytes = Bytes::from(w.into_inner()?);
    out.rows = order.len() as u64;
    out.files = 1;
    out.bytes = bytes.len() as u64;
    Ok((bytes, out))
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
/// partition, or of each other, dropped; sorted by time. The encoding runs on a blocking thread.
pub async fn flush(lake: &Lake, key: &PartitionKey, batches: Vec<RecordBatch>) -> Result<Flushed> {
    if batches.is_empty() {
        return Ok(Flushed::default());
    }
    let existing = match time_range(&batches) {
        Some((lo, hi)) => ids_between(lake, &partition_files(lake, key).await?, &lo, &hi).await?,
        None => Default::default(),
    };
    let (bytes, out) = tokio::task::spawn_blocking(move || encode(&batches, &existing))
        .await
        .map_err(|e| DataFusionError::Execution(format!("encoding {key}: {e}")))??;
    if out.files == 0 {
        return Ok(out);
    }
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
pub(crate) mod tests {
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

    /// Rows of the file schema with these (eventid, eventtime, eventjson), the rest null.
    pub(crate) fn records(rows: &[(Option<&str>, Option<&str>, &str)]) -> RecordBatch {
        use datafusion::arrow::array::{new_null_array, ArrayRef, StringArray};
        let schema = file_schema();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                match f.name().as_str() {
                    EVENTID => Arc::new(StringArray::from_iter(rows.iter().map(|r| r.0))),
                    EVENTTIME => Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
                    EVENTJSON => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
                    _ => new_null_array(f.data_type(), rows.len()),
                }
            })
            .collect();
        RecordBatch::try_new(schema, columns).unwrap()
    }

    #[test]
    fn rows_are_deduplicated_and_sorted_across_batches() {
        let a = records(&[
            (Some("e3"), Some("2024-08-01T03:00:00Z"), "{3}"),
            (Some("e1"), Some("2024-08-01T01:00:00Z"), "{1}"),
            (Some("old"), Some("2024-08-01T00:30:00Z"), "{old}"),
            (None, Some("2024-08-01T02:00:00Z"), "{no id}"),
        ]);
        let b = records(&[
            (Some("e1"), Some("2024-08-01T01:00:00Z"), "{1 again}"),
            (Some("e0"), None, "{no time}"),
            (Some(""), Some("2024-08-01T02:00:00Z"), "{no id}"),
            (Some("e2"), Some("2024-08-01T01:00:00Z"), "{2}"),
        ]);
        let existing: HashSet<String> = ["old".to_string()].into();
        let (order, dropped) = sorted_rows(&[a.clone(), b.clone()], &existing);
        // Dropped: `old` (in the lake), the second `e1`, the second record with no id and the
        // same text. Sorted by time, stable, no time first.
        assert_eq!(dropped, 3);
        assert_eq!(order, vec![(1, 1), (0, 1), (1, 3), (0, 3), (0, 0)]);
        let (bytes, flushed) = encode(&[a, b], &existing).unwrap();
        assert_eq!((flushed.rows, flushed.duplicates, flushed.files), (5, 3, 1));
        let file = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 1024)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let ids = file.column(index(EVENTID)).as_string::<i32>();
        let ids: Vec<Option<&str>> = ids.iter().collect();
        assert_eq!(ids, [Some("e0"), Some("e1"), Some("e2"), None, Some("e3")]);
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
