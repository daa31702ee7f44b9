//! The `values` connector: a bounded table whose rows are those added with
//! `INSERT INTO t VALUES (..)` before the query started, in insertion order.

use std::collections::VecDeque;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use super::{Options, Source, SourceContext, SourceCounters, SourceEvent};
use crate::error::Result;

/// Replays a fixed list of batches, then ends.
pub struct ValuesSource {
    schema: SchemaRef,
    batches: VecDeque<RecordBatch>,
    /// Batches returned so far.
    taken: u64,
    ctx: SourceContext,
}

/// Opens the source over `rows` (already in the physical schema).
pub fn open(options: &Options, ctx: &SourceContext, rows: Vec<RecordBatch>) -> Result<Box<dyn Source>> {
    options.check_all_used("values")?;
    Ok(Box::new(ValuesSource { schema: ctx.schema.clone(), batches: rows.into(), taken: 0, ctx: ctx.clone() }))
}

#[async_trait]
impl Source for ValuesSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn next(&mut self) -> Result<SourceEvent> {
        match self.batches.pop_front() {
            Some(b) => {
                self.taken += 1;
                SourceCounters::add(&self.ctx.counters.rows, b.num_rows() as u64);
                Ok(SourceEvent::Batch(b))
            }
            None => Ok(SourceEvent::End),
        }
    }

    /// The number of batches returned.
    fn offset(&self) -> Option<Vec<u8>> {
        Some(self.taken.to_le_bytes().to_vec())
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        let n = super::offset_word(offset, 0)?;
        while self.taken < n && self.batches.pop_front().is_some() {
            self.taken += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::connectors::OnError;

    #[tokio::test]
    async fn resumes_after_the_batches_already_returned() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
        let rows: Vec<RecordBatch> = (0..4)
            .map(|i| RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![i]))]).unwrap())
            .collect();
        let ctx = SourceContext {
            table: "t".into(),
            schema,
            on_error: OnError::Fail,
            counters: Arc::default(),
            batch_size: 10,
        };
        let options = Options::new(Default::default());
        crate::connectors::resume_check::assert_resumes_anywhere(|| open(&options, &ctx, rows.clone()).unwrap()).await;
    }
}
