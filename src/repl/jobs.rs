//! Running continuous queries: in the foreground or as background jobs.
//!
//! A background job renders its rows itself, each line prefixed by `[n] `, and prints them
//! above the prompt (rustyline's external printer). `\fg n` attaches it: its rows then go
//! to the terminal unprefixed until it ends or Ctrl-C puts it back in the background.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use datafusion::arrow::datatypes::SchemaRef;
use rustyline::ExternalPrinter;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wavecrest::exec::chunk::Chunk;
use wavecrest::runtime::{Cancel, JobMetrics};
use wavecrest::sink::subscription::{subscriptions, Subscription};
use wavecrest::sink::{OutputFormat, RowWriter, Sink};
use wavecrest::{Continuous, Error, Session, Target};

use super::status::summary;

/// A continuous query that was started.
pub struct Launched {
    /// Its results, for a query that writes to the client.
    pub sub: Option<Subscription>,
    /// The schema of its rows.
    pub schema: SchemaRef,
    /// Where its rows go.
    pub target: Target,
    /// Its counters, live.
    pub metrics: Arc<JobMetrics>,
    /// Stops it.
    pub cancel: Cancel,
    /// Its task.
    pub handle: JoinHandle<wavecrest::Result<Arc<JobMetrics>>>,
    /// When it started.
    pub started: Instant,
}

/// Opens a query's sources and sinks and starts it on the runtime.
pub fn launch(session: &Session, rt: &Handle, query: Continuous) -> wavecrest::Result<Launched> {
    let _inside = rt.enter();
    let schema = query.plan.schema.clone();
    let target = query.target.clone();
    let (sink, mut subs) = subscriptions(1);
    let mut sink = Some(sink);
    let job = session.prepare(
        vec![query],
        |_| sink.take().map(|s| Box::new(s) as Box<dyn Sink>).ok_or_else(|| Error::internal("one client query")),
        false,
    )?;
    let sub = if target == Target::Client { subs.pop() } else { None };
    let cancel = Cancel::new();
    let metrics = job.metrics();
    let handle = rt.spawn(job.run(cancel.clone()));
    Ok(Launched { sub, schema, target, metrics, cancel, handle, started: Instant::now() })
}

/// The next chunk of `sub`; never completes once it is `None`.
pub async fn next_chunk(sub: &mut Option<Subscription>) -> Option<Chunk> {
    match sub {
        Some(s) => s.next_chunk().await,
        None => std::future::pending().await,
    }
}

/// Prints above the prompt while rustyline reads a line, directly otherwise.
#[derive(Clone, Default)]
pub struct Printer(Option<Arc<Mutex<Box<dyn ExternalPrinter + Send>>>>);

impl Printer {
    /// A printer through rustyline's external printer.
    pub fn new(p: Box<dyn ExternalPrinter + Send>) -> Self {
        Printer(Some(Arc::new(Mutex::new(p))))
    }

    /// Prints `text` (whole lines).
    pub fn print(&self, text: String) {
        if let Some(p) = &self.0 {
            let sent = tokio::task::block_in_place(|| p.lock().map(|mut p| p.print(text.clone()).is_ok()));
            if sent.unwrap_or(false) {
                return;
            }
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// How a job is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Still running.
    Running,
    /// Its inputs ended.
    Finished,
    /// Stopped by `\kill`.
    Cancelled,
    /// Stopped by an error.
    Failed(String),
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobState::Running => f.write_str("running"),
            JobState::Finished => f.write_str("finished"),
            JobState::Cancelled => f.write_str("cancelled"),
            JobState::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}

/// A background query.
pub struct Job {
    /// Its number (`[n]`).
    pub id: usize,
    /// Its SQL.
    pub sql: String,
    /// Stops it.
    pub cancel: Cancel,
    /// Its counters.
    pub metrics: Arc<JobMetrics>,
    /// When it started.
    pub started: Instant,
    /// Rows go unprefixed to stdout (`\fg`), not above the prompt.
    pub attached: Arc<AtomicBool>,
    /// Its state, updated when it ends.
    pub state: watch::Receiver<JobState>,
}

impl Job {
    /// Starts rendering a launched query's rows in the background.
    pub fn spawn(
        rt: &Handle,
        id: usize,
        sql: String,
        launched: Launched,
        format: OutputFormat,
        printer: Printer,
    ) -> Job {
        let (tx, state) = watch::channel(JobState::Running);
        let attached = Arc::new(AtomicBool::new(false));
        let job = Job {
            id,
            sql,
            cancel: launched.cancel.clone(),
            metrics: Arc::clone(&launched.metrics),
            started: launched.started,
            attached: Arc::clone(&attached),
            state,
        };
        rt.spawn(async move {
            let Launched { sub, schema, metrics, cancel, handle, started, .. } = launched;
            let mut writer = RowWriter::new(schema, format, true);
            let mut header = writer.header();
            let mut failure = None;
            if let Some(mut sub) = sub {
                let mut buf = Vec::new();
                while let Some(chunk) = sub.next_chunk().await {
                    buf.clear();
                    if let Some(h) = header.take() {
                        buf.extend_from_slice(h.as_bytes());
                    }
                    if let Err(e) = writer.write_chunk(&chunk, &mut buf) {
                        failure = Some(e.to_string());
                        cancel.cancel();
                        break;
                    }
                    if attached.load(Ordering::SeqCst) {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(&buf);
                        let _ = out.flush();
                    } else {
                        let text = String::from_utf8_lossy(&buf);
                        printer.print(text.lines().map(|l| format!("[{id}] {l}\n")).collect());
                    }
                }
            }
            let result = handle.await.map_err(|e| Error::internal(format!("query task failed: {e}"))).and_then(|r| r);
            let end = match (result, failure) {
                (_, Some(f)) => JobState::Failed(f),
                (Ok(_), None) if cancel.is_cancelled() => JobState::Cancelled,
                (Ok(_), None) => JobState::Finished,
                (Err(_), None) if cancel.is_cancelled() => JobState::Cancelled,
                (Err(e), None) => JobState::Failed(e.to_string()),
            };
            if !attached.load(Ordering::SeqCst) && end != JobState::Cancelled {
                printer.print(format!("[{id}] {end} {}\n", summary(&metrics, started.elapsed(), "")));
            }
            let _ = tx.send(end);
        });
        job
    }

    /// Its current state.
    pub fn state(&self) -> JobState {
        self.state.borrow().clone()
    }

    /// Rows it wrote so far.
    pub fn rows_out(&self) -> u64 {
        self.metrics.rows_out.load(Ordering::Relaxed)
    }
}
