//! A sink that keeps every chunk in memory, for tests and embedders that want the rows.

use std::sync::{Arc, Mutex};

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use super::Sink;
use crate::error::{Error, Result};
use crate::exec::chunk::Chunk;

/// Collects chunks; clone [`CollectSink::rows`] before handing the sink to a job.
#[derive(Default, Clone)]
pub struct CollectSink {
    /// Everything written so far, in order.
    pub chunks: Arc<Mutex<Vec<Chunk>>>,
    written: u64,
}

impl CollectSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The collected rows as text, op first (`+I`, ...), NULL as `NULL`, timestamps as
    /// `YYYY-MM-DD HH:MM:SS.fff`.
    pub fn rows(&self) -> Result<Vec<Vec<String>>> {
        let chunks = self.chunks.lock().map_err(|_| Error::internal("collect sink poisoned"))?;
        chunks_to_strings(&chunks)
    }
}

/// Renders chunks as rows of strings, op first.
pub fn chunks_to_strings(chunks: &[Chunk]) -> Result<Vec<Vec<String>>> {
    let options = FormatOptions::default()
        .with_null("NULL")
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.3f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.3f"));
    let mut out = Vec::new();
    for c in chunks {
        let formatters = c
            .batch
            .columns()
            .iter()
            .map(|a| ArrayFormatter::try_new(a.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for i in 0..c.num_rows() {
            let mut row = Vec::with_capacity(formatters.len() + 1);
            row.push(c.op(i).as_str().to_string());
            for f in &formatters {
                row.push(f.value(i).to_string());
            }
            out.push(row);
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl Sink for CollectSink {
    async fn write(&mut self, chunk: &Chunk) -> Result<()> {
        self.written += chunk.num_rows() as u64;
        self.chunks.lock().map_err(|_| Error::internal("collect sink poisoned"))?.push(chunk.clone());
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        Ok(())
    }

    fn rows_written(&self) -> u64 {
        self.written
    }
}
