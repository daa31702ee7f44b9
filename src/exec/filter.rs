//! `WHERE` and `HAVING`: keeps rows whose predicate is true (over a changelog, update
//! pairs are rewritten as the [`super::changelog`] table says).

use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::physical_expr::PhysicalExpr;

use super::changelog::filter_changelog;
use super::chunk::Chunk;
use super::current_watermark::with_watermark_column;
use super::operator::Operator;
use crate::error::{Error, Result};

/// Filters rows with a DataFusion predicate evaluated on whole batches.
pub struct FilterOp {
    predicate: Arc<dyn PhysicalExpr>,
    /// `Some(input watermark)` when the predicate reads `CURRENT_WATERMARK`.
    watermark: Option<i64>,
}

impl FilterOp {
    /// A filter on `predicate`, which must evaluate to booleans over the input schema.
    pub fn new(predicate: Arc<dyn PhysicalExpr>) -> Self {
        FilterOp { predicate, watermark: None }
    }

    /// Makes the predicate see the `CURRENT_WATERMARK` column (appended to the input).
    pub fn reading_watermark(mut self, yes: bool) -> Self {
        self.watermark = yes.then_some(i64::MIN);
        self
    }
}

impl Operator for FilterOp {
    fn name(&self) -> &str {
        "Filter"
    }

    fn on_chunk(&mut self, chunk: Chunk) -> Result<Vec<Chunk>> {
        let value = match self.watermark {
            Some(current) => self.predicate.evaluate(&with_watermark_column(&chunk, current)?)?,
            None => self.predicate.evaluate(&chunk.batch)?,
        }
        .into_array(chunk.num_rows())?;
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

    fn on_watermark(&mut self, watermark: i64) -> Result<Vec<Chunk>> {
        if let Some(w) = self.watermark.as_mut() {
            *w = watermark;
        }
        Ok(vec![])
    }
}
