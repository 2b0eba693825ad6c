//! Arrow builders that take lazily parsed JSON values, one per projected column.
//!
//! The rules (Hive JSON SerDe's, as Athena applies them to the CloudTrail DDL):
//! - string column: a JSON string gives its text, `null` gives NULL, any other value gives its
//!   JSON text (so `readOnly: true` reads as `'true'` and `requestParameters` as its object text);
//! - struct / array / map column: the matching JSON value, NULL for `null`; a value of another
//!   type gives NULL and is counted as a type problem (the record is kept, and `eventjson` still
//!   holds the value).

use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, MapBuilder, StringBuilder};
use arrow_array::{ArrayRef, ListArray, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer};
use arrow_schema::{Field, Fields};
use sonic_rs::{JsonType, JsonValueTrait, LazyValue};

use crate::report::FileReport;
use crate::schema::{data_type, struct_fields, Kind, Spec};

pub(crate) enum ColBuilder {
    Str {
        b: StringBuilder,
        freeform: bool,
        path: String,
    },
    Struct(StructCol),
    List {
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        item: Box<StructCol>,
        field: Arc<Field>,
        path: String,
    },
    Map {
        b: Box<MapBuilder<StringBuilder, StringBuilder>>,
        path: String,
    },
}

pub(crate) struct StructCol {
    children: Vec<(&'static str, ColBuilder)>,
    nulls: NullBufferBuilder,
    fields: Fields,
    len: usize,
    path: String,
}

fn type_name(t: JsonType) -> &'static str {
    match t {
        JsonType::Null => "null",
        JsonType::Boolean => "a boolean",
        JsonType::Number => "a number",
        JsonType::String => "a string",
        JsonType::Array => "an array",
        JsonType::Object => "an object",
    }
}

/// A value as a string column holds it: a string's text, any other value's JSON text.
fn json_text<'v>(v: &'v LazyValue<'_>) -> &'v str {
    v.as_str().unwrap_or_else(|| v.as_raw_str())
}

fn mismatch(report: &mut FileReport, record: u64, path: &str, want: &str, got: JsonType) {
    report.type_problems += 1;
    report.note(format_args!(
        "record {record}: field `{path}` is {}, expected {want}",
        type_name(got)
    ));
}

impl ColBuilder {
    pub(crate) fn new(spec: &Spec, parent: &str) -> ColBuilder {
        let path = if parent.is_empty() {
            spec.name.to_string()
        } else {
            format!("{parent}.{}", spec.name)
        };
        match &spec.kind {
            Kind::Str { freeform } => ColBuilder::Str {
                b: StringBuilder::new(),
                freeform: *freeform,
                path,
            },
            Kind::Struct(children) => ColBuilder::Struct(StructCol::new(children, path)),
            Kind::ListOfStruct(children) => {
                let item = StructCol::new(children, format!("{path}[]"));
                let field = match data_type(spec) {
                    arrow_schema::DataType::List(f) => f,
                    _ => unreachable!("list spec has a list type"),
                };
                let mut offsets = Vec::with_capacity(1024);
                offsets.push(0);
                ColBuilder::List {
                    offsets,
                    nulls: NullBufferBuilder::new(1024),
                    item: Box::new(item),
                    field,
                    path,
                }
            }
            Kind::MapStr => ColBuilder::Map {
                b: Box::new(MapBuilder::new(
                    None,
                    StringBuilder::new(),
                    StringBuilder::new(),
                )),
                path,
            },
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            ColBuilder::Str { b, .. } => b.len(),
            ColBuilder::Struct(s) => s.len,
            ColBuilder::List { offsets, .. } => offsets.len() - 1,
            ColBuilder::Map { b, .. } => b.len(),
        }
    }

    pub(crate) fn append_null(&mut self) {
        match self {
            ColBuilder::Str { b, .. } => b.append_null(),
            ColBuilder::Struct(s) => s.append_null(),
            ColBuilder::List { offsets, nulls, .. } => {
                offsets.push(*offsets.last().expect("offsets start at 0"));
                nulls.append_null();
            }
            ColBuilder::Map { b, .. } => {
                let _ = b.append(false);
            }
        }
    }

    /// Append NULLs until the column has `len` rows.
    pub(crate) fn pad_to(&mut self, len: usize) {
        while self.len() < len {
            self.append_null();
        }
    }

    /// Append a JSON string without escapes (`raw` with its quotes) to a string column; `false`
    /// for other columns, which take it through [`ColBuilder::append`].
    pub(crate) fn append_plain_str(&mut self, raw: &str) -> bool {
        match self {
            ColBuilder::Str { b, .. } => {
                b.append_value(&raw[1..raw.len() - 1]);
                true
            }
            _ => false,
        }
    }

    /// Append a value that nests deeper than [`crate::nesting::MAX_NESTING`] without parsing
    /// it: a free-form text column keeps its raw text (unchecked), any other column is NULL.
    /// Either way it is counted and named; `eventjson` still holds the record.
    pub(crate) fn append_too_deep(&mut self, raw: &str, report: &mut FileReport, record: u64) {
        report.type_problems += 1;
        let limit = crate::nesting::MAX_NESTING;
        match self {
            ColBuilder::Str {
                b,
                freeform: true,
                path,
            } => {
                report.note(format_args!(
                    "record {record}: field `{path}` nests deeper than {limit} levels; kept as raw text, not checked"
                ));
                b.append_value(raw);
            }
            _ => {
                report.note(format_args!(
                    "record {record}: field `{}` nests deeper than {limit} levels; NULL",
                    self.path()
                ));
                self.append_null();
            }
        }
    }

    fn path(&self) -> &str {
        match self {
            ColBuilder::Str { path, .. }
            | ColBuilder::List { path, .. }
            | ColBuilder::Map { path, .. } => path,
            ColBuilder::Struct(s) => &s.path,
        }
    }

    /// Append one value for the current row.
    pub(crate) fn append(&mut self, v: LazyValue<'_>, report: &mut FileReport, record: u64) {
        let t = v.get_type();
        if t == JsonType::Null {
            self.append_null();
            return;
        }
        match self {
            ColBuilder::Str { b, freeform, path } => match t {
                JsonType::String => b.append_value(json_text(&v)),
                JsonType::Object | JsonType::Array if !*freeform => {
                    mismatch(report, record, path, "a string", t);
                    b.append_value(v.as_raw_str());
                }
                _ => b.append_value(v.as_raw_str()),
            },
            ColBuilder::Struct(s) => {
                if t == JsonType::Object {
                    s.append_object(v, report, record);
                } else {
                    mismatch(report, record, &s.path, "an object", t);
                    s.append_null();
                }
            }
            ColBuilder::List {
                offsets,
                nulls,
                item,
                path,
                ..
            } => {
                let Some(iter) = (t == JsonType::Array)
                    .then(|| v.into_array_iter())
                    .flatten()
                else {
                    mismatch(report, record, path, "an array", t);
                    offsets.push(*offsets.last().expect("offsets start at 0"));
                    nulls.append_null();
                    return;
                };
                for elem in iter {
                    match elem {
                        Ok(e) if e.get_type() == JsonType::Object => {
                            item.append_object(e, report, record)
                        }
                        Ok(e) => {
                            mismatch(report, record, &item.path, "an object", e.get_type());
                            item.append_null();
                        }
                        Err(e) => {
                            report.type_problems += 1;
                            report.note(format_args!("record {record}: field `{path}`: {e}"));
                            break;
                        }
                    }
                }
                offsets.push(item.len as i32);
                nulls.append_non_null();
            }
            ColBuilder::Map { b, path } => {
                let Some(iter) = (t == JsonType::Object)
                    .then(|| v.into_object_iter())
                    .flatten()
                else {
                    mismatch(report, record, path, "an object", t);
                    let _ = b.append(false);
                    return;
                };
                for entry in iter {
                    let Ok((k, val)) = entry else { break };
                    b.keys().append_value(&k);
                    match val.get_type() {
                        JsonType::Null => b.values().append_null(),
                        _ => b.values().append_value(json_text(&val)),
                    }
                }
                let _ = b.append(true);
            }
        }
    }

    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Str { b, .. } => Arc::new(b.finish()),
            ColBuilder::Struct(s) => Arc::new(s.finish()),
            ColBuilder::List {
                offsets,
                nulls,
                item,
                field,
                ..
            } => {
                let values = Arc::new(item.finish());
                let offs = OffsetBuffer::new(std::mem::replace(offsets, vec![0]).into());
                Arc::new(ListArray::new(field.clone(), offs, values, nulls.finish()))
            }
            ColBuilder::Map { b, .. } => Arc::new(b.finish()),
        }
    }
}

impl StructCol {
    fn new(children: &[Spec], path: String) -> StructCol {
        StructCol {
            children: children
                .iter()
                .map(|c| (c.name, ColBuilder::new(c, &path)))
                .collect(),
            nulls: NullBufferBuilder::new(1024),
            fields: struct_fields(children),
            len: 0,
            path,
        }
    }

    fn append_null(&mut self) {
        self.len += 1;
        for (_, c) in &mut self.children {
            c.pad_to(self.len);
        }
        self.nulls.append_null();
    }

    fn append_object(&mut self, v: LazyValue<'_>, report: &mut FileReport, record: u64) {
        let row = self.len;
        if let Some(iter) = v.into_object_iter() {
            for entry in iter {
                let (k, val) = match entry {
                    Ok(kv) => kv,
                    Err(e) => {
                        report.type_problems += 1;
                        report.note(format_args!("record {record}: field `{}`: {e}", self.path));
                        break;
                    }
                };
                if let Some((_, c)) = self
                    .children
                    .iter_mut()
                    .find(|(name, _)| name.eq_ignore_ascii_case(&k))
                {
                    // A duplicate key keeps its first value.
                    if c.len() == row {
                        c.append(val, report, record);
                    }
                }
            }
        }
        self.len += 1;
        for (_, c) in &mut self.children {
            c.pad_to(self.len);
        }
        self.nulls.append_non_null();
    }

    fn finish(&mut self) -> StructArray {
        let arrays: Vec<ArrayRef> = self.children.iter_mut().map(|(_, c)| c.finish()).collect();
        self.len = 0;
        StructArray::new(self.fields.clone(), arrays, self.nulls.finish())
    }
}
