//! What the daemon knows about its pipelines, shared by the supervisor, the pipelines and
//! the HTTP endpoints.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::runtime::JobMetrics;

/// The lifecycle state of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineState {
    /// Parsing, planning and opening sources and sinks.
    Starting,
    /// Running.
    Running,
    /// Its inputs ended and all output is committed.
    Finished,
    /// Stopped by the daemon (file removed or changed, or shutdown).
    Stopped,
    /// Failed; retried after a backoff unless the error is in the SQL (then it waits for
    /// the file to change).
    Failed,
}

/// One pipeline as the status endpoint and the metrics see it.
#[derive(Debug)]
pub struct PipelineStatus {
    /// The pipeline's name: the file name without `.sql`.
    pub name: String,
    /// The query file.
    pub file: PathBuf,
    state: Mutex<(PipelineState, Option<String>, Option<u64>)>,
    metrics: Mutex<Option<Arc<JobMetrics>>>,
    /// Times the pipeline was restarted after a failure.
    pub restarts: AtomicU64,
}

impl PipelineStatus {
    /// A pipeline about to start.
    pub fn new(name: &str, file: PathBuf) -> Self {
        PipelineStatus {
            name: name.to_string(),
            file,
            state: Mutex::new((PipelineState::Starting, None, None)),
            metrics: Mutex::new(None),
            restarts: AtomicU64::new(0),
        }
    }

    /// Sets the state; `error` and `retry_in_ms` describe a failure.
    pub fn set(&self, state: PipelineState, error: Option<String>, retry_in_ms: Option<u64>) {
        if let Ok(mut s) = self.state.lock() {
            *s = (state, error, retry_in_ms);
        }
    }

    /// The state, the last error and when the next retry is due (ms from when it failed).
    pub fn state(&self) -> (PipelineState, Option<String>, Option<u64>) {
        self.state.lock().map(|s| s.clone()).unwrap_or((PipelineState::Failed, None, None))
    }

    /// Attaches the counters of the job now running (each run has its own).
    pub fn set_metrics(&self, metrics: Arc<JobMetrics>) {
        if let Ok(mut m) = self.metrics.lock() {
            *m = Some(metrics);
        }
    }

    /// The counters of the current (or last) run, if it got as far as opening its sources.
    pub fn metrics(&self) -> Option<Arc<JobMetrics>> {
        self.metrics.lock().ok().and_then(|m| m.clone())
    }

    /// Counts a restart after a failure.
    pub fn restarted(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }
}

/// The pipelines by name.
#[derive(Debug, Default)]
pub struct Registry {
    pipelines: Mutex<BTreeMap<String, Arc<PipelineStatus>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a pipeline.
    pub fn insert(&self, status: Arc<PipelineStatus>) {
        if let Ok(mut p) = self.pipelines.lock() {
            p.insert(status.name.clone(), status);
        }
    }

    /// Removes a pipeline (its file was removed).
    pub fn remove(&self, name: &str) {
        if let Ok(mut p) = self.pipelines.lock() {
            p.remove(name);
        }
    }

    /// Every pipeline, by name.
    pub fn all(&self) -> Vec<Arc<PipelineStatus>> {
        self.pipelines.lock().map(|p| p.values().cloned().collect()).unwrap_or_default()
    }

    /// The `/pipelines` document: a JSON array with one object per pipeline.
    pub fn to_json(&self) -> serde_json::Value {
        let now = now_ms();
        let rows: Vec<serde_json::Value> = self
            .all()
            .iter()
            .map(|p| {
                let (state, error, retry_in_ms) = p.state();
                let mut row = serde_json::json!({
                    "name": p.name,
                    "file": p.file.display().to_string(),
                    "state": state,
                    "error": error,
                    "retry_in_ms": retry_in_ms,
                    "restarts": p.restarts.load(Ordering::Relaxed),
                });
                if let Some(m) = p.metrics() {
                    let wm = m.watermark.load(Ordering::Relaxed);
                    let at = m.checkpoint_at_ms.load(Ordering::Relaxed);
                    let extra = serde_json::json!({
                        "rows_in": m.rows_in(),
                        "rows_out": m.rows_out.load(Ordering::Relaxed),
                        "late_rows": m.late_rows_live(),
                        "watermark_ms": event_time(wm),
                        "watermark": event_time(wm).map(format_ms),
                        "checkpoints": m.checkpoints.load(Ordering::Relaxed),
                        "last_checkpoint_age_ms": (at > 0).then(|| now.saturating_sub(at)),
                        "last_checkpoint_duration_ms": (at > 0).then(|| m.checkpoint_ms.load(Ordering::Relaxed)),
                    });
                    if let (Some(row), serde_json::Value::Object(extra)) = (row.as_object_mut(), extra) {
                        row.extend(extra);
                    }
                }
                row
            })
            .collect();
        serde_json::Value::Array(rows)
    }
}

/// A watermark that is a real event time (not the start or end markers).
pub fn event_time(watermark_ms: i64) -> Option<i64> {
    (watermark_ms != i64::MIN && watermark_ms != i64::MAX).then_some(watermark_ms)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
}
