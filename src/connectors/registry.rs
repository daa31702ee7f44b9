//! Opening a table's source by its `'connector'` option.

use std::path::PathBuf;
use std::sync::Arc;

use super::{OnError, Options, Source, SourceContext, SourceCounters};
use crate::error::{Error, Result};
use crate::plan::catalog::TableDef;

/// Options every table accepts, read by the engine rather than the connector.
pub const ENGINE_OPTIONS: &[&str] =
    &["connector", "on-error", "dead-letter.path", IDLE_TIMEOUT, "lateness", "late.policy", "state.ttl"];

/// Flink's option: a source partition without rows for this long stops holding the
/// watermark back.
pub const IDLE_TIMEOUT: &str = "scan.watermark.idle-timeout";

/// Connectors that can be read from.
pub const SOURCE_CONNECTORS: &[&str] = &["file", "filesystem", "stdin", "nexmark", "datagen", "values", "memory"];

/// Default rows per batch.
pub const BATCH_SIZE: usize = 8192;

/// Parses `'on-error'` (and `'dead-letter.path'` for `dead-letter`).
pub fn on_error_policy(options: &Options, table: &str) -> Result<OnError> {
    match options.get("on-error").map(|v| v.to_ascii_lowercase()) {
        None => Ok(OnError::Fail),
        Some(v) if v == "fail" => Ok(OnError::Fail),
        Some(v) if v == "skip" => Ok(OnError::Skip),
        Some(v) if v == "dead-letter" => {
            let path = options
                .get("dead-letter.path")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(format!("{table}.dead-letter.jsonl")));
            Ok(OnError::DeadLetter(path))
        }
        Some(v) => Err(Error::sql(format!("option 'on-error': expected 'fail', 'skip' or 'dead-letter', got '{v}'"))),
    }
}

/// The table's idle timeout in ms, if set.
pub fn idle_timeout_ms(table: &TableDef) -> Result<Option<i64>> {
    Options::new(table.ddl.options.clone()).duration_ms(IDLE_TIMEOUT)
}

/// Opens the partitions of `table`'s source, with counters the caller keeps for metrics.
/// A folder of files is one partition per file; other sources have one partition.
pub fn open_source(table: &TableDef, counters: Arc<SourceCounters>, allow_stdin: bool) -> Result<Vec<Box<dyn Source>>> {
    let options = Options::new(table.ddl.options.clone());
    options.mark_used(ENGINE_OPTIONS);
    let connector = table.connector().ok_or_else(|| {
        Error::sql(format!(
            "table '{}' has no 'connector' option (one of: {})",
            table.name,
            SOURCE_CONNECTORS.join(", ")
        ))
    })?;
    let ctx = SourceContext {
        table: table.name.clone(),
        schema: table.physical_schema.clone(),
        on_error: on_error_policy(&options, &table.name)?,
        counters,
        batch_size: BATCH_SIZE,
    };
    match connector.as_str() {
        "values" => Ok(vec![super::values::open(&options, &ctx, table.values.clone())?]),
        "memory" => Ok(vec![super::memory::open(&options, &ctx, Arc::clone(&table.memory))?]),
        "stdin" if !allow_stdin => Err(Error::sql("the 'stdin' connector can only be used with `wavecrest run`")),
        #[cfg(feature = "connectors")]
        "file" | "filesystem" => super::file::open_partitions(&options, &ctx, &connector),
        other => Ok(vec![open_external(other, &options, &ctx, &table.name)?]),
    }
}

#[cfg(not(feature = "connectors"))]
fn open_external(connector: &str, _: &Options, _: &SourceContext, table: &str) -> Result<Box<dyn Source>> {
    Err(Error::sql(format!(
        "table '{table}': connector '{connector}' is not compiled in (build with the 'connectors' feature)"
    )))
}

#[cfg(feature = "connectors")]
fn open_external(connector: &str, options: &Options, ctx: &SourceContext, table: &str) -> Result<Box<dyn Source>> {
    match connector {
        "stdin" => super::file::open_stdin(options, ctx),
        "nexmark" => super::nexmark::open(options, ctx),
        "datagen" => super::datagen::open(options, ctx),
        other => Err(Error::sql(format!(
            "table '{table}': unknown connector '{other}' (sources: {})",
            SOURCE_CONNECTORS.join(", ")
        ))),
    }
}
