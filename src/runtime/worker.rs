//! A worker: runs a chain of operators over the messages of one or more upstream tasks.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc::{Receiver, UnboundedSender};

use super::align::{Aligner, Step};
use super::checkpoint::{worker_key, Report, WorkerState};
use super::exchange::Router;
use super::message::{Envelope, Message};
use super::metrics::{JobMetrics, OperatorMetrics, TaskMetrics, WorkerStats};
use crate::error::{Error, Result};
use crate::exec::operator::{push_chunk_counted, push_end_counted, push_watermark_counted, Operator};

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

/// A worker's part in checkpoints: where it reports, and the state it resumes from.
#[derive(Debug, Default)]
pub struct WorkerCheckpoints {
    /// The coordinator's report channel; `None` when the job does not checkpoint.
    pub reports: Option<UnboundedSender<Report>>,
    /// The state recorded in the checkpoint the job resumes from.
    pub restore: Option<WorkerState>,
}

/// Runs until every upstream has sent `End`.
///
/// The input watermark is the minimum over upstreams that have not ended (an ended input
/// no longer holds event time back). Rows an operator emits for a watermark are sent
/// before that watermark is forwarded. Barriers are aligned over upstreams
/// ([`Aligner`]); at alignment the operators are snapshotted, the state reported and the
/// barrier forwarded.
pub async fn run_worker(
    id: WorkerId,
    mut input: Receiver<Envelope>,
    upstreams: usize,
    mut ops: Vec<Box<dyn Operator>>,
    router: Router,
    metrics: Arc<JobMetrics>,
    checkpoints: WorkerCheckpoints,
) -> Result<()> {
    let names: Vec<&str> = ops.iter().map(|o| o.name()).collect();
    let (task, meters) = metrics.register_worker(id.query, id.stage, id.worker, &names);
    let mut router = router.metered(Arc::clone(&task));
    let mut count = |i: usize, rows_in: u64, rows_out: u64| {
        let m: &OperatorMetrics = &meters[i];
        m.rows_in.fetch_add(rows_in, Ordering::Relaxed);
        m.rows_out.fetch_add(rows_out, Ordering::Relaxed);
    };
    let mut marks = vec![i64::MIN; upstreams];
    let mut ended = vec![false; upstreams];
    let mut current = i64::MIN;
    if let Some(state) = &checkpoints.restore {
        if state.operators.len() != ops.len() || state.marks.len() != upstreams {
            return Err(Error::internal(format!("checkpoint does not fit worker {}", key(id))));
        }
        for (op, bytes) in ops.iter_mut().zip(&state.operators) {
            op.restore(bytes)?;
        }
        marks.clone_from(&state.marks);
        current = state.current;
    }
    let mut aligner = Aligner::new(upstreams);
    let mut forwarded = i64::MIN;
    let mut stats = WorkerStats { query: id.query, stage: id.stage, worker: id.worker, rows_in: 0, max_keys: 0 };
    loop {
        let next = match aligner.pop_ready() {
            Some(e) => Some(e),
            None => input.recv().await,
        };
        let Some((from, msg)) = next else {
            // Every upstream dropped its sender without End: one failed or was stopped.
            // Do not finish (that would emit partial results as if complete).
            return Err(Error::stopped("upstream task stopped"));
        };
        let msg = match aligner.accept(from, msg) {
            Step::Held => continue,
            Step::Deliver(msg) => msg,
            Step::Aligned(checkpoint) => {
                if let Some(reports) = &checkpoints.reports {
                    let operators = ops.iter_mut().map(|o| o.snapshot()).collect::<Result<Vec<_>>>()?;
                    for (m, bytes) in meters.iter().zip(&operators) {
                        m.state_bytes.store(bytes.len() as u64, Ordering::Relaxed);
                    }
                    let state = WorkerState { operators, marks: marks.clone(), current };
                    let _ = reports.send(Report::Worker { checkpoint, key: key(id), state });
                }
                ops.iter_mut().for_each(|o| o.on_barrier(checkpoint));
                router.broadcast(Message::Barrier(checkpoint)).await?;
                continue;
            }
        };
        match msg {
            Message::Data(chunk) => {
                stats.rows_in += chunk.num_rows() as u64;
                task.rows_in.fetch_add(chunk.num_rows() as u64, Ordering::Relaxed);
                let out = push_chunk_counted(&mut ops, chunk, &mut count)?;
                router.data(out).await?;
            }
            Message::Watermark(w) => {
                marks[from] = marks[from].max(w);
                let live = Live { task: &task, meters: &meters, count: &mut count, forwarded: &mut forwarded };
                advance(&mut ops, &mut router, &marks, &ended, &mut current, &mut stats, live).await?;
            }
            Message::End => {
                ended[from] = true;
                if ended.iter().all(|e| *e) {
                    break;
                }
                let live = Live { task: &task, meters: &meters, count: &mut count, forwarded: &mut forwarded };
                advance(&mut ops, &mut router, &marks, &ended, &mut current, &mut stats, live).await?;
            }
            Message::Barrier(_) => return Err(Error::internal("a barrier passed the aligner")),
        }
    }
    let out = push_end_counted(&mut ops, &mut count)?;
    router.data(out).await?;
    router.broadcast(Message::End).await?;
    sample(&ops, &meters);
    if let Some(reports) = &checkpoints.reports {
        let _ = reports.send(Report::WorkerEnded { key: key(id) });
    }
    let late: u64 = ops.iter().map(|o| o.late_rows()).sum();
    metrics.late_dropped.fetch_add(late, Ordering::Relaxed);
    let no_time: u64 = ops.iter().map(|o| o.rows_without_time()).sum();
    metrics.no_event_time.fetch_add(no_time, Ordering::Relaxed);
    if let Ok(mut w) = metrics.workers.lock() {
        w.push(stats);
    }
    Ok(())
}

fn key(id: WorkerId) -> String {
    worker_key(id.query, id.stage, id.worker)
}

/// A worker's live counters, updated as watermarks advance.
struct Live<'a, 'c> {
    task: &'a TaskMetrics,
    meters: &'a [Arc<OperatorMetrics>],
    count: &'a mut (dyn FnMut(usize, u64, u64) + Send + 'c),
    /// The last watermark sent downstream.
    forwarded: &'a mut i64,
}

/// Copies each operator's late-row count and state size into its counters.
fn sample(ops: &[Box<dyn Operator>], meters: &[Arc<OperatorMetrics>]) {
    for (op, m) in ops.iter().zip(meters) {
        m.late_rows.store(op.late_rows(), Ordering::Relaxed);
        m.state_keys.store(op.state_keys() as u64, Ordering::Relaxed);
    }
}

async fn advance(
    ops: &mut [Box<dyn Operator>],
    router: &mut Router,
    marks: &[i64],
    ended: &[bool],
    current: &mut i64,
    stats: &mut WorkerStats,
    live: Live<'_, '_>,
) -> Result<()> {
    let min = marks.iter().zip(ended).filter(|(_, e)| !**e).map(|(m, _)| *m).min().unwrap_or(*current);
    if min <= *current {
        return Ok(());
    }
    *current = min;
    stats.max_keys = stats.max_keys.max(ops.iter().map(|o| o.state_keys()).sum());
    let (out, forward) = push_watermark_counted(ops, min, live.count)?;
    sample(ops, live.meters);
    live.task.watermark.store(min, Ordering::Relaxed);
    router.data(out).await?;
    if forward <= *live.forwarded {
        return Ok(()); // an operator holds the watermark back
    }
    *live.forwarded = forward;
    router.broadcast(Message::Watermark(forward)).await
}
