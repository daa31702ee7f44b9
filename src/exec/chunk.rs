//! The unit of data flowing between operators.

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, Int64Array, Int8Array, UInt32Array};
use datafusion::arrow::compute::{filter, filter_record_batch, take, take_record_batch};
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;

/// A changelog operation, Flink's `RowKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(i8)]
pub enum RowOp {
    /// `+I`: a new row.
    Insert = 0,
    /// `-U`: the old version of an updated row.
    UpdateBefore = 1,
    /// `+U`: the new version of an updated row.
    UpdateAfter = 2,
    /// `-D`: a deleted row.
    Delete = 3,
}

impl RowOp {
    /// The short text form used in every output format (`+I`, `-U`, `+U`, `-D`).
    pub fn as_str(self) -> &'static str {
        match self {
            RowOp::Insert => "+I",
            RowOp::UpdateBefore => "-U",
            RowOp::UpdateAfter => "+U",
            RowOp::Delete => "-D",
        }
    }

    /// Decodes the `i8` stored in a [`Chunk`]'s op column.
    pub fn from_i8(v: i8) -> RowOp {
        match v {
            1 => RowOp::UpdateBefore,
            2 => RowOp::UpdateAfter,
            3 => RowOp::Delete,
            _ => RowOp::Insert,
        }
    }
}

/// A batch of rows plus the stream metadata that travels with them.
///
/// * `row_watermarks[i]` is the watermark (ms since epoch) as it stood just *before*
///   row `i` arrived at the source. Operators decide lateness against it, so results never
///   depend on where batch boundaries or workers fall (DESIGN's determinism rule). `None`
///   means "the operator's current input watermark" (rows emitted by an operator).
/// * `ops[i]` is the changelog op of row `i` (see [`RowOp`]); `None` means all `+I`.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// The rows.
    pub batch: RecordBatch,
    /// Watermark before each row, if known.
    pub row_watermarks: Option<Arc<Int64Array>>,
    /// Changelog op of each row as `RowOp as i8`; `None` = all inserts.
    pub ops: Option<Arc<Int8Array>>,
}

impl Chunk {
    /// An insert-only chunk without per-row watermarks.
    pub fn inserts(batch: RecordBatch) -> Self {
        Chunk { batch, row_watermarks: None, ops: None }
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Keeps the rows where `mask` is true, with their metadata.
    pub fn filter(&self, mask: &BooleanArray) -> Result<Chunk> {
        let batch = filter_record_batch(&self.batch, mask)?;
        let row_watermarks = match &self.row_watermarks {
            Some(w) => Some(Arc::new(downcast_i64(filter(w.as_ref(), mask)?))),
            None => None,
        };
        let ops = match &self.ops {
            Some(o) => Some(Arc::new(downcast_i8(filter(o.as_ref(), mask)?))),
            None => None,
        };
        Ok(Chunk { batch, row_watermarks, ops })
    }

    /// Takes the rows at `indices`, with their metadata.
    pub fn take(&self, indices: &UInt32Array) -> Result<Chunk> {
        let batch = take_record_batch(&self.batch, indices)?;
        let row_watermarks = match &self.row_watermarks {
            Some(w) => Some(Arc::new(downcast_i64(take(w.as_ref(), indices, None)?))),
            None => None,
        };
        let ops = match &self.ops {
            Some(o) => Some(Arc::new(downcast_i8(take(o.as_ref(), indices, None)?))),
            None => None,
        };
        Ok(Chunk { batch, row_watermarks, ops })
    }

    /// Same metadata, new columns (a projection keeps row count and order).
    pub fn with_batch(&self, batch: RecordBatch) -> Chunk {
        Chunk { batch, row_watermarks: self.row_watermarks.clone(), ops: self.ops.clone() }
    }

    /// The op of row `i`.
    pub fn op(&self, i: usize) -> RowOp {
        match &self.ops {
            Some(o) => RowOp::from_i8(o.value(i)),
            None => RowOp::Insert,
        }
    }
}

fn downcast_i64(a: Arc<dyn Array>) -> Int64Array {
    a.as_any().downcast_ref::<Int64Array>().cloned().unwrap_or_else(|| Int64Array::from(Vec::<i64>::new()))
}

fn downcast_i8(a: Arc<dyn Array>) -> Int8Array {
    a.as_any().downcast_ref::<Int8Array>().cloned().unwrap_or_else(|| Int8Array::from(Vec::<i8>::new()))
}
