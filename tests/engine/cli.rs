//! The `wavecrest` binary: exit codes, error carets, bad-input policies, sinks, stdin.

use std::io::Write;
use std::process::{Command, Stdio};

struct Run {
    stdout: String,
    stderr: String,
    ok: bool,
}

fn wavecrest(args: &[&str], dir: &std::path::Path, stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wavecrest"))
        .args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("writes");
    }
    let out = child.wait_with_output().expect("waits");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        ok: out.status.success(),
    }
}

const BAD_CSV: &str = "1,10,2024-01-01 00:00:01\n2,x,2024-01-01 00:00:02\n3,30,yesterday\n4,40,2024-01-01 00:00:04\n";

fn script(policy: &str) -> String {
    format!(
        "CREATE TABLE t (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts)
         WITH ('connector' = 'file', 'path' = 'in.csv', 'format' = 'csv' {policy});
         SELECT window_start, COUNT(*) AS n, SUM(v) AS s
         FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end;"
    )
}

#[test]
fn on_error_fail_names_file_line_and_reason() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("in.csv"), BAD_CSV).expect("write");
    std::fs::write(dir.path().join("q.sql"), script("")).expect("write");
    let r = wavecrest(&["run", "--format", "csv", "q.sql"], dir.path(), None);
    assert!(!r.ok, "a bad row fails the run by default");
    assert!(r.stderr.contains("in.csv:2:"), "{}", r.stderr);
    assert!(r.stderr.contains("column 'v'"), "{}", r.stderr);
}

#[test]
fn event_times_at_the_ends_of_the_range_neither_crash_nor_move_the_watermark() {
    let dir = tempfile::tempdir().expect("tmp");
    let rows = [
        r#"{"k": 1, "v": 1, "ts": "2024-01-01T00:00:01"}"#,
        r#"{"k": 2, "v": 2, "ts": 9223372036854775807}"#,
        r#"{"k": 3, "v": 3, "ts": "+262142-12-31T23:59:59"}"#,
        r#"{"k": 4, "v": 4, "ts": "2024-01-01T00:00:02"}"#,
    ];
    std::fs::write(dir.path().join("in.json"), rows.join("\n")).expect("write");
    let sql = script("").replace("'path' = 'in.csv', 'format' = 'csv'", "'path' = 'in.json', 'format' = 'json'");
    std::fs::write(dir.path().join("q.sql"), sql).expect("write");
    let r = wavecrest(&["run", "--format", "csv", "q.sql"], dir.path(), None);
    assert!(r.ok, "{}", r.stderr);
    // The last row is on time: the absurd ones did not push the watermark to the end of time.
    assert_eq!(r.stdout, "op,window_start,n,s\n+I,2024-01-01 00:00:00.000,2,5\n");
    assert!(r.stderr.contains("2 rows had no event time"), "{}", r.stderr);
}

#[test]
fn on_error_skip_drops_and_counts_bad_rows() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("in.csv"), BAD_CSV).expect("write");
    std::fs::write(dir.path().join("q.sql"), script(", 'on-error' = 'skip'")).expect("write");
    let r = wavecrest(&["run", "--format", "csv", "q.sql"], dir.path(), None);
    assert!(r.ok, "{}", r.stderr);
    // The two good rows (k = 1, 4) are counted; the two bad ones are reported.
    assert_eq!(r.stdout, "op,window_start,n,s\n+I,2024-01-01 00:00:00.000,2,50\n");
    assert!(r.stderr.contains("2 rows in"), "{}", r.stderr);
    assert!(r.stderr.contains("2 bad rows skipped"), "{}", r.stderr);
}

#[test]
fn on_error_dead_letter_keeps_the_raw_rows() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("in.csv"), BAD_CSV).expect("write");
    let policy = ", 'on-error' = 'dead-letter', 'dead-letter.path' = 'bad.jsonl'";
    std::fs::write(dir.path().join("q.sql"), script(policy)).expect("write");
    let r = wavecrest(&["run", "--format", "csv", "q.sql"], dir.path(), None);
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains(",2,50"), "{}", r.stdout);
    assert!(r.stderr.contains("2 dead-lettered"), "{}", r.stderr);
    let dead = std::fs::read_to_string(dir.path().join("bad.jsonl")).expect("dead-letter file");
    let lines: Vec<serde_json::Value> = dead.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["line"], 2);
    assert_eq!(lines[0]["row"], "2,x,2024-01-01 00:00:02");
    assert_eq!(lines[1]["line"], 3);
    assert!(lines[1]["reason"].as_str().unwrap_or_default().contains("yesterday"));
}

#[test]
fn sql_errors_exit_non_zero_with_a_caret() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("q.sql"), "SELECT 1;\nSELECT * FROM t WHERE;\n").expect("write");
    let r = wavecrest(&["run", "q.sql"], dir.path(), None);
    assert!(!r.ok);
    assert!(r.stderr.contains("SQL error at 2:22"), "{}", r.stderr);
    assert!(r.stderr.contains("  SELECT * FROM t WHERE;\n                       ^"), "{}", r.stderr);
}

#[test]
fn csv_mode_allows_one_select_to_stdout() {
    let dir = tempfile::tempdir().expect("tmp");
    let sql = "CREATE TABLE t (a BIGINT) WITH ('connector' = 'values');\nSELECT a FROM t;\nSELECT a FROM t;\n";
    std::fs::write(dir.path().join("q.sql"), sql).expect("write");
    let r = wavecrest(&["run", "--format", "json", "q.sql"], dir.path(), None);
    assert!(!r.ok);
    assert!(r.stderr.contains("at 3:1"), "{}", r.stderr);
    assert!(r.stderr.contains("only one SELECT writing to stdout"), "{}", r.stderr);
}

#[test]
fn insert_into_a_file_sink_and_statement_sets() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("in.csv"), "1,10,2024-01-01 00:00:01\n2,20,2024-01-01 00:01:02\n").expect("write");
    let sql = "CREATE TABLE t (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts)
                 WITH ('connector' = 'file', 'path' = 'in.csv', 'format' = 'csv');
               CREATE TABLE per_minute (ws TIMESTAMP(3), total BIGINT) WITH ('connector' = 'file', 'path' = 'out.csv', 'format' = 'csv');
               CREATE TABLE big (k BIGINT, v BIGINT) WITH ('connector' = 'file', 'path' = 'big.json', 'format' = 'json');
               INSERT INTO per_minute SELECT window_start, SUM(v)
                 FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end;
               INSERT INTO big SELECT k, v FROM t WHERE v > 15;";
    std::fs::write(dir.path().join("q.sql"), sql).expect("write");
    let r = wavecrest(&["run", "q.sql"], dir.path(), None);
    assert!(r.ok, "{}", r.stderr);
    // Append-only results written to a file have no op column.
    let out = std::fs::read_to_string(dir.path().join("out.csv")).expect("out.csv");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, vec!["2024-01-01 00:00:00.000,10", "2024-01-01 00:01:00.000,20"]);
    let big = std::fs::read_to_string(dir.path().join("big.json")).expect("big.json");
    assert_eq!(big.trim(), r#"{"k":2,"v":20}"#);
    // Both statements read the source once, as one job.
    assert!(r.stderr.contains("2 rows in"), "{}", r.stderr);
}

#[test]
fn piped_statements_run_in_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let sql = "CREATE TABLE t (a BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values');
               INSERT INTO t VALUES (1, TIMESTAMP '2024-01-01 00:00:00'), (2, TIMESTAMP '2024-01-01 00:00:01');
               SELECT window_start, SUM(a) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' HOUR)) GROUP BY window_start, window_end;";
    let r = wavecrest(&[], dir.path(), Some(sql));
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("2024-01-01 00:00:00.000"), "{}", r.stdout);
    assert!(r.stdout.trim_end().ends_with("| 3") || r.stdout.trim_end().ends_with(" 3"), "{}", r.stdout);
    let bad = wavecrest(&[], dir.path(), Some("SELEC 1;"));
    assert!(!bad.ok);
}

#[test]
fn stdin_connector_reads_data_under_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let sql = "CREATE TABLE t (k BIGINT, v BIGINT) WITH ('connector' = 'stdin', 'format' = 'csv');
               SELECT k, v * 10 AS v10 FROM t WHERE k > 1;";
    std::fs::write(dir.path().join("q.sql"), sql).expect("write");
    let r = wavecrest(&["run", "--format", "csv", "q.sql"], dir.path(), Some("1,1\n2,2\n3,3\n"));
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.stdout, "op,k,v10\n+I,2,20\n+I,3,30\n");
}

#[test]
fn ctrl_c_stops_an_unbounded_query_and_exits_zero() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tmp");
    let sql = "CREATE TABLE bid (auction BIGINT, price BIGINT, date_time TIMESTAMP(3))
                 WITH ('connector' = 'nexmark', 'nexmark.rate' = '2000');
               SELECT auction, price FROM bid;";
    std::fs::write(dir.path().join("q.sql"), sql).expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wavecrest"))
        .args(["run", "--format", "csv", "q.sql"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("header");
    assert_eq!(line, "op,auction,price\n");
    line.clear();
    stdout.read_line(&mut line).expect("a row");
    assert!(line.starts_with("+I,"), "{line}");
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("rest of stdout");
    let out = child.wait_with_output().expect("exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "Ctrl-C is a normal stop: {stderr}");
    assert!(stderr.contains("stopping (Ctrl-C") && stderr.contains("rows in"), "{stderr}");
    assert!(rest.lines().all(|l| l.starts_with("+I,")), "only whole rows after the stop");
}

#[test]
fn closing_stdout_early_does_not_truncate_the_other_queries_of_the_job() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tmp");
    let sql = "CREATE TABLE bid (auction BIGINT, price BIGINT, date_time TIMESTAMP(3))
                 WITH ('connector' = 'nexmark', 'nexmark.events' = '200000');
               CREATE TABLE out (auction BIGINT) WITH ('connector' = 'file', 'path' = 'out.csv', 'format' = 'csv');
               SELECT auction, price FROM bid;
               INSERT INTO out SELECT auction FROM bid;";
    std::fs::write(dir.path().join("q.sql"), sql).expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wavecrest"))
        .args(["run", "--format", "csv", "q.sql"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("header");
    // The reader goes away, like `| head -1`.
    let out = child.wait_with_output().expect("exits");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(dir.path().join("out.csv")).expect("out.csv");
    assert_eq!(written.lines().count(), 184_000, "46 of every 50 generator events are bids");
}
