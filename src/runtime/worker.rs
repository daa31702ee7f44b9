//! A worker: runs a chain of operators over the messages of one or more upstream tasks.

use std::sync::Arc;

use tokio::sync::mpsc::Receiver;

use super::exchange::Router;
use super::message::{Envelope, Message};
use super::metrics::{JobMetrics, WorkerStats};
use crate::error::{Error, Result};
use crate::exec::operator::{push_chunk, push_end, push_watermark, Operator};

/// Where a worker sits in the job, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct WorkerId {
    /// Query index.
    pub query: usize,
    /// Stage index.
    pub stage: usize,
    /// Worker index within the stage.
    pub worker: usize,
}

/// Runs until every upstream has sent `End`.
///
/// The input watermark is the minimum over upstreams that have not ended (an ended input
/// no longer holds event time back). Rows an operator emits for a watermark are sent
/// before that watermark is forwarded.
pub async fn run_worker(
    id: WorkerId,
    mut input: Receiver<Envelope>,
    upstreams: usize,
    mut ops: Vec<Box<dyn Operator>>,
    mut router: Router,
    metrics: Arc<JobMetrics>,
) -> Result<()> {
    let mut marks = vec![i64::MIN; upstreams];
    let mut ended = vec![false; upstreams];
    let mut current = i64::MIN;
    let mut stats = WorkerStats { query: id.query, stage: id.stage, worker: id.worker, rows_in: 0, max_keys: 0 };
    loop {
        let Some((from, msg)) = input.recv().await else {
            // Every upstream dropped its sender without End: one failed or was stopped.
            // Do not finish (that would emit partial results as if complete).
            return Err(Error::stopped("upstream task stopped"));
        };
        match msg {
            Message::Data(chunk) => {
                stats.rows_in += chunk.num_rows() as u64;
                let out = push_chunk(&mut ops, chunk)?;
                router.data(out).await?;
            }
            Message::Watermark(w) => {
                marks[from] = marks[from].max(w);
                advance(&mut ops, &mut router, &marks, &ended, &mut current, &mut stats).await?;
            }
            Message::End => {
                ended[from] = true;
                if ended.iter().all(|e| *e) {
                    break;
                }
                advance(&mut ops, &mut router, &marks, &ended, &mut current, &mut stats).await?;
            }
        }
    }
    let out = push_end(&mut ops)?;
    router.data(out).await?;
    router.broadcast(Message::End).await?;
    let late: u64 = ops.iter().map(|o| o.late_rows()).sum();
    metrics.late_dropped.fetch_add(late, std::sync::atomic::Ordering::Relaxed);
    let no_time: u64 = ops.iter().map(|o| o.rows_without_time()).sum();
    metrics.no_event_time.fetch_add(no_time, std::sync::atomic::Ordering::Relaxed);
    if let Ok(mut w) = metrics.workers.lock() {
        w.push(stats);
    }
    Ok(())
}

async fn advance(
    ops: &mut [Box<dyn Operator>],
    router: &mut Router,
    marks: &[i64],
    ended: &[bool],
    current: &mut i64,
    stats: &mut WorkerStats,
) -> Result<()> {
    let min = marks.iter().zip(ended).filter(|(_, e)| !**e).map(|(m, _)| *m).min().unwrap_or(*current);
    if min <= *current {
        return Ok(());
    }
    *current = min;
    stats.max_keys = stats.max_keys.max(ops.iter().map(|o| o.state_keys()).sum());
    let out = push_watermark(ops, min)?;
    router.data(out).await?;
    router.broadcast(Message::Watermark(min)).await
}
