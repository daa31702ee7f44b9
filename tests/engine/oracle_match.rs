//! Oracle property test for `MATCH_RECOGNIZE`: the streaming operator, fed rows out of
//! order (within the watermark delay) in random batches with a watermark after each,
//! gives exactly the matches of a reference matcher written from the standard's
//! definition, for random patterns over variables A, B, C.
//!
//! The reference lists *all* matches of a pattern at a start row in preference order
//! (SQL:2016: alternation left first, greedy quantifiers more iterations first, reluctant
//! fewer first, concatenation lexicographically), and takes the first. It knows nothing of
//! watermarks, batches or the compiled program.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use wavecrest::exec::{Chunk, Operator};
use wavecrest::plan::pipeline::OpSpec;
use wavecrest::plan::Planner;
use wavecrest::runtime::Cancel;
use wavecrest::sink::collect::chunks_to_strings;
use wavecrest::sink::collect::CollectSink;
use wavecrest::sql::{parse_statements, Statement};
use wavecrest::{Output, Session};

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};

const DELAY_MS: i64 = 3_000;

#[derive(Debug, Clone)]
enum Pat {
    Var(u8),
    Concat(Vec<Pat>),
    Alt(Vec<Pat>),
    Rep { inner: Box<Pat>, min: u32, max: Option<u32>, greedy: bool },
}

impl Pat {
    fn min_rows(&self) -> u32 {
        match self {
            Pat::Var(_) => 1,
            Pat::Concat(ps) => ps.iter().map(Pat::min_rows).sum(),
            Pat::Alt(ps) => ps.iter().map(Pat::min_rows).min().unwrap_or(0),
            Pat::Rep { inner, min, .. } => inner.min_rows() * min,
        }
    }

    fn vars(&self, out: &mut Vec<u8>) {
        match self {
            Pat::Var(v) => {
                if !out.contains(v) {
                    out.push(*v)
                }
            }
            Pat::Concat(ps) | Pat::Alt(ps) => ps.iter().for_each(|p| p.vars(out)),
            Pat::Rep { inner, .. } => inner.vars(out),
        }
    }

    fn sql(&self) -> String {
        match self {
            Pat::Var(v) => ((b'A' + v) as char).to_string(),
            Pat::Concat(ps) => ps.iter().map(Pat::sql).collect::<Vec<_>>().join(" "),
            Pat::Alt(ps) => format!("({})", ps.iter().map(Pat::sql).collect::<Vec<_>>().join(" | ")),
            Pat::Rep { inner, min, max, greedy } => {
                let q = match (min, max) {
                    (0, None) => "*".to_string(),
                    (1, None) => "+".to_string(),
                    (0, Some(1)) => "?".to_string(),
                    (n, Some(m)) if n == m => format!("{{{n}}}"),
                    (n, None) => format!("{{{n},}}"),
                    (0, Some(m)) => format!("{{,{m}}}"),
                    (n, Some(m)) => format!("{{{n},{m}}}"),
                };
                format!("({}){q}{}", inner.sql(), if *greedy { "" } else { "?" })
            }
        }
    }
}

/// Every match of `p` from `pos` over `rows`, in preference order: (end, variables).
/// `test(var, row)` says whether the row satisfies the variable.
fn matches(p: &Pat, pos: usize, n: usize, test: &dyn Fn(u8, usize) -> bool) -> Vec<(usize, Vec<u8>)> {
    outcomes(p, pos, n, test, false)
}

/// End of a partial match that ran out of rows (`open`).
const WAITING: usize = usize::MAX;

/// [`matches`]; with `open`, rows may follow row `n - 1`, and a thread that needs one
/// is listed in its place in preference order as `(WAITING, variables so far)`.
fn outcomes(p: &Pat, pos: usize, n: usize, test: &dyn Fn(u8, usize) -> bool, open: bool) -> Vec<(usize, Vec<u8>)> {
    match p {
        Pat::Var(_) if open && pos >= n => vec![(WAITING, vec![])],
        Pat::Var(v) => {
            if pos < n && test(*v, pos) {
                vec![(pos + 1, vec![*v])]
            } else {
                vec![]
            }
        }
        Pat::Concat(ps) => {
            let mut acc = vec![(pos, vec![])];
            for q in ps {
                let mut next = Vec::new();
                for (end, vars) in acc {
                    if end == WAITING {
                        next.push((end, vars));
                        continue;
                    }
                    for (e2, v2) in outcomes(q, end, n, test, open) {
                        let mut all = vars.clone();
                        all.extend(v2);
                        next.push((e2, all));
                    }
                }
                acc = next;
            }
            acc
        }
        Pat::Alt(ps) => ps.iter().flat_map(|q| outcomes(q, pos, n, test, open)).collect(),
        Pat::Rep { inner, min, max, greedy } => repeat(inner, (*min, *max, *greedy), 0, pos, n, test, open),
    }
}

/// `inner` repeated, `done` iterations so far.
fn repeat(
    inner: &Pat,
    (min, max, greedy): (u32, Option<u32>, bool),
    done: u32,
    pos: usize,
    n: usize,
    test: &dyn Fn(u8, usize) -> bool,
    open: bool,
) -> Vec<(usize, Vec<u8>)> {
    let more = || {
        let mut out = Vec::new();
        if max.is_none_or(|m| done < m) {
            for (end, vars) in outcomes(inner, pos, n, test, open) {
                if end == WAITING {
                    out.push((end, vars));
                    continue;
                }
                for (e2, v2) in repeat(inner, (min, max, greedy), done + 1, end, n, test, open) {
                    let mut all = vars.clone();
                    all.extend(v2);
                    out.push((e2, all));
                }
            }
        }
        out
    };
    let stop = || if done >= min { vec![(pos, vec![])] } else { vec![] };
    if greedy {
        let mut out = more();
        out.extend(stop());
        out
    } else {
        let mut out = stop();
        out.extend(more());
        out
    }
}

/// The reference's output for one partition: (id, classifier, match number) per row of
/// each match, ALL ROWS PER MATCH (SHOW EMPTY MATCHES).
/// Row `id` happens at `id` seconds; with `within_s`, a match's rows are less than that
/// many seconds after its first.
fn reference(
    p: &Pat,
    labels: &[(i64, char)],
    defined: &[u8],
    past_last_row: bool,
    within_s: Option<i64>,
) -> Vec<(i64, String, i64)> {
    let n = labels.len();
    let mut out = Vec::new();
    let mut start = 0;
    let mut number = 0;
    while start < n {
        let test = |v: u8, row: usize| {
            within_s.is_none_or(|w| labels[row].0 - labels[start].0 < w)
                && (!defined.contains(&v) || labels[row].1 == (b'a' + v) as char)
        };
        match matches(p, start, n, &test).into_iter().next() {
            Some((end, vars)) if end > start => {
                number += 1;
                for (i, v) in vars.iter().enumerate() {
                    out.push((labels[start + i].0, ((b'A' + v) as char).to_string(), number));
                }
                start = if past_last_row { end } else { start + 1 };
            }
            Some(_) => {
                // An empty match (SHOW EMPTY MATCHES): its starting row, no classifier.
                number += 1;
                out.push((labels[start].0, "NULL".to_string(), number));
                start += 1;
            }
            None => start += 1,
        }
    }
    out
}

/// The reference's output for one partition with `WITHIN within_s EMIT TIMEOUTS`, ONE ROW
/// PER MATCH, for patterns without empty matches: (first id, rows, timed out, match number)
/// per output row. When no match starts at a row, the first partial match (in preference
/// order) still waiting for rows before the interval's end is a timeout if the last
/// watermark before the end of input (`last_watermark_s`) reached that end.
fn reference_timeouts(
    p: &Pat,
    labels: &[(i64, char)],
    defined: &[u8],
    past_last_row: bool,
    within_s: i64,
    last_watermark_s: f64,
) -> Vec<(i64, usize, bool, i64)> {
    let n = labels.len();
    let mut out = Vec::new();
    let mut start = 0;
    let mut number = 0;
    while start < n {
        let satisfies = |v: u8, row: usize| !defined.contains(&v) || labels[row].1 == (b'a' + v) as char;
        let test = |v: u8, row: usize| labels[row].0 - labels[start].0 < within_s && satisfies(v, row);
        match matches(p, start, n, &test).into_iter().next() {
            Some((end, vars)) => {
                number += 1;
                out.push((labels[start].0, vars.len(), false, number));
                start = if past_last_row { end } else { start + 1 };
            }
            None => {
                let deadline = labels[start].0 + within_s;
                if (deadline as f64) <= last_watermark_s {
                    let ends = start + labels[start..].iter().take_while(|l| l.0 < deadline).count();
                    let first = outcomes(p, start, ends, &satisfies, true).into_iter().next();
                    if let Some((WAITING, vars)) = first {
                        number += 1;
                        out.push((labels[start].0, vars.len(), true, number));
                    }
                }
                start += 1;
            }
        }
    }
    out
}

/// Feeds `rows` to `op` in batches of `splits` sizes (cycled), the watermark before each
/// row being the largest time so far minus the delay, and a watermark after each batch;
/// then the final watermark. Returns the output and the last watermark before the final.
fn feed(op: &mut dyn Operator, rows: &[(i64, i64, char, i64)], splits: &[usize]) -> (Vec<Chunk>, i64) {
    let mut out = Vec::new();
    let mut max_seen: Option<i64> = None;
    let (mut i, mut s) = (0, 0);
    while i < rows.len() {
        let size = splits[s % splits.len()].min(rows.len() - i);
        s += 1;
        let part = &rows[i..i + size];
        let mut wms = Vec::new();
        for r in part {
            wms.push(max_seen.map_or(i64::MIN, |m| m - DELAY_MS));
            max_seen = Some(max_seen.map_or(r.3, |m| m.max(r.3)));
        }
        out.extend(op.on_chunk(chunk(&ev_schema(), part, &wms)).unwrap());
        if let Some(m) = max_seen {
            out.extend(op.on_watermark(m - DELAY_MS).unwrap());
        }
        i += size;
    }
    out.extend(op.on_watermark(i64::MAX).unwrap());
    (out, max_seen.map_or(i64::MIN, |m| m - DELAY_MS))
}

fn ev_schema() -> Arc<datafusion::arrow::datatypes::Schema> {
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("id", DataType::Int64, true),
        Field::new("c", DataType::Utf8, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]))
}

fn pattern_strategy() -> impl Strategy<Value = Pat> {
    let leaf = (0u8..3).prop_map(Pat::Var);
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4).prop_map(Pat::Concat),
            proptest::collection::vec(inner.clone(), 2..3).prop_map(Pat::Alt),
            (inner, 0u32..3, prop_oneof![Just(None), (0u32..3).prop_map(Some)], any::<bool>())
                .prop_filter("a repeated pattern must consume rows", |(p, ..)| p.min_rows() > 0)
                .prop_map(|(p, min, extra, greedy)| Pat::Rep {
                    inner: Box::new(p),
                    min,
                    max: extra.map(|e| (min + e).max(1)),
                    greedy
                }),
        ]
    })
}

/// Rows (key, id, label, time ms) in arrival order, and batch sizes.
type Rows = Vec<(i64, i64, char, i64)>;

fn rows_strategy() -> impl Strategy<Value = (Rows, Vec<usize>)> {
    (1usize..30).prop_flat_map(|n| {
        let rows = proptest::collection::vec((0i64..2, prop_oneof![Just('a'), Just('b'), Just('c')], 0..DELAY_MS), n);
        let splits = proptest::collection::vec(1usize..8, 1..6);
        (rows, splits).prop_map(|(rows, splits)| {
            // Row i happens at i seconds and arrives at its time plus less than the delay.
            let mut rows: Vec<_> = rows
                .into_iter()
                .enumerate()
                .map(|(i, (k, c, jitter))| (k, i as i64, c, i as i64 * 1000, jitter))
                .collect();
            rows.sort_by_key(|r| (r.3 + r.4, r.1));
            (rows.into_iter().map(|(k, id, c, t, _)| (k, id, c, t)).collect(), splits)
        })
    })
}

fn operator(sql_pattern: &str, within: &str, defines: &str, skip: &str) -> Box<dyn Operator> {
    let shape = "MEASURES CLASSIFIER() AS cls, MATCH_NUMBER() AS mn ALL ROWS PER MATCH";
    operator_with(shape, sql_pattern, within, defines, skip)
}

fn operator_with(shape: &str, sql_pattern: &str, within: &str, defines: &str, skip: &str) -> Box<dyn Operator> {
    let mut planner = Planner::new();
    let sql = format!(
        "CREATE TABLE ev (k BIGINT, id BIGINT, c VARCHAR, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values');
         SELECT * FROM ev MATCH_RECOGNIZE (PARTITION BY k ORDER BY ts
           {shape} AFTER MATCH SKIP {skip}
           PATTERN ({sql_pattern}){within} DEFINE {defines});"
    );
    let stmts = parse_statements(&sql).unwrap();
    let Statement::CreateTable(ct) = &stmts[0].statement else { panic!() };
    planner.create_table(ct).unwrap();
    let Statement::Query(q) = &stmts[1].statement else { panic!() };
    let plan = planner.plan_query(q).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let spec = plan.stages.iter().flat_map(|s| &s.ops).find(|o| matches!(o, OpSpec::MatchRecognize { .. })).unwrap();
    spec.build().unwrap()
}

fn chunk(schema: &Arc<datafusion::arrow::datatypes::Schema>, rows: &[(i64, i64, char, i64)], wms: &[i64]) -> Chunk {
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2.to_string()))),
            Arc::new(TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.3))),
        ],
    )
    .unwrap();
    Chunk { batch, row_watermarks: Some(Arc::new(Int64Array::from(wms.to_vec()))), ops: None }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10 * super::oracle::cases(), ..ProptestConfig::default() })]

    #[test]
    fn streaming_matches_equal_the_reference_matcher(
        pattern in pattern_strategy(),
        (rows, splits) in rows_strategy(),
        undefined in 0u8..4,
        past_last_row in any::<bool>(),
        per_row in any::<bool>(),
        within_s in prop_oneof![Just(None), (1i64..6).prop_map(Some)],
    ) {
        let mut vars = Vec::new();
        pattern.vars(&mut vars);
        // Variable `undefined` (if in the pattern) gets no DEFINE: it matches every row.
        let defined: Vec<u8> = vars.iter().copied().filter(|v| *v != undefined || vars.len() == 1).collect();
        let defines = defined
            .iter()
            .map(|v| {
                // `COUNT(*) > 0` always holds (the current row counts) but reads the match so
                // far, so the condition is evaluated per candidate row instead of per batch.
                let extra = if per_row { " AND COUNT(*) > 0" } else { "" };
                format!("{} AS c = '{}'{extra}", (b'A' + v) as char, (b'a' + v) as char)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let skip = if past_last_row { "PAST LAST ROW" } else { "TO NEXT ROW" };
        let within = within_s.map(|w| format!(" WITHIN INTERVAL '{w}' SECOND")).unwrap_or_default();
        let mut op = operator(&pattern.sql(), &within, &defines, skip);
        let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
            datafusion::arrow::datatypes::Field::new("k", datafusion::arrow::datatypes::DataType::Int64, true),
            datafusion::arrow::datatypes::Field::new("id", datafusion::arrow::datatypes::DataType::Int64, true),
            datafusion::arrow::datatypes::Field::new("c", datafusion::arrow::datatypes::DataType::Utf8, true),
            datafusion::arrow::datatypes::Field::new(
                "ts",
                datafusion::arrow::datatypes::DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Millisecond, None),
                true,
            ),
        ]));

        // Feed in random batches; the watermark before each row is (max time so far) - delay.
        let mut out = Vec::new();
        let mut max_seen: Option<i64> = None;
        let mut i = 0;
        let mut s = 0;
        while i < rows.len() {
            let size = splits[s % splits.len()].min(rows.len() - i);
            s += 1;
            let part = &rows[i..i + size];
            let mut wms = Vec::new();
            for r in part {
                wms.push(max_seen.map_or(i64::MIN, |m| m - DELAY_MS));
                max_seen = Some(max_seen.map_or(r.3, |m| m.max(r.3)));
            }
            out.extend(op.on_chunk(chunk(&schema, part, &wms)).unwrap());
            if let Some(m) = max_seen {
                out.extend(op.on_watermark(m - DELAY_MS).unwrap());
            }
            i += size;
        }
        out.extend(op.on_watermark(i64::MAX).unwrap());
        prop_assert_eq!(op.late_rows(), 0);

        // Actual rows per partition, in emission order: (id, classifier, match number).
        let mut actual: BTreeMap<i64, Vec<(i64, String, i64)>> = BTreeMap::new();
        for r in chunks_to_strings(&out).unwrap() {
            // op, k, id, c, ts, cls, mn
            actual.entry(r[1].parse().unwrap()).or_default().push((r[2].parse().unwrap(), r[5].clone(), r[6].parse().unwrap()));
        }
        for k in 0..2 {
            let mut labels: Vec<(i64, char)> = rows.iter().filter(|r| r.0 == k).map(|r| (r.1, r.2)).collect();
            labels.sort();
            let expected = reference(&pattern, &labels, &defined, past_last_row, within_s);
            let got = actual.remove(&k).unwrap_or_default();
            prop_assert_eq!(got, expected, "pattern {} over {:?}", pattern.sql(), labels);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10 * super::oracle::cases(), ..ProptestConfig::default() })]

    #[test]
    fn timeouts_equal_the_reference_matcher(
        pattern in pattern_strategy().prop_filter("no empty matches", |p| p.min_rows() > 0),
        (rows, splits) in rows_strategy(),
        undefined in 0u8..4,
        past_last_row in any::<bool>(),
        within_s in 1i64..6,
    ) {
        let mut vars = Vec::new();
        pattern.vars(&mut vars);
        let defined: Vec<u8> = vars.iter().copied().filter(|v| *v != undefined || vars.len() == 1).collect();
        let defines = defined
            .iter()
            .map(|v| format!("{} AS c = '{}'", (b'A' + v) as char, (b'a' + v) as char))
            .collect::<Vec<_>>()
            .join(", ");
        let skip = if past_last_row { "PAST LAST ROW" } else { "TO NEXT ROW" };
        let within = format!(" WITHIN INTERVAL '{within_s}' SECOND EMIT TIMEOUTS");
        let shape = "MEASURES FIRST(id) AS f, COUNT(*) AS n, MATCH_TIMED_OUT() AS t, MATCH_NUMBER() AS mn";
        let mut op = operator_with(shape, &pattern.sql(), &within, &defines, skip);
        let (out, last_watermark) = feed(op.as_mut(), &rows, &splits);
        prop_assert_eq!(op.late_rows(), 0);

        // op, k, f, n, t, mn
        let mut actual: BTreeMap<i64, Vec<(i64, usize, bool, i64)>> = BTreeMap::new();
        for r in chunks_to_strings(&out).unwrap() {
            let row = (r[2].parse().unwrap(), r[3].parse().unwrap(), r[4].parse().unwrap(), r[5].parse().unwrap());
            actual.entry(r[1].parse().unwrap()).or_default().push(row);
        }
        for k in 0..2 {
            let mut labels: Vec<(i64, char)> = rows.iter().filter(|r| r.0 == k).map(|r| (r.1, r.2)).collect();
            labels.sort();
            let last_s = last_watermark as f64 / 1000.0;
            let expected = reference_timeouts(&pattern, &labels, &defined, past_last_row, within_s, last_s);
            let got = actual.remove(&k).unwrap_or_default();
            prop_assert_eq!(got, expected, "pattern {} over {:?}, last watermark {}", pattern.sql(), labels, last_s);
        }
    }
}

/// End to end with several workers: partitions are spread over workers by key, each
/// partition's matches arrive in order, and the late row is counted in the run's metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_workers_matches_per_partition_and_counts_late_rows() {
    let mut session = Session::new();
    // Per key k: a (1 s) b (3 s, arrives after c at 4 s, on time) c (4 s) matches; then a
    // (10 s), c (14 s), and b (11 s) arriving when the watermark is 12 s: late, no match.
    let mut sql = String::from(
        "SET 'parallelism' = '3';
         CREATE TABLE ev (k BIGINT, c VARCHAR, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
         WITH ('connector' = 'values');",
    );
    let script = [('a', 1), ('c', 4), ('b', 3), ('a', 10), ('c', 14), ('b', 11), ('x', 20)];
    let mut rows = Vec::new();
    for (c, t) in script {
        for k in 0..4 {
            rows.push(format!("({k}, '{c}', TIMESTAMP '2024-01-01 00:00:{t:02}')"));
        }
    }
    sql.push_str(&format!("INSERT INTO ev VALUES {};", rows.join(", ")));
    sql.push_str(
        "SELECT * FROM ev MATCH_RECOGNIZE (PARTITION BY k ORDER BY ts
           MEASURES FIRST(ts) AS first_ts, LAST(ts) AS last_ts, MATCH_NUMBER() AS mn
           PATTERN (A B C) DEFINE A AS c = 'a', B AS c = 'b', C AS c = 'c');",
    );
    let continuous: Vec<_> = session.sql(&sql).expect("executes").into_iter().filter_map(Output::continuous).collect();
    let sink = CollectSink::new();
    let s2 = sink.clone();
    let metrics =
        session.run(continuous, move |_| Ok(Box::new(s2.clone()) as _), false, Cancel::new()).await.expect("runs");
    let mut got: Vec<String> = sink.rows().expect("rows").into_iter().map(|r| r.join(" ")).collect();
    got.sort();
    let expected: Vec<String> =
        (0..4).map(|k| format!("+I {k} 2024-01-01 00:00:01.000 2024-01-01 00:00:04.000 1")).collect();
    assert_eq!(got, expected);
    assert_eq!(metrics.late_dropped.load(std::sync::atomic::Ordering::Relaxed), 4, "one late b per key");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10 * super::oracle::cases(), ..ProptestConfig::default() })]

    /// Physical navigation (`PREV`/`NEXT`, over columns and expressions) reads only rows of
    /// the same partition, in event-time order, whatever the batches and watermark steps
    /// (rows released at earlier steps stay reachable), checked against a direct
    /// computation per partition.
    #[test]
    fn navigation_stays_in_its_partition_across_watermark_steps((rows, splits) in rows_strategy()) {
        let shape = "MEASURES UP.id AS uid, PREV(UP.id, 3) AS p3, NEXT(UP.id * 10) AS n1 ONE ROW PER MATCH";
        let defines = "UP AS c > PREV(c) AND c >= NEXT(c, 2) AND PREV(id * 2, 2) IS NOT NULL";
        let mut op = operator_with(shape, "UP", "", defines, "PAST LAST ROW");
        let (out, _) = feed(op.as_mut(), &rows, &splits);
        prop_assert_eq!(op.late_rows(), 0);
        let mut actual: Vec<Vec<String>> = chunks_to_strings(&out).unwrap();
        actual.sort();
        let mut expected = Vec::new();
        for k in 0..2 {
            let mut part: Vec<(i64, char)> = rows.iter().filter(|r| r.0 == k).map(|r| (r.1, r.2)).collect();
            part.sort();
            let n = part.len();
            for i in 2..n.saturating_sub(2) {
                if part[i].1 > part[i - 1].1 && part[i].1 >= part[i + 2].1 {
                    let p3 = if i >= 3 { part[i - 3].0.to_string() } else { "NULL".to_string() };
                    let row = ["+I".to_string(), k.to_string(), part[i].0.to_string(), p3, (part[i + 1].0 * 10).to_string()];
                    expected.push(row.to_vec());
                }
            }
        }
        expected.sort();
        prop_assert_eq!(actual, expected, "rows {:?}", rows);
    }
}
