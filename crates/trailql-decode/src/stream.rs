//! One file → its record batches, pulled one window at a time, in bounded memory whatever the
//! file holds.
//!
//! An ordinary file (inflating to at most [`StreamLimits::whole_max`], 16 MiB) takes the fast path: libdeflate
//! inflates it whole and its records are decoded at once. Anything larger — an honest 100 MB
//! file, a gzip bomb, a file whose gzip trailer lies about its size, a damaged stream — is
//! inflated by a streaming inflater 1 MiB at a time; the `Records` array is cut at record
//! boundaries (found by structure, as the record walk finds them) into windows of about 4 MiB,
//! and each window is decoded when the consumer asks for more batches. So
//! `--max-inflated-bytes` limits the work done on one file, not the memory it takes: what one
//! file holds at a time is one window, the record being read (at most 32 MiB) and the batches
//! of one window.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::file::{decode_bytes, DecodePlan, FileMeta};
use crate::inflate::{bomb, is_gzip};
use crate::report::FileReport;
use crate::structural::{skip_ws, value_end};

/// The sizes that bound a file's memory (the defaults suit any real trail; tests make them
/// small to reach every boundary).
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Files that inflate to at most this are inflated whole (libdeflate, the fast path).
    pub whole_max: usize,
    /// About how much text a streamed file decodes at once.
    pub window: usize,
    /// The largest record a streamed file may hold (CloudTrail's are under 1 MB).
    pub max_record: usize,
    /// How much a streamed file inflates per read.
    pub read_chunk: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            whole_max: 16 << 20,
            window: 4 << 20,
            max_record: 32 << 20,
            read_chunk: 1 << 20,
        }
    }
}

/// Where the plan comes from: borrowed for one call, or shared by a scan's files.
enum PlanRef<'a> {
    Borrowed(&'a DecodePlan),
    Shared(Arc<DecodePlan>),
}

impl std::ops::Deref for PlanRef<'_> {
    type Target = DecodePlan;
    fn deref(&self) -> &DecodePlan {
        match self {
            PlanRef::Borrowed(p) => p,
            PlanRef::Shared(p) => p,
        }
    }
}

/// Bytes held in memory, owned or borrowed.
struct Held<'a>(Box<dyn AsRef<[u8]> + Send + 'a>);

impl AsRef<[u8]> for Held<'_> {
    fn as_ref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

/// A file being decoded: an iterator of its batches. [`FileDecoder::report`] is complete once
/// the iterator has ended.
pub struct FileDecoder<'a> {
    meta: FileMeta,
    plan: PlanRef<'a>,
    pending: VecDeque<RecordBatch>,
    report: FileReport,
    stream: Option<Box<Stream<'a>>>,
}

impl<'a> FileDecoder<'a> {
    /// Decode a file held in memory (gzip or plain JSON bytes).
    pub fn from_bytes(
        raw: impl AsRef<[u8]> + Send + 'a,
        meta: FileMeta,
        plan: Arc<DecodePlan>,
    ) -> Self {
        Self::held(Held(Box::new(raw)), meta, PlanRef::Shared(plan))
    }

    /// [`FileDecoder::from_bytes`] with a borrowed plan.
    pub fn from_bytes_with(raw: &'a [u8], meta: FileMeta, plan: &'a DecodePlan) -> Self {
        Self::held(Held(Box::new(raw)), meta, PlanRef::Borrowed(plan))
    }

    /// Decode a file read as it goes (e.g. a large local file): always streamed.
    pub fn from_reader(
        reader: impl Read + Send + 'a,
        meta: FileMeta,
        plan: Arc<DecodePlan>,
    ) -> Self {
        let mut d = Self::new(meta, PlanRef::Shared(plan));
        let mut reader = BufReader::with_capacity(64 << 10, reader);
        match reader.fill_buf() {
            Ok(head) => {
                let gzip = is_gzip(head);
                d.stream(reader, gzip);
            }
            Err(e) => d.report.file_error = Some(format!("cannot read the file: {e}")),
        }
        d
    }

    fn new(meta: FileMeta, plan: PlanRef<'a>) -> Self {
        FileDecoder {
            meta,
            plan,
            pending: VecDeque::new(),
            report: FileReport::default(),
            stream: None,
        }
    }

    fn held(raw: Held<'a>, meta: FileMeta, plan: PlanRef<'a>) -> Self {
        let mut d = Self::new(meta, plan);
        let bytes = raw.as_ref();
        let limits = d.plan.stream;
        let whole_max = limits
            .whole_max
            .min(usize::try_from(d.plan.max_inflated).unwrap_or(usize::MAX));
        let inflated;
        let whole = if is_gzip(bytes) {
            let hint = gzip_size_hint(bytes);
            // A small file's trailer may lie (a bomb): libdeflate stops at the cap, and the
            // file is streamed instead.
            inflated = (hint <= whole_max)
                .then(|| crate::libdeflate::gunzip(bytes, whole_max as u64, hint).ok())
                .flatten();
            inflated.as_deref()
        } else {
            (bytes.len() <= whole_max).then_some(bytes)
        };
        match whole {
            Some(text) => {
                let mut batches = Vec::new();
                decode_bytes(text, &d.meta, &d.plan, 0, &mut batches, &mut d.report);
                d.pending = batches.into();
            }
            None => {
                let gzip = is_gzip(bytes);
                d.stream(Cursor::new(raw), gzip);
            }
        }
        d
    }

    /// Decode the file as it is inflated from `raw`, a window at a time.
    fn stream(&mut self, raw: impl BufRead + Send + 'a, gzip: bool) {
        let inflated: Box<dyn Read + Send + 'a> = if gzip {
            Box::new(flate2::bufread::MultiGzDecoder::new(raw))
        } else {
            Box::new(raw)
        };
        let stream = Stream::new(inflated, self.plan.max_inflated, self.plan.stream);
        self.stream = Some(Box::new(stream));
    }

    /// What happened to the file (complete once the iterator has ended).
    pub fn report(&self) -> &FileReport {
        &self.report
    }

    /// The report, once the batches are taken.
    pub fn into_report(self) -> FileReport {
        self.report
    }
}

impl Iterator for FileDecoder<'_> {
    type Item = RecordBatch;

    fn next(&mut self) -> Option<RecordBatch> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Some(b);
            }
            let s = self.stream.as_mut()?;
            let mut batches = Vec::new();
            let more = s.step(&self.meta, &self.plan, &mut batches, &mut self.report);
            self.pending = batches.into();
            if !more {
                let s = self.stream.take().expect("stream present");
                s.finish(&mut self.report);
            }
        }
    }
}

/// ISIZE, the last 4 bytes of a gzip file: its (last member's) inflated size mod 2^32.
fn gzip_size_hint(raw: &[u8]) -> usize {
    raw.get(raw.len().saturating_sub(4)..)
        .filter(|b| b.len() == 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .unwrap_or(0)
}

/// Where the walk of a streamed file is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the `Records` array.
    Start,
    /// At a record (after `[` or `,`).
    Record,
    /// After a record, at its `,` or `]`.
    Separator,
}

/// The streaming part of a [`FileDecoder`].
struct Stream<'a> {
    inflated: Box<dyn Read + Send + 'a>,
    limit: u64,
    sizes: StreamLimits,
    /// Inflated bytes not yet decoded; in the array, `buf[0]` is its `[`.
    buf: Vec<u8>,
    /// Where the walk is in `buf`.
    pos: usize,
    phase: Phase,
    /// Records complete in `buf`, and the index of the separator after the last of them.
    ready: u64,
    cut: usize,
    /// The index in the file of the first record in `buf`.
    first: u64,
    read_total: u64,
    eof: bool,
    read_error: Option<String>,
    windows: u64,
    windows_prefiltered: u64,
}

impl<'a> Stream<'a> {
    fn new(inflated: Box<dyn Read + Send + 'a>, limit: u64, sizes: StreamLimits) -> Self {
        Stream {
            inflated,
            limit,
            sizes,
            buf: Vec::new(),
            pos: 0,
            phase: Phase::Start,
            ready: 0,
            cut: 0,
            first: 0,
            read_total: 0,
            eof: false,
            read_error: None,
            windows: 0,
            windows_prefiltered: 0,
        }
    }

    /// Inflate up to a read chunk more into `buf`.
    fn fill(&mut self) {
        if self.eof {
            return;
        }
        let chunk = self.sizes.read_chunk;
        let old = self.buf.len();
        if self.buf.capacity() < old + chunk {
            // Grow by half, not double: a long record costs at most 1.5x its size.
            self.buf.reserve_exact(chunk.max(old / 2));
        }
        self.buf.resize(old + chunk, 0);
        let mut n = 0;
        while n < chunk {
            match self.inflated.read(&mut self.buf[old + n..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.read_error = Some(format!(
                        "corrupt or truncated gzip after {} inflated bytes: {e}",
                        self.read_total + n as u64
                    ));
                    self.eof = true;
                    break;
                }
            }
        }
        self.buf.truncate(old + n);
        self.read_total += n as u64;
        if self.read_total > self.limit {
            let over = usize::try_from(self.read_total - self.limit).unwrap_or(usize::MAX);
            self.buf.truncate(self.buf.len().saturating_sub(over));
            self.read_error = Some(bomb(self.limit));
            self.eof = true;
        }
    }

    /// Walk on until a window is decoded into `batches` or the file ends; `false` when done.
    fn step(
        &mut self,
        meta: &FileMeta,
        plan: &DecodePlan,
        batches: &mut Vec<RecordBatch>,
        report: &mut FileReport,
    ) -> bool {
        if self.phase == Phase::Start {
            return self.start(meta, plan, batches, report);
        }
        loop {
            let from = self.pos;
            self.pos = skip_ws(&self.buf, self.pos);
            if self.pos >= self.buf.len() {
                // White space is dropped as it is passed: a run of it costs no memory.
                self.buf.truncate(from);
                self.pos = from;
                if self.eof {
                    self.window(meta, plan, batches, report);
                    self.fail(
                        report,
                        "the Records array does not end (the file is cut short)",
                    );
                    return false;
                }
                self.fill();
                continue;
            }
            match (self.phase, self.buf[self.pos]) {
                (Phase::Record, b']') if self.first + self.ready == 0 => {
                    return false; // an empty array
                }
                (Phase::Record, _) => match value_end(&self.buf, self.pos) {
                    Some(end) if end < self.buf.len() || self.eof => {
                        self.pos = end;
                        self.phase = Phase::Separator;
                    }
                    _ if self.eof => {
                        self.window(meta, plan, batches, report);
                        let n = self.first + self.ready;
                        self.fail(report, &format!("record {n} of the Records array does not end (cut short, unbalanced brackets or not JSON); kept the {n} record(s) before it"));
                        return false;
                    }
                    _ if self.buf.len() - self.pos > self.sizes.max_record => {
                        self.window(meta, plan, batches, report);
                        let n = self.first + self.ready;
                        self.fail(report, &format!(
                            "record {n} is larger than {} (CloudTrail records are under 1 MB); it and the rest of the file were not read",
                            size_text(self.sizes.max_record)
                        ));
                        return false;
                    }
                    _ => self.fill(),
                },
                (Phase::Separator, sep) => {
                    // The record is complete; `]` after it (put in place of a bad separator
                    // too, whose error the window's decode reports) closes the window.
                    self.ready += 1;
                    self.cut = self.pos;
                    self.pos += 1;
                    self.phase = Phase::Record;
                    if sep != b',' {
                        self.window(meta, plan, batches, report);
                        if sep != b']' {
                            let n = self.first;
                            self.fail(report, &format!(
                                "invalid JSON after record {} of the Records array: expected `,` or `]`, found {:?}; kept the {n} record(s) before it",
                                n - 1,
                                sep as char
                            ));
                        }
                        return false;
                    }
                    if self.cut >= self.sizes.window {
                        return self.window(meta, plan, batches, report);
                    }
                }
                (Phase::Start, _) => unreachable!("the start is walked by `start`"),
            }
        }
    }

    /// Find the `Records` array: `[` or `{"Records":[` at the start. Any other file is read
    /// whole (up to the whole-file size) and decoded as a whole file is, which finds `Records` after
    /// other keys, and digest and Config files.
    fn start(
        &mut self,
        meta: &FileMeta,
        plan: &DecodePlan,
        batches: &mut Vec<RecordBatch>,
        report: &mut FileReport,
    ) -> bool {
        let mut at = 0;
        loop {
            while self.buf.len() < at + 4096 && !self.eof {
                self.fill();
            }
            if at == 0 && self.buf.starts_with(b"\xEF\xBB\xBF") {
                at = 3;
            }
            at = skip_ws(&self.buf, at);
            if at < self.buf.len() || self.eof {
                break;
            }
            self.buf.clear(); // only white space so far
            at = 0;
        }
        let array = match self.buf.get(at) {
            Some(b'[') => Some(at),
            Some(b'{') => {
                let mut i = skip_ws(&self.buf, at + 1);
                let key = b"\"Records\"";
                if self.buf[i..].starts_with(key) {
                    i = skip_ws(&self.buf, i + key.len());
                    if self.buf.get(i) == Some(&b':') {
                        i = skip_ws(&self.buf, i + 1);
                    }
                    (self.buf.get(i) == Some(&b'[')).then_some(i)
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(a) = array {
            self.buf.drain(..a);
            self.pos = 1;
            self.phase = Phase::Record;
            return true;
        }
        if self.buf.get(at) == Some(&b'{') {
            let most = self.sizes.whole_max.max(self.sizes.max_record);
            while !self.eof && self.buf.len() <= most {
                self.fill();
            }
            if !self.eof {
                self.fail(report, &format!(
                    "a JSON object over {} that does not start with `{{\"Records\":[`: not read (a CloudTrail log file starts so)",
                    size_text(most)
                ));
                return false;
            }
        }
        // Not an array of records: the whole-file decode says what it is.
        decode_bytes(&self.buf, meta, plan, 0, batches, report);
        false
    }

    /// Decode the complete records in `buf` (up to `cut`) and drop them from it; `true`.
    fn window(
        &mut self,
        meta: &FileMeta,
        plan: &DecodePlan,
        batches: &mut Vec<RecordBatch>,
        report: &mut FileReport,
    ) -> bool {
        if self.ready == 0 {
            return true;
        }
        let cut = self.cut;
        let sep = std::mem::replace(&mut self.buf[cut], b']');
        let mut part = FileReport::default();
        decode_bytes(
            &self.buf[..=cut],
            meta,
            plan,
            self.first,
            batches,
            &mut part,
        );
        self.windows += 1;
        if part.prefiltered_file {
            self.windows_prefiltered += 1;
        }
        let stop = part.file_error.is_some();
        report.absorb(part);
        self.buf[cut] = sep;
        self.buf.drain(1..=cut);
        self.pos -= cut;
        self.first += self.ready;
        self.ready = 0;
        if stop {
            // The text after a damaged record cannot be trusted to be records.
            self.eof = true;
            self.buf.truncate(1);
            self.pos = 1;
        }
        true
    }

    /// Note an error that ends the file (the first one is kept).
    fn fail(&mut self, report: &mut FileReport, msg: &str) {
        if report.file_error.is_none() {
            report.file_error = Some(msg.to_string());
        }
    }

    /// The file is done: the inflater's error is the cause of any JSON error after it.
    fn finish(self, report: &mut FileReport) {
        if self.windows > 0 && self.windows == self.windows_prefiltered {
            report.prefiltered_file = true;
        }
        if let Some(e) = self.read_error {
            report.file_error = Some(match report.file_error.take() {
                Some(_) if report.rows > 0 => {
                    format!("{e}; kept the {} record(s) before it", report.rows)
                }
                _ => e,
            });
        }
    }
}

/// `32 MiB`, `64 KiB`, `700 bytes`.
fn size_text(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}
