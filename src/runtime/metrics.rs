//! Counters of a running job, shared by its tasks and read by progress reporting and the
//! end-of-run summary.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::connectors::SourceCounters;

/// Counters for one job.
#[derive(Debug, Default)]
pub struct JobMetrics {
    /// Per source table: its decoding counters.
    pub sources: Mutex<Vec<(String, Arc<SourceCounters>)>>,
    /// Rows written to sinks.
    pub rows_out: AtomicU64,
    /// Rows too late for every window they belong to, over all operators: dropped, or
    /// routed to `<table>__late` under `'late.policy' = 'side-output'`.
    pub late_dropped: AtomicU64,
    /// Rows dropped by windows because their event time was NULL.
    pub no_event_time: AtomicU64,
    /// The lowest watermark over all sources (ms), `i64::MIN` before the first.
    pub watermark: AtomicI64,
    /// Checkpoints completed (written to the state directory).
    pub checkpoints: AtomicU64,
    /// How long the last periodic checkpoint took from trigger to write, in ms.
    pub checkpoint_ms: AtomicU64,
    /// Rows processed by each worker of each keyed stage: (query, stage, worker, rows, keys).
    pub workers: Mutex<Vec<WorkerStats>>,
}

/// What one worker did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStats {
    /// Index of the query in the job.
    pub query: usize,
    /// Stage index.
    pub stage: usize,
    /// Worker index within the stage.
    pub worker: usize,
    /// Rows it received.
    pub rows_in: u64,
    /// Most keys it held at once (sampled at watermarks).
    pub max_keys: usize,
}

impl JobMetrics {
    /// Rows read over all sources.
    pub fn rows_in(&self) -> u64 {
        self.sources.lock().map(|s| s.iter().map(|(_, c)| c.rows.load(Ordering::Relaxed)).sum()).unwrap_or(0)
    }

    /// Bad rows skipped over all sources.
    pub fn skipped(&self) -> u64 {
        self.sources.lock().map(|s| s.iter().map(|(_, c)| c.skipped.load(Ordering::Relaxed)).sum()).unwrap_or(0)
    }

    /// Bad rows dead-lettered over all sources.
    pub fn dead_lettered(&self) -> u64 {
        self.sources.lock().map(|s| s.iter().map(|(_, c)| c.dead_lettered.load(Ordering::Relaxed)).sum()).unwrap_or(0)
    }
}
