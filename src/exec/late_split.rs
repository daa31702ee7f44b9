//! `'late.policy' = 'side-output'`: takes rows too late for a window aggregate out of the
//! stream before it, and routes them to the table's `<table>__late` stream.
//!
//! Runs first on the source's rows (the table's columns), so the side stream carries the
//! rows unchanged. A row is too late when the watermark just before it (DESIGN's
//! determinism rule) had passed `end - 1 + lateness` for the *last* window containing its
//! event time — then it is too late for every window it belongs to, exactly when the window
//! operator would drop it. A HOP row late only for its earlier windows passes on and still
//! counts in the windows still open. Rows that the query's `WHERE` removes never reach the
//! window, so they are not routed either.
//!
//! Side rows are the input columns plus `__operator` (which operator found the row too
//! late) and `__reason`. Without a reader in the job, they are dropped; both are counted.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, StringArray};
use datafusion::arrow::compute::{and, not};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use super::chunk::Chunk;
use super::event_time;
use super::operator::Operator;
use crate::error::{Error, Result};
use crate::plan::window::{ms, WindowKind};
use crate::runtime::side_output::SideWriter;

/// The plan of one late-row split.
#[derive(Debug)]
pub struct LateSplitSpec {
    /// Name of the side stream (`<table>__late`).
    pub side_table: String,
    /// Its schema: the input's columns, then `__operator` and `__reason` (strings).
    pub side_schema: SchemaRef,
    /// The window the rows are late for.
    pub kind: WindowKind,
    /// Allowed lateness (ms).
    pub lateness_ms: i64,
    /// The event-time column, over the input.
    pub time: Arc<dyn PhysicalExpr>,
    /// The `WHERE` predicates applied before the window, over the input: rows they remove
    /// are not the window's concern.
    pub predicates: Vec<Arc<dyn PhysicalExpr>>,
    /// The value of `__operator`.
    pub operator: String,
}

/// The operator. See the module docs.
pub struct LateSplit {
    spec: Arc<LateSplitSpec>,
    side: Option<SideWriter>,
    late: u64,
}

impl LateSplit {
    /// A split sending late rows to `side` (dropped when `None` or when the reader is gone).
    pub fn new(spec: Arc<LateSplitSpec>, side: Option<SideWriter>) -> Self {
        LateSplit { spec, side, late: 0 }
    }

    /// Which rows are too late for the window (NULL times and rows without a watermark are
    /// not: the window operator deals with them).
    fn late_mask(&self, chunk: &Chunk) -> Result<Option<BooleanArray>> {
        let Some(wms) = &chunk.row_watermarks else { return Ok(None) };
        let time = event_time::millis(&self.spec.time, &chunk.batch)?;
        let (kind, lateness) = (self.spec.kind, self.spec.lateness_ms);
        let mask: BooleanArray = (0..chunk.num_rows())
            .map(|i| Some(time.is_valid(i) && kind.too_late(time.value(i), wms.value(i), lateness)))
            .collect();
        if mask.true_count() == 0 {
            return Ok(None);
        }
        let mut mask = mask;
        for p in &self.spec.predicates {
            let kept = p.evaluate(&chunk.batch)?.into_array(chunk.num_rows())?;
            let kept = kept
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| Error::internal("WHERE predicate is not boolean"))?;
            // NULL counts as removed, like WHERE.
            let kept: BooleanArray = kept.iter().map(|v| Some(v == Some(true))).collect();
            mask = and(&mask, &kept)?;
        }
        Ok((mask.true_count() > 0).then_some(mask))
    }

    fn side_rows(&self, late: &Chunk) -> Result<RecordBatch> {
        let time = event_time::millis(&self.spec.time, &late.batch)?;
        let wms = late.row_watermarks.as_ref().ok_or_else(|| Error::internal("late rows without watermarks"))?;
        let reasons: StringArray = (0..late.num_rows())
            .map(|i| {
                let end = self.spec.kind.last_end(time.value(i));
                Some(match self.spec.kind {
                    WindowKind::Slide { .. } => format!(
                        "event time {} is below the watermark {}",
                        timestamp(time.value(i)),
                        timestamp(wms.value(i))
                    ),
                    _ => format!(
                        "watermark {} had passed the last window end {} - 1 ms + lateness {}",
                        timestamp(wms.value(i)),
                        timestamp(end),
                        ms(self.spec.lateness_ms)
                    ),
                })
            })
            .collect();
        let mut columns: Vec<ArrayRef> = late.batch.columns().to_vec();
        columns.push(Arc::new(StringArray::from(vec![self.spec.operator.as_str(); late.num_rows()])));
        columns.push(Arc::new(reasons));
        Ok(RecordBatch::try_new(self.spec.side_schema.clone(), columns)?)
    }
}

/// `YYYY-MM-DD HH:MM:SS.fff` (UTC) of epoch milliseconds.
fn timestamp(v: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(v) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        None => v.to_string(),
    }
}

impl Operator for LateSplit {
    fn name(&self) -> &str {
        "LateSplit"
    }

    fn on_chunk(&mut self, chunk: Chunk) -> Result<Vec<Chunk>> {
        let Some(mask) = self.late_mask(&chunk)? else { return Ok(vec![chunk]) };
        let late = chunk.filter(&mask)?;
        self.late += late.num_rows() as u64;
        if self.side.is_some() {
            let rows = self.side_rows(&late)?;
            if !self.side.as_mut().is_some_and(|side| side.send(rows)) {
                // The reading query stopped; later rows are only counted.
                self.side = None;
            }
        }
        let on_time = chunk.filter(&not(&mask)?)?;
        Ok(if on_time.num_rows() == 0 { vec![] } else { vec![on_time] })
    }

    fn late_rows(&self) -> u64 {
        self.late
    }

    /// The count of late rows (the only state): metrics continue across a restore.
    fn snapshot(&mut self) -> Result<Vec<u8>> {
        Ok(self.late.to_le_bytes().to_vec())
    }

    fn restore(&mut self, state: &[u8]) -> Result<()> {
        let bytes: [u8; 8] = state.try_into().map_err(|_| Error::internal("late split state is 8 bytes"))?;
        self.late = u64::from_le_bytes(bytes);
        Ok(())
    }

    /// Forwards the barrier into the side stream, after the late rows sent before it.
    fn on_barrier(&mut self, checkpoint: u64) {
        if let Some(side) = &mut self.side {
            side.barrier(checkpoint);
        }
    }
}
