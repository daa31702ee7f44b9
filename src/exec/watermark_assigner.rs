//! Assigns watermarks at a source, row by row in arrival order.
//!
//! The watermark is the maximum of the `WATERMARK FOR col AS expr` expression over the rows
//! seen so far. Each row is tagged with the watermark as it stood *before* it (DESIGN's
//! determinism rule): that tag, not batch boundaries, decides whether the row is late.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::physical_expr::PhysicalExpr;

use super::chunk::Chunk;
use super::event_time;
use crate::error::Result;

/// Watermark state of one source partition.
pub struct WatermarkAssigner {
    expr: Arc<dyn PhysicalExpr>,
    current: i64,
}

impl WatermarkAssigner {
    /// Starts at -∞ (`i64::MIN`).
    pub fn new(expr: Arc<dyn PhysicalExpr>) -> Self {
        WatermarkAssigner { expr, current: i64::MIN }
    }

    /// The current watermark (ms).
    pub fn current(&self) -> i64 {
        self.current
    }

    /// Moves the watermark forward to `watermark` (never back).
    pub fn advance_to(&mut self, watermark: i64) {
        self.current = self.current.max(watermark);
    }

    /// Tags each row of `chunk` with the watermark before it and advances the watermark
    /// past the whole chunk. Rows whose watermark expression is NULL do not move it.
    pub fn assign(&mut self, mut chunk: Chunk) -> Result<Chunk> {
        let n = chunk.num_rows();
        let ts = &event_time::millis(&self.expr, &chunk.batch)?;
        let mut out = Vec::with_capacity(n);
        let mut cur = self.current;
        if ts.null_count() == 0 {
            for &v in ts.values().iter() {
                out.push(cur);
                cur = cur.max(v);
            }
        } else {
            for i in 0..n {
                out.push(cur);
                if ts.is_valid(i) {
                    cur = cur.max(ts.value(i));
                }
            }
        }
        self.current = cur;
        chunk.row_watermarks = Some(Arc::new(Int64Array::from(out)));
        Ok(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::TimestampMillisecondArray;
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::physical_expr::expressions::Column;

    #[test]
    fn each_row_sees_the_watermark_before_it() {
        let schema =
            Arc::new(Schema::new(vec![Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true)]));
        let ts = TimestampMillisecondArray::from(vec![Some(10), Some(5), None, Some(20)]);
        let batch = RecordBatch::try_new(schema, vec![Arc::new(ts)]).unwrap();
        let mut a = WatermarkAssigner::new(Arc::new(Column::new("ts", 0)));
        let c = a.assign(Chunk::inserts(batch)).unwrap();
        assert_eq!(c.row_watermarks.unwrap().values().to_vec(), vec![i64::MIN, 10, 10, 10]);
        assert_eq!(a.current(), 20);
    }
}
