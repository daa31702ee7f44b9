//! Wiring a job: sources, stage workers and sinks as tokio tasks joined by bounded channels.
//!
//! All continuous statements of a job run together and share their sources, like a Flink
//! statement set: each source table is read once and broadcast to every query reading it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::mpsc::{channel, unbounded_channel, Receiver, Sender};
use tokio::task::JoinSet;

use super::cancel::Cancel;
use super::checkpoint::restore::{decide, Start};
use super::checkpoint::{run_coordinator, worker_key, Checkpoint, CheckpointConfig, CheckpointStore, Coordinator};
use super::clock::{Clock, SystemClock};
use super::exchange::Router;
use super::message::{Envelope, CHANNEL_CAPACITY};
use super::metrics::JobMetrics;
use super::side_output::SideOutputs;
use super::sink_task::{run_sink, SinkCheckpoints};
use super::source_task::{run_source, SourceCheckpoints};
use super::worker::{run_worker, WorkerCheckpoints, WorkerId};
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

/// How a job checkpoints.
#[derive(Debug, Clone)]
pub struct JobCheckpoints {
    /// State directory and interval.
    pub config: CheckpointConfig,
    /// What the job is (plans, parallelism): a checkpoint of another job is not restored.
    pub fingerprint: String,
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
    run_checkpointed_job(sources, queries, parallelism, side_outputs, cancel, metrics, None).await
}

/// [`run_job`], checkpointing as `checkpoints` says when set: the job first resumes from
/// the newest checkpoint of the same job in the state directory, if there is one (see
/// [`crate::runtime::checkpoint`]); on cancellation it takes a last checkpoint and stops.
///
/// Fails before running anything if a source cannot record offsets (the job could not
/// resume correctly).
pub async fn run_checkpointed_job(
    sources: BTreeMap<String, JobSource>,
    mut queries: Vec<JobQuery>,
    parallelism: usize,
    side_outputs: SideOutputs,
    cancel: Cancel,
    metrics: Arc<JobMetrics>,
    checkpoints: Option<JobCheckpoints>,
) -> Result<()> {
    let parallelism = parallelism.max(1);
    let mut tasks: JoinSet<Result<()>> = JoinSet::new();
    let mut subscribers: BTreeMap<String, Vec<Sender<Envelope>>> = BTreeMap::new();
    let mut restored: Option<Checkpoint> = None;
    let (reports_tx, reports_rx) = unbounded_channel();
    let mut coordinator = None;
    if let Some(cp) = &checkpoints {
        match begin(cp, &sources, &mut queries)? {
            Begin::Finished(c) => return complete_finished(c, queries).await,
            Begin::Run { store, next_id, restore } => {
                restored = restore;
                coordinator = Some(Coordinator {
                    store,
                    interval: cp.config.interval,
                    fingerprint: cp.fingerprint.clone(),
                    next_id,
                    triggers: BTreeMap::new(),
                    commits: BTreeMap::new(),
                    workers: 0,
                    ended_sources: restored.as_ref().map(|r| r.ended_sources.clone()).unwrap_or_default(),
                    ended_sinks: BTreeMap::new(),
                    reports: reports_rx,
                });
            }
        }
    }
    for (qi, q) in queries.into_iter().enumerate() {
        if let (Some(c), Some(r)) = (coordinator.as_mut(), restored.as_ref()) {
            if r.ended_queries.contains(&qi) {
                // All its output is in the checkpoint, and `begin` restored (committed) it.
                let state = r.sinks.get(&qi).cloned().unwrap_or_default();
                c.ended_sinks.insert(qi, state);
                let mut sink = q.sink;
                tasks.spawn(async move { sink.finish().await });
                continue;
            }
        }
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
                let mut hooks = WorkerCheckpoints::default();
                if let Some(c) = coordinator.as_mut() {
                    c.workers += 1;
                    hooks.reports = Some(reports_tx.clone());
                    if let Some(r) = restored.as_mut() {
                        let key = worker_key(qi, si, wi);
                        let state = r.workers.remove(&key);
                        hooks.restore =
                            Some(state.ok_or_else(|| Error::internal(format!("checkpoint has no worker {key}")))?);
                    }
                }
                tasks.spawn(run_worker(id, rx, upstreams, ops, router, Arc::clone(&metrics), hooks));
            }
        }
        drop(senders);
        let last = *widths.last().unwrap_or(&1);
        let mut hooks = SinkCheckpoints { query: qi, ..Default::default() };
        if let Some(c) = coordinator.as_mut() {
            let (tx, rx) = unbounded_channel();
            c.commits.insert(qi, tx);
            hooks.commits = Some(rx);
            hooks.reports = Some(reports_tx.clone());
        }
        tasks.spawn(run_sink(sink_rx, last, q.sink, Arc::clone(&metrics), hooks));
    }
    // Side streams end when the operators writing them are done; their barriers come from
    // those operators.
    let side_streams: BTreeSet<String> = side_outputs.names().cloned().collect();
    drop(side_outputs);
    for (name, source) in sources {
        let subs = subscribers.remove(&name).unwrap_or_default();
        if subs.is_empty() || restored.as_ref().is_some_and(|r| r.ended_sources.contains(&name)) {
            continue;
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock::default());
        let mut hooks = SourceCheckpoints {
            table: name.clone(),
            barriers_in_input: side_streams.contains(&name),
            ..Default::default()
        };
        if let Some(c) = coordinator.as_mut() {
            let (tx, rx) = unbounded_channel();
            c.triggers.insert(name.clone(), tx);
            hooks.triggers = Some(rx);
            hooks.reports = Some(reports_tx.clone());
            if let Some(r) = restored.as_mut() {
                let state = r.sources.remove(&name);
                hooks.restore =
                    Some(state.ok_or_else(|| Error::internal(format!("checkpoint has no source '{name}'")))?);
            }
        }
        tasks.spawn(run_source(source, subs, cancel.clone(), Arc::clone(&metrics), clock, hooks));
    }
    drop(reports_tx);
    if let Some(c) = coordinator {
        tasks.spawn(run_coordinator(c, cancel.clone(), Arc::clone(&metrics)));
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

/// How a checkpointed job begins.
enum Begin {
    /// The newest checkpoint is a finished run.
    Finished(Checkpoint),
    /// Run, from `restore` if set; sinks are already restored.
    Run { store: CheckpointStore, next_id: u64, restore: Option<Checkpoint> },
}

/// Checks that the job can be checkpointed, picks the checkpoint to resume and restores the
/// sinks from it (or clears them, from scratch). Operators and sources are restored as their
/// tasks start.
fn begin(cp: &JobCheckpoints, sources: &BTreeMap<String, JobSource>, queries: &mut [JobQuery]) -> Result<Begin> {
    for (name, source) in sources {
        if source.partitions.iter().any(|p| p.offset().is_none()) {
            return Err(Error::sql(format!(
                "the source of table '{name}' cannot resume from a checkpoint (its connector does not \
                 record read offsets): run without --state-dir"
            )));
        }
    }
    let store = CheckpointStore::open(&cp.config.dir)?;
    let (next_id, restore) = match decide(&store, &cp.fingerprint)? {
        Start::Fresh { next_id } => (next_id, None),
        Start::Resume(c) if c.finished => return Ok(Begin::Finished(c)),
        Start::Resume(c) => {
            tracing::info!("resuming from checkpoint {} in '{}'", c.id, cp.config.dir.display());
            (c.id + 1, Some(c))
        }
    };
    for (qi, q) in queries.iter_mut().enumerate() {
        let state = match &restore {
            Some(c) => Some(
                c.sinks
                    .get(&qi)
                    .ok_or_else(|| Error::internal(format!("checkpoint has no state for the sink of query {qi}")))?,
            ),
            None => None,
        };
        q.sink.restore(state.map(Vec::as_slice))?;
    }
    Ok(Begin::Run { store, next_id, restore })
}

/// A job resumed on a finished checkpoint: its sinks complete the last commit (which a crash
/// may have interrupted); nothing runs again.
async fn complete_finished(checkpoint: Checkpoint, queries: Vec<JobQuery>) -> Result<()> {
    tracing::info!("the state directory holds a finished run (checkpoint {}): nothing left to do", checkpoint.id);
    for (qi, mut q) in queries.into_iter().enumerate() {
        let state = checkpoint.sinks.get(&qi).ok_or_else(|| {
            Error::internal(format!("finished checkpoint {} has no state for query {qi}", checkpoint.id))
        })?;
        q.sink.restore(Some(state))?;
        q.sink.finish().await?;
    }
    Ok(())
}
