//! `SELECT` expressions: computes output columns from input rows.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::physical_expr::PhysicalExpr;

use super::changelog::drop_noop_updates;
use super::chunk::Chunk;
use super::current_watermark::with_watermark_column;
use super::operator::Operator;
use crate::error::{Error, Result};

/// Casts that fail on values the target type cannot hold.
const STRICT: datafusion::arrow::compute::CastOptions<'static> = datafusion::arrow::compute::CastOptions {
    safe: false,
    format_options: datafusion::arrow::util::display::FormatOptions::new(),
};

/// Evaluates one DataFusion expression per output column; keeps row metadata.
pub struct ProjectOp {
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
    name: String,
    /// `Some(input watermark)` when an expression reads `CURRENT_WATERMARK`.
    watermark: Option<i64>,
}

impl ProjectOp {
    /// A projection producing `schema` (one expression per field, same order).
    pub fn new(exprs: Vec<Arc<dyn PhysicalExpr>>, schema: SchemaRef, name: &str) -> Self {
        ProjectOp { exprs, schema, name: name.to_string(), watermark: None }
    }

    /// Makes the expressions see the `CURRENT_WATERMARK` column (appended to the input).
    pub fn reading_watermark(mut self, yes: bool) -> Self {
        self.watermark = yes.then_some(i64::MIN);
        self
    }
}

/// Evaluates one expression per field of `schema` on `batch`, casting each result to its
/// field's type. A value that does not fit the target type is a data error, never a silent
/// NULL.
pub fn project(exprs: &[Arc<dyn PhysicalExpr>], schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let mut cols = Vec::with_capacity(exprs.len());
    for (e, f) in exprs.iter().zip(schema.fields()) {
        let a = e.evaluate(batch)?.into_array(n)?;
        let a = if a.data_type() != f.data_type() {
            datafusion::arrow::compute::cast_with_options(&a, f.data_type(), &STRICT)
                .map_err(|e| Error::data(format!("column '{}': {e}", f.name())))?
        } else {
            a
        };
        cols.push(a);
    }
    Ok(RecordBatch::try_new_with_options(schema.clone(), cols, &RecordBatchOptions::new().with_row_count(Some(n)))?)
}

impl Operator for ProjectOp {
    fn name(&self) -> &str {
        &self.name
    }

    fn on_chunk(&mut self, chunk: Chunk) -> Result<Vec<Chunk>> {
        let batch = match self.watermark {
            Some(current) => project(&self.exprs, &self.schema, &with_watermark_column(&chunk, current)?)?,
            None => project(&self.exprs, &self.schema, &chunk.batch)?,
        };
        let out = drop_noop_updates(chunk.with_batch(batch))?;
        Ok(if out.num_rows() == 0 { vec![] } else { vec![out] })
    }

    fn on_watermark(&mut self, watermark: i64) -> Result<Vec<Chunk>> {
        if let Some(w) = self.watermark.as_mut() {
            *w = watermark;
        }
        Ok(vec![])
    }
}
