//! The checkpoint coordinator: triggers checkpoints at the sources, collects every task's
//! part, writes complete checkpoints and tells the sinks to commit.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::store::CheckpointStore;
use super::{Checkpoint, SourceState, WorkerState, FINAL};
use crate::error::Result;
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

/// What tasks tell the coordinator.
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
    /// Trigger channel of each source task.
    pub triggers: Vec<UnboundedSender<Trigger>>,
    /// Commit channel of each sink task, by query index.
    pub commits: Vec<UnboundedSender<u64>>,
    /// Number of worker tasks.
    pub workers: usize,
    /// Reports of every task; the coordinator ends when all senders are gone.
    pub reports: UnboundedReceiver<Report>,
}

#[derive(Default)]
struct Partial {
    sources: BTreeMap<String, SourceState>,
    workers: BTreeMap<String, WorkerState>,
    sinks: BTreeMap<usize, Vec<u8>>,
}

/// Runs the coordinator until every task has ended.
///
/// Periodic checkpoints are triggered every `interval` while no source has ended; on
/// `cancel` a last one is triggered with [`Trigger::Stop`]. When every source ended on its
/// own and every sink has all its rows, a finished checkpoint is written and the sinks get
/// the commit [`FINAL`].
pub async fn run_coordinator(mut c: Coordinator, cancel: Cancel, metrics: Arc<JobMetrics>) -> Result<()> {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + c.interval, c.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending: BTreeMap<u64, Partial> = BTreeMap::new();
    let mut stopping = false;
    let mut source_ended = false;
    let mut stopped_sources = false;
    let mut ended_sinks: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    let mut started: BTreeMap<u64, std::time::Instant> = BTreeMap::new();
    loop {
        let report = tokio::select! {
            biased;
            r = c.reports.recv() => match r {
                Some(r) => r,
                None => break,
            },
            _ = cancel.cancelled(), if !stopping => {
                stopping = true;
                let id = c.next_id;
                c.next_id += 1;
                started.insert(id, std::time::Instant::now());
                c.triggers.iter().for_each(|t| { let _ = t.send(Trigger::Stop(id)); });
                continue;
            }
            _ = ticker.tick(), if !stopping && !source_ended => {
                let id = c.next_id;
                c.next_id += 1;
                started.insert(id, std::time::Instant::now());
                c.triggers.iter().for_each(|t| { let _ = t.send(Trigger::Checkpoint(id)); });
                continue;
            }
        };
        let id = match report {
            Report::Source { checkpoint, table, state } => {
                pending.entry(checkpoint).or_default().sources.insert(table, state);
                checkpoint
            }
            Report::Worker { checkpoint, key, state } => {
                pending.entry(checkpoint).or_default().workers.insert(key, state);
                checkpoint
            }
            Report::Sink { checkpoint, query, state } => {
                pending.entry(checkpoint).or_default().sinks.insert(query, state);
                checkpoint
            }
            Report::SourceEnded { stopped, .. } => {
                source_ended = true;
                stopped_sources |= stopped;
                continue;
            }
            Report::SinkEnded { query, state } => {
                ended_sinks.insert(query, state);
                continue;
            }
        };
        let complete = pending.get(&id).is_some_and(|p| {
            p.sources.len() == c.triggers.len() && p.workers.len() == c.workers && p.sinks.len() == c.commits.len()
        });
        if !complete {
            continue;
        }
        let Some(parts) = pending.remove(&id) else { continue };
        // Older checkpoints can no longer complete: every task handles barriers in order.
        pending.retain(|k, _| *k > id);
        let checkpoint = Checkpoint {
            id,
            fingerprint: c.fingerprint.clone(),
            finished: false,
            sources: parts.sources,
            workers: parts.workers,
            sinks: parts.sinks,
        };
        c.store.write(&checkpoint)?;
        record(&metrics, started.remove(&id));
        for tx in &c.commits {
            let _ = tx.send(id);
        }
    }
    if !stopped_sources && source_ended && ended_sinks.len() == c.commits.len() {
        let checkpoint = Checkpoint {
            id: c.next_id,
            fingerprint: c.fingerprint.clone(),
            finished: true,
            sinks: ended_sinks,
            ..Default::default()
        };
        c.store.write(&checkpoint)?;
        record(&metrics, None);
        for tx in &c.commits {
            let _ = tx.send(FINAL);
        }
    }
    Ok(())
}

fn record(metrics: &JobMetrics, started: Option<std::time::Instant>) {
    metrics.checkpoints.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    metrics.checkpoint_at_ms.store(now, Ordering::Relaxed);
    if let Some(t) = started {
        metrics.checkpoint_ms.store(t.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}
