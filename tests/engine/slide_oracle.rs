//! Oracle property test for SLIDE windows and OVER windows: on random streams with late
//! rows, the streaming results equal DataFusion's batch window functions
//! `agg(v) OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN size PRECEDING AND CURRENT ROW)`
//! over the rows that were not late (for SLIDE: the distinct (k, ts) rows of that).
//!
//! The test decides which rows are late with its own classifier — a row is late when its
//! time is below `max(ts) - delay` over the rows before it — not with the engine's watermark
//! code. Rows arrive in random batches (one `INSERT` = one batch) and run on 1..4 workers.
//! ROWS frames are left out: with rows sharing a time, the batch answer depends on how
//! DataFusion orders ties. `WAVECREST_PROPTEST_CASES` sets the number of cases (default 24).

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use proptest::prelude::*;
use wavecrest::exec::Chunk;
use wavecrest::runtime::Cancel;
use wavecrest::sink::collect::{chunks_to_strings, CollectSink};
use wavecrest::{Output, Session};

/// 2024-01-01 00:00:00 UTC in ms.
const BASE: i64 = 1_704_067_200_000;
const DELAY_MS: i64 = 1_000;

/// (key, value, time): times wander forward on a 250 ms grid and jump back by up to twice
/// the delay, so some rows are late and many share a time.
fn events_strategy() -> impl Strategy<Value = (Vec<(i64, i64, i64)>, Vec<usize>)> {
    (1usize..100, 1i64..5).prop_flat_map(|(n, keys)| {
        let ev = proptest::collection::vec((0..keys, -50i64..50, 0i64..4, 0..2 * DELAY_MS / 250), n);
        let splits = proptest::collection::vec(1usize..40, 1..12);
        (ev, splits).prop_map(|(ev, splits)| {
            let mut base = BASE;
            let events = ev
                .into_iter()
                .map(|(k, v, step, back)| {
                    base += step * 250;
                    (k, v, base - back * 250)
                })
                .collect();
            (events, splits)
        })
    })
}

/// The rows that are not late: time at or above the watermark before them.
fn on_time(events: &[(i64, i64, i64)]) -> Vec<(i64, i64, i64)> {
    let mut watermark = i64::MIN;
    let mut kept = Vec::new();
    for &(k, v, t) in events {
        if t >= watermark {
            kept.push((k, v, t));
        }
        watermark = watermark.max(t - DELAY_MS);
    }
    kept
}

fn ts_literal(ms: i64) -> String {
    let dt = chrono::DateTime::from_timestamp_millis(ms).expect("valid time");
    format!("TIMESTAMP '{}'", dt.format("%Y-%m-%d %H:%M:%S%.3f"))
}

fn frame(size: i64) -> String {
    format!("PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '{size}' MILLISECOND PRECEDING AND CURRENT ROW")
}

/// The OVER query (`slide = false`) or the SLIDE query, both giving rows
/// `k, ts, count, sum, min, max`.
fn query(slide: bool, size: i64) -> String {
    if slide {
        format!(
            "SELECT k, window_end, COUNT(*), SUM(v), MIN(v), MAX(v)
             FROM TABLE(SLIDE(TABLE ev PARTITION BY k, DESCRIPTOR(ts), INTERVAL '{size}' MILLISECOND))
             GROUP BY window_start, window_end, k"
        )
    } else {
        let w = frame(size);
        format!("SELECT k, ts, COUNT(*) OVER ({w}), SUM(v) OVER ({w}), MIN(v) OVER ({w}), MAX(v) OVER ({w}) FROM ev")
    }
}

async fn streaming(
    slide: bool,
    size: i64,
    events: &[(i64, i64, i64)],
    splits: &[usize],
    workers: usize,
) -> Vec<Vec<String>> {
    let mut session = Session::new();
    let mut sql = format!(
        "SET 'parallelism' = '{workers}';
         CREATE TABLE ev (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '{DELAY_MS}' MILLISECOND)
         WITH ('connector' = 'values');"
    );
    let mut rest = events;
    let mut i = 0;
    while !rest.is_empty() {
        let n = splits[i % splits.len()].min(rest.len());
        let rows: Vec<String> = rest[..n].iter().map(|(k, v, t)| format!("({k}, {v}, {})", ts_literal(*t))).collect();
        sql.push_str(&format!("INSERT INTO ev VALUES {};", rows.join(", ")));
        rest = &rest[n..];
        i += 1;
    }
    sql.push_str(&query(slide, size));
    sql.push(';');
    let continuous: Vec<_> = session.sql(&sql).expect("executes").into_iter().filter_map(Output::continuous).collect();
    let sink = CollectSink::new();
    let s2 = sink.clone();
    session.run(continuous, move |_| Ok(Box::new(s2.clone()) as _), false, Cancel::new()).await.expect("runs");
    let mut rows: Vec<Vec<String>> = sink.rows().expect("rows");
    for r in &mut rows {
        assert_eq!(r[0], "+I", "SLIDE and OVER results are inserts");
        r.remove(0);
    }
    rows.sort();
    rows
}

async fn batch(slide: bool, size: i64, events: &[(i64, i64, i64)]) -> Vec<Vec<String>> {
    let kept = on_time(events);
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(kept.iter().map(|e| e.0).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(kept.iter().map(|e| e.1).collect::<Vec<_>>())),
            Arc::new(TimestampMillisecondArray::from(kept.iter().map(|e| e.2).collect::<Vec<_>>())),
        ],
    )
    .expect("batch");
    let ctx = SessionContext::new();
    ctx.register_table("ev", Arc::new(MemTable::try_new(schema, vec![vec![batch]]).expect("mem"))).expect("register");
    let over = query(false, size);
    let sql = if slide { format!("SELECT DISTINCT * FROM ({over})") } else { over };
    let batches = ctx.sql(&sql).await.expect("plans").collect().await.expect("runs");
    let chunks: Vec<Chunk> = batches.into_iter().map(Chunk::inserts).collect();
    let mut rows = chunks_to_strings(&chunks).expect("strings");
    for r in &mut rows {
        r.remove(0);
    }
    rows.sort();
    rows
}

fn cases() -> u32 {
    std::env::var("WAVECREST_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn slide_and_over_equal_batch_window_functions(
        slide in any::<bool>(),
        size in prop_oneof![Just(0i64), Just(250), Just(1000), Just(2750), Just(10_000)],
        (events, splits) in events_strategy(),
        workers in 1usize..=4,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let got = rt.block_on(streaming(slide, size, &events, &splits, workers));
        let want = rt.block_on(batch(slide, size, &events));
        prop_assert_eq!(got, want, "slide {}, size {} ms, workers {}", slide, size, workers);
    }
}
