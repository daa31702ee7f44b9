//! The `file` (alias `filesystem`) and `stdin` sources: csv or JSON lines read in large
//! blocks, decoded by [`super::csv_decode`] / [`super::json_decode`].
//!
//! A folder is read as one stream: its regular, non-hidden files sorted by name, one after
//! another. With `'follow' = 'true'` the last file is tailed: at its end the source returns
//! [`SourceEvent::Idle`] (after a short sleep) and keeps a partial last line until its newline
//! arrives; files that appear later in a followed folder (sorting after the current one) are
//! read next. Reads are synchronous, which is acceptable for local files and stdin.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;

use super::column_builder::{BadRow, RecordDecoder};
use super::csv_decode::{CsvConfig, CsvDecoder};
use super::json_decode::{JsonConfig, JsonDecoder};
use crate::connectors::{OnError, Options, Source, SourceContext, SourceCounters, SourceEvent};
use crate::error::{Error, Result};

/// Bytes requested per read.
const BLOCK: usize = 2 << 20;
/// Sleep before reporting `Idle` at the end of a followed file.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

/// Opens a `'connector' = 'file'` / `'filesystem'` source (`connector` is the name used, for
/// messages). Options: `path` (required; a file or a folder), `format` (required: `csv` or
/// `json`), `follow`, and the format options described in the module docs of the decoders
/// (`csv.field-delimiter`, `csv.quote-character`, `csv.disable-quote-character`,
/// `csv.null-literal`, `csv.allow-comments`, `csv.ignore-parse-errors`, `csv.header`,
/// `json.ignore-parse-errors`, `json.fail-on-missing-field`, `json.timestamp-format.standard`).
/// Fails with a SQL error for an unknown or malformed option or an unsupported column type,
/// and with an I/O error if `path` cannot be read.
pub fn open(options: &Options, ctx: &SourceContext, connector: &str) -> Result<Box<dyn Source>> {
    let path = PathBuf::from(options.require("path", connector)?);
    let follow = options.bool("follow", false)?;
    let format = options.require("format", connector)?.to_string();
    let (decoder, policy) = decoder_for(options, ctx, &format)?;
    options.check_all_used(connector)?;
    let cannot =
        |e: std::io::Error| Error::external(format!("table '{}': cannot read '{}': {e}", ctx.table, path.display()));
    let meta = std::fs::metadata(&path).map_err(cannot)?;
    let (dir, files) = if meta.is_dir() {
        (Some(path.clone()), list_dir(&path, None).map_err(cannot)?)
    } else {
        (None, vec![path.clone()])
    };
    Ok(Box::new(FileSource::new(ctx, decoder, policy, Inputs::Files { dir, files, next: 0 }, follow)))
}

/// Opens a file source as partitions: a folder gives one partition per file (its files at
/// open time, sorted by name), like Flink's file splits, each with its own watermark; a file
/// gives one partition. Options as for [`open`].
pub fn open_partitions(options: &Options, ctx: &SourceContext, connector: &str) -> Result<Vec<Box<dyn Source>>> {
    let path = PathBuf::from(options.require("path", connector)?);
    let follow = options.bool("follow", false)?;
    let format = options.require("format", connector)?.to_string();
    let (_, policy) = decoder_for(options, ctx, &format)?;
    options.check_all_used(connector)?;
    let cannot =
        |e: std::io::Error| Error::external(format!("table '{}': cannot read '{}': {e}", ctx.table, path.display()));
    let files = if std::fs::metadata(&path).map_err(cannot)?.is_dir() {
        list_dir(&path, None).map_err(cannot)?
    } else {
        vec![path.clone()]
    };
    let mut out: Vec<Box<dyn Source>> = Vec::with_capacity(files.len());
    for f in files {
        let (decoder, _) = decoder_for(options, ctx, &format)?;
        let inputs = Inputs::Files { dir: None, files: vec![f], next: 0 };
        out.push(Box::new(FileSource::new(ctx, decoder, policy.clone(), inputs, follow)));
    }
    Ok(out)
}

/// Opens a `'connector' = 'stdin'` source: standard input read to its end, with the same
/// format options as [`open`] (`format` defaults to `csv`; no `path`, no `follow`).
pub fn open_stdin(options: &Options, ctx: &SourceContext) -> Result<Box<dyn Source>> {
    let format = options.get("format").unwrap_or("csv").to_string();
    let (decoder, policy) = decoder_for(options, ctx, &format)?;
    options.check_all_used("stdin")?;
    Ok(Box::new(FileSource::new(ctx, decoder, policy, Inputs::Stdin { taken: false }, false)))
}

/// Builds the decoder for `format` from its options, and the effective bad-row policy.
fn decoder_for(options: &Options, ctx: &SourceContext, format: &str) -> Result<(Box<dyn RecordDecoder>, OnError)> {
    let (decoder, ignore): (Box<dyn RecordDecoder>, bool) = match format.trim().to_ascii_lowercase().as_str() {
        "csv" => {
            let mut cfg = CsvConfig::default();
            if let Some(d) = options.get("csv.field-delimiter") {
                cfg.delimiter = single_char("csv.field-delimiter", d)?;
            }
            if let Some(q) = options.get("csv.quote-character") {
                cfg.quote = Some(single_char("csv.quote-character", q)?);
            }
            if options.bool("csv.disable-quote-character", false)? {
                cfg.quote = None;
            }
            cfg.null_literal = options.get("csv.null-literal").map(|s| s.as_bytes().to_vec());
            cfg.allow_comments = options.bool("csv.allow-comments", false)?;
            cfg.header = options.bool("csv.header", false)?;
            (Box::new(CsvDecoder::new(&ctx.schema, cfg)?), options.bool("csv.ignore-parse-errors", false)?)
        }
        "json" => {
            if let Some(s) = options.get("json.timestamp-format.standard") {
                if !s.eq_ignore_ascii_case("SQL") && !s.eq_ignore_ascii_case("ISO-8601") {
                    return Err(Error::sql(format!(
                        "option 'json.timestamp-format.standard': expected 'SQL' or 'ISO-8601', got '{s}'"
                    )));
                }
            }
            let cfg = JsonConfig { fail_on_missing_field: options.bool("json.fail-on-missing-field", false)? };
            (Box::new(JsonDecoder::new(&ctx.schema, cfg)?), options.bool("json.ignore-parse-errors", false)?)
        }
        other => {
            return Err(Error::sql(format!("option 'format': unsupported format '{other}' (expected 'csv' or 'json')")))
        }
    };
    let policy = if ignore && ctx.on_error == OnError::Fail { OnError::Skip } else { ctx.on_error.clone() };
    Ok((decoder, policy))
}

/// One ASCII character, written literally or as the escape `\t`.
fn single_char(key: &str, v: &str) -> Result<u8> {
    match v.as_bytes() {
        [b] if b.is_ascii() => Ok(*b),
        b"\\t" => Ok(b'\t'),
        _ => Err(Error::sql(format!("option '{key}': expected a single ASCII character, got '{v}'"))),
    }
}

/// Regular, non-hidden files of `dir` sorted by name (only those after `after`, if given).
fn list_dir(dir: &Path, after: Option<&Path>) -> std::io::Result<Vec<PathBuf>> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        let hidden = p.file_name().is_none_or(|n| n.to_string_lossy().starts_with('.'));
        if !hidden && p.is_file() && after.is_none_or(|a| p.as_path() > a) {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

enum Inputs {
    Files { dir: Option<PathBuf>, files: Vec<PathBuf>, next: usize },
    Stdin { taken: bool },
}

struct Current {
    name: String,
    reader: Box<dyn Read + Send>,
    eof: bool,
    /// Bytes read from `reader` so far, counted from the start of the file.
    read: u64,
}

/// Where a file source is, as recorded in a checkpoint.
#[derive(serde::Serialize, serde::Deserialize)]
struct FileOffset {
    file: String,
    pos: u64,
    line: u64,
    header: bool,
    error: Option<String>,
}

/// Offset position meaning "this file has been read to its end".
const WHOLE_FILE: u64 = u64::MAX;

/// A source reading files or stdin through a [`RecordDecoder`].
struct FileSource {
    schema: SchemaRef,
    table: String,
    counters: Arc<SourceCounters>,
    policy: OnError,
    batch_size: usize,
    follow: bool,
    inputs: Inputs,
    cur: Option<Current>,
    buf: Vec<u8>,
    start: usize,
    decoder: Box<dyn RecordDecoder>,
    bad: Vec<BadRow>,
    dead: Option<BufWriter<File>>,
    pending_err: Option<Error>,
    finished: bool,
}

impl FileSource {
    fn new(
        ctx: &SourceContext,
        decoder: Box<dyn RecordDecoder>,
        policy: OnError,
        inputs: Inputs,
        follow: bool,
    ) -> Self {
        FileSource {
            schema: ctx.schema.clone(),
            table: ctx.table.clone(),
            counters: ctx.counters.clone(),
            policy,
            batch_size: ctx.batch_size.max(1),
            follow,
            inputs,
            cur: None,
            buf: Vec::new(),
            start: 0,
            decoder,
            bad: Vec::new(),
            dead: None,
            pending_err: None,
            finished: false,
        }
    }

    /// Opens the next input, if any (rescanning a followed folder).
    fn open_next(&mut self) -> Result<bool> {
        let (name, reader): (String, Box<dyn Read + Send>) = match &mut self.inputs {
            Inputs::Stdin { taken: true } => return Ok(false),
            Inputs::Stdin { taken } => {
                *taken = true;
                ("<stdin>".into(), Box::new(std::io::stdin()))
            }
            Inputs::Files { dir, files, next } => {
                if *next == files.len() && self.follow {
                    if let Some(d) = dir {
                        let new = list_dir(d, files.last().map(PathBuf::as_path)).unwrap_or_default();
                        files.extend(new);
                    }
                }
                let Some(p) = files.get(*next) else {
                    return Ok(false);
                };
                *next += 1;
                let f = File::open(p).map_err(|e| {
                    Error::external(format!("table '{}': cannot read '{}': {e}", self.table, p.display()))
                })?;
                (p.display().to_string(), Box::new(f))
            }
        };
        self.cur = Some(Current { name, reader, eof: false, read: 0 });
        self.buf.clear();
        self.start = 0;
        self.decoder.start_file();
        Ok(true)
    }

    /// Whether a followed folder has a file after the current one.
    fn more_files(&mut self) -> bool {
        match &mut self.inputs {
            Inputs::Files { dir: Some(d), files, next } => {
                if *next == files.len() {
                    let new = list_dir(d, files.last().map(PathBuf::as_path)).unwrap_or_default();
                    files.extend(new);
                }
                *next < files.len()
            }
            _ => false,
        }
    }

    /// Reads one block of the current input after the unconsumed bytes; returns its size.
    fn fill(&mut self) -> Result<usize> {
        let Some(cur) = &mut self.cur else {
            return Ok(0);
        };
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        // Grow geometrically so that a very long record is not rescanned once per block.
        self.buf.resize(len + BLOCK.max(len), 0);
        loop {
            match cur.reader.read(&mut self.buf[len..]) {
                Ok(n) => {
                    self.buf.truncate(len + n);
                    cur.read += n as u64;
                    SourceCounters::add(&self.counters.bytes, n as u64);
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(len);
                    return Err(Error::external(format!("table '{}': reading '{}': {e}", self.table, cur.name)));
                }
            }
        }
    }

    /// Applies the bad-row policy to the rows the decoder rejected.
    fn handle_bad(&mut self) -> Result<()> {
        let name = self.cur.as_ref().map_or("", |c| c.name.as_str());
        for b in self.bad.drain(..) {
            match &self.policy {
                OnError::Fail => {
                    if self.pending_err.is_none() {
                        self.pending_err = Some(Error::data(format!("{name}:{}: {}", b.line, b.reason)));
                    }
                }
                OnError::Skip => SourceCounters::add(&self.counters.skipped, 1),
                OnError::DeadLetter(path) => {
                    if self.dead.is_none() {
                        let f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| {
                            Error::external(format!(
                                "table '{}': cannot open dead-letter file '{}': {e}",
                                self.table,
                                path.display()
                            ))
                        })?;
                        self.dead = Some(BufWriter::new(f));
                    }
                    let rec = serde_json::json!({
                        "source": name, "line": b.line, "reason": b.reason, "row": String::from_utf8_lossy(&b.raw),
                    });
                    let w = self.dead.as_mut().expect("opened above");
                    writeln!(w, "{rec}").map_err(|e| Error::external(format!("writing '{}': {e}", path.display())))?;
                    SourceCounters::add(&self.counters.dead_lettered, 1);
                }
            }
        }
        Ok(())
    }

    fn flush_dead(&mut self) -> Result<()> {
        if let Some(w) = &mut self.dead {
            w.flush()
                .map_err(|e| Error::external(format!("table '{}': writing the dead-letter file: {e}", self.table)))?;
        }
        Ok(())
    }

    fn emit(&mut self) -> Result<SourceEvent> {
        let batch = self.decoder.finish()?;
        SourceCounters::add(&self.counters.rows, batch.num_rows() as u64);
        Ok(SourceEvent::Batch(batch))
    }

    /// At the end of input for now: a pending batch, or `Idle` (follow) / `End`.
    async fn at_end(&mut self, idle: bool) -> Result<SourceEvent> {
        if self.decoder.buffered_rows() > 0 {
            return self.emit();
        }
        self.flush_dead()?;
        if idle {
            tokio::time::sleep(FOLLOW_POLL).await;
            return Ok(SourceEvent::Idle);
        }
        self.finished = true;
        Ok(SourceEvent::End)
    }
}

impl FileSource {
    /// Resumes part-way through `files[index]`: at byte `pos` (a record boundary), the next
    /// record on line `line`, the header still expected if `header`.
    fn resume(&mut self, index: usize, pos: u64, line: u64, header: bool) -> Result<()> {
        let Inputs::Files { files, next, .. } = &mut self.inputs else {
            return Err(Error::internal("stdin cannot seek"));
        };
        *next = index + 1;
        let p = &files[index];
        let cannot = |e: std::io::Error| {
            Error::external(format!("table '{}': cannot resume '{}': {e}", self.table, p.display()))
        };
        let mut f = File::open(p).map_err(cannot)?;
        f.seek(SeekFrom::Start(pos)).map_err(cannot)?;
        self.cur = Some(Current { name: p.display().to_string(), reader: Box::new(f), eof: false, read: pos });
        self.buf.clear();
        self.start = 0;
        self.decoder.resume_file(line, header);
        Ok(())
    }
}

#[async_trait]
impl Source for FileSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Batches of at most `batch_size` rows, files in name order; bad rows per the policy.
    /// With `Fail`, rows decoded before the bad one are emitted first, then the error.
    async fn next(&mut self) -> Result<SourceEvent> {
        loop {
            if let Some(e) = self.pending_err.take() {
                self.flush_dead()?;
                return Err(e);
            }
            if self.finished {
                return Ok(SourceEvent::End);
            }
            let Some(cur) = &self.cur else {
                if self.open_next()? {
                    continue;
                }
                let idle = self.follow && matches!(self.inputs, Inputs::Files { .. });
                return self.at_end(idle).await;
            };
            let eof = cur.eof;
            let stop_on_bad = self.policy == OnError::Fail;
            let consumed =
                self.decoder.decode(&self.buf[self.start..], eof, self.batch_size, stop_on_bad, &mut self.bad);
            self.start += consumed;
            let had_bad = !self.bad.is_empty();
            self.handle_bad()?;
            if self.pending_err.is_some() {
                if self.decoder.buffered_rows() > 0 {
                    return self.emit();
                }
                continue;
            }
            if self.decoder.buffered_rows() >= self.batch_size {
                return self.emit();
            }
            if eof {
                if self.start < self.buf.len() && consumed == 0 && !had_bad {
                    return Err(Error::internal("file source: decoder made no progress at end of input"));
                }
                if self.start >= self.buf.len() {
                    self.cur = None;
                }
                continue;
            }
            if self.fill()? == 0 {
                if self.follow && !self.more_files() {
                    return self.at_end(true).await;
                }
                if let Some(c) = &mut self.cur {
                    c.eof = true;
                }
            }
        }
    }

    /// The file being read (by name, so that files added to a followed folder do not shift
    /// it), the byte position after the last record returned, the next line number, whether
    /// a csv header is still to come, and the bad-row error (policy `fail`) that the next
    /// poll will return, if any. Between two calls of `next` no decoded row is held back, so
    /// the position is a record boundary. Stdin has no offset.
    fn offset(&self) -> Option<Vec<u8>> {
        let Inputs::Files { files, next, .. } = &self.inputs else {
            return None;
        };
        let (index, pos, (line, header)) = match &self.cur {
            Some(cur) => (next - 1, cur.read - (self.buf.len() - self.start) as u64, self.decoder.position()),
            None if *next == 0 => return Some(Vec::new()),
            None => (next - 1, WHOLE_FILE, (0, false)),
        };
        let offset = FileOffset {
            file: files[index].to_string_lossy().into_owned(),
            pos,
            line,
            header,
            error: self.pending_err.as_ref().map(|e| e.message.clone()),
        };
        serde_json::to_vec(&offset).ok()
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        if offset.is_empty() {
            return Ok(());
        }
        let o: FileOffset = serde_json::from_slice(offset)
            .map_err(|e| Error::internal(format!("table '{}': bad file offset in checkpoint: {e}", self.table)))?;
        let Inputs::Files { files, next, .. } = &mut self.inputs else {
            return Err(Error::internal("stdin cannot seek"));
        };
        let Some(index) = files.iter().position(|f| f.to_string_lossy() == o.file) else {
            return Err(Error::external(format!(
                "table '{}': cannot resume from the checkpoint: file '{}' is gone",
                self.table, o.file
            )));
        };
        self.pending_err = o.error.map(Error::data);
        if o.pos == WHOLE_FILE {
            *next = index + 1;
            return Ok(());
        }
        self.resume(index, o.pos, o.line, o.header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::arrow::util::display::array_value_to_string;
    use std::sync::atomic::Ordering;

    fn ctx(on_error: OnError, batch_size: usize) -> SourceContext {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]));
        SourceContext { table: "t".into(), schema, on_error, counters: Default::default(), batch_size }
    }

    fn opts(kv: &[(&str, &str)]) -> Options {
        Options::new(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn rows(b: &RecordBatch) -> Vec<String> {
        (0..b.num_rows())
            .map(|r| {
                let v: Vec<String> = b
                    .columns()
                    .iter()
                    .map(|c| if c.is_null(r) { "NULL".into() } else { array_value_to_string(c, r).unwrap() })
                    .collect();
                v.join("|")
            })
            .collect()
    }

    /// Polls to the end (or the first error): the rows and the error.
    async fn drain(src: &mut Box<dyn Source>) -> (Vec<String>, Option<Error>) {
        let mut out = vec![];
        loop {
            match src.next().await {
                Ok(SourceEvent::Batch(b)) => out.extend(rows(&b)),
                Ok(SourceEvent::End) => return (out, None),
                Ok(SourceEvent::Idle | SourceEvent::Watermark(_) | SourceEvent::Barrier(_)) => {
                    panic!("idle, watermark or barrier from a file")
                }
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[tokio::test]
    async fn seeking_to_any_recorded_offset_continues_with_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let a: String = (1..=7).map(|i| format!("{i},n{i},\n")).collect();
        std::fs::write(dir.path().join("a.csv"), format!("id,name,ts\n{a}")).unwrap();
        std::fs::write(dir.path().join("b.csv"), "id,name,ts\n8,x,\n9,oops\n").unwrap();
        let path = dir.path().to_str().unwrap();
        let o = [("path", path), ("format", "csv"), ("csv.header", "true")];
        let c = ctx(OnError::Fail, 3);
        let mut whole = open(&opts(&o), &c, "file").unwrap();
        let (expected, err) = drain(&mut whole).await;
        assert_eq!(
            err.unwrap().message,
            format!("{}:3: expected 3 fields, found 2", dir.path().join("b.csv").display())
        );
        // Record the offset after every batch, then resume a fresh source from each.
        let mut src = open(&opts(&o), &c, "file").unwrap();
        let mut before = Vec::new();
        loop {
            let offset = src.offset().unwrap();
            let mut resumed = open(&opts(&o), &c, "file").unwrap();
            resumed.seek(&offset).unwrap();
            let (after, err) = drain(&mut resumed).await;
            assert_eq!([before.clone(), after].concat(), expected, "resumed at {} rows", before.len());
            assert!(
                err.is_some_and(|e| e.message.ends_with("b.csv:3: expected 3 fields, found 2")),
                "line numbers follow"
            );
            match src.next().await {
                Ok(SourceEvent::Batch(b)) => before.extend(rows(&b)),
                _ => break,
            }
        }
        assert_eq!(before, expected);
    }

    const BAD: &str = "1,a,2024-01-01 00:00:01.196\n2,b,yesterday\n3,\"c,\"\"d\"\"\",2024-01-01T00:00:01Z\n4\n5,e,\n";

    #[tokio::test]
    async fn folder_of_csv_files_with_header_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.csv"), "id|name|ts\n3|z|2024-01-01 00:00:00+02:00\n").unwrap();
        std::fs::write(dir.path().join("a.csv"), "id|name|ts\n1|x|2024-01-01 00:00:00\r\n2|y|\n").unwrap();
        std::fs::write(dir.path().join(".hidden"), "junk").unwrap();
        let c = ctx(OnError::Fail, 2);
        let path = dir.path().to_str().unwrap();
        let o = opts(&[("path", path), ("format", "csv"), ("csv.header", "true"), ("csv.field-delimiter", "|")]);
        let mut src = open(&o, &c, "filesystem").unwrap();
        let (got, err) = drain(&mut src).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got, ["1|x|2024-01-01T00:00:00", "2|y|NULL", "3|z|2023-12-31T22:00:00"]);
        assert_eq!(c.counters.rows.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn json_lines_and_tab_escape() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.json");
        std::fs::write(&p, "{\"ts\":\"2024-01-01T00:00:01.196Z\",\"id\":7,\"x\":1}\n{\"name\":\"n\"}").unwrap();
        let c = ctx(OnError::Fail, 100);
        let o =
            opts(&[("path", p.to_str().unwrap()), ("format", "json"), ("json.timestamp-format.standard", "ISO-8601")]);
        let (got, err) = drain(&mut open(&o, &c, "file").unwrap()).await;
        assert!(err.is_none());
        assert_eq!(got, ["7|NULL|2024-01-01T00:00:01.196", "NULL|n|NULL"]);
        let p2 = dir.path().join("in.tsv");
        std::fs::write(&p2, "1\ta,b\t\n").unwrap();
        let o = opts(&[("path", p2.to_str().unwrap()), ("format", "csv"), ("csv.field-delimiter", "\\t")]);
        assert_eq!(drain(&mut open(&o, &c, "file").unwrap()).await.0, ["1|a,b|NULL"]);
    }

    #[tokio::test]
    async fn fail_reports_file_line_and_reason_after_good_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bids.csv");
        std::fs::write(&p, BAD).unwrap();
        let c = ctx(OnError::Fail, 100);
        let (got, err) =
            drain(&mut open(&opts(&[("path", p.to_str().unwrap()), ("format", "csv")]), &c, "file").unwrap()).await;
        assert_eq!(got, ["1|a|2024-01-01T00:00:01.196"]);
        let e = err.unwrap();
        assert_eq!(e.kind, crate::error::ErrorKind::Data);
        let want = format!("{}:2: column 'ts': cannot parse 'yesterday' as TIMESTAMP(3)", p.display());
        assert_eq!(e.message, want);
    }

    #[tokio::test]
    async fn skip_and_dead_letter_count_every_bad_row() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bids.csv");
        std::fs::write(&p, BAD).unwrap();
        let path = p.to_str().unwrap();
        for ignore in [false, true] {
            let c = ctx(if ignore { OnError::Fail } else { OnError::Skip }, 1);
            let o = opts(&[
                ("path", path),
                ("format", "csv"),
                ("csv.ignore-parse-errors", if ignore { "true" } else { "false" }),
            ]);
            let (got, err) = drain(&mut open(&o, &c, "file").unwrap()).await;
            assert!(err.is_none());
            assert_eq!(got, ["1|a|2024-01-01T00:00:01.196", "3|c,\"d\"|2024-01-01T00:00:01", "5|e|NULL"]);
            assert_eq!(c.counters.skipped.load(Ordering::Relaxed), 2);
        }
        let dl = dir.path().join("dead.jsonl");
        let c = ctx(OnError::DeadLetter(dl.clone()), 2);
        let (got, _) = drain(&mut open(&opts(&[("path", path), ("format", "csv")]), &c, "file").unwrap()).await;
        assert_eq!(got.len() + c.counters.dead_lettered.load(Ordering::Relaxed) as usize, 5);
        assert_eq!(c.counters.rows.load(Ordering::Relaxed), 3);
        let lines: Vec<serde_json::Value> =
            std::fs::read_to_string(&dl).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["source"], path);
        assert_eq!(lines[0]["line"], 2);
        assert_eq!(lines[0]["row"], "2,b,yesterday");
        assert_eq!(lines[1]["reason"], "expected 3 fields, found 1");
    }

    #[tokio::test]
    async fn follow_sees_appended_rows_and_waits_for_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("live.csv");
        std::fs::write(&p, "1,a,\n2,b").unwrap();
        let c = ctx(OnError::Fail, 100);
        let mut src =
            open(&opts(&[("path", p.to_str().unwrap()), ("format", "csv"), ("follow", "true")]), &c, "file").unwrap();
        let SourceEvent::Batch(b) = src.next().await.unwrap() else { panic!("expected rows") };
        assert_eq!(rows(&b), ["1|a|NULL"]);
        assert!(matches!(src.next().await.unwrap(), SourceEvent::Idle));
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"c,\n3,d,\n").unwrap();
        let SourceEvent::Batch(b) = src.next().await.unwrap() else { panic!("expected rows") };
        assert_eq!(rows(&b), ["2|bc|NULL", "3|d|NULL"]);
        assert!(matches!(src.next().await.unwrap(), SourceEvent::Idle));
    }

    #[test]
    fn option_errors_are_named() {
        let c = ctx(OnError::Fail, 10);
        let e = open(&opts(&[("path", "x"), ("format", "csv"), ("csv.delimiter", ";")]), &c, "file").err().unwrap();
        assert!(e.message.contains("'csv.delimiter'"), "{e}");
        let e = open_stdin(&opts(&[("format", "json"), ("csv.header", "true")]), &c).err().unwrap();
        assert!(e.message.contains("'csv.header'"), "{e}");
        let e = open(&opts(&[("path", "x"), ("format", "xml")]), &c, "file").err().unwrap();
        assert!(e.message.contains("xml"), "{e}");
        let e = open(&opts(&[("path", "/nonexistent/x.csv"), ("format", "csv")]), &c, "file").err().unwrap();
        assert_eq!(e.kind, crate::error::ErrorKind::External);
    }

    #[tokio::test]
    async fn garbage_files_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g");
        let mut data: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        data.extend_from_slice(b"\n\"unterminated, \xff\xfe");
        std::fs::write(&p, &data).unwrap();
        for format in ["csv", "json"] {
            let c = ctx(OnError::Skip, 64);
            let (got, err) =
                drain(&mut open(&opts(&[("path", p.to_str().unwrap()), ("format", format)]), &c, "file").unwrap())
                    .await;
            assert!(err.is_none(), "{err:?}");
            assert_eq!(got.len() as u64, c.counters.rows.load(Ordering::Relaxed));
            assert!(c.counters.skipped.load(Ordering::Relaxed) > 0);
        }
    }
}
