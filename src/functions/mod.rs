//! Functions Flink SQL users expect that DataFusion does not have, registered on every
//! planner: `MOD`, the probabilistic sketches (HyperLogLog++ and Bloom filters, see
//! [`hll`] and [`bloom`]) and `CORRECT_EVENT_TIME` (clock-skew correction).

use std::sync::Arc;

use datafusion::arrow::compute::kernels::numeric::rem;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use datafusion::physical_expr::expressions::Literal;

use crate::error::{Error, ErrorKind};

pub mod bloom;
pub mod bloom_sketch;
pub mod correct_event_time;
pub mod hll;
pub mod hll_crate;
pub mod hll_groups;
pub mod hll_sketch;
pub mod retract;
pub mod sketch_hash;

pub use retract::{check_aggregate, is_retractable};

/// Registers Wavecrest's extra functions.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(mod_udf());
    ctx.register_udf(crate::exec::current_watermark::udf());
    hll::register(ctx);
    bloom::register(ctx);
    ctx.register_udf(correct_event_time::udf());
}

/// `MOD(a, b)`: the remainder of integer division, with the sign of `a` (Flink, SQL
/// standard); NULL if either is NULL; an error for `b = 0`.
fn mod_udf() -> datafusion::logical_expr::ScalarUDF {
    create_udf(
        "mod",
        vec![DataType::Int64, DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let rows = args
                .iter()
                .find_map(|a| match a {
                    ColumnarValue::Array(a) => Some(a.len()),
                    ColumnarValue::Scalar(_) => None,
                })
                .unwrap_or(1);
            let a = args[0].to_array(rows)?;
            let b = args[1].to_array(rows)?;
            let out = rem(&a, &b)?;
            Ok(if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
                ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&out, 0)?)
            } else {
                ColumnarValue::Array(out)
            })
        }),
    )
}

/// Our error as DataFusion's, keeping its kind (a SQL mistake stays a planning error).
pub(crate) fn df_err(e: Error) -> DataFusionError {
    match e.kind {
        ErrorKind::Sql => DataFusionError::Plan(e.message),
        _ => DataFusionError::Execution(e.message),
    }
}

/// The constant value of an aggregate's `i`-th argument, if given; an error if it is given
/// but not a constant (sketch parameters shape the state, so they cannot vary by row).
pub(crate) fn literal_arg(args: &AccumulatorArgs, i: usize) -> datafusion::error::Result<Option<ScalarValue>> {
    match args.exprs.get(i) {
        None => Ok(None),
        Some(e) => match e.downcast_ref::<Literal>() {
            Some(l) if !l.value().is_null() => Ok(Some(l.value().clone())),
            _ => Err(DataFusionError::Plan(format!(
                "{}: argument {} must be a constant, got {e}",
                args.name.split('(').next().unwrap_or(args.name),
                i + 1
            ))),
        },
    }
}
