//! Counters of a running job, shared by its tasks and read by progress reporting and the
//! end-of-run summary.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::connectors::SourceCounters;

/// Counters for one job.
#[derive(Debug)]
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
    /// When the last checkpoint completed, in ms since the Unix epoch (0 before the first).
    pub checkpoint_at_ms: AtomicI64,
    /// Live counters of every worker, registered as workers start.
    pub tasks: Mutex<Vec<Arc<TaskMetrics>>>,
    /// Live counters of every operator instance, registered as workers start.
    pub operators: Mutex<Vec<Arc<OperatorMetrics>>>,
    /// Time sources spent waiting for a full downstream channel (backpressure), in ns.
    pub source_backpressure_ns: AtomicU64,
}

/// Live counters of one worker (one instance of a stage), updated as it runs.
#[derive(Debug, Default)]
pub struct TaskMetrics {
    /// Index of the query in the job.
    pub query: usize,
    /// Stage index.
    pub stage: usize,
    /// Worker index within the stage.
    pub worker: usize,
    /// Rows received.
    pub rows_in: AtomicU64,
    /// The watermark its operators have seen (ms), `i64::MIN` before the first.
    pub watermark: AtomicI64,
    /// Time spent waiting for a full downstream channel (backpressure), in ns.
    pub backpressure_ns: AtomicU64,
}

impl TaskMetrics {
    /// Counters for worker `worker` of stage `stage` of query `query`, all zero.
    pub fn new(query: usize, stage: usize, worker: usize) -> Self {
        TaskMetrics { query, stage, worker, watermark: AtomicI64::new(i64::MIN), ..Default::default() }
    }
}

/// Live counters of one operator of one worker.
#[derive(Debug, Default)]
pub struct OperatorMetrics {
    /// Index of the query in the job.
    pub query: usize,
    /// Stage index.
    pub stage: usize,
    /// Worker index within the stage.
    pub worker: usize,
    /// Position of the operator in the worker's chain.
    pub index: usize,
    /// The operator's name ([`crate::exec::operator::Operator::name`]).
    pub name: String,
    /// Rows it received.
    pub rows_in: AtomicU64,
    /// Rows it emitted.
    pub rows_out: AtomicU64,
    /// Rows too late for it ([`crate::exec::operator::Operator::late_rows`]), as of its last watermark.
    pub late_rows: AtomicU64,
    /// Keys in its state ([`crate::exec::operator::Operator::state_keys`]), as of its last watermark.
    pub state_keys: AtomicU64,
    /// Size of its state in bytes, as snapshotted at the last checkpoint (0 without checkpoints).
    pub state_bytes: AtomicU64,
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

impl Default for JobMetrics {
    fn default() -> Self {
        JobMetrics {
            sources: Mutex::default(),
            rows_out: AtomicU64::default(),
            late_dropped: AtomicU64::default(),
            no_event_time: AtomicU64::default(),
            watermark: AtomicI64::new(i64::MIN),
            checkpoints: AtomicU64::default(),
            checkpoint_ms: AtomicU64::default(),
            workers: Mutex::default(),
            checkpoint_at_ms: AtomicI64::default(),
            tasks: Mutex::default(),
            operators: Mutex::default(),
            source_backpressure_ns: AtomicU64::default(),
        }
    }
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

    /// Registers a worker's counters and its operators' (named `names`, in chain order).
    pub fn register_worker(
        &self,
        query: usize,
        stage: usize,
        worker: usize,
        names: &[&str],
    ) -> (Arc<TaskMetrics>, Vec<Arc<OperatorMetrics>>) {
        let task = Arc::new(TaskMetrics::new(query, stage, worker));
        let ops: Vec<Arc<OperatorMetrics>> = names
            .iter()
            .enumerate()
            .map(|(index, name)| {
                Arc::new(OperatorMetrics { query, stage, worker, index, name: name.to_string(), ..Default::default() })
            })
            .collect();
        if let Ok(mut t) = self.tasks.lock() {
            t.push(Arc::clone(&task));
        }
        if let Ok(mut o) = self.operators.lock() {
            o.extend(ops.iter().cloned());
        }
        (task, ops)
    }

    /// Rows too late over all operators so far: live, unlike [`JobMetrics::late_dropped`],
    /// which is summed as workers end.
    pub fn late_rows_live(&self) -> u64 {
        self.operators.lock().map(|o| o.iter().map(|m| m.late_rows.load(Ordering::Relaxed)).sum()).unwrap_or(0)
    }
}
