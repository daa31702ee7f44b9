//! Sources and sinks, selected by a table's `'connector'` option.
//!
//! A source produces Arrow batches in the table's *physical* schema (its declared columns
//! minus computed ones). Computed columns, watermarks and lateness are the runtime's job, so a
//! connector only reads and decodes.

#[cfg(feature = "connectors")]
pub mod column_builder;
#[cfg(feature = "connectors")]
pub mod csv_decode;
#[cfg(feature = "connectors")]
pub mod datagen;
#[cfg(feature = "connectors")]
pub mod file;
#[cfg(feature = "connectors")]
pub mod json_decode;
pub mod memory;
#[cfg(feature = "connectors")]
pub mod nexmark;
pub mod options;
pub mod registry;
#[cfg(feature = "connectors")]
pub mod value_parse;
pub mod values;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;
pub use options::Options;

/// What a source has to say when polled.
#[derive(Debug)]
pub enum SourceEvent {
    /// Rows, in the physical schema, in arrival order.
    Batch(RecordBatch),
    /// Nothing to read right now (a followed file, a paused generator); poll again later.
    /// The runtime uses these to detect idle partitions.
    Idle,
    /// The reader declares that event time has reached this watermark (ms): used by
    /// sources whose producer drives time explicitly (the `memory` table, the library).
    Watermark(i64),
    /// A bounded input is exhausted; no more events will come.
    End,
    /// Checkpoint barrier `id` arrived in the input: everything read before it belongs to
    /// the checkpoint. Only side streams inside a job
    /// ([`crate::runtime::side_output::SideSource`]) return it, whose barriers come from the
    /// operators writing them; the runtime records the source's state and forwards the barrier.
    Barrier(u64),
}

/// One partition of a source.
///
/// Contract: `next` returns batches in arrival order; after `End` it is not called again.
/// Bad input rows are handled inside the source according to [`OnError`]: they never make
/// `next` fail unless the policy is [`OnError::Fail`].
#[async_trait]
pub trait Source: Send {
    /// The schema of every batch this source returns.
    fn schema(&self) -> SchemaRef;
    /// Waits for the next event.
    async fn next(&mut self) -> Result<SourceEvent>;

    /// The position after the last event `next` returned, as bytes that [`Source::seek`] of a
    /// source opened from the same table definition accepts; `None` if this source cannot
    /// resume from a position (then a job reading it cannot be checkpointed).
    fn offset(&self) -> Option<Vec<u8>> {
        None
    }

    /// Moves to a position returned by [`Source::offset`], before the first `next`: the
    /// events that follow are those that followed when the offset was taken.
    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        let _ = offset;
        Err(crate::error::Error::internal("this source cannot seek"))
    }
}

/// Reads a little-endian `u64` at word `i` of an offset written by a source.
pub fn offset_word(offset: &[u8], i: usize) -> Result<u64> {
    offset
        .get(i * 8..i * 8 + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| crate::error::Error::internal(format!("source offset too short ({} bytes)", offset.len())))
}

/// What to do with an input row that cannot be decoded (`'on-error'` option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnError {
    /// Stop the pipeline with an error naming the file, line and reason (default).
    Fail,
    /// Drop the row and count it.
    Skip,
    /// Write the raw row, its location and the reason to this file, and count it.
    DeadLetter(std::path::PathBuf),
}

/// Counters a source updates; shared with the runtime's metrics and end-of-run summary.
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// Rows decoded and emitted.
    pub rows: AtomicU64,
    /// Bad rows skipped (policy `skip`).
    pub skipped: AtomicU64,
    /// Bad rows written to the dead-letter file.
    pub dead_lettered: AtomicU64,
    /// Bytes read from the input (file and stdin sources; generators read none).
    pub bytes: AtomicU64,
}

impl SourceCounters {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// What every source constructor gets besides its options.
#[derive(Debug, Clone)]
pub struct SourceContext {
    /// Table name, for messages.
    pub table: String,
    /// Physical schema the source must produce.
    pub schema: SchemaRef,
    /// Bad-row policy.
    pub on_error: OnError,
    /// Counters to update.
    pub counters: Arc<SourceCounters>,
    /// Preferred number of rows per batch.
    pub batch_size: usize,
}

/// Checks shared by the sources' tests.
#[cfg(test)]
pub(crate) mod resume_check {
    use super::{Source, SourceEvent};
    use datafusion::arrow::record_batch::RecordBatch;

    /// Batches until `End` (or `Idle`, for unbounded sources whose input is all there).
    async fn rest(source: &mut dyn Source) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        while let SourceEvent::Batch(b) = source.next().await.expect("reads") {
            out.push(b);
        }
        out
    }

    /// For every batch boundary of a source made by `open`: a fresh source sought to the
    /// offset recorded there returns exactly the batches the first one returns after it.
    pub async fn assert_resumes_anywhere(open: impl Fn() -> Box<dyn Source>) {
        let expected = rest(open().as_mut()).await;
        assert!(expected.len() > 1, "the input should span several batches");
        let mut source = open();
        for k in 0..=expected.len() {
            let offset = source.offset().expect("records offsets");
            let mut resumed = open();
            resumed.seek(&offset).expect("seeks");
            assert_eq!(rest(resumed.as_mut()).await, expected[k..], "resumed after {k} batches");
            if k < expected.len() {
                assert!(matches!(source.next().await.expect("reads"), SourceEvent::Batch(b) if b == expected[k]));
            }
        }
    }
}
