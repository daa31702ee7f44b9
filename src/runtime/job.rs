//! Wiring a job: sources, stage workers and sinks as tokio tasks joined by bounded channels.
//!
//! All continuous statements of a job run together and share their sources, like a Flink
//! statement set: each source table is read once and broadcast to every query reading it.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::mpsc::{channel, Receiver, Sender};
use tokio::task::JoinSet;

use super::cancel::Cancel;
use super::clock::{Clock, SystemClock};
use super::exchange::Router;
use super::message::{Envelope, CHANNEL_CAPACITY};
use super::metrics::JobMetrics;
use super::side_output::SideOutputs;
use super::sink_task::run_sink;
use super::source_task::run_source;
use super::worker::{run_worker, WorkerId};
use crate::connectors::Source;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::pipeline::{Partitioning, QueryPlan};
use crate::plan::SourcePlan;
use crate::sink::Sink;

/// One continuous query of a job and where its results go.
pub struct JobQuery {
    /// The plan.
    pub plan: QueryPlan,
    /// Its sink.
    pub sink: Box<dyn Sink>,
}

/// An opened source: its plan and one reader per partition.
pub struct JobSource {
    /// How to compute columns and watermarks.
    pub plan: SourcePlan,
    /// One reader per partition.
    pub partitions: Vec<Box<dyn Source>>,
    /// `'scan.watermark.idle-timeout'` in ms.
    pub idle_timeout_ms: Option<i64>,
}

/// Runs sources and queries to completion (bounded inputs) or cancellation.
///
/// `parallelism` is the number of workers of every hash-partitioned stage; `side_outputs`
/// are the writers of side streams (late rows) that sources in `sources` read.
pub async fn run_job(
    sources: BTreeMap<String, JobSource>,
    queries: Vec<JobQuery>,
    parallelism: usize,
    side_outputs: SideOutputs,
    cancel: Cancel,
    metrics: Arc<JobMetrics>,
) -> Result<()> {
    let parallelism = parallelism.max(1);
    let mut tasks: JoinSet<Result<()>> = JoinSet::new();
    let mut subscribers: BTreeMap<String, Vec<Sender<Envelope>>> = BTreeMap::new();
    for (qi, q) in queries.into_iter().enumerate() {
        let stages = &q.plan.stages;
        let widths: Vec<usize> = stages
            .iter()
            .map(|s| match s.partitioning {
                Partitioning::Hash(_) => parallelism,
                _ => 1,
            })
            .collect();
        // Channels: one per worker of every stage, then one for the sink.
        let mut inputs: Vec<Vec<(Sender<Envelope>, Receiver<Envelope>)>> =
            widths.iter().map(|w| (0..*w).map(|_| channel(CHANNEL_CAPACITY)).collect()).collect();
        let (sink_tx, sink_rx) = channel(CHANNEL_CAPACITY);
        let senders: Vec<Vec<Sender<Envelope>>> =
            inputs.iter().map(|ws| ws.iter().map(|(s, _)| s.clone()).collect()).collect();
        subscribers.entry(q.plan.source.clone()).or_default().push(senders[0][0].clone());
        for (si, stage) in stages.iter().enumerate() {
            let upstreams = if si == 0 { 1 } else { widths[si - 1] };
            let (targets, keys) = match stages.get(si + 1) {
                Some(next) => (
                    senders[si + 1].clone(),
                    match &next.partitioning {
                        Partitioning::Hash(k) => Some(k.clone()),
                        _ => None,
                    },
                ),
                None => (vec![sink_tx.clone()], None),
            };
            let receivers: Vec<Receiver<Envelope>> =
                std::mem::take(&mut inputs[si]).into_iter().map(|(_, r)| r).collect();
            for (wi, rx) in receivers.into_iter().enumerate() {
                let ops = stage.ops.iter().map(|o| o.build_with(&side_outputs)).collect::<Result<Vec<_>>>()?;
                let router = Router::new(wi, targets.clone(), keys.clone());
                let id = WorkerId { query: qi, stage: si, worker: wi };
                tasks.spawn(run_worker(id, rx, upstreams, ops, router, Arc::clone(&metrics)));
            }
        }
        drop(senders);
        let last = *widths.last().unwrap_or(&1);
        tasks.spawn(run_sink(sink_rx, last, q.sink, Arc::clone(&metrics)));
    }
    // Side streams end when the operators writing them are done.
    drop(side_outputs);
    for (name, source) in sources {
        let subs = subscribers.remove(&name).unwrap_or_default();
        if subs.is_empty() {
            continue;
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock::default());
        tasks.spawn(run_source(source, subs, cancel.clone(), Arc::clone(&metrics), clock));
    }
    if let Some(name) = subscribers.keys().next() {
        return Err(Error::internal(format!("no source opened for table '{name}'")));
    }
    let mut root_error: Option<Error> = None;
    while let Some(res) = tasks.join_next().await {
        let err = match res {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(join) => Error::internal(format!("task failed: {join}")),
        };
        // A task that failed only because its neighbour stopped (a failed task, or a sink
        // that closed like stdout piped into `head`) is a consequence, not a cause: the
        // job's other queries go on.
        if err.kind != ErrorKind::Stopped && root_error.is_none() {
            root_error = Some(err);
            cancel.cancel();
        }
    }
    match root_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
