//! The supervisor: keeps one pipeline running per query file, following the folder.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::pipeline::{supervise, PipelineConfig};
use super::registry::{PipelineState, PipelineStatus, Registry};
use super::scan::{scan, QueryFile};
use crate::runtime::Cancel;

/// What `wavecrest daemon` was told.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The folder of query files.
    pub dir: PathBuf,
    /// Where checkpoints go (`<state_dir>/<pipeline>/`); `None` runs without checkpoints, so
    /// a restarted pipeline starts from scratch.
    pub state_dir: Option<PathBuf>,
    /// Time between checkpoints, overriding the files' `SET 'checkpoint.interval'`.
    pub checkpoint_interval: Option<Duration>,
    /// How often the folder is scanned for changes (SIGHUP scans at once).
    pub poll_interval: Duration,
    /// First retry delay of a failed pipeline (doubling up to `max_retry`).
    pub first_retry: Duration,
    /// Longest retry delay.
    pub max_retry: Duration,
}

impl DaemonConfig {
    /// Defaults: no checkpoints, a scan every second, retries from 1 s up to 1 min.
    pub fn new(dir: PathBuf) -> Self {
        DaemonConfig {
            dir,
            state_dir: None,
            checkpoint_interval: None,
            poll_interval: Duration::from_secs(1),
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(60),
        }
    }
}

/// A running pipeline as the supervisor holds it.
struct Running {
    /// The file as it was when the pipeline started.
    file: QueryFile,
    cancel: Cancel,
    task: JoinHandle<()>,
}

/// Runs the daemon until `shutdown`: scans `config.dir` at start, every poll interval and
/// whenever `rescan` is notified, and starts, restarts or stops pipelines to match. On
/// shutdown every pipeline stops (taking a final checkpoint when checkpointing) before this
/// returns. A folder that cannot be read is logged and leaves the pipelines as they are.
pub async fn run(config: DaemonConfig, registry: Arc<Registry>, shutdown: Cancel, rescan: Arc<Notify>) {
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    tracing::info!(dir = %config.dir.display(), "watching for query files");
    loop {
        reconcile(&config, &registry, &mut running).await;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = rescan.notified() => tracing::info!("rescanning (SIGHUP)"),
            _ = tokio::time::sleep(config.poll_interval) => {}
        }
    }
    tracing::info!(pipelines = running.len(), "shutting down");
    for r in running.values() {
        r.cancel.cancel();
    }
    for (name, r) in running {
        if let Err(e) = r.task.await {
            tracing::error!(pipeline = %name, "pipeline task failed: {e}");
        }
    }
}

/// Brings the running pipelines in line with the folder.
async fn reconcile(config: &DaemonConfig, registry: &Arc<Registry>, running: &mut BTreeMap<String, Running>) {
    let files = match scan(&config.dir) {
        Ok(files) => files,
        Err(e) => {
            tracing::error!("{e}; pipelines keep running as they are");
            return;
        }
    };
    let gone: Vec<String> = running.keys().filter(|n| !files.contains_key(*n)).cloned().collect();
    for name in gone {
        if let Some(r) = running.remove(&name) {
            tracing::info!(pipeline = %name, "file removed: stopping");
            stop(&name, r).await;
            registry.remove(&name);
        }
    }
    for (name, file) in files {
        if let Some(r) = running.get(&name) {
            if r.file == file {
                continue;
            }
            tracing::info!(pipeline = %name, "file changed: restarting");
            if let Some(r) = running.remove(&name) {
                stop(&name, r).await;
            }
        } else {
            tracing::info!(pipeline = %name, file = %file.path.display(), "new file: starting");
        }
        running.insert(name.clone(), start(config, registry, &name, file));
    }
}

fn start(config: &DaemonConfig, registry: &Arc<Registry>, name: &str, file: QueryFile) -> Running {
    let status = Arc::new(PipelineStatus::new(name, file.path.clone()));
    registry.insert(Arc::clone(&status));
    let cancel = Cancel::new();
    let task = match &file.text {
        Ok(sql) => {
            let pipeline = PipelineConfig {
                state_dir: config.state_dir.as_ref().map(|d| d.join(name)),
                checkpoint_interval: config.checkpoint_interval,
                first_retry: config.first_retry,
                max_retry: config.max_retry,
            };
            let inner = tokio::spawn(supervise(Arc::clone(&status), sql.clone(), pipeline, cancel.clone()));
            // A panic in a pipeline is a bug, but it fails that pipeline only.
            tokio::spawn(async move {
                if let Err(e) = inner.await {
                    tracing::error!(pipeline = %status.name, "crashed: {e}");
                    status.set(
                        PipelineState::Failed,
                        Some(format!("internal error (please report this bug): {e}")),
                        None,
                    );
                }
            })
        }
        Err(e) => {
            tracing::error!(pipeline = %name, "{e}");
            status.set(PipelineState::Failed, Some(e.clone()), None);
            tokio::spawn(async {})
        }
    };
    Running { file, cancel, task }
}

async fn stop(name: &str, r: Running) {
    r.cancel.cancel();
    if let Err(e) = r.task.await {
        tracing::error!(pipeline = %name, "pipeline task failed: {e}");
    }
}
