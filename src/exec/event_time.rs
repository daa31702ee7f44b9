//! Evaluating event-time expressions to milliseconds, the engine's one time unit.

use std::sync::Arc;

use datafusion::arrow::array::TimestampMillisecondArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use crate::error::{Error, Result};

/// The largest event time, in ms from the epoch either way (2^50 ms, about 35 000 years).
/// Beyond it an event time is treated as missing (NULL): window, pane and watermark
/// arithmetic stays far from `i64` overflow, and one absurd timestamp cannot push the
/// watermark to the end of time.
pub const MAX_EVENT_TIME_MS: i64 = 1 << 50;

/// Evaluates `expr` (any timestamp type) on `batch` as milliseconds since the epoch; values
/// beyond [`MAX_EVENT_TIME_MS`] become NULL.
pub fn millis(expr: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<TimestampMillisecondArray> {
    let values = expr.evaluate(batch)?.into_array(batch.num_rows())?;
    let values = cast(&values, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
    let millis = values
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .cloned()
        .ok_or_else(|| Error::internal(format!("event-time expression {expr} is not a timestamp")))?;
    let in_range = |v: &i64| v.unsigned_abs() <= MAX_EVENT_TIME_MS as u64;
    if millis.values().iter().all(in_range) {
        return Ok(millis);
    }
    Ok(millis.iter().map(|v| v.filter(in_range)).collect::<TimestampMillisecondArray>())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Array;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::physical_expr::expressions::col;

    use super::*;

    #[test]
    fn event_times_beyond_the_range_are_null() {
        let schema =
            Arc::new(Schema::new(vec![Field::new("t", DataType::Timestamp(TimeUnit::Millisecond, None), true)]));
        let t = TimestampMillisecondArray::from(vec![
            Some(5),
            Some(i64::MAX),
            None,
            Some(-MAX_EVENT_TIME_MS),
            Some(i64::MIN + 1),
        ]);
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(t)]).unwrap();
        let got = millis(&col("t", &schema).unwrap(), &batch).unwrap();
        let got: Vec<Option<i64>> = (0..got.len()).map(|i| got.is_valid(i).then(|| got.value(i))).collect();
        assert_eq!(got, vec![Some(5), None, None, Some(-MAX_EVENT_TIME_MS), None]);
    }
}
