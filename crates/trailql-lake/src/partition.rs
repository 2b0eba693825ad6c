//! Partitions: `account=…/region=…/date=YYYY-MM-DD`, the account and region of the trail key the
//! record came from and the UTC day of its `eventTime` (the event's own day, so a duplicate
//! delivered in another file lands in the same partition).

use std::collections::HashMap;
use std::fmt;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::error::Result;

use crate::columns::{file_schema, index, EVENTTIME};

/// One partition's values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub account: String,
    pub region: String,
    /// `YYYY-MM-DD`.
    pub date: String,
}

/// The value used when a record says nothing (Hive's name for a NULL partition value).
pub const UNKNOWN: &str = "__HIVE_DEFAULT_PARTITION__";

/// Hive's escaping of partition values: anything outside `[A-Za-z0-9_.-]` as `%XX`.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl PartitionKey {
    /// The folder, relative to the lake root.
    pub fn dir(&self) -> String {
        format!(
            "account={}/region={}/date={}",
            escape(&self.account),
            escape(&self.region),
            escape(&self.date)
        )
    }

    /// The key of a file path `account=…/region=…/date=…/name.parquet` relative to the lake.
    pub fn of_path(rel: &str) -> Option<PartitionKey> {
        let mut parts = rel.split('/');
        let mut value = |name: &str| {
            parts
                .next()?
                .strip_prefix(name)?
                .strip_prefix('=')
                .map(str::to_string)
        };
        Some(PartitionKey {
            account: value("account")?,
            region: value("region")?,
            date: value("date")?,
        })
    }
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dir())
    }
}

/// `YYYY-MM-DD` of an ISO time, if it starts with one.
fn iso_day(s: &str) -> Option<&str> {
    let d = s.get(..10)?;
    let b = d.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    (digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10)).then_some(d)
}

/// A non-empty value.
fn get(a: &datafusion::arrow::array::StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i) && !a.value(i).is_empty()).then(|| a.value(i))
}

/// The columns of a sync's input batch after the file columns.
pub struct Extras {
    pub account: usize,
    pub region: usize,
    /// The delivery day `yyyy/MM/dd` from the key (used when `eventTime` is missing or bad).
    pub timestamp: usize,
}

/// Split a batch (the file columns, then [`Extras`]) by partition, keeping row order; the
/// returned batches have the file schema. `batch` must be exact-sized (a gathered copy, see
/// [`crate::gather`]): a batch of one partition is handed on as it is.
pub fn split(batch: &RecordBatch, extras: &Extras) -> Result<Vec<(PartitionKey, RecordBatch)>> {
    let n_file = file_schema().fields().len();
    let file_cols: Vec<usize> = (0..n_file).collect();
    let file_batch = batch.project(&file_cols)?;
    let file_batch = RecordBatch::try_new(file_schema(), file_batch.columns().to_vec())?;
    let time = batch.column(index(EVENTTIME)).as_string::<i32>();
    let recipient = batch.column(index("recipientaccountid")).as_string::<i32>();
    let aws_region = batch.column(index("awsregion")).as_string::<i32>();
    let account = batch.column(extras.account).as_string::<i32>();
    let region = batch.column(extras.region).as_string::<i32>();
    let timestamp = batch.column(extras.timestamp).as_string::<i32>();

    let mut groups: HashMap<PartitionKey, Vec<u32>> = HashMap::new();
    let mut last: Option<PartitionKey> = None;
    let mut order: Vec<PartitionKey> = Vec::new();
    for i in 0..batch.num_rows() {
        let account = get(account, i)
            .or_else(|| get(recipient, i))
            .unwrap_or(UNKNOWN);
        let region = get(region, i)
            .or_else(|| get(aws_region, i))
            .unwrap_or(UNKNOWN);
        let day = get(time, i).and_then(iso_day);
        // Runs of the same partition are the common case (files are read whole): compared
        // before a key is built.
        if let (Some(k), Some(day)) = (&last, day) {
            if k.date == day && k.account == account && k.region == region {
                groups.get_mut(k).expect("present").push(i as u32);
                continue;
            }
        }
        let date = day
            .map(str::to_string)
            .or_else(|| get(timestamp, i).map(|t| t.replace('/', "-")))
            .unwrap_or_else(|| UNKNOWN.to_string());
        let key = PartitionKey {
            account: account.to_string(),
            region: region.to_string(),
            date,
        };
        let entry = groups.entry(key.clone()).or_default();
        if entry.is_empty() {
            order.push(key.clone());
        }
        entry.push(i as u32);
        last = Some(key);
    }
    // Rows of several partitions are copied per partition, so that no buffered batch keeps
    // another partition's rows alive.
    if order.len() == 1 {
        return Ok(vec![(order.remove(0), file_batch)]);
    }
    order
        .into_iter()
        .map(|k| {
            let idx = UInt32Array::from(groups.remove(&k).expect("grouped"));
            Ok((k, take_record_batch(&file_batch, &idx)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_paths_escape_and_parse_back() {
        let k = PartitionKey {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            date: "2024-08-01".into(),
        };
        assert_eq!(
            k.dir(),
            "account=111122223333/region=us-east-1/date=2024-08-01"
        );
        assert_eq!(
            PartitionKey::of_path(&format!("{}/part-1.parquet", k.dir())),
            Some(k)
        );
        let odd = PartitionKey {
            account: "a/b c".into(),
            region: "r".into(),
            date: "d".into(),
        };
        assert_eq!(odd.dir(), "account=a%2Fb%20c/region=r/date=d");
        assert_eq!(PartitionKey::of_path("_trailql/manifest.json"), None);
    }

    #[test]
    fn iso_days() {
        assert_eq!(iso_day("2024-08-01T10:00:00Z"), Some("2024-08-01"));
        assert_eq!(iso_day("2024/08/01"), None);
        assert_eq!(iso_day("soon"), None);
    }
}
