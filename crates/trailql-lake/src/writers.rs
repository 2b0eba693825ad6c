//! The partition files a sync is writing while its scan goes on.
//!
//! The scan and the encoder each need about one core. With one file written at a time, a
//! scan that fills its buffers waits for the encoder and the second core idles, so when the
//! buffers are full a second file is started instead (never two of the same partition: the
//! second one's rows are checked against the first one's file for duplicates).

use datafusion::error::{DataFusionError, Result};
use tokio::task::JoinHandle;

use crate::location::Lake;
use crate::partition::PartitionKey;
use crate::write::{flush, Buffers, Flushed};

/// Files encoded at once, at most.
pub const MAX_WRITING: usize = 2;

/// The files being written, oldest first.
#[derive(Default)]
pub struct Writers {
    writing: Vec<(PartitionKey, JoinHandle<Result<Flushed>>)>,
}

impl Writers {
    /// No file is being written (any finished one is collected into `done`).
    pub async fn idle(&mut self, done: &mut Flushed) -> Result<bool> {
        while let Some(i) = self.writing.iter().position(|(_, w)| w.is_finished()) {
            let (_, w) = self.writing.remove(i);
            *done += joined(w).await?;
        }
        Ok(self.writing.is_empty())
    }

    /// Start writing partition `key`'s buffered rows, first waiting for an earlier file of it
    /// and, while [`MAX_WRITING`] are being written, for the oldest. The rows leave the buffers
    /// only then, so that at most that many partitions are held outside them.
    pub async fn write(
        &mut self,
        lake: &Lake,
        key: PartitionKey,
        buffers: &mut Buffers,
        done: &mut Flushed,
    ) -> Result<()> {
        if let Some(i) = self.writing.iter().position(|(k, _)| *k == key) {
            let (_, w) = self.writing.remove(i);
            *done += joined(w).await?;
        }
        while self.writing.len() >= MAX_WRITING {
            let (_, w) = self.writing.remove(0);
            *done += joined(w).await?;
        }
        let batches = buffers.take(&key);
        let lake = lake.clone();
        let k = key.clone();
        let w = tokio::spawn(async move { flush(&lake, &k, batches).await });
        self.writing.push((key, w));
        Ok(())
    }

    /// Wait for every file being written.
    pub async fn finish(&mut self, done: &mut Flushed) -> Result<()> {
        for (_, w) in self.writing.drain(..) {
            *done += joined(w).await?;
        }
        Ok(())
    }
}

async fn joined(w: JoinHandle<Result<Flushed>>) -> Result<Flushed> {
    w.await
        .map_err(|e| DataFusionError::Execution(format!("writing a partition: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::LakeUrl;
    use crate::write::tests::records;

    /// Two files of one partition started back to back: the second waits for the first, finds
    /// its rows there and drops them (run at once, it would list the partition before the first
    /// file is in it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_partitions_next_file_waits_for_its_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(&LakeUrl::Local(dir.path().to_path_buf()), None)
            .await
            .unwrap();
        let key = PartitionKey {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            date: "2024-08-01".into(),
        };
        let rows: Vec<(String, String)> = (0..5000)
            .map(|i| (format!("e{i}"), format!("2024-08-01T{:02}:00:00Z", i % 24)))
            .collect();
        let batch = records(
            &rows
                .iter()
                .map(|(id, t)| (Some(id.as_str()), Some(t.as_str()), "{}"))
                .collect::<Vec<_>>(),
        );
        let mut writers = Writers::default();
        let mut done = Flushed::default();
        let mut buffers = Buffers::default();
        for _ in 0..2 {
            buffers.push(key.clone(), batch.clone());
            writers
                .write(&lake, key.clone(), &mut buffers, &mut done)
                .await
                .unwrap();
        }
        writers.finish(&mut done).await.unwrap();
        assert_eq!((done.rows, done.duplicates, done.files), (5000, 5000, 1));
    }
}
