//! The interactive shell, driven through a pseudo-terminal the way a person uses it, and
//! the non-interactive (piped stdin) mode of the same binary.

#![cfg(unix)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;
use expectrl::{ControlCode, Expect, Session};

const BIN: &str = env!("CARGO_BIN_EXE_wavecrest");

/// A memory table with one row, and the DDL's confirmation.
const SETUP: &str = "CREATE TABLE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'memory');";

/// Starts the shell in a pty, in `dir`, with its history file there.
fn shell(dir: &Path) -> OsSession {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).env("WAVECREST_HISTORY", dir.join("history")).env("TERM", "xterm").env_remove("NO_COLOR");
    let mut s = Session::spawn(cmd).expect("spawns the shell");
    s.get_process_mut().set_window_size(120, 40).expect("sets the window size");
    s.set_expect_timeout(Some(Duration::from_secs(60)));
    s.expect("wavecrest> ").expect("first prompt");
    s
}

fn line(s: &mut OsSession, text: &str) {
    s.send(text).expect("types");
    s.send("\r").expect("enter");
}

fn expect(s: &mut OsSession, what: &str) {
    if let Err(e) = s.expect(what) {
        panic!("expected {what:?} on the terminal: {e}");
    }
}

fn quit(mut s: OsSession) {
    line(&mut s, "\\q");
    let status = s.get_process().wait().expect("waits");
    assert!(matches!(status, WaitStatus::Exited(_, 0)), "{status:?}");
}

#[test]
fn multi_line_ddl_streaming_select_ctrl_c_then_another_query() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = shell(dir.path());
    line(&mut s, "CREATE TABLE bids (auction BIGINT, price BIGINT,");
    expect(&mut s, "..> ");
    line(&mut s, "  ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'memory');");
    expect(&mut s, "created table bids");
    expect(&mut s, "wavecrest> ");
    line(&mut s, "INSERT INTO bids VALUES (7, 70, TIMESTAMP '2024-01-01 00:00:01');");
    expect(&mut s, "inserted 1 row into bids");
    // An unbounded query streams at once, with the op column.
    line(&mut s, "SELECT auction, price * 10 AS tenfold FROM bids;");
    expect(&mut s, "op | auction | tenfold");
    expect(&mut s, "+I |       7 |     700");
    expect(&mut s, "rows out | watermark 2024-01-01 00:00:01.000");
    s.send(ControlCode::EndOfText).unwrap();
    expect(&mut s, "cancelled (1 row");
    expect(&mut s, "wavecrest> ");
    // The same session goes on: the table and its row are still there.
    line(&mut s, "SELECT price FROM bids WHERE auction = 7;");
    expect(&mut s, "+I |    70");
    s.send(ControlCode::EndOfText).unwrap();
    expect(&mut s, "cancelled");
    expect(&mut s, "wavecrest> ");
    quit(s);
}

#[test]
fn bounded_query_finishes_by_itself_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = shell(dir.path());
    line(&mut s, "CREATE TABLE v (a BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values');");
    expect(&mut s, "created table v");
    line(&mut s, "INSERT INTO v VALUES (1, TIMESTAMP '2024-01-01 00:00:00'), (2, TIMESTAMP '2024-01-01 00:00:01');");
    expect(&mut s, "inserted 2 rows into v");
    line(&mut s, "\\timing");
    expect(&mut s, "Timing is on.");
    line(&mut s, "SELECT a FROM v; SELECT a + 100 AS b FROM v;");
    expect(&mut s, "(2 rows, ");
    expect(&mut s, "late dropped)");
    expect(&mut s, "Time: ");
    expect(&mut s, "+I |  102");
    expect(&mut s, "(2 rows, ");
    line(&mut s, "EXPLAIN SELECT a FROM v WHERE a > 1;");
    expect(&mut s, "Filter");
    quit(s);
}

#[test]
fn errors_show_a_caret_and_a_hint_and_never_exit() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = shell(dir.path());
    line(&mut s, "SELECT * FROM nowhere;");
    expect(&mut s, "SQL error");
    expect(&mut s, "  SELECT * FROM nowhere;");
    expect(&mut s, "^");
    expect(&mut s, "hint: \\d lists the tables and views");
    line(&mut s, "CREATE TABLE oops (a BIGINT,");
    line(&mut s, "  b NOTATYPE) WITH ('connector' = 'memory');");
    expect(&mut s, "SQL error at 1:1: column type NOTATYPE is not supported");
    expect(&mut s, "  CREATE TABLE oops (a BIGINT,");
    expect(&mut s, "^");
    expect(&mut s, "hint: column types:");
    line(&mut s, "\\nonsense");
    expect(&mut s, "unknown command \\nonsense");
    line(&mut s, SETUP);
    expect(&mut s, "created table bids");
    quit(s);
}

#[test]
fn meta_commands_list_and_describe_tables_and_switch_formats() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = shell(dir.path());
    line(&mut s, SETUP);
    line(&mut s, "CREATE VIEW pricey AS SELECT auction FROM bids WHERE price > 100;");
    expect(&mut s, "created view pricey");
    line(&mut s, "\\d");
    expect(&mut s, "name   | kind");
    expect(&mut s, "bids   | table");
    expect(&mut s, "pricey | view");
    line(&mut s, "\\d bids");
    expect(&mut s, "auction | Int64");
    expect(&mut s, "WATERMARK");
    line(&mut s, "\\?");
    expect(&mut s, "\\fg N");
    // \i runs a file; \format csv and \o send rows to a file.
    std::fs::write(
        dir.path().join("more.sql"),
        "CREATE TABLE v (a BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values');\n\
         INSERT INTO v VALUES (5, TIMESTAMP '2024-01-01 00:00:00');\n",
    )
    .unwrap();
    line(&mut s, "\\i more.sql");
    expect(&mut s, "inserted 1 row into v");
    line(&mut s, "\\format csv");
    expect(&mut s, "Output format is csv.");
    line(&mut s, "\\o out.csv");
    expect(&mut s, "Results go to out.csv.");
    line(&mut s, "SELECT a FROM v;");
    expect(&mut s, "(1 row, ");
    line(&mut s, "\\o");
    expect(&mut s, "Results go to the terminal.");
    quit(s);
    assert_eq!(std::fs::read_to_string(dir.path().join("out.csv")).unwrap(), "op,a\n+I,5\n");
}

#[test]
fn history_is_kept_across_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = shell(dir.path());
    line(&mut s, "SHOW");
    line(&mut s, "TABLES;");
    expect(&mut s, "name | kind");
    quit(s);
    let saved = std::fs::read_to_string(dir.path().join("history")).unwrap();
    assert!(saved.contains("SHOW\\nTABLES;"), "{saved}");

    let mut s = shell(dir.path());
    // Up arrow recalls `\q`, then the statement (both lines as one entry).
    s.send("\x1b[A\x1b[A").unwrap();
    s.send("\r").unwrap();
    expect(&mut s, "name | kind");
    quit(s);
}

#[test]
fn tab_completes_table_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = shell(dir.path());
    line(&mut s, SETUP);
    expect(&mut s, "created table bids");
    line(&mut s, "INSERT INTO bids VALUES (3, 30, TIMESTAMP '2024-01-01 00:00:01');");
    expect(&mut s, "inserted 1 row");
    s.send("SELECT price FROM bi\t").unwrap();
    expect(&mut s, "bids");
    line(&mut s, ";");
    expect(&mut s, "+I |    30");
    s.send(ControlCode::EndOfText).unwrap();
    expect(&mut s, "cancelled");
    quit(s);
}

#[test]
fn background_jobs_see_inserted_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = shell(dir.path());
    line(&mut s, SETUP);
    expect(&mut s, "created table bids");
    line(&mut s, "\\bg");
    expect(&mut s, "The next query runs in the background.");
    line(&mut s, "SELECT auction, price FROM bids WHERE price > 10;");
    expect(&mut s, "[1] started in the background");
    line(
        &mut s,
        "INSERT INTO bids VALUES (4, 5, TIMESTAMP '2024-01-01 00:00:01'), (4, 44, TIMESTAMP '2024-01-01 00:00:02');",
    );
    expect(&mut s, "[1] +I |       4 |    44");
    line(&mut s, "\\jobs");
    expect(&mut s, "[1] | running | 1 ");
    line(&mut s, "\\kill 1");
    expect(&mut s, "[1] cancelled (1 row");
    line(&mut s, "\\jobs");
    expect(&mut s, "No background queries.");
    quit(s);
}

#[test]
fn ctrl_d_and_double_ctrl_c_exit() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = shell(dir.path());
    s.send(ControlCode::EndOfTransmission).unwrap();
    assert!(matches!(s.get_process().wait().unwrap(), WaitStatus::Exited(_, 0)));

    let mut s = shell(dir.path());
    s.send(ControlCode::EndOfText).unwrap();
    expect(&mut s, "Ctrl-C again");
    s.send(ControlCode::EndOfText).unwrap();
    assert!(matches!(s.get_process().wait().unwrap(), WaitStatus::Exited(_, 0)));
}

/// Runs the binary with `sql` on a piped stdin.
fn piped(sql: &str) -> (i32, String, String) {
    let mut child =
        Command::new(BIN).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawns");
    child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn piped_stdin_runs_statements_in_order_without_a_prompt() {
    let (code, out, err) = piped(
        "CREATE TABLE v (a BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values');
         INSERT INTO v VALUES (1, TIMESTAMP '2024-01-01 00:00:00');
         SELECT a * 3 AS b FROM v;",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "op |    b\n---+-----\n+I |    3\n");
    assert!(!out.contains("wavecrest>") && !err.contains("wavecrest>") && !err.contains("\x1b["), "{err}");
    assert!(err.find("created table v").unwrap() < err.find("inserted 1 row").unwrap(), "{err}");
}

#[test]
fn piped_stdin_exits_non_zero_on_error() {
    let (code, _, err) = piped("SELECT * FROM missing;");
    assert_ne!(code, 0);
    assert!(err.contains("SQL error") && err.contains('^'), "{err}");
}
