//! Corrections: the changelog between a window's previously emitted result and its new
//! one, after late rows (within the allowed lateness) changed it.
//!
//! Per key: unchanged → nothing; changed → `-U` old row then `+U` new row; new key → `+I`.
//! Windows only ever gain rows, so a key never disappears.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::Int8Array;
use datafusion::arrow::compute::interleave_record_batch;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};

use super::chunk::{Chunk, RowOp};
use crate::error::Result;

/// The corrections turning `old` into `new` (same schema); `key_columns` identify a row.
/// `None` when nothing changed.
pub fn corrections(old: &RecordBatch, new: &RecordBatch, key_columns: &[usize]) -> Result<Option<Chunk>> {
    let fields = |cols: &[usize]| -> Vec<SortField> {
        cols.iter().map(|&i| SortField::new(new.schema().field(i).data_type().clone())).collect()
    };
    let all: Vec<usize> = (0..new.num_columns()).collect();
    let keys = RowConverter::new(fields(key_columns))?;
    let rows = RowConverter::new(fields(&all))?;
    let pick = |b: &RecordBatch, cols: &[usize]| cols.iter().map(|&i| Arc::clone(b.column(i))).collect::<Vec<_>>();
    let (old_keys, new_keys) =
        (keys.convert_columns(&pick(old, key_columns))?, keys.convert_columns(&pick(new, key_columns))?);
    let (old_rows, new_rows) = (rows.convert_columns(&pick(old, &all))?, rows.convert_columns(&pick(new, &all))?);
    let by_key: HashMap<&[u8], usize> = (0..old.num_rows()).map(|i| (old_keys.row(i).data(), i)).collect();
    let (mut picks, mut ops) = (Vec::new(), Vec::new());
    for j in 0..new.num_rows() {
        match by_key.get(new_keys.row(j).data()) {
            Some(&i) if old_rows.row(i) == new_rows.row(j) => {}
            Some(&i) => {
                picks.extend([(0, i), (1, j)]);
                ops.extend([RowOp::UpdateBefore as i8, RowOp::UpdateAfter as i8]);
            }
            None => {
                picks.push((1, j));
                ops.push(RowOp::Insert as i8);
            }
        }
    }
    if picks.is_empty() {
        return Ok(None);
    }
    let batch = interleave_record_batch(&[old, new], &picks)?;
    Ok(Some(Chunk { batch, row_watermarks: None, ops: Some(Arc::new(Int8Array::from(ops))) }))
}
