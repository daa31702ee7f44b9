//! `wavecrest daemon DIR`: hot reload (add, change, remove a file), a failing file that does
//! not stop the others, the HTTP endpoints and their metrics, and kill -9 recovery.
#![cfg(unix)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A daemon process over `<dir>/queries`, checkpointing into `<dir>/st`, logging into
/// `<dir>/daemon-<n>.log`.
struct Daemon {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Daemon {
    fn start(dir: &Path) -> Daemon {
        Self::start_with(dir, &["--poll-interval", "100ms"])
    }

    /// Starts with `args` added (e.g. another poll interval, a log format).
    fn start_with(dir: &Path, args: &[&str]) -> Daemon {
        let mut all = vec!["daemon", "queries", "--state-dir", "st", "--http", "127.0.0.1:0"];
        all.extend(["--checkpoint-interval", "50ms"]);
        all.extend(args);
        Self::spawn(dir, &all)
    }

    /// Runs `wavecrest <args>` in `dir`, which must serve HTTP on a port the log names.
    fn spawn(dir: &Path, args: &[&str]) -> Daemon {
        let n = std::fs::read_dir(dir).expect("dir").filter(|e| e.as_ref().is_ok_and(is_log)).count();
        let log = dir.join(format!("daemon-{n}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_wavecrest"))
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawns");
        let mut d = Daemon { child, port: 0, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while d.port == 0 {
            let text = d.log_text();
            if let Some(at) = text.find("listening on http://127.0.0.1:") {
                let rest = &text[at + "listening on http://127.0.0.1:".len()..];
                d.port = rest.split(|c: char| !c.is_ascii_digit()).next().and_then(|p| p.parse().ok()).unwrap_or(0);
            }
            assert!(d.child.try_wait().expect("try_wait").is_none(), "the daemon exited: {text}");
            assert!(Instant::now() < deadline, "no http address in the log: {text}");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path`: status code and body.
    fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connects");
        write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("request");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("response");
        let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status");
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    /// The `/pipelines` entry named `name`, if any.
    fn pipeline(&self, name: &str) -> Option<serde_json::Value> {
        let (_, body) = self.get("/pipelines");
        let all: serde_json::Value = serde_json::from_str(&body).expect("json");
        all.as_array().expect("array").iter().find(|p| p["name"] == name).cloned()
    }

    /// Waits until pipeline `name` is in `state`; returns its entry.
    fn wait_state(&self, name: &str, state: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let p = self.pipeline(name);
            if let Some(p) = p.as_ref().filter(|p| p["state"] == state) {
                return p.clone();
            }
            assert!(Instant::now() < deadline, "pipeline {name} never became {state}: {p:?}\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for a clean exit; returns the log.
    fn terminate(mut self) -> String {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("waits");
        let log = self.log_text();
        assert!(exit.success(), "SIGTERM is a normal stop: {log}");
        log
    }
}

fn is_log(e: &std::fs::DirEntry) -> bool {
    e.file_name().to_string_lossy().starts_with("daemon-")
}

/// Lines of the committed part files of `dir/<folder>`, sorted.
fn committed(dir: &Path, folder: &str) -> Vec<String> {
    super::checkpoint::committed_in(dir, folder)
}

fn sequence_query(out: &str, factor: u32) -> String {
    format!(
        "CREATE TABLE t (a BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '5', 'fields.a.kind' = 'sequence',
           'fields.a.start' = '1', 'fields.a.end' = '5');
         CREATE TABLE o (a BIGINT) WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv');
         INSERT INTO o SELECT a * {factor} FROM t;"
    )
}

/// An unbounded pipeline: 2 000 Nexmark events per second, with event time moving as fast as
/// wall-clock time, bids counted per 1 s window.
const ENDLESS: &str = "
CREATE TABLE bid (auction BIGINT, price BIGINT, date_time TIMESTAMP(3), WATERMARK FOR date_time)
  WITH ('connector' = 'nexmark', 'nexmark.rate' = '2000', 'nexmark.first-event-rate' = '2000');
CREATE TABLE o (window_start TIMESTAMP(3), n BIGINT) WITH ('connector' = 'filesystem', 'path' = 'out_endless', 'format' = 'csv');
INSERT INTO o SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '1' SECOND))
GROUP BY window_start, window_end;
";

fn numbers(values: &[u32]) -> Vec<String> {
    let mut v: Vec<String> = values.iter().map(u32::to_string).collect();
    v.sort();
    v
}

#[test]
fn files_added_changed_and_removed_start_restart_and_stop_pipelines() {
    let dir = tempfile::tempdir().expect("tmp");
    let queries = dir.path().join("queries");
    std::fs::create_dir(&queries).expect("mkdir");
    std::fs::write(queries.join("a.sql"), sequence_query("out_a", 1)).expect("write");
    std::fs::write(queries.join("notes.txt"), "not a query").expect("write");
    let daemon = Daemon::start(dir.path());
    daemon.wait_state("a", "finished");
    assert_eq!(committed(dir.path(), "out_a"), numbers(&[1, 2, 3, 4, 5]));

    // Added: an unbounded pipeline starts and checkpoints.
    std::fs::write(queries.join("b.sql"), ENDLESS).expect("write");
    daemon.wait_state("b", "running");
    let deadline = Instant::now() + Duration::from_secs(30);
    let progress =
        |p: serde_json::Value| p["checkpoints"].as_u64().unwrap_or(0).min(p["rows_out"].as_u64().unwrap_or(0));
    while progress(daemon.pipeline("b").expect("b")) < 2 {
        assert!(Instant::now() < deadline, "b never checkpointed a window: {}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }

    // Changed, the same job (a comment added): it resumes from its final checkpoint.
    std::fs::write(queries.join("b.sql"), format!("-- counts per second\n{ENDLESS}")).expect("write");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !daemon.log_text().contains("st/b'") {
        assert!(Instant::now() < deadline, "b did not resume: {}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(daemon.log_text().contains("resuming from checkpoint"), "{}", daemon.log_text());
    daemon.wait_state("b", "running");

    // Changed: another query, so the old checkpoint does not fit: from scratch, warned.
    std::fs::write(queries.join("a.sql"), sequence_query("out_a", 10)).expect("write");
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed(dir.path(), "out_a") != numbers(&[10, 20, 30, 40, 50]) {
        assert!(Instant::now() < deadline, "a was not restarted: {}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    daemon.wait_state("a", "finished");
    assert!(daemon.log_text().contains("file changed: restarting"));
    assert!(daemon.log_text().contains("parallelism changed since checkpoint"), "{}", daemon.log_text());

    // A broken file is reported with its position and does not disturb the others.
    std::fs::write(queries.join("c.sql"), "CREATE TABLE x (a BIGINT) WITH ('connector' = 'values');\nSELEC a FROM x;")
        .expect("write");
    let c = daemon.wait_state("c", "failed");
    let error = c["error"].as_str().expect("an error");
    assert!(error.contains("c.sql:2:1"), "{error}");
    assert_eq!(daemon.pipeline("b").expect("b")["state"], "running");

    // Removed: b stops after a final checkpoint (its windows so far are committed).
    std::fs::remove_file(queries.join("b.sql")).expect("rm");
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.pipeline("b").is_some() {
        assert!(Instant::now() < deadline, "b was not removed: {}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!committed(dir.path(), "out_endless").is_empty(), "b's windows were committed");
    let log = daemon.terminate();
    assert!(log.contains("file removed: stopping"), "{log}");
}

#[test]
fn metrics_name_every_documented_family_and_counters_move() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("queries")).expect("mkdir");
    std::fs::write(dir.path().join("queries/endless.sql"), ENDLESS).expect("write");
    let daemon = Daemon::start(dir.path());
    assert_eq!(daemon.get("/healthz"), (200, "ok\n".to_string()));
    assert_eq!(daemon.get("/nope").0, 404);
    daemon.wait_state("endless", "running");
    let sample = |text: &str, name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1.0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        let (status, text) = daemon.get("/metrics");
        assert_eq!(status, 200);
        if sample(&text, "wavecrest_checkpoints_total") >= 1.0 && sample(&text, "wavecrest_sink_rows_total") >= 1.0 {
            break text;
        }
        assert!(Instant::now() < deadline, "no checkpoint or output: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    for name in [
        "wavecrest_pipeline_up",
        "wavecrest_source_rows_total",
        "wavecrest_operator_rows_in_total",
        "wavecrest_operator_rows_out_total",
        "wavecrest_operator_state_keys",
        "wavecrest_operator_state_bytes",
        "wavecrest_worker_watermark_seconds",
        "wavecrest_worker_backpressure_seconds_total",
        "wavecrest_sink_rows_total",
        "wavecrest_late_rows_total",
        "wavecrest_watermark_seconds",
        "wavecrest_watermark_lag_seconds",
        "wavecrest_checkpoints_total",
        "wavecrest_checkpoint_duration_seconds",
        "wavecrest_checkpoint_age_seconds",
    ] {
        assert!(first.contains(&format!("# TYPE {name} ")), "{name} has no TYPE line");
        assert!(first.contains(&format!("{name}{{pipeline=\"endless\"")), "{name} has no sample:\n{first}");
    }
    assert_eq!(sample(&first, "wavecrest_pipeline_up"), 1.0);
    assert!(first.contains("operator=\"WindowAggregate\""), "{first}");
    std::thread::sleep(Duration::from_millis(1500));
    let (_, second) = daemon.get("/metrics");
    for counter in ["wavecrest_source_rows_total", "wavecrest_sink_rows_total", "wavecrest_checkpoints_total"] {
        assert!(sample(&second, counter) > sample(&first, counter), "{counter} did not move");
    }
    assert!(sample(&second, "wavecrest_watermark_seconds") > sample(&first, "wavecrest_watermark_seconds"));
    daemon.terminate();
}

/// 2 M generator events (1 840 000 bids), out of order with 1 % late events corrected within
/// the allowed lateness, as in `checkpoint.rs`: window state, late-correction state and the
/// generator's offset are in every checkpoint.
const KILL_QUERY: &str = "
SET 'parallelism' = '2';
CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP(3),
  WATERMARK FOR date_time AS date_time - INTERVAL '2' SECOND
) WITH ('connector' = 'nexmark', 'nexmark.events' = '2000000', 'nexmark.out-of-orderness' = '1s',
        'nexmark.late-fraction' = '0.01', 'lateness' = '30s');
CREATE TABLE out (window_start TIMESTAMP(3), bucket BIGINT, n BIGINT, top BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'csv');
INSERT INTO out
SELECT window_start, auction % 50 AS bucket, COUNT(*) AS n, MAX(price) AS top
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND))
GROUP BY window_start, window_end, auction % 50;
";

/// The newest checkpoint id of pipeline `q`, 0 if none.
fn newest_checkpoint(dir: &Path) -> u64 {
    super::checkpoint::newest_checkpoint_in(&dir.join("st/q"))
}

#[test]
fn daemon_killed_9_at_random_moments_commits_the_uninterrupted_output() {
    // The reference: `wavecrest run` without checkpoints.
    let reference = tempfile::tempdir().expect("tmp");
    std::fs::write(reference.path().join("q.sql"), KILL_QUERY).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_wavecrest"))
        .args(["run", "q.sql"])
        .current_dir(reference.path())
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = committed(reference.path(), "out");
    assert!(expected.len() > 1000);

    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("queries")).expect("mkdir");
    std::fs::write(dir.path().join("queries/q.sql"), KILL_QUERY).expect("write");
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_nanos() as u64;
    let mut rng = seed | 1;
    let mut kills = 0;
    while kills < 5 {
        let mut daemon = Daemon::start(dir.path());
        let seen = newest_checkpoint(dir.path());
        let deadline = Instant::now() + Duration::from_secs(60);
        // Kill after this run made progress (a new checkpoint), at a random moment after it.
        while newest_checkpoint(dir.path()) <= seen {
            assert!(Instant::now() < deadline, "no checkpoint: {}", daemon.log_text());
            std::thread::sleep(Duration::from_millis(5));
        }
        if daemon.pipeline("q").is_some_and(|p| p["state"] == "finished") {
            break;
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(rng % 30_000));
        daemon.child.kill().expect("SIGKILL");
        daemon.child.wait().expect("reaped");
        kills += 1;
    }
    assert!(kills >= 5, "the pipeline finished after {kills} kills (seed {seed}); make the input larger");
    // A graceful stop too: SIGTERM takes a final checkpoint, which the next start resumes.
    let daemon = Daemon::start(dir.path());
    let seen = newest_checkpoint(dir.path());
    while newest_checkpoint(dir.path()) <= seen {
        std::thread::sleep(Duration::from_millis(5));
    }
    let log = daemon.terminate();
    assert!(log.contains("SIGTERM: stopping every pipeline"), "{log}");
    let daemon = Daemon::start(dir.path());
    let last = daemon.wait_state("q", "finished");
    assert!(last["rows_in"].as_u64().expect("rows_in") < 1_840_000, "the last run resumed: {last}");
    daemon.terminate();
    let got = committed(dir.path(), "out");
    assert_eq!(got.len(), expected.len(), "seed {seed}: no row lost or duplicated");
    assert!(got == expected, "seed {seed}: committed output differs from the uninterrupted run");
}

#[test]
fn a_pipeline_whose_source_fails_is_retried_with_backoff_until_it_works() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("queries")).expect("mkdir");
    let query = "CREATE TABLE t (a BIGINT) WITH ('connector' = 'filesystem', 'path' = 'in.csv', 'format' = 'csv');
                 CREATE TABLE o (a BIGINT) WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'csv');
                 INSERT INTO o SELECT a + 1 FROM t;";
    std::fs::write(dir.path().join("queries/q.sql"), query).expect("write");
    std::fs::write(dir.path().join("queries/ok.sql"), sequence_query("out_ok", 1)).expect("write");
    let daemon = Daemon::start(dir.path());
    let failed = daemon.wait_state("q", "failed");
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("in.csv")), "{failed}");
    assert!(failed["retry_in_ms"].as_u64().is_some(), "a source error is retried: {failed}");
    daemon.wait_state("ok", "finished");
    std::fs::write(dir.path().join("in.csv"), "1\n2\n").expect("write");
    let done = daemon.wait_state("q", "finished");
    assert!(done["restarts"].as_u64().is_some_and(|n| n >= 1), "{done}");
    assert_eq!(committed(dir.path(), "out"), ["2", "3"]);
    let log = daemon.terminate();
    assert!(log.contains("failed; retrying"), "{log}");
}

#[test]
fn sighup_rescans_at_once_and_logs_can_be_json_lines() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("queries")).expect("mkdir");
    let daemon = Daemon::start_with(dir.path(), &["--poll-interval", "1h", "--log-format", "json"]);
    std::fs::write(dir.path().join("queries/a.sql"), sequence_query("out_a", 1)).expect("write");
    std::thread::sleep(Duration::from_millis(300));
    assert!(daemon.pipeline("a").is_none(), "no scan before the hour is up");
    let status = Command::new("kill").args(["-HUP", &daemon.child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    daemon.wait_state("a", "finished");
    assert_eq!(committed(dir.path(), "out_a"), numbers(&[1, 2, 3, 4, 5]));
    let log = daemon.terminate();
    let events: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let message = |e: &serde_json::Value| e["fields"]["message"].as_str().unwrap_or("").to_string();
    assert!(events.iter().any(|e| message(e).contains("rescanning (SIGHUP)")), "{log}");
    assert!(
        events.iter().any(|e| message(e) == "finished: its inputs ended" && e["fields"]["pipeline"] == "a"),
        "{log}"
    );
}

/// The shipped daemon folder `queries/pipelines/`: the CSV pipeline finishes with its windows
/// and late row counted, the endless one runs and commits windows.
#[test]
fn the_example_pipelines_folder_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("queries")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("data")).expect("mkdir");
    std::fs::copy(root.join("data/bids.csv"), dir.path().join("data/bids.csv")).expect("copy");
    for f in std::fs::read_dir(root.join("queries/pipelines")).expect("queries/pipelines").flatten() {
        std::fs::copy(f.path(), dir.path().join("queries").join(f.file_name())).expect("copy");
    }
    let daemon = Daemon::start(dir.path());
    let csv = daemon.wait_state("csv_bid_counts", "finished");
    assert_eq!(csv["late_rows"], 1, "{csv}");
    assert!(!committed(dir.path(), "out/bid_counts").is_empty());
    daemon.wait_state("hot_auctions", "running");
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed(dir.path(), "out/hot_auctions").is_empty() {
        assert!(Instant::now() < deadline, "no window committed: {}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    daemon.terminate();
}

/// `wavecrest run --http`: the same endpoints for one job while it runs.
#[test]
fn run_serves_its_status_and_metrics_while_it_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let query = ENDLESS.replace("'nexmark.rate' = '2000'", "'nexmark.rate' = '2000', 'nexmark.events' = '8000'");
    std::fs::write(dir.path().join("q.sql"), query).expect("write");
    let mut job = Daemon::spawn(dir.path(), &["run", "q.sql", "--http", "127.0.0.1:0"]);
    let running = job.wait_state("q", "running");
    assert_eq!(running["file"], "q.sql");
    let deadline = Instant::now() + Duration::from_secs(30);
    while job.pipeline("q").and_then(|p| p["rows_out"].as_u64()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "no output: {}", job.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, metrics) = job.get("/metrics");
    assert!(metrics.contains("wavecrest_source_rows_total{pipeline=\"q\",table=\"bid\"}"), "{metrics}");
    let exit = job.child.wait().expect("waits");
    assert!(exit.success(), "{}", job.log_text());
    assert!(job.log_text().contains("rows in,"), "the end-of-run summary is still printed");
}
