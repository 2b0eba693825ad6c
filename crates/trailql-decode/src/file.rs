//! One file's bytes → Arrow record batches of the projected columns.

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, StringArray};
use arrow_schema::SchemaRef;
use sonic_rs::{JsonType, JsonValueTrait, LazyValue};

use crate::nesting::{too_deep, MAX_NESTING};
use crate::structural::{skip_ws, string_end, value_end};

use crate::builder::ColBuilder;
use crate::inflate::DEFAULT_MAX_INFLATED;
use crate::prefilter::Prefilter;
use crate::report::{FileReport, NotEventsContent};
use crate::schema::{record_index_of_key, record_specs, table_schema, Column, Extra};
use crate::stream::{FileDecoder, StreamLimits};

/// What to build: the projected columns, in output order.
#[derive(Debug, Clone)]
pub struct DecodePlan {
    pub schema: SchemaRef,
    pub columns: Vec<Column>,
    pub prefilter: Option<Prefilter>,
    pub batch_size: usize,
    pub max_inflated: u64,
    /// The sizes that bound one file's memory.
    pub stream: StreamLimits,
}

impl DecodePlan {
    /// A plan for the given column indexes of [`table_schema`] (all columns when `None`).
    pub fn new(projection: Option<&[usize]>) -> DecodePlan {
        let full = table_schema();
        let idx: Vec<usize> = match projection {
            Some(p) => p.to_vec(),
            None => (0..full.fields().len()).collect(),
        };
        DecodePlan {
            schema: Arc::new(full.project(&idx).expect("projection within schema")),
            columns: idx.iter().map(|&i| crate::schema::column(i)).collect(),
            prefilter: None,
            batch_size: 8192,
            max_inflated: DEFAULT_MAX_INFLATED,
            stream: StreamLimits::default(),
        }
    }

    pub fn with_prefilter(mut self, p: Option<Prefilter>) -> Self {
        self.prefilter = p;
        self
    }
}

/// Values of the key-derived columns of one file.
#[derive(Debug, Clone, Default)]
pub struct FileMeta {
    pub path: String,
    pub account: Option<String>,
    pub region: Option<String>,
    /// `yyyy/MM/dd`
    pub timestamp: Option<String>,
    pub year: Option<String>,
    pub month: Option<String>,
    pub day: Option<String>,
    /// Validated against its digest (`None`: not checked).
    pub verified: Option<bool>,
}

impl FileMeta {
    fn extra(&self, e: Extra) -> Option<&str> {
        match e {
            Extra::Account => self.account.as_deref(),
            Extra::Region => self.region.as_deref(),
            Extra::Timestamp | Extra::Date => self.timestamp.as_deref(),
            Extra::Year => self.year.as_deref(),
            Extra::Month => self.month.as_deref(),
            Extra::Day => self.day.as_deref(),
            Extra::Path => Some(&self.path),
            Extra::EventJson | Extra::Verified => None,
        }
    }
}

/// The batches decoded from one file and what happened.
pub struct Decoded {
    pub batches: Vec<RecordBatch>,
    pub report: FileReport,
}

/// Decode a whole file (gzip or plain JSON bytes) and collect its batches. A scan pulls them
/// one window at a time instead, through [`FileDecoder`].
pub fn decode_file(raw: &[u8], meta: &FileMeta, plan: &DecodePlan) -> Decoded {
    let mut d = FileDecoder::from_bytes_with(raw, meta.clone(), plan);
    let batches = d.by_ref().collect();
    Decoded {
        batches,
        report: d.into_report(),
    }
}

/// Decode JSON text holding `{"Records":[…]}` (or a bare array of records).
pub fn decode_text(
    text: &str,
    meta: &FileMeta,
    plan: &DecodePlan,
    batches: &mut Vec<RecordBatch>,
    report: &mut FileReport,
) {
    decode_bytes(text.as_bytes(), meta, plan, 0, batches, report)
}

/// Decode inflated bytes (a whole file, or a window of one whose first record is record
/// `first` of the file). The prefilter looks first: text it rules out is not checked for UTF-8.
pub(crate) fn decode_bytes(
    bytes: &[u8],
    meta: &FileMeta,
    plan: &DecodePlan,
    first: u64,
    batches: &mut Vec<RecordBatch>,
    report: &mut FileReport,
) {
    if !must_decode(bytes, plan, report) {
        return;
    }
    let lossy;
    let text = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => {
            report.type_problems += 1;
            report.note("invalid UTF-8 replaced with U+FFFD");
            lossy = String::from_utf8_lossy(bytes);
            &lossy
        }
    };
    decode_records(text, meta, plan, first, batches, report);
}

/// `false` for an empty file (an error) and for one the prefilter rules out as a whole.
fn must_decode(bytes: &[u8], plan: &DecodePlan, report: &mut FileReport) -> bool {
    if bytes.trim_ascii().is_empty() {
        report.file_error = Some("empty file (no JSON)".into());
        return false;
    }
    if plan.prefilter.as_ref().is_some_and(|p| !p.may_match(bytes)) {
        report.prefiltered_file = true;
        return false;
    }
    true
}

/// Decode the records of a file's text (past the checks of [`must_decode`]).
fn decode_records(
    text: &str,
    meta: &FileMeta,
    plan: &DecodePlan,
    first: u64,
    batches: &mut Vec<RecordBatch>,
    report: &mut FileReport,
) {
    let records = match locate_records(text) {
        Ok(Located::Records(r)) => r,
        Ok(Located::NotEvents(k)) => {
            report.not_events = Some(k);
            return;
        }
        Err(e) => {
            report.file_error = Some(e);
            return;
        }
    };
    let mut dec = RecordDecoder::new(plan, meta, first);
    let (mark, before) = (batches.len(), report.clone());
    if crate::records::decode(records, &mut dec, report, batches).is_ok() {
        dec.flush(batches);
        return;
    }
    // Something unexpected: start over record by record, which reports it and keeps what
    // precedes it.
    batches.truncate(mark);
    *report = before;
    dec = RecordDecoder::new(plan, meta, first);
    if let Err(e) = each_record(records, first, |i, raw| {
        if too_deep(raw.as_bytes()) {
            report.bad_records += 1;
            report.note(format_args!(
                "record {i} nests deeper than {MAX_NESTING} levels and was dropped (its text starts {:.40})",
                raw
            ));
            return Ok(());
        }
        match sonic_rs::from_str::<LazyValue<'_>>(raw) {
            Ok(rec) => {
                dec.push(rec, i, report, batches);
                Ok(())
            }
            Err(e) => Err(format!(
                "invalid JSON in record {i} of the Records array: {e}"
            )),
        }
    }) {
        report.file_error = Some(e);
    }
    dec.flush(batches);
}

/// Call `f` with the index and text of each element of the array `records` (from its `[`),
/// found by structure only, so that no parser sees an element before [`too_deep`] has. Stops
/// at the first error, its own (an element that does not end, a missing comma) or `f`'s, and
/// says how many records came before it.
fn each_record(
    records: &str,
    first: u64,
    mut f: impl FnMut(u64, &str) -> Result<(), String>,
) -> Result<(), String> {
    let kept = |e: String, n: u64| format!("{e}; kept the {n} record(s) before it");
    let text = records.as_bytes();
    let mut i = skip_ws(text, 1);
    if text.get(i) == Some(&b']') {
        return Ok(());
    }
    for index in first.. {
        let end = value_end(text, i).ok_or_else(|| {
            kept(format!("record {index} of the Records array does not end (cut short, unbalanced brackets or not JSON)"), index)
        })?;
        f(index, &records[i..end]).map_err(|e| kept(e, index))?;
        i = skip_ws(text, end);
        match text.get(i) {
            Some(b',') => i = skip_ws(text, i + 1),
            Some(b']') => return Ok(()),
            Some(&c) => {
                return Err(kept(format!(
                    "invalid JSON after record {index} of the Records array: expected `,` or `]`, found {:?}",
                    c as char
                ), index + 1))
            }
            None => {
                return Err(kept(
                    "the Records array does not end (the file is cut short)".into(),
                    index + 1,
                ))
            }
        }
    }
    Ok(())
}

enum Located<'a> {
    Records(&'a str),
    NotEvents(NotEventsContent),
}

/// Find the `Records` array: the common `{"Records":[` prefix directly, else by walking the
/// top-level object. A top-level array is taken as an array of records.
fn locate_records(text: &str) -> Result<Located<'_>, String> {
    let t = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if t.starts_with('[') {
        return Ok(Located::Records(t));
    }
    if let Some(rest) = t.strip_prefix('{') {
        let rest = rest.trim_start();
        if let Some(rest) = rest.strip_prefix("\"Records\"") {
            let rest = rest.trim_start();
            if let Some(rest) = rest.strip_prefix(':') {
                let rest = rest.trim_start();
                if rest.starts_with('[') {
                    return Ok(Located::Records(rest));
                }
            }
        }
    } else {
        return Err(format!(
            "not a CloudTrail log file: expected a JSON object {{\"Records\":[…]}}, found {:?}",
            t.chars().take(20).collect::<String>()
        ));
    }
    let mut digest_like = false;
    let mut config_like = false;
    let mut records = None;
    each_member(t, |k, v| {
        match k {
            "Records" => {
                records = Some(v);
                return false;
            }
            "digestPublicKeyFingerprint" | "digestS3Object" | "logFiles" => digest_like = true,
            "configurationItems" | "configSnapshotId" | "configurationItem" => config_like = true,
            _ => {}
        }
        true
    })?;
    if let Some(v) = records {
        if !v.starts_with('[') {
            return Err("`Records` is not an array".into());
        }
        return Ok(Located::Records(v));
    }
    if digest_like {
        return Ok(Located::NotEvents(NotEventsContent::Digest));
    }
    if config_like {
        return Ok(Located::NotEvents(NotEventsContent::Config));
    }
    Err("not a CloudTrail log file: the JSON object has no `Records` key".into())
}

/// Call `f` with each key and raw value of the JSON object `text` (from its `{`) until it
/// returns `false`. Values are found by structure (no parser recursion, whatever their depth);
/// keys with escapes are decoded.
fn each_member<'a>(text: &'a str, mut f: impl FnMut(&str, &'a str) -> bool) -> Result<(), String> {
    let bytes = text.as_bytes();
    let bad = |at: usize, what: &str| format!("invalid JSON at byte {at}: {what}");
    let mut i = skip_ws(bytes, 1);
    if bytes.get(i) == Some(&b'}') {
        return Ok(());
    }
    loop {
        if bytes.get(i) != Some(&b'"') {
            return Err(bad(i, "expected a key"));
        }
        let (key_end, escapes) = string_end(bytes, i).ok_or_else(|| bad(i, "unclosed key"))?;
        let raw_key = &text[i..key_end];
        let decoded;
        let key = if escapes {
            decoded = sonic_rs::from_str::<String>(raw_key).map_err(|e| bad(i, &e.to_string()))?;
            decoded.as_str()
        } else {
            &raw_key[1..raw_key.len() - 1]
        };
        let colon = skip_ws(bytes, key_end);
        if bytes.get(colon) != Some(&b':') {
            return Err(bad(colon, "expected `:`"));
        }
        let v = skip_ws(bytes, colon + 1);
        let v_end = value_end(bytes, v).ok_or_else(|| bad(v, "a value that does not end"))?;
        if !f(key, &text[v..v_end]) {
            return Ok(());
        }
        i = skip_ws(bytes, v_end);
        match bytes.get(i) {
            Some(b',') => i = skip_ws(bytes, i + 1),
            Some(b'}') => return Ok(()),
            _ => return Err(bad(i, "expected `,` or `}`")),
        }
    }
}

/// Per-file state: builders for the projected record columns.
pub(crate) struct RecordDecoder<'p> {
    plan: &'p DecodePlan,
    meta: &'p FileMeta,
    /// record spec index → builder index
    slots: Vec<Option<usize>>,
    pub(crate) builders: Vec<ColBuilder>,
    /// output column → where it comes from
    outputs: Vec<Output>,
    eventjson: Option<arrow_array::builder::StringBuilder>,
    pub(crate) rows: usize,
    /// The index in the file of the first record this decoder sees (for messages).
    pub(crate) first_index: u64,
}

enum Output {
    Builder(usize),
    EventJson,
    Constant(Extra),
}

impl<'p> RecordDecoder<'p> {
    fn new(plan: &'p DecodePlan, meta: &'p FileMeta, first_index: u64) -> Self {
        let specs = record_specs();
        let mut slots = vec![None; specs.len()];
        let mut builders = Vec::new();
        let mut outputs = Vec::new();
        let mut eventjson = None;
        for c in &plan.columns {
            match *c {
                Column::Record(i) => {
                    slots[i] = Some(builders.len());
                    outputs.push(Output::Builder(builders.len()));
                    builders.push(ColBuilder::new(&specs[i], ""));
                }
                Column::Extra(Extra::EventJson) => {
                    eventjson = Some(arrow_array::builder::StringBuilder::new());
                    outputs.push(Output::EventJson);
                }
                Column::Extra(e) => outputs.push(Output::Constant(e)),
            }
        }
        RecordDecoder {
            plan,
            meta,
            slots,
            builders,
            outputs,
            eventjson,
            rows: 0,
            first_index,
        }
    }

    /// Does any projected column come from the record's fields?
    pub(crate) fn needs_parse(&self) -> bool {
        !self.builders.is_empty()
    }

    /// Must each record's text pass the prefilter before it is parsed?
    pub(crate) fn has_prefilter(&self) -> bool {
        self.plan.prefilter.is_some()
    }

    /// The builder that takes the value of `key` in the current row: `None` when the field is
    /// not projected, or already set (a duplicate key keeps its first value).
    pub(crate) fn slot_for(&self, key: &str) -> Option<usize> {
        let slot = record_index_of_key(key).and_then(|i| self.slots[i])?;
        (self.builders[slot].len() == self.rows).then_some(slot)
    }

    /// `false` (and counted) when the prefilter rules out a record's text.
    pub(crate) fn passes_prefilter(&self, text: &str, report: &mut FileReport) -> bool {
        let pass = self
            .plan
            .prefilter
            .as_ref()
            .is_none_or(|p| p.may_match_record(text.as_bytes()));
        if !pass {
            report.prefiltered_records += 1;
        }
        pass
    }

    /// A kept record's whole text, for `eventjson` when projected.
    pub(crate) fn keep_text(&mut self, text: &str) {
        if let Some(b) = &mut self.eventjson {
            b.append_value(text);
        }
    }

    fn push(
        &mut self,
        rec: LazyValue<'_>,
        index: u64,
        report: &mut FileReport,
        batches: &mut Vec<RecordBatch>,
    ) {
        if rec.get_type() != JsonType::Object {
            report.bad_records += 1;
            report.note(format_args!(
                "record {index} is not a JSON object: {:.60}",
                rec.as_raw_str()
            ));
            return;
        }
        if !self.passes_prefilter(rec.as_raw_str(), report) {
            return;
        }
        self.keep_text(rec.as_raw_str());
        if self.needs_parse() {
            if let Some(iter) = rec.into_object_iter() {
                for entry in iter {
                    let (k, v) = match entry {
                        Ok(kv) => kv,
                        Err(e) => {
                            report.type_problems += 1;
                            report.note(format_args!("record {index}: {e}"));
                            break;
                        }
                    };
                    if let Some(slot) = self.slot_for(&k) {
                        self.builders[slot].append(v, report, index);
                    }
                }
            }
        }
        self.end_row(report, batches);
    }

    /// Close the current row: absent fields are NULL.
    pub(crate) fn end_row(&mut self, report: &mut FileReport, batches: &mut Vec<RecordBatch>) {
        for b in &mut self.builders {
            b.pad_to(self.rows + 1);
        }
        self.rows += 1;
        report.rows += 1;
        if self.rows >= self.plan.batch_size {
            self.flush(batches);
        }
    }

    pub(crate) fn flush(&mut self, batches: &mut Vec<RecordBatch>) {
        if self.rows == 0 {
            return;
        }
        let n = self.rows;
        let columns: Vec<ArrayRef> = self
            .outputs
            .iter()
            .map(|o| match o {
                Output::Builder(i) => self.builders[*i].finish(),
                Output::EventJson => Arc::new(
                    self.eventjson
                        .as_mut()
                        .expect("eventjson builder exists")
                        .finish(),
                ) as ArrayRef,
                Output::Constant(Extra::Verified) => {
                    Arc::new(BooleanArray::from(vec![self.meta.verified; n])) as ArrayRef
                }
                Output::Constant(e) => {
                    let v = self.meta.extra(*e);
                    Arc::new(StringArray::from_iter(std::iter::repeat_n(v, n))) as ArrayRef
                }
            })
            .collect();
        let batch = RecordBatch::try_new_with_options(
            self.plan.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .expect("decoded columns match the projected schema");
        batches.push(batch);
        self.rows = 0;
    }
}
