//! Oracle property test: on random event streams the streaming window aggregates equal
//! DataFusion's batch answers on the same rows.
//!
//! Events have random keys and values, arrive out of order by less than the watermark delay
//! (so none is late), are split into random batches (one `INSERT` = one batch) and processed
//! by 1..4 workers. The batch side assigns windows with its own brute-force loop (not the
//! engine's pane arithmetic) and groups with DataFusion SQL.
//! `WAVECREST_PROPTEST_CASES` sets the number of cases (default 24).

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
pub(crate) const BASE: i64 = 1_704_067_200_000;
const DELAY_MS: i64 = 2_000;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Win {
    Tumble { size: i64, offset: i64 },
    Hop { slide: i64, size: i64 },
    Cumulate { step: i64, max: i64 },
}

impl Win {
    pub(crate) fn tvf(&self) -> String {
        let iv = |ms: i64| format!("INTERVAL '{ms}' MILLISECOND");
        match *self {
            Win::Tumble { size, offset } => format!("TUMBLE(TABLE ev, DESCRIPTOR(ts), {}, {})", iv(size), iv(offset)),
            Win::Hop { slide, size } => format!("HOP(TABLE ev, DESCRIPTOR(ts), {}, {})", iv(slide), iv(size)),
            Win::Cumulate { step, max } => format!("CUMULATE(TABLE ev, DESCRIPTOR(ts), {}, {})", iv(step), iv(max)),
        }
    }

    /// Every window `(start, end)` containing `t`, by brute force from the definitions.
    pub(crate) fn windows_of(&self, t: i64) -> Vec<(i64, i64)> {
        let floor = |x: i64, p: i64, o: i64| x - (x - o).rem_euclid(p);
        match *self {
            Win::Tumble { size, offset } => {
                let s = floor(t, size, offset);
                vec![(s, s + size)]
            }
            Win::Hop { slide, size } => {
                let mut out = vec![];
                let mut s = floor(t, slide, 0);
                while s > t - size {
                    out.push((s, s + size));
                    s -= slide;
                }
                out
            }
            Win::Cumulate { step, max } => {
                let s = floor(t, max, 0);
                (1..=max / step).map(|k| (s, s + k * step)).filter(|(_, e)| t < *e).collect()
            }
        }
    }
}

pub(crate) fn win_strategy() -> impl Strategy<Value = Win> {
    prop_oneof![
        (1i64..6, 0i64..3).prop_map(|(s, o)| Win::Tumble { size: s * 1000, offset: o * 250 }),
        (1i64..4, 1i64..4).prop_map(|(sl, k)| Win::Hop { slide: sl * 500, size: sl * 500 * k }),
        (1i64..4, 1i64..4).prop_map(|(st, k)| Win::Cumulate { step: st * 1000, max: st * 1000 * k }),
    ]
}

/// (key, value, time) with times out of order by less than the delay, and batch sizes.
fn events_strategy() -> impl Strategy<Value = (Vec<(i64, i64, i64)>, Vec<usize>)> {
    (1usize..120, 1i64..5).prop_flat_map(|(n, keys)| {
        // Times on a 250 ms grid so rows often sit exactly on window boundaries.
        let ev = proptest::collection::vec((0..keys, -50i64..50, 0i64..4, 0..DELAY_MS / 250), n);
        let splits = proptest::collection::vec(1usize..40, 1..12);
        (ev, splits).prop_map(|(ev, splits)| {
            let mut base = BASE;
            let events = ev
                .into_iter()
                .map(|(k, v, step, jitter)| {
                    base += step * 250;
                    (k, v, base - jitter * 250)
                })
                .collect();
            (events, splits)
        })
    })
}

pub(crate) fn ts_literal(ms: i64) -> String {
    let dt = chrono::DateTime::from_timestamp_millis(ms).expect("valid time");
    format!("TIMESTAMP '{}'", dt.format("%Y-%m-%d %H:%M:%S%.3f"))
}

pub(crate) const AGGS: &str = "COUNT(*), SUM(v), MIN(v), MAX(v), AVG(v)";

/// `INSERT INTO ev VALUES ..` statements for `(k, v, ts)` events, one per batch, with
/// batch sizes taken from `splits` in turn (one INSERT = one source batch).
pub(crate) fn insert_statements(events: &[(i64, i64, i64)], splits: &[usize]) -> String {
    let mut sql = String::new();
    let mut rest = events;
    let mut i = 0;
    while !rest.is_empty() {
        let n = splits[i % splits.len()].min(rest.len());
        let rows: Vec<String> = rest[..n].iter().map(|(k, v, t)| format!("({k}, {v}, {})", ts_literal(*t))).collect();
        sql.push_str(&format!("INSERT INTO ev VALUES {};", rows.join(", ")));
        rest = &rest[n..];
        i += 1;
    }
    sql
}

/// Executes `sql` in a fresh session and runs its continuous statements into one
/// collecting sink: the rows (op first) and the job's counters.
pub(crate) async fn run_collect(sql: &str) -> (Vec<Vec<String>>, Arc<wavecrest::runtime::JobMetrics>) {
    let mut session = Session::new();
    let continuous: Vec<_> = session.sql(sql).expect("executes").into_iter().filter_map(Output::continuous).collect();
    let sink = CollectSink::new();
    let s2 = sink.clone();
    let metrics =
        session.run(continuous, move |_| Ok(Box::new(s2.clone()) as _), false, Cancel::new()).await.expect("runs");
    (sink.rows().expect("rows"), metrics)
}

/// Applies a changelog (rows with the op first): `+I`/`+U` put the row under its first
/// `key` columns, `-U`/`-D` remove it and must match the row there. Returns the final
/// rows, sorted.
pub(crate) fn fold_changelog(rows: Vec<Vec<String>>, key: usize) -> Vec<Vec<String>> {
    let mut table: std::collections::BTreeMap<Vec<String>, Vec<String>> = Default::default();
    for row in rows {
        let id = row[1..1 + key].to_vec();
        match row[0].as_str() {
            "+I" | "+U" => assert!(table.insert(id, row[1..].to_vec()).is_none(), "{row:?} over a live row"),
            "-U" | "-D" => {
                assert_eq!(table.remove(&id).as_deref(), Some(&row[1..]), "{row:?} retracts a row not in the result")
            }
            op => panic!("unexpected op {op}"),
        }
    }
    let mut rows: Vec<_> = table.into_values().collect();
    rows.sort();
    rows
}

async fn streaming(win: Win, events: &[(i64, i64, i64)], splits: &[usize], workers: usize) -> Vec<Vec<String>> {
    let sql = format!(
        "SET 'parallelism' = '{workers}';
         CREATE TABLE ev (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '{DELAY_MS}' MILLISECOND)
         WITH ('connector' = 'values');
         {}
         SELECT window_start, window_end, k, {AGGS} FROM TABLE({}) GROUP BY window_start, window_end, k;",
        insert_statements(events, splits),
        win.tvf()
    );
    let (mut rows, _) = run_collect(&sql).await;
    for r in &mut rows {
        assert_eq!(r[0], "+I", "window results are inserts");
        r.remove(0);
    }
    rows.sort();
    rows
}

async fn batch(win: Win, events: &[(i64, i64, i64)]) -> Vec<Vec<String>> {
    let pairs: Vec<_> =
        events.iter().flat_map(|&(k, v, t)| win.windows_of(t).into_iter().map(move |(s, e)| (s, e, k, v))).collect();
    batch_of(&pairs).await
}

/// The batch answer over rows already assigned to windows: (start, end, key, value).
pub(crate) async fn batch_of(rows: &[(i64, i64, i64, i64)]) -> Vec<Vec<String>> {
    let ws: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let we: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let ks: Vec<i64> = rows.iter().map(|r| r.2).collect();
    let vs: Vec<i64> = rows.iter().map(|r| r.3).collect();
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    let schema = Arc::new(Schema::new(vec![
        Field::new("window_start", ts.clone(), false),
        Field::new("window_end", ts, false),
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(TimestampMillisecondArray::from(ws)),
            Arc::new(TimestampMillisecondArray::from(we)),
            Arc::new(Int64Array::from(ks)),
            Arc::new(Int64Array::from(vs)),
        ],
    )
    .expect("batch");
    let ctx = SessionContext::new();
    ctx.register_table("w", Arc::new(MemTable::try_new(schema, vec![vec![batch]]).expect("mem"))).expect("register");
    let df = ctx
        .sql(&format!("SELECT window_start, window_end, k, {AGGS} FROM w GROUP BY window_start, window_end, k"))
        .await
        .expect("plans");
    let batches = df.collect().await.expect("runs");
    let chunks: Vec<Chunk> = batches.into_iter().map(Chunk::inserts).collect();
    let mut rows = chunks_to_strings(&chunks).expect("strings");
    for r in &mut rows {
        r.remove(0);
    }
    rows.sort();
    rows
}

pub(crate) fn cases() -> u32 {
    std::env::var("WAVECREST_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn windows_equal_batch_answers(win in win_strategy(), (events, splits) in events_strategy(), workers in 1usize..=4) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let got = rt.block_on(streaming(win, &events, &splits, workers));
        let want = rt.block_on(batch(win, &events));
        prop_assert_eq!(got, want, "window {:?}, workers {}", win, workers);
    }
}
