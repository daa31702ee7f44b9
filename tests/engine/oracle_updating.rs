//! Oracle property test for updating (non-windowed) aggregates: the changelog folded up
//! (apply `+I`/`+U`, remove `-U`/`-D`) equals DataFusion's batch answer to the same SQL on
//! the same rows — with HAVING (rows leave and re-enter the result) and with an aggregate
//! over another aggregate's changelog (retractions). Random keys, batch splits, 1..4
//! workers; every emitted retraction must match the row currently in the result.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use proptest::prelude::*;
use wavecrest::exec::Chunk;
use wavecrest::sink::collect::chunks_to_strings;

use super::oracle::{cases, fold_changelog, insert_statements, run_collect, BASE};

/// The queries, over `ev (k, v, ts)`; `key` is how many leading columns identify a row.
const QUERIES: &[(&str, usize)] = &[
    ("SELECT k, COUNT(*), SUM(v), MIN(v), MAX(v), AVG(v) FROM ev GROUP BY k", 1),
    ("SELECT k, COUNT(*), SUM(v) FROM ev GROUP BY k HAVING SUM(v) > 0", 1),
    ("SELECT COUNT(*), SUM(v), MAX(v) FROM ev", 0),
    ("SELECT n, COUNT(*), SUM(s), AVG(s) FROM (SELECT k, COUNT(*) AS n, SUM(v) AS s FROM ev GROUP BY k) GROUP BY n", 1),
];

fn events_strategy() -> impl Strategy<Value = (Vec<(i64, i64)>, Vec<usize>)> {
    (1usize..80, 1i64..6).prop_flat_map(|(n, keys)| {
        (proptest::collection::vec((0..keys, -20i64..20), n), proptest::collection::vec(1usize..20, 1..8))
    })
}

async fn streaming(
    query: &str,
    key: usize,
    events: &[(i64, i64)],
    splits: &[usize],
    workers: usize,
) -> Vec<Vec<String>> {
    // Times 100 ms apart in arrival order (the window-free queries ignore them).
    let timed: Vec<(i64, i64, i64)> = events.iter().zip(1..).map(|(&(k, v), i)| (k, v, BASE + i * 100)).collect();
    let sql = format!(
        "SET 'parallelism' = '{workers}';
         CREATE TABLE ev (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values');
         {}
         {query}",
        insert_statements(&timed, splits)
    );
    let (rows, _) = run_collect(&sql).await;
    fold_changelog(rows, key)
}

async fn batch(query: &str, events: &[(i64, i64)]) -> Vec<Vec<String>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(events.iter().map(|e| e.0).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(events.iter().map(|e| e.1).collect::<Vec<_>>())),
            Arc::new(TimestampMillisecondArray::from(vec![BASE; events.len()])),
        ],
    )
    .expect("batch");
    let ctx = SessionContext::new();
    ctx.register_table("ev", Arc::new(MemTable::try_new(schema, vec![vec![batch]]).expect("mem"))).expect("register");
    let batches = ctx.sql(query).await.expect("plans").collect().await.expect("runs");
    let chunks: Vec<Chunk> = batches.into_iter().map(Chunk::inserts).collect();
    let mut rows = chunks_to_strings(&chunks).expect("strings");
    for r in &mut rows {
        r.remove(0);
    }
    rows.sort();
    rows
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn folded_changelog_equals_batch_answer(
        q in 0..QUERIES.len(),
        (events, splits) in events_strategy(),
        workers in 1usize..=4,
    ) {
        let (query, key) = QUERIES[q];
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let got = rt.block_on(streaming(query, key, &events, &splits, workers));
        let want = rt.block_on(batch(query, &events));
        prop_assert_eq!(got, want, "{} with {} workers", query, workers);
    }
}
