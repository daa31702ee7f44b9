//! The `print` / `stdout` sink: rows to standard output as they are emitted.

use std::io::{self, Write};

use datafusion::arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};
use crate::exec::chunk::Chunk;

use super::format::{OutputFormat, RowWriter};
use super::Sink;

/// Emits one formatted buffer; returns when it is written and flushed.
type Emit = Box<dyn FnMut(&[u8]) -> io::Result<()> + Send>;

/// Writes rows to standard output, always with the op column.
///
/// Each chunk is formatted into one buffer and written with a single `write_all` + flush on
/// a locked `std::io::stdout()`, so rows appear as soon as they are emitted and a chunk's
/// lines are never interleaved with other stdout writers. The csv header is written before
/// the first rows (or at `finish` if there were none). If the reader goes away (broken
/// pipe), the sink ends quietly: later writes are dropped, [`Sink::is_closed`] turns true,
/// and no error is reported. Writes block the calling thread while stdout is blocked.
pub struct StdoutSink {
    writer: RowWriter,
    emit: Emit,
    buf: Vec<u8>,
    header_done: bool,
    closed: bool,
    rows: u64,
}

impl std::fmt::Debug for StdoutSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutSink").field("rows", &self.rows).field("closed", &self.closed).finish()
    }
}

impl StdoutSink {
    /// A sink printing rows of `schema` in `format`, with the changelog op column.
    pub fn new(schema: SchemaRef, format: OutputFormat) -> Self {
        Self::with_writer(RowWriter::new(schema, format, true))
    }

    /// A sink printing through a configured writer (delimiter, table page length, op column).
    pub fn with_writer(writer: RowWriter) -> Self {
        Self::with_emit(writer, Box::new(write_stdout))
    }

    fn with_emit(writer: RowWriter, emit: Emit) -> Self {
        StdoutSink { writer, emit, buf: Vec::with_capacity(64 * 1024), header_done: false, closed: false, rows: 0 }
    }

    fn push_header(&mut self) {
        if !self.header_done {
            self.header_done = true;
            if let Some(h) = self.writer.header() {
                self.buf.extend_from_slice(h.as_bytes());
            }
        }
    }

    /// Writes `buf`; a broken pipe closes the sink quietly.
    fn flush_buf(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let res = (self.emit)(&self.buf);
        self.buf.clear();
        match res {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(Error::external(format!("writing to stdout: {e}"))),
        }
    }
}

fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

#[async_trait::async_trait]
impl Sink for StdoutSink {
    async fn write(&mut self, chunk: &Chunk) -> Result<()> {
        if self.closed || chunk.num_rows() == 0 {
            return Ok(());
        }
        self.buf.clear();
        self.push_header();
        self.writer.write_chunk(chunk, &mut self.buf)?;
        self.flush_buf()?;
        if !self.closed {
            self.rows += chunk.num_rows() as u64;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.buf.clear();
        self.push_header();
        self.flush_buf()
    }

    fn rows_written(&self) -> u64 {
        self.rows
    }

    fn is_closed(&self) -> bool {
        self.closed
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use datafusion::arrow::array::{ArrayRef, Int32Array};
    use datafusion::arrow::record_batch::RecordBatch;

    use super::*;

    fn chunk() -> Chunk {
        let col: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
        Chunk::inserts(RecordBatch::try_from_iter(vec![("a", col)]).unwrap())
    }

    fn captured(format: OutputFormat) -> (StdoutSink, Arc<Mutex<Vec<Vec<u8>>>>) {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let w = writes.clone();
        let writer = RowWriter::new(chunk().batch.schema(), format, true);
        let sink = StdoutSink::with_emit(
            writer,
            Box::new(move |b: &[u8]| {
                w.lock().unwrap().push(b.to_vec());
                Ok(())
            }),
        );
        (sink, writes)
    }

    #[tokio::test]
    async fn header_once_then_one_write_per_chunk() {
        let (mut sink, writes) = captured(OutputFormat::Csv);
        sink.write(&chunk()).await.unwrap();
        sink.write(&chunk()).await.unwrap();
        sink.finish().await.unwrap();
        let writes = writes.lock().unwrap();
        assert_eq!(writes.len(), 2);
        assert_eq!(writes[0], b"op,a\n+I,1\n+I,2\n");
        assert_eq!(writes[1], b"+I,1\n+I,2\n");
        assert_eq!(sink.rows_written(), 4);
    }

    #[tokio::test]
    async fn empty_result_still_gets_csv_header() {
        let (mut sink, writes) = captured(OutputFormat::Csv);
        sink.finish().await.unwrap();
        assert_eq!(writes.lock().unwrap().concat(), b"op,a\n");
    }

    #[tokio::test]
    async fn broken_pipe_ends_quietly() {
        let writer = RowWriter::new(chunk().batch.schema(), OutputFormat::Json, true);
        let mut sink = StdoutSink::with_emit(writer, Box::new(|_: &[u8]| Err(io::ErrorKind::BrokenPipe.into())));
        sink.write(&chunk()).await.unwrap();
        assert!(sink.is_closed());
        sink.write(&chunk()).await.unwrap();
        sink.finish().await.unwrap();
        assert_eq!(sink.rows_written(), 0);
        let mut failing = StdoutSink::with_emit(
            RowWriter::new(chunk().batch.schema(), OutputFormat::Json, true),
            Box::new(|_: &[u8]| Err(io::Error::other("disk on fire"))),
        );
        assert!(failing.write(&chunk()).await.is_err());
    }
}
