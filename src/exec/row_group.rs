//! One group's aggregate state, kept per key by operators that emit a group's changes as
//! they happen: accumulators that can be read at any time (and retract when the input is
//! a changelog), the group's row count, and the values last emitted.

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;
use serde::{Deserialize, Serialize};

use super::groups::AggregateWithFilter;
use super::state_codec::{decode_arrays, encode_arrays};
use crate::error::Result;

/// What a group's result did since its last emission.
#[derive(Debug, PartialEq)]
pub enum Change {
    /// Nothing visible changed.
    None,
    /// First result: `+I`.
    Insert(Vec<ScalarValue>),
    /// `-U` old, `+U` new.
    Update(Vec<ScalarValue>, Vec<ScalarValue>),
}

/// A group's state. See the module docs.
pub struct RowGroup {
    accs: Vec<Box<dyn Accumulator>>,
    /// Net number of rows (inserts minus retractions).
    pub rows: i64,
    /// The values last emitted, if any.
    pub emitted: Option<Vec<ScalarValue>>,
    /// Whether rows changed the state since the last [`RowGroup::change`].
    pub dirty: bool,
    /// Free for the operator: e.g. the watermark when the group last changed.
    pub touched: i64,
}

/// Fresh accumulators for `aggregates`; `retracting` ones can take rows back.
pub fn accumulators(aggregates: &[AggregateWithFilter], retracting: bool) -> Result<Vec<Box<dyn Accumulator>>> {
    aggregates
        .iter()
        .map(|(agg, _)| Ok(if retracting { agg.create_sliding_accumulator()? } else { agg.create_accumulator()? }))
        .collect()
}

impl RowGroup {
    /// An empty group.
    pub fn new(aggregates: &[AggregateWithFilter], retracting: bool, touched: i64) -> Result<Self> {
        Ok(RowGroup { accs: accumulators(aggregates, retracting)?, rows: 0, emitted: None, dirty: false, touched })
    }

    /// Adds (or, with `add = false`, retracts) row `i` of the evaluated aggregate inputs,
    /// honouring each aggregate's `FILTER` mask.
    pub fn apply(
        &mut self,
        args: &[Vec<ArrayRef>],
        filters: &[Option<BooleanArray>],
        i: usize,
        add: bool,
    ) -> Result<()> {
        for (j, acc) in self.accs.iter_mut().enumerate() {
            if filters[j].as_ref().is_some_and(|f| !f.is_valid(i) || !f.value(i)) {
                continue;
            }
            let row: Vec<ArrayRef> = args[j].iter().map(|a| a.slice(i, 1)).collect();
            if add {
                acc.update_batch(&row)?;
            } else {
                acc.retract_batch(&row)?;
            }
        }
        self.rows += if add { 1 } else { -1 };
        self.dirty = true;
        Ok(())
    }

    /// The current result values.
    pub fn values(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self.accs.iter_mut().map(|a| a.evaluate()).collect::<datafusion::error::Result<Vec<_>>>()?)
    }

    /// The change since the last emission, recorded as emitted.
    pub fn change(&mut self) -> Result<Change> {
        self.dirty = false;
        let new = self.values()?;
        Ok(match self.emitted.replace(new.clone()) {
            Some(old) if old == new => Change::None,
            Some(old) => Change::Update(old, new),
            None => Change::Insert(new),
        })
    }

    /// The group as serialisable state.
    pub fn snapshot(&mut self, key: Vec<u8>) -> Result<GroupSnapshot> {
        let mut states = Vec::with_capacity(self.accs.len());
        for acc in self.accs.iter_mut() {
            let state =
                acc.state()?.into_iter().map(|v| v.to_array()).collect::<datafusion::error::Result<Vec<_>>>()?;
            states.push(encode_arrays(&state)?);
        }
        let emitted = match &self.emitted {
            Some(v) => Some(encode_arrays(
                &v.iter().map(|v| v.to_array()).collect::<datafusion::error::Result<Vec<ArrayRef>>>()?,
            )?),
            None => None,
        };
        Ok(GroupSnapshot { key, rows: self.rows, touched: self.touched, dirty: self.dirty, states, emitted })
    }

    /// A group rebuilt from [`RowGroup::snapshot`].
    pub fn restore(aggregates: &[AggregateWithFilter], retracting: bool, snap: &GroupSnapshot) -> Result<Self> {
        let mut accs = accumulators(aggregates, retracting)?;
        for (acc, state) in accs.iter_mut().zip(&snap.states) {
            acc.merge_batch(&decode_arrays(state)?)?;
        }
        let emitted = match &snap.emitted {
            Some(bytes) => Some(
                decode_arrays(bytes)?
                    .iter()
                    .map(|a| ScalarValue::try_from_array(a, 0))
                    .collect::<datafusion::error::Result<Vec<_>>>()?,
            ),
            None => None,
        };
        Ok(RowGroup { accs, rows: snap.rows, emitted, dirty: snap.dirty, touched: snap.touched })
    }
}

/// A group's serialised state.
#[derive(Serialize, Deserialize)]
pub struct GroupSnapshot {
    /// The operator's key bytes for the group.
    #[serde(with = "crate::runtime::checkpoint::base64_bytes::one")]
    pub key: Vec<u8>,
    /// See [`RowGroup::rows`].
    pub rows: i64,
    /// See [`RowGroup::touched`].
    pub touched: i64,
    /// See [`RowGroup::dirty`].
    #[serde(default)]
    pub dirty: bool,
    /// Per aggregate, its state columns (one row), IPC-encoded.
    #[serde(with = "crate::runtime::checkpoint::base64_bytes::list")]
    pub states: Vec<Vec<u8>>,
    /// The emitted values (one row), IPC-encoded.
    #[serde(with = "crate::runtime::checkpoint::base64_bytes::option")]
    pub emitted: Option<Vec<u8>>,
}
