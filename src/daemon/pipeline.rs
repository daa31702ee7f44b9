//! One pipeline: a query file's statements run as one job, restarted with backoff when it
//! fails.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::registry::{PipelineState, PipelineStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::runtime::Cancel;
use crate::sql::parse_statements;
use crate::{Output, Session, Target};

/// How a pipeline runs.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The folder its checkpoints go to (`STATE/<name>`); `None` runs without checkpoints.
    pub state_dir: Option<PathBuf>,
    /// Time between checkpoints (default: the file's `SET 'checkpoint.interval'`, else 10 s).
    pub checkpoint_interval: Option<Duration>,
    /// The first retry delay after a failure; it doubles on each failure in a row.
    pub first_retry: Duration,
    /// The longest retry delay.
    pub max_retry: Duration,
}

/// Runs the pipeline of `sql` until its inputs end, `cancel` is set, or it fails with an
/// error in the SQL (which a retry cannot fix: it waits for the file to change). Other
/// failures (a source that cannot be read, a sink that cannot be written) are retried
/// after a delay that doubles each time, from `first_retry` up to `max_retry`, reset once a
/// run has lasted longer than `max_retry`. Every change of state is recorded in `status`
/// and logged.
pub async fn supervise(status: Arc<PipelineStatus>, sql: String, config: PipelineConfig, cancel: Cancel) {
    let mut delay = config.first_retry;
    loop {
        status.set(PipelineState::Starting, None, None);
        let started = Instant::now();
        let result = run_once(&status, &sql, &config, cancel.clone()).await;
        if cancel.is_cancelled() {
            status.set(PipelineState::Stopped, None, None);
            tracing::info!(pipeline = %status.name, "stopped");
            return;
        }
        let error = match result {
            Ok(()) => {
                status.set(PipelineState::Finished, None, None);
                tracing::info!(pipeline = %status.name, "finished: its inputs ended");
                return;
            }
            Err(e) => e,
        };
        let message = describe(&error, &sql, &status.file);
        if error.kind == ErrorKind::Sql {
            tracing::error!(pipeline = %status.name, error = %message, "failed; fix the file to restart it");
            status.set(PipelineState::Failed, Some(message), None);
            return;
        }
        if started.elapsed() > config.max_retry {
            delay = config.first_retry;
        }
        tracing::warn!(pipeline = %status.name, error = %message, retry_in_ms = delay.as_millis() as u64, "failed; retrying");
        status.set(PipelineState::Failed, Some(message), Some(delay.as_millis() as u64));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancel.cancelled() => {
                status.set(PipelineState::Stopped, None, None);
                return;
            }
        }
        status.restarted();
        delay = (delay * 2).min(config.max_retry);
    }
}

/// The error as `file:line:column: message` when it has a location.
fn describe(error: &Error, sql: &str, file: &std::path::Path) -> String {
    match error.location {
        Some(at) => format!("{}:{at}: {}", file.display(), error.render(sql)),
        None => format!("{}: {error}", file.display()),
    }
}

/// One run: executes the file's statements, then runs its continuous statements as one job.
async fn run_once(status: &PipelineStatus, sql: &str, config: &PipelineConfig, cancel: Cancel) -> Result<()> {
    let statements = parse_statements(sql)?;
    let mut session = Session::new();
    if let Some(dir) = &config.state_dir {
        session.enable_checkpoints(dir.clone(), config.checkpoint_interval);
    }
    let mut continuous = Vec::new();
    for stmt in &statements {
        match session.execute(stmt)? {
            Output::Done(msg) => tracing::debug!(pipeline = %status.name, "{msg}"),
            Output::Text(_) => {}
            Output::Continuous(c) => {
                if c.target == Target::Client {
                    return Err(Error::sql_at(
                        "a pipeline has no client to show a SELECT to: write its results to a table with \
                         INSERT INTO <table> SELECT ..",
                        Some(stmt.location),
                    ));
                }
                continuous.push(c);
            }
        }
    }
    if continuous.is_empty() {
        return Err(Error::sql("the file holds no INSERT INTO .. SELECT: there is nothing to run"));
    }
    let job = session.prepare(continuous, |_| Err(Error::internal("no client sink in a pipeline")), false)?;
    status.set_metrics(job.metrics());
    status.set(PipelineState::Running, None, None);
    tracing::info!(pipeline = %status.name, checkpoints = job.checkpoints(), "running");
    job.run(cancel).await.map(|_| ())
}
