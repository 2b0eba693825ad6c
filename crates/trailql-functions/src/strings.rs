//! Trino's string and regular-expression functions where DataFusion lacks them or means
//! something else: two-argument `replace`, `split_part` (NULL past the last field), `split`,
//! `regexp_extract(_all)`, `regexp_replace` (every match, `$1` groups), `regexp_split`.
//!
//! Patterns are Rust `regex` syntax, which is Trino's (Java-style) syntax without
//! look-around and back-references; a constant pattern is compiled once per batch.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use regex::Regex;

use crate::udf::{exec_error, ret_utf8, to_array, udf, want_str, Strs};

pub(crate) fn functions() -> Vec<ScalarUDF> {
    vec![
        udf("replace", ret_utf8, co_replace, k_replace),
        udf("split_part", ret_utf8, co_split_part, k_split_part),
        udf("split", ret_str_list, co_split, k_split),
        udf(
            "regexp_extract",
            ret_utf8,
            co_regexp_group,
            k_regexp_extract,
        ),
        udf(
            "regexp_extract_all",
            ret_str_list,
            co_regexp_group,
            k_regexp_extract_all,
        ),
        udf("regexp_replace", ret_utf8, co_replace, k_regexp_replace),
        udf("regexp_split", ret_str_list, co_strs2, k_regexp_split),
    ]
}

pub(crate) fn ret_str_list(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::List(Arc::new(Field::new(
        "item",
        DataType::Utf8,
        true,
    ))))
}

/// `2..=max` arguments: strings, then (at `int_at`, when given) an integer.
fn co_strings(
    t: &[DataType],
    max: usize,
    int_at: Option<usize>,
    usage: &str,
) -> Result<Vec<DataType>> {
    if !(2..=max).contains(&t.len()) {
        return plan_err!("expected {usage}, got {} argument(s)", t.len());
    }
    t.iter()
        .enumerate()
        .map(|(i, x)| match int_at {
            Some(k) if k == i => Ok(DataType::Int64),
            _ => want_str("argument", x),
        })
        .collect()
}

fn co_replace(t: &[DataType]) -> Result<Vec<DataType>> {
    co_strings(t, 3, None, "(string, search[, replacement])")
}

fn co_strs2(t: &[DataType]) -> Result<Vec<DataType>> {
    co_strings(t, 2, None, "(string, pattern)")
}

fn co_split_part(t: &[DataType]) -> Result<Vec<DataType>> {
    crate::udf::arity(t, 3, "(string, delimiter, index)")?;
    co_strings(t, 3, Some(2), "(string, delimiter, index)")
}

fn co_split(t: &[DataType]) -> Result<Vec<DataType>> {
    co_strings(t, 3, Some(2), "(string, delimiter[, limit])")
}

fn co_regexp_group(t: &[DataType]) -> Result<Vec<DataType>> {
    co_strings(t, 3, Some(2), "(string, pattern[, group])")
}

/// An optional integer argument, row by row.
fn ints(a: &[ColumnarValue], k: usize, n: usize) -> Result<Option<ArrayRef>> {
    a.get(k).map(|v| to_array(v, n)).transpose()
}

fn int_at(a: &Option<ArrayRef>, i: usize) -> Option<Option<i64>> {
    a.as_ref().map(|a| {
        let a = a.as_primitive::<Int64Type>();
        a.is_valid(i).then(|| a.value(i))
    })
}

/// Compiled patterns: one for a constant, the last one seen for a column.
struct Patterns<'a> {
    arg: Strs<'a>,
    cached: Option<(String, Regex)>,
}

impl<'a> Patterns<'a> {
    fn of(v: &'a ColumnarValue) -> Result<Self> {
        Ok(Patterns {
            arg: Strs::of(v)?,
            cached: None,
        })
    }
    fn get(&mut self, i: usize) -> Result<Option<&Regex>> {
        let Some(p) = self.arg.get(i) else {
            return Ok(None);
        };
        if self.cached.as_ref().is_none_or(|(s, _)| s != p) {
            let re = Regex::new(p)
                .map_err(|e| exec_error(format!("invalid regular expression {p:?}: {e}")))?;
            self.cached = Some((p.to_string(), re));
        }
        Ok(self.cached.as_ref().map(|(_, r)| r))
    }
}

fn k_replace(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let (s, search) = (Strs::of(&a[0])?, Strs::of(&a[1])?);
    let rep = a.get(2).map(Strs::of).transpose()?;
    let mut out = StringBuilder::new();
    for i in 0..n {
        let r = match &rep {
            Some(r) => r.get(i),
            None => Some(""),
        };
        match (s.get(i), search.get(i), r) {
            (Some(s), Some(x), Some(r)) => out.append_value(s.replace(x, r)),
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn k_split_part(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let (s, d) = (Strs::of(&a[0])?, Strs::of(&a[1])?);
    let idx = to_array(&a[2], n)?;
    let idx = idx.as_primitive::<Int64Type>();
    let mut out = StringBuilder::new();
    for i in 0..n {
        let (Some(s), Some(d), true) = (s.get(i), d.get(i), idx.is_valid(i)) else {
            out.append_null();
            continue;
        };
        let k = idx.value(i);
        if k < 1 {
            return exec_err!("split_part: the index must be 1 or more, got {k}");
        }
        let field = if d.is_empty() {
            (k == 1).then_some(s)
        } else {
            s.split(d).nth(k as usize - 1)
        };
        out.append_option(field);
    }
    Ok(Arc::new(out.finish()))
}

fn k_split(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let (s, d) = (Strs::of(&a[0])?, Strs::of(&a[1])?);
    let limit = ints(a, 2, n)?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for i in 0..n {
        let (Some(s), Some(d)) = (s.get(i), d.get(i)) else {
            out.append_null();
            continue;
        };
        match int_at(&limit, i) {
            Some(None) => {
                out.append_null();
                continue;
            }
            Some(Some(k)) if k < 1 => return exec_err!("split: the limit must be 1 or more"),
            Some(Some(k)) if !d.is_empty() => {
                for part in s.splitn(k as usize, d) {
                    out.values().append_value(part);
                }
            }
            _ if d.is_empty() => out.values().append_value(s),
            _ => {
                for part in s.split(d) {
                    out.values().append_value(part);
                }
            }
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

fn group_of(re: &Regex, g: i64) -> Result<usize> {
    if g < 0 || g as usize >= re.captures_len() {
        return exec_err!(
            "pattern {:?} has {} group(s); group {g} does not exist",
            re.as_str(),
            re.captures_len() - 1
        );
    }
    Ok(g as usize)
}

fn k_regexp_extract(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let s = Strs::of(&a[0])?;
    let mut pats = Patterns::of(&a[1])?;
    let groups = ints(a, 2, n)?;
    let mut out = StringBuilder::new();
    for i in 0..n {
        let g = int_at(&groups, i).unwrap_or(Some(0));
        let (Some(text), Some(re), Some(g)) = (s.get(i), pats.get(i)?, g) else {
            out.append_null();
            continue;
        };
        let g = group_of(re, g)?;
        out.append_option(re.captures(text).and_then(|c| c.get(g)).map(|m| m.as_str()));
    }
    Ok(Arc::new(out.finish()))
}

fn k_regexp_extract_all(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let s = Strs::of(&a[0])?;
    let mut pats = Patterns::of(&a[1])?;
    let groups = ints(a, 2, n)?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for i in 0..n {
        let g = int_at(&groups, i).unwrap_or(Some(0));
        let (Some(text), Some(re), Some(g)) = (s.get(i), pats.get(i)?, g) else {
            out.append_null();
            continue;
        };
        let g = group_of(re, g)?;
        for c in re.captures_iter(text) {
            out.values().append_option(c.get(g).map(|m| m.as_str()));
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

/// A Trino (Java) replacement string in Rust's syntax: `$1` and `${name}` are groups, `\$`
/// is a dollar sign, `\\` a backslash.
pub(crate) fn java_replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len() + 4);
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            '$' if chars.peek().is_some_and(|d| d.is_ascii_digit()) => {
                // `$1a` is group 1 then `a` (Java), not the group named `1a` (Rust).
                out.push_str("${");
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    out.push(*d);
                    chars.next();
                }
                out.push('}');
            }
            c => out.push(c),
        }
    }
    out
}

fn k_regexp_replace(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let s = Strs::of(&a[0])?;
    let mut pats = Patterns::of(&a[1])?;
    let rep = a.get(2).map(Strs::of).transpose()?;
    let mut out = StringBuilder::new();
    let mut last: Option<(String, String)> = None;
    for i in 0..n {
        let r = match &rep {
            Some(r) => r.get(i),
            None => Some(""),
        };
        let (Some(text), Some(re), Some(r)) = (s.get(i), pats.get(i)?, r) else {
            out.append_null();
            continue;
        };
        if last.as_ref().is_none_or(|(raw, _)| raw != r) {
            last = Some((r.to_string(), java_replacement(r)));
        }
        let rust = &last.as_ref().expect("set above").1;
        out.append_value(re.replace_all(text, rust.as_str()));
    }
    Ok(Arc::new(out.finish()))
}

fn k_regexp_split(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let s = Strs::of(&a[0])?;
    let mut pats = Patterns::of(&a[1])?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for i in 0..n {
        let (Some(text), Some(re)) = (s.get(i), pats.get(i)?) else {
            out.append_null();
            continue;
        };
        for part in re.split(text) {
            out.values().append_value(part);
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::java_replacement;

    #[test]
    fn java_replacements_become_rust_ones() {
        assert_eq!(java_replacement("$1-$2"), "${1}-${2}");
        assert_eq!(java_replacement("$1a"), "${1}a");
        assert_eq!(java_replacement("${name}"), "${name}");
        assert_eq!(java_replacement(r"\$5"), "$$5");
        assert_eq!(java_replacement(r"a\\b"), r"a\b");
    }
}
