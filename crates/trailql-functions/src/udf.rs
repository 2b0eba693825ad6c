//! The functions as DataFusion scalar UDFs: one small kernel each, over Arrow arrays.

use std::sync::Arc;

use chrono::{Offset, TimeZone, Utc};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Date32Array, Int64Array, Int64Builder, StringArray,
    StringBuilder, TimestampMillisecondArray, UInt32Builder,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use sonic_rs::{JsonType, JsonValueTrait};

use trailql_decode::nesting::too_deep;

use crate::jsonpath::{self, JsonPath};
use crate::time;

pub(crate) type Kernel = fn(&[ColumnarValue], usize) -> Result<ArrayRef>;
pub(crate) type ReturnType = fn(&[DataType]) -> Result<DataType>;
pub(crate) type Coerce = fn(&[DataType]) -> Result<Vec<DataType>>;

/// A function with Trino's name and semantics: argument coercion, return type, kernel.
#[derive(Debug)]
struct TrinoFn {
    name: &'static str,
    signature: Signature,
    ret: ReturnType,
    coerce: Coerce,
    kernel: Kernel,
}

// A function is identified by its name (each name is registered once).
impl PartialEq for TrinoFn {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for TrinoFn {}
impl std::hash::Hash for TrinoFn {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for TrinoFn {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.ret)(arg_types)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        (self.coerce)(arg_types)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let n = if all_scalar { 1 } else { args.number_rows };
        let out = (self.kernel)(&args.args, n)?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

pub(crate) fn udf(
    name: &'static str,
    ret: ReturnType,
    coerce: Coerce,
    kernel: Kernel,
) -> ScalarUDF {
    ScalarUDF::new_from_impl(TrinoFn {
        name,
        signature: Signature::user_defined(Volatility::Immutable),
        ret,
        coerce,
        kernel,
    })
}

/// Every function, ready to register.
pub fn all_functions() -> Vec<ScalarUDF> {
    vec![
        udf(
            "json_extract_scalar",
            ret_utf8,
            co_str_str,
            k_json_extract_scalar,
        ),
        udf("json_extract", ret_utf8, co_str_str, k_json_extract),
        udf("json_array_get", ret_utf8, co_str_int, k_json_array_get),
        udf("json_array_length", ret_int, co_str, k_json_array_length),
        udf(
            "json_array_contains",
            ret_bool,
            co_str_any,
            k_json_array_contains,
        ),
        udf("json_size", ret_int, co_str_str, k_json_size),
        udf("json_format", ret_utf8, co_json_or_value, k_json_format),
        udf("json_parse", ret_utf8, co_str, k_json_parse),
        udf(
            "from_iso8601_timestamp",
            ret_ts_utc,
            co_str,
            k_from_iso8601_timestamp,
        ),
        udf("from_iso8601_date", ret_date, co_str, k_from_iso8601_date),
        udf("to_iso8601", ret_utf8, co_ts, k_to_iso8601),
        udf("date_parse", ret_ts_naive, co_str_str, k_date_parse),
        udf("date_format", ret_utf8, co_ts_str, k_date_format),
        udf("date_add", ret_same_ts3, co_date_add, k_date_add),
        udf("date_diff", ret_int, co_date_diff, k_date_diff),
        udf("element_at", ret_element_at, co_element_at, k_element_at),
    ]
    .into_iter()
    .chain(crate::strings::functions())
    .chain(crate::url::functions())
    .chain(crate::arrays::functions())
    .chain(crate::dates::functions())
    .chain(crate::maps::functions())
    .collect()
}

/// Register every function on a session (replacing DataFusion's functions of the same name,
/// e.g. its `date_format` alias of `to_char`, which uses chrono's format letters, not Trino's).
pub fn register_all(ctx: &SessionContext) {
    for f in all_functions() {
        ctx.register_udf(f);
    }
}

// ---- argument coercion -------------------------------------------------------------------

pub(crate) fn is_str(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

pub(crate) fn want_str(name: &str, t: &DataType) -> Result<DataType> {
    if is_str(t) || matches!(t, DataType::Dictionary(_, v) if is_str(v)) {
        Ok(DataType::Utf8)
    } else {
        plan_err!("{name}: expected a string (JSON text), got {t}")
    }
}

pub(crate) fn arity(types: &[DataType], n: usize, usage: &str) -> Result<()> {
    if types.len() != n {
        return plan_err!("expected {usage}, got {} argument(s)", types.len());
    }
    Ok(())
}

pub(crate) fn co_str(t: &[DataType]) -> Result<Vec<DataType>> {
    arity(t, 1, "one string argument")?;
    Ok(vec![want_str("argument", &t[0])?])
}
/// JSON text, or any other value (struct, list, map, number...) to be written as JSON.
fn co_json_or_value(t: &[DataType]) -> Result<Vec<DataType>> {
    arity(t, 1, "one argument")?;
    Ok(vec![
        want_str("argument", &t[0]).unwrap_or_else(|_| t[0].clone())
    ])
}
pub(crate) fn co_str_str(t: &[DataType]) -> Result<Vec<DataType>> {
    arity(t, 2, "(json, path) or (string, format)")?;
    Ok(vec![
        want_str("1st argument", &t[0])?,
        want_str("2nd argument", &t[1])?,
    ])
}
fn co_str_int(t: &[DataType]) -> Result<Vec<DataType>> {
    arity(t, 2, "(json_array, index)")?;
    Ok(vec![want_str("1st argument", &t[0])?, DataType::Int64])
}
fn co_str_any(t: &[DataType]) -> Result<Vec<DataType>> {
    arity(t, 2, "(json_array, value)")?;
    let v = match &t[1] {
        DataType::Boolean => DataType::Boolean,
        x if x.is_numeric() => DataType::Float64,
        _ => DataType::Utf8,
    };
    Ok(vec![want_str("1st argument", &t[0])?, v])
}
pub(crate) fn ts_target(t: &DataType) -> Result<DataType> {
    Ok(match t {
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
        DataType::Date32 | DataType::Date64 => DataType::Timestamp(TimeUnit::Millisecond, None),
        x if is_str(x) => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        x => return plan_err!("expected a timestamp, got {x}"),
    })
}
pub(crate) fn co_ts(t: &[DataType]) -> Result<Vec<DataType>> {
    arity(t, 1, "one timestamp")?;
    Ok(vec![ts_target(&t[0])?])
}
pub(crate) fn co_ts_str(t: &[DataType]) -> Result<Vec<DataType>> {
    arity(t, 2, "(timestamp, format)")?;
    Ok(vec![ts_target(&t[0])?, want_str("format", &t[1])?])
}
fn co_date_add(t: &[DataType]) -> Result<Vec<DataType>> {
    arity(t, 3, "(unit, value, timestamp)")?;
    Ok(vec![
        want_str("unit", &t[0])?,
        DataType::Int64,
        ts_target(&t[2])?,
    ])
}
fn co_date_diff(t: &[DataType]) -> Result<Vec<DataType>> {
    arity(t, 3, "(unit, timestamp1, timestamp2)")?;
    let a = ts_target(&t[1])?;
    let b = ts_target(&t[2])?;
    // Compare in one type: both carry the zone of the first that has one.
    let tz = match (&a, &b) {
        (DataType::Timestamp(_, Some(z)), _) | (_, DataType::Timestamp(_, Some(z))) => {
            Some(z.clone())
        }
        _ => None,
    };
    let ts = DataType::Timestamp(TimeUnit::Millisecond, tz);
    Ok(vec![want_str("unit", &t[0])?, ts.clone(), ts])
}
fn co_element_at(t: &[DataType]) -> Result<Vec<DataType>> {
    arity(t, 2, "(array, index) or (map, key)")?;
    match &t[0] {
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => {
            let item = match &t[0] {
                DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                    f.clone()
                }
                _ => unreachable!(),
            };
            Ok(vec![DataType::List(item), DataType::Int64])
        }
        DataType::Map(entries, _) => {
            let key = match entries.data_type() {
                DataType::Struct(fs) => fs[0].data_type().clone(),
                _ => return plan_err!("element_at: malformed map type"),
            };
            Ok(vec![t[0].clone(), key])
        }
        other => plan_err!("element_at: expected an array or a map, got {other}"),
    }
}

// ---- return types ------------------------------------------------------------------------

pub(crate) fn ret_utf8(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Utf8)
}
pub(crate) fn ret_int(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Int64)
}
pub(crate) fn ret_bool(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Boolean)
}
fn ret_date(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Date32)
}
pub(crate) fn ret_ts_utc(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Timestamp(
        TimeUnit::Millisecond,
        Some("UTC".into()),
    ))
}
fn ret_ts_naive(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Timestamp(TimeUnit::Millisecond, None))
}
fn ret_same_ts3(t: &[DataType]) -> Result<DataType> {
    ts_target(t.get(2).unwrap_or(&DataType::Null))
}
fn ret_element_at(t: &[DataType]) -> Result<DataType> {
    match t.first() {
        Some(DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)) => {
            Ok(f.data_type().clone())
        }
        Some(DataType::Map(entries, _)) => match entries.data_type() {
            DataType::Struct(fs) => Ok(fs[1].data_type().clone()),
            _ => plan_err!("element_at: malformed map type"),
        },
        _ => plan_err!("element_at: expected an array or a map"),
    }
}

// ---- argument access ---------------------------------------------------------------------

/// A string argument: one value for all rows, or a column.
pub(crate) enum Strs<'a> {
    One(Option<&'a str>),
    Col(&'a StringArray),
}

impl<'a> Strs<'a> {
    pub(crate) fn of(v: &'a ColumnarValue) -> Result<Strs<'a>> {
        Ok(match v {
            ColumnarValue::Scalar(ScalarValue::Utf8(s)) => Strs::One(s.as_deref()),
            ColumnarValue::Scalar(ScalarValue::Null) => Strs::One(None),
            ColumnarValue::Array(a) => match a.as_string_opt::<i32>() {
                Some(s) => Strs::Col(s),
                None => return exec_err!("expected a string column, got {}", a.data_type()),
            },
            ColumnarValue::Scalar(s) => {
                return exec_err!("expected a string, got {}", s.data_type())
            }
        })
    }
    pub(crate) fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Strs::One(s) => *s,
            Strs::Col(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

pub(crate) fn to_array(v: &ColumnarValue, n: usize) -> Result<ArrayRef> {
    v.to_array(n)
}

/// A JSONPath argument, parsed once when it is a constant.
enum Paths<'a> {
    One(Option<JsonPath>),
    Col(&'a StringArray),
}

impl<'a> Paths<'a> {
    fn of(v: &'a ColumnarValue) -> Result<Paths<'a>> {
        Ok(match Strs::of(v)? {
            Strs::One(None) => Paths::One(None),
            Strs::One(Some(p)) => Paths::One(Some(jsonpath::parse(p).map_err(exec_error)?)),
            Strs::Col(a) => Paths::Col(a),
        })
    }
    fn with<T>(&self, i: usize, f: impl FnOnce(&JsonPath) -> Option<T>) -> Result<Option<T>> {
        match self {
            Paths::One(p) => Ok(p.as_ref().and_then(f)),
            Paths::Col(a) => {
                if a.is_null(i) {
                    return Ok(None);
                }
                let p = jsonpath::parse(a.value(i)).map_err(exec_error)?;
                Ok(f(&p))
            }
        }
    }
}

pub(crate) fn exec_error(msg: String) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::Execution(msg)
}

// ---- JSON kernels ------------------------------------------------------------------------

fn k_json_extract_scalar(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    json_path_strings(a, n, |p, j| p.extract_scalar(j))
}

fn k_json_extract(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    json_path_strings(a, n, |p, j| p.extract(j))
}

fn json_path_strings(
    a: &[ColumnarValue],
    n: usize,
    f: impl Fn(&JsonPath, &str) -> Option<String>,
) -> Result<ArrayRef> {
    let json = Strs::of(&a[0])?;
    let paths = Paths::of(&a[1])?;
    let mut out = StringBuilder::with_capacity(n, n * 8);
    for i in 0..n {
        let v = match json.get(i) {
            Some(j) => paths.with(i, |p| f(p, j))?,
            None => None,
        };
        out.append_option(v);
    }
    Ok(Arc::new(out.finish()))
}

/// The elements of a JSON array; `None` for anything else, and for text nested too deep to
/// parse (see [`trailql_decode::nesting`]), as for text that is not JSON.
fn json_array_elems(json: &str) -> Option<Vec<sonic_rs::LazyValue<'_>>> {
    let t = json.trim_start();
    if !t.starts_with('[') || too_deep(t.as_bytes()) {
        return None;
    }
    sonic_rs::to_array_iter(t)
        .collect::<std::result::Result<Vec<_>, _>>()
        .ok()
}

fn k_json_array_get(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let json = Strs::of(&a[0])?;
    let idx = to_array(&a[1], n)?;
    let idx = idx.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    let mut out = StringBuilder::new();
    for i in 0..n {
        let v = json
            .get(i)
            .zip(idx.is_valid(i).then(|| idx.value(i)))
            .and_then(|(j, k)| {
                let elems = json_array_elems(j)?;
                let len = elems.len() as i64;
                let pos = if k < 0 { len + k } else { k };
                (0..len)
                    .contains(&pos)
                    .then(|| elems[pos as usize].as_raw_str().to_string())
            });
        out.append_option(v);
    }
    Ok(Arc::new(out.finish()))
}

fn k_json_array_length(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let json = Strs::of(&a[0])?;
    let out: Int64Array = (0..n)
        .map(|i| {
            json.get(i)
                .and_then(json_array_elems)
                .map(|e| e.len() as i64)
        })
        .collect();
    Ok(Arc::new(out))
}

fn k_json_array_contains(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let json = Strs::of(&a[0])?;
    let needle = to_array(&a[1], n)?;
    let mut out = BooleanBuilder::with_capacity(n);
    for i in 0..n {
        let Some(elems) = json.get(i).and_then(json_array_elems) else {
            out.append_null();
            continue;
        };
        if needle.is_null(i) {
            out.append_null();
            continue;
        }
        let found = match needle.data_type() {
            DataType::Boolean => {
                let b = needle.as_boolean().value(i);
                elems.iter().any(|e| e.as_bool() == Some(b))
            }
            DataType::Float64 => {
                let x = needle
                    .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                    .value(i);
                elems.iter().any(|e| e.as_f64() == Some(x))
            }
            _ => {
                let s = needle.as_string::<i32>().value(i);
                elems.iter().any(|e| e.as_str() == Some(s))
            }
        };
        out.append_value(found);
    }
    Ok(Arc::new(out.finish()))
}

fn k_json_size(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let json = Strs::of(&a[0])?;
    let paths = Paths::of(&a[1])?;
    let mut out = Int64Builder::with_capacity(n);
    for i in 0..n {
        let v = match json.get(i) {
            Some(j) => paths.with(i, |p| {
                let v = p.get(j)?;
                Some(match v.get_type() {
                    JsonType::Object => sonic_rs::to_object_iter(v.as_raw_str()).count() as i64,
                    JsonType::Array => sonic_rs::to_array_iter(v.as_raw_str()).count() as i64,
                    _ => 0,
                })
            })?,
            None => None,
        };
        out.append_option(v);
    }
    Ok(Arc::new(out.finish()))
}

/// JSON text written compactly. Text nested too deep to parse is kept as it is.
fn canonical_json(s: &str) -> std::result::Result<String, String> {
    if too_deep(s.as_bytes()) {
        return Ok(s.to_string());
    }
    let v: sonic_rs::Value = sonic_rs::from_str(s).map_err(|e| e.to_string())?;
    sonic_rs::to_string(&v).map_err(|e| e.to_string())
}

fn k_json_format(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let arg_type = a[0].data_type();
    if !is_str(&arg_type) {
        // Trino writes `json_format(CAST(x AS JSON))`; here the value itself is accepted.
        return value_to_json(&a[0].to_array(n)?);
    }
    let json = Strs::of(&a[0])?;
    let out: StringArray = (0..n)
        .map(|i| json.get(i).and_then(|j| canonical_json(j).ok()))
        .collect();
    Ok(Arc::new(out))
}

/// Each row of a non-text array as compact JSON text (NULL stays NULL).
fn value_to_json(array: &ArrayRef) -> Result<ArrayRef> {
    use datafusion::arrow::json::writer::{make_encoder, EncoderOptions};
    let field = Arc::new(datafusion::arrow::datatypes::Field::new(
        "v",
        array.data_type().clone(),
        true,
    ));
    let options = EncoderOptions::default();
    let mut enc = make_encoder(&field, array.as_ref(), &options)?;
    let mut out = StringBuilder::new();
    let mut buf = Vec::new();
    for i in 0..array.len() {
        if enc.is_null(i) {
            out.append_null();
            continue;
        }
        buf.clear();
        enc.encode(i, &mut buf);
        out.append_value(String::from_utf8_lossy(&buf));
    }
    Ok(Arc::new(out.finish()))
}

fn k_json_parse(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let json = Strs::of(&a[0])?;
    let mut out = StringBuilder::new();
    for i in 0..n {
        match json.get(i) {
            None => out.append_null(),
            Some(j) => match canonical_json(j) {
                Ok(c) => out.append_value(c),
                Err(e) => {
                    return exec_err!(
                        "json_parse: {:.80} is not valid JSON ({e}); use try(json_parse(...)) or json_extract to skip bad values",
                        j
                    )
                }
            },
        }
    }
    Ok(Arc::new(out.finish()))
}

// ---- time kernels ------------------------------------------------------------------------

fn k_from_iso8601_timestamp(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let s = Strs::of(&a[0])?;
    let out: TimestampMillisecondArray = (0..n)
        .map(|i| {
            s.get(i)
                .and_then(time::parse_iso8601)
                .map(|t| t.timestamp_millis())
        })
        .collect();
    Ok(Arc::new(out.with_timezone("UTC")))
}

fn k_from_iso8601_date(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let s = Strs::of(&a[0])?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let out: Date32Array = (0..n)
        .map(|i| {
            s.get(i)
                .and_then(time::parse_iso8601_date)
                .map(|d| (d - epoch).num_days() as i32)
        })
        .collect();
    Ok(Arc::new(out))
}

/// Millisecond timestamps of a coerced timestamp argument, and whether it carries a zone.
pub(crate) fn millis(v: &ColumnarValue, n: usize) -> Result<(TimestampMillisecondArray, bool)> {
    let arr = to_array(v, n)?;
    let has_tz = matches!(arr.data_type(), DataType::Timestamp(_, Some(_)));
    let arr = arr
        .as_primitive_opt::<TimestampMillisecondType>()
        .cloned()
        .ok_or_else(|| exec_error(format!("expected a timestamp, got {}", arr.data_type())))?;
    Ok((arr, has_tz))
}

fn k_to_iso8601(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let (ts, has_tz) = millis(&a[0], n)?;
    // A zone other than UTC (`at_timezone`, `AT TIME ZONE`) is written as its offset, as Trino
    // does: 2024-08-01T08:00:00.000-04:00.
    let zone = match ts.data_type() {
        DataType::Timestamp(_, Some(z)) => z.parse::<Tz>().ok(),
        _ => None,
    };
    let out: StringArray = ts
        .iter()
        .map(|v| {
            let t = Utc.timestamp_millis_opt(v?).single()?;
            Some(match (&zone, has_tz) {
                (Some(z), _) => {
                    let local = t.with_timezone(z);
                    if local.offset().fix().local_minus_utc() == 0 {
                        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
                    } else {
                        local.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
                    }
                }
                (None, true) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                (None, false) => t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
            })
        })
        .collect();
    Ok(Arc::new(out))
}

/// A constant format argument as a chrono format (`convert` turns MySQL or Joda patterns into
/// one); `None` for NULL.
pub(crate) fn chrono_format(
    v: &ColumnarValue,
    convert: impl Fn(&str) -> std::result::Result<String, String>,
) -> Result<Option<String>> {
    match Strs::of(v)? {
        Strs::One(f) => f.map(convert).transpose().map_err(exec_error),
        Strs::Col(_) => exec_err!("the format must be a constant string"),
    }
}

/// Each timestamp written with a chrono format (all NULL for a NULL format).
pub(crate) fn format_millis(ts: &TimestampMillisecondArray, fmt: Option<&str>) -> ArrayRef {
    let Some(fmt) = fmt else {
        return Arc::new(StringArray::new_null(ts.len()));
    };
    let items: Vec<_> = chrono::format::StrftimeItems::new(fmt).collect();
    let out: StringArray = ts
        .iter()
        .map(|v| {
            let t = Utc.timestamp_millis_opt(v?).single()?;
            Some(t.format_with_items(items.iter()).to_string())
        })
        .collect();
    Arc::new(out)
}

fn k_date_parse(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let s = Strs::of(&a[0])?;
    let Some(fmt) = chrono_format(&a[1], time::mysql_to_chrono)? else {
        return Ok(Arc::new(TimestampMillisecondArray::new_null(n)));
    };
    let out: TimestampMillisecondArray = (0..n)
        .map(|i| {
            s.get(i)
                .and_then(|v| time::date_parse(v, &fmt))
                .map(|t| t.and_utc().timestamp_millis())
        })
        .collect();
    Ok(Arc::new(out))
}

fn k_date_format(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let (ts, _) = millis(&a[0], n)?;
    let fmt = chrono_format(&a[1], time::mysql_to_chrono)?;
    Ok(format_millis(&ts, fmt.as_deref()))
}

fn unit_arg(v: &ColumnarValue) -> Result<Option<time::Unit>> {
    match Strs::of(v)? {
        Strs::One(u) => u.map(time::parse_unit).transpose().map_err(exec_error),
        Strs::Col(_) => exec_err!("the unit must be a constant string such as 'day'"),
    }
}

fn k_date_add(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let unit = unit_arg(&a[0])?;
    let amount = to_array(&a[1], n)?;
    let amount = amount.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    let (ts, _) = millis(&a[2], n)?;
    let out: TimestampMillisecondArray = (0..n)
        .map(|i| {
            let u = unit?;
            let t = ts.is_valid(i).then(|| ts.value(i))?;
            let k = amount.is_valid(i).then(|| amount.value(i))?;
            time::add(u, k, t)
        })
        .collect();
    let tz = match &a[2].data_type() {
        DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    };
    Ok(Arc::new(out.with_timezone_opt(tz)))
}

fn k_date_diff(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let unit = unit_arg(&a[0])?;
    let (x, _) = millis(&a[1], n)?;
    let (y, _) = millis(&a[2], n)?;
    let out: Int64Array = (0..n)
        .map(|i| {
            let u = unit?;
            let a = x.is_valid(i).then(|| x.value(i))?;
            let b = y.is_valid(i).then(|| y.value(i))?;
            time::diff(u, a, b)
        })
        .collect();
    Ok(Arc::new(out))
}

// ---- element_at --------------------------------------------------------------------------

fn k_element_at(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let container = to_array(&a[0], n)?;
    let key = to_array(&a[1], n)?;
    let mut idx = UInt32Builder::with_capacity(n);
    match container.data_type() {
        DataType::List(_) => {
            let list = container.as_list::<i32>();
            let k = key.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            for i in 0..n {
                if list.is_null(i) || k.is_null(i) {
                    idx.append_null();
                    continue;
                }
                let start = list.value_offsets()[i] as i64;
                let len = list.value_length(i) as i64;
                let want = k.value(i);
                let pos = match want {
                    w if w > 0 && w <= len => Some(start + w - 1),
                    w if w < 0 && -w <= len => Some(start + len + w),
                    0 => return exec_err!("element_at: SQL array indices start at 1"),
                    _ => None,
                };
                idx.append_option(pos.map(|p| p as u32));
            }
            Ok(take(list.values().as_ref(), &idx.finish(), None)?)
        }
        DataType::Map(_, _) => {
            let map = container.as_map();
            let keys = map.keys();
            let text = |t: &DataType| {
                matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            };
            if text(keys.data_type()) && text(key.data_type()) {
                // String keys (every map here, e.g. Lake's requestParameters) compare as &str.
                let keys = datafusion::arrow::compute::cast(keys, &DataType::Utf8)?;
                let key = datafusion::arrow::compute::cast(&key, &DataType::Utf8)?;
                let (keys, key) = (keys.as_string::<i32>(), key.as_string::<i32>());
                for i in 0..n {
                    if map.is_null(i) || key.is_null(i) {
                        idx.append_null();
                        continue;
                    }
                    let want = key.value(i);
                    let (s, e) = (
                        map.value_offsets()[i] as usize,
                        map.value_offsets()[i + 1] as usize,
                    );
                    let found = (s..e).find(|&p| keys.is_valid(p) && keys.value(p) == want);
                    idx.append_option(found.map(|p| p as u32));
                }
                return Ok(take(map.values().as_ref(), &idx.finish(), None)?);
            }
            for i in 0..n {
                if map.is_null(i) || key.is_null(i) {
                    idx.append_null();
                    continue;
                }
                let want = ScalarValue::try_from_array(&key, i)?;
                let (s, e) = (
                    map.value_offsets()[i] as usize,
                    map.value_offsets()[i + 1] as usize,
                );
                let mut found = None;
                for p in s..e {
                    if ScalarValue::try_from_array(keys, p)? == want {
                        found = Some(p as u32);
                        break;
                    }
                }
                idx.append_option(found);
            }
            Ok(take(map.values().as_ref(), &idx.finish(), None)?)
        }
        other => exec_err!("element_at: expected an array or a map, got {other}"),
    }
}
