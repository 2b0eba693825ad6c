//! One pass over the `Records` array when no record's text is needed (no prefilter, no
//! `eventjson`): serde over sonic-rs, each projected value taken as a lazy slice, every other
//! value skipped where it stands. The record-by-record path walks each record twice (to find
//! its end, then its keys); this walks it once. Any error makes the caller start over on the
//! record-by-record path, which reports and keeps what precedes the damage.

use std::fmt;

use arrow_array::RecordBatch;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use sonic_rs::LazyValue;

use crate::file::RecordDecoder;
use crate::report::FileReport;

pub(crate) fn decode(
    records: &str,
    dec: &mut RecordDecoder<'_>,
    report: &mut FileReport,
    batches: &mut Vec<RecordBatch>,
) -> Result<(), sonic_rs::Error> {
    let mut de = sonic_rs::Deserializer::from_str(records);
    (&mut de).deserialize_seq(Records {
        dec,
        report,
        batches,
    })
}

struct Records<'a, 'p> {
    dec: &'a mut RecordDecoder<'p>,
    report: &'a mut FileReport,
    batches: &'a mut Vec<RecordBatch>,
}

impl<'de> Visitor<'de> for Records<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Records {
            dec,
            report,
            batches,
        } = self;
        let mut index = 0u64;
        while seq
            .next_element_seed(Record {
                dec: &mut *dec,
                report: &mut *report,
                batches: &mut *batches,
                index,
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }
}

struct Record<'a, 'p> {
    dec: &'a mut RecordDecoder<'p>,
    report: &'a mut FileReport,
    batches: &'a mut Vec<RecordBatch>,
    index: u64,
}

impl<'de> DeserializeSeed<'de> for Record<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Record<'_, '_> {
    fn not_an_object<E>(self) -> Result<(), E> {
        self.report.bad_records += 1;
        self.report
            .note(format_args!("record {} is not a JSON object", self.index));
        Ok(())
    }
}

impl<'de> Visitor<'de> for Record<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record (a JSON object)")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let dec = &mut *self.dec;
        let report = &mut *self.report;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match dec.slot_for(key.as_str()) {
                Some(s) => {
                    let v: LazyValue<'de> = map.next_value()?;
                    dec.builders[s].append(v, report, self.index);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        dec.end_row(report, self.batches);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.not_an_object()
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.not_an_object()
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.not_an_object()
    }
}

/// A key, borrowed from the text unless it had escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(s))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(s))
            }
        }
        d.deserialize_str(V)
    }
}
