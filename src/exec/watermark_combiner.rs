//! Watermarks of a partitioned source: one [`WatermarkAssigner`] per partition, combined by
//! taking the minimum over the partitions that still hold event time back.
//!
//! ```text
//! partition 0: ──12s──────────────▶ ended      (no longer counts)
//! partition 1: ──3s──── idle > timeout         (no longer counts until it sends again)
//! partition 2: ──7s──────────────▶
//! source watermark = min(7s) = 7s; never goes back
//! ```
//!
//! Rows are tagged with the *source* watermark before them, so lateness downstream is decided
//! against the same watermark that fires windows. An idle partition that sends again counts
//! again; its rows may then be late.

use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::physical_expr::PhysicalExpr;

use super::chunk::Chunk;
use super::watermark_assigner::WatermarkAssigner;
use crate::error::Result;
use crate::runtime::clock::Clock;

/// A [`WatermarkCombiner`]'s state in a checkpoint: per partition its watermark, whether it
/// was idle and whether it had ended; and the source watermark.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CombinerState {
    /// `(watermark, idle, ended)` per partition.
    pub partitions: Vec<(i64, bool, bool)>,
    /// The source watermark.
    pub emitted: i64,
}

struct Partition {
    assigner: WatermarkAssigner,
    last_active_ms: i64,
    idle: bool,
    ended: bool,
}

/// Per-partition watermarks with idle detection.
pub struct WatermarkCombiner {
    parts: Vec<Partition>,
    idle_timeout_ms: Option<i64>,
    clock: Arc<dyn Clock>,
    emitted: i64,
}

impl WatermarkCombiner {
    /// `partitions` partitions all at -∞; a partition with no rows for `idle_timeout_ms` (by
    /// `clock`) stops holding the watermark back.
    pub fn new(
        expr: Arc<dyn PhysicalExpr>,
        partitions: usize,
        idle_timeout_ms: Option<i64>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let now = clock.now_ms();
        let parts = (0..partitions.max(1))
            .map(|_| Partition {
                assigner: WatermarkAssigner::new(Arc::clone(&expr)),
                last_active_ms: now,
                idle: false,
                ended: false,
            })
            .collect();
        WatermarkCombiner { parts, idle_timeout_ms, clock, emitted: i64::MIN }
    }

    /// The source watermark: never decreases.
    pub fn current(&self) -> i64 {
        self.emitted
    }

    fn others_min(&self, except: usize) -> Option<i64> {
        self.parts
            .iter()
            .enumerate()
            .filter(|(i, p)| *i != except && !p.ended && !p.idle)
            .map(|(_, p)| p.assigner.current())
            .min()
    }

    /// Tags rows of partition `p` with the source watermark before each row and advances.
    pub fn assign(&mut self, p: usize, chunk: Chunk) -> Result<Chunk> {
        let now = self.clock.now_ms();
        let others = self.others_min(p);
        let part = &mut self.parts[p];
        part.idle = false;
        part.last_active_ms = now;
        let mut chunk = part.assigner.assign(chunk)?;
        let own = chunk.row_watermarks.take().map(|w| w.values().to_vec()).unwrap_or_default();
        let mut emitted = self.emitted;
        let tagged: Vec<i64> = own
            .iter()
            .map(|&w| {
                emitted = emitted.max(others.map_or(w, |o| o.min(w)));
                emitted
            })
            .collect();
        self.emitted = emitted;
        chunk.row_watermarks = Some(Arc::new(Int64Array::from(tagged)));
        self.recompute();
        Ok(chunk)
    }

    /// Partition `p` declared its watermark explicitly.
    pub fn explicit(&mut self, p: usize, watermark: i64) {
        let now = self.clock.now_ms();
        let part = &mut self.parts[p];
        part.idle = false;
        part.last_active_ms = now;
        part.assigner.advance_to(watermark);
        self.recompute();
    }

    /// Partition `p` had nothing to read; it becomes idle once the timeout has passed.
    pub fn idle(&mut self, p: usize) {
        if let Some(timeout) = self.idle_timeout_ms {
            let now = self.clock.now_ms();
            let part = &mut self.parts[p];
            if !part.ended && now - part.last_active_ms >= timeout {
                part.idle = true;
            }
        }
        self.recompute();
    }

    /// The state to record in a checkpoint.
    pub fn state(&self) -> CombinerState {
        CombinerState {
            partitions: self.parts.iter().map(|p| (p.assigner.current(), p.idle, p.ended)).collect(),
            emitted: self.emitted,
        }
    }

    /// Resumes from a recorded state of a combiner with as many partitions; idle timeouts
    /// start afresh.
    pub fn restore(&mut self, state: &CombinerState) {
        let now = self.clock.now_ms();
        for (part, &(watermark, idle, ended)) in self.parts.iter_mut().zip(&state.partitions) {
            part.assigner.advance_to(watermark);
            part.idle = idle;
            part.ended = ended;
            part.last_active_ms = now;
        }
        self.emitted = self.emitted.max(state.emitted);
    }

    /// Partition `p` is exhausted.
    pub fn end(&mut self, p: usize) {
        self.parts[p].ended = true;
        self.recompute();
    }

    /// Whether every partition has ended.
    pub fn all_ended(&self) -> bool {
        self.parts.iter().all(|p| p.ended)
    }

    fn recompute(&mut self) {
        let active = self.parts.iter().filter(|p| !p.ended && !p.idle).map(|p| p.assigner.current()).min();
        if let Some(m) = active {
            self.emitted = self.emitted.max(m);
        } else if self.parts.iter().any(|p| p.idle && !p.ended) {
            // Every live partition is idle: event time is whatever the idle ones reached.
            let idle_max = self.parts.iter().filter(|p| !p.ended).map(|p| p.assigner.current()).max();
            self.emitted = self.emitted.max(idle_max.unwrap_or(i64::MIN));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::clock::ManualClock;
    use datafusion::arrow::array::TimestampMillisecondArray;
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::physical_expr::expressions::Column;

    fn rows(ts: &[i64]) -> Chunk {
        let schema =
            Arc::new(Schema::new(vec![Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true)]));
        Chunk::inserts(
            RecordBatch::try_new(schema, vec![Arc::new(TimestampMillisecondArray::from(ts.to_vec()))]).unwrap(),
        )
    }

    fn combiner(parts: usize, idle: Option<i64>) -> (WatermarkCombiner, ManualClock) {
        let clock = ManualClock::default();
        (WatermarkCombiner::new(Arc::new(Column::new("ts", 0)), parts, idle, Arc::new(clock.clone())), clock)
    }

    #[test]
    fn the_slowest_partition_holds_the_watermark() {
        let (mut c, _) = combiner(2, None);
        let a = c.assign(0, rows(&[10_000, 12_000])).unwrap();
        assert_eq!(
            a.row_watermarks.unwrap().values().to_vec(),
            vec![i64::MIN, i64::MIN],
            "partition 1 has seen nothing"
        );
        let b = c.assign(1, rows(&[1_500, 3_000])).unwrap();
        assert_eq!(b.row_watermarks.unwrap().values().to_vec(), vec![i64::MIN, 1_500]);
        assert_eq!(c.current(), 3_000);
        c.end(1);
        assert_eq!(c.current(), 12_000, "an ended partition no longer holds the watermark back");
    }

    #[test]
    fn an_idle_partition_stops_holding_the_watermark_after_the_timeout() {
        let (mut c, clock) = combiner(2, Some(5_000));
        c.assign(0, rows(&[1_000])).unwrap();
        c.assign(1, rows(&[500])).unwrap();
        c.assign(0, rows(&[20_000])).unwrap();
        assert_eq!(c.current(), 500);
        clock.advance(4_999);
        c.idle(1);
        assert_eq!(c.current(), 500, "not idle before the timeout");
        clock.advance(1);
        c.idle(1);
        assert_eq!(c.current(), 20_000, "idle: windows can close");
        // It sends again: it counts again, and the watermark does not go back.
        let late = c.assign(1, rows(&[600])).unwrap();
        assert_eq!(late.row_watermarks.unwrap().values().to_vec(), vec![20_000]);
        assert_eq!(c.current(), 20_000);
    }

    #[test]
    fn without_a_timeout_a_quiet_partition_waits() {
        let (mut c, clock) = combiner(2, None);
        c.assign(0, rows(&[9_000])).unwrap();
        c.assign(1, rows(&[1_000])).unwrap();
        clock.advance(1_000_000);
        c.idle(1);
        assert_eq!(c.current(), 1_000);
    }
}
