//! What happened while decoding one file: counts and the first few problems, named precisely.

use std::fmt;

/// How many problem messages are kept per file (the counts stay exact).
pub const MAX_MESSAGES_PER_FILE: usize = 5;

/// A file that is not a trail log file, recognised by its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotEventsContent {
    Digest,
    Config,
}

/// The decoding outcome of one file.
#[derive(Debug, Default, Clone)]
pub struct FileReport {
    /// Rows produced.
    pub rows: u64,
    /// Records skipped by the literal prefilter (they cannot match the query).
    pub prefiltered_records: u64,
    /// The whole file was skipped by the literal prefilter without being parsed.
    pub prefiltered_file: bool,
    /// Array elements that were not JSON objects: dropped.
    pub bad_records: u64,
    /// Fields whose JSON type did not fit the column (kept as JSON text, or NULL for structs).
    pub type_problems: u64,
    /// A problem that stopped reading this file (records before it are kept).
    pub file_error: Option<String>,
    /// Recognised as a digest or Config file by content: not read as events.
    pub not_events: Option<NotEventsContent>,
    /// The first few record-level messages.
    pub messages: Vec<String>,
}

impl FileReport {
    pub(crate) fn note(&mut self, msg: impl fmt::Display) {
        if self.messages.len() < MAX_MESSAGES_PER_FILE {
            self.messages.push(msg.to_string());
        }
    }

    /// Add the report of a part of the same file (a window of a streamed file).
    pub(crate) fn absorb(&mut self, part: FileReport) {
        self.rows += part.rows;
        self.prefiltered_records += part.prefiltered_records;
        self.bad_records += part.bad_records;
        self.type_problems += part.type_problems;
        if self.file_error.is_none() {
            self.file_error = part.file_error;
        }
        if self.not_events.is_none() {
            self.not_events = part.not_events;
        }
        for m in part.messages {
            self.note(m);
        }
    }

    /// Did anything go wrong (a warning, or an error with `--strict`)?
    pub fn has_problems(&self) -> bool {
        self.file_error.is_some() || self.bad_records > 0 || self.type_problems > 0
    }

    /// One line describing the problems, for a warning.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(e) = &self.file_error {
            parts.push(e.clone());
        }
        if self.bad_records > 0 {
            parts.push(format!(
                "{} record(s) are not JSON objects and were dropped",
                self.bad_records
            ));
        }
        if self.type_problems > 0 {
            parts.push(format!(
                "{} field(s) had an unexpected JSON type (kept as JSON text, or NULL for struct columns; the full record stays in `eventjson`)",
                self.type_problems
            ));
        }
        let mut s = parts.join("; ");
        if !self.messages.is_empty() {
            s.push_str(" — e.g. ");
            s.push_str(&self.messages.join("; "));
        }
        s
    }
}
