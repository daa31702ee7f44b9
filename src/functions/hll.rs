//! HyperLogLog++ in SQL:
//!
//! - `APPROX_COUNT_DISTINCT(x [, precision])` → `BIGINT`: estimated number of distinct
//!   non-NULL `x`, any Arrow type;
//! - `HLL_SKETCH(x [, precision])` → `BYTES`: the sketch itself ([`super::hll_sketch`] format);
//! - `HLL_MERGE(sketch)` → `BYTES`: the union of sketches (NULL when there are none);
//! - `HLL_ESTIMATE(sketch)` → `BIGINT`: a sketch's estimate.
//!
//! `precision` is a constant 4..=18 (default 12: standard error ≈ 1.63 %). Each aggregate's
//! partial state is the sketch bytes, so windows merge pane states (`state` → `merge_batch`)
//! instead of re-adding rows, and snapshots store the bytes. Grouped aggregation (every
//! window and `GROUP BY`) uses the vectorised [`super::hll_groups`] accumulator; the
//! row-at-a-time [`Accumulator`] remains for DataFusion's ungrouped paths. HLLs cannot
//! remove a value: see [`super::retract`].

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, GroupsAccumulator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

use super::hll_groups::HllGroupsAccumulator;
use super::hll_sketch::{HllSketch, DEFAULT_PRECISION};
use super::sketch_hash::hash_column;
use super::{df_err, literal_arg};

/// Registers the four HLL functions.
pub fn register(ctx: &SessionContext) {
    for kind in [HllKind::ApproxCountDistinct, HllKind::Sketch, HllKind::Merge] {
        ctx.register_udaf(AggregateUDF::new_from_impl(HllAggregate::new(kind)));
    }
    ctx.register_udf(ScalarUDF::new_from_impl(HllEstimate::new()));
}

/// Which HLL aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HllKind {
    /// `APPROX_COUNT_DISTINCT(x [, precision])`.
    ApproxCountDistinct,
    /// `HLL_SKETCH(x [, precision])`.
    Sketch,
    /// `HLL_MERGE(sketch)`.
    Merge,
}

impl HllKind {
    /// The SQL name (lower case, as DataFusion resolves it).
    pub fn name(self) -> &'static str {
        match self {
            HllKind::ApproxCountDistinct => "approx_count_distinct",
            HllKind::Sketch => "hll_sketch",
            HllKind::Merge => "hll_merge",
        }
    }
}

/// One of the HLL aggregate functions.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HllAggregate {
    kind: HllKind,
    signature: Signature,
}

impl HllAggregate {
    /// The aggregate of that kind.
    pub fn new(kind: HllKind) -> Self {
        let signature = match kind {
            HllKind::Merge => Signature::uniform(1, vec![DataType::Binary], Volatility::Immutable),
            _ => Signature::one_of(vec![TypeSignature::Any(1), TypeSignature::Any(2)], Volatility::Immutable),
        };
        HllAggregate { kind, signature }
    }
}

impl AggregateUDFImpl for HllAggregate {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match self.kind {
            HllKind::ApproxCountDistinct => DataType::Int64,
            _ => DataType::Binary,
        })
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let precision = self.precision(&args)?;
        let sketch = match self.kind {
            HllKind::Merge => None,
            _ => Some(HllSketch::new(precision).map_err(df_err)?),
        };
        Ok(Box::new(HllAccumulator { kind: self.kind, sketch }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn GroupsAccumulator>> {
        let precision = self.precision(&args)?;
        HllSketch::new(precision).map_err(df_err)?;
        Ok(Box::new(HllGroupsAccumulator::new(self.kind, precision)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(format_state_name(args.name, "hll"), DataType::Binary, true))])
    }

    fn default_value(&self, data_type: &DataType) -> DfResult<ScalarValue> {
        match self.kind {
            HllKind::ApproxCountDistinct => Ok(ScalarValue::Int64(Some(0))),
            _ => ScalarValue::try_from(data_type),
        }
    }
}

impl HllAggregate {
    /// The constant `precision` argument, or the default.
    fn precision(&self, args: &AccumulatorArgs) -> DfResult<u8> {
        Ok(match literal_arg(args, 1)? {
            None => DEFAULT_PRECISION,
            Some(v) => v
                .cast_to(&DataType::Int64)
                .ok()
                .and_then(|v| match v {
                    ScalarValue::Int64(Some(p)) => u8::try_from(p).ok(),
                    _ => None,
                })
                .ok_or_else(|| {
                    DataFusionError::Plan(format!(
                        "{}: precision must be an integer between 4 and 18, got {v}",
                        self.kind.name()
                    ))
                })?,
        })
    }
}

/// The state of one group: its sketch (none yet for `HLL_MERGE` before the first input).
#[derive(Debug)]
struct HllAccumulator {
    kind: HllKind,
    sketch: Option<HllSketch>,
}

impl HllAccumulator {
    /// Merges a column of sketch bytes (NULLs skipped).
    fn merge_sketches(&mut self, column: &ArrayRef) -> DfResult<()> {
        let bytes = column.as_binary_opt::<i32>().ok_or_else(|| {
            DataFusionError::Plan(format!("{}: expects a sketch (BYTES), got {}", self.kind.name(), column.data_type()))
        })?;
        for b in bytes.iter().flatten() {
            match &mut self.sketch {
                Some(s) => s.merge_bytes(b).map_err(df_err)?,
                None => self.sketch = Some(HllSketch::from_bytes(b).map_err(df_err)?),
            }
        }
        Ok(())
    }
}

impl Accumulator for HllAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        match (&mut self.sketch, self.kind) {
            (_, HllKind::Merge) => self.merge_sketches(&values[0]),
            (Some(s), _) => {
                for h in hash_column(&values[0]).map_err(df_err)?.into_iter().flatten() {
                    s.insert_hash(h);
                }
                Ok(())
            }
            (None, _) => Err(DataFusionError::Internal("HLL accumulator without a sketch".into())),
        }
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        self.merge_sketches(&states[0])
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(self.sketch.as_mut().map(|s| s.to_bytes()))])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        Ok(match self.kind {
            HllKind::ApproxCountDistinct => {
                ScalarValue::Int64(Some(self.sketch.as_mut().map_or(Ok(0), |s| s.estimate()).map_err(df_err)?))
            }
            _ => ScalarValue::Binary(self.sketch.as_mut().map(|s| s.to_bytes())),
        })
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.sketch.as_ref().map_or(0, |s| s.size())
    }
}

/// `HLL_ESTIMATE(sketch)`: the estimate of a sketch; NULL for NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HllEstimate {
    signature: Signature,
}

impl HllEstimate {
    /// The function.
    pub fn new() -> Self {
        HllEstimate { signature: Signature::uniform(1, vec![DataType::Binary], Volatility::Immutable) }
    }
}

impl Default for HllEstimate {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for HllEstimate {
    fn name(&self) -> &str {
        "hll_estimate"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let column = args.args[0].to_array(if scalar { 1 } else { args.number_rows })?;
        let out: Int64Array = column
            .as_binary::<i32>()
            .iter()
            .map(|b| b.map(|b| HllSketch::from_bytes(b).and_then(|mut s| s.estimate())).transpose())
            .collect::<Result<_, _>>()
            .map_err(df_err)?;
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(Arc::new(out))
        })
    }
}
