//! Operator tests of [`super::MatchRecognize`]: timing, lateness, timeouts, state and
//! snapshots.

use super::*;
use crate::plan::pipeline::OpSpec;
use crate::plan::Planner;
use crate::sink::collect::chunks_to_strings;
use crate::sql::{parse_statements, Statement};
use datafusion::arrow::array::{Int64Array, TimestampMillisecondArray};
use datafusion::arrow::datatypes::SchemaRef;

const S: i64 = 1000;
const NONE: i64 = i64::MIN;

/// The operator of `SELECT * FROM t MATCH_RECOGNIZE (PARTITION BY k ORDER BY ts <clause>)`
/// over `t (k BIGINT, v BIGINT, ts TIMESTAMP(3))`.
fn op(clause: &str) -> (MatchRecognize, SchemaRef) {
    let mut planner = Planner::new();
    let sql = format!(
        "CREATE TABLE t (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values');
         SELECT * FROM t MATCH_RECOGNIZE (PARTITION BY k ORDER BY ts {clause});"
    );
    let stmts = parse_statements(&sql).unwrap();
    let Statement::CreateTable(ct) = &stmts[0].statement else { panic!() };
    planner.create_table(ct).unwrap();
    let Statement::Query(q) = &stmts[1].statement else { panic!() };
    let plan = planner.plan_query(q).unwrap();
    let input = planner.table("t").unwrap().schema.clone();
    let spec = plan
        .stages
        .iter()
        .flat_map(|s| &s.ops)
        .find_map(|o| match o {
            OpSpec::MatchRecognize { spec, .. } => Some(Arc::clone(spec)),
            _ => None,
        })
        .unwrap();
    (MatchRecognize::try_new(spec).unwrap(), input)
}

/// `A B C` over values 1, 2, 3, reporting the first and last time and the number of Bs.
const ABC: &str = "MEASURES FIRST(ts) AS first_ts, LAST(ts) AS last_ts, COUNT(B.*) AS nb
    PATTERN (A B+ C) DEFINE A AS v = 1, B AS v = 2, C AS v = 3";

/// Rows (k, v, ts) with the watermark before each row.
fn chunk(schema: &SchemaRef, rows: &[(i64, i64, i64, i64)]) -> Chunk {
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(TimestampMillisecondArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
        ],
    )
    .unwrap();
    let wm = Int64Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>());
    Chunk { batch, row_watermarks: Some(Arc::new(wm)), ops: None }
}

fn text(chunks: &[Chunk]) -> Vec<String> {
    chunks_to_strings(chunks).unwrap().into_iter().map(|r| r.join(" ")).collect()
}

#[test]
fn the_watermark_passed_on_stays_below_every_match_still_to_come() {
    let (mut m, schema) = op(ABC);
    assert_eq!(m.output_watermark(5 * S), NONE, "nothing passed on before the first watermark");
    // Partition 1 starts a match at 2 s (A, B); partition 2 has only a row at 6 s.
    m.on_chunk(chunk(&schema, &[(1, 1, 2 * S, NONE), (1, 2, 3 * S, 2 * S), (2, 9, 6 * S, 3 * S)])).unwrap();
    assert!(m.on_watermark(8 * S).unwrap().is_empty());
    assert_eq!(m.output_watermark(8 * S), 2 * S - 1, "held below the A at 2 s");
    // C at 9 s completes the match (last row 9 s); the next search starts after it.
    m.on_chunk(chunk(&schema, &[(1, 3, 9 * S, 8 * S)])).unwrap();
    let out = m.on_watermark(12 * S).unwrap();
    assert_eq!(text(&out).len(), 1);
    assert_eq!(m.output_watermark(12 * S), 12 * S - 1, "nothing held: the input watermark, less the tie");
    assert_eq!(m.output_watermark(11 * S), 11 * S, "never above the input");
    m.on_watermark(i64::MAX).unwrap();
    assert_eq!(m.output_watermark(i64::MAX), i64::MAX);
}

#[test]
fn a_match_is_emitted_when_the_watermark_passes_its_last_row() {
    let (mut m, schema) = op(ABC);
    let rows = [(1, 1, S, NONE), (1, 2, 2 * S, S), (1, 2, 3 * S, 2 * S), (1, 3, 4 * S, 3 * S)];
    assert!(m.on_chunk(chunk(&schema, &rows)).unwrap().is_empty(), "nothing before a watermark");
    assert!(m.on_watermark(4 * S - 1).unwrap().is_empty(), "the C row is not final yet");
    let out = m.on_watermark(4 * S).unwrap();
    assert_eq!(text(&out), vec!["+I 1 1970-01-01 00:00:01.000 1970-01-01 00:00:04.000 2"]);
    assert!(m.on_watermark(i64::MAX).unwrap().is_empty(), "emitted once");
}

#[test]
fn out_of_order_rows_within_the_delay_are_matched_in_event_time_order() {
    let (mut m, schema) = op(ABC);
    // Arrival order C, B, A, B: all at or after the watermark before them.
    let rows = [(1, 3, 4 * S, 0), (1, 2, 2 * S, 0), (1, 1, S, 0), (1, 2, 3 * S, 0)];
    // Split into single-row chunks: batch boundaries do not matter.
    for r in rows {
        assert!(m.on_chunk(chunk(&schema, &[r])).unwrap().is_empty());
    }
    let out = m.on_watermark(10 * S).unwrap();
    assert_eq!(text(&out), vec!["+I 1 1970-01-01 00:00:01.000 1970-01-01 00:00:04.000 2"]);
    assert_eq!(m.late_rows(), 0);
}

#[test]
fn a_row_behind_the_watermark_before_it_is_late_and_dropped() {
    let (mut m, schema) = op(ABC);
    m.on_chunk(chunk(&schema, &[(1, 1, S, NONE), (1, 2, 5 * S, S)])).unwrap();
    // The B at 2 s comes after the watermark reached 5 s: late, so A (1 s) B (5 s) is
    // followed by nothing that completes the match.
    m.on_chunk(chunk(&schema, &[(1, 2, 2 * S, 5 * S), (1, 3, 6 * S, 5 * S)])).unwrap();
    let out = m.on_watermark(i64::MAX).unwrap();
    assert_eq!(m.late_rows(), 1);
    assert_eq!(text(&out), vec!["+I 1 1970-01-01 00:00:01.000 1970-01-01 00:00:06.000 1"]);
}

#[test]
fn a_greedy_match_waits_until_it_cannot_grow() {
    let (mut m, schema) = op("MEASURES COUNT(B.*) AS nb PATTERN (A B+) DEFINE A AS v = 1, B AS v = 2");
    m.on_chunk(chunk(&schema, &[(1, 1, S, NONE), (1, 2, 2 * S, S), (1, 2, 3 * S, 2 * S)])).unwrap();
    assert!(m.on_watermark(3 * S).unwrap().is_empty(), "B+ may still take the next row");
    m.on_chunk(chunk(&schema, &[(1, 0, 4 * S, 3 * S)])).unwrap();
    assert_eq!(text(&m.on_watermark(4 * S).unwrap()), vec!["+I 1 2"]);
    // A reluctant B+? is decided as soon as one B is final.
    let (mut m, schema) = op("MEASURES COUNT(B.*) AS nb PATTERN (A B+?) DEFINE A AS v = 1, B AS v = 2");
    m.on_chunk(chunk(&schema, &[(1, 1, S, NONE), (1, 2, 2 * S, S), (1, 2, 3 * S, 2 * S)])).unwrap();
    assert_eq!(text(&m.on_watermark(2 * S).unwrap()), vec!["+I 1 1"]);
}

#[test]
fn within_ends_a_match_once_the_watermark_passes_start_plus_interval() {
    let (mut m, schema) =
        op("MEASURES COUNT(B.*) AS nb PATTERN (A B*) WITHIN INTERVAL '2' SECOND DEFINE A AS v = 1, B AS v = 2");
    m.on_chunk(chunk(&schema, &[(1, 1, S, NONE), (1, 2, S + 500, S)])).unwrap();
    // A row at 2.999 s could still be a B: B* waits.
    assert!(m.on_watermark(3 * S - 1).unwrap().is_empty());
    // From 3 s on no row can join a match that started at 1 s: emitted without a next row.
    assert_eq!(text(&m.on_watermark(3 * S).unwrap()), vec!["+I 1 1"]);
    assert_eq!(m.held_rows(), 0);
}

/// "An A not followed by a B within 5 s", reporting timeouts.
const ABSENCE: &str = "MEASURES FIRST(ts) AS a_ts, COUNT(*) AS n, MATCH_TIMED_OUT() AS timed_out
    PATTERN (A X*? B) WITHIN INTERVAL '5' SECOND EMIT TIMEOUTS DEFINE A AS v = 1, B AS v = 2";

#[test]
fn a_timeout_is_emitted_exactly_when_the_watermark_reaches_start_plus_interval() {
    let (mut m, schema) = op(ABSENCE);
    m.on_chunk(chunk(&schema, &[(1, 1, S, NONE), (1, 0, 2 * S, S)])).unwrap();
    assert!(m.on_watermark(6 * S - 1).unwrap().is_empty(), "a B at 5.999 s could still complete it");
    // A B at 6 s is too late for the A at 1 s (the last row must be < 1 s + 5 s).
    m.on_chunk(chunk(&schema, &[(1, 2, 6 * S, 6 * S - 1)])).unwrap();
    assert_eq!(text(&m.on_watermark(6 * S).unwrap()), vec!["+I 1 1970-01-01 00:00:01.000 2 true"]);
    // A complete match reports false.
    m.on_chunk(chunk(&schema, &[(1, 1, 10 * S, 6 * S), (1, 2, 12 * S, 10 * S)])).unwrap();
    assert_eq!(text(&m.on_watermark(12 * S).unwrap()), vec!["+I 1 1970-01-01 00:00:10.000 2 false"]);
    // At the end of input a partial match whose interval has not passed fails silently.
    m.on_chunk(chunk(&schema, &[(1, 1, 20 * S, 12 * S), (1, 0, 22 * S, 20 * S)])).unwrap();
    assert!(m.on_watermark(22 * S).unwrap().is_empty());
    assert!(m.on_watermark(i64::MAX).unwrap().is_empty());
}

#[test]
fn timeouts_do_not_depend_on_how_far_the_watermark_jumps() {
    // Rows beyond the deadline are already final when the watermark jumps past it: the
    // timed-out match still holds only the rows before the deadline.
    let (mut m, schema) = op(ABSENCE);
    let rows = [(1, 1, S, NONE), (1, 0, 3 * S, S), (1, 0, 7 * S, 3 * S), (1, 2, 8 * S, 7 * S)];
    m.on_chunk(chunk(&schema, &rows)).unwrap();
    assert_eq!(text(&m.on_watermark(9 * S).unwrap()), vec!["+I 1 1970-01-01 00:00:01.000 2 true"]);
}

#[test]
fn snapshot_and_restore_keep_a_pending_timeout() {
    let (mut a, schema) = op(ABSENCE);
    a.on_chunk(chunk(&schema, &[(1, 1, S, NONE), (1, 0, 2 * S, S), (1, 0, 4 * S, 2 * S)])).unwrap();
    assert!(a.on_watermark(4 * S).unwrap().is_empty());
    let snap = a.snapshot().unwrap();
    let expected = text(&a.on_watermark(6 * S).unwrap());
    assert_eq!(expected, vec!["+I 1 1970-01-01 00:00:01.000 3 true"]);

    let (mut b, _) = op(ABSENCE);
    b.restore(&snap).unwrap();
    assert!(b.on_watermark(6 * S - 1).unwrap().is_empty());
    assert_eq!(text(&b.on_watermark(6 * S).unwrap()), expected);
}

#[test]
fn with_further_order_keys_a_row_at_the_watermark_is_not_final() {
    let (mut m, schema) = op(", v MEASURES COUNT(*) AS n PATTERN (A B) DEFINE A AS v = 1, B AS v = 2");
    m.on_chunk(chunk(&schema, &[(1, 2, S, NONE)])).unwrap();
    assert!(m.on_watermark(S).unwrap().is_empty());
    // Same time, smaller v: it sorts first although it arrived second.
    m.on_chunk(chunk(&schema, &[(1, 1, S, S)])).unwrap();
    assert_eq!(text(&m.on_watermark(S + 1).unwrap()), vec!["+I 1 2"]);
}

#[test]
fn partitions_match_independently() {
    let (mut m, schema) = op(ABC);
    let rows = [(1, 1, S, NONE), (2, 1, S, NONE), (2, 2, 2 * S, S), (1, 3, 2 * S, S), (2, 3, 3 * S, 2 * S)];
    m.on_chunk(chunk(&schema, &rows)).unwrap();
    let out = m.on_watermark(i64::MAX).unwrap();
    assert_eq!(text(&out), vec!["+I 2 1970-01-01 00:00:01.000 1970-01-01 00:00:03.000 1"]);
}

#[test]
fn state_holds_only_rows_a_match_may_still_use() {
    let (mut m, schema) = op("MEASURES COUNT(*) AS n PATTERN (A B) DEFINE A AS v > PREV(v, 2), B AS v = 3");
    let rows: Vec<_> = (0..1000).map(|i| (1, 0, i * S, (i - 1) * S)).collect();
    m.on_chunk(chunk(&schema, &rows)).unwrap();
    assert!(m.on_watermark(999 * S).unwrap().is_empty());
    // Every final row was tried as a start and failed; only the two rows PREV(v, 2) can
    // read from the next row are kept.
    assert_eq!(m.held_rows(), 2);
}

#[test]
fn snapshot_and_restore_keep_partial_matches_and_match_numbers() {
    let clause =
        "MEASURES MATCH_NUMBER() AS n, COUNT(B.*) AS nb PATTERN (A B+ C) DEFINE A AS v = 1, B AS v = 2, C AS v = 3";
    let (mut a, schema) = op(clause);
    a.on_chunk(chunk(&schema, &[(1, 1, S, NONE), (1, 2, 2 * S, S), (1, 3, 3 * S, 2 * S)])).unwrap();
    assert_eq!(text(&a.on_watermark(3 * S).unwrap()), vec!["+I 1 1 1"]);
    // A partial match (A B) final, a B pending, and a late row counted.
    a.on_chunk(chunk(&schema, &[(1, 1, 4 * S, 3 * S), (1, 2, 5 * S, 4 * S), (1, 2, 6 * S, 5 * S), (1, 9, S, 6 * S)]))
        .unwrap();
    assert!(a.on_watermark(5 * S).unwrap().is_empty());
    let snap = a.snapshot().unwrap();
    let next = [(1, 3, 7 * S, 6 * S)];
    a.on_chunk(chunk(&schema, &next)).unwrap();
    let expected = text(&a.on_watermark(i64::MAX).unwrap());
    assert_eq!(expected, vec!["+I 1 2 2"]);

    let (mut b, _) = op(clause);
    b.restore(&snap).unwrap();
    assert_eq!(b.late_rows(), 1);
    b.on_chunk(chunk(&schema, &next)).unwrap();
    assert_eq!(text(&b.on_watermark(i64::MAX).unwrap()), expected);
}

#[test]
fn navigation_over_an_expression_survives_snapshot_and_restore() {
    let clause = "MEASURES LAST(B.v * 10 + B.k) AS code, PREV(A.v - 5) AS before
        PATTERN (A B) DEFINE A AS v = 1, B AS v * 2 > PREV(v * 2)";
    let (mut a, schema) = op(clause);
    // The A row is final and held, the B row pending when the snapshot is taken.
    a.on_chunk(chunk(&schema, &[(1, 7, S / 2, NONE), (1, 1, S, S / 2), (1, 3, 2 * S, S)])).unwrap();
    assert!(a.on_watermark(S).unwrap().is_empty());
    let snap = a.snapshot().unwrap();
    let expected = text(&a.on_watermark(i64::MAX).unwrap());
    assert_eq!(expected, vec!["+I 1 31 2"]);

    let (mut b, _) = op(clause);
    b.restore(&snap).unwrap();
    assert_eq!(b.held_rows(), 3, "the A row, the row before it (PREV), the pending B row");
    assert_eq!(text(&b.on_watermark(i64::MAX).unwrap()), expected);
}
