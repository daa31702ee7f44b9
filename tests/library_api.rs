//! The library as an embedder uses it: plan without a runtime, push batches and
//! watermarks by hand, subscribe from two consumers, use a custom UDF inside a window.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use futures::StreamExt;
use wavecrest::sink::collect::chunks_to_strings;
use wavecrest::sql::parse_statements;
use wavecrest::{ErrorKind, Output, Session};

fn session(sql: &str) -> (Session, Vec<wavecrest::Continuous>) {
    let mut session = Session::new();
    let queries: Vec<_> = session.sql(sql).expect("executes").into_iter().filter_map(Output::continuous).collect();
    (session, queries)
}

const DDL: &str = "CREATE TABLE ev (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
                   WITH ('connector' = 'memory');";

fn rows(session: &Session, rows: &[(i64, i64, i64)]) -> RecordBatch {
    let schema = session.planner().table("ev").expect("table").physical_schema.clone();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(TimestampMillisecondArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
        ],
    )
    .expect("batch")
}

#[test]
fn plan_without_a_runtime() {
    let (session, queries) = session(&format!(
        "{DDL} SELECT window_start, k, COUNT(*) AS n FROM TABLE(HOP(TABLE ev, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '5' SECOND)) GROUP BY window_start, window_end, k;"
    ));
    let plan = &queries[0].plan;
    assert!(plan.append_only);
    let names: Vec<&str> = plan.schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, vec!["window_start", "k", "n"]);
    assert!(plan.explain(2).contains("WindowAggregate: HOP(slide=1s, size=5s)"), "{}", plan.explain(2));
    // Typed errors with positions.
    let stmts = parse_statements("SELECT nope FROM ev").expect("parses");
    let mut s = session;
    let err = s.execute(&stmts[0]).expect_err("unknown column");
    assert_eq!(err.kind, ErrorKind::Sql);
    assert!(err.location.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_batches_and_watermarks_by_hand_with_two_subscribers() {
    let (session, mut queries) = session(&format!(
        "{DDL} SELECT window_start, k, SUM(v) AS total FROM TABLE(TUMBLE(TABLE ev, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end, k;"
    ));
    let log = session.memory_table("ev").expect("memory table");
    let mut running = session.start(queries.remove(0), 2).expect("starts");
    let mut second = running.subscriptions.pop().expect("two");
    let mut first = running.subscriptions.pop().expect("two");
    log.push(rows(&session, &[(1, 10, 1_000), (1, 5, 4_000), (2, 7, 8_000)])).expect("push");
    // The rows alone hold the watermark at 8 s - 5 s: the producer declares time itself.
    log.push_watermark(10_000).expect("watermark");
    let a = first.next().await.expect("a window fired");
    let b = second.next_chunk().await.expect("the same rows for the second subscriber");
    let mut got = chunks_to_strings(&[a]).expect("rows");
    got.sort();
    assert_eq!(
        got,
        chunks_to_strings(&[b])
            .map(|mut r| {
                r.sort();
                r
            })
            .expect("rows")
    );
    assert_eq!(
        got,
        vec![vec!["+I", "1970-01-01 00:00:00.000", "1", "15"], vec!["+I", "1970-01-01 00:00:00.000", "2", "7"]]
    );
    // A row for the fired window is late: dropped and counted, nothing emitted.
    log.push(rows(&session, &[(1, 100, 2_000)])).expect("push");
    log.push_watermark(10_100).expect("watermark");
    for _ in 0..100 {
        if running.metrics().late_dropped.load(std::sync::atomic::Ordering::Relaxed) > 0
            || running.metrics().rows_in() == 4
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let metrics = running.metrics();
    running.cancel();
    drop(first);
    drop(second);
    running.wait().await.expect("stops cleanly");
    assert_eq!(metrics.rows_in(), 4);
    assert_eq!(metrics.late_dropped.load(std::sync::atomic::Ordering::Relaxed), 1);
}

/// `triple(x) = 3 x`, a user scalar function.
fn triple() -> datafusion::logical_expr::ScalarUDF {
    create_udf(
        "triple",
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = args[0].to_array(1)?;
            let a = a.as_any().downcast_ref::<Int64Array>().expect("int64");
            Ok(ColumnarValue::Array(Arc::new(a.iter().map(|v| v.map(|v| v * 3)).collect::<Int64Array>())))
        }),
    )
}

/// Runs the continuous statement of `sql` in `session` to completion; its rows.
async fn run_one(session: &mut Session, sql: &str) -> Vec<Vec<String>> {
    let mut queries: Vec<_> = session.sql(sql).expect("executes").into_iter().filter_map(Output::continuous).collect();
    let mut running = session.start(queries.remove(0), 1).expect("starts");
    let sub = running.subscriptions.pop().expect("one");
    let chunks: Vec<_> = sub.collect().await;
    running.wait().await.expect("ends");
    chunks_to_strings(&chunks).expect("rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_udf_inside_a_window() {
    let mut session = Session::new();
    session.register_udf(triple());
    let sql = "CREATE TABLE t (v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values');
               INSERT INTO t VALUES (1, TIMESTAMP '2024-01-01 00:00:01'), (2, TIMESTAMP '2024-01-01 00:00:02');
               SELECT window_start, SUM(triple(v)) AS s FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
               GROUP BY window_start, window_end;";
    assert_eq!(run_one(&mut session, sql).await, vec![vec!["+I", "2024-01-01 00:00:00.000", "9"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_udf_inside_define_and_measures() {
    let mut session = Session::new();
    session.register_udf(triple());
    // A: triple(v) > 10 (v >= 4); B+: rows whose triple does not exceed the previous row's.
    let sql = "CREATE TABLE t (v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values');
               INSERT INTO t VALUES (1, TIMESTAMP '2024-01-01 00:00:01'), (5, TIMESTAMP '2024-01-01 00:00:02'),
                 (4, TIMESTAMP '2024-01-01 00:00:03'), (4, TIMESTAMP '2024-01-01 00:00:04'),
                 (9, TIMESTAMP '2024-01-01 00:00:05');
               SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts
                 MEASURES A.v AS a, triple(LAST(B.v)) AS last_b3, COUNT(B.*) AS n
                 PATTERN (A B+) DEFINE A AS triple(v) > 10, B AS triple(v) <= triple(PREV(v)));";
    // From 5 (A): 4, 4 fall or stay (B+), 9 rises: one match, a = 5, last B = 4 -> 12, 2 rows.
    assert_eq!(run_one(&mut session, sql).await, vec![vec!["+I", "5", "12", "2"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serialised_plan_runs_the_same_in_a_fresh_engine() {
    let mut session = Session::new();
    session
        .sql(
            "SET 'parallelism' = '2';
             CREATE TABLE t (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values');
             INSERT INTO t VALUES (1, 5, TIMESTAMP '2024-01-01 00:00:01'), (2, 6, TIMESTAMP '2024-01-01 00:00:02'),
                                  (1, 7, TIMESTAMP '2024-01-01 00:01:03');",
        )
        .expect("catalog");
    let query = "SELECT window_start, k, SUM(v) AS s FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '30' SECOND, INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, k";
    let spec = session.plan_spec(query).expect("spec");
    let json = serde_json::to_string(&spec).expect("serialises");
    let (fresh, loaded) = serde_json::from_str::<wavecrest::PlanSpec>(&json).expect("parses").load().expect("loads");
    assert!(loaded.plan.is_stateful());
    assert_eq!(loaded.plan.operators(), vec!["WindowAggregate", "Project"]);

    async fn rows(session: &Session, q: wavecrest::Continuous) -> Vec<Vec<String>> {
        let mut running = session.start(q, 1).expect("starts");
        let chunks: Vec<_> = running.subscriptions.pop().expect("one").collect().await;
        running.wait().await.expect("ends");
        let mut r = chunks_to_strings(&chunks).expect("rows");
        r.sort();
        r
    }
    let original = wavecrest::Continuous {
        plan: session.planner().plan_sql(query).expect("plans"),
        target: wavecrest::Target::Client,
    };
    let expected = rows(&session, original).await;
    assert_eq!(expected.len(), 6, "two HOP windows per row; rows 1 and 2 share theirs: {expected:?}");
    assert_eq!(rows(&fresh, loaded).await, expected);

    // A spec whose catalog no longer gives the same plan is refused.
    let mut changed = spec.clone();
    changed.statements[1] =
        changed.statements[1].replace("WATERMARK FOR ts", "WATERMARK FOR ts AS ts - INTERVAL '1' SECOND");
    changed.query = changed.query.replace("INTERVAL '30' SECOND", "INTERVAL '20' SECOND");
    assert!(changed.load().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_row_pushed_by_hand_corrects_a_fired_window() {
    let mut session = Session::new();
    let mut out = session
        .sql(
            "CREATE TABLE ev (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts)
               WITH ('connector' = 'memory', 'lateness' = '1 min');
             SELECT window_start, k, SUM(v) AS total FROM TABLE(TUMBLE(TABLE ev, DESCRIPTOR(ts), INTERVAL '10' SECOND))
             GROUP BY window_start, window_end, k;",
        )
        .expect("plans");
    let Some(Output::Continuous(query)) = out.pop() else { panic!("a query") };
    assert!(!query.plan.append_only, "corrections make it an updating query");
    let log = session.memory_table("ev").expect("memory table");
    let mut running = session.start(query, 1).expect("starts");
    let mut results = running.subscriptions.pop().expect("one");
    log.push(rows(&session, &[(1, 10, 1_000)])).expect("push");
    log.push_watermark(15_000).expect("watermark");
    let fired = results.next().await.expect("the window fires");
    assert_eq!(chunks_to_strings(&[fired]).expect("rows"), vec![vec!["+I", "1970-01-01 00:00:00.000", "1", "10"]]);
    // 2 s is behind the watermark, but within the minute of lateness: a correction.
    log.push(rows(&session, &[(1, 5, 2_000)])).expect("push");
    let corrected = results.next().await.expect("a correction");
    assert_eq!(
        chunks_to_strings(&[corrected]).expect("rows"),
        vec![vec!["-U", "1970-01-01 00:00:00.000", "1", "10"], vec!["+U", "1970-01-01 00:00:00.000", "1", "15"]]
    );
    running.cancel();
    drop(results);
    running.wait().await.expect("stops");
}
