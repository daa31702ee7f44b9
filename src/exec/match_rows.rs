//! Rows of `MATCH_RECOGNIZE` that are not final yet, held for all partitions together.
//!
//! ```text
//! on_chunk:      batch ──▶ [PendingBatch: rows, partition id, time, ORDER BY keys, alive]  (no copy)
//! on_watermark:  every alive row with time ≤ w, over all pending batches
//!                  ──▶ sorted by (partition, time, ORDER BY keys, arrival)
//!                  ──▶ one interleave into the step's rows (with the rows held from before)
//! ```
//!
//! Keeping the incoming batches as they are (instead of splitting them per partition) and
//! releasing rows with one sort and one gather per watermark makes the cost per row
//! independent of how many partitions a batch spreads over.

use datafusion::arrow::array::{RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::row::Rows;

use crate::error::Result;

/// An incoming batch whose rows are not all final yet.
pub(super) struct PendingBatch {
    /// The rows (input columns and derived columns).
    pub batch: RecordBatch,
    /// Partition id per row.
    pub parts: Vec<u32>,
    /// Event time per row (ms).
    pub times: Vec<i64>,
    /// Further `ORDER BY` keys per row, if the clause has any.
    pub order: Option<Rows>,
    /// Whether the row is still pending (not released yet).
    alive: Vec<bool>,
    /// Number of alive rows.
    left: usize,
}

/// One released row: where it is and how it sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Released {
    /// Partition id.
    pub part: u32,
    /// Event time (ms).
    pub time: i64,
    /// Index of its pending batch (arrival order).
    pub batch: u32,
    /// Row in that batch.
    pub row: u32,
}

/// All pending rows, in arrival order (batch by batch).
#[derive(Default)]
pub(super) struct Pending {
    batches: Vec<PendingBatch>,
    rows: usize,
}

impl Pending {
    /// Appends rows in arrival order; `parts`, `times` (and `order`) have one entry per row.
    pub fn push(&mut self, batch: RecordBatch, parts: Vec<u32>, times: Vec<i64>, order: Option<Rows>) {
        let n = batch.num_rows();
        if n == 0 {
            return;
        }
        debug_assert!(parts.len() == n && times.len() == n);
        self.rows += n;
        self.batches.push(PendingBatch { batch, parts, times, order, alive: vec![true; n], left: n });
    }

    /// The earliest event time of a row still pending, if any.
    pub fn min_time(&self) -> Option<i64> {
        self.batches
            .iter()
            .filter(|pb| pb.left > 0)
            .flat_map(|pb| pb.times.iter().zip(&pb.alive).filter(|(_, a)| **a).map(|(t, _)| *t))
            .min()
    }

    /// Number of pending rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// The pending batches; [`Released::batch`] indexes this slice until [`Self::compact`].
    pub fn batches(&self) -> &[PendingBatch] {
        &self.batches
    }

    /// Marks every alive row whose time satisfies `is_done` as released and returns those
    /// rows, in arrival order. The rows stay readable until [`Self::compact`].
    pub fn release(&mut self, is_done: impl Fn(i64) -> bool) -> Vec<Released> {
        let mut out = Vec::new();
        for (b, pb) in self.batches.iter_mut().enumerate() {
            if pb.left == 0 {
                continue;
            }
            for r in 0..pb.times.len() {
                if pb.alive[r] && is_done(pb.times[r]) {
                    pb.alive[r] = false;
                    pb.left -= 1;
                    out.push(Released { part: pb.parts[r], time: pb.times[r], batch: b as u32, row: r as u32 });
                }
            }
        }
        self.rows -= out.len();
        out
    }

    /// Drops batches with no pending row left and shrinks those with fewer than a quarter
    /// of their rows pending (so that memory stays proportional to the pending rows);
    /// `order_of` recomputes the `ORDER BY` keys of a shrunk batch.
    pub fn compact(&mut self, order_of: impl Fn(&RecordBatch) -> Result<Option<Rows>>) -> Result<()> {
        self.batches.retain(|pb| pb.left > 0);
        for pb in &mut self.batches {
            let n = pb.times.len();
            if pb.left * 4 >= n {
                continue;
            }
            let keep: Vec<u32> = (0..n as u32).filter(|&r| pb.alive[r as usize]).collect();
            let batch = take_record_batch(&pb.batch, &UInt32Array::from(keep.clone()))?;
            pb.parts = keep.iter().map(|&r| pb.parts[r as usize]).collect();
            pb.times = keep.iter().map(|&r| pb.times[r as usize]).collect();
            pb.order = order_of(&batch)?;
            pb.batch = batch;
            pb.alive = vec![true; keep.len()];
            pb.left = keep.len();
        }
        Ok(())
    }

    /// The pending rows of each of partitions `0..parts`, as (batch, row) in arrival order.
    pub fn rows_by_partition(&self, parts: usize) -> Vec<Vec<(usize, usize)>> {
        let mut out = vec![Vec::new(); parts];
        for (b, pb) in self.batches.iter().enumerate() {
            for r in 0..pb.times.len() {
                if pb.alive[r] {
                    out[pb.parts[r] as usize].push((b, r));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap()
    }

    #[test]
    fn release_takes_rows_by_time_and_compact_keeps_the_rest() {
        let mut p = Pending::default();
        p.push(batch(&[1, 2, 3, 4, 5, 6, 7, 8]), vec![0, 1, 0, 1, 0, 1, 0, 1], (1..=8).collect(), None);
        p.push(batch(&[9]), vec![0], vec![2], None);
        let got = p.release(|t| t <= 2);
        let at: Vec<(u32, u32, u32)> = got.iter().map(|r| (r.part, r.batch, r.row)).collect();
        assert_eq!(at, vec![(0, 0, 0), (1, 0, 1), (0, 1, 0)]);
        assert_eq!(p.len(), 6);
        p.compact(|_| Ok(None)).unwrap();
        assert_eq!(p.batches().len(), 1, "the emptied batch is dropped");
        assert_eq!(p.rows_by_partition(2)[1], vec![(0, 3), (0, 5), (0, 7)]);
        // Releasing all but one row shrinks the batch to that row.
        assert_eq!(p.release(|t| t <= 7).len(), 5);
        p.compact(|_| Ok(None)).unwrap();
        assert_eq!(p.batches()[0].batch.num_rows(), 1);
        assert_eq!(p.batches()[0].times, vec![8]);
        assert_eq!(p.rows_by_partition(2), vec![vec![], vec![(0, 0)]]);
    }
}
