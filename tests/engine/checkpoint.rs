//! `wavecrest run --state-dir`: checkpoints, restart after kill -9 or SIGTERM, and the
//! exactly-once file sink, checked against an uninterrupted run of the same query.
#![cfg(unix)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn start(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wavecrest"))
        .arg("run")
        .args(args)
        .arg("q.sql")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns")
}

/// Runs to the end; returns stderr.
fn run_to_end(dir: &Path, args: &[&str]) -> String {
    let out = start(dir, args).wait_with_output().expect("waits");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

/// The committed output: every visible part file of `out/`, lines sorted.
fn committed(dir: &Path) -> Vec<String> {
    committed_in(dir, "out")
}

/// The committed output of the sink folder `folder`, lines sorted.
/// The committed lines of the file sink folder `dir/<folder>`, sorted (none while the folder
/// does not exist yet).
pub(crate) fn committed_in(dir: &Path, folder: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join(folder)) else { return Vec::new() };
    let mut parts: Vec<_> = entries
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("part-")))
        .collect();
    parts.sort();
    let mut lines: Vec<String> = parts
        .iter()
        .flat_map(|p| std::fs::read_to_string(p).expect("part").lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    lines.sort();
    lines
}

/// The newest checkpoint id in `st/`, 0 if none.
fn newest_checkpoint(dir: &Path) -> u64 {
    newest_checkpoint_in(&dir.join("st"))
}

/// The newest checkpoint id in the state folder `state`, 0 if none.
pub(crate) fn newest_checkpoint_in(state: &Path) -> u64 {
    std::fs::read_dir(state).map_or(0, |entries| {
        entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|n| n.strip_prefix("chk-")?.strip_suffix(".json")?.parse().ok())
            .max()
            .unwrap_or(0)
    })
}

/// Waits until the job in `dir` has written a checkpoint newer than `after` (true) or the
/// process has exited (false).
fn wait_for_checkpoint(child: &mut Child, dir: &Path, after: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if newest_checkpoint(dir) > after {
            return true;
        }
        if child.try_wait().expect("try_wait").is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("no checkpoint within 60 s");
}

fn rows_in(stderr: &str) -> u64 {
    let line = stderr.lines().find(|l| l.contains(" rows in,")).unwrap_or_else(|| panic!("no summary: {stderr}"));
    line.trim_start_matches("wavecrest: ").split(' ').next().and_then(|n| n.parse().ok()).expect("a count")
}

/// Runs `query` (reading inputs that `setup` writes into the folder) uninterrupted, then
/// again with checkpoints every 50 ms, killed with SIGKILL at 5 random moments (each after
/// the run made progress) and restarted; checks the committed output of every sink folder in
/// `folders` equals the uninterrupted one. `total_rows` is the number of input rows.
fn kill_9_and_compare(query: &str, setup: impl Fn(&Path), total_rows: u64, folders: &[&str]) {
    let reference = tempfile::tempdir().expect("tmp");
    std::fs::write(reference.path().join("q.sql"), query).expect("write");
    setup(reference.path());
    run_to_end(reference.path(), &[]);
    let expected: Vec<Vec<String>> = folders
        .iter()
        .map(|f| {
            let text =
                std::fs::read_to_string(reference.path().join(f).join("part-0.csv")).expect("uninterrupted output");
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            lines.sort();
            lines
        })
        .collect();
    assert!(expected.iter().all(|e| !e.is_empty()), "every sink has output");

    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("q.sql"), query).expect("write");
    setup(dir.path());
    let args = ["--state-dir", "st", "--checkpoint-interval", "50ms"];
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_nanos() as u64;
    let mut rng = seed | 1;
    let mut kills = 0;
    while kills < 5 {
        let mut child = start(dir.path(), &args);
        let seen = newest_checkpoint(dir.path());
        // Kill after this run made progress (a new checkpoint), at a random moment after it:
        // between checkpoints, during one, or while sinks commit.
        if !wait_for_checkpoint(&mut child, dir.path(), seen) {
            break;
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(rng % 30_000));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        kills += 1;
    }
    assert!(kills >= 5, "the job ended after {kills} kills (seed {seed}); make the input larger");
    let stderr = run_to_end(dir.path(), &args);
    assert!(rows_in(&stderr) < total_rows, "the last run resumed rather than starting over: {stderr}");
    for (folder, expected) in folders.iter().zip(&expected) {
        let got = committed_in(dir.path(), folder);
        assert_eq!(got.len(), expected.len(), "seed {seed}, {folder}/: no row lost or duplicated");
        assert!(got == *expected, "seed {seed}, {folder}/: committed output differs from the uninterrupted run");
        let pending: Vec<_> = std::fs::read_dir(dir.path().join(folder))
            .expect("sink folder")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| !n.starts_with("part-"))
            .collect();
        assert!(pending.is_empty(), "nothing left pending after the final checkpoint: {pending:?}");
    }
    // Run again on the finished state: nothing runs, nothing changes.
    let stderr = run_to_end(dir.path(), &args);
    assert!(stderr.contains("holds a finished run"), "{stderr}");
    for (folder, expected) in folders.iter().zip(&expected) {
        assert!(committed_in(dir.path(), folder) == *expected);
    }
}

/// Late rows routed to `bid__late` (1 % of the events come 10 s late, with no allowed
/// lateness) and read by a second query of the same job: its input comes from the first
/// query's operators (two of them, one per worker), so its checkpointed state must match
/// exactly the side rows they emitted before their snapshots.
const LATE_QUERY: &str = "
SET 'parallelism' = '2';
CREATE TABLE bid (
  auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP(3),
  WATERMARK FOR date_time AS date_time - INTERVAL '2' SECOND
) WITH ('connector' = 'nexmark', 'nexmark.events' = '2000000', 'nexmark.out-of-orderness' = '1s',
        'nexmark.late-fraction' = '0.01', 'late.policy' = 'side-output');
CREATE TABLE out (window_start TIMESTAMP(3), bucket BIGINT, n BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'csv');
CREATE TABLE late (auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP(3), operator VARCHAR)
  WITH ('connector' = 'filesystem', 'path' = 'late', 'format' = 'csv');
INSERT INTO out
SELECT window_start, auction % 50 AS bucket, COUNT(*) AS n
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND))
GROUP BY window_start, window_end, auction % 50;
INSERT INTO late SELECT auction, bidder, price, date_time, __operator FROM bid__late;
";

#[test]
fn kill_9_with_a_late_row_stream_neither_loses_nor_repeats_side_rows() {
    kill_9_and_compare(LATE_QUERY, |_| {}, 1_840_000, &["out", "late"]);
}

/// Three csv files with headers, one partition each (their own watermarks), out of order.
const FILE_QUERY: &str = "
SET 'parallelism' = '2';
CREATE TABLE ev (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH ('connector' = 'file', 'path' = 'in', 'format' = 'csv', 'csv.header' = 'true');
CREATE TABLE out (window_start TIMESTAMP(3), k BIGINT, n BIGINT, s BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'csv');
INSERT INTO out
SELECT window_start, k, COUNT(*), SUM(v)
FROM TABLE(TUMBLE(TABLE ev, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY window_start, window_end, k;
";

#[test]
fn kill_9_with_a_file_source_resumes_at_byte_offsets() {
    use std::fmt::Write;
    let setup = |dir: &Path| {
        std::fs::create_dir_all(dir.join("in")).expect("in/");
        for f in 0..3u64 {
            let mut text = String::from("k,v,ts\n");
            for i in 0..200_000u64 {
                // Event time advances 1 s per 1 000 rows, up to 500 ms out of order.
                let ms = i + (i * 7919 + f * 13) % 500;
                let _ = writeln!(
                    text,
                    "{},{},1970-01-01 00:{:02}:{:02}.{:03}",
                    (i * 31 + f) % 7,
                    i % 100,
                    ms / 60_000,
                    ms / 1000 % 60,
                    ms % 1000
                );
            }
            std::fs::write(dir.join(format!("in/f{f}.csv")), text).expect("write");
        }
    };
    kill_9_and_compare(FILE_QUERY, setup, 600_000, &["out"]);
}

/// Rate-limited (2 s of input) and without late events, so the output does not depend on
/// batch boundaries, which wall-clock pacing moves.
const PACED_QUERY: &str = "
SET 'parallelism' = '2';
CREATE TABLE bid (auction BIGINT, price BIGINT, date_time TIMESTAMP(3), WATERMARK FOR date_time)
  WITH ('connector' = 'nexmark', 'nexmark.events' = '1000000', 'nexmark.rate' = '500000');
CREATE TABLE out (window_start TIMESTAMP(3), bucket BIGINT, n BIGINT)
  WITH ('connector' = 'filesystem', 'path' = 'out/', 'format' = 'csv', 'csv.header' = 'false');
INSERT INTO out
SELECT window_start, auction % 20, COUNT(*)
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '1' SECOND))
GROUP BY window_start, window_end, auction % 20;
";

#[test]
fn sigterm_takes_a_final_checkpoint_and_a_restart_neither_duplicates_nor_loses_rows() {
    let reference = tempfile::tempdir().expect("tmp");
    std::fs::write(reference.path().join("q.sql"), PACED_QUERY).expect("write");
    run_to_end(reference.path(), &[]);
    let mut expected: Vec<String> = std::fs::read_to_string(reference.path().join("out/part-0.csv"))
        .expect("uninterrupted output")
        .lines()
        .map(str::to_string)
        .collect();
    expected.sort();

    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("q.sql"), PACED_QUERY).expect("write");
    // A long interval: the checkpoint that lets the restart resume is the one SIGTERM takes.
    let args = ["--state-dir", "st", "--checkpoint-interval", "1h"];
    let child = start(dir.path(), &args);
    std::thread::sleep(Duration::from_millis(900));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("waits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SIGTERM is a normal stop: {stderr}");
    assert!(stderr.contains("stopping (SIGTERM"), "{stderr}");
    assert_eq!(newest_checkpoint(dir.path()), 1, "the stop checkpoint was written");
    let first = committed(dir.path());
    assert!(!first.is_empty() && first.len() < expected.len(), "stopped part-way: {} rows", first.len());

    let stderr = run_to_end(dir.path(), &args);
    let resumed = rows_in(&stderr);
    assert!(resumed > 0 && resumed < 920_000, "resumed from the stop checkpoint: {stderr}");
    assert!(committed(dir.path()) == expected, "committed output equals the uninterrupted run");
}

#[test]
fn sources_and_sinks_that_cannot_be_checkpointed_are_errors_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let sql = "CREATE TABLE t (a BIGINT) WITH ('connector' = 'stdin', 'format' = 'csv');
               CREATE TABLE o (a BIGINT) WITH ('connector' = 'file', 'path' = 'out/', 'format' = 'csv');
               INSERT INTO o SELECT a FROM t;";
    std::fs::write(dir.path().join("q.sql"), sql).expect("write");
    let out = start(dir.path(), &["--state-dir", "st"]).wait_with_output().expect("waits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("table 't' cannot resume from a checkpoint"), "{stderr}");
    assert!(!dir.path().join("out").exists(), "no output was started");

    let sql = "CREATE TABLE t (a BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
               CREATE TABLE o (a BIGINT) WITH ('connector' = 'file', 'path' = 'out.csv');
               INSERT INTO o SELECT a FROM t;";
    std::fs::write(dir.path().join("q.sql"), sql).expect("write");
    let out = start(dir.path(), &["--state-dir", "st"]).wait_with_output().expect("waits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("'path' must be a folder"), "{stderr}");
}

#[test]
fn a_changed_query_starts_from_scratch_with_a_warning() {
    let dir = tempfile::tempdir().expect("tmp");
    let sql = |n: u32| {
        format!(
            "CREATE TABLE t (a BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '5', 'fields.a.kind' = 'sequence',
               'fields.a.start' = '1', 'fields.a.end' = '5');
             CREATE TABLE o (a BIGINT) WITH ('connector' = 'filesystem', 'path' = 'out', 'format' = 'csv');
             INSERT INTO o SELECT a * {n} FROM t;"
        )
    };
    std::fs::write(dir.path().join("q.sql"), sql(1)).expect("write");
    run_to_end(dir.path(), &["--state-dir", "st"]);
    assert_eq!(committed(dir.path()), ["1", "2", "3", "4", "5"]);
    std::fs::write(dir.path().join("q.sql"), sql(10)).expect("write");
    let stderr = run_to_end(dir.path(), &["--state-dir", "st"]);
    assert!(
        stderr.contains("WARN") && stderr.contains("the queries, their tables or their parallelism changed"),
        "{stderr}"
    );
    assert_eq!(committed(dir.path()), ["10", "20", "30", "40", "50"]);
    // A changed source option changes the job too (the offsets would not fit it).
    std::fs::write(dir.path().join("q.sql"), sql(10).replace("'number-of-rows' = '5'", "'number-of-rows' = '3'"))
        .expect("write");
    let stderr = run_to_end(dir.path(), &["--state-dir", "st"]);
    assert!(
        stderr.contains("WARN") && stderr.contains("the queries, their tables or their parallelism changed"),
        "{stderr}"
    );
    assert_eq!(committed(dir.path()), ["10", "20", "30"]);
}

/// The library: a job over a `memory` table stopped with a final checkpoint resumes in a new
/// session whose producer replays the same log: open windows come back from the checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_table_job_resumes_its_open_windows_in_a_new_session() {
    use datafusion::arrow::array::{Int64Array, RecordBatch, TimestampMillisecondArray};
    use std::sync::Arc;
    use wavecrest::runtime::Cancel;
    use wavecrest::{Output, Session};

    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    let sql = format!(
        "CREATE TABLE live (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'memory');
         CREATE TABLE o (window_start TIMESTAMP(3), k BIGINT, n BIGINT)
           WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
         INSERT INTO o SELECT window_start, k, COUNT(*) FROM TABLE(TUMBLE(TABLE live, DESCRIPTOR(ts), INTERVAL '10' SECOND))
         GROUP BY window_start, window_end, k;",
        out.display()
    );
    // Rows at 1 s .. 25 s, then (second run only) 31 s .. 45 s.
    let first: Vec<(i64, i64)> = (1..=25).map(|s| (s % 2, s * 1000)).collect();
    let second: Vec<(i64, i64)> = (31..=45).map(|s| (s % 2, s * 1000)).collect();
    let run = |rows: Vec<Vec<(i64, i64)>>| {
        let sql = sql.clone();
        let state = dir.path().join("state");
        async move {
            let mut session = Session::new();
            session.enable_checkpoints(state.clone(), Some(Duration::from_millis(30)));
            let queries: Vec<_> = session.sql(&sql).expect("sql").into_iter().filter_map(Output::continuous).collect();
            let log = session.memory_table("live").expect("memory table");
            let schema = session.planner().table("live").expect("table").physical_schema.clone();
            for part in &rows {
                let (k, ts): (Vec<i64>, Vec<i64>) = part.iter().copied().unzip();
                let batch = RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(Int64Array::from(k)), Arc::new(TimestampMillisecondArray::from(ts))],
                )
                .expect("batch");
                log.push(batch).expect("push");
            }
            let cancel = Cancel::new();
            let job = session.run(queries, |_| unreachable!("no SELECT to the client"), false, cancel.clone());
            let stop = async {
                let before = newest_checkpoint_in(&state);
                let deadline = Instant::now() + Duration::from_secs(30);
                while newest_checkpoint_in(&state) < before + 2 {
                    assert!(Instant::now() < deadline, "no checkpoints within 30 s");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                cancel.cancel();
            };
            let (result, ()) = tokio::join!(job, stop);
            result.expect("runs until stopped");
        }
    };
    run(vec![first.clone()]).await;
    let after_first = committed(dir.path());
    // [0,10) and [10,20) fired (the watermark reached 25 s); [20,30) is open.
    assert_eq!(after_first.len(), 4, "{after_first:?}");
    run(vec![first, second]).await;
    let mut expected: Vec<String> = Vec::new();
    for (start, end) in [(0, 10), (10, 20), (20, 30), (30, 40)] {
        for k in 0..2 {
            let n = (1..=45).filter(|s| (25 >= *s || *s >= 31) && (start..end).contains(s) && s % 2 == k).count();
            expected.push(format!("1970-01-01 00:00:{start:02}.000,{k},{n}"));
        }
    }
    expected.sort();
    assert_eq!(committed(dir.path()), expected, "[20,30) counts rows of both runs, once");
}

/// A bounded source (1 000 datagen rows) next to an unbounded one (a rate-limited generator).
const MIXED_QUERY: &str = "
SET 'parallelism' = '2';
CREATE TABLE fixed (k BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1000',
  'fields.k.kind' = 'sequence', 'fields.k.start' = '1', 'fields.k.end' = '1000');
CREATE TABLE bid (auction BIGINT, price BIGINT, date_time TIMESTAMP(3), WATERMARK FOR date_time)
  WITH ('connector' = 'nexmark', 'nexmark.rate' = '50000');
CREATE TABLE a (k BIGINT) WITH ('connector' = 'filesystem', 'path' = 'a', 'format' = 'csv');
CREATE TABLE b (window_start TIMESTAMP(3), n BIGINT) WITH ('connector' = 'filesystem', 'path' = 'b', 'format' = 'csv');
INSERT INTO a SELECT k FROM fixed;
INSERT INTO b SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '1' SECOND))
GROUP BY window_start, window_end;
";

/// Waits until `done` holds, failing after 60 s or if the process exits.
fn wait_until(child: &mut Child, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(child.try_wait().expect("try_wait").is_none(), "the job exited while waiting for {what}");
        assert!(Instant::now() < deadline, "no {what} within 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_bounded_source_next_to_an_unbounded_one_is_committed_once_and_not_rerun() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("q.sql"), MIXED_QUERY).expect("write");
    let args = ["--state-dir", "st", "--checkpoint-interval", "50ms"];
    let expected_a: Vec<String> = {
        let mut v: Vec<String> = (1..=1000).map(|k: u64| k.to_string()).collect();
        v.sort();
        v
    };
    let committed_a = |dir: &Path| if dir.join("a").exists() { committed_in(dir, "a") } else { vec![] };
    let mut child = start(dir.path(), &args);
    // Checkpoints go on after the bounded source ended: its query's output is committed while
    // the unbounded query runs.
    wait_until(&mut child, "committed output of the bounded query", || committed_a(dir.path()) == expected_a);
    let after_bounded = newest_checkpoint(dir.path());
    assert!(wait_for_checkpoint(&mut child, dir.path(), after_bounded + 1), "later checkpoints are written");
    let newest = dir.path().join(format!("st/chk-{:010}.json", newest_checkpoint(dir.path())));
    let text = std::fs::read_to_string(&newest).unwrap_or_default();
    assert!(text.contains(r#""ended_sources":["fixed"]"#) && text.contains(r#""ended_queries":[0]"#), "{text}");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    // The restart resumes the unbounded query and does not run the bounded one again.
    let mut child = start(dir.path(), &args);
    let seen = newest_checkpoint(dir.path());
    assert!(wait_for_checkpoint(&mut child, dir.path(), seen + 2), "the resumed job checkpoints");
    wait_until(&mut child, "three windows of the unbounded query", || {
        dir.path().join("b").exists() && committed_in(dir.path(), "b").len() >= 3
    });
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("waits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(committed_a(dir.path()), expected_a, "the bounded query's rows, once");
    // Every 1 s window of generator time (10 000 events, seed 0) holds 9 191 bids: each window
    // is committed once, with its full count, and none is missing.
    let windows = committed_in(dir.path(), "b");
    let mut starts: Vec<&str> = Vec::new();
    for line in &windows {
        let (start, n) = line.split_once(',').expect("two columns");
        assert_eq!(n, "9191", "window {start}: {windows:?}");
        starts.push(start);
    }
    for (i, start) in starts.iter().enumerate() {
        assert_eq!(*start, format!("2015-07-15 00:{:02}:{:02}.000", i / 60, i % 60), "{windows:?}");
    }
}
