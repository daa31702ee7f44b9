//! Test helpers shared by operator tests: chunks of `(k, v, ts)` rows and their text.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, TimestampMillisecondArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use super::chunk::Chunk;
use crate::sink::collect::chunks_to_strings;

/// A chunk of `(k BIGINT, v BIGINT, ts TIMESTAMP(3))` rows from `(k, v, ts ms, watermark
/// before the row)`.
pub fn chunk(schema: &SchemaRef, rows: &[(i64, i64, i64, i64)]) -> Chunk {
    let col = |f: fn(&(i64, i64, i64, i64)) -> i64| rows.iter().map(f).collect::<Vec<_>>();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(col(|r| r.0))),
            Arc::new(Int64Array::from(col(|r| r.1))),
            Arc::new(TimestampMillisecondArray::from(col(|r| r.2))),
        ],
    )
    .expect("rows match the (k, v, ts) schema");
    Chunk { batch, row_watermarks: Some(Arc::new(Int64Array::from(col(|r| r.3)))), ops: None }
}

/// Each output row as one line: op, then the values, space-separated, in emission order.
pub fn lines(chunks: &[Chunk]) -> Vec<String> {
    chunks_to_strings(chunks).expect("printable rows").into_iter().map(|r| r.join(" ")).collect()
}
