//! The `wavecrest` command: a thin layer over the library.

mod daemon_cmd;
mod repl;
mod run_status;

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
    /// Log format on stderr: `human` or `json` (one object per line).
    #[arg(long, global = true, default_value = "human")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
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
        /// Serve `/metrics` (Prometheus), `/pipelines` and `/healthz` for this job while it
        /// runs, e.g. `127.0.0.1:9464` (port 0 picks a free one; the log says which).
        #[arg(long)]
        http: Option<std::net::SocketAddr>,
        /// The SQL file.
        file: PathBuf,
    },
    /// Run every `.sql` file of a folder as a long-lived pipeline; follow the folder (a new
    /// file starts a pipeline, a changed one restarts it, a removed one stops it; SIGHUP
    /// rescans at once). SIGTERM or Ctrl-C stops every pipeline after a final checkpoint.
    Daemon {
        /// The folder of query files.
        dir: PathBuf,
        /// Checkpoint each pipeline into `<STATE_DIR>/<file name>/` and resume from there.
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Serve `/metrics` (Prometheus), `/pipelines` (JSON) and `/healthz` on this address,
        /// e.g. `127.0.0.1:9464` (port 0 picks a free one; the log says which).
        #[arg(long)]
        http: Option<std::net::SocketAddr>,
        /// Time between checkpoints, e.g. `10s` (default: each file's SET 'checkpoint.interval', else 10 s).
        #[arg(long, requires = "state_dir")]
        checkpoint_interval: Option<String>,
        /// How often the folder is scanned for changes.
        #[arg(long, default_value = "1s")]
        poll_interval: String,
    },
    /// Print the operator pipeline of every query in a SQL file.
    Explain {
        /// The SQL file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wavecrest: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Run { format, file, state_dir, checkpoint_interval, http }) => read(&file).and_then(|sql| {
            let format: OutputFormat = format.parse()?;
            let checkpoints = match state_dir {
                Some(dir) => Some((dir, checkpoint_interval.as_deref().map(parse_interval).transpose()?)),
                None => None,
            };
            let options = RunOptions { format, explain_only: false, checkpoints, http, file: Some(file.clone()) };
            runtime.block_on(run_script(&sql, options)).map_err(|e| rendered(e, &sql))
        }),
        Some(Command::Daemon { dir, state_dir, http, checkpoint_interval, poll_interval }) => (|| {
            let mut config = wavecrest::daemon::DaemonConfig::new(dir);
            config.state_dir = state_dir;
            config.checkpoint_interval = checkpoint_interval.as_deref().map(parse_interval).transpose()?;
            config.poll_interval = parse_interval(&poll_interval)?;
            runtime.block_on(daemon_cmd::run(config, http))
        })(),
        Some(Command::Explain { file }) => read(&file)
            .and_then(|sql| runtime.block_on(run_script(&sql, RunOptions::explain())).map_err(|e| rendered(e, &sql))),
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
                Ok(_) => runtime.block_on(run_script(&sql, RunOptions::piped())).map_err(|e| rendered(e, &sql)),
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

/// `--checkpoint-interval`, `--poll-interval`: a positive duration.
fn parse_interval(text: &str) -> Result<Duration, Error> {
    parse_duration_ms(text)
        .filter(|ms| *ms > 0)
        .map(|ms| Duration::from_millis(ms as u64))
        .ok_or_else(|| Error::sql(format!("expected a duration such as '10s' or '500ms', got '{text}'")))
}

/// Logs (the library's `tracing` events) go to stderr, human-readable or as JSON lines;
/// `WAVECREST_LOG=debug|info|warn|error` sets the level (default info).
fn init_logging(format: LogFormat) {
    let level = std::env::var("WAVECREST_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing_subscriber::filter::LevelFilter>().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Cancels the job on Ctrl-C or SIGTERM; a second Ctrl-C exits at once.
fn stop_on_signals(cancel: Cancel, checkpoints: bool) {
    let what = if checkpoints { "taking a final checkpoint" } else { "press Ctrl-C again to quit at once" };
    cancel_on_signals(cancel, move |signal| eprintln!("wavecrest: stopping ({signal}; {what})"));
}

/// Sets `cancel` on Ctrl-C or SIGTERM, after `announce("Ctrl-C" | "SIGTERM")`; a second
/// Ctrl-C exits at once.
fn cancel_on_signals(cancel: Cancel, announce: impl Fn(&str) + Clone + Send + 'static) {
    let on_ctrl_c = cancel.clone();
    let say = announce.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            say("Ctrl-C");
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
                announce("SIGTERM");
                cancel.cancel();
            }
        }
    });
}

/// How to execute a script.
struct RunOptions {
    /// Output format of SELECT results on stdout.
    format: OutputFormat,
    /// Print the plans instead of running the queries.
    explain_only: bool,
    /// Checkpoint into this folder, every this often (default: the file's setting).
    checkpoints: Option<(PathBuf, Option<Duration>)>,
    /// Serve the job's status and metrics here.
    http: Option<std::net::SocketAddr>,
    /// The file the script came from.
    file: Option<PathBuf>,
}

impl RunOptions {
    fn explain() -> Self {
        RunOptions { format: OutputFormat::Table, explain_only: true, checkpoints: None, http: None, file: None }
    }

    fn piped() -> Self {
        RunOptions { explain_only: false, ..Self::explain() }
    }
}

/// Executes a script: DDL at once, then all continuous statements as one job, checkpointing
/// and serving status as `options` say.
async fn run_script(sql: &str, options: RunOptions) -> Result<(), Error> {
    let RunOptions { format, explain_only, checkpoints, http, file } = options;
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
    let job =
        session.prepare(statements, |plan| Ok(Box::new(StdoutSink::new(plan.schema.clone(), format)) as _), true)?;
    let file = file.unwrap_or_else(|| PathBuf::from("stdin"));
    let name = file.file_stem().map_or_else(|| "job".to_string(), |s| s.to_string_lossy().into_owned());
    let server = match http {
        Some(addr) => Some(run_status::StatusServer::start(addr, &name, &file, job.metrics()).await?),
        None => None,
    };
    let progress = run_status::report_progress(job.metrics());
    let result = job.run(cancel.clone()).await;
    progress.abort();
    if let Some(server) = server {
        server.finish(&result, cancel.is_cancelled()).await;
    }
    let metrics = result?;
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
        eprintln!("wavecrest: {no_time} rows had no event time (NULL, or beyond ±35 000 years) and belong to no window: dropped");
    }
    Ok(())
}
