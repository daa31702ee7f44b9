//! `CURRENT_WATERMARK(ts)` (Flink): the watermark as it stood just before the row (NULL
//! while there is none yet), so queries can spot late rows themselves:
//! `WHERE ts > CURRENT_WATERMARK(ts)` keeps only rows that are not behind the watermark.
//!
//! The function needs the stream's per-row watermarks, which a plain expression cannot
//! see: lowering replaces each call with a reference to an extra column,
//! [`WATERMARK_COLUMN`], that the filter or projection evaluating it appends to its input
//! with [`with_watermark_column`]. The registered UDF only exists for name resolution and
//! typing; evaluated directly (a batch query) it is an error.

use std::sync::Arc;

use datafusion::arrow::array::TimestampMillisecondArray;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

use super::chunk::Chunk;
use crate::error::Result;

/// Name of the column lowering substitutes for `CURRENT_WATERMARK(..)`.
pub const WATERMARK_COLUMN: &str = "__current_watermark";

/// The function's name as registered.
pub const NAME: &str = "current_watermark";

/// Its type: Flink's `TIMESTAMP(3)`.
pub fn data_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

/// `chunk`'s batch with [`WATERMARK_COLUMN`] appended: each row's watermark before it,
/// or `current` for rows without one (rows an operator emitted); NULL before the first
/// watermark.
pub fn with_watermark_column(chunk: &Chunk, current: i64) -> Result<RecordBatch> {
    let n = chunk.num_rows();
    let value = |w: i64| (w != i64::MIN).then_some(w);
    let column: TimestampMillisecondArray = match &chunk.row_watermarks {
        Some(w) => w.iter().map(|w| value(w.unwrap_or(current))).collect(),
        None => std::iter::repeat_n(value(current), n).collect(),
    };
    let schema = chunk.batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(WATERMARK_COLUMN, data_type(), true));
    let mut columns = chunk.batch.columns().to_vec();
    columns.push(Arc::new(column));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

/// The UDF registered for planning.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(CurrentWatermark {
        signature: Signature::new(TypeSignature::Any(1), Volatility::Volatile),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CurrentWatermark {
    signature: Signature,
}

impl ScalarUDFImpl for CurrentWatermark {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> datafusion::error::Result<DataType> {
        match args {
            [DataType::Timestamp(_, _)] => Ok(data_type()),
            _ => plan_err!("CURRENT_WATERMARK takes the table's event-time (TIMESTAMP) column"),
        }
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        exec_err!("CURRENT_WATERMARK is only available in WHERE and SELECT of streaming queries")
    }
}
