//! Sketch functions end to end: accuracy against DataFusion's exact `COUNT(DISTINCT)`, the
//! merge law (pane sketches merge into exactly the sketch of the union), pane merging in
//! HOP windows, and bounded state.
//!
//! Queries run through the planned operators on this thread (watermarks assigned at the
//! source row by row, every stage chained, a final watermark), as the benchmarks do, so a
//! million rows take seconds in a debug build.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Int64Array, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{Int64Type, SchemaRef, TimestampMillisecondType};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use wavecrest::exec::operator::{push_chunk, push_end, push_watermark, Operator};
use wavecrest::exec::watermark_assigner::WatermarkAssigner;
use wavecrest::exec::window_aggregate::WindowAggregate;
use wavecrest::exec::Chunk;
use wavecrest::functions::hll_sketch::{standard_error, DEFAULT_PRECISION};
use wavecrest::plan::pipeline::OpSpec;
use wavecrest::plan::{Planner, QueryPlan};
use wavecrest::sql::{parse_statements, Statement};

const DDL: &str =
    "CREATE TABLE ev (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values')";
const BATCH: usize = 8_192;

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn planner() -> Planner {
    let mut planner = Planner::new();
    let Statement::CreateTable(ct) = &parse_statements(DDL).expect("parses")[0].statement else { panic!() };
    planner.create_table(ct).expect("CREATE TABLE");
    planner
}

fn plan(planner: &Planner, sql: &str) -> QueryPlan {
    let Statement::Query(q) = &parse_statements(sql).expect("parses")[0].statement else { panic!() };
    planner.plan_query(q).expect("plans")
}

/// Rows `(k, v, ts)` in time order as batches of the table's schema.
fn batches(schema: &SchemaRef, rows: &[(i64, i64, i64)]) -> Vec<RecordBatch> {
    rows.chunks(BATCH)
        .map(|part| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(part.iter().map(|r| r.0))),
                    Arc::new(Int64Array::from_iter_values(part.iter().map(|r| r.1))),
                    Arc::new(TimestampMillisecondArray::from_iter_values(part.iter().map(|r| r.2))),
                ],
            )
            .expect("batch")
        })
        .collect()
}

/// Runs a query over the batches as one worker; returns the output rows (all `+I`).
fn run(planner: &Planner, sql: &str, input: &[RecordBatch]) -> Vec<RecordBatch> {
    let plan = plan(planner, sql);
    let source = planner.source_plan(&plan.source).expect("source");
    let mut assigner = WatermarkAssigner::new(source.watermark.expect("watermark"));
    let mut ops: Vec<Box<dyn Operator>> =
        plan.stages.iter().flat_map(|s| s.ops.iter().map(|o| o.build().expect("operator"))).collect();
    let mut out = Vec::new();
    for b in input {
        let before = assigner.current();
        let chunk = assigner.assign(Chunk::inserts(b.clone())).expect("assign");
        out.extend(push_chunk(&mut ops, chunk).expect("chunk"));
        if assigner.current() > before {
            out.extend(push_watermark(&mut ops, assigner.current()).expect("watermark"));
        }
    }
    out.extend(push_watermark(&mut ops, i64::MAX).expect("final watermark"));
    out.extend(push_end(&mut ops).expect("end"));
    assert!(out.iter().all(|c| c.ops.is_none()), "window results are inserts");
    out.into_iter().map(|c| c.batch).collect()
}

fn i64s(batches: &[RecordBatch], col: usize) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column(col);
            match c.data_type() {
                datafusion::arrow::datatypes::DataType::Timestamp(_, _) => {
                    c.as_primitive::<TimestampMillisecondType>().values().to_vec()
                }
                _ => c.as_primitive::<Int64Type>().values().to_vec(),
            }
        })
        .collect()
}

fn binaries(batches: &[RecordBatch], col: usize) -> Vec<Vec<u8>> {
    batches
        .iter()
        .flat_map(|b| {
            b.column(col).as_binary::<i32>().iter().map(|v| v.expect("a sketch").to_vec()).collect::<Vec<_>>()
        })
        .collect()
}

/// Exact distinct counts of `v` per `[start, end)` window (and key), by DataFusion batch.
fn exact_counts(schema: &SchemaRef, input: &[RecordBatch], windows: &[(i64, i64)]) -> Vec<i64> {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let ctx = SessionContext::new();
    let table = MemTable::try_new(schema.clone(), vec![input.to_vec()]).expect("table");
    ctx.register_table("ev", Arc::new(table)).expect("register");
    windows
        .iter()
        .map(|(s, e)| {
            let sql = format!(
                "SELECT COUNT(DISTINCT v) FROM ev WHERE ts >= to_timestamp_millis({s}) AND ts < to_timestamp_millis({e})"
            );
            let out = rt.block_on(async { ctx.sql(&sql).await?.collect().await }).expect("DataFusion runs");
            out[0].column(0).as_primitive::<Int64Type>().value(0)
        })
        .collect()
}

/// 1 M distinct values over four 10 s TUMBLE windows, and a HOP window (slide 10 s, size
/// 40 s) whose [0, 40 s) window holds all of them, merged from four panes: each estimate is
/// within 3 standard errors of DataFusion's exact COUNT(DISTINCT).
#[test]
fn a_million_distinct_values_are_counted_within_three_standard_errors() {
    let planner = planner();
    let schema = planner.table("ev").expect("ev").schema.clone();
    let n: i64 = std::env::var("WAVECREST_SKETCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    // Distinct values: a bijection of 0..n (odd multiplier mod 2^64), 40 ms of time per 1000.
    let rows: Vec<_> = (0..n).map(|i| (0, i.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64), i * 40_000 / n)).collect();
    let input = batches(&schema, &rows);
    let bound = 3.0 * standard_error(DEFAULT_PRECISION);
    for sql in [
        "SELECT window_start, window_end, APPROX_COUNT_DISTINCT(v) FROM TABLE(TUMBLE(TABLE ev, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end",
        "SELECT window_start, window_end, APPROX_COUNT_DISTINCT(v) FROM TABLE(HOP(TABLE ev, DESCRIPTOR(ts), INTERVAL '10' SECOND, INTERVAL '40' SECOND)) GROUP BY window_start, window_end",
    ] {
        let out = run(&planner, sql, &input);
        let windows: Vec<_> = i64s(&out, 0).into_iter().zip(i64s(&out, 1)).collect();
        let estimates = i64s(&out, 2);
        let exact = exact_counts(&schema, &input, &windows);
        assert!(exact.contains(&n) || windows.len() == 4, "the HOP query has a window with all {n} values");
        for ((w, est), exact) in windows.iter().zip(&estimates).zip(&exact) {
            let err = (*est as f64 - *exact as f64).abs() / *exact as f64;
            assert!(err <= bound, "window {w:?}: estimate {est}, exact {exact}, error {err:.4} > {bound:.4}");
        }
    }
}

/// 100 windows with random numbers of distinct values (2 000 to 12 000, drawn from
/// overlapping random ranges): the mean relative error is within the documented standard
/// error, and no window is off by more than 4 standard errors.
#[test]
fn the_mean_error_over_a_hundred_random_windows_is_within_the_standard_error() {
    let planner = planner();
    let schema = planner.table("ev").expect("ev").schema.clone();
    let mut rng = Rng(7);
    let mut rows = Vec::new();
    for w in 0..100i64 {
        let distinct = 2_000 + (rng.next() % 10_000) as i64;
        let base = (rng.next() % 50_000) as i64;
        for i in 0..distinct {
            // Each value once or twice, spread over the window's second.
            let v = base + i;
            let t = w * 1000 + (rng.next() % 1000) as i64;
            rows.push((0, v, t));
            if rng.next() % 4 == 0 {
                rows.push((0, v, t));
            }
        }
    }
    rows.sort_by_key(|r| r.2);
    let input = batches(&schema, &rows);
    let out = run(
        &planner,
        "SELECT window_start, window_end, APPROX_COUNT_DISTINCT(v) FROM TABLE(TUMBLE(TABLE ev, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end",
        &input,
    );
    let windows: Vec<_> = i64s(&out, 0).into_iter().zip(i64s(&out, 1)).collect();
    assert_eq!(windows.len(), 100);
    let exact = exact_counts(&schema, &input, &windows);
    let errors: Vec<f64> =
        i64s(&out, 2).iter().zip(&exact).map(|(e, x)| (*e as f64 - *x as f64).abs() / *x as f64).collect();
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    let se = standard_error(DEFAULT_PRECISION);
    assert!(mean <= se, "mean relative error {mean:.4} > standard error {se:.4}");
    let worst = errors.iter().cloned().fold(0.0, f64::max);
    assert!(worst <= 4.0 * se, "worst window error {worst:.4}");
}

/// Rows over 10 s for three keys with 30, 3 000 and 60 000 distinct values (sparse,
/// sparse-turned-dense, dense sketches).
fn merge_law_rows() -> Vec<(i64, i64, i64)> {
    let mut rng = Rng(11);
    let mut rows = Vec::new();
    for (k, distinct) in [(0i64, 30u64), (1, 3_000), (2, 60_000)] {
        for _ in 0..distinct * 2 {
            rows.push((k, (rng.next() % distinct) as i64, (rng.next() % 10_000) as i64));
        }
    }
    rows.sort_by_key(|r| r.2);
    rows
}

/// `HLL_MERGE` of per-second sketches, the 10 s sketch of the same rows, and the 10 s window
/// of a HOP that merges ten 1 s panes inside the engine: all the same bytes (the same
/// registers), and `HLL_ESTIMATE` of the merge equals `APPROX_COUNT_DISTINCT` of the union.
#[test]
fn merged_pane_sketches_are_exactly_the_sketch_of_the_union() {
    let planner = planner();
    let schema = planner.table("ev").expect("ev").schema.clone();
    let input = batches(&schema, &merge_law_rows());
    let whole = run(
        &planner,
        "SELECT k, HLL_SKETCH(v), APPROX_COUNT_DISTINCT(v) FROM TABLE(TUMBLE(TABLE ev, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end, k",
        &input,
    );
    let per_second = run(
        &planner,
        "SELECT k, HLL_SKETCH(v) AS s FROM TABLE(TUMBLE(TABLE ev, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end, k",
        &input,
    );
    let hop = run(
        &planner,
        "SELECT k, HLL_SKETCH(v) FROM TABLE(HOP(TABLE ev, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '10' SECOND)) GROUP BY window_start, window_end, k HAVING window_start = TIMESTAMP '1970-01-01 00:00:00'",
        &input,
    );
    // Merge the per-second sketches with DataFusion batch and our functions.
    let ctx = SessionContext::new();
    wavecrest::functions::register(&ctx);
    let table = MemTable::try_new(per_second[0].schema(), vec![per_second.clone()]).expect("table");
    ctx.register_table("panes", Arc::new(table)).expect("register");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let merged = rt
        .block_on(async {
            ctx.sql("SELECT k, HLL_MERGE(s), HLL_ESTIMATE(HLL_MERGE(s)) FROM panes GROUP BY k").await?.collect().await
        })
        .expect("merges");

    let by_key = |b: &[RecordBatch], col: usize| -> BTreeMap<i64, Vec<u8>> {
        i64s(b, 0).into_iter().zip(binaries(b, col)).collect()
    };
    let whole_sketches = by_key(&whole, 1);
    assert_eq!(whole_sketches.len(), 3);
    assert_eq!(by_key(&merged, 1), whole_sketches, "HLL_MERGE of panes = HLL_SKETCH of the union");
    assert_eq!(by_key(&hop, 1), whole_sketches, "HOP pane merging = HLL_SKETCH of the union");
    let exact: BTreeMap<i64, i64> = i64s(&whole, 0).into_iter().zip(i64s(&whole, 2)).collect();
    let estimated: BTreeMap<i64, i64> = i64s(&merged, 0).into_iter().zip(i64s(&merged, 2)).collect();
    assert_eq!(estimated, exact, "HLL_ESTIMATE(HLL_MERGE(..)) = APPROX_COUNT_DISTINCT(..)");
    let reprs: Vec<u8> = whole_sketches.values().map(|s| s[7]).collect();
    assert_eq!(reprs, vec![0, 1, 1], "keys cover the sparse and the dense representation");
}

/// The window operator of a query.
fn window_operator(planner: &Planner, sql: &str) -> WindowAggregate {
    let plan = plan(planner, sql);
    let spec = plan
        .stages
        .iter()
        .flat_map(|s| &s.ops)
        .find_map(|o| match o {
            OpSpec::WindowAggregate { spec, .. } => Some(Arc::clone(spec)),
            _ => None,
        })
        .expect("a window aggregate");
    WindowAggregate::new(spec)
}

/// HOP(slide 1 s, size 10 s) puts every row in ten windows but adds it to one pane's
/// sketch once; windows merge pane sketches.
#[test]
fn hop_windows_add_each_row_to_one_pane_sketch() {
    let planner = planner();
    let schema = planner.table("ev").expect("ev").schema.clone();
    let rows = merge_law_rows();
    let mut op = window_operator(
        &planner,
        "SELECT window_start, k, APPROX_COUNT_DISTINCT(v) FROM TABLE(HOP(TABLE ev, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '10' SECOND)) GROUP BY window_start, window_end, k",
    );
    for b in batches(&schema, &rows) {
        op.on_chunk(Chunk::inserts(b)).expect("chunk");
    }
    let out = op.on_watermark(i64::MAX).expect("fires");
    assert_eq!(op.rows_aggregated(), rows.len() as u64, "each row updates one pane");
    assert_eq!(out.iter().map(Chunk::num_rows).sum::<usize>(), 3 * 19, "19 windows overlap [0, 10 s) per key");
}

/// Bytes of state in the snapshot of a one-window, one-key operator after `distinct`
/// distinct values: the operator snapshots as JSON holding Arrow IPC byte arrays as base64
/// strings; this counts the decoded bytes.
fn state_bytes(planner: &Planner, aggregate: &str, distinct: i64) -> usize {
    let schema = planner.table("ev").expect("ev").schema.clone();
    let sql = format!(
        "SELECT window_start, {aggregate} FROM TABLE(TUMBLE(TABLE ev, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end"
    );
    let mut op = window_operator(planner, &sql);
    let rows: Vec<_> = (0..distinct).map(|i| (0, i, i * 10_000 / distinct)).collect();
    for b in batches(&schema, &rows) {
        op.on_chunk(Chunk::inserts(b)).expect("chunk");
    }
    let snapshot: serde_json::Value = serde_json::from_slice(&op.snapshot().expect("snapshot")).expect("JSON");
    fn bytes(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::String(b64) => b64.len() / 4 * 3 - b64.bytes().rev().take_while(|c| *c == b'=').count(),
            serde_json::Value::Array(items) => items.iter().map(bytes).sum(),
            serde_json::Value::Object(fields) => fields.values().map(bytes).sum(),
            _ => 0,
        }
    }
    bytes(&snapshot)
}

/// A window's sketch state keeps its size when its distinct values grow 100× (the exact
/// COUNT(DISTINCT) state grows with them).
#[test]
fn sketch_state_stays_the_same_size_when_distinct_values_grow_a_hundredfold() {
    let planner = planner();
    let (small, large) = (5_000, 500_000);
    let hll = |n| state_bytes(&planner, "APPROX_COUNT_DISTINCT(v)", n);
    let (hll_small, hll_large) = (hll(small), hll(large));
    assert_eq!(hll_small, hll_large, "HLL state bytes");
    assert!(hll_large < 4096 + 1024, "the state is the dense sketch (4 104 bytes) plus IPC framing: {hll_large}");
    let exact = |n| state_bytes(&planner, "COUNT(DISTINCT v)", n);
    let (exact_small, exact_large) = (exact(small), exact(large));
    assert!(exact_large > 50 * exact_small, "exact state {exact_small} → {exact_large} grows with the values");
    assert!(hll_large * 100 < exact_large, "the sketch is far smaller than the exact state at 500 000 values");
}

/// Sketch columns are BYTES and keep their exact size at any cardinality once dense.
#[test]
fn a_dense_sketch_is_header_plus_one_byte_per_register() {
    let planner = planner();
    let schema = planner.table("ev").expect("ev").schema.clone();
    for distinct in [20_000i64, 200_000] {
        let rows: Vec<_> = (0..distinct).map(|i| (0, i, i * 1000 / distinct)).collect();
        let out = run(
            &planner,
            "SELECT HLL_SKETCH(v), HLL_SKETCH(v, 14) FROM TABLE(TUMBLE(TABLE ev, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end",
            &batches(&schema, &rows),
        );
        let sizes: Vec<usize> = (0..2).map(|c| binaries(&out, c)[0].len()).collect();
        assert_eq!(sizes, vec![8 + 4096, 8 + 16384], "{distinct} distinct values");
    }
}
