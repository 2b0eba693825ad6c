//! Trino's array functions where DataFusion's differ: `contains(array, x)` (DataFusion's
//! `contains` is a string search, kept for strings), `array_position` (0 when absent, not
//! NULL) and `slice(array, start, length)` (DataFusion's `array_slice` takes an end index).

use std::sync::Arc;

use datafusion::arrow::array::builder::NullBufferBuilder;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int64Builder, ListArray, UInt32Builder,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};

use crate::udf::{is_str, ret_bool, ret_int, to_array, udf, want_str};

pub(crate) fn functions() -> Vec<ScalarUDF> {
    vec![
        udf("contains", ret_bool, co_contains, k_contains),
        udf("array_position", ret_int, co_array_elem, k_array_position),
        udf("slice", ret_first, co_slice, k_slice),
    ]
}

fn ret_first(t: &[DataType]) -> Result<DataType> {
    Ok(t[0].clone())
}

fn list_item(t: &DataType) -> Option<DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Some(f.data_type().clone())
        }
        _ => None,
    }
}

fn as_list(t: &DataType) -> Option<DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Some(DataType::List(f.clone()))
        }
        _ => None,
    }
}

fn co_array_elem(t: &[DataType]) -> Result<Vec<DataType>> {
    crate::udf::arity(t, 2, "(array, element)")?;
    match (as_list(&t[0]), list_item(&t[0])) {
        (Some(l), Some(item)) => Ok(vec![l, item]),
        _ => plan_err!("expected an array, got {}", t[0]),
    }
}

fn co_contains(t: &[DataType]) -> Result<Vec<DataType>> {
    crate::udf::arity(t, 2, "(array, element) or (string, substring)")?;
    if is_str(&t[0]) {
        return Ok(vec![DataType::Utf8, want_str("substring", &t[1])?]);
    }
    co_array_elem(t)
}

fn co_slice(t: &[DataType]) -> Result<Vec<DataType>> {
    crate::udf::arity(t, 3, "(array, start, length)")?;
    match as_list(&t[0]) {
        Some(l) => Ok(vec![l, DataType::Int64, DataType::Int64]),
        None => plan_err!("slice: expected an array, got {}", t[0]),
    }
}

/// For each row, the 0-based position of `needle` in the list, `Err(true)` when absent but the
/// list holds NULLs, `Err(false)` when absent; `None` for a NULL list or needle.
fn positions(
    list: &ArrayRef,
    needle: &ArrayRef,
    n: usize,
) -> Result<Vec<Option<Result<usize, bool>>>> {
    let list = list.as_list::<i32>();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if list.is_null(i) || needle.is_null(i) {
            out.push(None);
            continue;
        }
        let values = list.value(i);
        let want = ScalarValue::try_from_array(needle, i)?;
        let mut found = Err(false);
        for j in 0..values.len() {
            if values.is_null(j) {
                found = Err(true);
            } else if ScalarValue::try_from_array(&values, j)? == want {
                found = Ok(j);
                break;
            }
        }
        out.push(Some(found));
    }
    Ok(out)
}

fn k_contains(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let (x, y) = (to_array(&a[0], n)?, to_array(&a[1], n)?);
    let mut out = BooleanBuilder::with_capacity(n);
    if is_str(x.data_type()) {
        let (s, t) = (x.as_string::<i32>(), y.as_string::<i32>());
        for i in 0..n {
            out.append_option(
                (s.is_valid(i) && t.is_valid(i)).then(|| s.value(i).contains(t.value(i))),
            );
        }
    } else {
        for p in positions(&x, &y, n)? {
            // Trino: not found among NULLs is unknown.
            out.append_option(p.and_then(|p| match p {
                Ok(_) => Some(true),
                Err(true) => None,
                Err(false) => Some(false),
            }));
        }
    }
    Ok(Arc::new(out.finish()))
}

fn k_array_position(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let (x, y) = (to_array(&a[0], n)?, to_array(&a[1], n)?);
    let mut out = Int64Builder::with_capacity(n);
    for p in positions(&x, &y, n)? {
        out.append_option(p.map(|p| p.map(|j| j as i64 + 1).unwrap_or(0)));
    }
    Ok(Arc::new(out.finish()))
}

fn k_slice(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let arr = to_array(&a[0], n)?;
    let list = arr.as_list::<i32>();
    let (start, len) = (to_array(&a[1], n)?, to_array(&a[2], n)?);
    let (start, len) = (
        start.as_primitive::<Int64Type>(),
        len.as_primitive::<Int64Type>(),
    );
    let mut idx = UInt32Builder::new();
    let mut offsets = vec![0i32];
    let mut nulls = NullBufferBuilder::new(n);
    for i in 0..n {
        let last = *offsets.last().expect("offsets start at 0");
        if list.is_null(i) || start.is_null(i) || len.is_null(i) {
            offsets.push(last);
            nulls.append_null();
            continue;
        }
        let (s, l) = (start.value(i), len.value(i));
        if s == 0 {
            return exec_err!("slice: SQL array indices start at 1");
        }
        if l < 0 {
            return exec_err!("slice: the length must be 0 or more, got {l}");
        }
        let size = list.value_length(i) as i64;
        let base = list.value_offsets()[i] as i64;
        let from = if s > 0 { s - 1 } else { size + s };
        let (from, to) = if from < 0 || from >= size {
            (0, 0)
        } else {
            (from, (from + l).min(size))
        };
        for p in from..to {
            idx.append_value((base + p) as u32);
        }
        offsets.push(last + (to - from) as i32);
        nulls.append_non_null();
    }
    let values = take(list.values().as_ref(), &idx.finish(), None)?;
    let field = match arr.data_type() {
        DataType::List(f) => f.clone(),
        other => return exec_err!("slice: expected an array, got {other}"),
    };
    Ok(Arc::new(ListArray::new(
        field,
        OffsetBuffer::new(offsets.into()),
        values,
        nulls.finish(),
    )))
}
