//! A window TVF without aggregation: each row, once per window it belongs to, with
//! `window_start`, `window_end` and `window_time` appended (HOP and CUMULATE repeat rows).

use std::sync::Arc;

use datafusion::arrow::array::{Array, TimestampMillisecondArray, UInt32Array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use super::chunk::Chunk;
use super::event_time;
use super::operator::Operator;
use crate::error::Result;
use crate::plan::window::WindowKind;

/// Assigns windows to rows. Stateless; rows with a NULL time belong to no window.
pub struct WindowAssign {
    kind: WindowKind,
    time: Arc<dyn PhysicalExpr>,
    schema: SchemaRef,
}

impl WindowAssign {
    /// `schema` is the input schema plus the three window columns.
    pub fn new(kind: WindowKind, time: Arc<dyn PhysicalExpr>, schema: SchemaRef) -> Self {
        WindowAssign { kind, time, schema }
    }
}

impl Operator for WindowAssign {
    fn name(&self) -> &str {
        "WindowAssign"
    }

    fn on_chunk(&mut self, chunk: Chunk) -> Result<Vec<Chunk>> {
        let n = chunk.num_rows();
        let t = &event_time::millis(&self.time, &chunk.batch)?;
        let (mut rows, mut starts, mut ends) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            if t.is_null(i) {
                continue;
            }
            for (s, e) in self.kind.windows_of_pane(self.kind.pane_start(t.value(i))) {
                rows.push(i as u32);
                starts.push(s);
                ends.push(e);
            }
        }
        if rows.is_empty() {
            return Ok(vec![]);
        }
        let taken = chunk.take(&UInt32Array::from(rows))?;
        let times: Vec<i64> = ends.iter().map(|e| e - 1).collect();
        let mut cols = taken.batch.columns().to_vec();
        cols.push(Arc::new(TimestampMillisecondArray::from(starts)));
        cols.push(Arc::new(TimestampMillisecondArray::from(ends)));
        cols.push(Arc::new(TimestampMillisecondArray::from(times)));
        let batch = RecordBatch::try_new(self.schema.clone(), cols)?;
        Ok(vec![taken.with_batch(batch)])
    }
}
