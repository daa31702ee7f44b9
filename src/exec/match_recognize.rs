//! `MATCH_RECOGNIZE`: streaming row pattern recognition per partition.
//!
//! ```text
//! rows ──▶ late? (time < watermark before the row) ──yes──▶ dropped, counted
//!            │ no
//!            ▼
//!   pending rows of all partitions, batch by batch as they came (match_rows.rs)
//!            │ watermark w passes them (time ≤ w; time < w with further ORDER BY keys)
//!            ▼
//!   the step's rows: per partition (in key order) the rows held from before, then the
//!   released rows sorted by (time, further ORDER BY keys, arrival) — one gather
//!   [ p1: history for PREV | start ── partial match ── new rows ][ p2: ... ] ...
//!            │ context-free DEFINE conditions: evaluated once over all of them
//!            │ the matcher runs per partition from `start`: Match → output, skip;
//!            │ NoMatch → start + 1; NeedMore (a preferred match could still grow) → wait
//!            ▼
//!   one output batch for the step's matches; rows before `start` minus the PREV
//!   history are released (memory stays bounded by partial matches and look-back)
//! ```
//!
//! Rows only become final once the watermark passes them, so no row can arrive later in
//! front of them: results never depend on arrival order within the watermark delay nor
//! on batch boundaries. Matches are emitted as `+I` when the watermark makes them certain;
//! the final watermark (`i64::MAX`, end of a bounded input) ends every partition, so
//! partial matches fail and `$` matches at the last row.
//!
//! All work on rows is done once per watermark step over every partition's rows together
//! (sorting, gathering, conditions, measures), so that many partitions with few rows each
//! cost little more than one partition with many.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ahash::RandomState;
use datafusion::arrow::array::{
    new_null_array, Array, ArrayRef, BooleanArray, RecordBatch, TimestampMillisecondArray, UInt32Array,
};
use datafusion::arrow::compute::{concat_batches, filter_record_batch, interleave_record_batch, take_record_batch};
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use serde::{Deserialize, Serialize};

use super::chunk::Chunk;
use super::event_time::millis;
use super::match_eval::{MatchExpr, MatchView};
use super::match_pattern::{Outcome, Program, Tail, Verdict};
use super::match_rows::{Pending, Released};
pub use super::match_spec::{AfterMatch, EmptyMatches, MatchRecognizeSpec, RowsPerMatch};
use super::operator::Operator;
use super::state_codec::{decode_arrays, encode_arrays};
use crate::error::{Error, Result};

/// One partition's matching position; its rows are in the operator's shared row stores.
struct Partition {
    /// The `PARTITION BY` key (row format).
    key: Vec<u8>,
    /// Its final rows still held: `held_len` rows of the operator's `held` from `held_lo`.
    held_lo: usize,
    held_len: usize,
    /// The partition's row number of its first held row.
    base: u64,
    /// Where the next match search starts (index into its held rows).
    start: usize,
    /// Matches found so far (empty ones included).
    matches: u64,
    /// Partition row number after the last row output as part of a match
    /// (`WITH UNMATCHED ROWS`).
    covered: u64,
}

#[derive(Serialize, Deserialize)]
struct PartitionSnapshot {
    #[serde(with = "crate::runtime::checkpoint::base64_bytes::one")]
    key: Vec<u8>,
    #[serde(with = "crate::runtime::checkpoint::base64_bytes::one")]
    rows: Vec<u8>,
    base: u64,
    start: usize,
    #[serde(with = "crate::runtime::checkpoint::base64_bytes::one")]
    pending: Vec<u8>,
    pending_times: Vec<i64>,
    matches: u64,
    covered: u64,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    watermark: i64,
    late: u64,
    without_time: u64,
    partitions: Vec<PartitionSnapshot>,
}

/// The rows of one watermark step and what is known about them.
struct Step {
    /// Every partition's final rows, partition after partition.
    rows: RecordBatch,
    /// Event times of `rows` (with `WITHIN` only).
    times: Option<TimestampMillisecondArray>,
    /// Per variable with a context-free condition: its verdict per row of `rows`.
    verdicts: Vec<Option<Vec<Option<bool>>>>,
    /// Whether the input has ended.
    is_final: bool,
    /// The watermark `WITHIN` intervals expire by (see [`MatchRecognize::run`]).
    clock: i64,
}

/// A ONE ROW PER MATCH match waiting to be output with others.
struct OneRow {
    path: Vec<(usize, u16)>,
    number: u64,
    /// Its partition's rows in the step: `lo..avail`.
    lo: usize,
    avail: usize,
}

/// A step's output: batches in order, and ONE ROW PER MATCH matches not output yet
/// (their measures are evaluated together).
#[derive(Default)]
struct Output {
    batches: Vec<RecordBatch>,
    one: Vec<OneRow>,
}

/// The operator. See the module docs.
pub struct MatchRecognize {
    spec: Arc<MatchRecognizeSpec>,
    program: Program,
    keys: Option<RowConverter>,
    order: Option<RowConverter>,
    /// Partitions by id (ids are never reused: a partition keeps its match count).
    partitions: Vec<Partition>,
    /// Partition ids by key, for lookups per row.
    ids: HashMap<Vec<u8>, u32, RandomState>,
    /// Partition ids in key order (the order partitions are searched and output in).
    by_key: BTreeMap<Vec<u8>, u32>,
    /// Final rows still held, partition after partition.
    held: RecordBatch,
    /// Rows not final yet.
    pending: Pending,
    watermark: i64,
    late: u64,
    without_time: u64,
    /// Rows kept before `start` for `PREV`.
    history: usize,
    /// Rows after a match's last row its measures read (`NEXT`).
    lookahead: usize,
    /// The watermark passed on ([`Operator::output_watermark`]): below the earliest row a
    /// match not output yet can start at.
    hold: i64,
}

impl MatchRecognize {
    /// A fresh operator with no rows.
    pub fn try_new(spec: Arc<MatchRecognizeSpec>) -> Result<Self> {
        let converter = |fields: Vec<SortField>| -> Result<Option<RowConverter>> {
            Ok(if fields.is_empty() { None } else { Some(RowConverter::new(fields)?) })
        };
        let schema = &spec.input_schema;
        let keys =
            converter(spec.partition.iter().map(|e| Ok(SortField::new(e.data_type(schema)?))).collect::<Result<_>>()?)?;
        let order = converter(
            spec.order
                .iter()
                .map(|(e, desc)| {
                    let opts = datafusion::arrow::compute::SortOptions { descending: *desc, nulls_first: !*desc };
                    Ok(SortField::new_with_options(e.data_type(schema)?, opts))
                })
                .collect::<Result<_>>()?,
        )?;
        let all = spec.defines.iter().flatten().chain(&spec.measures);
        let history = all.clone().map(MatchExpr::lookbehind).max().unwrap_or(0) as usize;
        let lookahead = spec.measures.iter().map(MatchExpr::lookahead).max().unwrap_or(0) as usize;
        Ok(MatchRecognize {
            program: Program::compile(&spec.pattern),
            held: RecordBatch::new_empty(spec.row_schema.clone()),
            spec,
            keys,
            order,
            partitions: Vec::new(),
            ids: HashMap::default(),
            by_key: BTreeMap::new(),
            pending: Pending::default(),
            watermark: i64::MIN,
            late: 0,
            without_time: 0,
            history,
            lookahead,
            hold: i64::MIN,
        })
    }

    /// The earliest event time of a row a later match (or unmatched-row output) can still
    /// start at: each partition's search-start row, and every pending row. Rows kept only
    /// for `PREV` do not count. A later match's `MATCH_ROWTIME()` (its last row's time) is
    /// at least this.
    fn earliest_unmatched(&self) -> Result<Option<i64>> {
        let mut earliest = self.pending.min_time();
        if self.partitions.iter().any(|p| p.start < p.held_len) {
            let times = millis(&self.spec.time, &self.held)?;
            for p in self.partitions.iter().filter(|p| p.start < p.held_len) {
                let t = times.value(p.held_lo + p.start);
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
            }
        }
        Ok(earliest)
    }

    /// Rows held in state (final and pending), for tests and metrics.
    pub fn held_rows(&self) -> usize {
        self.held.num_rows() + self.pending.len()
    }

    /// The input rows with the derived columns appended.
    fn with_derived(&self, batch: RecordBatch) -> Result<RecordBatch> {
        if self.spec.derived.is_empty() {
            return Ok(RecordBatch::try_new(self.spec.row_schema.clone(), batch.columns().to_vec())?);
        }
        let n = batch.num_rows();
        let mut columns = batch.columns().to_vec();
        for d in &self.spec.derived {
            columns.push(d.evaluate(&batch)?.into_array(n)?);
        }
        Ok(RecordBatch::try_new(self.spec.row_schema.clone(), columns)?)
    }

    /// The further `ORDER BY` keys of `batch`'s rows, if the clause has any.
    fn order_rows(&self, batch: &RecordBatch) -> Result<Option<Rows>> {
        order_rows(&self.spec, self.order.as_ref(), batch)
    }

    /// The id of the partition with key `key`, created if new.
    fn partition_id(&mut self, key: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let id = self.partitions.len() as u32;
        self.partitions.push(Partition {
            key: key.to_vec(),
            held_lo: self.held.num_rows(),
            held_len: 0,
            base: 0,
            start: 0,
            matches: 0,
            covered: 0,
        });
        self.ids.insert(key.to_vec(), id);
        self.by_key.insert(key.to_vec(), id);
        id
    }

    /// Sorts released rows by (partition in key order, time, further ORDER BY keys,
    /// arrival).
    fn sort_released(&self, released: &mut [Released]) {
        let mut rank = vec![0u32; self.partitions.len()];
        for (r, &id) in self.by_key.values().enumerate() {
            rank[id as usize] = r as u32;
        }
        if self.order.is_none() {
            released.sort_unstable_by_key(|r| (rank[r.part as usize], r.time, r.batch, r.row));
            return;
        }
        let batches = self.pending.batches();
        let key = |r: &Released| batches[r.batch as usize].order.as_ref().map(|o| o.row(r.row as usize));
        released.sort_unstable_by(|a, b| {
            (rank[a.part as usize], a.time)
                .cmp(&(rank[b.part as usize], b.time))
                .then_with(|| key(a).cmp(&key(b)))
                .then((a.batch, a.row).cmp(&(b.batch, b.row)))
        });
    }

    /// One watermark step: releases the rows the watermark passed, searches the
    /// partitions that may have news, and keeps the rows matches may still use.
    fn step(&mut self, watermark: i64, is_final: bool, clock: i64) -> Result<Vec<Chunk>> {
        // With further ORDER BY keys a row at time w may still arrive and sort before one
        // already here, so only rows strictly before the watermark are final.
        let strict = self.order.is_some();
        let is_done = |t: i64| is_final || if strict { t < watermark } else { t <= watermark };
        let mut released = self.pending.release(is_done);
        let within = self.spec.within_ms.is_some();
        // With WITHIN a waiting partial match may expire without new rows.
        let waiting = within && self.partitions.iter().any(|p| p.start < p.held_len);
        if released.is_empty() && !is_final && !waiting {
            return Ok(vec![]);
        }
        self.sort_released(&mut released);

        // The step's rows: per partition, its held rows then its released rows.
        let mut idx: Vec<(usize, usize)> = Vec::with_capacity(self.held.num_rows() + released.len());
        let mut ranges = vec![(0usize, 0usize); self.partitions.len()];
        let mut fresh = vec![false; self.partitions.len()];
        let mut parts = Vec::with_capacity(self.by_key.len());
        let mut next = 0;
        for &id in self.by_key.values() {
            let p = &self.partitions[id as usize];
            let lo = idx.len();
            idx.extend((p.held_lo..p.held_lo + p.held_len).map(|i| (0, i)));
            while next < released.len() && released[next].part == id {
                let r = released[next];
                idx.push((r.batch as usize + 1, r.row as usize));
                next += 1;
            }
            fresh[id as usize] = idx.len() > lo + p.held_len;
            ranges[id as usize] = (lo, idx.len());
            if idx.len() > lo {
                parts.push((lo, idx.len()));
            }
        }
        let rows = if idx.is_empty() {
            RecordBatch::new_empty(self.spec.row_schema.clone())
        } else {
            let sources: Vec<&RecordBatch> =
                std::iter::once(&self.held).chain(self.pending.batches().iter().map(|b| &b.batch)).collect();
            interleave_record_batch(&sources, &idx)?
        };
        let spec = Arc::clone(&self.spec);
        let conv = self.order.as_ref();
        self.pending.compact(|b| order_rows(&spec, conv, b))?;

        let mut verdicts = Vec::with_capacity(spec.defines.len());
        for (var, cond) in spec.defines.iter().enumerate() {
            verdicts.push(match cond.as_ref().filter(|c| c.is_context_free(var as u16)) {
                Some(c) => Some(c.context_free_conditions(&spec.var_names[var], &rows, &parts, is_final)?),
                None => None,
            });
        }
        let times = if within { Some(millis(&spec.time, &rows)?) } else { None };
        let step = Step { rows, times, verdicts, is_final, clock };

        let mut out = Output::default();
        let mut keep: Vec<u32> = Vec::new();
        let mut partitions = std::mem::take(&mut self.partitions);
        let result = (|| -> Result<()> {
            for &id in self.by_key.values() {
                let (lo, hi) = ranges[id as usize];
                let p = &mut partitions[id as usize];
                if fresh[id as usize] || is_final || (within && p.start < hi - lo) {
                    self.run(&step, p, lo, hi, &mut out)?;
                }
                // Release rows no match can reach any more.
                let keep_from = p.start.saturating_sub(self.history).min(hi - lo);
                p.base += keep_from as u64;
                p.start -= keep_from;
                p.held_lo = keep.len();
                p.held_len = hi - lo - keep_from;
                keep.extend((lo + keep_from) as u32..hi as u32);
            }
            self.flush(&step, &mut out)
        })();
        // Partitions holding nothing but their match count are kept: MATCH_NUMBER continues.
        self.partitions = partitions;
        result?;
        self.held = if keep.len() == step.rows.num_rows() {
            step.rows
        } else {
            take_record_batch(&step.rows, &UInt32Array::from(keep))?
        };
        Ok(out.batches.into_iter().map(Chunk::inserts).collect())
    }

    /// Searches a partition for matches over its rows `lo..hi` of the step; appends the
    /// output rows to `out`. The step's `clock` is the watermark `WITHIN` intervals expire
    /// by: at the end of input the last watermark before the final one, so that partial
    /// matches still pending then fail rather than time out.
    fn run(&self, s: &Step, p: &mut Partition, lo: usize, hi: usize, out: &mut Output) -> Result<()> {
        let spec = &self.spec;
        let partition_start = (p.base == 0).then_some(lo);
        while lo + p.start < hi {
            let start = lo + p.start;
            let number = p.matches + 1;
            let mut test = |var: u16, row: usize, path: &[(usize, u16)]| {
                self.test_row(s, var, row, path, (lo, hi, s.is_final), number)
            };
            // WITHIN: once the watermark is `within` past the start row, no row still to come
            // can join a match from it.
            let expired = match (spec.within_ms, &s.times) {
                (Some(w), Some(t)) => s.clock >= t.value(start).saturating_add(w),
                _ => false,
            };
            let tail = if s.is_final {
                Tail::End
            } else if expired {
                Tail::Closed
            } else {
                Tail::Open
            };
            let outcome = self.program.find(start, hi, tail, partition_start, &mut test)?;
            match outcome {
                Outcome::NeedMore => break,
                Outcome::NoMatch if expired && spec.emit_timeouts => {
                    if let Some(row) = self.timeout(s, p, lo, hi, start, number)? {
                        self.flush(s, out)?;
                        out.batches.push(row);
                        p.matches = number;
                    }
                    p.start += 1;
                }
                Outcome::NoMatch => {
                    if spec.rows_per_match == RowsPerMatch::All(EmptyMatches::WithUnmatched)
                        && p.base + p.start as u64 >= p.covered
                    {
                        self.flush(s, out)?;
                        out.batches.push(self.single_row_output(s, lo, hi, start, None)?);
                    }
                    p.start += 1;
                }
                Outcome::Match(path, _) if path.is_empty() => {
                    // An empty match: the search resumes at the next row whatever the skip.
                    if spec.rows_per_match != RowsPerMatch::All(EmptyMatches::Omit) {
                        self.flush(s, out)?;
                        out.batches.push(self.single_row_output(s, lo, hi, start, Some(number))?);
                    }
                    p.matches = number;
                    p.start += 1;
                }
                Outcome::Match(path, excluded) => {
                    let (first, last) = (path[0].0, path[path.len() - 1].0);
                    if !s.is_final && last + self.lookahead >= hi {
                        break; // measures read rows after the match that are not final yet
                    }
                    p.start = self.skip_target(&path, first, last)? - lo;
                    p.matches = number;
                    p.covered = p.covered.max(p.base + (last - lo) as u64 + 1);
                    match spec.rows_per_match {
                        RowsPerMatch::One => out.one.push(OneRow { path, number, lo, avail: hi }),
                        RowsPerMatch::All(_) => {
                            out.batches.push(self.output_all(s, (lo, hi), &path, &excluded, number)?)
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether row `row` of the step satisfies variable `var`'s condition with `path`
    /// matched so far, its partition's rows being `lo..avail` (`is_final`: none follow).
    fn test_row(
        &self,
        s: &Step,
        var: u16,
        row: usize,
        path: &[(usize, u16)],
        (lo, avail, is_final): (usize, usize, bool),
        match_number: u64,
    ) -> Result<Verdict> {
        let spec = &self.spec;
        if let (Some(within), Some(times)) = (spec.within_ms, &s.times) {
            if times.value(row) - times.value(path[0].0) >= within {
                return Ok(Verdict::False);
            }
        }
        let Some(cond) = &spec.defines[var as usize] else { return Ok(Verdict::True) };
        let verdict = match &s.verdicts[var as usize] {
            Some(v) => v[row],
            None => {
                let view = MatchView {
                    rows: &s.rows,
                    lo,
                    avail,
                    is_final,
                    path,
                    position: path.len() - 1,
                    match_number,
                    timed_out: false,
                    var_names: &spec.var_names,
                };
                cond.conditions(&s.rows.slice(row, 1), &[view])?[0]
            }
        };
        Ok(match verdict {
            Some(true) => Verdict::True,
            Some(false) => Verdict::False,
            None => Verdict::NeedMore,
        })
    }

    /// The output row of the partial match from `start` whose `WITHIN` interval has passed
    /// (no match starts there), or `None` if no partial match was waiting for rows when the
    /// interval ended. Only rows before `start`'s time plus the interval count, all final
    /// by now, so the answer does not depend on when the watermark got here. The timed-out
    /// match ends at its deadline: `NEXT` beyond it reads NULL.
    fn timeout(
        &self,
        s: &Step,
        p: &Partition,
        lo: usize,
        hi: usize,
        start: usize,
        number: u64,
    ) -> Result<Option<RecordBatch>> {
        let (Some(within), Some(times)) = (self.spec.within_ms, &s.times) else { return Ok(None) };
        let deadline = times.value(start).saturating_add(within);
        let ends = start + times.values()[start..hi].partition_point(|&t| t < deadline);
        let partition_start = (p.base == 0).then_some(lo);
        let mut test =
            |var: u16, row: usize, path: &[(usize, u16)]| self.test_row(s, var, row, path, (lo, ends, false), number);
        match self.program.partial(start, ends, partition_start, &mut test)? {
            Some(path) if !path.is_empty() => {
                let one = OneRow { path, number, lo, avail: ends };
                Ok(Some(self.output_one(s, &[one], true, true)?))
            }
            _ => Ok(None),
        }
    }

    fn skip_target(&self, path: &[(usize, u16)], first: usize, last: usize) -> Result<usize> {
        let (var, pick_last, clause) = match self.spec.after_match {
            AfterMatch::PastLastRow => return Ok(last + 1),
            AfterMatch::ToNextRow => return Ok(first + 1),
            AfterMatch::ToFirst(v) => (v, false, "TO FIRST"),
            AfterMatch::ToLast(v) => (v, true, "TO LAST"),
        };
        let name = &self.spec.var_names[var as usize];
        let mut rows = path.iter().filter(|(_, v)| *v == var).map(|(r, _)| *r);
        let target = if pick_last { rows.next_back() } else { rows.next() };
        match target {
            None => Err(Error::data(format!(
                "AFTER MATCH SKIP {clause} {name}: the match has no row mapped to {name} (SQL:2016 makes this an error)"
            ))),
            Some(t) if t == first => Err(Error::data(format!(
                "AFTER MATCH SKIP {clause} {name} would restart at the first row of the match (an endless loop; SQL:2016 makes this an error)"
            ))),
            Some(t) => Ok(t),
        }
    }

    /// Outputs the waiting ONE ROW PER MATCH matches (in order) as one batch.
    fn flush(&self, s: &Step, out: &mut Output) -> Result<()> {
        if out.one.is_empty() {
            return Ok(());
        }
        let batch = self.output_one(s, &out.one, s.is_final, false)?;
        out.batches.push(batch);
        out.one.clear();
        Ok(())
    }

    /// The ONE ROW PER MATCH rows of non-empty `matches`, one each, with measures
    /// evaluated in one batch over the step's rows (`is_final`: no rows follow the
    /// partitions' rows); `timed_out`: they are timed-out partial matches.
    fn output_one(&self, s: &Step, matches: &[OneRow], is_final: bool, timed_out: bool) -> Result<RecordBatch> {
        let spec = &self.spec;
        let n = matches.len();
        let last_rows = UInt32Array::from_iter_values(matches.iter().map(|m| m.path[m.path.len() - 1].0 as u32));
        let base = take_record_batch(&s.rows, &last_rows)?;
        let mut columns =
            spec.partition.iter().map(|k| Ok(k.evaluate(&base)?.into_array(n)?)).collect::<Result<Vec<ArrayRef>>>()?;
        let views: Vec<MatchView> = matches
            .iter()
            .map(|m| MatchView {
                rows: &s.rows,
                lo: m.lo,
                avail: m.avail,
                is_final,
                path: &m.path,
                position: m.path.len() - 1,
                match_number: m.number,
                timed_out,
                var_names: &spec.var_names,
            })
            .collect();
        for m in &spec.measures {
            let values =
                m.evaluate(&base, &views)?.ok_or_else(|| Error::internal("a measure read a row that is not final"))?;
            columns.push(values);
        }
        Ok(RecordBatch::try_new(spec.schema.clone(), columns)?)
    }

    /// The ALL ROWS PER MATCH rows of one match in its partition's rows `lo..hi`, without
    /// the rows matched inside `{- .. -}`.
    fn output_all(
        &self,
        s: &Step,
        (lo, hi): (usize, usize),
        path: &[(usize, u16)],
        excluded: &[usize],
        number: u64,
    ) -> Result<RecordBatch> {
        let spec = &self.spec;
        let view = |position| MatchView {
            rows: &s.rows,
            lo,
            avail: hi,
            is_final: s.is_final,
            path,
            position,
            match_number: number,
            timed_out: false,
            var_names: &spec.var_names,
        };
        let base = s.rows.slice(path[0].0, path.len());
        let views: Vec<MatchView> = (0..path.len()).map(view).collect();
        let mut columns = base.columns()[..spec.input_schema.fields().len()].to_vec();
        for m in &spec.measures {
            let values =
                m.evaluate(&base, &views)?.ok_or_else(|| Error::internal("a measure read a row that is not final"))?;
            columns.push(values);
        }
        let out = RecordBatch::try_new(spec.schema.clone(), columns)?;
        if excluded.is_empty() {
            return Ok(out);
        }
        let keep: BooleanArray = path.iter().map(|(row, _)| Some(excluded.binary_search(row).is_err())).collect();
        Ok(filter_record_batch(&out, &keep)?)
    }

    /// The one output row of an empty match at `row` (`Some(match number)`: measures over
    /// no rows), or of an unmatched row (`None`: NULL measures); the partition's rows are
    /// `lo..hi`.
    fn single_row_output(
        &self,
        s: &Step,
        lo: usize,
        hi: usize,
        row: usize,
        number: Option<u64>,
    ) -> Result<RecordBatch> {
        let spec = &self.spec;
        let at = s.rows.slice(row, 1);
        let mut columns: Vec<ArrayRef> = match spec.rows_per_match {
            RowsPerMatch::One => {
                spec.partition.iter().map(|k| Ok(k.evaluate(&at)?.into_array(1)?)).collect::<Result<Vec<_>>>()?
            }
            RowsPerMatch::All(_) => at.columns()[..spec.input_schema.fields().len()].to_vec(),
        };
        // Column references in measures of an empty match read no row: NULL.
        let nulls = RecordBatch::try_new(
            spec.row_schema.clone(),
            spec.row_schema.fields().iter().map(|f| new_null_array(f.data_type(), 1)).collect(),
        )?;
        for m in &spec.measures {
            let values = match number {
                Some(number) => {
                    let view = MatchView {
                        rows: &s.rows,
                        lo,
                        avail: hi,
                        is_final: true,
                        path: &[],
                        position: 0,
                        match_number: number,
                        timed_out: false,
                        var_names: &spec.var_names,
                    };
                    m.evaluate(&nulls, &[view])?.ok_or_else(|| Error::internal("an empty match read a row"))?
                }
                None => new_null_array(&m.expr.data_type(&m.schema)?, 1),
            };
            columns.push(values);
        }
        Ok(RecordBatch::try_new(spec.schema.clone(), columns)?)
    }
}

/// The further `ORDER BY` keys of `batch`'s rows (`conv`: their converter, if any).
fn order_rows(spec: &MatchRecognizeSpec, conv: Option<&RowConverter>, batch: &RecordBatch) -> Result<Option<Rows>> {
    let Some(conv) = conv else { return Ok(None) };
    let cols = spec
        .order
        .iter()
        .map(|(e, _)| Ok(e.evaluate(batch)?.into_array(batch.num_rows())?))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(conv.convert_columns(&cols)?))
}

impl Operator for MatchRecognize {
    fn name(&self) -> &str {
        "MatchRecognize"
    }

    fn on_chunk(&mut self, chunk: Chunk) -> Result<Vec<Chunk>> {
        if chunk.ops.is_some() {
            return Err(Error::internal("MATCH_RECOGNIZE got an updating input; the planner should have refused it"));
        }
        let batch = RecordBatch::try_new(self.spec.input_schema.clone(), chunk.batch.columns().to_vec())?;
        let n = batch.num_rows();
        let times = millis(&self.spec.time, &batch)?;
        let key_rows = match &self.keys {
            Some(conv) => {
                let cols = self
                    .spec
                    .partition
                    .iter()
                    .map(|k| Ok(k.evaluate(&batch)?.into_array(n)?))
                    .collect::<Result<Vec<_>>>()?;
                Some(conv.convert_columns(&cols)?)
            }
            None => None,
        };
        let mut kept = Vec::with_capacity(n);
        let mut parts = Vec::with_capacity(n);
        let mut row_times = Vec::with_capacity(n);
        for i in 0..n {
            if times.is_null(i) {
                self.without_time += 1;
                continue;
            }
            let t = times.value(i);
            let before = chunk.row_watermarks.as_ref().map_or(self.watermark, |w| w.value(i));
            // A row behind the watermark could not be placed before rows already final.
            if t < before || t < self.watermark {
                self.late += 1;
                continue;
            }
            let id = match &key_rows {
                Some(k) => self.partition_id(k.row(i).as_ref()),
                None => self.partition_id(&[]),
            };
            kept.push(i as u32);
            parts.push(id);
            row_times.push(t);
        }
        if kept.is_empty() {
            return Ok(vec![]);
        }
        let batch = if kept.len() == n { batch } else { take_record_batch(&batch, &UInt32Array::from(kept))? };
        let batch = self.with_derived(batch)?;
        let order = self.order_rows(&batch)?;
        self.pending.push(batch, parts, row_times, order);
        Ok(vec![])
    }

    fn on_watermark(&mut self, watermark: i64) -> Result<Vec<Chunk>> {
        if watermark <= self.watermark {
            return Ok(vec![]);
        }
        let is_final = watermark == i64::MAX;
        let clock = if is_final { self.watermark } else { watermark };
        self.watermark = watermark;
        let out = self.step(watermark, is_final, clock)?;
        // A row at the watermark itself is not late: it too may still start a match.
        let hold = match is_final {
            true => i64::MAX,
            false => self.earliest_unmatched()?.map_or(watermark, |t| t.min(watermark)).saturating_sub(1),
        };
        self.hold = self.hold.max(hold);
        Ok(out)
    }

    fn output_watermark(&self, input: i64) -> i64 {
        input.min(self.hold)
    }

    fn on_end(&mut self) -> Result<Vec<Chunk>> {
        self.on_watermark(i64::MAX)
    }

    fn snapshot(&mut self) -> Result<Vec<u8>> {
        // Every pending row, grouped by partition (arrival order within one), in one gather.
        let by_part = self.pending.rows_by_partition(self.partitions.len());
        let mut at = Vec::with_capacity(self.pending.len());
        let mut bounds = vec![(0, 0); self.partitions.len()];
        for &id in self.by_key.values() {
            let lo = at.len();
            at.extend_from_slice(&by_part[id as usize]);
            bounds[id as usize] = (lo, at.len() - lo);
        }
        let pending = if at.is_empty() {
            RecordBatch::new_empty(self.spec.row_schema.clone())
        } else {
            let sources: Vec<&RecordBatch> = self.pending.batches().iter().map(|b| &b.batch).collect();
            interleave_record_batch(&sources, &at)?
        };
        let mut partitions = Vec::with_capacity(self.partitions.len());
        for &id in self.by_key.values() {
            let p = &self.partitions[id as usize];
            let (lo, len) = bounds[id as usize];
            partitions.push(PartitionSnapshot {
                key: p.key.clone(),
                rows: encode_arrays(self.held.slice(p.held_lo, p.held_len).columns())?,
                base: p.base,
                start: p.start,
                pending: encode_arrays(pending.slice(lo, len).columns())?,
                pending_times: at[lo..lo + len].iter().map(|&(b, r)| self.pending.batches()[b].times[r]).collect(),
                matches: p.matches,
                covered: p.covered,
            });
        }
        let snap = Snapshot { watermark: self.watermark, late: self.late, without_time: self.without_time, partitions };
        serde_json::to_vec(&snap).map_err(|e| Error::internal(format!("snapshot: {e}")))
    }

    fn restore(&mut self, state: &[u8]) -> Result<()> {
        let snap: Snapshot = serde_json::from_slice(state).map_err(|e| Error::internal(format!("restore: {e}")))?;
        let batch = |bytes: &[u8]| -> Result<RecordBatch> {
            Ok(RecordBatch::try_new(self.spec.row_schema.clone(), decode_arrays(bytes)?)?)
        };
        let mut fresh = MatchRecognize::try_new(Arc::clone(&self.spec))?;
        let (mut held, mut held_rows) = (Vec::new(), 0);
        let (mut pending, mut parts, mut times) = (Vec::new(), Vec::new(), Vec::new());
        for p in snap.partitions {
            let id = fresh.partition_id(&p.key);
            let rows = batch(&p.rows)?;
            let part = &mut fresh.partitions[id as usize];
            part.held_lo = held_rows;
            part.held_len = rows.num_rows();
            part.base = p.base;
            part.start = p.start;
            part.matches = p.matches;
            part.covered = p.covered;
            held_rows += rows.num_rows();
            held.push(rows);
            let rows = batch(&p.pending)?;
            if rows.num_rows() != p.pending_times.len() {
                return Err(Error::internal("restore: pending rows and times differ in number"));
            }
            parts.extend(std::iter::repeat_n(id, rows.num_rows()));
            times.extend(p.pending_times);
            pending.push(rows);
        }
        let schema = &self.spec.row_schema;
        fresh.held = concat_batches(schema, &held)?;
        // One pending batch: rows of a partition keep their arrival order, which is all that
        // ties between them depend on.
        let pending = concat_batches(schema, &pending)?;
        let order = fresh.order_rows(&pending)?;
        fresh.pending.push(pending, parts, times, order);
        fresh.watermark = snap.watermark;
        fresh.late = snap.late;
        fresh.without_time = snap.without_time;
        *self = fresh;
        Ok(())
    }

    fn late_rows(&self) -> u64 {
        self.late
    }

    fn rows_without_time(&self) -> u64 {
        self.without_time
    }

    fn state_keys(&self) -> usize {
        self.partitions.len()
    }
}

#[cfg(test)]
#[path = "match_recognize_tests.rs"]
mod tests;
