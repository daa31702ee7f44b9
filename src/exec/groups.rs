//! Vectorised per-key aggregate state: DataFusion's `GroupValues` (key → group index) plus
//! one `GroupsAccumulator` per aggregate. One `Groups` holds one pane (or one merged window).

use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::array::{ArrayRef, BooleanArray, UInt8Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::{GroupsAccumulatorAdapter, PhysicalExpr};
use datafusion::physical_plan::aggregates::group_values::{new_group_values, GroupValues};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use crate::error::{Error, Result};

/// An aggregate and its optional `FILTER (WHERE ..)` predicate.
pub type AggregateWithFilter = (Arc<AggregateFunctionExpr>, Option<Arc<dyn PhysicalExpr>>);

/// The grouping keys' schema; a query without keys groups on one constant column.
pub fn key_schema(fields: Vec<Field>) -> SchemaRef {
    if fields.is_empty() {
        Arc::new(Schema::new(vec![Field::new("__all", DataType::UInt8, false)]))
    } else {
        Arc::new(Schema::new(fields))
    }
}

/// Key columns for `n` rows of a key-less aggregate.
pub fn constant_key(n: usize) -> Vec<ArrayRef> {
    vec![Arc::new(UInt8Array::from(vec![0u8; n]))]
}

/// Key → group index map plus one accumulator per aggregate.
pub struct Groups {
    values: Box<dyn GroupValues>,
    accs: Vec<Box<dyn GroupsAccumulator>>,
    indices: Vec<usize>,
}

/// Creates the accumulator for one aggregate, vectorised when DataFusion has one.
pub fn new_accumulator(agg: &Arc<AggregateFunctionExpr>) -> Result<Box<dyn GroupsAccumulator>> {
    if agg.groups_accumulator_supported() {
        Ok(agg.create_groups_accumulator()?)
    } else {
        let agg = Arc::clone(agg);
        Ok(Box::new(GroupsAccumulatorAdapter::new(move || agg.create_accumulator())))
    }
}

impl Groups {
    /// Empty state for keys of `key_schema` and the given aggregates.
    pub fn new(key_schema: &SchemaRef, aggs: &[Arc<AggregateFunctionExpr>]) -> Result<Self> {
        let values = new_group_values(key_schema.clone(), &GroupOrdering::None)?;
        let accs = aggs.iter().map(new_accumulator).collect::<Result<Vec<_>>>()?;
        Ok(Groups { values, accs, indices: Vec::new() })
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no key has been seen.
    pub fn is_empty(&self) -> bool {
        self.values.len() == 0
    }

    /// Adds rows: `keys` are the key columns, `args[i]` the argument columns of aggregate
    /// `i`, `filters[i]` its `FILTER (WHERE ..)` mask.
    pub fn update(
        &mut self,
        keys: &[ArrayRef],
        args: &[Vec<ArrayRef>],
        filters: &[Option<BooleanArray>],
    ) -> Result<()> {
        self.values.intern(keys, &mut self.indices)?;
        let total = self.values.len();
        for ((acc, a), f) in self.accs.iter_mut().zip(args).zip(filters) {
            acc.update_batch(a, &self.indices, f.as_ref(), total)?;
        }
        Ok(())
    }

    /// Merges partial states (as produced by [`Groups::take_state`]) for `keys`.
    pub fn merge(&mut self, keys: &[ArrayRef], states: &[Vec<ArrayRef>]) -> Result<()> {
        self.values.intern(keys, &mut self.indices)?;
        let total = self.values.len();
        for (acc, s) in self.accs.iter_mut().zip(states) {
            acc.merge_batch(s, &self.indices, total)?;
        }
        Ok(())
    }

    /// Drains the state: key columns and each aggregate's partial-state columns.
    pub fn take_state(&mut self) -> Result<(Vec<ArrayRef>, Vec<Vec<ArrayRef>>)> {
        let states =
            self.accs.iter_mut().map(|a| a.state(EmitTo::All)).collect::<datafusion::error::Result<Vec<_>>>()?;
        let keys = self.values.emit(EmitTo::All)?;
        Ok((keys, states))
    }

    /// Drains the state as final results: key columns and one column per aggregate.
    pub fn evaluate(&mut self) -> Result<(Vec<ArrayRef>, Vec<ArrayRef>)> {
        let values =
            self.accs.iter_mut().map(|a| a.evaluate(EmitTo::All)).collect::<datafusion::error::Result<Vec<_>>>()?;
        let keys = self.values.emit(EmitTo::All)?;
        Ok((keys, values))
    }

    /// Approximate memory use in bytes.
    pub fn size(&self) -> usize {
        self.values.size() + self.accs.iter().map(|a| a.size()).sum::<usize>()
    }
}

/// Per aggregate: its argument columns, and its `FILTER` mask.
pub type AggregateInputs = (Vec<Vec<ArrayRef>>, Vec<Option<BooleanArray>>);

/// Evaluates, over `batch`, each aggregate's argument columns and its `FILTER (WHERE ..)`
/// mask (`None` without a filter).
pub fn aggregate_inputs(aggregates: &[AggregateWithFilter], batch: &RecordBatch) -> Result<AggregateInputs> {
    let n = batch.num_rows();
    let mut args = Vec::with_capacity(aggregates.len());
    let mut filters = Vec::with_capacity(aggregates.len());
    for (agg, filter) in aggregates {
        args.push(
            agg.expressions()
                .iter()
                .map(|e| e.evaluate(batch)?.into_array(n))
                .collect::<datafusion::error::Result<Vec<_>>>()?,
        );
        filters.push(match filter {
            Some(f) => Some(
                f.evaluate(batch)?
                    .into_array(n)?
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .cloned()
                    .ok_or_else(|| Error::internal("FILTER is not boolean"))?,
            ),
            None => None,
        });
    }
    Ok((args, filters))
}

/// The rows at `idx` of key columns and aggregate inputs (as [`aggregate_inputs`] gives
/// them): what one pane or session receives from a chunk.
pub fn take_inputs(
    keys: &[ArrayRef],
    inputs: (&[Vec<ArrayRef>], &[Option<BooleanArray>]),
    idx: &datafusion::arrow::array::UInt32Array,
) -> Result<(Vec<ArrayRef>, AggregateInputs)> {
    use datafusion::arrow::compute::take;
    let pick = |a: &ArrayRef| take(a.as_ref(), idx, None);
    let keys = keys.iter().map(pick).collect::<std::result::Result<Vec<_>, _>>()?;
    let args = inputs
        .0
        .iter()
        .map(|a| a.iter().map(pick).collect::<std::result::Result<Vec<_>, _>>())
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let filters = inputs
        .1
        .iter()
        .map(|f| match f {
            Some(f) => Ok(Some(
                datafusion::arrow::compute::take(f, idx, None)?
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .cloned()
                    .ok_or_else(|| Error::internal("FILTER is not boolean"))?,
            )),
            None => Ok(None),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((keys, (args, filters)))
}
