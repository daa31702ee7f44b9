//! Oracle property test with late events: the changelog folded up (apply `+I`/`+U`,
//! remove `-U`/`-D`) equals DataFusion's batch answer over the rows the windows keep, and
//! the dropped count equals the number of rows too late for all their windows.
//!
//! The test classifies rows itself, from the definitions, without the engine's watermark
//! code: the watermark before row i is (max event time of rows 0..i) - delay; a row is too
//! late for window [s, e) when that watermark has reached e - 1 + lateness. Rows arrive
//! up to delay + lateness + 3 s out of order, so some are on time, some late within the
//! lateness (corrections) and some too late (dropped).

use proptest::prelude::*;

use super::oracle::{batch_of, cases, fold_changelog, insert_statements, run_collect, win_strategy, Win, AGGS, BASE};

const DELAY_MS: i64 = 1_000;

/// (key, value, time) in arrival order, possibly far out of order; batch sizes.
fn events_strategy(lateness: i64) -> impl Strategy<Value = (Vec<(i64, i64, i64)>, Vec<usize>)> {
    let max_jitter = (DELAY_MS + lateness + 3_000) / 250;
    (1usize..100, 1i64..4).prop_flat_map(move |(n, keys)| {
        let ev = proptest::collection::vec((0..keys, -50i64..50, 0i64..4, 0..=max_jitter, 0..4u8), n);
        let splits = proptest::collection::vec(1usize..30, 1..8);
        (ev, splits).prop_map(|(ev, splits)| {
            let mut base = BASE;
            let events = ev
                .into_iter()
                .map(|(k, v, step, jitter, straggle)| {
                    base += step * 250;
                    // One row in four straggles by up to the full jitter; the others by less
                    // than the delay (on time).
                    let behind = if straggle == 0 { jitter * 250 } else { (jitter * 250) % DELAY_MS };
                    (k, v, base - behind)
                })
                .collect();
            (events, splits)
        })
    })
}

/// The test's own classification: (row, window) pairs kept, and rows dropped entirely.
fn classify(win: Win, lateness: i64, events: &[(i64, i64, i64)]) -> (Vec<(i64, i64, i64, i64)>, u64) {
    let mut kept = Vec::new();
    let mut dropped = 0;
    let mut max_seen: Option<i64> = None;
    for &(k, v, t) in events {
        let wm = max_seen.map(|m| m - DELAY_MS);
        let mut any = false;
        for (s, e) in win.windows_of(t) {
            if wm.is_none_or(|wm| wm < e - 1 + lateness) {
                kept.push((s, e, k, v));
                any = true;
            }
        }
        if !any {
            dropped += 1;
        }
        max_seen = Some(max_seen.map_or(t, |m| m.max(t)));
    }
    (kept, dropped)
}

/// Runs the query; returns the changelog as emitted and the engine's late count.
async fn streaming(
    win: Win,
    lateness: i64,
    events: &[(i64, i64, i64)],
    splits: &[usize],
    workers: usize,
) -> (Vec<Vec<String>>, u64) {
    let sql = format!(
        "SET 'parallelism' = '{workers}';
         CREATE TABLE ev (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '{DELAY_MS}' MILLISECOND)
         WITH ('connector' = 'values', 'lateness' = '{lateness} ms');
         {}
         SELECT window_start, window_end, k, {AGGS} FROM TABLE({}) GROUP BY window_start, window_end, k;",
        insert_statements(events, splits),
        win.tvf()
    );
    let (rows, metrics) = run_collect(&sql).await;
    (rows, metrics.late_dropped.load(std::sync::atomic::Ordering::Relaxed))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn folded_corrections_equal_batch_answers_over_kept_rows(
        win in win_strategy(),
        lateness in prop_oneof![Just(0i64), Just(1_000), Just(3_000)],
        (events, splits) in events_strategy(3_000),
        workers in 1usize..=4,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let (rows, late) = rt.block_on(streaming(win, lateness, &events, &splits, workers));
        // Fold per (window_start, window_end, k).
        let got = fold_changelog(rows, 3);
        let (kept, dropped) = classify(win, lateness, &events);
        let want = rt.block_on(batch_of(&kept));
        prop_assert_eq!(got, want, "window {:?}, lateness {}, workers {}", win, lateness, workers);
        prop_assert_eq!(late, dropped, "dropped count");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Not only the folded result: the changelog itself (every `+I`, `-U`, `+U`) is the same
    /// when every row arrives in a batch of its own.
    #[test]
    fn the_changelog_does_not_depend_on_batch_boundaries(
        win in win_strategy(),
        lateness in prop_oneof![Just(1_000i64), Just(3_000)],
        (events, splits) in events_strategy(3_000),
        workers in 1usize..=3,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let (mut batched, _) = rt.block_on(streaming(win, lateness, &events, &splits, workers));
        let (mut single, _) = rt.block_on(streaming(win, lateness, &events, &[1], workers));
        batched.sort();
        single.sort();
        prop_assert_eq!(batched, single, "window {:?}, lateness {}, workers {}", win, lateness, workers);
    }
}
