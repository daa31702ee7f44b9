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

/// One entry of a memory table's log.
#[derive(Debug, Clone)]
enum Entry {
    Rows(RecordBatch),
    Watermark(i64),
}

/// The rows (and explicit watermarks) of a memory table, shared by its writers and readers.
#[derive(Debug, Default)]
pub struct MemoryLog {
    entries: Mutex<Vec<Entry>>,
    pushed: Notify,
}

impl MemoryLog {
    /// Appends rows (in the table's physical schema) and wakes running readers.
    pub fn push(&self, batch: RecordBatch) -> Result<()> {
        self.append(Entry::Rows(batch))
    }

    /// Declares that event time has reached `watermark_ms`, for producers that drive time
    /// themselves. It only ever moves the table's watermark forward (it is combined with the
    /// one computed from rows by `WATERMARK FOR`).
    pub fn push_watermark(&self, watermark_ms: i64) -> Result<()> {
        self.append(Entry::Watermark(watermark_ms))
    }

    fn append(&self, e: Entry) -> Result<()> {
        self.entries.lock().map_err(|_| Error::internal("memory table poisoned"))?.push(e);
        self.pushed.notify_waiters();
        Ok(())
    }

    fn get(&self, i: usize) -> Option<Entry> {
        self.entries.lock().ok().and_then(|b| b.get(i).cloned())
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
        match self.log.get(self.next) {
            Some(Entry::Rows(b)) => {
                self.next += 1;
                SourceCounters::add(&self.counters.rows, b.num_rows() as u64);
                return Ok(SourceEvent::Batch(b));
            }
            Some(Entry::Watermark(w)) => {
                self.next += 1;
                return Ok(SourceEvent::Watermark(w));
            }
            None => {}
        }
        let _ = tokio::time::timeout(POLL, pushed).await;
        Ok(SourceEvent::Idle)
    }

    /// The index of the next log entry to read.
    fn offset(&self) -> Option<Vec<u8>> {
        Some((self.next as u64).to_le_bytes().to_vec())
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        self.next = super::offset_word(offset, 0)? as usize;
        Ok(())
    }
}
