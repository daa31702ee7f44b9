//! The usual watermark expression, `ts - INTERVAL 'n' SECOND` (or just `ts`), evaluated as
//! integer milliseconds. DataFusion's general timestamp − interval kernel goes through
//! calendar arithmetic per row, which made it the most expensive step of reading a source.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Schema, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType,
};
use datafusion::error::Result;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;

/// `column - delay_ms` on a timestamp column, as `TIMESTAMP(3)`. NULL stays NULL.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct DelayedColumn {
    name: String,
    index: usize,
    delay_ms: i64,
}

impl DelayedColumn {
    /// The column at `index` (named `name`) minus `delay_ms`.
    pub fn new(name: &str, index: usize, delay_ms: i64) -> Self {
        DelayedColumn { name: name.to_string(), index, delay_ms }
    }
}

impl fmt::Display for DelayedColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{} - {} ms", self.name, self.index, self.delay_ms)
    }
}

impl PhysicalExpr for DelayedColumn {
    fn return_field(&self, _input_schema: &Schema) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(&self.name, DataType::Timestamp(TimeUnit::Millisecond, None), true)))
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        // Subtract in the column's own unit, then convert, exactly as timestamp − interval
        // followed by a cast to milliseconds would (same rounding of sub-ms values).
        let col = batch.column(self.index);
        let d = self.delay_ms;
        let shifted: ArrayRef = match col.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, _) => Arc::new(
                col.as_primitive::<TimestampMicrosecondType>()
                    .unary::<_, TimestampMicrosecondType>(|v| v.saturating_sub(d.saturating_mul(1_000))),
            ),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => Arc::new(
                col.as_primitive::<TimestampNanosecondType>()
                    .unary::<_, TimestampNanosecondType>(|v| v.saturating_sub(d.saturating_mul(1_000_000))),
            ),
            _ => {
                let ms = cast(col, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
                let out: TimestampMillisecondArray =
                    ms.as_primitive::<TimestampMillisecondType>().unary(|v| v.saturating_sub(d));
                Arc::new(out)
            }
        };
        Ok(ColumnarValue::Array(cast(&shifted, &DataType::Timestamp(TimeUnit::Millisecond, None))?))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![]
    }

    fn with_new_children(self: Arc<Self>, _children: Vec<Arc<dyn PhysicalExpr>>) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(self)
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} - INTERVAL '{}' MILLISECOND", self.name, self.delay_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, TimestampMicrosecondArray};
    use datafusion::common::{DFSchema, ScalarValue};
    use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
    use datafusion::logical_expr::{col, lit};
    use datafusion::physical_expr::create_physical_expr;
    use datafusion::physical_expr::execution_props::ExecutionProps;

    #[test]
    fn equals_datafusions_timestamp_minus_interval() {
        let schema =
            Arc::new(Schema::new(vec![Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true)]));
        let values: Vec<Option<i64>> =
            vec![Some(0), Some(1_704_067_200_123_456), None, Some(-86_400_000_000), Some(59_999_999), Some(1)];
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(TimestampMicrosecondArray::from(values))]).unwrap();
        let df_schema = DFSchema::try_from(schema.as_ref().clone()).unwrap();
        let two_seconds = ScalarValue::new_interval_mdn(0, 0, 2_000_000_000);
        let general = create_physical_expr(
            &(col("ts") - lit(two_seconds)),
            &df_schema,
            &ExecutionProps::new(),
            &PhysicalPlanningContext::default(),
        )
        .unwrap();
        let want = crate::exec::event_time::millis(&general, &batch).unwrap();
        let fast: Arc<dyn PhysicalExpr> = Arc::new(DelayedColumn::new("ts", 0, 2_000));
        let got = crate::exec::event_time::millis(&fast, &batch).unwrap();
        assert_eq!(got, want);
        assert_eq!(got.null_count(), 1);
    }
}
