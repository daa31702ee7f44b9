//! Streaming operator throughput next to DataFusion batch execution on the same data.
//!
//! Every benchmark reads the same in-memory bid batches (`auction, bidder, price, ts`):
//! auctions uniform over 1 000 ids (each block of 1 000 consecutive events holds every
//! auction exactly once, in a shuffled order), 12 events per millisecond of event time, so
//! each 10 s pane holds 120 000 events, about 120 per auction. A tenth of the events are
//! delayed by up to 1.5 s (disorder below the table's 2 s watermark delay: no late rows),
//! which moves a few events across pane boundaries; the setup checks that every complete
//! pane still holds ≥ 100 events per auction. Everything is deterministic. `WAVECREST_BENCH_EVENTS` sets the number of events
//! (default 1 000 000).
//!
//! Wavecrest runs its planned operators directly on one thread (no tokio runtime, one
//! worker, every stage's operators chained), with source watermarks assigned row by row as
//! the runtime does. DataFusion runs with `target_partitions = 1` on a current-thread
//! runtime, collecting the results. Throughput is reported in input events per second.
//!
//! Pairs to compare (targets from the issue):
//! * `filter_project/wavecrest` vs `filter_project/datafusion`: streaming ≥ 0.5× batch.
//! * `window/tumble_wavecrest` vs `window/tumble_datafusion`: streaming ≥ 0.5× batch.
//! * `window/hop_wavecrest` vs `window/tumble_wavecrest`: HOP (slide = size / 10) must cost
//!   < 2× TUMBLE per input event, i.e. its throughput must be > 0.5× TUMBLE's.
//!
//! * `distinct/approx_*` vs `distinct/exact_*`: `APPROX_COUNT_DISTINCT(bidder)` (HyperLogLog++)
//!   vs exact `COUNT(DISTINCT bidder)` per auction per TUMBLE(10 s) and HOP(1 s, 10 s)
//!   window; the setup also prints each query's operator state (snapshot bytes) at the end
//!   of the input, before the final watermark fires the open windows, and the same without
//!   the auction key (one group per window, so tens of thousands of distinct bidders).
//! * `session/100k_keys`: SESSION(gap 10 s) partitioned by bidder (100 000 ids), events/s.
//! * `slide/1min` vs `slide/10min`: SLIDE partitioned by auction over a stream spanning
//!   50 minutes (an event every 3 ms, in order); the cost per event should stay roughly
//!   flat when the size grows 10×.
//!
//! * `match/v_shape`: `MATCH_RECOGNIZE` V-shape (`STRT DOWN+ UP+`) per auction (1 000
//!   "symbols") over the bids re-priced as a random walk per auction, events/s (target
//!   ≥ 2 M/s). `match/bounded_alt`: `STRT (UP | DOWN){2,5} (JUMP | DROP)` on the same data.
//!
//! Run: `cargo bench --bench pipeline` (see `benches/README.md`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use datafusion::arrow::array::{Int64Array, TimestampMillisecondArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::prelude::DataFrame;
use wavecrest::exec::operator::{push_chunk, push_end, push_watermark, Operator};
use wavecrest::exec::watermark_assigner::WatermarkAssigner;
use wavecrest::exec::Chunk;
use wavecrest::plan::{Planner, QueryPlan};
use wavecrest::sql::{parse_statements, Statement};

const AUCTIONS: usize = 1_000;
/// Events per millisecond of event time: 120 000 per 10 s pane.
const EVENTS_PER_MS: usize = 12;
const BATCH_SIZE: usize = 8_192;
/// 2024-01-01 00:00:00 UTC.
const BASE_MS: i64 = 1_704_067_200_000;
const DEFAULT_EVENTS: usize = 1_000_000;

const DDL: &str = "CREATE TABLE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP(3), \
     WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH ('connector' = 'values')";

const FILTER_PROJECT: &str = "SELECT auction, price * 2 FROM bids WHERE price > 100";

const TUMBLE: &str = "SELECT window_start, window_end, auction, COUNT(*), SUM(price), MAX(price) \
     FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND)) \
     GROUP BY window_start, window_end, auction";

const HOP: &str = "SELECT window_start, window_end, auction, COUNT(*), SUM(price), MAX(price) \
     FROM TABLE(HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '10' SECOND)) \
     GROUP BY window_start, window_end, auction";

/// `{agg}` replaced by the distinct-count aggregate, `{tvf}` by the window.
const DISTINCT: &str = "SELECT window_start, window_end, auction, {agg} \
     FROM TABLE({tvf}) GROUP BY window_start, window_end, auction";
/// The same without the auction key: one group per window, tens of thousands of bidders.
const DISTINCT_ALL: &str = "SELECT window_start, window_end, {agg} FROM TABLE({tvf}) GROUP BY window_start, window_end";
const TUMBLE_TVF: &str = "TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND)";
const HOP_TVF: &str = "HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '10' SECOND)";
const SESSION: &str = "SELECT window_start, window_end, bidder, COUNT(*), SUM(price), MAX(price) \
     FROM TABLE(SESSION(TABLE bids PARTITION BY bidder, DESCRIPTOR(ts), INTERVAL '10' SECOND)) \
     GROUP BY window_start, window_end, bidder";

fn slide(size: &str) -> String {
    format!(
        "SELECT window_end, auction, COUNT(*), SUM(price), MAX(price) \
         FROM TABLE(SLIDE(TABLE bids PARTITION BY auction, DESCRIPTOR(ts), INTERVAL '{size}' MINUTE)) \
         GROUP BY window_start, window_end, auction"
    )
}

const DF_FILTER_PROJECT: &str = "SELECT auction, price * 2 FROM bids WHERE price > 100";

const DF_TUMBLE: &str = "SELECT date_bin(INTERVAL '10 seconds', ts) AS window_start, \
     date_bin(INTERVAL '10 seconds', ts) + INTERVAL '10 seconds' AS window_end, \
     auction, COUNT(*), SUM(price), MAX(price) \
     FROM bids GROUP BY date_bin(INTERVAL '10 seconds', ts), auction";

/// The V-shape over ticker-like prices (the bids re-priced by [`ticker_batches`]).
const MATCH_V_SHAPE: &str = "SELECT * FROM bids MATCH_RECOGNIZE (PARTITION BY auction ORDER BY ts \
     MEASURES STRT.price AS start_price, LAST(DOWN.price) AS bottom_price, LAST(UP.price) AS end_price \
     ONE ROW PER MATCH AFTER MATCH SKIP PAST LAST ROW PATTERN (STRT DOWN+ UP+) \
     DEFINE DOWN AS price < PREV(price), UP AS price > PREV(price))";

/// Bounded repetition of an alternation, then an alternation.
const MATCH_BOUNDED_ALT: &str = "SELECT * FROM bids MATCH_RECOGNIZE (PARTITION BY auction ORDER BY ts \
     MEASURES STRT.price AS start_price, COUNT(UP.*) AS ups, CLASSIFIER() AS last_var \
     PATTERN (STRT (UP | DOWN){2,5} (JUMP | DROP)) \
     DEFINE UP AS price > PREV(price), DOWN AS price < PREV(price), \
            JUMP AS price > PREV(price) + 8, DROP AS price < PREV(price) - 8)";

/// splitmix64: a small deterministic PRNG.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn event_count() -> usize {
    std::env::var("WAVECREST_BENCH_EVENTS").ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(DEFAULT_EVENTS)
}

/// The bid batches, with the table's schema.
fn bid_batches(schema: &SchemaRef, events: usize) -> Vec<RecordBatch> {
    let mut rng = Rng(42);
    let mut order: Vec<i64> = (0..AUCTIONS as i64).collect();
    let mut batches = Vec::new();
    let mut i = 0;
    while i < events {
        let n = BATCH_SIZE.min(events - i);
        let mut auction = Vec::with_capacity(n);
        let mut bidder = Vec::with_capacity(n);
        let mut price = Vec::with_capacity(n);
        let mut ts = Vec::with_capacity(n);
        for e in i..i + n {
            if e % AUCTIONS == 0 {
                // Fisher-Yates: every block of AUCTIONS events holds each auction once.
                for k in (1..AUCTIONS).rev() {
                    order.swap(k, rng.below(k as u64 + 1) as usize);
                }
            }
            auction.push(order[e % AUCTIONS]);
            bidder.push(rng.below(100_000) as i64);
            price.push(1 + rng.below(1_000) as i64);
            let delay = if rng.below(10) == 0 { rng.below(1_500) as i64 } else { 0 };
            ts.push(BASE_MS + (e / EVENTS_PER_MS) as i64 - delay);
        }
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(auction)),
                Arc::new(Int64Array::from(bidder)),
                Arc::new(Int64Array::from(price)),
                Arc::new(TimestampMillisecondArray::from(ts)),
            ],
        )
        .expect("bid batch matches the table schema");
        batches.push(batch);
        i += n;
    }
    batches
}

/// The batches with each event's time replaced by `f(event index, old time)`.
fn retimed(batches: &[RecordBatch], mut f: impl FnMut(i64, i64) -> i64) -> Vec<RecordBatch> {
    let mut e = 0i64;
    batches
        .iter()
        .map(|b| {
            let ts = b.column(3).as_any().downcast_ref::<TimestampMillisecondArray>().expect("ts column");
            let moved: TimestampMillisecondArray = ts
                .values()
                .iter()
                .map(|&t| {
                    e += 1;
                    Some(f(e - 1, t))
                })
                .collect();
            let mut columns = b.columns().to_vec();
            columns[3] = Arc::new(moved);
            RecordBatch::try_new(b.schema(), columns).expect("same schema")
        })
        .collect()
}

/// The same batches with every 100th event moved 2–10 s back in event time: behind the
/// watermark (delay 2 s), often in a window that already fired, but within 10 s of
/// allowed lateness — each such row is a correction.
fn with_late_events(batches: &[RecordBatch]) -> Vec<RecordBatch> {
    let mut rng = Rng(7);
    retimed(batches, |e, t| if (e + 1) % 100 == 0 { t - 2_000 - rng.below(8_000) as i64 } else { t })
}

/// The bid batches re-timed for SLIDE: event `e` at `BASE + 3 e` ms (in order), so 1 M
/// events span 50 minutes and both a 1 and a 10 minute frame fill and then slide.
fn spread_batches(batches: &[RecordBatch]) -> Vec<RecordBatch> {
    retimed(batches, |e, _| BASE_MS + 3 * e)
}

/// The batches with prices replaced by a random walk per auction (steps of -10..=10 from
/// 500), like ticker prices per symbol.
fn ticker_batches(batches: &[RecordBatch]) -> Vec<RecordBatch> {
    let mut rng = Rng(11);
    let mut prices = vec![500i64; AUCTIONS];
    batches
        .iter()
        .map(|b| {
            let auction = b.column(0).as_any().downcast_ref::<Int64Array>().expect("auction column");
            let price: Int64Array = auction
                .values()
                .iter()
                .map(|&a| {
                    let p = &mut prices[a as usize];
                    *p = (*p + rng.below(21) as i64 - 10).max(1);
                    Some(*p)
                })
                .collect();
            let mut columns = b.columns().to_vec();
            columns[2] = Arc::new(price);
            RecordBatch::try_new(b.schema(), columns).expect("same schema")
        })
        .collect()
}

/// A planner with the `bids` table declared.
fn planner() -> Planner {
    let mut planner = Planner::new();
    let stmts = parse_statements(DDL).expect("DDL parses");
    let Statement::CreateTable(ct) = &stmts[0].statement else { panic!("not a CREATE TABLE") };
    planner.create_table(ct).expect("CREATE TABLE");
    planner
}

fn plan(planner: &Planner, sql: &str) -> QueryPlan {
    let stmts = parse_statements(sql).expect("query parses");
    let Statement::Query(q) = &stmts[0].statement else { panic!("not a query") };
    planner.plan_query(q).expect("query plans")
}

/// Runs `plan` over `batches` on this thread, as one worker: watermarks assigned at the
/// source, every stage's operators chained, a final watermark of `i64::MAX`, then the end.
/// Returns the number of output rows.
fn run_streaming(planner: &Planner, plan: &QueryPlan, batches: &[RecordBatch]) -> usize {
    let source = planner.source_plan(&plan.source).expect("source plan");
    let wm_expr = source.watermark.expect("bids has a watermark");
    let mut assigner = WatermarkAssigner::new(wm_expr);
    let mut ops: Vec<Box<dyn Operator>> =
        plan.stages.iter().flat_map(|s| s.ops.iter().map(|o| o.build().expect("operator"))).collect();
    let mut rows = 0;
    let count = |out: Vec<Chunk>| out.iter().map(Chunk::num_rows).sum::<usize>();
    for batch in batches {
        let before = assigner.current();
        let chunk = assigner.assign(Chunk::inserts(batch.clone())).expect("assign watermarks");
        rows += count(push_chunk(&mut ops, chunk).expect("push chunk"));
        if assigner.current() > before {
            rows += count(push_watermark(&mut ops, assigner.current()).expect("push watermark"));
        }
    }
    rows += count(push_watermark(&mut ops, i64::MAX).expect("final watermark"));
    rows += count(push_end(&mut ops).expect("end"));
    assert_eq!(ops.iter().map(|o| o.late_rows()).sum::<u64>(), 0, "the bench data has no late rows");
    rows
}

/// Bytes of operator state (snapshots) after all input, before the final watermark.
fn state_bytes(planner: &Planner, plan: &QueryPlan, batches: &[RecordBatch]) -> usize {
    let source = planner.source_plan(&plan.source).expect("source plan");
    let mut assigner = WatermarkAssigner::new(source.watermark.expect("bids has a watermark"));
    let mut ops: Vec<Box<dyn Operator>> =
        plan.stages.iter().flat_map(|s| s.ops.iter().map(|o| o.build().expect("operator"))).collect();
    for batch in batches {
        let before = assigner.current();
        let chunk = assigner.assign(Chunk::inserts(batch.clone())).expect("assign watermarks");
        push_chunk(&mut ops, chunk).expect("push chunk");
        if assigner.current() > before {
            push_watermark(&mut ops, assigner.current()).expect("push watermark");
        }
    }
    ops.iter_mut().map(|o| o.snapshot().expect("snapshot").len()).sum()
}

/// Checks that every complete 10 s pane holds at least 100 events per auction.
fn check_panes(batches: &[RecordBatch], events: usize) {
    const PANE_MS: i64 = 10_000;
    // Events up to this time are all present (the last ones may be delayed by < 1.5 s).
    let complete_until = BASE_MS + (events / EVENTS_PER_MS) as i64 - 1_500;
    let panes = (complete_until - BASE_MS) / PANE_MS;
    if panes == 0 {
        return;
    }
    let mut counts = vec![0u32; panes as usize * AUCTIONS];
    for b in batches {
        let auction = b.column(0).as_any().downcast_ref::<Int64Array>().expect("auction");
        let ts = b.column(3).as_any().downcast_ref::<TimestampMillisecondArray>().expect("ts");
        for (a, t) in auction.values().iter().zip(ts.values().iter()) {
            let pane = (t - BASE_MS).div_euclid(PANE_MS);
            if (0..panes).contains(&pane) {
                counts[pane as usize * AUCTIONS + *a as usize] += 1;
            }
        }
    }
    let min = counts.iter().copied().min().unwrap_or(0);
    assert!(min >= 100, "a pane holds only {min} events of some auction");
}

struct DataFusionBatch {
    runtime: tokio::runtime::Runtime,
    ctx: SessionContext,
}

impl DataFusionBatch {
    fn new(schema: &SchemaRef, batches: &[RecordBatch]) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        let config = SessionConfig::new().with_target_partitions(1).with_batch_size(BATCH_SIZE);
        let ctx = SessionContext::new_with_config(config);
        let table = MemTable::try_new(schema.clone(), vec![batches.to_vec()]).expect("mem table");
        ctx.register_table("bids", Arc::new(table)).expect("register bids");
        DataFusionBatch { runtime, ctx }
    }

    /// The query planned once (logical plan); physical planning happens on every run.
    fn frame(&self, sql: &str) -> DataFrame {
        self.runtime.block_on(self.ctx.sql(sql)).expect("DataFusion plans the query")
    }

    fn run(&self, frame: &DataFrame) -> usize {
        let out = self.runtime.block_on(frame.clone().collect()).expect("DataFusion runs the query");
        out.iter().map(RecordBatch::num_rows).sum()
    }
}

fn configure<'a>(c: &'a mut Criterion, name: &str, events: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(events as u64));
    group
}

fn benches(c: &mut Criterion) {
    let events = event_count();
    let planner = planner();
    let schema = planner.table("bids").expect("bids").schema.clone();
    let batches = bid_batches(&schema, events);
    check_panes(&batches, events);
    let df = DataFusionBatch::new(&schema, &batches);

    let filter_project = plan(&planner, FILTER_PROJECT);
    let df_filter_project = df.frame(DF_FILTER_PROJECT);
    let expected = run_streaming(&planner, &filter_project, &batches);
    assert_eq!(expected, df.run(&df_filter_project), "filter+projection: streaming and batch row counts differ");
    let mut group = configure(c, "filter_project", events);
    group.bench_function("wavecrest", |b| b.iter(|| black_box(run_streaming(&planner, &filter_project, &batches))));
    group.bench_function("datafusion", |b| b.iter(|| black_box(df.run(&df_filter_project))));
    group.finish();

    let tumble = plan(&planner, TUMBLE);
    let hop = plan(&planner, HOP);
    let df_tumble = df.frame(DF_TUMBLE);
    let expected = run_streaming(&planner, &tumble, &batches);
    assert_eq!(expected, df.run(&df_tumble), "TUMBLE: streaming and batch group counts differ");
    let mut group = configure(c, "window", events);
    group.bench_function("tumble_wavecrest", |b| b.iter(|| black_box(run_streaming(&planner, &tumble, &batches))));
    group.bench_function("hop_wavecrest", |b| b.iter(|| black_box(run_streaming(&planner, &hop, &batches))));
    group.bench_function("tumble_datafusion", |b| b.iter(|| black_box(df.run(&df_tumble))));
    group.finish();

    let session = plan(&planner, SESSION);
    let mut group = configure(c, "session", events);
    group.bench_function("100k_keys", |b| b.iter(|| black_box(run_streaming(&planner, &session, &batches))));
    group.finish();

    let spread = spread_batches(&batches);
    let (slide_1, slide_10) = (plan(&planner, &slide("1")), plan(&planner, &slide("10")));
    let mut group = configure(c, "slide", events);
    group.bench_function("1min", |b| b.iter(|| black_box(run_streaming(&planner, &slide_1, &spread))));
    group.bench_function("10min", |b| b.iter(|| black_box(run_streaming(&planner, &slide_10, &spread))));
    group.finish();

    // Allowed lateness: TUMBLE with 'lateness' = '10 s' on the data as is, and with 1% of
    // the events late within the lateness (each one a -U/+U correction).
    let mut late_planner = self::planner();
    late_planner.set_default_policy("lateness", "10 s").expect("lateness");
    let tumble_late = plan(&late_planner, TUMBLE);
    let late_batches = with_late_events(&batches);
    let mut group = configure(c, "lateness", events);
    group.bench_function("tumble_on_time", |b| {
        b.iter(|| black_box(run_streaming(&late_planner, &tumble_late, &batches)))
    });
    group.bench_function("tumble_1pct_late", |b| {
        b.iter(|| black_box(run_streaming(&late_planner, &tumble_late, &late_batches)))
    });
    group.finish();

    let mut group = configure(c, "distinct", events);
    for (window, tvf) in [("tumble", TUMBLE_TVF), ("hop", HOP_TVF)] {
        let approx = plan(&planner, &DISTINCT.replace("{tvf}", tvf).replace("{agg}", "APPROX_COUNT_DISTINCT(bidder)"));
        let exact = plan(&planner, &DISTINCT.replace("{tvf}", tvf).replace("{agg}", "COUNT(DISTINCT bidder)"));
        assert_eq!(run_streaming(&planner, &approx, &batches), run_streaming(&planner, &exact, &batches));
        eprintln!(
            "distinct/{window}: state at end of input: approx {} bytes, exact {} bytes",
            state_bytes(&planner, &approx, &batches),
            state_bytes(&planner, &exact, &batches)
        );
        let all = |agg: &str| plan(&planner, &DISTINCT_ALL.replace("{tvf}", tvf).replace("{agg}", agg));
        eprintln!(
            "distinct/{window}: state with one group per window (no auction key): approx {} bytes, exact {} bytes",
            state_bytes(&planner, &all("APPROX_COUNT_DISTINCT(bidder)"), &batches),
            state_bytes(&planner, &all("COUNT(DISTINCT bidder)"), &batches)
        );
        group.bench_function(format!("approx_{window}"), |b| {
            b.iter(|| black_box(run_streaming(&planner, &approx, &batches)))
        });
        group.bench_function(format!("exact_{window}"), |b| {
            b.iter(|| black_box(run_streaming(&planner, &exact, &batches)))
        });
    }
    group.finish();

    let ticks = ticker_batches(&batches);
    let mut group = configure(c, "match", events);
    for (name, sql) in [("v_shape", MATCH_V_SHAPE), ("bounded_alt", MATCH_BOUNDED_ALT)] {
        let query = plan(&planner, sql);
        let matches = run_streaming(&planner, &query, &ticks);
        assert!(matches > 0, "match/{name}: the data holds matches");
        eprintln!("match/{name}: {matches} matches in {events} events");
        group.bench_function(name, |b| b.iter(|| black_box(run_streaming(&planner, &query, &ticks))));
    }
    group.finish();
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
