//! What a lake file holds and how it is written: every record column of `cloudtrail_logs` with its
//! type, `eventjson` (the whole record, so nothing is lost) and `sourcefile` (the trail file it
//! came from); the partition values are in the folder names, Hive style.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use trailql_decode::schema::{data_type, record_specs};

pub const EVENTTIME: &str = "eventtime";
pub const EVENTID: &str = "eventid";
pub const EVENTJSON: &str = "eventjson";
pub const SOURCEFILE: &str = "sourcefile";
/// The Hive partition columns, outermost first.
pub const PARTITIONS: [&str; 3] = ["account", "region", "date"];
/// Rows per row group: small enough that a reader holds a few MB per file, large enough for
/// zstd and statistics to pay.
pub const ROW_GROUP_ROWS: usize = 65_536;
/// False-positive rate of the `eventid` bloom filters (measured: about 1.8 bytes a row).
const BLOOM_FPP: f64 = 0.01;
/// Key of the file metadata entry that marks a trailql lake file (its value: the format version).
pub const FORMAT_KEY: &str = "trailql.lake";

/// The schema of every Parquet file in the lake.
pub fn file_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields: Vec<Field> = record_specs()
                .iter()
                .map(|s| Field::new(s.name, data_type(s), true))
                .collect();
            fields.push(Field::new(EVENTJSON, DataType::Utf8, true));
            fields.push(Field::new(SOURCEFILE, DataType::Utf8, true));
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// Index of a column in [`file_schema`].
pub fn index(name: &str) -> usize {
    file_schema()
        .index_of(name)
        .expect("a column of the lake schema")
}

/// zstd, statistics per row group on every column and per page on `eventtime` only (page-index
/// pruning by time; in files sorted by time the other columns' pages span all their values, so
/// their page statistics would be read and parsed without pruning), standard nested-type names
/// (lists as `element`, maps as `key_value`, which Athena, Spark and Trino expect), no
/// dictionary for the per-row unique texts, and a bloom filter on `eventid` (a lookup by id
/// reads only the file holding it; sized for a row group, then folded to the rows written).
///
/// zstd level 1: on CloudTrail's columns, in Parquet's page-sized blocks, it is faster than
/// level 3 and no larger (measured: `eventjson` 7.47x against 7.35x on a bench partition; the
/// other columns of twelve bench files 2% smaller).
pub fn writer_properties() -> WriterProperties {
    let unique = |c: &str| ColumnPath::from(c);
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("a valid zstd level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_coerce_types(true)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_column_statistics_enabled(unique(EVENTTIME), EnabledStatistics::Page)
        .set_column_dictionary_enabled(unique(EVENTJSON), false)
        .set_column_dictionary_enabled(unique(EVENTID), false)
        .set_column_dictionary_enabled(unique("requestid"), false)
        .set_column_statistics_enabled(unique(EVENTJSON), EnabledStatistics::None)
        .set_column_bloom_filter_enabled(unique(EVENTID), true)
        .set_column_bloom_filter_fpp(unique(EVENTID), BLOOM_FPP)
        .set_column_bloom_filter_max_ndv(unique(EVENTID), ROW_GROUP_ROWS as u64)
        .set_key_value_metadata(Some(vec![KeyValue::new(
            FORMAT_KEY.to_string(),
            "1".to_string(),
        )]))
        .build()
}
