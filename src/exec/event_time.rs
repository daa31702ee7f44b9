//! Evaluating event-time expressions to milliseconds, the engine's one time unit.

use std::sync::Arc;

use datafusion::arrow::array::TimestampMillisecondArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use crate::error::{Error, Result};

/// Evaluates `expr` (any timestamp type) on `batch` as milliseconds since the epoch.
pub fn millis(expr: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<TimestampMillisecondArray> {
    let values = expr.evaluate(batch)?.into_array(batch.num_rows())?;
    let values = cast(&values, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
    values
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .cloned()
        .ok_or_else(|| Error::internal(format!("event-time expression {expr} is not a timestamp")))
}
