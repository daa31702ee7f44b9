//! `WHERE` and `HAVING`: keeps rows whose predicate is true (over a changelog, update
//! pairs are rewritten as the [`super::changelog`] table says).

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::physical_expr::PhysicalExpr;

use super::changelog::filter_changelog;
use super::chunk::Chunk;
use super::operator::Operator;
use crate::error::{Error, Result};

/// Filters rows with a DataFusion predicate evaluated on whole batches.
pub struct FilterOp {
    predicate: Arc<dyn PhysicalExpr>,
}

impl FilterOp {
    /// A filter on `predicate`, which must evaluate to booleans over the input schema.
    pub fn new(predicate: Arc<dyn PhysicalExpr>) -> Self {
        FilterOp { predicate }
    }
}

impl Operator for FilterOp {
    fn name(&self) -> &str {
        "Filter"
    }

    fn on_chunk(&mut self, chunk: Chunk) -> Result<Vec<Chunk>> {
        let value = self.predicate.evaluate(&chunk.batch)?.into_array(chunk.num_rows())?;
        let mask = value
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| Error::internal("filter predicate is not boolean"))?;
        if mask.true_count() == chunk.num_rows() && mask.null_count() == 0 {
            return Ok(vec![chunk]);
        }
        let out = if chunk.ops.is_some() { filter_changelog(&chunk, mask)? } else { chunk.filter(mask)? };
        Ok(if out.num_rows() == 0 { vec![] } else { vec![out] })
    }
}
