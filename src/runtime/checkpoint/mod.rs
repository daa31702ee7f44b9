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
//! Periodic checkpoints are taken while any source is running. A task that has ended (a
//! bounded source read to its end, then the workers and sink of every query reading it)
//! takes part in later checkpoints as *ended*: the checkpoint records that it ended, and a
//! resumed job does not run it again. At the end of all inputs the coordinator writes a
//! *finished* checkpoint once every sink has all its rows; a job started on a finished
//! checkpoint only completes its sinks' commits.

pub mod base64_bytes;
pub mod coordinator;
pub mod restore;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};
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

/// The version of the checkpoint file layout this build writes and reads ([`Checkpoint::format`]).
/// Format 1 (no `format` field) wrote byte fields as JSON lists of numbers; format 2 writes
/// them as base64 strings.
pub const FORMAT: u32 = 2;

/// One complete checkpoint of a job, as written to the state directory (JSON; byte fields
/// are base64 strings, see [`base64_bytes`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    /// The file layout version, [`FORMAT`] for checkpoints of this build.
    pub format: u32,
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
    #[serde(with = "base64_bytes::map")]
    pub sinks: BTreeMap<usize, Vec<u8>>,
    /// Source tables whose input had ended (every partition) before this checkpoint's
    /// barrier: they have no entry in `sources`, and a resumed job does not read them. Every
    /// query reading them is in `ended_queries`.
    pub ended_sources: BTreeSet<String>,
    /// Queries whose sink had all its rows before this checkpoint's barrier: their workers
    /// have no entry in `workers`, their state in `sinks` covers all their output, and a
    /// resumed job only completes their sinks' commits.
    pub ended_queries: BTreeSet<usize>,
}

impl Default for Checkpoint {
    /// An empty checkpoint of the current [`FORMAT`].
    fn default() -> Self {
        Checkpoint {
            format: FORMAT,
            id: 0,
            fingerprint: String::new(),
            finished: false,
            sources: BTreeMap::new(),
            workers: BTreeMap::new(),
            sinks: BTreeMap::new(),
            ended_sources: BTreeSet::new(),
            ended_queries: BTreeSet::new(),
        }
    }
}

/// What a source task records at a barrier.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceState {
    /// Each partition's [`crate::connectors::Source::offset`].
    #[serde(with = "base64_bytes::list")]
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
    #[serde(with = "base64_bytes::list")]
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
