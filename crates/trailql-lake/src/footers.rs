//! Which lake files can be read. A file whose Parquet footer does not parse (cut short by a copy
//! or an upload that did not finish, overwritten, not Parquet at all) is left out of a query or a
//! compaction and named, so one damaged file does not stop the work on all the others.

use std::sync::Arc;

use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use futures::{stream, StreamExt};
use object_store::{ObjectMeta, ObjectStore};
use parquet::file::metadata::PageIndexPolicy;

use crate::location::MANIFEST;

/// Footers read at once (each is one or two requests to the store).
const CONCURRENCY: usize = 32;

/// How to get back the rows of a damaged lake file (the end of every message naming one).
pub fn restore() -> String {
    format!(
        "move the file out of the lake, move {MANIFEST} away and sync again (every trail file \
         is then read again, and the rows already in the lake are dropped as duplicates)"
    )
}

/// A lake file whose footer cannot be read.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub file: ObjectMeta,
    /// Why, as the Parquet reader says it.
    pub reason: String,
}

/// The files of `files` whose footers cannot be read, in the order given. With `cache` (a
/// session's), the footers read are kept there, so the scan that follows does not read them
/// again; `hint` is how many bytes to read from a file's end at once.
pub async fn unreadable(
    store: Arc<dyn ObjectStore>,
    files: &[ObjectMeta],
    cache: Option<Arc<FileMetadataCache>>,
    hint: Option<usize>,
) -> Vec<Unreadable> {
    // Each footer is parsed on a task of its own: both cores parse, as they do in a scan. A
    // parse that panics names its file like any other failure.
    let checks = files.iter().cloned().enumerate().map(|(i, file)| {
        let (store, cache) = (store.clone(), cache.clone());
        let task =
            tokio::spawn(async move { footer_error(store.as_ref(), &file, cache, hint).await });
        async move {
            let error = task
                .await
                .unwrap_or_else(|e| Some(format!("reading its footer failed: {e}")));
            (i, error)
        }
    });
    let mut bad: Vec<(usize, String)> = stream::iter(checks)
        .buffer_unordered(CONCURRENCY)
        .filter_map(|(i, e)| async move { e.map(|e| (i, e)) })
        .collect()
        .await;
    bad.sort_by_key(|(i, _)| *i);
    bad.into_iter()
        .map(|(i, e)| Unreadable {
            file: files[i].clone(),
            reason: reason(&e),
        })
        .collect()
}

/// Why the footer of `file` cannot be read, if it cannot.
async fn footer_error(
    store: &dyn ObjectStore,
    file: &ObjectMeta,
    cache: Option<Arc<FileMetadataCache>>,
    hint: Option<usize>,
) -> Option<String> {
    // The footer only: a scan that uses the page index reads it (and only it) later.
    DFParquetMetadata::new(store, file)
        .with_file_metadata_cache(cache)
        .with_metadata_size_hint(hint)
        .with_page_index_policy(Some(PageIndexPolicy::Skip))
        .fetch_metadata()
        .await
        .err()
        .map(|e| e.to_string())
}

fn reason(message: &str) -> String {
    format!("not a readable Parquet file ({})", tidy(message))
}

/// A reader's message without the layers that wrap and repeat it: `Parquet error: Parquet
/// error: Invalid Parquet file. Corrupt footer: Parquet error: …` says `Invalid Parquet file.
/// Corrupt footer`.
pub fn tidy(message: &str) -> String {
    const LAYERS: [&str; 7] = [
        "Parquet error",
        "Arrow error",
        "Arrow",
        "Parquet argument error",
        "External",
        "External error",
        "Execution error",
    ];
    let mut kept: Vec<&str> = Vec::new();
    for part in message.split(": ").map(str::trim) {
        if !LAYERS.contains(&part) && !kept.contains(&part) {
            kept.push(part);
        }
    }
    if kept.is_empty() {
        message.trim().to_string()
    } else {
        kept.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::path::Path;
    use object_store::{ObjectStoreExt, PutPayload};

    async fn put(store: &InMemory, name: &str, bytes: Vec<u8>) -> ObjectMeta {
        let p = Path::from(name);
        store.put(&p, PutPayload::from(bytes)).await.unwrap();
        store.head(&p).await.unwrap()
    }

    fn parquet() -> Vec<u8> {
        use datafusion::arrow::array::{ArrayRef, StringArray};
        use datafusion::arrow::record_batch::RecordBatch;
        let a: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
        let b = RecordBatch::try_from_iter([("x", a)]).unwrap();
        let mut out = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, b.schema(), None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
        out
    }

    #[tokio::test]
    async fn names_the_files_whose_footers_do_not_parse_in_order() {
        let store = InMemory::new();
        let good = parquet();
        let files = vec![
            put(&store, "a/good.parquet", good.clone()).await,
            put(&store, "a/short.parquet", b"junk\n".to_vec()).await,
            put(&store, "a/cut.parquet", good[..good.len() - 20].to_vec()).await,
            put(&store, "b/good.parquet", good).await,
        ];
        let store: Arc<dyn ObjectStore> = Arc::new(store);
        let bad = unreadable(store.clone(), &files, None, None).await;
        let names: Vec<&str> = bad.iter().map(|u| u.file.location.as_ref()).collect();
        assert_eq!(names, ["a/short.parquet", "a/cut.parquet"]);
        for u in &bad {
            assert!(
                u.reason.starts_with("not a readable Parquet file (")
                    && !u.reason.contains("Parquet error"),
                "{}",
                u.reason
            );
        }
        assert!(unreadable(store, &files[3..], None, None).await.is_empty());
    }

    #[test]
    fn tidy_keeps_what_the_reader_said_once() {
        assert_eq!(
            tidy("Arrow error: Parquet argument error: External: Data corruption detected: Parquet argument error: External: Data corruption detected"),
            "Data corruption detected"
        );
        assert_eq!(
            tidy("Parquet error: Parquet error: Invalid Parquet file. Corrupt footer: Parquet error: Parquet error: Invalid Parquet file. Corrupt footer"),
            "Invalid Parquet file. Corrupt footer"
        );
        assert_eq!(
            tidy("EOF: file size of 5 is less than footer"),
            "EOF: file size of 5 is less than footer"
        );
        assert_eq!(
            tidy("Arrow: Parquet argument error: Parquet error: Unexpected struct field type 15"),
            "Unexpected struct field type 15"
        );
        assert_eq!(tidy("Parquet error"), "Parquet error");
    }
}
