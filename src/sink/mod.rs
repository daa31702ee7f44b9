//! Sinks: where query results go.
//!
//! A sink receives [`Chunk`]s of one output schema, in order, from a single task, and renders
//! them with a [`format::RowWriter`]. [`open_sink`] picks the implementation from the table's
//! `'connector'` option.

pub mod blackhole;
pub mod collect;
pub mod file;
pub mod format;
pub mod part_files;
pub mod stdout;
pub mod subscription;
pub mod text;

use datafusion::arrow::datatypes::SchemaRef;

use crate::connectors::Options;
use crate::error::{Error, Result};
use crate::exec::chunk::Chunk;

pub use blackhole::BlackholeSink;
pub use file::FileSink;
pub use format::{OutputFormat, RowWriter};
pub use stdout::StdoutSink;

/// The destination of a query's result rows.
#[async_trait::async_trait]
pub trait Sink: Send {
    /// Writes the rows of `chunk` (in order). Called from one task; never concurrently.
    async fn write(&mut self, chunk: &Chunk) -> Result<()>;
    /// Flushes and closes; called once after the last write.
    async fn finish(&mut self) -> Result<()>;
    /// Rows written so far.
    fn rows_written(&self) -> u64;
    /// True once the sink can take no more rows although nothing failed (stdout's reader went
    /// away: broken pipe). Further writes are silently dropped; the runtime may stop the query.
    fn is_closed(&self) -> bool {
        false
    }

    /// Checkpoints, step 1 (at an aligned barrier, or at the end of the input): makes
    /// everything written so far durable, without necessarily making it visible, and
    /// returns the state that [`Sink::commit`] and [`Sink::restore`] take. The default
    /// writes nothing back: rows are visible as soon as written (at-least-once: rows after
    /// the last checkpoint are written again after a restart).
    async fn prepare_commit(&mut self) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }

    /// Checkpoints, step 2: the checkpoint holding `state` is complete; makes the output it
    /// covers visible. Idempotent.
    fn commit(&mut self, state: &[u8]) -> Result<()> {
        let _ = state;
        Ok(())
    }

    /// Called once, before the first write, in a checkpointed job: `Some(state)` is the
    /// sink's state in the checkpoint the job resumes from (output it covers is made visible,
    /// output after it discarded), `None` means the job starts from scratch.
    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        let _ = state;
        Ok(())
    }
}

/// Opens the sink for `connector` (`print` | `stdout` | `file` | `filesystem` | `blackhole`)
/// with its `options`, for rows of `schema`.
///
/// `append_only` says the result never retracts rows (only `+I`); the file sink then omits
/// the op column unless `'sink.changelog' = 'true'`. The caller must already have marked
/// its generic options (such as `connector`) used: any option left unread here is an error
/// naming it, reported before any file is touched. Opening a file sink creates (truncates)
/// the file.
pub fn open_sink(connector: &str, options: &Options, schema: SchemaRef, append_only: bool) -> Result<Box<dyn Sink>> {
    open_sink_with(connector, options, schema, append_only, false)
}

/// [`open_sink`] for a job that checkpoints when `exactly_once` is set: a file sink then
/// writes part files committed with checkpoints ([`FileSink::create_exactly_once`]) and
/// touches nothing before the job restores it; other sinks are at-least-once.
pub fn open_sink_with(
    connector: &str,
    options: &Options,
    schema: SchemaRef,
    append_only: bool,
    exactly_once: bool,
) -> Result<Box<dyn Sink>> {
    // Options are all read and checked before any file is created or truncated.
    let sink: Box<dyn Sink> = match connector {
        "print" | "stdout" => {
            let format = match options.get("format") {
                Some(f) => {
                    f.parse::<OutputFormat>().map_err(|e| Error::sql(format!("option 'format': {}", e.message)))?
                }
                None => OutputFormat::Table,
            };
            options.check_all_used(connector)?;
            if exactly_once {
                tracing::warn!(
                    "the '{connector}' sink is at-least-once: rows printed since the last checkpoint are printed \
                     again after a crash"
                );
            }
            Box::new(StdoutSink::new(schema, format))
        }
        "file" | "filesystem" => {
            let config = FileSink::config(connector, options, schema, append_only)?;
            options.check_all_used(connector)?;
            match exactly_once {
                true => Box::new(FileSink::create_exactly_once(config)?),
                false => Box::new(FileSink::create(config)?),
            }
        }
        "blackhole" => {
            options.check_all_used(connector)?;
            Box::new(BlackholeSink::new())
        }
        other => {
            return Err(Error::sql(format!(
                "unknown sink connector '{other}': expected one of print, stdout, file, filesystem, blackhole"
            )))
        }
    };
    Ok(sink)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn opts(kv: &[(&str, &str)]) -> Options {
        let map: BTreeMap<String, String> = kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Options::new(map)
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]))
    }

    #[test]
    fn unknown_option_is_an_error_naming_it() {
        let e = open_sink("blackhole", &opts(&[("colour", "red")]), schema(), true).err().unwrap();
        assert!(e.message.contains("'colour'"), "{e}");
        let e = open_sink("print", &opts(&[("format", "csv"), ("pth", "x")]), schema(), true).err().unwrap();
        assert!(e.message.contains("'pth'"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.json");
        let o = opts(&[("path", path.to_str().unwrap()), ("format", "json"), ("csv.field-delimiter", ";")]);
        let e = open_sink("file", &o, schema(), true).err().unwrap();
        assert!(e.message.contains("'csv.field-delimiter'"), "{e}");
        assert!(!path.exists(), "no file is created when options are wrong");
    }

    #[test]
    fn bad_format_and_connector_are_errors() {
        let e = open_sink("print", &opts(&[("format", "xml")]), schema(), true).err().unwrap();
        assert!(e.message.contains("'format'") && e.message.contains("table, csv, json"), "{e}");
        let e = open_sink("kafka2", &opts(&[]), schema(), true).err().unwrap();
        assert!(e.message.contains("kafka2"), "{e}");
        assert!(open_sink("stdout", &opts(&[("format", "json")]), schema(), false).is_ok());
    }
}
