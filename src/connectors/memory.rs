//! The `memory` connector: an unbounded table fed from inside the process. Rows inserted
//! (`INSERT INTO t VALUES`, or [`MemoryLog::push`] from the library or the REPL) are kept in
//! order; a query reading the table replays them from the start and then sees new rows as
//! they are pushed, until it is cancelled.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use tokio::sync::Notify;

use super::{Options, Source, SourceContext, SourceCounters, SourceEvent};
use crate::error::{Error, Result};

/// How long a reader waits for new rows before reporting `Idle`.
const POLL: Duration = Duration::from_millis(100);

/// The rows of a memory table, shared by its writers and readers.
#[derive(Debug, Default)]
pub struct MemoryLog {
    batches: Mutex<Vec<RecordBatch>>,
    pushed: Notify,
}

impl MemoryLog {
    /// Appends rows (in the table's physical schema) and wakes running readers.
    pub fn push(&self, batch: RecordBatch) -> Result<()> {
        self.batches.lock().map_err(|_| Error::internal("memory table poisoned"))?.push(batch);
        self.pushed.notify_waiters();
        Ok(())
    }

    fn get(&self, i: usize) -> Option<RecordBatch> {
        self.batches.lock().ok().and_then(|b| b.get(i).cloned())
    }
}

/// Reads a [`MemoryLog`] from the beginning, then follows it.
pub struct MemorySource {
    schema: SchemaRef,
    log: Arc<MemoryLog>,
    next: usize,
    counters: Arc<SourceCounters>,
}

/// Opens a reader of `log`.
pub fn open(options: &Options, ctx: &SourceContext, log: Arc<MemoryLog>) -> Result<Box<dyn Source>> {
    options.check_all_used("memory")?;
    Ok(Box::new(MemorySource { schema: ctx.schema.clone(), log, next: 0, counters: Arc::clone(&ctx.counters) }))
}

#[async_trait]
impl Source for MemorySource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn next(&mut self) -> Result<SourceEvent> {
        let pushed = self.log.pushed.notified();
        if let Some(b) = self.log.get(self.next) {
            self.next += 1;
            SourceCounters::add(&self.counters.rows, b.num_rows() as u64);
            return Ok(SourceEvent::Batch(b));
        }
        let _ = tokio::time::timeout(POLL, pushed).await;
        Ok(SourceEvent::Idle)
    }
}
