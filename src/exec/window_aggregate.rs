//! `GROUP BY window_start, window_end, keys` over a TUMBLE / HOP / CUMULATE window TVF.
//!
//! Each row updates exactly one *pane* (see [`WindowKind`]); a window's result is its
//! single pane (TUMBLE) or the merge of its panes' partial states (HOP, CUMULATE), so an
//! event is aggregated once however many windows overlap it.
//!
//! Timing (Flink's rules, DESIGN's determinism rule):
//! * a window `[start, end)` fires when the watermark reaches `end - 1`, emitting `+I`;
//! * a row is late for a window when the watermark *just before that row* had already
//!   reached `end - 1`. Within the allowed lateness (`watermark < end - 1 + lateness`) it
//!   still counts and the window's emitted rows are corrected (`-U` old, `+U` new; see
//!   [`super::correction`]); later than that it is dropped from that window only, and
//!   counted when it is too late for every window it belongs to;
//! * within a chunk, windows fire (and corrections are emitted) at the row where the
//!   per-row watermark crosses a window end, so results never depend on batch boundaries;
//! * every late row gets its own correction: before a late row changes a (window, key)
//!   that an earlier late row changed since the last correction, that earlier change is
//!   emitted. Late rows for different keys are corrected together, at the end of the
//!   chunk at the latest. So the `-U`/`+U` pairs do not depend on how the input is split
//!   into chunks either: one pair per late row and window whose result it changed.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, TimestampMillisecondArray, UInt32Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::hash_utils::{create_hashes, RandomState};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::PhysicalExpr;
use serde::{Deserialize, Serialize};

use super::chunk::Chunk;
use super::event_time;
use super::groups::{aggregate_inputs, constant_key, take_inputs, Groups};
use super::operator::Operator;
use super::state_codec::{decode_arrays, encode_snapshot_arrays, SnapshotBytes};
use crate::error::{Error, Result};
use crate::plan::window::WindowKind;

/// Hashes of grouping keys, to tell late rows of the same key apart (a collision only costs
/// an extra correction step, never a wrong result).
const KEY_HASH: RandomState = RandomState::with_seed(0x1a7e);

/// Where each output column of the aggregate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputColumn {
    /// `window_start`.
    WindowStart,
    /// `window_end`.
    WindowEnd,
    /// `window_time` (`window_end - 1 ms`).
    WindowTime,
    /// The i-th non-window grouping key.
    Key(usize),
    /// The i-th aggregate.
    Aggregate(usize),
}

pub use super::groups::AggregateWithFilter;

/// Key columns and, per aggregate, its partial-state columns.
type PartialState = (Vec<ArrayRef>, Vec<Vec<ArrayRef>>);

/// A [`PartialState`] encoded as Arrow IPC bytes.
type EncodedState = (SnapshotBytes, Vec<SnapshotBytes>);

/// Everything needed to build a window aggregate operator (one per worker).
#[derive(Debug, Clone)]
pub struct WindowAggregateSpec {
    /// Window shape.
    pub kind: WindowKind,
    /// The event-time column of the input.
    pub time: Arc<dyn PhysicalExpr>,
    /// Non-window grouping keys.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Schema of the key columns (see [`super::groups::key_schema`]).
    pub key_schema: SchemaRef,
    /// Aggregates with their optional `FILTER` predicates.
    pub aggregates: Vec<AggregateWithFilter>,
    /// Output column sources, in output order.
    pub output: Vec<OutputColumn>,
    /// Output schema.
    pub schema: SchemaRef,
    /// Allowed lateness (ms): window state is kept until the watermark passes
    /// `window_end - 1 + lateness`; late rows until then correct the window's result.
    pub lateness_ms: i64,
}

#[derive(Default)]
struct Pane {
    live: Option<Groups>,
    /// Partial states drained from `live` (when a window of several panes fired, or at a
    /// snapshot); merged again for every later window containing this pane.
    frozen: Vec<PartialState>,
}

/// The operator. See the module docs.
pub struct WindowAggregate {
    spec: Arc<WindowAggregateSpec>,
    aggs: Vec<Arc<AggregateFunctionExpr>>,
    panes: BTreeMap<i64, Pane>,
    watermark: i64,
    late: u64,
    no_time: u64,
    rows_aggregated: u64,
    /// With allowed lateness: each fired window's last emitted result, by `(end, start)`.
    emitted: BTreeMap<(i64, i64), RecordBatch>,
    /// Fired windows that late rows changed, to correct at the end of the chunk.
    dirty: BTreeSet<(i64, i64)>,
    /// Scratch: the pane of each row of the chunk being added (`i64::MIN` = late).
    pane_of_row: Vec<i64>,
}

impl WindowAggregate {
    /// A fresh operator with no state and watermark at -∞.
    pub fn new(spec: Arc<WindowAggregateSpec>) -> Self {
        let aggs = spec.aggregates.iter().map(|(a, _)| Arc::clone(a)).collect();
        WindowAggregate {
            spec,
            aggs,
            panes: BTreeMap::new(),
            watermark: i64::MIN,
            late: 0,
            no_time: 0,
            rows_aggregated: 0,
            emitted: BTreeMap::new(),
            dirty: BTreeSet::new(),
            pane_of_row: Vec::new(),
        }
    }

    /// Number of panes currently held.
    pub fn open_panes(&self) -> usize {
        self.panes.len()
    }

    /// Rows fed into accumulators so far: each on-time row counts once, however many
    /// windows it belongs to (the point of panes).
    pub fn rows_aggregated(&self) -> u64 {
        self.rows_aggregated
    }

    fn fire_index(&self, w: i64) -> i64 {
        let (period, phase) = self.spec.kind.fire_period();
        w.saturating_add(1).saturating_sub(phase).div_euclid(period)
    }

    /// Adds rows `[from, to)` of the evaluated columns. Rows late for every window they
    /// belong to are dropped and counted.
    fn add_rows(&mut self, cols: &Evaluated, from: usize, to: usize, current_wm: i64) -> Result<()> {
        const LATE: i64 = i64::MIN;
        let kind = self.spec.kind;
        self.pane_of_row.clear();
        let mut first: Option<i64> = None;
        let mut uniform = true;
        let pane_size = kind.pane_size();
        // Consecutive rows nearly always share a pane: reuse its start and close time
        // instead of two divisions per row.
        let (mut cur_pane, mut cur_close) = (i64::MIN, i64::MIN);
        for i in from..to {
            let pane = if cols.time.is_null(i) {
                // No event time: in no window; dropped and counted apart from late rows.
                self.no_time += 1;
                uniform = false;
                self.pane_of_row.push(LATE);
                continue;
            } else {
                let t = cols.time.value(i);
                if cur_pane == i64::MIN || t < cur_pane || t - cur_pane >= pane_size {
                    cur_pane = kind.pane_start(t);
                    cur_close = kind.last_end_of_pane(cur_pane).saturating_sub(1);
                }
                let w = cols.row_wm.as_ref().map(|w| w.value(i)).unwrap_or(current_wm);
                if cur_close.saturating_add(self.spec.lateness_ms) <= w {
                    LATE
                } else {
                    if self.spec.lateness_ms > 0 && cur_pane.saturating_add(pane_size - 1) <= w {
                        // Late for windows that already fired but within the lateness:
                        // those windows get corrected.
                        let lateness = self.spec.lateness_ms;
                        for (s, e) in kind.windows_closing(cur_pane, i64::MIN, w) {
                            if (e - 1).saturating_add(lateness) > w {
                                self.dirty.insert((e, s));
                            }
                        }
                    }
                    cur_pane
                }
            };
            if pane == LATE {
                self.late += 1;
                uniform = false;
            } else if *first.get_or_insert(pane) != pane {
                uniform = false;
            }
            self.pane_of_row.push(pane);
        }
        if uniform {
            if let Some(p) = first {
                let len = to - from;
                let keys: Vec<ArrayRef> = cols.keys.iter().map(|k| k.slice(from, len)).collect();
                let args: Vec<Vec<ArrayRef>> =
                    cols.args.iter().map(|a| a.iter().map(|c| c.slice(from, len)).collect()).collect();
                let filters: Vec<Option<BooleanArray>> =
                    cols.filters.iter().map(|f| f.as_ref().map(|f| f.slice(from, len))).collect();
                return self.pane_update(p, &keys, &args, &filters);
            }
            return Ok(());
        }
        // A chunk touches few panes: a short list beats a map.
        let mut by_pane: Vec<(i64, Vec<u32>)> = Vec::new();
        for (offset, &p) in self.pane_of_row.iter().enumerate() {
            if p == LATE {
                continue;
            }
            let row = (from + offset) as u32;
            match by_pane.iter_mut().rev().find(|(q, _)| *q == p) {
                Some((_, rows)) => rows.push(row),
                None => by_pane.push((p, vec![row])),
            }
        }
        for (p, idx) in by_pane {
            let idx = UInt32Array::from(idx);
            let (keys, (args, filters)) = take_inputs(&cols.keys, (&cols.args, &cols.filters), &idx)?;
            self.pane_update(p, &keys, &args, &filters)?;
        }
        Ok(())
    }

    fn pane_update(
        &mut self,
        pane: i64,
        keys: &[ArrayRef],
        args: &[Vec<ArrayRef>],
        filters: &[Option<BooleanArray>],
    ) -> Result<()> {
        self.rows_aggregated += keys.first().map(|k| k.len() as u64).unwrap_or(0);
        let entry = self.panes.entry(pane).or_default();
        if entry.live.is_none() {
            entry.live = Some(Groups::new(&self.spec.key_schema, &self.aggs)?);
        }
        entry.live.as_mut().expect("just set").update(keys, args, filters)
    }

    /// Advances the watermark to `w`, returning the results of windows that close.
    fn advance(&mut self, w: i64) -> Result<Vec<Chunk>> {
        if w <= self.watermark {
            return Ok(vec![]);
        }
        let old = self.watermark;
        self.watermark = w;
        if self.fire_index(w) == self.fire_index(old) {
            return Ok(vec![]); // no window end between the two watermarks
        }
        let kind = self.spec.kind;
        let mut due: BTreeSet<(i64, i64)> = BTreeSet::new();
        for &p in self.panes.keys() {
            if p > w {
                break;
            }
            due.extend(kind.windows_closing(p, old, w).into_iter().map(|(s, e)| (e, s)));
        }
        let mut out = Vec::new();
        for (end, start) in due {
            if let Some(batch) = self.window_result(start, end)? {
                if self.spec.lateness_ms > 0 {
                    self.emitted.insert((end, start), batch.clone());
                }
                out.push(Chunk::inserts(batch));
            }
        }
        self.expire(w);
        Ok(out)
    }

    /// Drops state no late row can reach any more: panes whose last window closed more than
    /// the lateness ago, and the remembered results of such windows.
    fn expire(&mut self, w: i64) {
        let (kind, lateness) = (self.spec.kind, self.spec.lateness_ms);
        // The last window end grows with the pane, so expired panes are a prefix.
        while let Some((&p, _)) = self.panes.first_key_value() {
            if kind.last_end_of_pane(p).saturating_sub(1).saturating_add(lateness) > w {
                break;
            }
            self.panes.pop_first();
        }
        while let Some((&(end, _), _)) = self.emitted.first_key_value() {
            if (end - 1).saturating_add(lateness) > w {
                break;
            }
            self.emitted.pop_first();
        }
    }

    /// The (window end, key hash) of every fired window that row `i`, under watermark `w`,
    /// corrects (late, but within the lateness), into `out`. Key hashes are computed for the
    /// whole chunk when the first late row needs them.
    fn corrected_by(
        &self,
        cols: &Evaluated,
        i: usize,
        w: i64,
        hashes: &mut Option<Vec<u64>>,
        out: &mut Vec<(i64, u64)>,
    ) -> Result<()> {
        if cols.time.is_null(i) {
            return Ok(());
        }
        let kind = self.spec.kind;
        let pane = kind.pane_start(cols.time.value(i));
        if pane.saturating_add(kind.pane_size() - 1) > w {
            return Ok(()); // no window of this row has fired
        }
        let lateness = self.spec.lateness_ms;
        let h = match hashes {
            Some(h) => h[i],
            None => {
                let mut h = vec![0; cols.time.len()];
                create_hashes(&cols.keys, &KEY_HASH, &mut h)?;
                hashes.insert(h)[i]
            }
        };
        out.extend(
            kind.windows_closing(pane, i64::MIN, w)
                .into_iter()
                .filter(|(_, e)| (e - 1).saturating_add(lateness) > w)
                .map(|(_, e)| (e, h)),
        );
        Ok(())
    }

    /// Emits `-U`/`+U` (or `+I`) for fired windows that late rows changed.
    fn correct(&mut self) -> Result<Vec<Chunk>> {
        let mut out = Vec::new();
        let key_columns: Vec<usize> = self
            .spec
            .output
            .iter()
            .enumerate()
            .filter(|(_, c)| !matches!(c, OutputColumn::Aggregate(_)))
            .map(|(i, _)| i)
            .collect();
        for (end, start) in std::mem::take(&mut self.dirty) {
            let Some(new) = self.window_result(start, end)? else { continue };
            let change = match self.emitted.get(&(end, start)) {
                Some(old) => crate::exec::correction::corrections(old, &new, &key_columns)?,
                None => Some(Chunk::inserts(new.clone())),
            };
            self.emitted.insert((end, start), new);
            out.extend(change);
        }
        Ok(out)
    }

    fn window_result(&mut self, start: i64, end: i64) -> Result<Option<RecordBatch>> {
        let kind = self.spec.kind;
        // Without lateness a TUMBLE pane is read once: evaluate it in place. With lateness
        // its state must survive for corrections, so it goes through the merge path.
        let in_place = kind.single_pane() && self.spec.lateness_ms == 0;
        let (keys, values) = if in_place && self.panes.get(&start).is_some_and(|p| p.frozen.is_empty()) {
            match self.panes.get_mut(&start).and_then(|p| p.live.as_mut()) {
                Some(g) if !g.is_empty() => g.evaluate()?,
                _ => return Ok(None),
            }
        } else {
            let mut merged = Groups::new(&self.spec.key_schema, &self.aggs)?;
            for (_, pane) in self.panes.range_mut(start..end) {
                if let Some(mut live) = pane.live.take() {
                    if !live.is_empty() {
                        pane.frozen.push(live.take_state()?);
                    }
                }
                for (k, s) in &pane.frozen {
                    merged.merge(k, s)?;
                }
            }
            if merged.is_empty() {
                return Ok(None);
            }
            merged.evaluate()?
        };
        self.build_output(start, end, keys, values).map(Some)
    }

    fn build_output(&self, start: i64, end: i64, keys: Vec<ArrayRef>, values: Vec<ArrayRef>) -> Result<RecordBatch> {
        let n = keys.first().map(|k| k.len()).unwrap_or(0);
        let ts = |v: i64| -> ArrayRef { Arc::new(TimestampMillisecondArray::from(vec![v; n])) };
        let mut cols = Vec::with_capacity(self.spec.output.len());
        for (src, field) in self.spec.output.iter().zip(self.spec.schema.fields()) {
            let a = match src {
                OutputColumn::WindowStart => ts(start),
                OutputColumn::WindowEnd => ts(end),
                OutputColumn::WindowTime => ts(end - 1),
                OutputColumn::Key(i) => keys[*i].clone(),
                OutputColumn::Aggregate(i) => values[*i].clone(),
            };
            let a = if a.data_type() != field.data_type() { cast(&a, field.data_type())? } else { a };
            cols.push(a);
        }
        Ok(RecordBatch::try_new(self.spec.schema.clone(), cols)?)
    }

    fn evaluate(&self, chunk: &Chunk) -> Result<Evaluated> {
        let batch = &chunk.batch;
        let n = batch.num_rows();
        let time = event_time::millis(&self.spec.time, batch)?;
        let keys = if self.spec.keys.is_empty() {
            constant_key(n)
        } else {
            self.spec
                .keys
                .iter()
                .map(|k| k.evaluate(batch)?.into_array(n))
                .collect::<datafusion::error::Result<Vec<_>>>()?
        };
        let (args, filters) = aggregate_inputs(&self.spec.aggregates, batch)?;
        Ok(Evaluated { time, row_wm: chunk.row_watermarks.clone(), keys, args, filters })
    }
}

struct Evaluated {
    time: TimestampMillisecondArray,
    row_wm: Option<Arc<Int64Array>>,
    keys: Vec<ArrayRef>,
    args: Vec<Vec<ArrayRef>>,
    filters: Vec<Option<BooleanArray>>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    watermark: i64,
    late: u64,
    /// (pane start, encoded key columns, encoded state columns per aggregate)
    panes: Vec<(i64, Vec<EncodedState>)>,
    /// With allowed lateness: ((end, start), encoded emitted result columns).
    #[serde(default)]
    emitted: Vec<((i64, i64), SnapshotBytes)>,
}

impl Operator for WindowAggregate {
    fn name(&self) -> &str {
        "WindowAggregate"
    }

    fn on_chunk(&mut self, chunk: Chunk) -> Result<Vec<Chunk>> {
        let cols = self.evaluate(&chunk)?;
        let n = chunk.num_rows();
        let mut out = Vec::new();
        let mut from = 0;
        let lateness = self.spec.lateness_ms;
        if cols.row_wm.is_some() || lateness > 0 {
            let mut fired = self.fire_index(self.watermark);
            // Windows whose lateness ran out: corrections must be taken before a row too
            // late for them lands in a pane they share with windows still open.
            let mut expired = self.fire_index(self.watermark.saturating_sub(lateness));
            // (window end, key hash) that a late row changed since the last correction.
            let mut touched: HashSet<(i64, u64)> = HashSet::new();
            let mut hashes: Option<Vec<u64>> = None;
            let mut targets = Vec::new();
            for i in 0..n {
                let w = cols.row_wm.as_ref().map_or(self.watermark, |wm| wm.value(i));
                let fire = w > self.watermark && self.fire_index(w) > fired;
                let expire = lateness > 0 && self.fire_index(w.saturating_sub(lateness)) > expired;
                targets.clear();
                if lateness > 0 {
                    self.corrected_by(&cols, i, w, &mut hashes, &mut targets)?;
                }
                let collide = targets.iter().any(|t| touched.contains(t));
                if fire || expire || collide {
                    let current = self.watermark;
                    self.add_rows(&cols, from, i, current)?;
                    if !self.dirty.is_empty() {
                        out.extend(self.correct()?);
                    }
                    if fire {
                        out.extend(self.advance(w)?);
                        fired = self.fire_index(w);
                    }
                    expired = expired.max(self.fire_index(w.saturating_sub(lateness)));
                    touched.clear();
                    from = i;
                }
                touched.extend(targets.iter().copied());
            }
        }
        let current = self.watermark;
        self.add_rows(&cols, from, n, current)?;
        if !self.dirty.is_empty() {
            out.extend(self.correct()?);
        }
        Ok(out)
    }

    fn on_watermark(&mut self, watermark: i64) -> Result<Vec<Chunk>> {
        self.advance(watermark)
    }

    fn on_end(&mut self) -> Result<Vec<Chunk>> {
        Ok(vec![])
    }

    fn snapshot(&mut self) -> Result<Vec<u8>> {
        let mut panes = Vec::new();
        for (&p, pane) in self.panes.iter_mut() {
            if let Some(mut live) = pane.live.take() {
                if !live.is_empty() {
                    pane.frozen.push(live.take_state()?);
                }
            }
            if pane.frozen.len() > 1 {
                // Compact: one partial state per pane, however many snapshots were taken.
                let mut merged = Groups::new(&self.spec.key_schema, &self.aggs)?;
                for (k, st) in &pane.frozen {
                    merged.merge(k, st)?;
                }
                pane.frozen = vec![merged.take_state()?];
            }
            let mut parts = Vec::new();
            for (k, s) in &pane.frozen {
                parts.push((
                    encode_snapshot_arrays(k)?,
                    s.iter().map(|a| encode_snapshot_arrays(a)).collect::<Result<Vec<_>>>()?,
                ));
            }
            panes.push((p, parts));
        }
        let emitted = self
            .emitted
            .iter()
            .map(|(w, b)| Ok((*w, encode_snapshot_arrays(b.columns())?)))
            .collect::<Result<Vec<_>>>()?;
        let snap = Snapshot { watermark: self.watermark, late: self.late, panes, emitted };
        serde_json::to_vec(&snap).map_err(|e| Error::internal(format!("snapshot: {e}")))
    }

    fn restore(&mut self, state: &[u8]) -> Result<()> {
        let snap: Snapshot = serde_json::from_slice(state).map_err(|e| Error::internal(format!("restore: {e}")))?;
        self.watermark = snap.watermark;
        self.late = snap.late;
        self.panes.clear();
        for (p, parts) in snap.panes {
            let mut pane = Pane::default();
            for (k, s) in parts {
                pane.frozen.push((decode_arrays(&k)?, s.iter().map(|a| decode_arrays(a)).collect::<Result<Vec<_>>>()?));
            }
            self.panes.insert(p, pane);
        }
        self.emitted.clear();
        for (w, bytes) in snap.emitted {
            self.emitted.insert(w, RecordBatch::try_new(self.spec.schema.clone(), decode_arrays(&bytes)?)?);
        }
        Ok(())
    }

    fn late_rows(&self) -> u64 {
        self.late
    }

    fn rows_without_time(&self) -> u64 {
        self.no_time
    }

    fn state_keys(&self) -> usize {
        self.panes
            .values()
            .map(|p| {
                p.live.as_ref().map(Groups::len).unwrap_or(0)
                    + p.frozen.iter().map(|(k, _)| k.first().map(|a| a.len()).unwrap_or(0)).sum::<usize>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::test_rows::{chunk, lines};
    use crate::plan::pipeline::OpSpec;
    use crate::plan::Planner;
    use crate::sink::collect::chunks_to_strings;
    use crate::sql::{parse_statements, Statement};

    const S: i64 = 1000;

    /// Builds the window operator of `SELECT window_start, k, COUNT(*), SUM(v) ... <tvf>`; its
    /// rows are (window_start, window_end, k, count, sum).
    fn op(tvf: &str) -> (WindowAggregate, SchemaRef) {
        op_with(tvf, "")
    }

    /// [`op`] over a table with more options (`, 'key' = 'value'`).
    fn op_with(tvf: &str, options: &str) -> (WindowAggregate, SchemaRef) {
        let mut planner = Planner::new();
        let sql = format!(
            "CREATE TABLE t (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values'{options});
             SELECT window_start, k, COUNT(*), SUM(v) FROM TABLE({tvf}) GROUP BY window_start, window_end, k;"
        );
        let stmts = parse_statements(&sql).unwrap();
        let Statement::CreateTable(ct) = &stmts[0].statement else { panic!() };
        planner.create_table(ct).unwrap();
        let Statement::Query(q) = &stmts[1].statement else { panic!() };
        let plan = planner.plan_query(q).unwrap();
        let input = planner.table("t").unwrap().schema.clone();
        let spec = plan
            .stages
            .iter()
            .flat_map(|s| &s.ops)
            .find_map(|o| match o {
                OpSpec::WindowAggregate { spec, .. } => Some(Arc::clone(spec)),
                _ => None,
            })
            .unwrap();
        (WindowAggregate::new(spec), input)
    }

    fn text(chunks: &[Chunk]) -> Vec<String> {
        let mut rows = lines(chunks);
        rows.sort();
        rows
    }

    const TUMBLE: &str = "TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND)";

    #[test]
    fn fires_exactly_when_the_watermark_reaches_end_minus_one() {
        let (mut w, schema) = op(TUMBLE);
        assert!(w.on_chunk(chunk(&schema, &[(1, 5, S, i64::MIN), (1, 7, 5 * S, S)])).unwrap().is_empty());
        assert!(w.on_watermark(10 * S - 2).unwrap().is_empty(), "must not fire before end - 1 ms");
        let out = w.on_watermark(10 * S - 1).unwrap();
        assert_eq!(text(&out), vec!["+I 1970-01-01 00:00:00.000 1970-01-01 00:00:10.000 1 2 12"]);
        assert!(w.on_watermark(i64::MAX).unwrap().is_empty(), "fires once");
        assert_eq!(w.open_panes(), 0, "state is released after firing");
    }

    #[test]
    fn the_row_watermark_fires_windows_inside_a_chunk() {
        // The third row's watermark (13 s) has passed [0,10): the window fires before that
        // row, with only the first row in it, and the row is late.
        let (mut w, schema) = op(TUMBLE);
        let out = w.on_chunk(chunk(&schema, &[(1, 1, S, i64::MIN), (1, 2, 15 * S, S), (1, 4, 5 * S, 13 * S)])).unwrap();
        assert_eq!(text(&out), vec!["+I 1970-01-01 00:00:00.000 1970-01-01 00:00:10.000 1 1 1"]);
        assert_eq!(w.late_rows(), 1);
        let out = w.on_watermark(i64::MAX).unwrap();
        assert_eq!(text(&out), vec!["+I 1970-01-01 00:00:10.000 1970-01-01 00:00:20.000 1 1 2"]);
    }

    #[test]
    fn every_late_row_gets_its_own_correction_however_the_input_is_split() {
        // [0 s, 10 s) fired with k=1; then, within the lateness, late rows for k=1, k=2, k=1.
        let late = [(1, 2, 2 * S, 12 * S), (2, 3, 3 * S, 12 * S), (1, 4, 4 * S, 12 * S)];
        let run = |sizes: &[usize]| -> Vec<String> {
            let (mut w, schema) = op_with(TUMBLE, ", 'lateness' = '10 s'");
            let mut out = w.on_chunk(chunk(&schema, &[(1, 1, S, i64::MIN)])).unwrap();
            out.extend(w.on_watermark(12 * S).unwrap());
            let mut rest = &late[..];
            for n in sizes {
                let (part, tail) = rest.split_at(*n);
                out.extend(w.on_chunk(chunk(&schema, part)).unwrap());
                rest = tail;
            }
            out.extend(w.on_watermark(i64::MAX).unwrap());
            text(&out)
        };
        let whole = run(&[3]);
        assert_eq!(
            whole,
            vec![
                "+I 1970-01-01 00:00:00.000 1970-01-01 00:00:10.000 1 1 1",
                "+I 1970-01-01 00:00:00.000 1970-01-01 00:00:10.000 2 1 3",
                "+U 1970-01-01 00:00:00.000 1970-01-01 00:00:10.000 1 2 3",
                "+U 1970-01-01 00:00:00.000 1970-01-01 00:00:10.000 1 3 7",
                "-U 1970-01-01 00:00:00.000 1970-01-01 00:00:10.000 1 1 1",
                "-U 1970-01-01 00:00:00.000 1970-01-01 00:00:10.000 1 2 3",
            ]
        );
        assert_eq!(run(&[1, 1, 1]), whole);
        assert_eq!(run(&[2, 1]), whole);
        assert_eq!(run(&[1, 2]), whole);
    }

    #[test]
    fn a_hop_row_late_for_one_window_counts_in_the_next() {
        let (mut w, schema) = op("HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND)");
        w.on_chunk(chunk(&schema, &[(1, 1, 6 * S, i64::MIN)])).unwrap();
        let fired = w.on_watermark(10 * S).unwrap();
        assert_eq!(text(&fired), vec!["+I 1970-01-01 00:00:00.000 1970-01-01 00:00:10.000 1 1 1"]);
        // ts 8 s belongs to [0,10) (fired) and [5,15) (open).
        w.on_chunk(chunk(&schema, &[(1, 10, 8 * S, 10 * S)])).unwrap();
        assert_eq!(w.late_rows(), 0, "still on time for [5,15)");
        let out = w.on_watermark(i64::MAX).unwrap();
        assert_eq!(text(&out), vec!["+I 1970-01-01 00:00:05.000 1970-01-01 00:00:15.000 1 2 11"]);
    }

    #[test]
    fn a_null_event_time_is_dropped_and_counted_apart_from_late_rows() {
        let (mut w, schema) = op(TUMBLE);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 1])),
                Arc::new(Int64Array::from(vec![5, 6])),
                Arc::new(TimestampMillisecondArray::from(vec![Some(S), None])),
            ],
        )
        .unwrap();
        w.on_chunk(Chunk::inserts(batch)).unwrap();
        let out = w.on_watermark(i64::MAX).unwrap();
        assert_eq!(text(&out), vec!["+I 1970-01-01 00:00:00.000 1970-01-01 00:00:10.000 1 1 5"]);
        assert_eq!((w.rows_without_time(), w.late_rows()), (1, 0));
    }

    #[test]
    fn hop_aggregates_each_event_once() {
        // slide = size / 10: every event is in 10 windows but updates one pane.
        let (mut w, schema) = op("HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '10' SECOND)");
        let rows: Vec<_> = (0..1000).map(|i| (i % 7, 1, i * 37, i64::MIN)).collect();
        w.on_chunk(chunk(&schema, &rows)).unwrap();
        let out = w.on_watermark(i64::MAX).unwrap();
        assert_eq!(w.rows_aggregated(), 1000);
        let total: i64 = chunks_to_strings(&out).unwrap().iter().map(|r| r[4].parse::<i64>().unwrap()).sum();
        assert_eq!(total, 10_000, "each event is counted in its 10 windows");
    }

    #[test]
    fn snapshot_and_restore_continue_identically() {
        for tvf in [TUMBLE, "HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '6' SECOND)"] {
            let first: Vec<_> = (0..50).map(|i| (i % 3, i, i * 300, i * 300 - 2000)).collect();
            let second: Vec<_> = (50..100).map(|i| (i % 3, i, i * 300, i * 300 - 2000)).collect();
            let (mut a, schema) = op(tvf);
            a.on_chunk(chunk(&schema, &first)).unwrap();
            let snapshot = a.snapshot().unwrap();
            let mut expected = a.on_chunk(chunk(&schema, &second)).unwrap();
            expected.extend(a.on_watermark(i64::MAX).unwrap());

            let (mut b, _) = op(tvf);
            b.restore(&snapshot).unwrap();
            let mut got = b.on_chunk(chunk(&schema, &second)).unwrap();
            got.extend(b.on_watermark(i64::MAX).unwrap());
            assert!(!got.is_empty());
            assert_eq!(text(&got), text(&expected), "{tvf}");
        }
    }
}
