//! File-system notifications for local sources: any change under a watched folder wakes the
//! loop at once, so a file that lands is processed within a moment, not at the next poll.
//! Polling goes on beside them (notifications can be missed, e.g. on network file systems),
//! and is all there is when the system refuses to watch (a warning says so).

use std::path::PathBuf;
use std::sync::Arc;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::Notify;

/// Watches `folders` until dropped, waking `wake` on every change; the reason when it cannot.
pub fn watch(folders: &[PathBuf], wake: Arc<Notify>) -> Result<notify::RecommendedWatcher, String> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // A file created, written, renamed into place or closed after writing; not the reads
        // and folder openings of our own listing (they would wake it again, forever).
        let written = event.is_ok_and(|e| {
            matches!(
                e.kind,
                EventKind::Create(_)
                    | EventKind::Modify(_)
                    | EventKind::Access(AccessKind::Close(AccessMode::Write))
            )
        });
        if written {
            wake.notify_one();
        }
    })
    .map_err(|e| e.to_string())?;
    for f in folders {
        watcher
            .watch(f, RecursiveMode::Recursive)
            .map_err(|e| format!("{}: {e}", f.display()))?;
    }
    Ok(watcher)
}
