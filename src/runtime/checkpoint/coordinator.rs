//! The checkpoint coordinator: triggers checkpoints at the sources, collects every task's
//! part, writes complete checkpoints and tells the sinks to commit.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::store::CheckpointStore;
use super::{Checkpoint, SourceState, WorkerState, FINAL};
use crate::error::{Error, Result};
use crate::runtime::cancel::Cancel;
use crate::runtime::metrics::JobMetrics;

/// What the coordinator asks a source task to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Record your state and send this barrier.
    Checkpoint(u64),
    /// Record your state, send this barrier, then stop reading and end (graceful shutdown).
    Stop(u64),
}

/// What tasks tell the coordinator. Each task's reports arrive in the order it sent them, so
/// a task's end is reported after every checkpoint it took part in.
#[derive(Debug)]
pub enum Report {
    /// A source recorded its state and sent the barrier.
    Source {
        /// Checkpoint id.
        checkpoint: u64,
        /// Source table.
        table: String,
        /// Its state.
        state: SourceState,
    },
    /// A source task ended: `stopped` if by a [`Trigger::Stop`] or because nobody read it,
    /// not because its input was exhausted.
    SourceEnded {
        /// Source table.
        table: String,
        /// Whether it stopped before its input ended.
        stopped: bool,
    },
    /// A worker snapshotted its operators at an aligned barrier.
    Worker {
        /// Checkpoint id.
        checkpoint: u64,
        /// [`super::worker_key`].
        key: String,
        /// Its state.
        state: WorkerState,
    },
    /// A worker processed the end of all its input and sent everything downstream.
    WorkerEnded {
        /// [`super::worker_key`].
        key: String,
    },
    /// A sink prepared the commit of everything before an aligned barrier.
    Sink {
        /// Checkpoint id.
        checkpoint: u64,
        /// Query index.
        query: usize,
        /// The sink's state (what [`crate::sink::Sink::commit`] takes).
        state: Vec<u8>,
    },
    /// A sink received the end of its input and prepared the commit of all its rows.
    SinkEnded {
        /// Query index.
        query: usize,
        /// The sink's state.
        state: Vec<u8>,
    },
}

/// The coordinator's view of the job.
pub struct Coordinator {
    /// Where checkpoints go.
    pub store: CheckpointStore,
    /// Time between checkpoints.
    pub interval: Duration,
    /// The job's fingerprint, written into every checkpoint.
    pub fingerprint: String,
    /// The first id to use (above every id in the store).
    pub next_id: u64,
    /// Trigger channel of each running source task, by table.
    pub triggers: BTreeMap<String, UnboundedSender<Trigger>>,
    /// Commit channel of each running sink task, by query index.
    pub commits: BTreeMap<usize, UnboundedSender<u64>>,
    /// Number of running worker tasks.
    pub workers: usize,
    /// Sources that had ended in the checkpoint the job resumed from (not running).
    pub ended_sources: BTreeSet<String>,
    /// Queries that had ended in the checkpoint the job resumed from (not running), with their
    /// sinks' final state.
    pub ended_sinks: BTreeMap<usize, Vec<u8>>,
    /// Reports of every task; the coordinator ends when all senders are gone.
    pub reports: UnboundedReceiver<Report>,
}

#[derive(Default)]
struct Partial {
    sources: BTreeMap<String, SourceState>,
    workers: BTreeMap<String, WorkerState>,
    sinks: BTreeMap<usize, Vec<u8>>,
}

/// What the coordinator knows of the tasks that ended.
#[derive(Default)]
struct Ended {
    /// Sources that read their input to the end.
    sources: BTreeSet<String>,
    /// Sources that stopped before their input ended.
    stopped: BTreeSet<String>,
    workers: BTreeSet<String>,
    sinks: BTreeMap<usize, Vec<u8>>,
}

/// Runs the coordinator until every task has ended.
///
/// Periodic checkpoints are triggered every `interval` at the running sources while no source
/// has stopped early; on `cancel` a last one is triggered with [`Trigger::Stop`]. A checkpoint
/// is complete when every task reported its part or had ended before it (an ended source or
/// query is recorded as such). Complete checkpoints are written and the sinks told to commit
/// them ([`FINAL`] for a sink that had ended). When every source ended on its own and every
/// sink has all its rows, a finished checkpoint is written and the sinks get the commit
/// [`FINAL`].
pub async fn run_coordinator(mut c: Coordinator, cancel: Cancel, metrics: Arc<JobMetrics>) -> Result<()> {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + c.interval, c.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending: BTreeMap<u64, Partial> = BTreeMap::new();
    let mut stopping = false;
    let mut ended = Ended { sources: c.ended_sources.clone(), sinks: c.ended_sinks.clone(), ..Default::default() };
    let sources: BTreeSet<String> = c.triggers.keys().chain(&c.ended_sources).cloned().collect();
    let queries: BTreeSet<usize> = c.commits.keys().chain(c.ended_sinks.keys()).copied().collect();
    let mut started: BTreeMap<u64, std::time::Instant> = BTreeMap::new();
    loop {
        let running = ended.stopped.is_empty() && ended.sources.len() < sources.len();
        let report = tokio::select! {
            biased;
            r = c.reports.recv() => match r {
                Some(r) => r,
                None => break,
            },
            _ = cancel.cancelled(), if !stopping => {
                stopping = true;
                trigger(&mut c, &ended, &mut started, Trigger::Stop);
                continue;
            }
            _ = ticker.tick(), if !stopping && running => {
                trigger(&mut c, &ended, &mut started, Trigger::Checkpoint);
                continue;
            }
        };
        match report {
            Report::Source { checkpoint, table, state } => {
                pending.entry(checkpoint).or_default().sources.insert(table, state);
            }
            Report::Worker { checkpoint, key, state } => {
                pending.entry(checkpoint).or_default().workers.insert(key, state);
            }
            Report::Sink { checkpoint, query, state } => {
                pending.entry(checkpoint).or_default().sinks.insert(query, state);
            }
            Report::SourceEnded { table, stopped } => {
                if stopped {
                    ended.stopped.insert(table);
                } else {
                    ended.sources.insert(table);
                }
            }
            Report::WorkerEnded { key } => {
                ended.workers.insert(key);
            }
            Report::SinkEnded { query, state } => {
                ended.sinks.insert(query, state);
            }
        }
        // The newest complete checkpoint; older ones are covered by it (every task handles
        // barriers in order, and sink commits are cumulative).
        let Some(id) =
            pending.iter().rev().find(|(_, p)| complete(p, &ended, &sources, &queries, &c)).map(|(id, _)| *id)
        else {
            continue;
        };
        let Some(parts) = pending.remove(&id) else { continue };
        pending.retain(|k, _| *k > id);
        let mut checkpoint = Checkpoint {
            id,
            fingerprint: c.fingerprint.clone(),
            sources: parts.sources,
            workers: parts.workers,
            sinks: parts.sinks,
            ..Default::default()
        };
        checkpoint.ended_sources =
            ended.sources.iter().filter(|t| !checkpoint.sources.contains_key(*t)).cloned().collect();
        for (query, state) in &ended.sinks {
            if !checkpoint.sinks.contains_key(query) {
                checkpoint.sinks.insert(*query, state.clone());
                checkpoint.ended_queries.insert(*query);
            }
        }
        let checkpoint = write(&c.store, checkpoint).await?;
        record(&metrics, started.remove(&id));
        started.retain(|k, _| *k > id);
        for (query, tx) in &c.commits {
            let _ = tx.send(if checkpoint.ended_queries.contains(query) { FINAL } else { id });
        }
    }
    if ended.stopped.is_empty() && ended.sources.len() == sources.len() && ended.sinks.len() == queries.len() {
        let checkpoint = Checkpoint {
            id: c.next_id,
            fingerprint: c.fingerprint.clone(),
            finished: true,
            sinks: ended.sinks,
            ..Default::default()
        };
        write(&c.store, checkpoint).await?;
        record(&metrics, None);
        for tx in c.commits.values() {
            let _ = tx.send(FINAL);
        }
    }
    Ok(())
}

/// Writes `checkpoint` on a blocking thread: encoding, writing and fsync take a while for a
/// large state, and must not hold up a runtime thread that sources and workers need.
async fn write(store: &CheckpointStore, checkpoint: Checkpoint) -> Result<Checkpoint> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.write(&checkpoint).map(|()| checkpoint))
        .await
        .map_err(|e| Error::internal(format!("checkpoint writer failed: {e}")))?
}

/// Sends checkpoint trigger `kind(id)` with a new id to every running source.
fn trigger(
    c: &mut Coordinator,
    ended: &Ended,
    started: &mut BTreeMap<u64, std::time::Instant>,
    kind: fn(u64) -> Trigger,
) {
    let id = c.next_id;
    c.next_id += 1;
    started.insert(id, std::time::Instant::now());
    for (table, tx) in &c.triggers {
        if !ended.sources.contains(table) && !ended.stopped.contains(table) {
            let _ = tx.send(kind(id));
        }
    }
}

/// Whether every task reported its part of `p` or had ended without taking part in it.
fn complete(
    p: &Partial,
    ended: &Ended,
    sources: &BTreeSet<String>,
    queries: &BTreeSet<usize>,
    c: &Coordinator,
) -> bool {
    sources.iter().all(|t| p.sources.contains_key(t) || ended.sources.contains(t))
        && queries.iter().all(|q| p.sinks.contains_key(q) || ended.sinks.contains_key(q))
        && p.workers.len() + ended.workers.iter().filter(|k| !p.workers.contains_key(*k)).count() == c.workers
}

fn record(metrics: &JobMetrics, started: Option<std::time::Instant>) {
    metrics.checkpoints.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    metrics.checkpoint_at_ms.store(now, Ordering::Relaxed);
    if let Some(t) = started {
        metrics.checkpoint_ms.store(t.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}
