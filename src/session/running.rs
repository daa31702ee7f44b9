//! Jobs ready to run, and queries running in the background.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::runtime::job::{run_checkpointed_job, JobCheckpoints};
use crate::runtime::side_output::SideOutputs;
use crate::runtime::{Cancel, JobMetrics, JobQuery, JobSource};
use crate::sink::subscription::Subscription;

/// Sources and sinks of a job, opened and ready to run.
pub struct PreparedJob {
    pub(super) sources: BTreeMap<String, JobSource>,
    pub(super) queries: Vec<JobQuery>,
    pub(super) parallelism: usize,
    pub(super) side_outputs: SideOutputs,
    pub(super) metrics: Arc<JobMetrics>,
    pub(super) checkpoints: Option<JobCheckpoints>,
}

impl PreparedJob {
    /// The job's counters (live while it runs).
    pub fn metrics(&self) -> Arc<JobMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Runs the job until its inputs end or `cancel` is set.
    pub async fn run(self, cancel: Cancel) -> Result<Arc<JobMetrics>> {
        let metrics = Arc::clone(&self.metrics);
        let PreparedJob { sources, queries, parallelism, side_outputs, checkpoints, .. } = self;
        run_checkpointed_job(sources, queries, parallelism, side_outputs, cancel, Arc::clone(&metrics), checkpoints)
            .await?;
        Ok(metrics)
    }

    /// Whether the job checkpoints (see [`Session::enable_checkpoints`](crate::Session::enable_checkpoints)).
    pub fn checkpoints(&self) -> bool {
        self.checkpoints.is_some()
    }
}

/// A query running in the background (see [`Session::start`](crate::Session::start)).
pub struct RunningQuery {
    /// Subscriptions to its results, one per requested subscriber.
    pub subscriptions: Vec<Subscription>,
    pub(super) cancel: Cancel,
    pub(super) metrics: Arc<JobMetrics>,
    pub(super) handle: tokio::task::JoinHandle<Result<Arc<JobMetrics>>>,
}

impl RunningQuery {
    /// Stops the query: sources stop reading, open windows are not fired, subscriptions end.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The query's counters, live.
    pub fn metrics(&self) -> Arc<JobMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Waits for the query to end (bounded inputs) or to stop after [`RunningQuery::cancel`].
    pub async fn wait(self) -> Result<Arc<JobMetrics>> {
        self.handle.await.map_err(|e| Error::internal(format!("query task failed: {e}")))?
    }
}
