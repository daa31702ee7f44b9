//! Keyed parallelism: rows and state are really split across workers, and the results do
//! not depend on the number of workers.

use wavecrest::runtime::Cancel;
use wavecrest::sink::collect::CollectSink;
use wavecrest::{Output, Session};

async fn run(parallelism: usize) -> (Vec<Vec<String>>, Vec<wavecrest::runtime::metrics::WorkerStats>) {
    let rows: Vec<String> = (0..400)
        .map(|i| format!("({}, {}, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL '{}' SECOND)", i % 40, i, i / 10))
        .collect();
    let sql = format!(
        "SET 'parallelism' = '{parallelism}';
         CREATE TABLE t (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values');
         INSERT INTO t VALUES {};
         SELECT window_start, k, COUNT(*), SUM(v) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND))
         GROUP BY window_start, window_end, k;",
        rows.join(", ")
    );
    let mut session = Session::new();
    let queries: Vec<_> = session.sql(&sql).expect("executes").into_iter().filter_map(Output::continuous).collect();
    let sink = CollectSink::new();
    let s2 = sink.clone();
    let metrics =
        session.run(queries, move |_| Ok(Box::new(s2.clone()) as _), false, Cancel::new()).await.expect("runs");
    let mut out = sink.rows().expect("rows");
    out.sort();
    let workers = metrics.workers.lock().expect("lock").clone();
    (out, workers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_split_keyed_state_and_agree_with_one() {
    let (one, _) = run(1).await;
    let (two, workers) = run(2).await;
    assert_eq!(one, two, "results must not depend on parallelism");
    assert_eq!(one.len(), 40 * 4, "40 keys in 4 windows");
    let keyed: Vec<_> = workers.iter().filter(|w| w.stage == 1).collect();
    assert_eq!(keyed.len(), 2, "two workers in the keyed stage");
    let total: u64 = keyed.iter().map(|w| w.rows_in).sum();
    assert_eq!(total, 400, "every row reaches exactly one worker");
    for w in keyed {
        assert!(w.rows_in > 50, "worker {} got {} rows: the keys are not spread", w.worker, w.rows_in);
        assert!(w.max_keys > 5 && w.max_keys < 40, "worker {} held {} keys: state is not split", w.worker, w.max_keys);
    }
}
