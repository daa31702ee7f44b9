//! Opening a table's source by its `'connector'` option.

use std::path::PathBuf;
use std::sync::Arc;

use super::{OnError, Options, Source, SourceContext, SourceCounters};
use crate::error::{Error, Result};
use crate::plan::catalog::TableDef;

/// Options every table accepts, read by the engine rather than the connector.
pub const ENGINE_OPTIONS: &[&str] = &["connector", "on-error", "dead-letter.path"];

/// Connectors that can be read from.
pub const SOURCE_CONNECTORS: &[&str] = &["file", "filesystem", "stdin", "nexmark", "datagen", "values"];

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

/// Opens the source of `table`, with counters the caller keeps for metrics.
pub fn open_source(table: &TableDef, counters: Arc<SourceCounters>, allow_stdin: bool) -> Result<Box<dyn Source>> {
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
        "values" => super::values::open(&options, &ctx, table.values.clone()),
        "stdin" if !allow_stdin => Err(Error::sql("the 'stdin' connector can only be used with `wavecrest run`")),
        other => open_external(other, &options, &ctx, &table.name),
    }
}

fn open_external(connector: &str, options: &Options, ctx: &SourceContext, table: &str) -> Result<Box<dyn Source>> {
    match connector {
        "file" | "filesystem" => super::file::open(options, ctx, connector),
        "stdin" => super::file::open_stdin(options, ctx),
        "nexmark" => super::nexmark::open(options, ctx),
        "datagen" => super::datagen::open(options, ctx),
        other => Err(Error::sql(format!(
            "table '{table}': unknown connector '{other}' (sources: {})",
            SOURCE_CONNECTORS.join(", ")
        ))),
    }
}
