//! Which aggregates can follow an updating input (`-U`/`-D` rows retract earlier ones).
//!
//! A HyperLogLog or a Bloom filter cannot remove a value, so over an updating input they
//! would silently over-count. The planner calls [`check_aggregate`] for every aggregate it
//! lowers and refuses such a plan with a SQL error instead.

use datafusion::physical_expr::aggregate::AggregateFunctionExpr;

use crate::error::{Error, Result};

/// Aggregates that cannot take back a value: our sketches and DataFusion's approximate
/// aggregates (none of them implements `retract_batch`).
const NOT_RETRACTABLE: &[&str] = &[
    "approx_count_distinct",
    "hll_sketch",
    "hll_merge",
    "bloom_filter",
    "bloom_merge",
    "approx_distinct",
    "approx_median",
    "approx_percentile_cont",
    "approx_percentile_cont_with_weight",
];

/// Whether the aggregate function `name` (case-insensitive) can be maintained over an
/// updating input, i.e. can remove a value it has added.
pub fn is_retractable(name: &str) -> bool {
    !NOT_RETRACTABLE.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Checks an aggregate at planning time: its constant arguments (a sketch's precision or
/// size) are valid, and, when `updating_input`, that it can take retractions.
pub fn check_aggregate(agg: &AggregateFunctionExpr, updating_input: bool) -> Result<()> {
    let name = agg.fun().name();
    if updating_input && !is_retractable(name) {
        return Err(Error::sql(format!(
            "{} cannot be used over an updating input (one with -U/-D rows, e.g. a window with allowed lateness or a GROUP BY without a window): it cannot remove a value it has counted. Aggregate the append-only stream instead",
            name.to_ascii_uppercase()
        )));
    }
    if !is_retractable(name) {
        // Builds one accumulator so a bad constant argument fails now, not at the first row.
        agg.create_accumulator()?;
    }
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
        for f in ["count", "sum", "min", "max", "avg"] {
            assert!(is_retractable(f), "{f}");
        }
    }
}
