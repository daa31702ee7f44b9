//! The `blackhole` sink: counts rows and discards them (benchmarks, dry runs).

use crate::error::Result;
use crate::exec::chunk::Chunk;

use super::Sink;

/// Discards every row, counting them. Never fails.
#[derive(Debug, Default)]
pub struct BlackholeSink {
    rows: u64,
}

impl BlackholeSink {
    /// A sink with a zero row count.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl Sink for BlackholeSink {
    async fn write(&mut self, chunk: &Chunk) -> Result<()> {
        self.rows += chunk.num_rows() as u64;
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        Ok(())
    }

    fn rows_written(&self) -> u64 {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int32Array};
    use datafusion::arrow::record_batch::RecordBatch;

    use super::*;

    #[tokio::test]
    async fn counts_rows() {
        let col: ArrayRef = Arc::new(Int32Array::from(vec![1, 2, 3]));
        let chunk = Chunk::inserts(RecordBatch::try_from_iter(vec![("a", col)]).unwrap());
        let mut s = BlackholeSink::new();
        s.write(&chunk).await.unwrap();
        s.write(&chunk).await.unwrap();
        s.finish().await.unwrap();
        assert_eq!(s.rows_written(), 6);
    }
}
