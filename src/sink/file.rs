//! The `file` / `filesystem` sink: csv or JSON lines into one file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::SchemaRef;

use crate::connectors::Options;
use crate::error::{Error, Result};
use crate::exec::chunk::Chunk;

use super::format::{parse_delimiter, OutputFormat, RowWriter};
use super::part_files::PartFiles;
use super::Sink;

/// Buffer size of the file writer.
const BUFFER_BYTES: usize = 1 << 20;

/// A file sink's settings, read from options without touching the file system.
#[derive(Debug)]
pub struct FileSinkConfig {
    target: PathBuf,
    /// The folder, when `path` names one.
    dir: Option<PathBuf>,
    format: OutputFormat,
    csv_header: bool,
    writer: RowWriter,
}

impl FileSinkConfig {
    /// The file that will be written.
    pub fn target(&self) -> &Path {
        &self.target
    }
}

/// Writes rows to a file, csv (no header line unless `'csv.header' = 'true'`) or JSON lines,
/// through a 1 MiB buffer; everything is on disk after [`Sink::finish`].
///
/// Options: `path` (required), `format` = `csv` | `json` (default: `json` if the path ends
/// in `.json`/`.jsonl`/`.ndjson`, else `csv`), `sink.changelog` = `'true'` | `'false'`,
/// and for csv `csv.field-delimiter` (one ASCII char or `\t`) and `csv.header`.
/// The op column is written for updating results and, for append-only results, only with
/// `'sink.changelog' = 'true'`. If `path` is an existing directory, ends with `/`, or the
/// connector is `filesystem` (Flink: the path is a folder), the rows go to
/// `part-0.<csv|json>` inside it (the directory is created); otherwise to the file itself
/// (parent directories created). The file is truncated when opened.
///
/// **Exactly-once** (in a checkpointed job, [`FileSink::create_exactly_once`]): `path` must
/// be a folder; rows go to part files `part-NNNNNN.<csv|json>`, each first written under a
/// hidden pending name and renamed only when the checkpoint covering it completes (see
/// [`super::part_files`]). After a crash and restart the folder's `part-*` files hold
/// exactly the rows of an uninterrupted run, in the same order per key.
#[derive(Debug)]
pub struct FileSink {
    writer: RowWriter,
    parts: Option<PartFiles>,
    file: Option<BufWriter<File>>,
    path: PathBuf,
    buf: Vec<u8>,
    rows: u64,
}

impl FileSink {
    /// Reads the options (marking them used) and opens the file; see [`FileSink`].
    pub fn open(connector: &str, options: &Options, schema: SchemaRef, append_only: bool) -> Result<Self> {
        Self::create(Self::config(connector, options, schema, append_only)?)
    }

    /// Reads and validates the options (marking them used) without touching the file system.
    pub fn config(connector: &str, options: &Options, schema: SchemaRef, append_only: bool) -> Result<FileSinkConfig> {
        let path = options.require("path", connector)?;
        let is_dir = path.ends_with('/') || path.ends_with(std::path::MAIN_SEPARATOR) || Path::new(path).is_dir();
        let is_dir = is_dir || connector == "filesystem";
        let format = match options.get("format") {
            Some(f) => f.parse::<OutputFormat>().map_err(|e| Error::sql(format!("option 'format': {}", e.message)))?,
            None if !is_dir && [".json", ".jsonl", ".ndjson"].iter().any(|x| path.ends_with(x)) => OutputFormat::Json,
            None => OutputFormat::Csv,
        };
        if format == OutputFormat::Table {
            return Err(Error::sql(format!("connector '{connector}': option 'format' must be 'csv' or 'json'")));
        }
        let changelog = options.bool("sink.changelog", false)?;
        let with_op = changelog || !append_only;
        let mut writer = RowWriter::new(schema, format, with_op);
        let mut csv_header = false;
        if format == OutputFormat::Csv {
            if let Some(d) = options.get("csv.field-delimiter") {
                writer = writer.with_delimiter(parse_delimiter("csv.field-delimiter", d)?);
            }
            csv_header = options.bool("csv.header", false)?;
        }
        let target = if is_dir { Path::new(path).join(format!("part-0.{format}")) } else { PathBuf::from(path) };
        let dir = is_dir.then(|| PathBuf::from(path));
        Ok(FileSinkConfig { target, dir, format, csv_header, writer })
    }

    /// Creates (truncates) the configured file and writes the csv header if asked for.
    pub fn create(config: FileSinkConfig) -> Result<Self> {
        let FileSinkConfig { target, csv_header, writer, .. } = config;
        let io_err =
            |what: &str, p: &Path, e: std::io::Error| Error::external(format!("{what} '{}': {e}", p.display()));
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_err("cannot create directory", dir, e))?;
        }
        let file = File::create(&target).map_err(|e| io_err("cannot create", &target, e))?;
        let mut buf = Vec::with_capacity(64 * 1024);
        if csv_header {
            buf.extend_from_slice(writer.header().unwrap_or_default().as_bytes());
        }
        let file = Some(BufWriter::with_capacity(BUFFER_BYTES, file));
        Ok(FileSink { writer, parts: None, file, path: target, buf, rows: 0 })
    }

    /// An exactly-once sink writing part files into the configured folder; nothing on disk
    /// is touched until [`Sink::restore`]. Fails if `path` is not a folder.
    pub fn create_exactly_once(config: FileSinkConfig) -> Result<Self> {
        let FileSinkConfig { target, dir, format, csv_header, writer } = config;
        let Some(dir) = dir else {
            return Err(Error::sql(format!(
                "file sink '{}': with checkpoints (--state-dir) the output is written as part files, so \
                 'path' must be a folder (end it with '/')",
                target.display()
            )));
        };
        let header = if csv_header { writer.header() } else { None };
        let parts = PartFiles::new(dir.clone(), &format.to_string(), header);
        Ok(FileSink { writer, parts: Some(parts), file: None, path: dir, buf: Vec::new(), rows: 0 })
    }

    /// The file being written (the folder, for an exactly-once sink).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_buf(&mut self) -> Result<()> {
        if let Some(parts) = self.parts.as_mut() {
            let res = parts.write(&self.buf);
            self.buf.clear();
            return res;
        }
        let Some(file) = self.file.as_mut() else {
            return Err(Error::internal(format!("file sink '{}' used after finish", self.path.display())));
        };
        let res = file.write_all(&self.buf);
        self.buf.clear();
        res.map_err(|e| Error::external(format!("writing '{}': {e}", self.path.display())))
    }
}

#[async_trait::async_trait]
impl Sink for FileSink {
    async fn write(&mut self, chunk: &Chunk) -> Result<()> {
        self.writer.write_chunk(chunk, &mut self.buf)?;
        self.write_buf()?;
        self.rows += chunk.num_rows() as u64;
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        if let Some(parts) = self.parts.as_mut() {
            return parts.finish();
        }
        if self.file.is_none() {
            return Ok(());
        }
        self.write_buf()?;
        if let Some(mut file) = self.file.take() {
            file.flush().map_err(|e| Error::external(format!("writing '{}': {e}", self.path.display())))?;
        }
        Ok(())
    }

    fn rows_written(&self) -> u64 {
        self.rows
    }

    async fn prepare_commit(&mut self) -> Result<Vec<u8>> {
        match self.parts.as_mut() {
            Some(parts) => parts.prepare(),
            None => {
                if let Some(file) = self.file.as_mut() {
                    file.flush().map_err(|e| Error::external(format!("writing '{}': {e}", self.path.display())))?;
                }
                Ok(Vec::new())
            }
        }
    }

    fn commit(&mut self, state: &[u8]) -> Result<()> {
        match self.parts.as_mut() {
            Some(parts) => parts.commit(state),
            None => Ok(()),
        }
    }

    fn restore(&mut self, state: Option<&[u8]>) -> Result<()> {
        match self.parts.as_mut() {
            Some(parts) => parts.restore(state),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int32Array, Int8Array, StringArray};
    use datafusion::arrow::record_batch::RecordBatch;

    use super::*;
    use crate::exec::chunk::RowOp;

    fn opts(kv: &[(&str, &str)]) -> Options {
        let map: BTreeMap<String, String> = kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Options::new(map)
    }

    fn chunk() -> Chunk {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
        let b: ArrayRef = Arc::new(StringArray::from(vec!["x;y", "z"]));
        let mut c = Chunk::inserts(RecordBatch::try_from_iter(vec![("a", a), ("b", b)]).unwrap());
        c.ops = Some(Arc::new(Int8Array::from(vec![RowOp::Insert as i8, RowOp::Delete as i8])));
        c
    }

    async fn run(connector: &str, kv: &[(&str, &str)], append_only: bool) -> (PathBuf, String) {
        let o = opts(kv);
        let mut sink = FileSink::open(connector, &o, chunk().batch.schema(), append_only).unwrap();
        o.check_all_used(connector).unwrap();
        sink.write(&chunk()).await.unwrap();
        sink.finish().await.unwrap();
        assert_eq!(sink.rows_written(), 2);
        let text = std::fs::read_to_string(sink.path()).unwrap();
        (sink.path().to_path_buf(), text)
    }

    #[tokio::test]
    async fn file_path_and_changelog_rule() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.csv");
        let path = p.to_str().unwrap();
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "old contents that must go\n".repeat(10)).unwrap();
        // Append-only: no op column, no header.
        let (written, text) = run("file", &[("path", path)], true).await;
        assert_eq!((written, text.as_str()), (p.clone(), "1,x;y\n2,z\n"));
        // Append-only but asked for the changelog; header and delimiter options.
        let kv = [("path", path), ("sink.changelog", "true"), ("csv.header", "true"), ("csv.field-delimiter", ";")];
        assert_eq!(run("file", &kv, true).await.1, "op;a;b\n+I;1;\"x;y\"\n-D;2;z\n");
        // Updating results always carry the op column.
        let kv = [("path", path), ("sink.changelog", "false"), ("format", "json")];
        assert_eq!(
            run("file", &kv, false).await.1,
            "{\"op\":\"+I\",\"a\":1,\"b\":\"x;y\"}\n{\"op\":\"-D\",\"a\":2,\"b\":\"z\"}\n"
        );
    }

    #[tokio::test]
    async fn directory_paths_get_a_part_file() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().to_str().unwrap().to_string();
        let (p, _) = run("file", &[("path", &existing), ("format", "json")], true).await;
        assert_eq!(p, dir.path().join("part-0.json"));
        let slash = format!("{}/new/", dir.path().display());
        let (p, text) = run("file", &[("path", &slash)], true).await;
        assert_eq!((p, text.as_str()), (dir.path().join("new/part-0.csv"), "1,x;y\n2,z\n"));
        let folder = dir.path().join("flink").to_str().unwrap().to_string();
        let (p, _) = run("filesystem", &[("path", &folder), ("format", "csv")], true).await;
        assert_eq!(p, dir.path().join("flink/part-0.csv"));
        let (p, text) = run("file", &[("path", dir.path().join("o.jsonl").to_str().unwrap())], true).await;
        assert_eq!((p, text.lines().count()), (dir.path().join("o.jsonl"), 2));
    }

    #[test]
    fn bad_options_are_errors() {
        let s = chunk().batch.schema();
        let e = FileSink::config("file", &opts(&[]), s.clone(), true).unwrap_err();
        assert!(e.message.contains("'path'"), "{e}");
        let e = FileSink::config("file", &opts(&[("path", "x"), ("format", "table")]), s.clone(), true).unwrap_err();
        assert!(e.message.contains("'csv' or 'json'"), "{e}");
        let kv = [("path", "x"), ("csv.field-delimiter", ";;")];
        let e = FileSink::config("file", &opts(&kv), s, true).unwrap_err();
        assert!(e.message.contains("csv.field-delimiter"), "{e}");
    }
}
