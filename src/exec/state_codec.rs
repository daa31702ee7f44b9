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

/// Bytes inside a serde-encoded (JSON) operator snapshot, written as one base64 string rather
/// than as a JSON list of numbers (about 3.6 characters per byte, and slow to write and read).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SnapshotBytes(#[serde(with = "crate::runtime::checkpoint::base64_bytes::one")] pub Vec<u8>);

impl std::ops::Deref for SnapshotBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// [`encode_arrays`] as [`SnapshotBytes`].
pub fn encode_snapshot_arrays(arrays: &[ArrayRef]) -> Result<SnapshotBytes> {
    encode_arrays(arrays).map(SnapshotBytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;

    #[test]
    fn snapshot_bytes_are_a_base64_string_in_json() {
        let bytes = SnapshotBytes(vec![0, 1, 255]);
        assert_eq!(serde_json::to_string(&bytes).unwrap(), r#""AAH/""#);
        assert_eq!(serde_json::from_str::<SnapshotBytes>(r#""AAH/""#).unwrap(), bytes);
        let arrays: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![1, 2, 3]))];
        let encoded = encode_snapshot_arrays(&arrays).unwrap();
        assert_eq!(decode_arrays(&encoded.0).unwrap()[0].as_ref(), arrays[0].as_ref());
    }
}
