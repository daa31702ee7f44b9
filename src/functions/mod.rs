//! Functions Flink SQL users expect that DataFusion does not have, registered on every
//! planner.

use std::sync::Arc;

use datafusion::arrow::compute::kernels::numeric::rem;
use datafusion::arrow::datatypes::DataType;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};

/// Registers Wavecrest's extra functions.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(mod_udf());
    ctx.register_udf(crate::exec::current_watermark::udf());
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
