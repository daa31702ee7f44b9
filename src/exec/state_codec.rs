//! Arrow arrays ⇄ bytes for operator snapshots (Arrow IPC stream format).

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::error::{Error, Result};

/// Encodes columns of equal length as one IPC stream.
pub fn encode_arrays(arrays: &[ArrayRef]) -> Result<Vec<u8>> {
    let fields: Vec<Field> =
        arrays.iter().enumerate().map(|(i, a)| Field::new(format!("c{i}"), a.data_type().clone(), true)).collect();
    let schema = Arc::new(Schema::new(fields));
    let rows = arrays.first().map(|a| a.len()).unwrap_or(0);
    let batch = RecordBatch::try_new_with_options(
        schema.clone(),
        arrays.to_vec(),
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )?;
    let mut buf = Vec::new();
    {
        let mut w = StreamWriter::try_new(&mut buf, &schema)?;
        w.write(&batch)?;
        w.finish()?;
    }
    Ok(buf)
}

/// Decodes what [`encode_arrays`] wrote.
pub fn decode_arrays(bytes: &[u8]) -> Result<Vec<ArrayRef>> {
    let mut reader = StreamReader::try_new(bytes, None)?;
    match reader.next() {
        Some(batch) => Ok(batch?.columns().to_vec()),
        None => Err(Error::internal("empty state snapshot")),
    }
}
