//! The `wavecrest` command: a thin layer over the library.

mod repl;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use wavecrest::connectors::options::parse_duration_ms;
use wavecrest::runtime::Cancel;
use wavecrest::sink::{OutputFormat, StdoutSink};
use wavecrest::sql::parse_statements;
use wavecrest::{Error, Output, Session, Target};

#[derive(Parser)]
#[command(name = "wavecrest", version, about = "Streaming SQL with event-time windows and changelog output")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the statements of a SQL file; continuous queries run together until their inputs end (or Ctrl-C).
    Run {
        /// Output format for SELECT results on stdout.
        #[arg(long, default_value = "table")]
        format: String,
        /// Checkpoint into this folder, and resume from its newest checkpoint if it holds one
        /// of the same queries. File sinks become exactly-once (part files in a folder).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Time between checkpoints, e.g. `10s`, `500ms` (default: SET 'checkpoint.interval', else 10 s).
        #[arg(long, requires = "state_dir")]
        checkpoint_interval: Option<String>,
        /// The SQL file.
        file: PathBuf,
    },
    /// Print the operator pipeline of every query in a SQL file.
    Explain {
        /// The SQL file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wavecrest: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Run { format, file, state_dir, checkpoint_interval }) => read(&file).and_then(|sql| {
            let format: OutputFormat = format.parse()?;
            let checkpoints = match state_dir {
                Some(dir) => Some((dir, checkpoint_interval.as_deref().map(parse_interval).transpose()?)),
                None => None,
            };
            runtime.block_on(run_script(&sql, format, false, checkpoints)).map_err(|e| rendered(e, &sql))
        }),
        Some(Command::Explain { file }) => read(&file).and_then(|sql| {
            runtime.block_on(run_script(&sql, OutputFormat::Table, true, None)).map_err(|e| rendered(e, &sql))
        }),
        None => {
            if std::io::stdin().is_terminal() {
                return match repl::run(&runtime) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("wavecrest: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
            let mut sql = String::new();
            match std::io::stdin().read_to_string(&mut sql) {
                Ok(_) => {
                    runtime.block_on(run_script(&sql, OutputFormat::Table, false, None)).map_err(|e| rendered(e, &sql))
                }
                Err(e) => Err(Error::from(e)),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A rendered error already carries its kind and location in the message.
            if e.message.contains('\n') {
                eprintln!("wavecrest: {}", e.message);
            } else {
                eprintln!("wavecrest: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The error with its SQL line and a caret, when it has a location.
fn rendered(e: Error, sql: &str) -> Error {
    match e.location {
        Some(_) => Error { message: e.render(sql), location: None, ..e },
        None => e,
    }
}

fn read(path: &PathBuf) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::external(format!("cannot read {}: {e}", path.display())))
}

/// `--checkpoint-interval`: a positive duration.
fn parse_interval(text: &str) -> Result<Duration, Error> {
    parse_duration_ms(text)
        .filter(|ms| *ms > 0)
        .map(|ms| Duration::from_millis(ms as u64))
        .ok_or_else(|| Error::sql(format!("--checkpoint-interval: expected a duration such as '10s', got '{text}'")))
}

/// Cancels the job on Ctrl-C or SIGTERM; a second Ctrl-C exits at once.
fn stop_on_signals(cancel: Cancel, checkpoints: bool) {
    let what = if checkpoints { "taking a final checkpoint" } else { "press Ctrl-C again to quit at once" };
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("wavecrest: stopping (Ctrl-C; {what})");
            on_ctrl_c.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            if term.recv().await.is_some() {
                eprintln!("wavecrest: stopping (SIGTERM; {what})");
                cancel.cancel();
            }
        }
    });
}

/// Executes a script: DDL at once, then all continuous statements as one job, checkpointing
/// into `checkpoints.0` when given.
async fn run_script(
    sql: &str,
    format: OutputFormat,
    explain_only: bool,
    checkpoints: Option<(PathBuf, Option<Duration>)>,
) -> Result<(), Error> {
    let statements = parse_statements(sql)?;
    let mut session = Session::new();
    let checkpointing = checkpoints.is_some();
    if let Some((dir, interval)) = checkpoints {
        session.enable_checkpoints(dir, interval);
    }
    let mut continuous = Vec::new();
    for stmt in &statements {
        match session.execute(stmt)? {
            Output::Done(msg) => eprintln!("{msg}"),
            Output::Text(text) => print!("{text}"),
            Output::Continuous(c) => {
                if explain_only {
                    if let Target::Table(t) = &c.target {
                        println!("Sink: {t}");
                    }
                    print!("{}", c.plan.explain(session.parallelism()));
                    continue;
                }
                continuous.push((stmt.location, c));
            }
        }
    }
    if continuous.is_empty() {
        return Ok(());
    }
    let to_client = continuous.iter().filter(|(_, c)| c.target == Target::Client).count();
    if to_client > 1 && format != OutputFormat::Table {
        let second = continuous.iter().filter(|(_, c)| c.target == Target::Client).nth(1).map(|(l, _)| *l);
        return Err(Error::sql_at(
            format!("--format {format}: a file may hold only one SELECT writing to stdout; send the others to sink tables with INSERT INTO"),
            second,
        ));
    }
    let cancel = Cancel::new();
    stop_on_signals(cancel.clone(), checkpointing);
    let started = Instant::now();
    let statements = continuous.into_iter().map(|(_, c)| c).collect();
    let metrics = session
        .run(statements, |plan| Ok(Box::new(StdoutSink::new(plan.schema.clone(), format)) as _), true, cancel)
        .await?;
    let secs = started.elapsed().as_secs_f64();
    let rows_in = metrics.rows_in();
    eprintln!(
        "wavecrest: {} rows in, {} rows out, {} rows too late, {} bad rows skipped, {} dead-lettered, {:.2} s ({:.0} rows/s)",
        rows_in,
        metrics.rows_out.load(std::sync::atomic::Ordering::Relaxed),
        metrics.late_dropped.load(std::sync::atomic::Ordering::Relaxed),
        metrics.skipped(),
        metrics.dead_lettered(),
        secs,
        rows_in as f64 / secs.max(1e-9)
    );
    let checkpoints = metrics.checkpoints.load(std::sync::atomic::Ordering::Relaxed);
    if checkpoints > 0 {
        eprintln!("wavecrest: {checkpoints} checkpoints written");
    }
    let no_time = metrics.no_event_time.load(std::sync::atomic::Ordering::Relaxed);
    if no_time > 0 {
        eprintln!("wavecrest: {no_time} rows had no event time (NULL) and belong to no window: dropped");
    }
    Ok(())
}
