//! The interactive SQL shell: `wavecrest` with no arguments on a terminal.
//!
//! rustyline reads lines on the main thread; statements are buffered until a `;` (see
//! [`input`]) and executed by one [`Session`]. Continuous queries run on the tokio runtime
//! and stream to the terminal; Ctrl-C cancels the one in the foreground.

mod completion;
mod input;
mod jobs;
mod meta;
pub(crate) mod status;

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::Editor;
use tokio::runtime::Handle;
use wavecrest::sink::format::DEFAULT_PAGE_ROWS;
use wavecrest::sink::{OutputFormat, RowWriter};
use wavecrest::sql::parse_statements;
use wavecrest::{Continuous, Error, ErrorKind, Output, Session, Target};

use completion::{Names, SqlHelper};
use input::InputBuffer;
use jobs::{launch, next_chunk, Job, Printer};
use status::{summary, StatusLine, REDRAW};

/// The prompt.
const PROMPT: &str = "wavecrest> ";
/// The prompt while a statement continues over several lines.
const CONTINUATION: &str = "       ..> ";

/// What to do after a line or statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    /// An error, or a query cancelled with Ctrl-C: a running `\i` file stops.
    Stop,
    Quit,
}

/// Runs the shell until `\q`, Ctrl-D or a second Ctrl-C at an empty prompt.
pub fn run(runtime: &tokio::runtime::Runtime) -> wavecrest::Result<()> {
    let mut repl = Repl::new(runtime.handle().clone())?;
    eprintln!(
        "Wavecrest {} interactive shell. End statements with ';'. \\? for help, \\q to quit.",
        env!("CARGO_PKG_VERSION")
    );
    repl.main_loop();
    repl.shutdown();
    Ok(())
}

struct Repl {
    rt: Handle,
    session: Session,
    editor: Editor<SqlHelper, FileHistory>,
    history: Option<PathBuf>,
    names: Arc<Mutex<Names>>,
    pending: Arc<Mutex<String>>,
    input: InputBuffer,
    format: OutputFormat,
    timing: bool,
    /// `\o FILE`: results go there instead of stdout.
    output: Option<(PathBuf, File)>,
    /// `\bg` was given: the next continuous query runs in the background.
    background_next: bool,
    jobs: Vec<Job>,
    next_job: usize,
    printer: Printer,
    color: bool,
    /// `\i` nesting depth.
    depth: usize,
}

/// The history file: `$WAVECREST_HISTORY`, else `$XDG_DATA_HOME/wavecrest/history`, else
/// `~/.local/share/wavecrest/history`.
fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WAVECREST_HISTORY").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share")))?;
    Some(data.join("wavecrest").join("history"))
}

impl Repl {
    fn new(rt: Handle) -> wavecrest::Result<Self> {
        // From now on SIGINT never kills the shell; Ctrl-C cancels the foreground query.
        #[cfg(unix)]
        {
            let _inside = rt.enter();
            drop(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()));
        }
        let config = Config::builder()
            .completion_type(CompletionType::List)
            .auto_add_history(false)
            .history_ignore_space(true)
            .max_history_size(10_000)
            .map_err(readline_error)?
            .build();
        let mut editor: Editor<SqlHelper, FileHistory> = Editor::with_config(config).map_err(readline_error)?;
        let session = Session::new();
        let names = Arc::new(Mutex::new(Names::of(&session)));
        let helper = SqlHelper::new(Arc::clone(&names));
        let pending = Arc::clone(&helper.pending);
        editor.set_helper(Some(helper));
        let history = history_path();
        if let Some(path) = &history {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if path.exists() {
                if let Err(e) = editor.load_history(path) {
                    eprintln!("wavecrest: cannot read the history {}: {e}", path.display());
                }
            }
        }
        let printer = match editor.create_external_printer() {
            Ok(p) => Printer::new(Box::new(p)),
            Err(_) => Printer::default(),
        };
        Ok(Repl {
            rt,
            session,
            editor,
            history,
            names,
            pending,
            input: InputBuffer::default(),
            format: OutputFormat::Table,
            timing: false,
            output: None,
            background_next: false,
            jobs: Vec::new(),
            next_job: 1,
            printer,
            color: std::io::stderr().is_terminal(),
            depth: 0,
        })
    }

    fn main_loop(&mut self) {
        let mut interrupted = false;
        loop {
            let prompt = if self.input.is_empty() { PROMPT } else { CONTINUATION };
            if let Ok(mut p) = self.pending.lock() {
                *p = self.input.text().to_string();
            }
            match self.editor.readline(prompt) {
                Ok(line) => {
                    interrupted = false;
                    if self.handle_line(&line, true) == Flow::Quit {
                        break;
                    }
                }
                Err(ReadlineError::Interrupted) => {
                    if !self.input.is_empty() {
                        self.input.clear();
                        interrupted = false;
                        continue;
                    }
                    if interrupted {
                        break;
                    }
                    interrupted = true;
                    eprintln!("(Ctrl-C again or Ctrl-D to quit)");
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => {
                    eprintln!("wavecrest: {e}");
                    break;
                }
            }
        }
    }

    fn shutdown(&mut self) {
        for job in &self.jobs {
            job.cancel.cancel();
        }
    }

    /// One line of input: a meta-command (at the start of a statement), or SQL. `interactive`
    /// lines go to the history and errors do not stop the following statements.
    fn handle_line(&mut self, line: &str, interactive: bool) -> Flow {
        if self.input.is_empty() && line.trim_start().starts_with('\\') {
            if interactive {
                self.remember(line.trim());
            }
            return self.meta(line.trim());
        }
        let statements = self.input.push_line(line);
        let mut flow = Flow::Continue;
        for s in statements {
            if interactive {
                self.remember(&s);
            }
            match self.run_sql(&s) {
                Flow::Continue => {}
                Flow::Quit => return Flow::Quit,
                Flow::Stop if interactive => {}
                Flow::Stop => {
                    flow = Flow::Stop;
                    break;
                }
            }
        }
        flow
    }

    fn remember(&mut self, entry: &str) {
        if self.editor.add_history_entry(entry).unwrap_or(false) {
            if let Some(path) = &self.history {
                if let Err(e) = self.editor.append_history(path) {
                    eprintln!("wavecrest: cannot write the history {}: {e}", path.display());
                    self.history = None;
                }
            }
        }
    }

    /// Executes the statements of `sql` in order.
    fn run_sql(&mut self, sql: &str) -> Flow {
        let statements = match parse_statements(sql) {
            Ok(s) => s,
            Err(e) => {
                self.show_error(&e, sql);
                return Flow::Stop;
            }
        };
        for stmt in &statements {
            let started = Instant::now();
            let out = self.session.execute(stmt);
            if let Ok(mut names) = self.names.lock() {
                *names = Names::of(&self.session);
            }
            let flow = match out {
                Err(e) => {
                    self.show_error(&e, sql);
                    Flow::Stop
                }
                Ok(Output::Done(msg)) => {
                    println!("{msg}");
                    Flow::Continue
                }
                Ok(Output::Text(text)) => {
                    self.write_results(text.as_bytes());
                    Flow::Continue
                }
                Ok(Output::Continuous(query)) if self.background_next => {
                    self.background_next = false;
                    self.start_background(query, &stmt.text, sql)
                }
                Ok(Output::Continuous(query)) => self.run_foreground(query, sql),
            };
            if self.timing {
                eprintln!("Time: {:.3} ms", started.elapsed().as_secs_f64() * 1000.0);
            }
            if flow != Flow::Continue {
                return flow;
            }
        }
        Flow::Continue
    }

    /// Streams a query's rows until its inputs end or Ctrl-C.
    fn run_foreground(&mut self, query: Continuous, sql: &str) -> Flow {
        let mut launched = match launch(&self.session, &self.rt, query) {
            Ok(l) => l,
            Err(e) => {
                self.show_error(&e, sql);
                return Flow::Stop;
            }
        };
        let page_rows = self.page_rows();
        let mut writer = RowWriter::new(launched.schema.clone(), self.format, true).with_page_rows(page_rows);
        let mut header = writer.header();
        let status_enabled = std::io::stderr().is_terminal();
        let rt = self.rt.clone();
        let output = &mut self.output;
        let (result, cancelled) = rt.block_on(async {
            let mut status = StatusLine::new(status_enabled);
            let ctrl_c = tokio::signal::ctrl_c();
            tokio::pin!(ctrl_c);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + REDRAW, REDRAW);
            let mut sub = launched.sub.take();
            let (mut result, mut cancelled) = (None, false);
            let mut buf = Vec::new();
            while result.is_none() || sub.is_some() {
                tokio::select! {
                    biased;
                    _ = &mut ctrl_c, if !cancelled => {
                        launched.cancel.cancel();
                        cancelled = true;
                        sub = None;
                    }
                    chunk = next_chunk(&mut sub), if sub.is_some() => {
                        let Some(chunk) = chunk else {
                            sub = None;
                            continue;
                        };
                        buf.clear();
                        if let Some(h) = header.take() {
                            buf.extend_from_slice(h.as_bytes());
                        }
                        if let Err(e) = writer.write_chunk(&chunk, &mut buf) {
                            launched.cancel.cancel();
                            sub = None;
                            result = Some(Err(e));
                            continue;
                        }
                        status.clear();
                        if let Err(e) = write_out(output, &buf) {
                            launched.cancel.cancel();
                            sub = None;
                            result = Some(Err(e));
                        }
                    }
                    r = &mut launched.handle, if result.is_none() => {
                        result = Some(
                            r.map_err(|e| Error::internal(format!("query task failed: {e}"))).and_then(|r| r),
                        );
                    }
                    _ = tick.tick() => status.draw(&launched.metrics),
                }
            }
            status.clear();
            // An error of ours (bad output file) leaves the job task cancelled; let it end.
            if !launched.handle.is_finished() {
                let _ = (&mut launched.handle).await;
            }
            (result.unwrap_or_else(|| Err(Error::internal("query ended without a result"))), cancelled)
        });
        let what = match &launched.target {
            Target::Client => String::new(),
            Target::Table(t) => format!("into {t}: "),
        };
        let elapsed = launched.started.elapsed();
        match result {
            Ok(m) if cancelled => {
                eprintln!("cancelled {}", summary(&m, elapsed, &what));
                Flow::Stop
            }
            Err(_) if cancelled => {
                eprintln!("cancelled {}", summary(&launched.metrics, elapsed, &what));
                Flow::Stop
            }
            Ok(m) => {
                eprintln!("{}", summary(&m, elapsed, &what));
                Flow::Continue
            }
            Err(e) => {
                self.show_error(&e, sql);
                Flow::Stop
            }
        }
    }

    /// Starts a query as background job `[n]`.
    fn start_background(&mut self, query: Continuous, text: &str, sql: &str) -> Flow {
        let launched = match launch(&self.session, &self.rt, query) {
            Ok(l) => l,
            Err(e) => {
                self.show_error(&e, sql);
                return Flow::Stop;
            }
        };
        let id = self.next_job;
        self.next_job += 1;
        let job = Job::spawn(&self.rt, id, text.trim().to_string(), launched, self.format, self.printer.clone());
        self.jobs.push(job);
        eprintln!("[{id}] started in the background: its rows print prefixed by [{id}] (\\fg {id} to attach, \\kill {id} to stop)");
        Flow::Continue
    }

    /// Table rows between header reprints: a screenful.
    fn page_rows(&mut self) -> usize {
        if self.output.is_some() {
            return DEFAULT_PAGE_ROWS;
        }
        match self.editor.dimensions() {
            Some((_, rows)) if rows > 8 => rows as usize - 3,
            _ => DEFAULT_PAGE_ROWS,
        }
    }

    /// Writes query results to stdout, or to the `\o` file.
    fn write_results(&mut self, bytes: &[u8]) {
        if let Err(e) = write_out(&mut self.output, bytes) {
            eprintln!("wavecrest: {e}");
        }
    }

    /// Prints an error with its line, a caret under the position, and a hint.
    fn show_error(&self, e: &Error, sql: &str) {
        let text = e.render(sql.trim_end());
        let (first, rest) = text.split_once('\n').map_or((text.as_str(), None), |(f, r)| (f, Some(r)));
        let mut err = std::io::stderr().lock();
        if self.color {
            let _ = writeln!(err, "\x1b[1;31m{first}\x1b[0m");
        } else {
            let _ = writeln!(err, "{first}");
        }
        if let Some(rest) = rest {
            let _ = writeln!(err, "{rest}");
        }
        if let Some(h) = hint(e) {
            let _ = writeln!(err, "hint: {h}");
        }
    }
}

fn write_out(output: &mut Option<(PathBuf, File)>, bytes: &[u8]) -> wavecrest::Result<()> {
    match output {
        Some((path, f)) => f
            .write_all(bytes)
            .and_then(|_| f.flush())
            .map_err(|e| Error::external(format!("cannot write {}: {e}", path.display()))),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|_| out.flush()).map_err(Error::from)
        }
    }
}

/// A hint for common mistakes.
fn hint(e: &Error) -> Option<&'static str> {
    let m = e.message.to_ascii_lowercase();
    match e.kind {
        ErrorKind::Sql if m.contains("no table") || m.contains("not found") => {
            Some("\\d lists the tables and views; \\d NAME describes one")
        }
        ErrorKind::Sql if m.contains("no field") || m.contains("valid fields") => {
            Some("\\d NAME lists a table's columns")
        }
        ErrorKind::Sql if m.contains("type") && m.contains("not supported") => {
            Some("column types: BOOLEAN, INT, BIGINT, DOUBLE, DECIMAL(p, s), STRING, DATE, TIMESTAMP(3)")
        }
        ErrorKind::Sql if m.contains("expected") => {
            Some("check the SQL at the caret; the dialect is Flink SQL (see grammar/ in the repository)")
        }
        ErrorKind::Data => Some("a table's 'on-error' = 'skip' option skips bad rows"),
        _ => None,
    }
}

fn readline_error(e: ReadlineError) -> Error {
    Error::external(format!("terminal: {e}"))
}
