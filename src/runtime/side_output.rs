//! Side streams inside a job: rows one query's operator routes out (late rows, to
//! `<table>__late`) become the source of other queries of the same job.
//!
//! The stream ends when every operator that can write to it has finished, so bounded jobs
//! still end. Channels are unbounded: a side stream only carries exceptional rows, and a
//! bounded one could deadlock a job whose reader waits on the writer's own source.

use std::collections::BTreeMap;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::connectors::{Source, SourceEvent};
use crate::error::Result;

/// Writers of the side streams a job reads, by stream (table) name.
pub type SideOutputs = BTreeMap<String, UnboundedSender<RecordBatch>>;

/// A side stream's reading end as a one-partition source.
pub struct SideSource {
    schema: SchemaRef,
    rows: UnboundedReceiver<RecordBatch>,
}

/// A new side stream of `schema`: its writer and its source.
pub fn side_stream(schema: SchemaRef) -> (UnboundedSender<RecordBatch>, SideSource) {
    let (tx, rows) = unbounded_channel();
    (tx, SideSource { schema, rows })
}

#[async_trait]
impl Source for SideSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn next(&mut self) -> Result<SourceEvent> {
        Ok(match self.rows.recv().await {
            Some(batch) => SourceEvent::Batch(batch),
            None => SourceEvent::End,
        })
    }
}
