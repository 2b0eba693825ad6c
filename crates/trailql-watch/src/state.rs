//! What a watch has done, kept in `--state DIR` so that a restart — after a clean stop or a
//! `kill -9` at any moment — goes on where it was: the files processed, the newest delivery
//! seen, the alerts not yet delivered to every output, and how far each output got.
//!
//! Two files. `state.json` is a snapshot, replaced atomically (written beside, synced,
//! renamed, the folder synced). `journal.jsonl` holds the steps since, one JSON line each,
//! synced before the step counts: "file F processed, with these alerts" or "output O has
//! alert N". Loading reads the snapshot and replays the journal; a torn last line (a kill
//! during its write) is cut off, which undoes exactly the step that had not finished. Every
//! [`COMPACT_EVERY`] steps, and at a clean stop, the snapshot is rewritten and the journal
//! emptied; replaying a step the snapshot already holds changes nothing, so a kill between
//! the two is harmless.
//!
//! The correlations' open windows are kept beside, in two slots (`correlations.0.json`,
//! `correlations.1.json`), each replaced atomically and marked with the number of file steps
//! it reflects. A file that changed the windows writes them to the older slot *before* its
//! step is journaled; loading takes the newest slot the journal has reached. A kill between
//! the two leaves a slot one step ahead, which is ignored (and overwritten next), and the
//! file is processed again against the windows as they were before it: never counted twice,
//! never lost.
//!
//! The files processed are forgotten once they are older than what the next listing can
//! return ([`State::compact`]), so the state, like the memory, follows the late-delivery
//! margin and not the length of the watch.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trailql_rules::Alert;

/// Steps journaled between two snapshots.
pub const COMPACT_EVERY: usize = 512;

const SNAPSHOT: &str = "state.json";
const JOURNAL: &str = "journal.jsonl";
const LOCK: &str = "lock";
const SLOTS: [&str; 2] = ["correlations.0.json", "correlations.1.json"];
const VERSION: u32 = 1;

/// How a processed file is recognised when it is listed again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMark {
    pub size: u64,
    /// The object's ETag, or a local file's modification time.
    pub tag: Option<String>,
    /// When CloudTrail delivered it (from its key), if the key says.
    pub delivered: Option<DateTime<Utc>>,
}

/// An alert with its place in the order of all alerts of this state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    pub seq: u64,
    pub alert: Alert,
}

/// What a watch has done, as one value.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    /// The last sequence number given to an alert.
    pub seq: u64,
    /// The newest delivery time among the files processed.
    pub newest: Option<DateTime<Utc>>,
    /// The files processed, by display name (`s3://…` or a path).
    pub files: BTreeMap<String, FileMark>,
    /// Per output: the sequence number of the last alert it has.
    pub delivered: BTreeMap<String, u64>,
    /// Alerts some output does not have yet, in sequence order.
    pub pending: VecDeque<Queued>,
    /// File steps taken since the state was created (what a correlation slot is marked with).
    #[serde(default)]
    pub file_steps: u64,
    /// Per trail (`SOURCE ACCOUNT/REGION`), the end of the newest digest validated
    /// (`--validate`).
    #[serde(default)]
    pub validated: BTreeMap<String, DateTime<Utc>>,
    /// Per trail, the newest digest after which digests were reported to stop arriving (so
    /// that is said once, until a newer digest comes).
    #[serde(default)]
    pub stalled: BTreeMap<String, DateTime<Utc>>,
}

/// The correlations' windows as of a number of file steps.
#[derive(Debug, Serialize, Deserialize)]
struct Slot {
    file_steps: u64,
    windows: serde_json::Value,
}

/// One journaled step.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum Step {
    File {
        name: String,
        mark: FileMark,
        alerts: Vec<Queued>,
    },
    Delivered {
        output: String,
        seq: u64,
    },
    /// A trail's digests validated up to `until`, with the alerts of what was wrong.
    Validated {
        trail: String,
        until: DateTime<Utc>,
        alerts: Vec<Queued>,
        /// No digest came after `until` for too long (and that is among the alerts).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        stalled: bool,
    },
}

impl Snapshot {
    fn apply(&mut self, step: Step) {
        match step {
            Step::File { name, mark, alerts } => {
                if let Some(d) = mark.delivered {
                    self.newest = Some(self.newest.map_or(d, |n| n.max(d)));
                }
                self.files.insert(name, mark);
                self.file_steps += 1;
                self.queue(alerts);
            }
            Step::Delivered { output, seq } => {
                let at = self.delivered.entry(output).or_default();
                *at = (*at).max(seq);
            }
            Step::Validated {
                trail,
                until,
                alerts,
                stalled,
            } => {
                if stalled {
                    self.stalled.insert(trail.clone(), until);
                }
                let at = self.validated.entry(trail).or_insert(until);
                *at = (*at).max(until);
                self.queue(alerts);
            }
        }
    }

    fn queue(&mut self, alerts: Vec<Queued>) {
        for q in alerts {
            if q.seq > self.seq {
                self.seq = q.seq;
                self.pending.push_back(q);
            }
        }
    }

    /// Let go of the pending alerts every one of `outputs` has.
    fn trim(&mut self, outputs: &[String]) {
        let done = outputs
            .iter()
            .map(|o| self.delivered.get(o).copied().unwrap_or(0))
            .min()
            .unwrap_or(self.seq);
        while self.pending.front().is_some_and(|q| q.seq <= done) {
            self.pending.pop_front();
        }
    }
}

/// The state folder, open and locked for this process.
pub struct State {
    dir: PathBuf,
    pub snap: Snapshot,
    journal: File,
    steps: usize,
    outputs: Vec<String>,
    /// The correlation slot that matches the journal, and the one written for the step
    /// being recorded.
    slot: Option<usize>,
    slot_ahead: Option<usize>,
    /// The windows found at open, for the engine to take back.
    restored: Option<serde_json::Value>,
    /// Problems found at open that did not stop it, for warnings.
    pub problems: Vec<String>,
    _lock: File,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("dir", &self.dir)
            .field("files", &self.snap.files.len())
            .field("pending", &self.snap.pending.len())
            .finish()
    }
}

impl State {
    /// Open (or create) the state in `dir` for a watch delivering to `outputs` (their stable
    /// names). An output new to this state starts with the alerts to come, not with those
    /// delivered before it was added.
    pub fn open(dir: &Path, outputs: &[String]) -> Result<State> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--state {}: cannot create the folder", dir.display()))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK))
            .with_context(|| format!("--state {}: cannot write in the folder", dir.display()))?;
        if lock.try_lock().is_err() {
            bail!(
                "--state {}: another trailql watch is using this state folder (stop it, or give this one its own --state)",
                dir.display()
            );
        }
        let mut snap = match std::fs::read(dir.join(SNAPSHOT)) {
            Ok(bytes) => serde_json::from_slice::<Snapshot>(&bytes).with_context(|| {
                format!(
                    "--state {}: {SNAPSHOT} is not readable (written by another version, or damaged); move the folder away to start afresh",
                    dir.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Snapshot {
                version: VERSION,
                ..Snapshot::default()
            },
            Err(e) => return Err(e).context(format!("--state {}: {SNAPSHOT}", dir.display())),
        };
        if snap.version != VERSION {
            bail!(
                "--state {}: written by a state format version {} this trailql does not read (it reads {VERSION})",
                dir.display(),
                snap.version
            );
        }
        let path = dir.join(JOURNAL);
        let steps = replay(&path, &mut snap)?;
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("--state {}: cannot open {JOURNAL}", dir.display()))?;
        let new_outputs: Vec<String> = outputs
            .iter()
            .filter(|o| !snap.delivered.contains_key(*o))
            .cloned()
            .collect();
        let mut problems = Vec::new();
        let (slot, restored) = newest_slot(dir, snap.file_steps, &mut problems);
        let mut state = State {
            dir: dir.to_path_buf(),
            snap,
            journal,
            steps,
            outputs: outputs.to_vec(),
            slot,
            slot_ahead: None,
            restored,
            problems,
            _lock: lock,
        };
        // Recorded, so that the output keeps its place when the watch starts again.
        for o in new_outputs {
            let seq = state.snap.seq;
            state.append(Step::Delivered { output: o, seq })?;
        }
        state.snap.trim(outputs);
        Ok(state)
    }

    /// Has this file, as listed now, been processed?
    pub fn has(&self, name: &str, mark: &FileMark) -> bool {
        self.snap.files.get(name) == Some(mark)
    }

    /// The file `name` is processed and these are its alerts: journaled as one step, so that
    /// either both count or neither does. Returns the alerts with their sequence numbers.
    pub fn record_file(
        &mut self,
        name: &str,
        mark: FileMark,
        alerts: Vec<Alert>,
    ) -> Result<Vec<Queued>> {
        let queued = self.number(alerts);
        self.append(Step::File {
            name: name.to_string(),
            mark,
            alerts: queued.clone(),
        })?;
        if let Some(s) = self.slot_ahead.take() {
            self.slot = Some(s);
        }
        Ok(queued)
    }

    /// The correlations' windows the state held when it was opened (once).
    pub fn take_correlations(&mut self) -> Option<serde_json::Value> {
        self.restored.take()
    }

    /// The correlations' windows after the file about to be recorded with
    /// [`State::record_file`]: written (atomically) before that step, so that the two agree
    /// whatever moment a kill strikes.
    pub fn save_correlations(&mut self, windows: serde_json::Value) -> Result<()> {
        let to = match self.slot {
            Some(0) => 1,
            _ => 0,
        };
        let slot = Slot {
            file_steps: self.snap.file_steps + 1,
            windows,
        };
        let path = self.dir.join(SLOTS[to]);
        write_atomic(&path, &serde_json::to_vec(&slot)?).with_context(|| {
            format!(
                "--state {}: cannot write {} (is the disk full?)",
                self.dir.display(),
                SLOTS[to]
            )
        })?;
        self.slot_ahead = Some(to);
        Ok(())
    }

    /// A trail's digests are validated up to `until` and these are the alerts of what was
    /// wrong (`stalled`: among them, that no digest came after `until`): one step, like a
    /// file and its alerts.
    pub fn record_validated(
        &mut self,
        trail: &str,
        until: DateTime<Utc>,
        alerts: Vec<Alert>,
        stalled: bool,
    ) -> Result<Vec<Queued>> {
        let queued = self.number(alerts);
        self.append(Step::Validated {
            trail: trail.to_string(),
            until,
            alerts: queued.clone(),
            stalled,
        })?;
        Ok(queued)
    }

    fn number(&self, alerts: Vec<Alert>) -> Vec<Queued> {
        alerts
            .into_iter()
            .enumerate()
            .map(|(i, alert)| Queued {
                seq: self.snap.seq + 1 + i as u64,
                alert,
            })
            .collect()
    }

    /// `output` has every alert up to `seq`.
    pub fn record_delivered(&mut self, output: &str, seq: u64) -> Result<()> {
        self.append(Step::Delivered {
            output: output.to_string(),
            seq,
        })?;
        self.snap.trim(&self.outputs);
        Ok(())
    }

    /// The alerts `output` does not have yet, in order.
    pub fn undelivered(&self, output: &str) -> impl Iterator<Item = &Queued> {
        let at = self.snap.delivered.get(output).copied().unwrap_or(0);
        self.snap.pending.iter().filter(move |q| q.seq > at)
    }

    /// Alerts waiting for `output`.
    pub fn queued_for(&self, output: &str) -> usize {
        self.undelivered(output).count()
    }

    fn append(&mut self, step: Step) -> Result<()> {
        let mut line = serde_json::to_vec(&step)?;
        line.push(b'\n');
        self.journal
            .write_all(&line)
            .and_then(|_| self.journal.sync_data())
            .with_context(|| {
                format!(
                    "--state {}: cannot write {JOURNAL} (is the disk full?)",
                    self.dir.display()
                )
            })?;
        self.snap.apply(step);
        self.steps += 1;
        Ok(())
    }

    /// Is it time for [`State::compact`]?
    pub fn wants_compaction(&self) -> bool {
        self.steps >= COMPACT_EVERY
    }

    /// Write the snapshot and empty the journal, forgetting the files delivered before
    /// `forget_before` (the next listing starts after them).
    pub fn compact(&mut self, forget_before: Option<DateTime<Utc>>) -> Result<()> {
        if let Some(before) = forget_before {
            self.snap
                .files
                .retain(|_, m| m.delivered.is_none_or(|d| d >= before));
        }
        let bytes = serde_json::to_vec(&self.snap)?;
        write_atomic(&self.dir.join(SNAPSHOT), &bytes)
            .with_context(|| format!("--state {}: cannot write {SNAPSHOT}", self.dir.display()))?;
        self.journal.set_len(0)?;
        self.journal.seek(SeekFrom::Start(0))?;
        self.journal.sync_all()?;
        self.steps = 0;
        Ok(())
    }
}

/// The correlation slot in `dir` with the most file steps the journal has reached
/// (`file_steps`), and its windows. A slot ahead of the journal was written for a step a kill
/// cut short, and is removed; an unreadable one is a problem.
fn newest_slot(
    dir: &Path,
    file_steps: u64,
    problems: &mut Vec<String>,
) -> (Option<usize>, Option<serde_json::Value>) {
    let mut best: Option<(usize, Slot)> = None;
    for (i, name) in SLOTS.iter().enumerate() {
        let bytes = match std::fs::read(dir.join(name)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                problems.push(format!("{}: {e}", dir.join(name).display()));
                continue;
            }
        };
        match serde_json::from_slice::<Slot>(&bytes) {
            Ok(slot) if slot.file_steps <= file_steps => {
                if best.as_ref().is_none_or(|(_, b)| slot.file_steps > b.file_steps) {
                    best = Some((i, slot));
                }
            }
            // Ahead of the journal: let go, or a later step that does not write the windows
            // would make it look current.
            Ok(_) => {
                if let Err(e) = std::fs::remove_file(dir.join(name)) {
                    problems.push(format!("{}: cannot remove it: {e}", dir.join(name).display()));
                }
            }
            Err(e) => problems.push(format!(
                "{}: not readable ({e}); the correlations' windows go on from the other slot, or start empty",
                dir.join(name).display()
            )),
        }
    }
    match best {
        Some((i, slot)) => (Some(i), Some(slot.windows)),
        None => (None, None),
    }
}

/// Apply the journal at `path` to `snap`; the steps it held. A torn last line is cut off.
fn replay(path: &Path, snap: &mut Snapshot) -> Result<usize> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).context(format!("{}", path.display())),
    };
    let mut reader = BufReader::new(file);
    let (mut good_end, mut steps, mut line_no) = (0u64, 0usize, 0usize);
    let mut line = Vec::new();
    let mut torn = None;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("{}", path.display()))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let complete = line.ends_with(b"\n");
        match serde_json::from_slice::<Step>(&line) {
            Ok(step) if complete => {
                if torn.is_some() {
                    bail!(
                        "{}: line {} is damaged but later lines are not; move the state folder away to start afresh",
                        path.display(),
                        line_no - 1
                    );
                }
                snap.apply(step);
                steps += 1;
                good_end += n as u64;
            }
            _ => {
                if torn.is_none() {
                    torn = Some(line_no);
                }
            }
        }
    }
    if torn.is_some() {
        let f = OpenOptions::new().write(true).open(path)?;
        f.set_len(good_end)?;
        f.sync_all()?;
    }
    Ok(steps)
}

/// Replace `path` with `bytes` so that a reader, or a kill at any moment, sees the old
/// content or the new one, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(event: &str) -> Alert {
        Alert {
            rule_id: "r".into(),
            rule_title: "t".into(),
            level: "high".into(),
            tags: String::new(),
            event_time: "2024-08-01T00:00:00Z".into(),
            event_id: event.into(),
            account: "1".into(),
            region: "us-east-1".into(),
            actor: "alice".into(),
            source_ip: None,
            user_agent: None,
            event_name: "E".into(),
            error_code: None,
            matched: String::new(),
            file: None,
        }
    }

    fn mark(size: u64) -> FileMark {
        FileMark {
            size,
            tag: None,
            delivered: None,
        }
    }

    #[test]
    fn steps_survive_a_reopen_and_a_torn_line_is_undone() {
        let dir = tempfile::tempdir().unwrap();
        let outs = vec!["file".to_string()];
        {
            let mut s = State::open(dir.path(), &outs).unwrap();
            let q = s
                .record_file("a", mark(1), vec![alert("e1"), alert("e2")])
                .unwrap();
            assert_eq!(q.iter().map(|q| q.seq).collect::<Vec<_>>(), [1, 2]);
            s.record_delivered("file", 1).unwrap();
        }
        // A kill during the next step's write leaves half a line.
        let mut j = OpenOptions::new()
            .append(true)
            .open(dir.path().join(JOURNAL))
            .unwrap();
        j.write_all(br#"{"step":"file","name":"b","mark":{"si"#)
            .unwrap();
        drop(j);
        let mut s = State::open(dir.path(), &outs).unwrap();
        assert!(s.has("a", &mark(1)));
        assert!(!s.snap.files.contains_key("b"));
        let left: Vec<u64> = s.undelivered("file").map(|q| q.seq).collect();
        assert_eq!(left, [2]);
        // The journal goes on cleanly after the cut.
        s.record_file("b", mark(2), vec![alert("e3")]).unwrap();
        drop(s);
        let s = State::open(dir.path(), &outs).unwrap();
        assert!(s.has("b", &mark(2)));
        assert_eq!(
            s.undelivered("file").map(|q| q.seq).collect::<Vec<_>>(),
            [2, 3]
        );
    }

    #[test]
    fn compaction_keeps_everything_and_forgets_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let outs = vec!["a".to_string(), "b".to_string()];
        let t = |h: u32| {
            DateTime::parse_from_rfc3339(&format!("2024-08-01T{h:02}:00:00Z"))
                .unwrap()
                .with_timezone(&Utc)
        };
        let mut s = State::open(dir.path(), &outs).unwrap();
        for h in 0..4 {
            let m = FileMark {
                size: 1,
                tag: None,
                delivered: Some(t(h)),
            };
            s.record_file(&format!("f{h}"), m, vec![alert(&format!("e{h}"))])
                .unwrap();
        }
        s.record_delivered("a", 4).unwrap();
        s.record_delivered("b", 2).unwrap();
        assert_eq!(s.snap.pending.len(), 2, "b still lacks 3 and 4");
        s.compact(Some(t(2))).unwrap();
        drop(s);
        let s = State::open(dir.path(), &outs).unwrap();
        assert_eq!(s.snap.files.keys().collect::<Vec<_>>(), ["f2", "f3"]);
        assert_eq!(s.snap.newest, Some(t(3)));
        assert_eq!(
            s.undelivered("b").map(|q| q.seq).collect::<Vec<_>>(),
            [3, 4]
        );
        assert_eq!(s.undelivered("a").count(), 0);
        assert_eq!(
            std::fs::metadata(dir.path().join(JOURNAL)).unwrap().len(),
            0
        );
    }

    #[test]
    fn a_new_output_starts_with_the_alerts_to_come() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::open(dir.path(), &["a".to_string()]).unwrap();
        s.record_file("f", mark(1), vec![alert("e1")]).unwrap();
        drop(s);
        let s = State::open(dir.path(), &["a".to_string(), "b".to_string()]).unwrap();
        assert_eq!(s.undelivered("b").count(), 0);
        assert_eq!(s.undelivered("a").count(), 1);
    }

    #[test]
    fn one_watch_per_state_folder() {
        let dir = tempfile::tempdir().unwrap();
        let _s = State::open(dir.path(), &[]).unwrap();
        let e = State::open(dir.path(), &[]).unwrap_err().to_string();
        assert!(e.contains("another trailql watch"), "{e}");
    }

    #[test]
    fn a_damaged_snapshot_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SNAPSHOT), b"{not json").unwrap();
        let e = format!("{:#}", State::open(dir.path(), &[]).unwrap_err());
        assert!(
            e.contains("state.json is not readable") && e.contains("move the folder away"),
            "{e}"
        );
    }

    #[test]
    fn correlation_windows_follow_the_journal_whatever_moment_a_kill_strikes() {
        let dir = tempfile::tempdir().unwrap();
        let w = |n: u64| serde_json::json!({ "n": n });
        {
            let mut s = State::open(dir.path(), &[]).unwrap();
            assert!(s.take_correlations().is_none());
            s.save_correlations(w(1)).unwrap();
            s.record_file("a", mark(1), vec![]).unwrap();
            // A file that did not touch the windows.
            s.record_file("b", mark(1), vec![]).unwrap();
            s.save_correlations(w(3)).unwrap();
            s.record_file("c", mark(1), vec![]).unwrap();
            // Killed after the windows for "d" were written, before its step.
            s.save_correlations(w(4)).unwrap();
        }
        let mut s = State::open(dir.path(), &[]).unwrap();
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(
            s.take_correlations(),
            Some(w(3)),
            "the windows as of c, not d"
        );
        assert!(!s.snap.files.contains_key("d"));
        // A file that does not touch the windows takes the step "d" would have: the windows
        // written for "d" must not come back as current.
        s.record_file("e", mark(1), vec![]).unwrap();
        drop(s);
        let mut s = State::open(dir.path(), &[]).unwrap();
        assert_eq!(s.take_correlations(), Some(w(3)));
        // Overwriting goes on in the slot that is not current.
        s.save_correlations(w(5)).unwrap();
        s.record_file("d", mark(1), vec![]).unwrap();
        drop(s);
        let mut s = State::open(dir.path(), &[]).unwrap();
        assert_eq!(s.take_correlations(), Some(w(5)));
        // A damaged slot is a problem named in a warning, not an error.
        for name in SLOTS {
            std::fs::write(dir.path().join(name), b"{torn").unwrap();
        }
        drop(s);
        let mut s = State::open(dir.path(), &[]).unwrap();
        assert_eq!(s.problems.len(), 2, "{:?}", s.problems);
        assert!(s.problems[0].contains("correlations.0.json"));
        assert!(s.take_correlations().is_none());
    }
}
