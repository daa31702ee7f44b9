//! The task that writes one query's results to its sink.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc::Receiver;

use super::message::{Envelope, Message};
use super::metrics::JobMetrics;
use crate::error::{Error, Result};
use crate::sink::Sink;

/// Writes rows until every upstream worker has ended, then finishes the sink.
/// Returns early (quietly) if the sink closed, e.g. stdout piped into `head`.
pub async fn run_sink(
    mut input: Receiver<Envelope>,
    upstreams: usize,
    mut sink: Box<dyn Sink>,
    metrics: Arc<JobMetrics>,
) -> Result<()> {
    let mut ended = 0;
    loop {
        let Some((_, msg)) = input.recv().await else {
            // The workers stopped without End: the job failed; do not finish the sink as if
            // its output were complete.
            return Err(Error::stopped("upstream task stopped"));
        };
        match msg {
            Message::Data(chunk) => {
                sink.write(&chunk).await?;
                metrics.rows_out.fetch_add(chunk.num_rows() as u64, Ordering::Relaxed);
                if sink.is_closed() {
                    break;
                }
            }
            Message::Watermark(_) => {}
            Message::End => {
                ended += 1;
                if ended == upstreams {
                    break;
                }
            }
        }
    }
    sink.finish().await
}
