//! The task that reads one source table and feeds every query of the job that reads it.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use tokio::sync::mpsc::Sender;

use super::cancel::Cancel;
use super::message::{Envelope, Message};
use super::metrics::JobMetrics;
use crate::connectors::{Source, SourceEvent};
use crate::error::{Error, Result};
use crate::exec::watermark_assigner::WatermarkAssigner;
use crate::exec::Chunk;
use crate::plan::SourcePlan;

/// Reads `source` until it ends or the job is cancelled: computes computed columns, tags
/// rows with watermarks, and broadcasts rows and watermark advances to `subscribers`.
///
/// At the end of a bounded input it sends a final watermark of `i64::MAX` (every window
/// closes), then `End`. On cancellation it sends only `End`: open windows stay open.
pub async fn run_source(
    mut source: Box<dyn Source>,
    plan: SourcePlan,
    subscribers: Vec<Sender<Envelope>>,
    cancel: Cancel,
    metrics: Arc<JobMetrics>,
) -> Result<()> {
    let mut assigner = plan.watermark.clone().map(WatermarkAssigner::new);
    let send = |msg: Message| {
        let subs = subscribers.clone();
        async move {
            for s in &subs {
                s.send((0, msg.clone())).await.map_err(|_| Error::external("query stopped"))?;
            }
            Ok::<(), Error>(())
        }
    };
    loop {
        let event = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            e = source.next() => e?,
        };
        match event {
            SourceEvent::Batch(batch) => {
                if batch.num_rows() == 0 {
                    continue;
                }
                let full = with_computed(&plan, batch)?;
                let mut chunk = Chunk::inserts(full);
                let before = assigner.as_ref().map(|a| a.current());
                if let Some(a) = assigner.as_mut() {
                    chunk = a.assign(chunk)?;
                }
                send(Message::Data(chunk)).await?;
                if let (Some(a), Some(before)) = (assigner.as_ref(), before) {
                    if a.current() > before {
                        metrics.watermark.fetch_max(a.current(), std::sync::atomic::Ordering::Relaxed);
                        send(Message::Watermark(a.current())).await?;
                    }
                }
            }
            SourceEvent::Idle => {}
            SourceEvent::End => {
                send(Message::Watermark(i64::MAX)).await?;
                break;
            }
        }
    }
    send(Message::End).await
}

fn with_computed(plan: &SourcePlan, batch: RecordBatch) -> Result<RecordBatch> {
    let Some(exprs) = &plan.computed else { return Ok(batch) };
    let n = batch.num_rows();
    let schema = plan.table.schema.clone();
    let mut cols = Vec::with_capacity(exprs.len());
    for (e, f) in exprs.iter().zip(schema.fields()) {
        let a = e.evaluate(&batch)?.into_array(n)?;
        let a = if a.data_type() != f.data_type() { datafusion::arrow::compute::cast(&a, f.data_type())? } else { a };
        cols.push(a);
    }
    Ok(RecordBatch::try_new(schema, cols)?)
}
