//! What `wavecrest run` shows while a job runs: a progress line every 10 s on stderr and,
//! with `--http`, the daemon's `/metrics`, `/pipelines` and `/healthz` for this one job.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use wavecrest::daemon::{http, PipelineState, PipelineStatus, Registry};
use wavecrest::runtime::{Cancel, JobMetrics};
use wavecrest::Error;

/// How often `run` reports progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The status endpoints of one running job.
pub struct StatusServer {
    status: Arc<PipelineStatus>,
    stop: Cancel,
    task: JoinHandle<()>,
}

impl StatusServer {
    /// Serves the job named `name` (its file) on `addr`; logs the address it listens on.
    pub async fn start(
        addr: SocketAddr,
        name: &str,
        file: &std::path::Path,
        metrics: Arc<JobMetrics>,
    ) -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::external(format!("--http {addr}: cannot listen: {e}")))?;
        let bound = listener.local_addr().map_err(|e| Error::external(format!("--http {addr}: {e}")))?;
        tracing::info!("listening on http://{bound} (/metrics, /pipelines, /healthz)");
        let registry = Arc::new(Registry::new());
        let status = Arc::new(PipelineStatus::new(name, file.to_path_buf()));
        status.set_metrics(metrics);
        status.set(PipelineState::Running, None, None);
        registry.insert(Arc::clone(&status));
        let stop = Cancel::new();
        let task = tokio::spawn(http::serve(listener, registry, stop.clone()));
        Ok(StatusServer { status, stop, task })
    }

    /// Records how the job ended and stops serving.
    pub async fn finish(self, result: &Result<Arc<JobMetrics>, Error>, cancelled: bool) {
        match result {
            Ok(_) if cancelled => self.status.set(PipelineState::Stopped, None, None),
            Ok(_) => self.status.set(PipelineState::Finished, None, None),
            Err(e) => self.status.set(PipelineState::Failed, Some(e.to_string()), None),
        }
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Logs a progress line every 10 s until aborted: rows in (and the rate since the last
/// line), rows out, watermark, late rows, checkpoints.
pub fn report_progress(metrics: Arc<JobMetrics>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = (Instant::now(), 0u64);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
        loop {
            ticker.tick().await;
            let rows_in = metrics.rows_in();
            let rate = (rows_in - last.1.min(rows_in)) as f64 / last.0.elapsed().as_secs_f64().max(1e-9);
            last = (Instant::now(), rows_in);
            let watermark = crate::repl::status::watermark_text(metrics.watermark.load(Ordering::Relaxed));
            tracing::info!(
                "progress: {rows_in} rows in ({rate:.0}/s), {} rows out, watermark {watermark}, {} late rows, {} checkpoints",
                metrics.rows_out.load(Ordering::Relaxed),
                metrics.late_rows_live(),
                metrics.checkpoints.load(Ordering::Relaxed),
            );
        }
    })
}
