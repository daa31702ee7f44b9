//! Side streams inside a job: rows one query's operator routes out (late rows, to
//! `<table>__late`) become the source of other queries of the same job.
//!
//! Every operator writing a stream holds a [`SideWriter`] with its own index. The stream
//! ends when every writer has finished (or, failing that, when every writer is dropped), so
//! bounded jobs still end. Channels are unbounded: a side stream only carries exceptional
//! rows, and a bounded one could deadlock a job whose reader waits on the writer's own source.
//!
//! **Checkpoints.** A side stream has no read position to record: its rows come from
//! operators whose own input is replayed after a restore. Instead, a writer puts the
//! checkpoint barrier into the stream when its operator is snapshotted
//! ([`SideWriter::barrier`]), and the [`SideSource`] aligns the barriers of all its writers
//! (rows a writer sends after its barrier wait until every writer's barrier arrived) before
//! it reports [`SourceEvent::Barrier`]. The reading query's snapshot then holds exactly the
//! side rows the writers emitted before their snapshots, so restoring both and replaying the
//! writers' input neither loses nor repeats a side row.
//!
//! ```text
//! writer 0: ─ r ─|B7|─ s ───────▶   s held until writer 1's B7
//! writer 1: ─ x ─ y ───|B7|─ z ─▶   at B7 from both: SourceEvent::Barrier(7), then s, z
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::align::{Aligner, Step};
use super::message::Message;
use crate::connectors::{Source, SourceEvent};
use crate::error::Result;
use crate::exec::Chunk;

/// What a writer puts into a side stream, tagged with its index.
#[derive(Debug)]
enum SideMessage {
    Rows(usize, RecordBatch),
    Barrier(usize, u64),
    End(usize),
}

/// The writing end of one side stream, shared by every operator that writes it.
#[derive(Debug, Clone)]
pub struct SideStream {
    tx: UnboundedSender<SideMessage>,
    writers: Arc<AtomicUsize>,
}

impl SideStream {
    /// A new writer with the next index. Every writer must be created before the stream's
    /// [`SideSource`] is first polled: the source aligns barriers over the writers it knows
    /// then.
    pub fn writer(&self) -> SideWriter {
        let index = self.writers.fetch_add(1, Ordering::SeqCst);
        SideWriter { tx: self.tx.clone(), index, open: true }
    }
}

/// The side streams a job reads, by stream (table) name.
#[derive(Debug, Clone, Default)]
pub struct SideOutputs {
    streams: BTreeMap<String, SideStream>,
}

impl SideOutputs {
    /// No side streams.
    pub fn new() -> Self {
        SideOutputs::default()
    }

    /// Adds the stream `name`.
    pub fn insert(&mut self, name: String, stream: SideStream) {
        self.streams.insert(name, stream);
    }

    /// A new writer of the stream `name`, if the job reads it.
    pub fn writer(&self, name: &str) -> Option<SideWriter> {
        self.streams.get(name).map(SideStream::writer)
    }

    /// Names of the streams.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.streams.keys()
    }
}

/// One operator's handle on a side stream. Dropping it ends this writer's part of the stream.
#[derive(Debug)]
pub struct SideWriter {
    tx: UnboundedSender<SideMessage>,
    index: usize,
    open: bool,
}

impl SideWriter {
    /// Sends rows; false if the reader is gone (the reading query stopped).
    pub fn send(&mut self, rows: RecordBatch) -> bool {
        self.open &= self.tx.send(SideMessage::Rows(self.index, rows)).is_ok();
        self.open
    }

    /// Puts checkpoint barrier `checkpoint` into the stream: every row sent before belongs to
    /// the checkpoint, every row sent after to the next one. Call it when the operator's
    /// state is snapshotted for that checkpoint.
    pub fn barrier(&mut self, checkpoint: u64) {
        self.open &= self.tx.send(SideMessage::Barrier(self.index, checkpoint)).is_ok();
    }
}

impl Drop for SideWriter {
    fn drop(&mut self) {
        let _ = self.tx.send(SideMessage::End(self.index));
    }
}

/// A side stream's reading end as a one-partition source. It has no read position
/// ([`Source::offset`] is empty): on restore it starts empty, and the writers replay.
pub struct SideSource {
    schema: SchemaRef,
    rows: UnboundedReceiver<SideMessage>,
    writers: Arc<AtomicUsize>,
    aligner: Option<Aligner>,
    ended: usize,
}

/// A new side stream of `schema`: its writing end and its source.
pub fn side_stream(schema: SchemaRef) -> (SideStream, SideSource) {
    let (tx, rows) = unbounded_channel();
    let writers = Arc::new(AtomicUsize::new(0));
    let source = SideSource { schema, rows, writers: Arc::clone(&writers), aligner: None, ended: 0 };
    (SideStream { tx, writers }, source)
}

#[async_trait]
impl Source for SideSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows in arrival order, [`SourceEvent::Barrier`] once every writer has delivered a
    /// barrier (rows behind a writer's barrier are held until then), and
    /// [`SourceEvent::End`] when every writer has ended.
    async fn next(&mut self) -> Result<SourceEvent> {
        let writers = self.writers.load(Ordering::SeqCst);
        let aligner = self.aligner.get_or_insert_with(|| Aligner::new(writers));
        loop {
            if self.ended >= writers {
                return Ok(SourceEvent::End);
            }
            let (from, msg) = match aligner.pop_ready() {
                Some(e) => e,
                None => match self.rows.recv().await {
                    Some(SideMessage::Rows(w, rows)) => (w, Message::Data(Chunk::inserts(rows))),
                    Some(SideMessage::Barrier(w, id)) => (w, Message::Barrier(id)),
                    Some(SideMessage::End(w)) => (w, Message::End),
                    // Every sender is gone: no writer can send anything more.
                    None => return Ok(SourceEvent::End),
                },
            };
            match aligner.accept(from, msg) {
                Step::Held => {}
                Step::Aligned(id) => return Ok(SourceEvent::Barrier(id)),
                Step::Deliver(Message::Data(chunk)) => return Ok(SourceEvent::Batch(chunk.batch)),
                Step::Deliver(Message::End) => self.ended += 1,
                Step::Deliver(_) => {}
            }
        }
    }

    fn offset(&self) -> Option<Vec<u8>> {
        Some(Vec::new())
    }

    fn seek(&mut self, _offset: &[u8]) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn rows(v: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![v]))]).unwrap()
    }

    async fn drain(source: &mut SideSource) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            match source.next().await.unwrap() {
                SourceEvent::Batch(b) => {
                    out.push(b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0).to_string())
                }
                SourceEvent::Barrier(id) => out.push(format!("B{id}")),
                SourceEvent::End => return out,
                e => panic!("unexpected {e:?}"),
            }
        }
    }

    #[tokio::test]
    async fn rows_behind_a_writers_barrier_wait_for_the_other_writers() {
        let schema = rows(0).schema();
        let (stream, mut source) = side_stream(schema);
        let mut outputs = SideOutputs::new();
        outputs.insert("t__late".into(), stream);
        let mut w0 = outputs.writer("t__late").unwrap();
        let mut w1 = outputs.writer("t__late").unwrap();
        assert!(outputs.writer("other").is_none());
        drop(outputs);
        w0.send(rows(1));
        w0.barrier(7);
        w0.send(rows(2));
        w1.send(rows(10));
        w1.barrier(7);
        w1.send(rows(11));
        drop(w0);
        w1.barrier(8);
        drop(w1);
        assert_eq!(drain(&mut source).await, ["1", "10", "B7", "2", "11", "B8"]);
    }

    #[tokio::test]
    async fn a_stream_without_writers_ends_at_once() {
        let (stream, mut source) = side_stream(rows(0).schema());
        drop(stream);
        assert_eq!(drain(&mut source).await, Vec::<String>::new());
    }
}
