//! The loop: poll the sources, process each new file (rules, then the state records the file
//! and its alerts as one step), deliver what each output lacks, wait for a file-system
//! notification, the next poll or an output's retry, and again — until SIGINT or SIGTERM, which
//! stop it after the file at hand.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use chrono::{DateTime, NaiveTime, Utc};
use tokio::sync::Notify;
use trailql_layout::ListScope;
use trailql_s3::S3Client;

use trailql_layout::{KeyKind, SourceFile};

use crate::engine::Engine;
use crate::integrity::{self, Keys, VALIDATE_EVERY};
use crate::notification::{self, Notice};
use crate::output::{Output, OutputSpec};
use crate::source::{self, Candidate, Source};
use crate::sqs::{Message, Queue};
use crate::state::{FileMark, State};

/// How long a burst of file-system notifications is let settle before listing.
const SETTLE: Duration = Duration::from_millis(100);

/// What a watch is told.
#[derive(Debug, Clone)]
pub struct Config {
    pub sources: Vec<Source>,
    /// Accounts and regions to follow (its window is set by the watch).
    pub scope: ListScope,
    /// Where a watch with a new state starts: files delivered from then on.
    pub start: DateTime<Utc>,
    /// How late after the newest delivery seen a file may still arrive and be processed.
    pub late_margin: chrono::Duration,
    /// Time between two polls.
    pub interval: Duration,
    pub state: PathBuf,
    pub outputs: Vec<OutputSpec>,
    /// A file with problems stops the watch (with an error) instead of a warning.
    pub strict: bool,
    /// Process what is there, deliver, and stop.
    pub once: bool,
    /// No status line and no log lines (warnings still go to stderr).
    pub quiet: bool,
    /// `--validate`: check each new digest with these public keys.
    pub validate: Option<Keys>,
    /// The bytes one file may inflate to.
    pub max_inflated: u64,
}

/// What a watch did.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub files: u64,
    pub records: u64,
    pub alerts: u64,
    pub warnings: u64,
    /// Alerts not delivered to some output when the watch stopped (kept in the state).
    pub queued: usize,
}

/// Watch until stopped (or, with `once`, until what is there is done). `queue`: an SQS queue
/// of delivery notifications to follow besides (or instead of) listing the sources.
pub async fn run(
    config: Config,
    engine: Engine,
    s3: Option<S3Client>,
    queue: Option<Queue>,
) -> Result<Stats> {
    let outputs = config
        .outputs
        .iter()
        .map(Output::open)
        .collect::<Result<Vec<_>>>()?;
    let names: Vec<String> = outputs.iter().map(|o| o.name.clone()).collect();
    let mut state = State::open(&config.state, &names)?;
    let mut engine = engine;
    let mut problems = std::mem::take(&mut state.problems);
    if let Some(windows) = state.take_correlations() {
        if let Err(e) = engine.restore_correlations(windows) {
            problems.push(format!(
                "--state {}: the correlations' windows were not taken back ({e}); they start empty",
                config.state.display()
            ));
        }
    }
    let mut w = Watcher {
        log: Log::new(config.quiet),
        config,
        engine,
        s3: s3.map(Arc::new),
        state,
        outputs,
        stats: Stats::default(),
        validated_at: None,
    };

    for p in problems {
        w.stats.warnings += 1;
        if w.config.strict {
            bail!("{p} (--strict)");
        }
        w.log.warn(&p);
    }
    if w.engine.open_groups() > 0 {
        let msg = format!(
            "{} correlation window(s) taken back from the state",
            w.engine.open_groups()
        );
        w.log.info(&msg);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(Notify::new());
    spawn_signals(stop.clone(), wake.clone());
    let local: Vec<PathBuf> = w
        .config
        .sources
        .iter()
        .filter_map(|s| match s {
            Source::Local(p) => Some(p.clone()),
            Source::S3(_) => None,
        })
        .collect();
    let _watcher = if local.is_empty() || w.config.once {
        None
    } else {
        match crate::wake::watch(&local, wake.clone()) {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                let msg = format!(
                    "cannot watch the folders for changes ({e}); polling every {} s instead",
                    w.config.interval.as_secs()
                );
                w.log.warn(&msg);
                None
            }
        }
    };
    let mut messages = queue.map(|q| spawn_receiver(q, w.config.once));

    w.deliver().await?;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let round_files = w.stats.files;
        let deferred = if w.config.sources.is_empty() {
            false
        } else {
            w.poll(&stop).await?
        };
        w.validate().await?;
        if w.stats.files > round_files {
            let msg = format!(
                "{} new file(s); {} file(s), {} alert(s) so far",
                w.stats.files - round_files,
                w.stats.files,
                w.stats.alerts
            );
            w.log.info(&msg);
        }
        w.log.status(&w.stats, &w.state, &w.outputs);
        let wait = w.wait(deferred);
        if w.config.once && !deferred && messages.is_none() {
            break;
        }
        tokio::select! {
            _ = wake.notified() => tokio::time::sleep(SETTLE).await,
            _ = tokio::time::sleep(wait) => {}
            got = next_messages(&mut messages) => match got {
                Some(Ok((queue, batch))) => w.messages(&queue, batch, &stop).await?,
                Some(Err(e)) => {
                    w.stats.warnings += 1;
                    if w.config.strict {
                        bail!("{e} (--strict)");
                    }
                    w.log.warn_once(&e);
                }
                // The queue is empty (with --once) or its reader stopped.
                None => {
                    messages = None;
                    if w.config.once {
                        break;
                    }
                }
            },
        }
        w.deliver().await?;
    }
    w.deliver().await?;
    let forget = forget_before(&w.state, w.config.late_margin);
    w.state.compact(forget)?;
    w.stats.queued = names
        .iter()
        .map(|n| w.state.queued_for(n))
        .max()
        .unwrap_or(0);
    w.log.done();
    Ok(w.stats)
}

/// The next batch of the queue's reader, or never when there is none.
async fn next_messages(rx: &mut Option<Receiver>) -> Option<Result<(Queue, Vec<Message>), String>> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

type Receiver = tokio::sync::mpsc::Receiver<Result<(Queue, Vec<Message>), String>>;

/// Long-polls the queue in its own task, so that a 20 s wait never holds up the folders and
/// prefixes; one batch waits at a time. With `once`, it stops at the first empty receive.
fn spawn_receiver(queue: Queue, once: bool) -> Receiver {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            match queue.receive(if once { 1 } else { 20 }).await {
                Ok(batch) if batch.is_empty() && once => return,
                Ok(batch) if batch.is_empty() => {}
                Ok(batch) => {
                    backoff = Duration::from_secs(1);
                    if tx.send(Ok((queue.clone(), batch))).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    if tx.send(Err(e)).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    });
    rx
}

/// What happened to one file.
enum Done {
    Recorded,
    /// It did not decode and may still be being written: to be looked at again.
    Deferred,
    /// It could not be read: not recorded, so tried again later.
    Unread,
}

/// A running watch.
struct Watcher {
    config: Config,
    engine: Engine,
    s3: Option<Arc<S3Client>>,
    state: State,
    outputs: Vec<Output>,
    stats: Stats,
    log: Log,
    /// When the digests were last validated (`--validate`).
    validated_at: Option<Instant>,
}

impl Watcher {
    /// List the sources and process what is new; whether some file is to be looked at again
    /// in a moment.
    async fn poll(&mut self, stop: &AtomicBool) -> Result<bool> {
        let start = self
            .state
            .snap
            .newest
            .map_or(self.config.start, |n| n - self.config.late_margin);
        let mut scope = self.config.scope.clone();
        scope.window.start = Some(start);
        scope.window.end = None;
        let poll = source::poll(
            &self.config.sources,
            &scope,
            self.s3.as_deref(),
            &self.state,
        )
        .await;
        for (place, why) in &poll.problems {
            self.stats.warnings += 1;
            if self.config.strict {
                bail!("{place}: cannot be listed: {why} (--strict)");
            }
            self.log
                .warn_once(&format!("{place}: cannot be listed: {why}"));
        }
        let mut deferred = false;
        for c in poll.new {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            deferred |= matches!(self.process(c).await?, Done::Deferred);
        }
        Ok(deferred)
    }

    /// The files a batch of notifications names; each message is deleted once all of its
    /// files are recorded.
    async fn messages(
        &mut self,
        queue: &Queue,
        batch: Vec<Message>,
        stop: &AtomicBool,
    ) -> Result<()> {
        for m in batch {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let objects = match notification::parse(&m.body) {
                Ok(Notice::Test) => Vec::new(),
                Ok(Notice::Objects(o)) => o,
                Err(e) => {
                    // Not ours to drop: the queue's redrive policy decides.
                    self.stats.warnings += 1;
                    let msg = format!("--sqs message {}: {e}; left in the queue", m.id);
                    if self.config.strict {
                        bail!("{msg} (--strict)");
                    }
                    self.log.warn_once(&msg);
                    continue;
                }
            };
            let mut all_done = true;
            for (bucket, key) in objects {
                let file = SourceFile::object(&bucket, &key, 0, None);
                if !matches!(file.kind, KeyKind::TrailLog(_) | KeyKind::LooseJson)
                    || self.state.snap.files.contains_key(&file.display)
                {
                    continue;
                }
                let delivered = match &file.kind {
                    KeyKind::TrailLog(k) => k.delivered,
                    _ => None,
                };
                let c = Candidate {
                    file,
                    mark: FileMark {
                        size: 0,
                        tag: None,
                        delivered,
                    },
                    fresh: false,
                };
                all_done &= matches!(self.process(c).await?, Done::Recorded);
            }
            if all_done {
                if let Err(e) = queue.delete(&m).await {
                    self.stats.warnings += 1;
                    self.log
                        .warn_once(&format!("{e}; it will come back and its files be skipped"));
                }
            }
        }
        Ok(())
    }

    /// `--validate`: when it is time, check the digests delivered since the last check, and
    /// record each trail's verdict and alerts as one step.
    async fn validate(&mut self) -> Result<()> {
        let Some(keys) = &self.config.validate else {
            return Ok(());
        };
        if self
            .validated_at
            .is_some_and(|t| t.elapsed() < VALIDATE_EVERY)
        {
            return Ok(());
        }
        self.validated_at = Some(Instant::now());
        let checked = integrity::check(
            &self.config.sources,
            self.s3.clone(),
            keys,
            &self.state.snap.validated,
            &self.state.snap.stalled,
            self.config.start,
            self.config.max_inflated,
        )
        .await;
        for p in &checked.problems {
            self.stats.warnings += 1;
            if self.config.strict {
                bail!("{p} (--strict)");
            }
            self.log.warn_once(p);
        }
        for t in checked.trails {
            if self.state.snap.validated.get(&t.trail) == Some(&t.until) && t.alerts.is_empty() {
                continue;
            }
            self.stats.alerts += t.alerts.len() as u64;
            self.state
                .record_validated(&t.trail, t.until, t.alerts, t.stalled)?;
        }
        self.deliver().await
    }

    /// Read, evaluate and record one file, then deliver its alerts.
    async fn process(&mut self, c: Candidate) -> Result<Done> {
        let name = c.file.display.clone();
        let raw = match source::read(&c, self.s3.as_deref()).await {
            Ok(raw) => raw,
            Err(e) => {
                self.stats.warnings += 1;
                if self.config.strict {
                    bail!("{name}: {e} (--strict)");
                }
                self.log
                    .warn_once(&format!("{name}: {e}; it will be tried again"));
                return Ok(Done::Unread);
            }
        };
        let mut outcome = self.engine.file(raw, &name);
        let report = &outcome.report;
        if report.file_error.is_some() && c.fresh {
            return Ok(Done::Deferred);
        }
        if report.has_problems() || !outcome.problems.is_empty() {
            self.stats.warnings += 1;
            let mut what = report.describe();
            for p in &outcome.problems {
                if !what.is_empty() {
                    what.push_str("; ");
                }
                what.push_str(p);
            }
            if self.config.strict {
                bail!("{name}: {what} (--strict)");
            }
            self.log.warn(&format!("{name}: {what}"));
        }
        self.stats.files += 1;
        self.stats.records += report.rows;
        // The file counts: now its records may move the correlations' windows, which are
        // kept before the step that records the file.
        if self.engine.correlate(&mut outcome, &name) {
            if let Some(windows) = self.engine.save_correlations() {
                self.state.save_correlations(windows)?;
            }
        }
        self.stats.alerts += outcome.alerts.len() as u64;
        self.state.record_file(&name, c.mark, outcome.alerts)?;
        self.deliver().await?;
        if self.state.wants_compaction() {
            let forget = forget_before(&self.state, self.config.late_margin);
            self.state.compact(forget)?;
        }
        self.log.status(&self.stats, &self.state, &self.outputs);
        Ok(Done::Recorded)
    }

    /// How long to wait before listing again: the interval, a moment for a file still being
    /// written, or until a failed output's retry.
    fn wait(&self, deferred: bool) -> Duration {
        let mut wait = if deferred {
            Duration::from_secs(1)
        } else {
            self.config.interval
        };
        let now = Instant::now();
        for o in &self.outputs {
            if self.state.queued_for(&o.name) > 0 {
                if let Some(t) = o.retry_at() {
                    wait = wait.min(t.saturating_duration_since(now));
                }
            }
        }
        wait
    }

    async fn deliver(&mut self) -> Result<()> {
        deliver(&mut self.state, &mut self.outputs, &mut self.log).await
    }
}

/// Files delivered before this are forgotten: the next listing starts after the day they
/// were delivered in.
fn forget_before(state: &State, late_margin: chrono::Duration) -> Option<DateTime<Utc>> {
    let start = state.snap.newest? - late_margin - chrono::Duration::days(1);
    Some(start.date_naive().and_time(NaiveTime::MIN).and_utc())
}

/// Give each output the alerts it lacks, in order, recording each; an output that fails waits
/// out its backoff (its alerts stay queued in the state) while the others go on.
async fn deliver(state: &mut State, outputs: &mut [Output], log: &mut Log) -> Result<()> {
    let now = Instant::now();
    for o in outputs.iter_mut() {
        if !o.ready(now) {
            continue;
        }
        let todo: Vec<_> = state.undelivered(&o.name).cloned().collect();
        for q in todo {
            match o.deliver(&q).await {
                Ok(()) => state.record_delivered(&o.name, q.seq)?,
                Err(e) => {
                    log.warn(&format!(
                        "{}: {e}; {} alert(s) queued in the state, next try in {} s",
                        o.label,
                        state.queued_for(&o.name),
                        o.backoff().as_secs().max(1)
                    ));
                    break;
                }
            }
        }
    }
    Ok(())
}

/// SIGINT and SIGTERM ask the loop to stop after the file at hand.
fn spawn_signals(stop: Arc<AtomicBool>, wake: Arc<Notify>) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        stop.store(true, Ordering::Relaxed);
        wake.notify_one();
    });
}

/// Messages on stderr: a status line that rewrites itself on a terminal, log lines otherwise.
struct Log {
    quiet: bool,
    terminal: bool,
    /// A status line is on screen (a message must clear it first).
    shown: bool,
    warned: HashSet<String>,
    started: Instant,
}

impl Log {
    fn new(quiet: bool) -> Log {
        Log {
            quiet,
            terminal: std::io::stderr().is_terminal(),
            shown: false,
            warned: HashSet::new(),
            started: Instant::now(),
        }
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[2K");
            self.shown = false;
        }
    }

    fn warn(&mut self, msg: &str) {
        self.clear();
        eprintln!("warning: {msg}");
    }

    /// Warn about a problem once, not at every poll it is still there (at most a few
    /// hundred distinct ones are remembered).
    fn warn_once(&mut self, msg: &str) {
        if self.warned.len() < 512 && self.warned.insert(msg.to_string()) {
            self.warn(msg);
        }
    }

    fn info(&mut self, msg: &str) {
        if self.quiet || self.terminal {
            return;
        }
        eprintln!("trailql watch: {msg}");
    }

    fn status(&mut self, stats: &Stats, state: &State, outputs: &[Output]) {
        if self.quiet || !self.terminal {
            return;
        }
        let lag = state
            .snap
            .newest
            .map(|n| {
                let secs = (Utc::now() - n).num_seconds().max(0);
                if secs < 3600 {
                    format!("{} min", secs / 60)
                } else if secs < 172_800 {
                    format!("{} h", secs / 3600)
                } else {
                    format!("{} days", secs / 86_400)
                }
            })
            .unwrap_or_else(|| "-".into());
        let mut line = format!(
            "watching: {} file(s) · {} alert(s) · newest delivery {} ago · up {} s",
            stats.files,
            stats.alerts,
            lag,
            self.started.elapsed().as_secs()
        );
        for o in outputs {
            let q = state.queued_for(&o.name);
            if q > 0 {
                line.push_str(&format!(" · {}: {q} queued", o.label));
            }
        }
        eprint!("\r\x1b[2K{line}");
        self.shown = true;
    }

    fn done(&mut self) {
        self.clear();
    }
}
