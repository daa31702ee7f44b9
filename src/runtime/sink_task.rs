//! The task that writes one query's results to its sink.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc::{Receiver, UnboundedReceiver, UnboundedSender};

use super::align::{Aligner, Step};
use super::checkpoint::{Report, FINAL};
use super::message::{Envelope, Message};
use super::metrics::JobMetrics;
use crate::error::{Error, Result};
use crate::sink::Sink;

/// A sink task's part in checkpoints.
#[derive(Debug, Default)]
pub struct SinkCheckpoints {
    /// The query's index in the job.
    pub query: usize,
    /// The coordinator's report channel; `None` when the job does not checkpoint.
    pub reports: Option<UnboundedSender<Report>>,
    /// Completed checkpoints whose output the sink may commit ([`FINAL`] at the end).
    pub commits: Option<UnboundedReceiver<u64>>,
}

/// Writes rows until every upstream worker has ended, then finishes the sink.
/// Returns early (quietly) if the sink closed, e.g. stdout piped into `head`.
///
/// In a checkpointed job, at each aligned barrier the sink prepares its commit and reports
/// its state; it commits when the coordinator says the checkpoint is complete. At the end
/// of its input it prepares once more, reports [`Report::SinkEnded`], and waits for the
/// coordinator's last word before finishing.
pub async fn run_sink(
    mut input: Receiver<Envelope>,
    upstreams: usize,
    mut sink: Box<dyn Sink>,
    metrics: Arc<JobMetrics>,
    checkpoints: SinkCheckpoints,
) -> Result<()> {
    let SinkCheckpoints { query, mut reports, mut commits } = checkpoints;
    let mut prepared: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut aligner = Aligner::new(upstreams);
    let mut ended = 0;
    loop {
        let next = match aligner.pop_ready() {
            Some(e) => Some(e),
            None => tokio::select! {
                biased;
                Some(id) = recv(&mut commits) => {
                    commit(sink.as_mut(), &mut prepared, id)?;
                    continue;
                }
                m = input.recv() => m,
            },
        };
        let Some((from, msg)) = next else {
            // The workers stopped without End: the job failed; do not finish the sink as if
            // its output were complete.
            return Err(Error::stopped("upstream task stopped"));
        };
        match aligner.accept(from, msg) {
            Step::Held => {}
            Step::Aligned(id) => {
                if let Some(r) = &reports {
                    let state = sink.prepare_commit().await?;
                    prepared.insert(id, state.clone());
                    let _ = r.send(Report::Sink { checkpoint: id, query, state });
                }
            }
            Step::Deliver(Message::Data(chunk)) => {
                sink.write(&chunk).await?;
                metrics.rows_out.fetch_add(chunk.num_rows() as u64, Ordering::Relaxed);
                if sink.is_closed() {
                    break;
                }
            }
            Step::Deliver(Message::Watermark(_)) => {}
            Step::Deliver(Message::Barrier(_)) => return Err(Error::internal("a barrier passed the aligner")),
            Step::Deliver(Message::End) => {
                ended += 1;
                if ended == upstreams {
                    break;
                }
            }
        }
    }
    if let Some(r) = reports.take() {
        let state = sink.prepare_commit().await?;
        prepared.insert(FINAL, state.clone());
        let _ = r.send(Report::SinkEnded { query, state });
        // Dropping the reporter lets the coordinator see that every task is done.
        drop(r);
        while let Some(id) = recv(&mut commits).await {
            commit(sink.as_mut(), &mut prepared, id)?;
        }
    }
    sink.finish().await
}

async fn recv(commits: &mut Option<UnboundedReceiver<u64>>) -> Option<u64> {
    match commits {
        Some(c) => c.recv().await,
        None => std::future::pending().await,
    }
}

/// Commits checkpoint `id`: the state prepared at its barrier, if this sink prepared one.
fn commit(sink: &mut dyn Sink, prepared: &mut BTreeMap<u64, Vec<u8>>, id: u64) -> Result<()> {
    if let Some(state) = prepared.remove(&id) {
        sink.commit(&state)?;
    }
    prepared.retain(|k, _| *k > id);
    Ok(())
}
