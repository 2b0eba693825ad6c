//! Gathering the scan's batches before they are split by partition. The decoder yields a batch
//! per trail file: a few rows, each column with room for a thousand more. Split one by one, the
//! per-batch cost of a hundred columns (nested ones among them) dominates a sync; held as they
//! come, their spare room dominates its memory. So every few of them are copied into one
//! exact-sized batch, and those are handed on once they hold enough rows. (arrow's
//! `BatchCoalescer` keeps slices of its inputs for nested columns until its output is full: the
//! spare room again.)

use datafusion::arrow::array::{RecordBatch, UInt32Array};
use datafusion::arrow::compute::{concat_batches, take_record_batch};
use datafusion::error::Result;
use futures::{Stream, TryStreamExt};

/// Decoder batches copied together at a time.
const RAW: usize = 16;
/// Rows handed on at a time.
const ROWS: usize = 4096;

/// `input`'s rows in batches of at least `ROWS` (the last one: what is left), in order, each
/// exactly its size.
pub fn gathered<S>(input: S) -> impl Stream<Item = Result<RecordBatch>>
where
    S: Stream<Item = Result<RecordBatch>> + Unpin,
{
    futures::stream::try_unfold(
        (input, Gather::default(), false),
        |(mut input, mut gather, ended)| async move {
            if ended {
                return Ok(None);
            }
            while let Some(b) = input.try_next().await? {
                if let Some(out) = gather.push(b)? {
                    return Ok(Some((out, (input, gather, false))));
                }
            }
            Ok(gather.finish()?.map(|out| (out, (input, gather, true))))
        },
    )
}

#[derive(Default)]
struct Gather {
    raw: Vec<RecordBatch>,
    exact: Vec<RecordBatch>,
    rows: usize,
}

impl Gather {
    /// Take `batch`; a batch of at least `ROWS` rows when one is ready.
    fn push(&mut self, batch: RecordBatch) -> Result<Option<RecordBatch>> {
        self.rows += batch.num_rows();
        self.raw.push(batch);
        if self.raw.len() >= RAW {
            self.compact()?;
        }
        if self.rows >= ROWS {
            return self.finish();
        }
        Ok(None)
    }

    /// What is left, as one batch.
    fn finish(&mut self) -> Result<Option<RecordBatch>> {
        self.compact()?;
        self.rows = 0;
        let exact = std::mem::take(&mut self.exact);
        Ok(match exact.len() {
            0 => None,
            1 => exact.into_iter().next(),
            _ => Some(concat_batches(&exact[0].schema(), &exact)?),
        })
    }

    fn compact(&mut self) -> Result<()> {
        let b = match self.raw.len() {
            0 => return Ok(()),
            // `concat` of one batch is a slice of it, room and all: copy it.
            1 => {
                let b = &self.raw[0];
                take_record_batch(b, &UInt32Array::from_iter_values(0..b.num_rows() as u32))?
            }
            _ => concat_batches(&self.raw[0].schema(), &self.raw)?,
        };
        self.raw.clear();
        self.exact.push(b);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Int32Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(from: i32, n: i32) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int32Array::from_iter_values(from..from + n))],
        )
        .unwrap()
    }

    #[test]
    fn every_row_comes_out_once_in_order() {
        let mut g = Gather::default();
        let mut out = Vec::new();
        let mut next = 0;
        for n in [3, 1, 700, 5000, 2, 4000, 9000, 7] {
            if let Some(b) = g.push(batch(next, n)).unwrap() {
                assert!(b.num_rows() >= ROWS);
                out.push(b);
            }
            next += n;
        }
        out.extend(g.finish().unwrap());
        assert!(g.finish().unwrap().is_none());
        let values: Vec<i32> = out
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<Int32Array>().unwrap();
                (0..a.len()).map(|i| a.value(i)).collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(values, (0..next).collect::<Vec<_>>());
    }
}
