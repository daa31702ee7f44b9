//! Bloom filters in SQL:
//!
//! - `BLOOM_FILTER(x [, expected_items [, fpp]])` → `BYTES`: a filter of the non-NULL `x`
//!   ([`super::bloom_sketch`] format; defaults 10 000 items at 1 %);
//! - `BLOOM_MERGE(filter)` → `BYTES`: the union of equally shaped filters (NULL when none);
//! - `BLOOM_CONTAINS(filter, x)` → `BOOLEAN`: false means `x` was certainly never added;
//!   true means it probably was (false positives at about `fpp` when the filter holds
//!   `expected_items` values). NULL if either argument is NULL.
//!
//! As with the HLL functions, the partial state is the filter bytes, so windows merge pane
//! states and snapshots store the bytes.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, TypeSignature, Volatility,
};

use super::bloom_sketch::{BloomSketch, DEFAULT_CAPACITY, DEFAULT_FPP};
use super::sketch_hash::hash_column;
use super::{df_err, literal_arg};

/// Registers the three Bloom filter functions.
pub fn register(ctx: &SessionContext) {
    ctx.register_udaf(AggregateUDF::new_from_impl(BloomAggregate::new(false)));
    ctx.register_udaf(AggregateUDF::new_from_impl(BloomAggregate::new(true)));
    ctx.register_udf(ScalarUDF::new_from_impl(BloomContains::new()));
}

/// `BLOOM_FILTER` (`merge = false`) or `BLOOM_MERGE` (`merge = true`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BloomAggregate {
    merge: bool,
    signature: Signature,
}

impl BloomAggregate {
    /// The aggregate.
    pub fn new(merge: bool) -> Self {
        let signature = if merge {
            Signature::uniform(1, vec![DataType::Binary], Volatility::Immutable)
        } else {
            Signature::one_of(
                vec![TypeSignature::Any(1), TypeSignature::Any(2), TypeSignature::Any(3)],
                Volatility::Immutable,
            )
        };
        BloomAggregate { merge, signature }
    }
}

impl AggregateUDFImpl for BloomAggregate {
    fn name(&self) -> &str {
        if self.merge {
            "bloom_merge"
        } else {
            "bloom_filter"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Binary)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        if self.merge {
            return Ok(Box::new(BloomAccumulator { merge: true, filter: None }));
        }
        let capacity = match literal_arg(&args, 1)? {
            None => DEFAULT_CAPACITY,
            Some(v) => match v.cast_to(&DataType::Int64) {
                Ok(ScalarValue::Int64(Some(n))) if n > 0 => n as usize,
                _ => {
                    return Err(DataFusionError::Plan(format!(
                        "bloom_filter: expected_items must be a positive integer, got {v}"
                    )))
                }
            },
        };
        let fpp = match literal_arg(&args, 2)? {
            None => DEFAULT_FPP,
            Some(v) => match v.cast_to(&DataType::Float64) {
                Ok(ScalarValue::Float64(Some(p))) => p,
                _ => return Err(DataFusionError::Plan(format!("bloom_filter: fpp must be a number, got {v}"))),
            },
        };
        let filter = BloomSketch::new(capacity, fpp).map_err(df_err)?;
        Ok(Box::new(BloomAccumulator { merge: false, filter: Some(filter) }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(format_state_name(args.name, "bloom"), DataType::Binary, true))])
    }
}

#[derive(Debug)]
struct BloomAccumulator {
    merge: bool,
    filter: Option<BloomSketch>,
}

impl BloomAccumulator {
    fn merge_filters(&mut self, column: &ArrayRef) -> DfResult<()> {
        let bytes = column.as_binary_opt::<i32>().ok_or_else(|| {
            DataFusionError::Plan(format!("bloom_merge: expects a Bloom filter (BYTES), got {}", column.data_type()))
        })?;
        for b in bytes.iter().flatten() {
            let other = BloomSketch::from_bytes(b).map_err(df_err)?;
            match &mut self.filter {
                Some(f) => f.merge(&other).map_err(df_err)?,
                None => self.filter = Some(other),
            }
        }
        Ok(())
    }
}

impl Accumulator for BloomAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        if self.merge {
            return self.merge_filters(&values[0]);
        }
        let filter = self
            .filter
            .as_mut()
            .ok_or_else(|| DataFusionError::Internal("Bloom accumulator without a filter".into()))?;
        for h in hash_column(&values[0]).map_err(df_err)?.into_iter().flatten() {
            filter.insert_hash(h);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        self.merge_filters(&states[0])
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        Ok(ScalarValue::Binary(self.filter.as_ref().map(|f| f.to_bytes())))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.filter.as_ref().map_or(0, |f| f.size())
    }
}

/// `BLOOM_CONTAINS(filter, x)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BloomContains {
    signature: Signature,
}

impl BloomContains {
    /// The function.
    pub fn new() -> Self {
        BloomContains { signature: Signature::any(2, Volatility::Immutable) }
    }
}

impl Default for BloomContains {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for BloomContains {
    fn name(&self) -> &str {
        "bloom_contains"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types.first() {
            Some(DataType::Binary | DataType::Null) => Ok(DataType::Boolean),
            other => Err(DataFusionError::Plan(format!(
                "bloom_contains(filter, value): the filter must be BYTES (from BLOOM_FILTER), got {}",
                other.map(|t| t.to_string()).unwrap_or_default()
            ))),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let n = if all_scalar { 1 } else { args.number_rows };
        let filters = args.args[0].to_array(n)?;
        let filters = if filters.data_type() == &DataType::Null {
            datafusion::arrow::array::new_null_array(&DataType::Binary, n)
        } else {
            filters
        };
        let hashes = hash_column(&args.args[1].to_array(n)?).map_err(df_err)?;
        // Usually one filter for all rows (a scalar or a repeated value): decode it once.
        let mut cached: Option<(&[u8], BloomSketch)> = None;
        let mut out = Vec::with_capacity(n);
        for (b, h) in filters.as_binary::<i32>().iter().zip(hashes) {
            let (Some(b), Some(h)) = (b, h) else {
                out.push(None);
                continue;
            };
            if cached.as_ref().is_none_or(|(bytes, _)| *bytes != b) {
                cached = Some((b, BloomSketch::from_bytes(b).map_err(df_err)?));
            }
            out.push(cached.as_ref().map(|(_, f)| f.contains_hash(h)));
        }
        let out = BooleanArray::from(out);
        Ok(if all_scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(Arc::new(out))
        })
    }
}
