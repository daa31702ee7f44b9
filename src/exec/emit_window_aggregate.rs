//! Window aggregates with an `EMIT` clause other than the default: `EMIT ON UPDATE`,
//! `EMIT EVERY INTERVAL ..`, and any mode `WITH DELAY ..` (DESIGN's emission table).
//!
//! State is kept per (window, key) in readable accumulators ([`RowGroup`]), so a result
//! can be emitted at any time without merging panes:
//!
//! * a row updates every window containing it that has not gone past its lateness;
//!   with `ON UPDATE`, or for a window that already closed (a late row within the
//!   lateness), its change is emitted at once: `+I` first, then `-U` old / `+U` new;
//! * `EVERY n` ticks at `window_start + k·n` (reached when the watermark gets to
//!   `tick - 1`, like a window end): each key changed since the last emission emits;
//! * a window closes when the watermark reaches `window_end - 1 + delay`: keys with
//!   unemitted changes emit (`+I` for `ON WINDOW CLOSE`); its state stays until the
//!   watermark reaches `window_end - 1 + delay + lateness`, after which rows for it are
//!   too late (dropped and counted when too late for all their windows).
//!
//! Everything is decided against the watermark just before each row, so the changelog is
//! the same however rows are batched. An update that changes no value is never emitted.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int8Array, TimestampMillisecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use serde::{Deserialize, Serialize};

use super::chunk::{Chunk, RowOp};
use super::event_time;
use super::groups::{aggregate_inputs, constant_key};
use super::operator::Operator;
use super::row_group::{Change, GroupSnapshot, RowGroup};
use super::window_aggregate::{OutputColumn, WindowAggregateSpec};
use crate::error::{Error, Result};
use crate::sql::{Emit, EmitMode};

/// The plan: a window aggregate and its emission.
#[derive(Debug)]
pub struct EmitWindowAggregateSpec {
    /// Window, keys, aggregates, output and lateness.
    pub window: Arc<WindowAggregateSpec>,
    /// When results are emitted.
    pub emit: Emit,
}

#[derive(Default)]
struct Window {
    /// By key bytes, so emission order is the same on every run.
    groups: BTreeMap<Vec<u8>, RowGroup>,
    /// `EVERY`: the next tick.
    next_tick: i64,
    closed: bool,
}

/// (op, window (start, end), key bytes, values).
type OutRow = (RowOp, (i64, i64), Vec<u8>, Vec<ScalarValue>);

/// The operator. See the module docs.
pub struct EmitWindowAggregate {
    spec: Arc<EmitWindowAggregateSpec>,
    converter: RowConverter,
    /// By (end, start).
    windows: BTreeMap<(i64, i64), Window>,
    watermark: i64,
    late: u64,
    no_time: u64,
}

impl EmitWindowAggregate {
    /// A fresh operator.
    pub fn new(spec: Arc<EmitWindowAggregateSpec>) -> Result<Self> {
        let fields = spec.window.key_schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect();
        Ok(EmitWindowAggregate {
            converter: RowConverter::new(fields)?,
            spec,
            windows: BTreeMap::new(),
            watermark: i64::MIN,
            late: 0,
            no_time: 0,
        })
    }

    /// The watermark at which the window ending at `end` closes.
    fn close_at(&self, end: i64) -> i64 {
        (end - 1).saturating_add(self.spec.emit.delay_ms)
    }

    /// Moves the watermark to `w`, emitting ticks and closes that fall due.
    fn advance(&mut self, w: i64, out: &mut Vec<OutRow>) -> Result<()> {
        if w <= self.watermark {
            return Ok(());
        }
        self.watermark = w;
        let (delay, lateness) = (self.spec.emit.delay_ms, self.spec.window.lateness_ms);
        let every = match self.spec.emit.mode {
            EmitMode::Every(n) => Some(n),
            _ => None,
        };
        let mut gone = Vec::new();
        for (&(end, start), window) in self.windows.iter_mut() {
            let close_at = (end - 1).saturating_add(delay);
            if let Some(n) = every {
                let mut tick = false;
                while !window.closed && window.next_tick - 1 <= w && window.next_tick - 1 < close_at {
                    window.next_tick += n;
                    tick = true;
                }
                if tick {
                    emit_dirty((start, end), window, out)?;
                }
            }
            if !window.closed && w >= close_at {
                window.closed = true;
                emit_dirty((start, end), window, out)?;
            }
            if w >= close_at.saturating_add(lateness) {
                gone.push((end, start));
            }
        }
        for k in gone {
            self.windows.remove(&k);
        }
        Ok(())
    }

    fn output(&self, rows: Vec<OutRow>) -> Result<Vec<Chunk>> {
        if rows.is_empty() {
            return Ok(vec![]);
        }
        let spec = &self.spec.window;
        let parser = self.converter.parser();
        let keys = self.converter.convert_rows(rows.iter().map(|r| parser.parse(&r.2)))?;
        let time = |f: fn(&(i64, i64)) -> i64| -> ArrayRef {
            Arc::new(TimestampMillisecondArray::from(rows.iter().map(|r| f(&r.1)).collect::<Vec<_>>()))
        };
        let mut columns = Vec::with_capacity(spec.output.len());
        for (c, field) in spec.output.iter().zip(spec.schema.fields()) {
            let a: ArrayRef = match c {
                OutputColumn::WindowStart => time(|w| w.0),
                OutputColumn::WindowEnd => time(|w| w.1),
                OutputColumn::WindowTime => time(|w| w.1 - 1),
                OutputColumn::Key(i) => Arc::clone(&keys[*i]),
                OutputColumn::Aggregate(i) => ScalarValue::iter_to_array(rows.iter().map(|r| r.3[*i].clone()))?,
            };
            columns.push(if a.data_type() != field.data_type() { cast(&a, field.data_type())? } else { a });
        }
        let batch = RecordBatch::try_new(spec.schema.clone(), columns)?;
        let ops = Int8Array::from(rows.iter().map(|r| r.0 as i8).collect::<Vec<_>>());
        Ok(vec![Chunk { batch, row_watermarks: None, ops: Some(Arc::new(ops)) }])
    }
}

/// Emits the change of every group of `window` changed since its last emission.
fn emit_dirty(window_key: (i64, i64), window: &mut Window, out: &mut Vec<OutRow>) -> Result<()> {
    for (key, group) in window.groups.iter_mut() {
        if group.dirty {
            push_change(out, window_key, key, group.change()?);
        }
    }
    Ok(())
}

fn push_change(out: &mut Vec<OutRow>, window: (i64, i64), key: &[u8], change: Change) {
    match change {
        Change::None => {}
        Change::Insert(new) => out.push((RowOp::Insert, window, key.to_vec(), new)),
        Change::Update(old, new) => {
            out.push((RowOp::UpdateBefore, window, key.to_vec(), old));
            out.push((RowOp::UpdateAfter, window, key.to_vec(), new));
        }
    }
}

impl Operator for EmitWindowAggregate {
    fn name(&self) -> &str {
        "EmitWindowAggregate"
    }

    fn on_chunk(&mut self, chunk: Chunk) -> Result<Vec<Chunk>> {
        let spec = Arc::clone(&self.spec);
        let window_spec = &spec.window;
        let batch = &chunk.batch;
        let n = batch.num_rows();
        let time = event_time::millis(&window_spec.time, batch)?;
        let keys = if window_spec.keys.is_empty() {
            constant_key(n)
        } else {
            window_spec
                .keys
                .iter()
                .map(|k| k.evaluate(batch)?.into_array(n))
                .collect::<datafusion::error::Result<_>>()?
        };
        let key_rows = self.converter.convert_columns(&keys)?;
        let (args, filters) = aggregate_inputs(&window_spec.aggregates, batch)?;
        let on_update = spec.emit.mode == EmitMode::OnUpdate;
        let mut out = Vec::new();
        for i in 0..n {
            if let Some(w) = &chunk.row_watermarks {
                self.advance(w.value(i), &mut out)?;
            }
            if !time.is_valid(i) {
                self.no_time += 1;
                continue;
            }
            let wm = chunk.row_watermarks.as_ref().map_or(self.watermark, |w| w.value(i));
            let t = time.value(i);
            let mut counted = false;
            for (start, end) in window_spec.kind.windows_of_pane(window_spec.kind.pane_start(t)) {
                if wm >= self.close_at(end).saturating_add(window_spec.lateness_ms) {
                    continue;
                }
                counted = true;
                let first_tick = match spec.emit.mode {
                    EmitMode::Every(n) => start + n,
                    _ => i64::MAX,
                };
                let window = self
                    .windows
                    .entry((end, start))
                    .or_insert_with(|| Window { next_tick: first_tick, ..Default::default() });
                let key = key_rows.row(i);
                if !window.groups.contains_key(key.as_ref()) {
                    let group = RowGroup::new(&window_spec.aggregates, false, wm)?;
                    window.groups.insert(key.as_ref().to_vec(), group);
                }
                let group = window.groups.get_mut(key.as_ref()).expect("inserted above");
                group.apply(&args, &filters, i, true)?;
                if on_update || window.closed {
                    push_change(&mut out, (start, end), key.as_ref(), group.change()?);
                }
            }
            if !counted {
                self.late += 1;
            }
        }
        self.output(out)
    }

    fn on_watermark(&mut self, watermark: i64) -> Result<Vec<Chunk>> {
        let mut out = Vec::new();
        self.advance(watermark, &mut out)?;
        self.output(out)
    }

    fn snapshot(&mut self) -> Result<Vec<u8>> {
        let mut windows = Vec::with_capacity(self.windows.len());
        for (&(end, start), w) in self.windows.iter_mut() {
            let groups = w.groups.iter_mut().map(|(k, g)| g.snapshot(k.clone())).collect::<Result<Vec<_>>>()?;
            windows.push(SnapshotWindow { start, end, next_tick: w.next_tick, closed: w.closed, groups });
        }
        let snap = Snapshot { watermark: self.watermark, late: self.late, no_time: self.no_time, windows };
        serde_json::to_vec(&snap).map_err(|e| Error::internal(format!("snapshot: {e}")))
    }

    fn restore(&mut self, state: &[u8]) -> Result<()> {
        let snap: Snapshot = serde_json::from_slice(state).map_err(|e| Error::internal(format!("restore: {e}")))?;
        (self.watermark, self.late, self.no_time) = (snap.watermark, snap.late, snap.no_time);
        self.windows.clear();
        let aggregates = &self.spec.window.aggregates;
        for w in snap.windows {
            let mut groups = BTreeMap::new();
            for g in &w.groups {
                groups.insert(g.key.clone(), RowGroup::restore(aggregates, false, g)?);
            }
            self.windows.insert((w.end, w.start), Window { groups, next_tick: w.next_tick, closed: w.closed });
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
        self.windows.values().map(|w| w.groups.len()).sum()
    }
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    watermark: i64,
    late: u64,
    no_time: u64,
    windows: Vec<SnapshotWindow>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotWindow {
    start: i64,
    end: i64,
    next_tick: i64,
    closed: bool,
    groups: Vec<GroupSnapshot>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::test_rows::{chunk, lines as text};
    use crate::plan::pipeline::OpSpec;
    use datafusion::arrow::datatypes::SchemaRef;

    /// The operator of `SELECT window_start, k, COUNT(*), SUM(v) .. TUMBLE 10 s .. <emit>`.
    fn op(emit: &str, lateness: &str) -> (EmitWindowAggregate, SchemaRef) {
        let mut session = crate::Session::new();
        session
            .sql(&format!(
                "CREATE TABLE t (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values', 'lateness' = '{lateness}')"
            ))
            .unwrap();
        let plan = session
            .planner()
            .plan_sql(&format!(
                "SELECT window_start, k, COUNT(*), SUM(v) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND))
                 GROUP BY window_start, window_end, k {emit}"
            ))
            .unwrap();
        let spec = plan
            .stages
            .iter()
            .flat_map(|s| &s.ops)
            .find_map(|o| match o {
                OpSpec::EmitWindowAggregate { spec, .. } => Some(Arc::clone(spec)),
                _ => None,
            })
            .unwrap();
        (EmitWindowAggregate::new(spec).unwrap(), session.planner().table("t").unwrap().schema.clone())
    }

    fn run(
        a: &mut EmitWindowAggregate,
        schema: &SchemaRef,
        rows: &[(i64, i64, i64, i64)],
        split: usize,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for part in rows.chunks(split) {
            out.extend(text(&a.on_chunk(chunk(schema, part)).unwrap()));
        }
        out.extend(text(&a.on_watermark(i64::MAX).unwrap()));
        out
    }

    /// Rows of one key every 700 ms, the watermark trailing by 1 s.
    fn rows() -> Vec<(i64, i64, i64, i64)> {
        (0..40).map(|i| (i % 2, i, i * 700, i * 700 - 1_000)).collect()
    }

    #[test]
    fn periodic_emission_ticks_in_event_time_whatever_the_batch_split() {
        let (mut a, schema) = op("EMIT EVERY INTERVAL '4' SECOND", "0 s");
        let expected = run(&mut a, &schema, &rows(), 40);
        // Window [0,10): the 4 s tick is reached (watermark 3.999 s) just before row 8
        // (watermark 4.6 s); rows 0..8 count: key 0 has rows 0, 2, 4, 6.
        assert_eq!(expected[0], "+I 1970-01-01 00:00:00.000 1970-01-01 00:00:10.000 0 4 12");
        for split in [1, 3, 7] {
            let (mut b, _) = op("EMIT EVERY INTERVAL '4' SECOND", "0 s");
            assert_eq!(run(&mut b, &schema, &rows(), split), expected, "split {split}");
        }
    }

    #[test]
    fn a_late_row_within_lateness_corrects_at_once() {
        let (mut a, schema) = op("EMIT EVERY INTERVAL '5' SECOND", "10 s");
        a.on_chunk(chunk(&schema, &[(1, 5, 1_000, 0), (1, 1, 15_000, 1_000)])).unwrap();
        // The watermark jumps past [0,10)'s 5 s tick and its close: one +I. [10,20) has
        // neither ticked (14.999 s) nor closed.
        let closed = text(&a.on_watermark(12_000).unwrap());
        assert_eq!(closed, vec!["+I 1970-01-01 00:00:00.000 1970-01-01 00:00:10.000 1 1 5"]);
        // A late row for [0,10), within 10 s of lateness: corrected immediately.
        let late = text(&a.on_chunk(chunk(&schema, &[(1, 7, 2_000, 12_000)])).unwrap());
        let w = "1970-01-01 00:00:00.000 1970-01-01 00:00:10.000";
        assert_eq!(late, vec![format!("-U {w} 1 1 5"), format!("+U {w} 1 2 12")]);
        // Past the lateness: dropped and counted.
        a.on_chunk(chunk(&schema, &[(1, 7, 2_000, 20_000)])).unwrap();
        assert_eq!(a.late_rows(), 1);
    }

    #[test]
    fn snapshot_and_restore_continue_identically() {
        let all = rows();
        let (first, second) = all.split_at(17);
        let (mut a, schema) = op("EMIT ON UPDATE", "2 s");
        a.on_chunk(chunk(&schema, first)).unwrap();
        let snapshot = a.snapshot().unwrap();
        let expected = run(&mut a, &schema, second, 5);
        let (mut b, _) = op("EMIT ON UPDATE", "2 s");
        b.restore(&snapshot).unwrap();
        assert!(!expected.is_empty());
        assert_eq!(run(&mut b, &schema, second, 5), expected);
    }
}
