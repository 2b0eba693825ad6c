//! The statements that register a lake in other engines, with Athena's column names and types,
//! so queries written for the raw `cloudtrail_logs` table run on the lake there too.

use std::collections::BTreeSet;
use std::fmt::Write;

use datafusion::arrow::datatypes::{DataType, Field};

use crate::columns::{file_schema, PARTITIONS};

/// An engine `lake ddl` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Athena: an external table with partition projection (no crawler, no `MSCK REPAIR`).
    Athena,
    /// Spark SQL: a partitioned Parquet table, partitions recovered from the folders.
    Spark,
    /// Trino's Hive connector: an external table and a partition sync.
    Trino,
    /// DuckDB: a view over `read_parquet` with Hive partitioning.
    DuckDb,
}

/// What the DDL needs to know of the lake.
#[derive(Debug, Clone, Default)]
pub struct LakeShape {
    /// Where the engine finds it: `s3://bucket/prefix` or a local folder.
    pub location: String,
    pub accounts: BTreeSet<String>,
    pub regions: BTreeSet<String>,
    /// The first and last `date` partitions.
    pub first_day: Option<String>,
    pub last_day: Option<String>,
}

/// Hive / Athena / Spark type text.
pub fn hive_type(t: &DataType) -> String {
    match t {
        DataType::Struct(fs) => format!(
            "struct<{}>",
            fs.iter()
                .map(|f| format!("{}:{}", f.name(), hive_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        DataType::List(f) => format!("array<{}>", hive_type(f.data_type())),
        DataType::Map(_, _) => "map<string,string>".into(),
        DataType::Boolean => "boolean".into(),
        _ => "string".into(),
    }
}

fn trino_type(t: &DataType) -> String {
    match t {
        DataType::Struct(fs) => format!(
            "ROW({})",
            fs.iter()
                .map(|f| format!("\"{}\" {}", f.name(), trino_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DataType::List(f) => format!("ARRAY({})", trino_type(f.data_type())),
        DataType::Map(_, _) => "MAP(varchar, varchar)".into(),
        DataType::Boolean => "boolean".into(),
        _ => "varchar".into(),
    }
}

/// Backquoted where Hive-family engines need it.
fn hive_name(n: &str) -> String {
    if matches!(n, "date" | "timestamp")
        || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        format!("`{n}`")
    } else {
        n.to_string()
    }
}

fn columns(render: impl Fn(&Field) -> String) -> String {
    file_schema()
        .fields()
        .iter()
        .map(|f| format!("  {}", render(f)))
        .collect::<Vec<_>>()
        .join(",\n")
}

/// `location` with one trailing `/`.
fn dir(location: &str) -> String {
    format!("{}/", location.trim_end_matches('/'))
}

/// The statement(s) registering the lake as table `table` in `dialect`.
pub fn ddl(dialect: Dialect, table: &str, lake: &LakeShape) -> String {
    let loc = dir(&lake.location);
    let mut out = String::new();
    match dialect {
        Dialect::Athena => {
            if !loc.starts_with("s3://") {
                let _ = writeln!(
                    out,
                    "-- Athena reads S3: sync the lake to s3://… (trailql lake sync --lake s3://BUCKET/PREFIX) and print this again for it."
                );
            }
            let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
            let first = lake
                .first_day
                .clone()
                .unwrap_or_else(|| "2013-11-01".into());
            let _ = write!(
                out,
                "CREATE EXTERNAL TABLE {table} (\n{}\n)\nPARTITIONED BY (account string, region string, `date` string)\nSTORED AS PARQUET\nLOCATION '{loc}'\nTBLPROPERTIES (\n  'projection.enabled' = 'true',\n",
                columns(|f| format!("{} {}", hive_name(f.name()), hive_type(f.data_type()))),
            );
            if lake.accounts.is_empty() {
                out.push_str("  'projection.account.type' = 'injected',\n");
            } else {
                let _ = writeln!(
                    out,
                    "  'projection.account.type' = 'enum',\n  'projection.account.values' = '{}',",
                    list(&lake.accounts)
                );
            }
            if lake.regions.is_empty() {
                out.push_str("  'projection.region.type' = 'injected',\n");
            } else {
                let _ = writeln!(
                    out,
                    "  'projection.region.type' = 'enum',\n  'projection.region.values' = '{}',",
                    list(&lake.regions)
                );
            }
            let _ = write!(
                out,
                "  'projection.date.type' = 'date',\n  'projection.date.format' = 'yyyy-MM-dd',\n  'projection.date.range' = '{first},NOW',\n  'projection.date.interval' = '1',\n  'projection.date.interval.unit' = 'DAYS',\n  'storage.location.template' = '{loc}account=${{account}}/region=${{region}}/date=${{date}}'\n);\n"
            );
        }
        Dialect::Spark => {
            let _ = write!(
                out,
                "CREATE TABLE IF NOT EXISTS {table} (\n{},\n  account string,\n  region string,\n  `date` string\n)\nUSING parquet\nPARTITIONED BY (account, region, `date`)\nLOCATION '{loc}';\nMSCK REPAIR TABLE {table};\n",
                columns(|f| format!("{} {}", hive_name(f.name()), hive_type(f.data_type()))),
            );
        }
        Dialect::Trino => {
            let loc = loc.replacen("s3://", "s3a://", 1);
            let _ = write!(
                out,
                "CREATE TABLE {table} (\n{},\n  account varchar,\n  region varchar,\n  \"date\" varchar\n)\nWITH (\n  format = 'PARQUET',\n  external_location = '{loc}',\n  partitioned_by = ARRAY['account', 'region', 'date']\n);\nCALL system.sync_partition_metadata(current_schema, '{table}', 'FULL');\n",
                columns(|f| format!("\"{}\" {}", f.name(), trino_type(f.data_type()))),
            );
        }
        Dialect::DuckDb => {
            let types = PARTITIONS
                .iter()
                .map(|p| format!("'{p}': 'VARCHAR'"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(
                out,
                "CREATE OR REPLACE VIEW {table} AS\nSELECT * FROM read_parquet('{loc}*/*/*/*.parquet', hive_partitioning = true, hive_types = {{{types}}});\n"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(location: &str) -> LakeShape {
        LakeShape {
            location: location.into(),
            accounts: ["111122223333".to_string()].into(),
            regions: ["us-east-1".to_string(), "eu-west-1".to_string()].into(),
            first_day: Some("2024-08-01".into()),
            last_day: Some("2024-08-07".into()),
        }
    }

    #[test]
    fn athena_uses_projection_over_the_lake_layout() {
        let d = ddl(Dialect::Athena, "cloudtrail_logs", &shape("s3://b/lake"));
        assert!(d.contains("LOCATION 's3://b/lake/'"), "{d}");
        assert!(
            d.contains("'projection.account.values' = '111122223333'"),
            "{d}"
        );
        assert!(
            d.contains("'projection.region.values' = 'eu-west-1,us-east-1'"),
            "{d}"
        );
        assert!(
            d.contains("'projection.date.range' = '2024-08-01,NOW'"),
            "{d}"
        );
        assert!(d.contains(
            "'storage.location.template' = 's3://b/lake/account=${account}/region=${region}/date=${date}'"
        ));
        assert!(d.contains("resources array<struct<arn:string,accountid:string,type:string>>"));
        assert!(!d.contains("-- Athena reads S3"));
        assert!(ddl(Dialect::Athena, "t", &shape("/tmp/lake")).starts_with("-- Athena reads S3"));
    }

    #[test]
    fn trino_and_spark_put_partitions_last() {
        let t = ddl(Dialect::Trino, "cloudtrail_logs", &shape("s3://b/lake"));
        assert!(t.contains("external_location = 's3a://b/lake/'"), "{t}");
        assert!(t.trim_end().ends_with("'FULL');"));
        assert!(t.contains("\"date\" varchar\n)"));
        let s = ddl(Dialect::Spark, "cloudtrail_logs", &shape("/tmp/lake"));
        assert!(s.contains("`date` string\n)\nUSING parquet"), "{s}");
        assert!(s.contains("MSCK REPAIR TABLE cloudtrail_logs;"));
    }
}
