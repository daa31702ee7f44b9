//! The vectorised accumulator of the HLL aggregates: one [`HllSketch`] per group, updated a
//! whole batch at a time.
//!
//! `update_batch` hashes the argument column once and adds each row's hash to its group's
//! sketch; `merge_batch` (and `HLL_MERGE`'s input) reads each sketch's bytes straight into
//! the group's sparse codes or registers; `state` and `evaluate` write each group's bytes
//! (or estimate) into one Arrow column. Window panes therefore merge by register-wise max
//! and never round-trip through an intermediate sketch object.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Int64Array};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use super::df_err;
use super::hll::HllKind;
use super::hll_sketch::HllSketch;
use super::sketch_hash::hash_column;

/// Per-group sketches of one HLL aggregate.
#[derive(Debug)]
pub struct HllGroupsAccumulator {
    kind: HllKind,
    /// The precision of new sketches (`HLL_MERGE` takes each group's from its first input).
    precision: u8,
    /// `None`: the group has seen no input yet (`HLL_MERGE` then yields NULL).
    sketches: Vec<Option<HllSketch>>,
    /// Decoded codes of the sketch being merged.
    scratch: Vec<u32>,
}

impl HllGroupsAccumulator {
    /// An accumulator for `kind` whose sketches have `precision`.
    pub fn new(kind: HllKind, precision: u8) -> Self {
        HllGroupsAccumulator { kind, precision, sketches: Vec::new(), scratch: Vec::new() }
    }

    /// Merges a column of sketch bytes into the rows' groups (NULLs and filtered rows skipped).
    fn merge_sketches(
        &mut self,
        column: &ArrayRef,
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
    ) -> DfResult<()> {
        let bytes = column.as_binary_opt::<i32>().ok_or_else(|| {
            DataFusionError::Plan(format!("{}: expects a sketch (BYTES), got {}", self.kind.name(), column.data_type()))
        })?;
        for (row, &g) in group_indices.iter().enumerate() {
            if bytes.is_null(row) || opt_filter.is_some_and(|f| !f.is_valid(row) || !f.value(row)) {
                continue;
            }
            let b = bytes.value(row);
            match &mut self.sketches[g] {
                Some(s) => s.merge_bytes_with(b, &mut self.scratch).map_err(df_err)?,
                slot @ None => *slot = Some(HllSketch::from_bytes_with(b, &mut self.scratch).map_err(df_err)?),
            }
        }
        Ok(())
    }

    /// The group's sketch, created empty (at the aggregate's precision) on first use.
    fn sketch(&mut self, group: usize) -> DfResult<&mut HllSketch> {
        let precision = self.precision;
        match &mut self.sketches[group] {
            Some(s) => Ok(s),
            slot @ None => Ok(slot.insert(HllSketch::new(precision).map_err(df_err)?)),
        }
    }

    /// The sketch bytes of the emitted groups; `NULL` for an `HLL_MERGE` group without input.
    fn bytes(&self, sketches: Vec<Option<HllSketch>>) -> DfResult<ArrayRef> {
        let mut out = BinaryBuilder::with_capacity(sketches.len(), sketches.len() * 64);
        let mut buf = Vec::new();
        for s in sketches {
            let mut s = match (s, self.kind) {
                (Some(s), _) => s,
                (None, HllKind::Merge) => {
                    out.append_null();
                    continue;
                }
                (None, _) => HllSketch::new(self.precision).map_err(df_err)?,
            };
            buf.clear();
            s.write_bytes(&mut buf);
            out.append_value(&buf);
        }
        Ok(Arc::new(out.finish()))
    }
}

impl GroupsAccumulator for HllGroupsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.sketches.resize_with(total_num_groups, || None);
        if self.kind == HllKind::Merge {
            return self.merge_sketches(&values[0], group_indices, opt_filter);
        }
        let hashes = hash_column(&values[0]).map_err(df_err)?;
        for (row, (&g, h)) in group_indices.iter().zip(hashes).enumerate() {
            let Some(h) = h else { continue };
            if opt_filter.is_some_and(|f| !f.is_valid(row) || !f.value(row)) {
                continue;
            }
            self.sketch(g)?.insert_hash(h);
        }
        Ok(())
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> DfResult<()> {
        self.sketches.resize_with(total_num_groups, || None);
        self.merge_sketches(&values[0], group_indices, None)
    }

    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        let sketches = emit_to.take_needed(&mut self.sketches);
        Ok(vec![self.bytes(sketches)?])
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        let sketches = emit_to.take_needed(&mut self.sketches);
        match self.kind {
            HllKind::ApproxCountDistinct => {
                let estimates = sketches
                    .into_iter()
                    .map(|s| s.map_or(Ok(0), |mut s| s.estimate()))
                    .collect::<crate::error::Result<Vec<i64>>>()
                    .map_err(df_err)?;
                Ok(Arc::new(Int64Array::from(estimates)))
            }
            _ => self.bytes(sketches),
        }
    }

    /// Each row as its own one-row group's state.
    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> DfResult<Vec<ArrayRef>> {
        let rows = values[0].len();
        let mut one_per_row = HllGroupsAccumulator::new(self.kind, self.precision);
        one_per_row.update_batch(values, &(0..rows).collect::<Vec<_>>(), opt_filter, rows)?;
        one_per_row.state(EmitTo::All)
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.sketches.capacity() * std::mem::size_of::<Option<HllSketch>>()
            + self.sketches.iter().flatten().map(HllSketch::size).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BinaryArray, Int64Array, StringArray};

    fn ints(v: Vec<Option<i64>>) -> ArrayRef {
        Arc::new(Int64Array::from(v))
    }

    fn estimates(acc: &mut HllGroupsAccumulator, emit: EmitTo) -> Vec<i64> {
        acc.evaluate(emit).unwrap().as_primitive::<datafusion::arrow::datatypes::Int64Type>().values().to_vec()
    }

    #[test]
    fn counts_per_group_skipping_nulls_and_filtered_rows() {
        let mut acc = HllGroupsAccumulator::new(HllKind::ApproxCountDistinct, 12);
        let values = ints(vec![Some(1), Some(2), Some(1), None, Some(3), Some(4)]);
        let filter = BooleanArray::from(vec![Some(true), Some(true), Some(true), Some(true), None, Some(false)]);
        acc.update_batch(&[values], &[0, 0, 0, 1, 1, 2], Some(&filter), 4).unwrap();
        assert_eq!(estimates(&mut acc, EmitTo::All), vec![2, 0, 0, 0]);
    }

    #[test]
    fn state_merges_into_the_same_estimates_and_emit_first_keeps_the_rest() {
        let mut a = HllGroupsAccumulator::new(HllKind::ApproxCountDistinct, 12);
        let values = ints((0..3000).map(Some).collect());
        let groups: Vec<usize> = (0..3000).map(|i| i % 3).collect();
        a.update_batch(&[values], &groups, None, 3).unwrap();
        let state = a.state(EmitTo::First(2)).unwrap();
        assert_eq!(state[0].len(), 2);
        assert_eq!(a.sketches.len(), 1, "one group left");
        let mut b = HllGroupsAccumulator::new(HllKind::ApproxCountDistinct, 12);
        b.merge_batch(&state, &[1, 0], 2).unwrap();
        b.merge_batch(&state, &[1, 0], 2).unwrap();
        let mut direct = HllSketch::new(12).unwrap();
        for v in (0..3000).step_by(3) {
            direct.insert_hash(hash_column(&ints(vec![Some(v)])).unwrap()[0].unwrap());
        }
        let got = estimates(&mut b, EmitTo::All);
        assert_eq!(got[1], direct.estimate().unwrap(), "group 0 went to group 1, merged twice");
        assert_eq!(estimates(&mut a, EmitTo::All).len(), 1);
    }

    #[test]
    fn hll_merge_is_null_without_input_and_rejects_non_sketches() {
        let mut sketch = HllGroupsAccumulator::new(HllKind::Sketch, 10);
        sketch.update_batch(&[ints(vec![Some(7)])], &[1], None, 2).unwrap();
        let bytes = sketch.evaluate(EmitTo::All).unwrap();
        assert!(bytes.is_valid(0), "HLL_SKETCH of no rows is the empty sketch");
        let mut merge = HllGroupsAccumulator::new(HllKind::Merge, 12);
        merge.update_batch(&[bytes], &[0, 0], None, 2).unwrap();
        let out = merge.evaluate(EmitTo::All).unwrap();
        let out: &BinaryArray = out.as_binary();
        assert_eq!(HllSketch::from_bytes(out.value(0)).unwrap().precision(), 10, "precision of the input");
        assert!(out.is_null(1));
        let mut merge = HllGroupsAccumulator::new(HllKind::Merge, 12);
        let text: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
        assert!(merge.update_batch(&[text], &[0], None, 1).is_err());
    }

    #[test]
    fn converted_rows_are_one_row_sketches() {
        let acc = HllGroupsAccumulator::new(HllKind::ApproxCountDistinct, 12);
        let state = acc.convert_to_state(&[ints(vec![Some(5), None])], None).unwrap();
        let state = state[0].as_binary::<i32>();
        let mut one = HllSketch::new(12).unwrap();
        one.insert_hash(hash_column(&ints(vec![Some(5)])).unwrap()[0].unwrap());
        assert_eq!(state.value(0), one.to_bytes().as_slice());
        assert_eq!(state.value(1), HllSketch::new(12).unwrap().to_bytes().as_slice());
    }
}
