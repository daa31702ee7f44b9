//! Runs every `tests/slt/**/*.slt` file against a fresh Wavecrest session.
//!
//! A `query` runs a continuous query over bounded inputs to completion; its rows start
//! with the changelog op (`+I`, `-U`, `+U`, `-D`). `statement` runs DDL, `SET`,
//! `INSERT INTO t VALUES` and `INSERT INTO sink SELECT` (to completion).
//! Set `WAVECREST_SLT_COMPLETE=1` to rewrite expected output (then review the diff by
//! hand: expected rows must come from hand-worked examples or a Flink run).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sqllogictest::{DBOutput, DefaultColumnType};
use wavecrest::runtime::Cancel;
use wavecrest::sink::collect::CollectSink;
use wavecrest::sql::parse_statements;
use wavecrest::{Error, Output, Session, Target};

struct Db {
    session: Session,
}

#[async_trait]
impl sqllogictest::AsyncDB for Db {
    type Error = Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Error> {
        let mut continuous = Vec::new();
        let mut text_rows = Vec::new();
        for stmt in parse_statements(sql)? {
            match self.session.execute(&stmt)? {
                Output::Done(_) => {}
                Output::Text(t) => text_rows.extend(t.lines().map(|l| vec![l.trim_end().to_string()])),
                Output::Continuous(c) => continuous.push(c),
            }
        }
        if continuous.is_empty() {
            if text_rows.is_empty() {
                return Ok(DBOutput::StatementComplete(0));
            }
            return Ok(DBOutput::Rows { types: vec![DefaultColumnType::Text], rows: text_rows });
        }
        let collect = CollectSink::new();
        let client_queries = continuous.iter().filter(|c| c.target == Target::Client).count();
        let sink = collect.clone();
        self.session.run(continuous, move |_| Ok(Box::new(sink.clone()) as _), false, Cancel::new()).await?;
        if client_queries == 0 {
            return Ok(DBOutput::StatementComplete(0));
        }
        let rows = collect.rows()?;
        let width = rows.first().map(|r| r.len()).unwrap_or(1);
        Ok(DBOutput::Rows { types: vec![DefaultColumnType::Any; width], rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "wavecrest"
    }
}

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            slt_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "slt") {
            out.push(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictests() {
    let mut files = Vec::new();
    slt_files(Path::new("tests/slt"), &mut files);
    assert!(!files.is_empty(), "no .slt files found");
    let filter = std::env::var("WAVECREST_SLT").ok();
    let complete = std::env::var("WAVECREST_SLT_COMPLETE").is_ok();
    let mut failures = Vec::new();
    let mut ran = 0;
    for f in files {
        if let Some(filter) = &filter {
            if !f.to_string_lossy().contains(filter.as_str()) {
                continue;
            }
        }
        ran += 1;
        let mut runner = sqllogictest::Runner::new(|| async { Ok(Db { session: Session::new() }) });
        let result = if complete {
            runner
                .update_test_file(
                    &f,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .map_err(|e| e.to_string())
        } else {
            runner.run_file_async(&f).await.map_err(|e| e.display(true).to_string())
        };
        if let Err(e) = result {
            failures.push(format!("{}:\n{e}", f.display()));
        }
    }
    assert!(failures.is_empty(), "{} of {ran} slt files failed:\n{}", failures.len(), failures.join("\n\n"));
    println!("{ran} slt files passed");
}
