//! Changelog-aware row selection for stateless operators downstream of updating ones.
//!
//! An update travels as a `-U` row immediately followed by its `+U` row (every operator
//! that emits updates emits them so). Filtering or projecting the two halves separately
//! would break the changelog's meaning, so:
//!
//! | old row passes | new row passes | emitted                 |
//! |---|---|---|
//! | yes | yes | `-U` old, `+U` new (nothing if they are now equal) |
//! | yes | no  | `-D` old (the row left the result)               |
//! | no  | yes | `+I` new (the row entered the result)            |
//! | no  | no  | nothing                                          |

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, Int8Array, UInt32Array};
use datafusion::arrow::row::{RowConverter, SortField};

use super::chunk::{Chunk, RowOp};
use crate::error::Result;

/// Whether row `i` starts an update pair.
fn pair_at(chunk: &Chunk, i: usize) -> bool {
    chunk.op(i) == RowOp::UpdateBefore && i + 1 < chunk.num_rows() && chunk.op(i + 1) == RowOp::UpdateAfter
}

/// Keeps the rows of a changelog chunk where `mask` is true, rewriting update pairs as in
/// the module table. Rows outside pairs keep their op.
pub fn filter_changelog(chunk: &Chunk, mask: &BooleanArray) -> Result<Chunk> {
    let pass = |i: usize| mask.is_valid(i) && mask.value(i);
    let (mut rows, mut ops) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < chunk.num_rows() {
        if pair_at(chunk, i) {
            match (pass(i), pass(i + 1)) {
                (true, true) => {
                    rows.extend([i as u32, i as u32 + 1]);
                    ops.extend([RowOp::UpdateBefore, RowOp::UpdateAfter]);
                }
                (true, false) => {
                    rows.push(i as u32);
                    ops.push(RowOp::Delete);
                }
                (false, true) => {
                    rows.push(i as u32 + 1);
                    ops.push(RowOp::Insert);
                }
                (false, false) => {}
            }
            i += 2;
            continue;
        }
        if pass(i) {
            rows.push(i as u32);
            ops.push(chunk.op(i));
        }
        i += 1;
    }
    with_ops(chunk, rows, ops)
}

/// Removes update pairs whose old and new rows are equal (a projection can make them so).
/// Returns the chunk unchanged when there are none.
pub fn drop_noop_updates(chunk: Chunk) -> Result<Chunk> {
    if chunk.ops.is_none() || !(0..chunk.num_rows()).any(|i| pair_at(&chunk, i)) {
        return Ok(chunk);
    }
    let fields = chunk.batch.schema().fields().iter().map(|f| SortField::new(f.data_type().clone())).collect();
    let converted = RowConverter::new(fields)?.convert_columns(chunk.batch.columns())?;
    let (mut rows, mut ops) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < chunk.num_rows() {
        if pair_at(&chunk, i) && converted.row(i) == converted.row(i + 1) {
            i += 2;
            continue;
        }
        rows.push(i as u32);
        ops.push(chunk.op(i));
        i += 1;
    }
    if rows.len() == chunk.num_rows() {
        return Ok(chunk);
    }
    with_ops(&chunk, rows, ops)
}

fn with_ops(chunk: &Chunk, rows: Vec<u32>, ops: Vec<RowOp>) -> Result<Chunk> {
    let mut out = chunk.take(&UInt32Array::from(rows))?;
    out.ops = Some(Arc::new(Int8Array::from(ops.into_iter().map(|o| o as i8).collect::<Vec<_>>())));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;

    fn chunk(values: &[i64], ops: &[RowOp]) -> Chunk {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap();
        let ops = Int8Array::from(ops.iter().map(|o| *o as i8).collect::<Vec<_>>());
        Chunk { batch, row_watermarks: None, ops: Some(Arc::new(ops)) }
    }

    fn rows(c: &Chunk) -> Vec<(RowOp, i64)> {
        let v = c.batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        (0..c.num_rows()).map(|i| (c.op(i), v.value(i))).collect()
    }

    #[test]
    fn update_pairs_become_deletes_and_inserts_at_the_filter_boundary() {
        use RowOp::*;
        // Pairs (1→2), (2→5), (5→3), (0→1) under `v >= 2`, plus a lone +I 7 and -D 9.
        let c = chunk(
            &[1, 2, 2, 5, 5, 3, 0, 1, 7, 9],
            &[
                UpdateBefore,
                UpdateAfter,
                UpdateBefore,
                UpdateAfter,
                UpdateBefore,
                UpdateAfter,
                UpdateBefore,
                UpdateAfter,
                Insert,
                Delete,
            ],
        );
        let mask = BooleanArray::from(
            c.batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .iter()
                .map(|v| v.map(|v| v >= 2))
                .collect::<Vec<_>>(),
        );
        let out = filter_changelog(&c, &mask).unwrap();
        assert_eq!(
            rows(&out),
            vec![
                (Insert, 2),
                (UpdateBefore, 2),
                (UpdateAfter, 5),
                (UpdateBefore, 5),
                (UpdateAfter, 3),
                (Insert, 7),
                (Delete, 9)
            ]
        );
    }

    #[test]
    fn equal_update_pairs_are_dropped() {
        use RowOp::*;
        let c = chunk(&[4, 4, 4, 6, 8], &[UpdateBefore, UpdateAfter, UpdateBefore, UpdateAfter, Insert]);
        assert_eq!(rows(&drop_noop_updates(c).unwrap()), vec![(UpdateBefore, 4), (UpdateAfter, 6), (Insert, 8)]);
    }
}
