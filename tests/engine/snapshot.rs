//! Snapshot/restore round trip for every operator: a query's operator chain is run over a
//! random stream, snapshotted at a random point, and a fresh chain restored from the
//! snapshot runs the rest; its output must equal what the uninterrupted chain emitted
//! after that point. The queries cover every operator kind (the test fails if a new kind
//! is not covered), with late rows, corrections and late side output in play.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::datatypes::SchemaRef;
use proptest::prelude::*;
use wavecrest::exec::operator::{push_chunk, push_end, push_watermark, Operator};
use wavecrest::exec::watermark_assigner::WatermarkAssigner;
use wavecrest::exec::Chunk;
use wavecrest::plan::QueryPlan;
use wavecrest::sink::collect::chunks_to_strings;
use wavecrest::Session;

use super::oracle::{cases, BASE};

const QUERIES: &[&str] = &[
    "SELECT k, v * 2 FROM ev WHERE v > 0",
    "SELECT window_start, k, COUNT(*), SUM(v), MAX(v) FROM TABLE(HOP(TABLE ev, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '3' SECOND)) GROUP BY window_start, window_end, k",
    "SELECT window_start, k, SUM(v) FROM TABLE(TUMBLE(TABLE ev, DESCRIPTOR(ts), INTERVAL '2' SECOND)) GROUP BY window_start, window_end, k EMIT EVERY INTERVAL '500' MILLISECOND",
    "SELECT window_start, k, v FROM TABLE(CUMULATE(TABLE ev, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '3' SECOND))",
    "SELECT k, COUNT(*), SUM(v) FROM ev GROUP BY k HAVING SUM(v) > 0",
    "SELECT n, COUNT(*) FROM (SELECT k, COUNT(*) AS n FROM ev GROUP BY k) GROUP BY n",
    "SELECT window_start, window_end, k, COUNT(*), SUM(v) FROM TABLE(SESSION(TABLE ev PARTITION BY k, DESCRIPTOR(ts), INTERVAL '700' MILLISECOND)) GROUP BY window_start, window_end, k",
    "SELECT window_end, k, SUM(v) FROM TABLE(SLIDE(TABLE ev PARTITION BY k, DESCRIPTOR(ts), INTERVAL '2' SECOND)) GROUP BY window_start, window_end, k",
    "SELECT k, v, SUM(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM ev",
    "SELECT k, v FROM TABLE(DEDUPLICATE(TABLE ev, DESCRIPTOR(k, v)))",
    "SELECT window_start, APPROX_COUNT_DISTINCT(v) FROM TABLE(TUMBLE(TABLE ev, DESCRIPTOR(ts), INTERVAL '2' SECOND)) GROUP BY window_start, window_end",
    "SELECT * FROM ev MATCH_RECOGNIZE (PARTITION BY k ORDER BY ts MEASURES FIRST(A.v) AS a, LAST(B.v) AS b, COUNT(B.*) AS n
       PATTERN (A B+ C?) DEFINE A AS v < 5, B AS v >= PREV(v), C AS v < PREV(v))",
];

/// The session: `ev` with a 1 s watermark delay, 1 s of allowed lateness and late rows
/// routed to a side output (so the late split runs too).
fn session() -> Session {
    let mut session = Session::new();
    session
        .sql(
            "CREATE TABLE ev (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
             WITH ('connector' = 'values', 'lateness' = '1 s', 'late.policy' = 'side-output')",
        )
        .expect("DDL");
    session
}

fn build(plan: &QueryPlan) -> Vec<Box<dyn Operator>> {
    plan.stages.iter().flat_map(|s| s.ops.iter().map(|o| o.build().expect("operator"))).collect()
}

/// Feeds `batches` through `ops`, watermarks assigned at the source; returns output lines.
fn feed(ops: &mut [Box<dyn Operator>], assigner: &mut WatermarkAssigner, batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for batch in batches {
        let before = assigner.current();
        let chunk = assigner.assign(Chunk::inserts(batch.clone())).expect("assign");
        out.extend(push_chunk(ops, chunk).expect("chunk"));
        if assigner.current() > before {
            out.extend(push_watermark(ops, assigner.current()).expect("watermark"));
        }
    }
    lines(&out)
}

fn finish(ops: &mut [Box<dyn Operator>]) -> Vec<String> {
    let mut out = push_watermark(ops, i64::MAX).expect("final watermark");
    out.extend(push_end(ops).expect("end"));
    lines(&out)
}

fn lines(chunks: &[Chunk]) -> Vec<String> {
    chunks_to_strings(chunks).expect("rows").into_iter().map(|r| r.join(" ")).collect()
}

fn batches(schema: &SchemaRef, events: &[(i64, i64, i64)], size: usize) -> Vec<RecordBatch> {
    events
        .chunks(size)
        .map(|part| {
            let col = |f: fn(&(i64, i64, i64)) -> i64| part.iter().map(f).collect::<Vec<_>>();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(col(|e| e.0))),
                    Arc::new(Int64Array::from(col(|e| e.1))),
                    Arc::new(TimestampMillisecondArray::from(col(|e| e.2))),
                ],
            )
            .expect("batch")
        })
        .collect()
}

/// (k, v, ts): times advancing in 100 ms steps, some rows up to 3 s behind (late, some
/// beyond the lateness).
fn events_strategy() -> impl Strategy<Value = Vec<(i64, i64, i64)>> {
    proptest::collection::vec((0i64..3, -5i64..20, 0i64..4, 0i64..30, 0..6u8), 10..150).prop_map(|ev| {
        let mut t = BASE;
        ev.into_iter()
            .map(|(k, v, step, back, late)| {
                t += step * 100;
                (k, v, if late == 0 { t - back * 100 } else { t })
            })
            .collect()
    })
}

#[test]
fn the_queries_cover_every_operator() {
    let session = session();
    let covered: BTreeSet<&str> =
        QUERIES.iter().flat_map(|q| session.planner().plan_sql(q).expect("plans").operators()).collect();
    let all = [
        "Filter",
        "Project",
        "WindowAssign",
        "WindowAggregate",
        "UpdatingAggregate",
        "LateSplit",
        "Deduplicate",
        "SessionAggregate",
        "SlideAggregate",
        "MatchRecognize",
    ];
    for op in all {
        assert!(covered.contains(op), "no query uses {op}");
    }
    assert!(covered.iter().all(|op| all.contains(op)), "an operator kind is missing from this test: {covered:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn restored_operators_continue_like_the_originals(
        q in 0..QUERIES.len(),
        events in events_strategy(),
        size in 1usize..20,
        cut in 0.0f64..1.0,
    ) {
        let session = session();
        let plan = session.planner().plan_sql(QUERIES[q]).expect("plans");
        let schema = session.planner().table("ev").expect("ev").schema.clone();
        let wm = session.planner().source_plan("ev").expect("source").watermark.expect("watermark");
        let input = batches(&schema, &events, size);
        let at = ((input.len() as f64) * cut) as usize;
        let (first, rest) = input.split_at(at);

        let mut ops = build(&plan);
        let mut assigner = WatermarkAssigner::new(Arc::clone(&wm));
        feed(&mut ops, &mut assigner, first);
        let snapshots: Vec<Vec<u8>> = ops.iter_mut().map(|o| o.snapshot().expect("snapshot")).collect();
        let watermark = assigner.current();
        let mut expected = feed(&mut ops, &mut assigner, rest);
        expected.extend(finish(&mut ops));

        let mut restored = build(&plan);
        for (op, state) in restored.iter_mut().zip(&snapshots) {
            op.restore(state).expect("restore");
        }
        let mut assigner = WatermarkAssigner::new(wm);
        assigner.advance_to(watermark);
        let mut got = feed(&mut restored, &mut assigner, rest);
        got.extend(finish(&mut restored));
        prop_assert_eq!(got, expected, "{}", QUERIES[q]);
        let late = |ops: &[Box<dyn Operator>]| ops.iter().map(|o| o.late_rows()).sum::<u64>();
        prop_assert_eq!(late(&restored), late(&ops), "late counts survive the snapshot");
    }
}
