//! Backslash commands (psql habits).

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use wavecrest::session::text_table;
use wavecrest::sink::OutputFormat;
use wavecrest::{Error, Output};

use super::jobs::JobState;
use super::status::summary;
use super::{Flow, Repl};

/// `\i` files may include others this deep.
const MAX_DEPTH: usize = 16;

const HELP: &str = "\
SQL statements end with ';' and may span lines. Any statement of the dialect:
  CREATE TABLE/VIEW, INSERT INTO, SELECT, EXPLAIN, SET, SHOW TABLES, DESCRIBE, DROP.
A SELECT streams its rows as they arrive; Ctrl-C cancels it.
INSERT INTO t VALUES (..) on a 'memory' table pushes rows that running queries see.

  \\?              this help
  \\d              list tables and views
  \\d NAME         describe a table or view
  \\timing         toggle printing the time each statement took
  \\format FMT     result format: table, csv or json
  \\i FILE         run the statements (and commands) of a file
  \\o [FILE]       send results to FILE; without FILE, back to the terminal
  \\bg [QUERY;]    run the next query (or QUERY) in the background; rows print as [n] ..
  \\jobs           list background queries
  \\fg N           attach job N: its rows print here; Ctrl-C detaches it again
  \\kill N         cancel job N
  \\q              quit (also Ctrl-D, or Ctrl-C twice at an empty prompt)

Keys: Tab completes keywords, tables, columns and option keys; Ctrl-R searches history.
";

impl Repl {
    /// Runs one backslash command line.
    pub(super) fn meta(&mut self, line: &str) -> Flow {
        let (cmd, arg) = line.split_once(char::is_whitespace).map_or((line, ""), |(c, a)| (c, a.trim()));
        match cmd {
            "\\?" | "\\h" | "\\help" => {
                print!("{HELP}");
                Flow::Continue
            }
            "\\q" | "\\quit" => Flow::Quit,
            "\\d" => self.describe(arg),
            "\\timing" => {
                self.timing = match arg {
                    "on" => true,
                    "off" => false,
                    _ => !self.timing,
                };
                println!("Timing is {}.", if self.timing { "on" } else { "off" });
                Flow::Continue
            }
            "\\format" if arg.is_empty() => {
                println!("Output format is {}.", self.format);
                Flow::Continue
            }
            "\\format" => match arg.parse::<OutputFormat>() {
                Ok(f) => {
                    self.format = f;
                    println!("Output format is {f}.");
                    Flow::Continue
                }
                Err(e) => self.meta_error(e),
            },
            "\\i" | "\\include" => self.include(arg),
            "\\o" | "\\out" => self.redirect(arg),
            "\\bg" => {
                self.background_next = true;
                if arg.is_empty() {
                    println!("The next query runs in the background.");
                    Flow::Continue
                } else {
                    self.handle_line(arg, false)
                }
            }
            "\\jobs" => self.list_jobs(),
            "\\fg" => match self.job_index(arg) {
                Ok(i) => self.foreground(i),
                Err(e) => self.meta_error(e),
            },
            "\\kill" => match self.job_index(arg) {
                Ok(i) => self.kill(i),
                Err(e) => self.meta_error(e),
            },
            _ => self.meta_error(Error::sql(format!("unknown command {cmd}; \\? lists the commands"))),
        }
    }

    fn meta_error(&self, e: Error) -> Flow {
        self.show_error(&e, "");
        Flow::Stop
    }

    fn describe(&mut self, name: &str) -> Flow {
        let sql = if name.is_empty() { "SHOW TABLES".to_string() } else { format!("DESCRIBE {name}") };
        match self.session.sql(&sql) {
            Ok(out) => {
                for o in out {
                    if let Output::Text(t) = o {
                        self.write_results(t.as_bytes());
                    }
                }
                Flow::Continue
            }
            Err(e) => self.meta_error(Error { location: None, ..e }),
        }
    }

    fn include(&mut self, path: &str) -> Flow {
        if path.is_empty() {
            return self.meta_error(Error::sql("\\i needs a file name"));
        }
        if self.depth >= MAX_DEPTH {
            return self.meta_error(Error::sql(format!("\\i {path}: files include each other too deeply")));
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return self.meta_error(Error::external(format!("cannot read {path}: {e}"))),
        };
        let saved = std::mem::take(&mut self.input);
        self.depth += 1;
        let mut flow = Flow::Continue;
        for line in text.lines() {
            flow = self.handle_line(line, false);
            if flow != Flow::Continue {
                break;
            }
        }
        self.depth -= 1;
        if flow == Flow::Continue && !self.input.is_empty() {
            eprintln!("wavecrest: {path}: the last statement has no ';' and was not run");
        }
        self.input = saved;
        if flow == Flow::Stop {
            eprintln!("wavecrest: stopped running {path}");
        }
        flow
    }

    fn redirect(&mut self, path: &str) -> Flow {
        if path.is_empty() {
            self.output = None;
            println!("Results go to the terminal.");
            return Flow::Continue;
        }
        match File::create(path) {
            Ok(f) => {
                self.output = Some((PathBuf::from(path), f));
                println!("Results go to {path}.");
                Flow::Continue
            }
            Err(e) => self.meta_error(Error::external(format!("cannot create {path}: {e}"))),
        }
    }

    fn job_index(&self, arg: &str) -> wavecrest::Result<usize> {
        let arg = arg.trim_start_matches('%');
        let id: usize = match arg {
            "" if self.jobs.len() == 1 => self.jobs[0].id,
            "" => return Err(Error::sql("which job? \\jobs lists them")),
            a => a.parse().map_err(|_| Error::sql(format!("'{a}' is not a job number")))?,
        };
        self.jobs.iter().position(|j| j.id == id).ok_or_else(|| Error::sql(format!("no job [{id}]; \\jobs lists them")))
    }

    fn list_jobs(&mut self) -> Flow {
        if self.jobs.is_empty() {
            println!("No background queries.");
            return Flow::Continue;
        }
        let rows = self
            .jobs
            .iter()
            .map(|j| {
                vec![
                    format!("[{}]", j.id),
                    j.state().to_string(),
                    j.rows_out().to_string(),
                    format!("{:.0} s", j.started.elapsed().as_secs_f64()),
                    j.sql.replace('\n', " "),
                ]
            })
            .collect();
        print!("{}", text_table(&["job", "state", "rows out", "age", "query"], rows));
        // Ended jobs are reported once.
        self.jobs.retain(|j| j.state() == JobState::Running);
        Flow::Continue
    }

    fn foreground(&mut self, i: usize) -> Flow {
        let job = &self.jobs[i];
        let id = job.id;
        if job.state() != JobState::Running {
            println!("[{id}] {}", job.state());
            self.jobs.remove(i);
            return Flow::Continue;
        }
        eprintln!("[{id}] attached; Ctrl-C sends it back to the background");
        job.attached.store(true, Ordering::SeqCst);
        let mut state = job.state.clone();
        let ended = self.rt.block_on(async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => None,
                s = state.wait_for(|s| *s != JobState::Running) => s.ok().map(|s| s.clone()),
            }
        });
        match ended {
            None => {
                job.attached.store(false, Ordering::SeqCst);
                eprintln!("[{id}] back in the background");
                Flow::Continue
            }
            Some(end) => {
                eprintln!("[{id}] {end} {}", summary(&job.metrics, job.started.elapsed(), ""));
                self.jobs.remove(i);
                Flow::Continue
            }
        }
    }

    fn kill(&mut self, i: usize) -> Flow {
        let job = self.jobs.remove(i);
        job.cancel.cancel();
        let mut state = job.state.clone();
        let ended = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), state.wait_for(|s| *s != JobState::Running)).await.is_ok()
        });
        let how = if ended { job.state().to_string() } else { "cancelling".to_string() };
        eprintln!("[{}] {how} {}", job.id, summary(&job.metrics, job.started.elapsed(), ""));
        Flow::Continue
    }
}
