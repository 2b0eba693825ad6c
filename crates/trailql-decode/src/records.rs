//! The `Records` array walked by structure: each record's top-level keys are read, the values of
//! projected fields are parsed (with sonic-rs, which checks them), and every other value is passed
//! over by [`structural`](crate::structural) without being parsed. Once a record has given every
//! projected field, the rest of it is skipped in one go. A record's whole text is found the same
//! way when the prefilter or `eventjson` needs it.
//!
//! So a query pays for the fields it reads, not for the size of the records. The price: JSON
//! errors inside a value no query column reads are not seen (brackets and strings must still
//! balance). Anything unexpected at the top level of a record — a record that is not an object, a
//! key with escapes, a bad scalar, a missing comma — makes the caller start over on the
//! record-by-record path, which reports it and keeps what precedes it.

use arrow_array::RecordBatch;
use sonic_rs::LazyValue;

use crate::file::RecordDecoder;
use crate::nesting::too_deep;
use crate::report::FileReport;
use crate::structural::{container_end, skip_ws, string_end, value_end};

/// Not decodable on this path (the reason is found again, and reported, by the slow path).
pub(crate) struct GiveUp;

type Walk<T> = Result<T, GiveUp>;

fn at(text: &[u8], i: usize) -> Walk<u8> {
    text.get(i).copied().ok_or(GiveUp)
}

fn expect(text: &[u8], i: usize, want: u8) -> Walk<usize> {
    if at(text, i)? == want {
        Ok(i + 1)
    } else {
        Err(GiveUp)
    }
}

/// Decode every record of `records` (the text of the array, from its `[`).
pub(crate) fn decode(
    records: &str,
    dec: &mut RecordDecoder<'_>,
    report: &mut FileReport,
    batches: &mut Vec<RecordBatch>,
) -> Walk<()> {
    let text = records.as_bytes();
    let mut i = skip_ws(text, expect(text, 0, b'[')?);
    if at(text, i)? == b']' {
        return Ok(());
    }
    let mut index = dec.first_index;
    loop {
        if at(text, i)? != b'{' {
            return Err(GiveUp);
        }
        i = if dec.has_prefilter() {
            // The prefilter needs the record's text before anything is parsed.
            let end = container_end(text, i, 0).ok_or(GiveUp)?;
            let rec = records.get(i..end).ok_or(GiveUp)?;
            if dec.passes_prefilter(rec, report) {
                dec.keep_text(rec);
                fields(records, i, Some(end), dec, report, index)?;
                dec.end_row(report, batches);
            }
            end
        } else {
            // The fields walk finds the record's end; its text is taken from there.
            let end = fields(records, i, None, dec, report, index)?;
            dec.keep_text(records.get(i..end).ok_or(GiveUp)?);
            dec.end_row(report, batches);
            end
        };
        index += 1;
        i = skip_ws(text, i);
        match at(text, i)? {
            b',' => i = skip_ws(text, i + 1),
            b']' => return Ok(()),
            _ => return Err(GiveUp),
        }
    }
}

/// The record object at `text[start]`: hand each projected field to its builder; return the
/// index just past the record (`end`, when the caller already knows it).
fn fields(
    records: &str,
    start: usize,
    end: Option<usize>,
    dec: &mut RecordDecoder<'_>,
    report: &mut FileReport,
    index: u64,
) -> Walk<usize> {
    let text = records.as_bytes();
    let wanted = dec.builders.len();
    if wanted == 0 {
        return end.or_else(|| container_end(text, start, 0)).ok_or(GiveUp);
    }
    let mut found = 0;
    let mut i = skip_ws(text, start + 1);
    if at(text, i)? == b'}' {
        return Ok(i + 1);
    }
    loop {
        if found == wanted {
            // Every projected field is set: the rest of the record is not needed.
            return end.or_else(|| container_end(text, i, 1)).ok_or(GiveUp);
        }
        if at(text, i)? != b'"' {
            return Err(GiveUp);
        }
        let (key_end, escapes) = string_end(text, i).ok_or(GiveUp)?;
        if escapes {
            return Err(GiveUp);
        }
        let key = records.get(i + 1..key_end - 1).ok_or(GiveUp)?;
        let v = skip_ws(text, expect(text, skip_ws(text, key_end), b':')?);
        // A string's end comes with whether it has escapes; a plain one needs no parsing.
        let (v_end, plain) = match at(text, v)? {
            b'"' => string_end(text, v).map(|(end, escapes)| (end, !escapes)),
            _ => value_end(text, v).map(|end| (end, false)),
        }
        .ok_or(GiveUp)?;
        if let Some(slot) = dec.slot_for(key) {
            let raw = records.get(v..v_end).ok_or(GiveUp)?;
            append(dec, slot, raw, plain, report, index)?;
            found += 1;
        }
        i = skip_ws(text, v_end);
        match at(text, i)? {
            b',' => i = skip_ws(text, i + 1),
            b'}' => return Ok(i + 1),
            _ => return Err(GiveUp),
        }
    }
}

/// One projected value: a plain string (no escapes) straight in, anything else parsed (and
/// checked) first.
fn append(
    dec: &mut RecordDecoder<'_>,
    slot: usize,
    raw: &str,
    plain: bool,
    report: &mut FileReport,
    index: u64,
) -> Walk<()> {
    let b = &mut dec.builders[slot];
    if plain && b.append_plain_str(raw) {
        return Ok(());
    }
    if too_deep(raw.as_bytes()) {
        // Parsing it would recurse past the stack: kept unparsed, where the column allows.
        b.append_too_deep(raw, report, index);
        return Ok(());
    }
    let v: LazyValue<'_> = sonic_rs::from_str(raw).map_err(|_| GiveUp)?;
    b.append(v, report, index);
    Ok(())
}
