//! The `memory` connector: rows pushed while a query runs reach it live.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Int64Array, RecordBatch, TimestampMillisecondArray};
use wavecrest::runtime::Cancel;
use wavecrest::sink::collect::CollectSink;
use wavecrest::{Output, Session};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_pushed_while_running_fire_windows() {
    let mut session = Session::new();
    let sql = "CREATE TABLE live (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'memory');
               INSERT INTO live VALUES (1, TIMESTAMP '1970-01-01 00:00:01');
               SELECT window_start, k, COUNT(*) FROM TABLE(TUMBLE(TABLE live, DESCRIPTOR(ts), INTERVAL '10' SECOND))
               GROUP BY window_start, window_end, k;";
    let queries: Vec<_> = session.sql(sql).expect("executes").into_iter().filter_map(Output::continuous).collect();
    let log = session.memory_table("live").expect("a memory table");
    let schema = session.planner().table("live").expect("table").physical_schema.clone();
    let sink = CollectSink::new();
    let s2 = sink.clone();
    let cancel = Cancel::new();
    let run = session.run(queries, move |_| Ok(Box::new(s2.clone()) as _), false, cancel.clone());
    let drive = async {
        let push = |k: i64, ms: i64| {
            let b = RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from(vec![k])), Arc::new(TimestampMillisecondArray::from(vec![ms]))],
            )
            .expect("batch");
            log.push(b).expect("push");
        };
        push(1, 2_000);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(sink.rows().expect("rows").is_empty(), "the window is still open");
        push(2, 15_000); // the watermark passes 10 s: [0,10) fires with the two k = 1 rows
        for _ in 0..200 {
            if !sink.rows().expect("rows").is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(run, drive);
    result.expect("runs until cancelled");
    let rows = sink.rows().expect("rows");
    assert_eq!(rows, vec![vec!["+I", "1970-01-01 00:00:00.000", "1", "2"]], "[10,20) stays open after cancel");
}
