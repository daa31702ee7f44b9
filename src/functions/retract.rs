//! Which aggregates can follow an updating input (`-U`/`-D` rows retract earlier ones).
//!
//! A HyperLogLog or a Bloom filter cannot remove a value, so over an updating input they
//! would silently over-count. The planner calls [`check_aggregate`] for every aggregate it
//! lowers and refuses such a plan with a SQL error instead.

use datafusion::physical_expr::aggregate::AggregateFunctionExpr;

use crate::error::{Error, Result};

/// Aggregates that take a row back exactly (`retract_batch`). DataFusion's sliding MIN
/// and MAX retract only in arrival order (a moving window), and sketches (HyperLogLog,
/// Bloom filters) cannot remove a value at all, so they are not among them.
const RETRACTABLE: &[&str] = &["count", "sum", "avg"];

/// Whether the aggregate function `name` (case-insensitive) can be maintained over an
/// updating input, i.e. can remove a value it has added.
pub fn is_retractable(name: &str) -> bool {
    RETRACTABLE.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Checks an aggregate at planning time: its constant arguments (a sketch's precision or
/// size) are valid, and, when `updating_input`, that it can take retractions.
pub fn check_aggregate(agg: &AggregateFunctionExpr, updating_input: bool) -> Result<()> {
    let name = agg.fun().name();
    if updating_input && (agg.is_distinct() || !is_retractable(name)) {
        let what =
            if agg.is_distinct() { format!("{}(DISTINCT ..)", name.to_uppercase()) } else { name.to_uppercase() };
        return Err(Error::sql(format!(
            "{what} cannot be maintained over an updating input (one with -U/-D rows, e.g. a GROUP BY without a window): it cannot take back a row it has counted; COUNT, SUM and AVG can"
        )));
    }
    // Builds one accumulator so a bad constant argument fails now, not at the first row.
    agg.create_accumulator()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketches_are_not_retractable_and_exact_aggregates_are() {
        for f in ["APPROX_COUNT_DISTINCT", "hll_sketch", "HLL_MERGE", "bloom_filter", "bloom_merge"] {
            assert!(!is_retractable(f), "{f}");
        }
        for f in ["min", "max", "first_value"] {
            assert!(!is_retractable(f), "{f}: retracts in arrival order only");
        }
        for f in ["count", "sum", "avg"] {
            assert!(is_retractable(f), "{f}");
        }
    }
}
