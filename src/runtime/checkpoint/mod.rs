//! Checkpoints: consistent snapshots of a running job, so a restarted job resumes where the
//! last one left off.
//!
//! ```text
//! coordinator ──trigger n──▶ source: record offsets + watermark state, send Barrier(n)
//!   source ──rows──|B n|──rows──▶ worker: align B n over upstreams, snapshot operators,
//!                                        forward B n ──▶ sink: align, prepare commit
//!   every source, worker and sink reports its part of checkpoint n to the coordinator;
//!   with all parts in hand it writes `chk-n` atomically, then tells the sinks to commit.
//! ```
//!
//! A checkpoint holds exactly the effects of the input before the barrier on every channel
//! (the Chandy–Lamport / Flink aligned-barrier scheme), so restoring it and re-reading the
//! sources from the recorded offsets gives the same results as never having stopped. Sinks
//! that can hold output back until the checkpoint covering it completes (the file sink) are
//! exactly-once; the others are at-least-once.
//!
//! Periodic checkpoints are taken while every source is running. At the end of bounded
//! inputs the coordinator writes a *finished* checkpoint once every sink has all its rows;
//! a job started on a finished checkpoint only completes its sinks' commits.

pub mod coordinator;
pub mod restore;
pub mod store;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use coordinator::{run_coordinator, Coordinator, Report, Trigger};
pub use store::CheckpointStore;

use crate::exec::watermark_combiner::CombinerState;

/// Default time between checkpoints.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// The commit message sent to sinks when the finished checkpoint (end of bounded inputs) is
/// written: it covers everything the sink prepared when its input ended.
pub const FINAL: u64 = u64::MAX;

/// Where and how often a job checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    /// The state directory; checkpoints are files `chk-<id>.json` in it.
    pub dir: PathBuf,
    /// Time between checkpoints.
    pub interval: Duration,
}

/// One complete checkpoint of a job, as written to the state directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    /// Increasing id.
    pub id: u64,
    /// What the job was (plans and parallelism); a job whose fingerprint differs does not
    /// restore this checkpoint.
    pub fingerprint: String,
    /// The job's inputs had all ended and every sink had all its rows: nothing is left to run.
    pub finished: bool,
    /// Per source table.
    pub sources: BTreeMap<String, SourceState>,
    /// Per worker, by [`worker_key`].
    pub workers: BTreeMap<String, WorkerState>,
    /// Per query (index in the job): the sink's state.
    pub sinks: BTreeMap<usize, Vec<u8>>,
}

/// What a source task records at a barrier.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceState {
    /// Each partition's [`crate::connectors::Source::offset`].
    pub offsets: Vec<Vec<u8>>,
    /// Which partitions had ended.
    pub ended: Vec<bool>,
    /// The partition polled last (partitions are polled round-robin).
    pub last_polled: usize,
    /// The watermark combiner's state, if the table has a watermark.
    pub watermarks: Option<CombinerState>,
}

/// What a worker records at an aligned barrier.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WorkerState {
    /// Each operator's [`crate::exec::operator::Operator::snapshot`], in chain order.
    pub operators: Vec<Vec<u8>>,
    /// The last watermark from each upstream.
    pub marks: Vec<i64>,
    /// The watermark the operators have seen.
    pub current: i64,
}

/// The key of a worker in [`Checkpoint::workers`].
pub fn worker_key(query: usize, stage: usize, worker: usize) -> String {
    format!("q{query}.s{stage}.w{worker}")
}
