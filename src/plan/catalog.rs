//! Tables and views known to a session, and how they appear to DataFusion's SQL planner.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session as DfSession, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::sqlparser::ast::{self, DataType as SqlType, ExactNumberInfo, TimezoneInfo};

use crate::error::{Error, Result};
use crate::sql::ast::CreateTable;

/// A declared table: a source (or sink) with its resolved schema.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// Name.
    pub name: String,
    /// The DDL it came from.
    pub ddl: CreateTable,
    /// Columns the connector produces (declared, non-computed), in order.
    pub physical_schema: SchemaRef,
    /// All columns: physical ones then... in declaration order, computed ones included.
    pub schema: SchemaRef,
    /// The event-time attribute (`WATERMARK FOR col`), if any.
    pub time_attribute: Option<String>,
    /// Rows inserted with `INSERT INTO t VALUES` (the `values` connector's content).
    pub values: Vec<datafusion::arrow::record_batch::RecordBatch>,
    /// The live rows of a `memory` table.
    pub memory: Arc<crate::connectors::memory::MemoryLog>,
}

impl TableDef {
    /// The `'connector'` option, lower-cased.
    pub fn connector(&self) -> Option<String> {
        self.ddl.options.get("connector").map(|c| c.to_ascii_lowercase())
    }
}

/// How a declared table appears to DataFusion's planner: a schema that cannot be scanned
/// in batch mode (our runtime reads it instead).
#[derive(Debug)]
pub struct StreamTable {
    /// Table name.
    pub name: String,
    /// Full schema (computed columns included).
    pub schema: SchemaRef,
    /// Event-time column, if the table declares a watermark.
    pub time_attribute: Option<String>,
}

#[async_trait]
impl TableProvider for StreamTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::Base
    }
    async fn scan(
        &self,
        _state: &dyn DfSession,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Err(DataFusionError::Plan(format!("'{}' is a stream; it is read by the streaming runtime", self.name)))
    }
}

impl StreamTable {
    /// Downcasts a DataFusion provider to a `StreamTable`.
    pub fn from_provider(p: &dyn TableProvider) -> Option<&StreamTable> {
        (p as &dyn Any).downcast_ref::<StreamTable>()
    }
}

/// Maps a SQL column type to Arrow, following Flink's type names.
pub fn arrow_type(t: &SqlType) -> Result<DataType> {
    use SqlType as S;
    Ok(match t {
        S::TinyInt(_) => DataType::Int8,
        S::SmallInt(_) => DataType::Int16,
        S::Int(_) | S::Integer(_) | S::Int4(_) => DataType::Int32,
        S::BigInt(_) | S::Int8(_) | S::Int64 => DataType::Int64,
        S::Float(_) | S::Real | S::Float4 | S::Float32 => DataType::Float32,
        S::Double(_) | S::DoublePrecision | S::Float8 | S::Float64 => DataType::Float64,
        S::Boolean | S::Bool => DataType::Boolean,
        S::Varchar(_)
        | S::Char(_)
        | S::Character(_)
        | S::CharVarying(_)
        | S::CharacterVarying(_)
        | S::Text
        | S::String(_)
        | S::Nvarchar(_) => DataType::Utf8,
        S::Bytea | S::Bytes(_) | S::Binary(_) | S::Varbinary(_) | S::Blob(_) => DataType::Binary,
        S::Date => DataType::Date32,
        S::Decimal(info) | S::Numeric(info) | S::Dec(info) => match info {
            ExactNumberInfo::PrecisionAndScale(p, s) => DataType::Decimal128(*p as u8, *s as i8),
            ExactNumberInfo::Precision(p) => DataType::Decimal128(*p as u8, 0),
            ExactNumberInfo::None => DataType::Decimal128(38, 18),
        },
        S::Timestamp(precision, tz) => {
            let unit = match precision.unwrap_or(6) {
                0..=3 => TimeUnit::Millisecond,
                4..=6 => TimeUnit::Microsecond,
                _ => TimeUnit::Nanosecond,
            };
            let tz = match tz {
                TimezoneInfo::WithTimeZone | TimezoneInfo::Tz => Some(Arc::from("UTC")),
                _ => None,
            };
            DataType::Timestamp(unit, tz)
        }
        S::Custom(name, args) if name.to_string().eq_ignore_ascii_case("timestamp_ltz") => {
            let p = args.first().and_then(|a| a.parse::<u64>().ok()).unwrap_or(6);
            let unit = if p <= 3 { TimeUnit::Millisecond } else { TimeUnit::Microsecond };
            DataType::Timestamp(unit, Some(Arc::from("UTC")))
        }
        S::Custom(name, _) if name.to_string().eq_ignore_ascii_case("string") => DataType::Utf8,
        other => return Err(Error::sql(format!("column type {other} is not supported"))),
    })
}

/// The physical schema (declared, non-computed columns) of a `CREATE TABLE`.
pub fn physical_schema(ddl: &CreateTable) -> Result<SchemaRef> {
    let mut fields = Vec::new();
    for c in &ddl.columns {
        if let Some(t) = &c.data_type {
            fields.push(Field::new(&c.name, arrow_type(t)?, !c.not_null));
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Whether a SQL expression calls `PROCTIME()` (processing time, not supported yet).
pub fn mentions_proctime(e: &ast::Expr) -> bool {
    e.to_string().to_ascii_uppercase().contains("PROCTIME(")
}

/// Options as a sorted map (for display in DESCRIBE).
pub fn options_text(options: &BTreeMap<String, String>) -> String {
    options.iter().map(|(k, v)| format!("'{k}' = '{v}'")).collect::<Vec<_>>().join(", ")
}
