//! Trino's date-part functions (`year(ts)` … `millisecond(ts)`, `day_of_week`, `day_of_year`
//! and their short names), Joda-pattern `parse_datetime` / `format_datetime`, and `typeof`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, AsArray, Int64Array, StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::compute::kernels::temporal::{date_part, DatePart};
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};

use crate::time;
use crate::udf::{
    chrono_format, co_str_str, co_ts, co_ts_str, format_millis, millis, ret_int, ret_ts_utc,
    ret_utf8, to_array, udf, Strs,
};

macro_rules! parts {
    ($($name:literal => $kernel:ident ($part:expr, $add:expr)),* $(,)?) => {
        $(
            fn $kernel(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
                part(a, n, $part, $add)
            }
        )*
        fn part_functions() -> Vec<ScalarUDF> {
            vec![$(udf($name, ret_int, co_ts, $kernel)),*]
        }
    };
}

parts! {
    "year" => k_year(DatePart::Year, 0),
    "quarter" => k_quarter(DatePart::Quarter, 0),
    "month" => k_month(DatePart::Month, 0),
    "week" => k_week(DatePart::Week, 0),
    "week_of_year" => k_week_of_year(DatePart::Week, 0),
    "day" => k_day(DatePart::Day, 0),
    "day_of_month" => k_day_of_month(DatePart::Day, 0),
    "day_of_week" => k_day_of_week(DatePart::DayOfWeekMonday0, 1),
    "dow" => k_dow(DatePart::DayOfWeekMonday0, 1),
    "day_of_year" => k_day_of_year(DatePart::DayOfYear, 0),
    "doy" => k_doy(DatePart::DayOfYear, 0),
    "hour" => k_hour(DatePart::Hour, 0),
    "minute" => k_minute(DatePart::Minute, 0),
    "second" => k_second(DatePart::Second, 0),
    "millisecond" => k_millisecond(DatePart::Millisecond, 0),
}

pub(crate) fn functions() -> Vec<ScalarUDF> {
    let mut f = part_functions();
    f.push(udf(
        "parse_datetime",
        ret_ts_utc,
        co_str_str,
        k_parse_datetime,
    ));
    f.push(udf(
        "format_datetime",
        ret_utf8,
        co_ts_str,
        k_format_datetime,
    ));
    f.push(udf("typeof", ret_utf8, co_any, k_typeof));
    f
}

/// A field of each timestamp, in its own time zone (Trino's semantics), ISO day of week 1–7.
fn part(a: &[ColumnarValue], n: usize, p: DatePart, add: i64) -> Result<ArrayRef> {
    let ts = to_array(&a[0], n)?;
    let v = date_part(ts.as_ref(), p)?;
    let v = v.as_primitive::<Int32Type>();
    let out: Int64Array = v
        .iter()
        .map(|x| {
            x.map(|x| match p {
                // Arrow's is the millisecond of the minute.
                DatePart::Millisecond => i64::from(x) % 1000,
                _ => i64::from(x) + add,
            })
        })
        .collect();
    Ok(Arc::new(out))
}

fn k_parse_datetime(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let s = Strs::of(&a[0])?;
    let Some(fmt) = chrono_format(&a[1], |f| time::joda_to_chrono(f, time::Joda::Parse))? else {
        return Ok(Arc::new(
            TimestampMillisecondArray::new_null(n).with_timezone("UTC"),
        ));
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let Some(v) = s.get(i) else {
            out.push(None);
            continue;
        };
        let t = DateTime::parse_from_str(v, &fmt)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| time::date_parse(v, &fmt).map(|t| t.and_utc()));
        match t {
            Some(t) => out.push(Some(t.timestamp_millis())),
            None => {
                return exec_err!(
                    "parse_datetime: {v:?} does not match the format (use try(parse_datetime(...)) to get NULL instead)"
                )
            }
        }
    }
    Ok(Arc::new(
        TimestampMillisecondArray::from(out).with_timezone("UTC"),
    ))
}

fn k_format_datetime(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let (ts, _) = millis(&a[0], n)?;
    let fmt = chrono_format(&a[1], |f| time::joda_to_chrono(f, time::Joda::Format))?;
    Ok(format_millis(&ts, fmt.as_deref()))
}

fn co_any(t: &[DataType]) -> Result<Vec<DataType>> {
    crate::udf::arity(t, 1, "one argument")?;
    Ok(t.to_vec())
}

/// The Trino name of an Arrow type.
pub(crate) fn trino_type(t: &DataType) -> String {
    use DataType::*;
    match t {
        Null => "unknown".into(),
        Boolean => "boolean".into(),
        Int8 => "tinyint".into(),
        Int16 => "smallint".into(),
        Int32 => "integer".into(),
        Int64 | UInt64 | UInt32 | UInt16 | UInt8 => "bigint".into(),
        Float32 => "real".into(),
        Float64 => "double".into(),
        Decimal128(p, s) | Decimal256(p, s) => format!("decimal({p},{s})"),
        Utf8 | LargeUtf8 | Utf8View => "varchar".into(),
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => "varbinary".into(),
        Date32 | Date64 => "date".into(),
        Timestamp(unit, tz) => {
            let p = match unit {
                datafusion::arrow::datatypes::TimeUnit::Second => 0,
                datafusion::arrow::datatypes::TimeUnit::Millisecond => 3,
                datafusion::arrow::datatypes::TimeUnit::Microsecond => 6,
                datafusion::arrow::datatypes::TimeUnit::Nanosecond => 9,
            };
            match tz {
                Some(_) => format!("timestamp({p}) with time zone"),
                None => format!("timestamp({p})"),
            }
        }
        Interval(_) | Duration(_) => "interval day to second".into(),
        List(f) | LargeList(f) | FixedSizeList(f, _) | ListView(f) | LargeListView(f) => {
            format!("array({})", trino_type(f.data_type()))
        }
        Map(entries, _) => match entries.data_type() {
            Struct(fs) if fs.len() == 2 => format!(
                "map({}, {})",
                trino_type(fs[0].data_type()),
                trino_type(fs[1].data_type())
            ),
            _ => "map".into(),
        },
        Struct(fs) => format!(
            "row({})",
            fs.iter()
                .map(|f| format!("{} {}", f.name(), trino_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Dictionary(_, v) => trino_type(v),
        other => other.to_string().to_lowercase(),
    }
}

fn k_typeof(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let name = trino_type(&a[0].data_type());
    Ok(Arc::new(StringArray::from(vec![name.as_str(); n])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trino_type_names() {
        assert_eq!(trino_type(&DataType::Utf8), "varchar");
        let schema = trailql_decode::table_schema();
        let r = schema.field_with_name("resources").unwrap();
        assert_eq!(
            trino_type(r.data_type()),
            "array(row(arn varchar, accountid varchar, type varchar))"
        );
    }
}
