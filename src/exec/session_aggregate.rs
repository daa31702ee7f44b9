//! `GROUP BY window_start, window_end, keys` over a SESSION window TVF.
//!
//! Per partition (the `PARTITION BY` keys; one global partition without them) events at
//! most `gap` apart share a session `[first, last + gap)` — Flink's rule: an event's own
//! window `[t, t + gap)` merges with every session it touches. Each session holds the
//! partial aggregates of its rows per GROUP BY key, so merging two sessions merges their
//! accumulator states (`state()` / `merge_batch`), never their rows.
//!
//! ```text
//! gap = 10     events: 0   5          30  33       18 (late, bridges both)
//! sessions:          [0 ...... 15)   [30 ..... 43)
//!                    └──────────── [0 .................. 43) ───┘ after the merge
//! ```
//!
//! Timing (DESIGN's determinism rule, decided per row against the watermark before it):
//! * a session closes and emits `+I` when the watermark reaches `end - 1`;
//! * a row whose own window `[t, t + gap)` closed more than the allowed lateness ago
//!   (`t + gap - 1 + lateness <= watermark`) is dropped and counted;
//! * otherwise it extends or merges sessions. A closed session's state is kept until the
//!   watermark reaches `end - 1 + lateness`; a row that changes an emitted session makes it
//!   emit `-U` old / `+U` new rows (once it is closed again); a merge emits `-D` for every
//!   merged session already emitted, then `+I` for the merged session when it closes.
//!   Corrections go out at the row that causes them, never coalesced per chunk.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::UInt32Array;
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, Int8Array, TimestampMillisecondArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::PhysicalExpr;
use serde::{Deserialize, Serialize};

use super::chunk::{Chunk, RowOp};
use super::event_time;
use super::groups::{aggregate_inputs, constant_key, new_accumulator, take_inputs, Groups};
use super::operator::Operator;
use super::state_codec::{decode_arrays, encode_snapshot_arrays, SnapshotBytes};
use super::window_aggregate::{AggregateWithFilter, OutputColumn};
use crate::error::{Error, Result};

/// Everything needed to build a session aggregate operator (one per worker).
#[derive(Debug, Clone)]
pub struct SessionAggregateSpec {
    /// Inactivity gap (ms).
    pub gap: i64,
    /// The event-time column of the input.
    pub time: Arc<dyn PhysicalExpr>,
    /// Non-window GROUP BY keys.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Which of `keys` are the `PARTITION BY` keys (empty: one global session stream).
    pub partition: Vec<usize>,
    /// Schema of the key columns (see [`super::groups::key_schema`]).
    pub key_schema: SchemaRef,
    /// Aggregates with their optional `FILTER` predicates.
    pub aggregates: Vec<AggregateWithFilter>,
    /// Output column sources, in output order.
    pub output: Vec<OutputColumn>,
    /// Output schema.
    pub schema: SchemaRef,
    /// Allowed lateness (ms): a closed session's state is kept until the watermark reaches
    /// `end - 1 + lateness`.
    pub lateness_ms: i64,
}

/// The aggregate state of one session. When every GROUP BY key is a partition key (the
/// common case) a session has exactly one group: accumulators with group 0 and no key map,
/// which saves a hash table per session.
enum SessionGroups {
    /// Several groups per session (GROUP BY keys beyond the partition keys).
    Many(Groups),
    /// One group: its key columns (one row, once seen) and accumulators.
    One { keys: Vec<ArrayRef>, accs: Vec<Box<dyn GroupsAccumulator>> },
}

impl SessionGroups {
    fn new(spec: &SessionAggregateSpec, aggs: &[Arc<AggregateFunctionExpr>]) -> Result<Self> {
        if spec.partition.len() == spec.keys.len() {
            let accs = aggs.iter().map(new_accumulator).collect::<Result<Vec<_>>>()?;
            Ok(SessionGroups::One { keys: vec![], accs })
        } else {
            Ok(SessionGroups::Many(Groups::new(&spec.key_schema, aggs)?))
        }
    }

    /// Remembers the (single) key from the first row of `keys`.
    fn first_key(own: &mut Vec<ArrayRef>, keys: &[ArrayRef]) {
        if own.is_empty() && keys.first().is_some_and(|k| !k.is_empty()) {
            *own = keys.iter().map(|k| k.slice(0, 1)).collect();
        }
    }

    fn update(&mut self, keys: &[ArrayRef], args: &[Vec<ArrayRef>], filters: &[Option<BooleanArray>]) -> Result<()> {
        match self {
            SessionGroups::Many(g) => g.update(keys, args, filters),
            SessionGroups::One { keys: own, accs } => {
                Self::first_key(own, keys);
                let zeros = vec![0usize; keys.first().map(|k| k.len()).unwrap_or(0)];
                for ((acc, a), f) in accs.iter_mut().zip(args).zip(filters) {
                    acc.update_batch(a, &zeros, f.as_ref(), 1)?;
                }
                Ok(())
            }
        }
    }

    fn merge(&mut self, keys: &[ArrayRef], states: &[Vec<ArrayRef>]) -> Result<()> {
        match self {
            SessionGroups::Many(g) => g.merge(keys, states),
            SessionGroups::One { keys: own, accs } => {
                Self::first_key(own, keys);
                let zeros = vec![0usize; keys.first().map(|k| k.len()).unwrap_or(0)];
                for (acc, st) in accs.iter_mut().zip(states) {
                    acc.merge_batch(st, &zeros, 1)?;
                }
                Ok(())
            }
        }
    }

    /// Drains the state: key columns and each aggregate's partial-state columns.
    fn take_state(&mut self) -> Result<(Vec<ArrayRef>, Vec<Vec<ArrayRef>>)> {
        match self {
            SessionGroups::Many(g) => g.take_state(),
            SessionGroups::One { keys, accs } => {
                let states =
                    accs.iter_mut().map(|a| a.state(EmitTo::All)).collect::<datafusion::error::Result<Vec<_>>>()?;
                Ok((std::mem::take(keys), states))
            }
        }
    }

    /// Drains the state as final results: key columns and one column per aggregate.
    fn evaluate(&mut self) -> Result<(Vec<ArrayRef>, Vec<ArrayRef>)> {
        match self {
            SessionGroups::Many(g) => g.evaluate(),
            SessionGroups::One { keys, accs } => {
                let values =
                    accs.iter_mut().map(|a| a.evaluate(EmitTo::All)).collect::<datafusion::error::Result<Vec<_>>>()?;
                Ok((std::mem::take(keys), values))
            }
        }
    }
}

struct Session {
    partition: Vec<u8>,
    start: i64,
    last: i64,
    groups: Option<SessionGroups>,
    /// Rows of the current chunk not yet fed to `groups`.
    pending: Vec<u32>,
    /// The rows last emitted for this session, while it may still be corrected.
    emitted: Option<RecordBatch>,
    /// Whether the session has closed (its close time is at or below the watermark).
    closed: bool,
}

/// The operator. See the module docs.
pub struct SessionAggregate {
    spec: Arc<SessionAggregateSpec>,
    aggs: Vec<Arc<AggregateFunctionExpr>>,
    converter: RowConverter,
    sessions: HashMap<u64, Session, ahash::RandomState>,
    /// Session ids of each partition, ordered by start.
    partitions: HashMap<Vec<u8>, Vec<u64>, ahash::RandomState>,
    /// Open sessions by close time (`end - 1`).
    open: BTreeSet<(i64, u64)>,
    /// Closed sessions kept for corrections, by expiry time (`end - 1 + lateness`).
    expiring: BTreeSet<(i64, u64)>,
    /// Closed sessions changed by late rows, to correct at the next flush.
    dirty: BTreeSet<u64>,
    /// Sessions with pending rows.
    touched: Vec<u64>,
    next_id: u64,
    watermark: i64,
    late: u64,
    no_time: u64,
}

impl SessionAggregate {
    /// A fresh operator with no state and watermark at -∞.
    pub fn new(spec: Arc<SessionAggregateSpec>) -> Result<Self> {
        let aggs = spec.aggregates.iter().map(|(a, _)| Arc::clone(a)).collect();
        let fields = spec.partition.iter().map(|&i| SortField::new(spec.key_schema.field(i).data_type().clone()));
        let converter = RowConverter::new(fields.collect())?;
        Ok(SessionAggregate {
            spec,
            aggs,
            converter,
            sessions: HashMap::default(),
            partitions: HashMap::default(),
            open: BTreeSet::new(),
            expiring: BTreeSet::new(),
            dirty: BTreeSet::new(),
            touched: Vec::new(),
            next_id: 0,
            watermark: i64::MIN,
            late: 0,
            no_time: 0,
        })
    }

    /// Number of sessions held (open, or closed and kept for corrections).
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    fn close_time(&self, s: &Session) -> i64 {
        s.last.saturating_add(self.spec.gap).saturating_sub(1)
    }

    /// Adds row `row` (event time `t`, watermark before it `w`) of partition `part`.
    fn add_row(&mut self, part: &[u8], t: i64, row: u32, w: i64, out: &mut Emitter) -> Result<()> {
        let gap = self.spec.gap;
        if t.saturating_add(gap - 1).saturating_add(self.spec.lateness_ms) <= w {
            self.late += 1;
            return Ok(());
        }
        if !self.partitions.contains_key(part) {
            self.partitions.insert(part.to_vec(), Vec::new());
        }
        let ids = self.partitions.get_mut(part).expect("just inserted");
        // Sessions touching [t, t + gap): start <= t + gap and t <= last + gap. They are
        // disjoint and ordered by start, so they form one run of the list.
        let touches = |s: &Session| s.start <= t.saturating_add(gap) && t <= s.last.saturating_add(gap);
        let first = ids.iter().position(|id| touches(&self.sessions[id]));
        let id = match first {
            None => {
                let id = self.next_id;
                self.next_id += 1;
                let pos = ids.partition_point(|i| self.sessions[i].start < t);
                ids.insert(pos, id);
                let session = Session {
                    partition: part.to_vec(),
                    start: t,
                    last: t,
                    groups: None,
                    pending: vec![],
                    emitted: None,
                    closed: false,
                };
                self.sessions.insert(id, session);
                id
            }
            Some(first) => {
                let target = ids[first];
                let run = ids[first..].iter().take_while(|id| touches(&self.sessions[*id])).count();
                if run > 1 {
                    let touching = ids[first..first + run].to_vec();
                    self.merge(part, &touching, out)?;
                }
                target
            }
        };
        self.unschedule(id);
        let s = self.sessions.get_mut(&id).ok_or_else(|| Error::internal("session vanished"))?;
        s.start = s.start.min(t);
        s.last = s.last.max(t);
        if s.pending.is_empty() {
            self.touched.push(id);
        }
        s.pending.push(row);
        self.schedule(id);
        Ok(())
    }

    /// Merges the sessions `ids` (ordered by start) into the first one. Emitted ones are
    /// withdrawn with `-D`; the merged session is new to downstream.
    fn merge(&mut self, part: &[u8], ids: &[u64], out: &mut Emitter) -> Result<()> {
        let mut absorbed = Vec::new();
        for &id in ids {
            self.unschedule(id);
            let s = self.sessions.get_mut(&id).ok_or_else(|| Error::internal("session vanished"))?;
            if let Some(old) = s.emitted.take() {
                out.push(old, RowOp::Delete);
            }
            if id != ids[0] {
                absorbed.push(self.sessions.remove(&id).ok_or_else(|| Error::internal("session vanished"))?);
            }
        }
        if let Some(list) = self.partitions.get_mut(part) {
            list.retain(|i| !ids[1..].contains(i));
        }
        let target = self.sessions.get_mut(&ids[0]).ok_or_else(|| Error::internal("session vanished"))?;
        for mut other in absorbed {
            target.start = target.start.min(other.start);
            target.last = target.last.max(other.last);
            if let Some(mut g) = other.groups.take() {
                let (keys, states) = g.take_state()?;
                if target.groups.is_none() {
                    target.groups = Some(SessionGroups::new(&self.spec, &self.aggs)?);
                }
                target.groups.as_mut().expect("just set").merge(&keys, &states)?;
            }
            if !other.pending.is_empty() && target.pending.is_empty() {
                self.touched.push(ids[0]);
            }
            target.pending.append(&mut other.pending);
        }
        Ok(())
    }

    /// Removes a session from the open/expiring schedules.
    fn unschedule(&mut self, id: u64) {
        let Some(s) = self.sessions.get(&id) else { return };
        let close = self.close_time(s);
        if s.closed {
            self.expiring.remove(&(close.saturating_add(self.spec.lateness_ms), id));
        } else {
            self.open.remove(&(close, id));
        }
    }

    /// Files a session under open (close time above the watermark) or closed; a session
    /// that is closed on arrival here was changed by a late row and gets corrected.
    fn schedule(&mut self, id: u64) {
        let watermark = self.watermark;
        let lateness = self.spec.lateness_ms;
        let Some(close) = self.sessions.get(&id).map(|s| self.close_time(s)) else { return };
        let s = self.sessions.get_mut(&id).expect("checked above");
        if close <= watermark {
            s.closed = true;
            self.expiring.insert((close.saturating_add(lateness), id));
            self.dirty.insert(id);
        } else {
            s.closed = false;
            self.open.insert((close, id));
        }
    }

    /// Feeds pending rows to their sessions' accumulators, then corrects changed closed
    /// sessions.
    fn flush(&mut self, cols: &Evaluated, out: &mut Emitter) -> Result<()> {
        for id in std::mem::take(&mut self.touched) {
            let Some(s) = self.sessions.get_mut(&id) else { continue };
            if s.pending.is_empty() {
                continue;
            }
            let idx = UInt32Array::from(std::mem::take(&mut s.pending));
            let (keys, (args, filters)) = take_inputs(&cols.keys, (&cols.args, &cols.filters), &idx)?;
            if s.groups.is_none() {
                s.groups = Some(SessionGroups::new(&self.spec, &self.aggs)?);
            }
            s.groups.as_mut().expect("just set").update(&keys, &args, &filters)?;
        }
        for id in std::mem::take(&mut self.dirty) {
            if self.sessions.get(&id).is_some_and(|s| s.closed) {
                self.emit(id, out)?;
            }
        }
        Ok(())
    }

    /// Emits a closed session's result: `+I`, or the corrections to what it emitted before.
    /// Without allowed lateness the session is released.
    fn emit(&mut self, id: u64, out: &mut Emitter) -> Result<()> {
        let keep = self.spec.lateness_ms > 0;
        let mut s = match keep {
            true => None,
            false => self.sessions.remove(&id),
        };
        if let Some(s) = &s {
            if let Some(list) = self.partitions.get_mut(&s.partition) {
                list.retain(|i| *i != id);
                if list.is_empty() {
                    self.partitions.remove(&s.partition);
                }
            }
        }
        let session = match s.as_mut() {
            Some(s) => s,
            None => self.sessions.get_mut(&id).ok_or_else(|| Error::internal("session vanished"))?,
        };
        let Some(groups) = session.groups.as_mut() else { return Ok(()) };
        let (keys, values) = if keep {
            // Evaluate a merged copy: the state must survive for corrections.
            let (k, st) = groups.take_state()?;
            let mut fresh = SessionGroups::new(&self.spec, &self.aggs)?;
            fresh.merge(&k, &st)?;
            let mut copy = SessionGroups::new(&self.spec, &self.aggs)?;
            copy.merge(&k, &st)?;
            *groups = fresh;
            copy.evaluate()?
        } else {
            groups.evaluate()?
        };
        let end = session.last.saturating_add(self.spec.gap);
        let new = build_output(&self.spec, session.start, end, keys, values)?;
        match session.emitted.take() {
            Some(old) => out.corrections(&old, &new, &self.spec.output)?,
            None => out.push(new.clone(), RowOp::Insert),
        }
        if keep {
            session.emitted = Some(new);
        }
        Ok(())
    }

    /// Advances the watermark to `w`: closes sessions, releases expired ones.
    fn advance(&mut self, w: i64, out: &mut Emitter) -> Result<()> {
        if w <= self.watermark {
            return Ok(());
        }
        self.watermark = w;
        while let Some(&(close, id)) = self.open.first() {
            if close > w {
                break;
            }
            self.open.pop_first();
            if self.spec.lateness_ms > 0 {
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.closed = true;
                }
                self.expiring.insert((close.saturating_add(self.spec.lateness_ms), id));
            }
            self.emit(id, out)?;
        }
        while let Some(&(expiry, id)) = self.expiring.first() {
            if expiry > w {
                break;
            }
            self.expiring.pop_first();
            if let Some(s) = self.sessions.remove(&id) {
                if let Some(list) = self.partitions.get_mut(&s.partition) {
                    list.retain(|i| *i != id);
                    if list.is_empty() {
                        self.partitions.remove(&s.partition);
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether advancing to `w` would close or release a session.
    fn due(&self, w: i64) -> bool {
        self.open.first().is_some_and(|&(c, _)| c <= w) || self.expiring.first().is_some_and(|&(e, _)| e <= w)
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
        let part_cols: Vec<ArrayRef> = self.spec.partition.iter().map(|&i| Arc::clone(&keys[i])).collect();
        let partitions = self.converter.convert_columns(&part_cols)?;
        let (args, filters) = aggregate_inputs(&self.spec.aggregates, batch)?;
        let partitions = (!part_cols.is_empty()).then_some(partitions);
        Ok(Evaluated { time, row_wm: chunk.row_watermarks.clone(), keys, partitions, args, filters })
    }
}

struct Evaluated {
    time: TimestampMillisecondArray,
    row_wm: Option<Arc<Int64Array>>,
    keys: Vec<ArrayRef>,
    /// Partition keys in row format (`None`: one global partition).
    partitions: Option<Rows>,
    args: Vec<Vec<ArrayRef>>,
    filters: Vec<Option<BooleanArray>>,
}

impl Evaluated {
    /// Row `i`'s partition key bytes.
    fn partition(&self, i: usize) -> &[u8] {
        match &self.partitions {
            Some(rows) => rows.row(i).data(),
            None => &[],
        }
    }
}

/// Output rows of one call, coalesced into one chunk.
#[derive(Default)]
pub(crate) struct Emitter {
    batches: Vec<RecordBatch>,
    ops: Vec<i8>,
}

impl Emitter {
    /// Appends `batch` with every row having `op`.
    pub(crate) fn push(&mut self, batch: RecordBatch, op: RowOp) {
        self.ops.extend(std::iter::repeat_n(op as i8, batch.num_rows()));
        self.batches.push(batch);
    }

    /// Appends the changes from `old` to `new` of one session: per GROUP BY key `-U` old /
    /// `+U` new when the row changed, `+I` for a key the session did not have (sessions only
    /// gain rows). Rows are matched on the key columns only: a session's bounds change.
    fn corrections(&mut self, old: &RecordBatch, new: &RecordBatch, output: &[OutputColumn]) -> Result<()> {
        let keys: Vec<usize> =
            output.iter().enumerate().filter(|(_, c)| matches!(c, OutputColumn::Key(_))).map(|(i, _)| i).collect();
        if keys.is_empty() {
            // One row per session: an update of that row.
            if old.columns() != new.columns() {
                self.push(old.clone(), RowOp::UpdateBefore);
                self.push(new.clone(), RowOp::UpdateAfter);
            }
            return Ok(());
        }
        if let Some(change) = super::correction::corrections(old, new, &keys)? {
            let ops = change.ops.as_ref().map(|o| o.values().to_vec()).unwrap_or_default();
            self.ops.extend(ops);
            self.batches.push(change.batch);
        }
        Ok(())
    }

    /// The rows gathered so far as at most one chunk.
    pub(crate) fn finish(self, schema: &SchemaRef) -> Result<Vec<Chunk>> {
        if self.ops.is_empty() {
            return Ok(vec![]);
        }
        let batch = concat_batches(schema, &self.batches)?;
        Ok(vec![Chunk { batch, row_watermarks: None, ops: Some(Arc::new(Int8Array::from(self.ops))) }])
    }
}

/// One output batch for a window `[start, end)` from key and aggregate columns.
pub(crate) fn build_output(
    spec: &SessionAggregateSpec,
    start: i64,
    end: i64,
    keys: Vec<ArrayRef>,
    values: Vec<ArrayRef>,
) -> Result<RecordBatch> {
    let n = keys.first().map(|k| k.len()).unwrap_or(0);
    let ts = |v: i64| -> ArrayRef { Arc::new(TimestampMillisecondArray::from(vec![v; n])) };
    let mut cols = Vec::with_capacity(spec.output.len());
    for (src, field) in spec.output.iter().zip(spec.schema.fields()) {
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
    Ok(RecordBatch::try_new(spec.schema.clone(), cols)?)
}

#[derive(Serialize, Deserialize)]
struct SessionSnapshot {
    id: u64,
    #[serde(with = "crate::runtime::checkpoint::base64_bytes::one")]
    partition: Vec<u8>,
    start: i64,
    last: i64,
    closed: bool,
    /// Encoded key columns and per-aggregate state columns, if the session has rows.
    state: Option<(SnapshotBytes, Vec<SnapshotBytes>)>,
    /// Encoded emitted rows.
    emitted: Option<SnapshotBytes>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    watermark: i64,
    late: u64,
    no_time: u64,
    next_id: u64,
    sessions: Vec<SessionSnapshot>,
}

impl Operator for SessionAggregate {
    fn name(&self) -> &str {
        "SessionAggregate"
    }

    fn on_chunk(&mut self, chunk: Chunk) -> Result<Vec<Chunk>> {
        let cols = self.evaluate(&chunk)?;
        let mut out = Emitter::default();
        for i in 0..chunk.num_rows() {
            let w = cols.row_wm.as_ref().map(|w| w.value(i)).unwrap_or(self.watermark);
            if w > self.watermark {
                if self.due(w) {
                    self.flush(&cols, &mut out)?;
                    self.advance(w, &mut out)?;
                } else {
                    self.watermark = w;
                }
            }
            if cols.time.is_null(i) {
                self.no_time += 1;
                continue;
            }
            self.add_row(cols.partition(i), cols.time.value(i), i as u32, w, &mut out)?;
            if !self.dirty.is_empty() {
                // A late row changed a closed session: correct it now, row by row, so the
                // changelog does not depend on where chunks are cut.
                self.flush(&cols, &mut out)?;
            }
        }
        self.flush(&cols, &mut out)?;
        out.finish(&self.spec.schema)
    }

    fn on_watermark(&mut self, watermark: i64) -> Result<Vec<Chunk>> {
        let mut out = Emitter::default();
        self.advance(watermark, &mut out)?;
        out.finish(&self.spec.schema)
    }

    fn snapshot(&mut self) -> Result<Vec<u8>> {
        let mut sessions = Vec::with_capacity(self.sessions.len());
        let mut ids: Vec<u64> = self.sessions.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let s = self.sessions.get_mut(&id).expect("listed above");
            let state = match s.groups.as_mut() {
                Some(g) => {
                    let (k, st) = g.take_state()?;
                    let mut fresh = SessionGroups::new(&self.spec, &self.aggs)?;
                    fresh.merge(&k, &st)?;
                    s.groups = Some(fresh);
                    Some((
                        encode_snapshot_arrays(&k)?,
                        st.iter().map(|a| encode_snapshot_arrays(a)).collect::<Result<Vec<_>>>()?,
                    ))
                }
                None => None,
            };
            let emitted = s.emitted.as_ref().map(|b| encode_snapshot_arrays(b.columns())).transpose()?;
            sessions.push(SessionSnapshot {
                id,
                partition: s.partition.clone(),
                start: s.start,
                last: s.last,
                closed: s.closed,
                state,
                emitted,
            });
        }
        let snap = Snapshot {
            watermark: self.watermark,
            late: self.late,
            no_time: self.no_time,
            next_id: self.next_id,
            sessions,
        };
        serde_json::to_vec(&snap).map_err(|e| Error::internal(format!("snapshot: {e}")))
    }

    fn restore(&mut self, state: &[u8]) -> Result<()> {
        let snap: Snapshot = serde_json::from_slice(state).map_err(|e| Error::internal(format!("restore: {e}")))?;
        self.watermark = snap.watermark;
        self.late = snap.late;
        self.no_time = snap.no_time;
        self.next_id = snap.next_id;
        self.sessions.clear();
        self.partitions.clear();
        self.open.clear();
        self.expiring.clear();
        self.dirty.clear();
        self.touched.clear();
        for s in snap.sessions {
            let groups = match s.state {
                Some((k, st)) => {
                    let mut g = SessionGroups::new(&self.spec, &self.aggs)?;
                    g.merge(&decode_arrays(&k)?, &st.iter().map(|a| decode_arrays(a)).collect::<Result<Vec<_>>>()?)?;
                    Some(g)
                }
                None => None,
            };
            let emitted = match s.emitted {
                Some(b) => Some(RecordBatch::try_new(self.spec.schema.clone(), decode_arrays(&b)?)?),
                None => None,
            };
            let session = Session {
                partition: s.partition.clone(),
                start: s.start,
                last: s.last,
                groups,
                pending: vec![],
                emitted,
                closed: s.closed,
            };
            let close = self.close_time(&session);
            if s.closed {
                self.expiring.insert((close.saturating_add(self.spec.lateness_ms), s.id));
            } else {
                self.open.insert((close, s.id));
            }
            self.partitions.entry(s.partition).or_default().push(s.id);
            self.sessions.insert(s.id, session);
        }
        let sessions = &self.sessions;
        for list in self.partitions.values_mut() {
            list.sort_by_key(|id| sessions[id].start);
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
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::pipeline::OpSpec;
    use crate::plan::Planner;
    use crate::sink::collect::chunks_to_strings;
    use crate::sql::{parse_statements, Statement};

    const S: i64 = 1000;

    /// The session operator of `SELECT window_start, window_end, k, COUNT(*), SUM(v)` over
    /// `SESSION(TABLE t PARTITION BY k, DESCRIPTOR(ts), INTERVAL '10' SECOND)`.
    fn op(lateness: &str) -> (SessionAggregate, SchemaRef) {
        let mut planner = Planner::new();
        let sql = format!(
            "CREATE TABLE t (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values', 'lateness' = '{lateness}');
             SELECT window_start, window_end, k, COUNT(*), SUM(v)
             FROM TABLE(SESSION(TABLE t PARTITION BY k, DESCRIPTOR(ts), INTERVAL '10' SECOND))
             GROUP BY window_start, window_end, k;"
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
                OpSpec::SessionAggregate { spec, .. } => Some(Arc::clone(spec)),
                _ => None,
            })
            .unwrap();
        (SessionAggregate::new(spec).unwrap(), input)
    }

    /// Rows (k, v, ts) with the watermark before each row.
    fn chunk(schema: &SchemaRef, rows: &[(i64, i64, i64, i64)]) -> Chunk {
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
                Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
                Arc::new(TimestampMillisecondArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
            ],
        )
        .unwrap();
        let wm = Int64Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>());
        Chunk { batch, row_watermarks: Some(Arc::new(wm)), ops: None }
    }

    /// "op start_s end_s k count sum" per output row, in order.
    fn text(chunks: &[Chunk]) -> Vec<String> {
        let secs = |s: &str| -> String {
            let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.3f").unwrap();
            format!("{}", t.and_utc().timestamp_millis() as f64 / 1000.0)
        };
        chunks_to_strings(chunks)
            .unwrap()
            .into_iter()
            .map(|r| format!("{} {} {} {} {} {}", r[0], secs(&r[1]), secs(&r[2]), r[3], r[4], r[5]))
            .collect()
    }

    #[test]
    fn a_session_closes_when_the_watermark_reaches_last_event_plus_gap_minus_one() {
        let (mut op, schema) = op("0 s");
        assert!(op.on_chunk(chunk(&schema, &[(1, 1, 0, i64::MIN), (1, 2, 4 * S, 0)])).unwrap().is_empty());
        assert!(op.on_watermark(14 * S - 2).unwrap().is_empty(), "open until 4 s + 10 s - 1 ms");
        assert_eq!(text(&op.on_watermark(14 * S - 1).unwrap()), vec!["+I 0 14 1 2 3"]);
        assert_eq!(op.sessions(), 0, "without lateness the state goes at close");
        assert!(op.on_watermark(i64::MAX).unwrap().is_empty(), "emitted once");
    }

    #[test]
    fn the_row_watermark_closes_sessions_inside_a_chunk() {
        // Row 3's watermark (30 s) closes k1's [0, 10) before row 3 is added; row 3 itself
        // starts a new session, row 4 (5 s, watermark 30 s) is too late.
        let (mut op, schema) = op("0 s");
        let rows = [(1, 1, 0, i64::MIN), (2, 5, 25 * S, 0), (1, 2, 30 * S, 25 * S), (1, 9, 5 * S, 30 * S)];
        assert_eq!(text(&op.on_chunk(chunk(&schema, &rows)).unwrap()), vec!["+I 0 10 1 1 1"]);
        assert_eq!(op.late_rows(), 1);
        let rest = text(&op.on_watermark(i64::MAX).unwrap());
        assert_eq!(rest, vec!["+I 25 35 2 1 5", "+I 30 40 1 1 2"]);
    }

    #[test]
    fn an_out_of_order_row_within_the_watermark_delay_merges_open_sessions() {
        // Sessions [0, 10) and [15, 25) of k1 are open (watermark 0 s); 7 s bridges them
        // before either closed: no -D, one +I for the merged session.
        let (mut op, schema) = op("0 s");
        let rows = [(1, 1, 0, i64::MIN), (1, 2, 15 * S, 0), (1, 4, 7 * S, 0)];
        assert!(op.on_chunk(chunk(&schema, &rows)).unwrap().is_empty());
        assert_eq!(op.sessions(), 1);
        assert_eq!(text(&op.on_watermark(i64::MAX).unwrap()), vec!["+I 0 25 1 3 7"]);
    }

    #[test]
    fn a_late_row_merging_emitted_sessions_deletes_them_then_inserts_the_merge() {
        let (mut op, schema) = op("1 min");
        op.on_chunk(chunk(&schema, &[(1, 1, 0, i64::MIN), (1, 2, 15 * S, 0)])).unwrap();
        assert_eq!(text(&op.on_watermark(30 * S).unwrap()), vec!["+I 0 10 1 1 1", "+I 15 25 1 1 2"]);
        let out = op.on_chunk(chunk(&schema, &[(1, 4, 8 * S, 30 * S)])).unwrap();
        assert_eq!(text(&out), vec!["-D 0 10 1 1 1", "-D 15 25 1 1 2", "+I 0 25 1 3 7"]);
        assert_eq!(op.late_rows(), 0);
    }

    #[test]
    fn a_late_row_extending_an_emitted_session_corrects_it_and_beyond_lateness_is_dropped() {
        let (mut op, schema) = op("20 s");
        op.on_chunk(chunk(&schema, &[(1, 1, 0, i64::MIN), (1, 2, 5 * S, 0)])).unwrap();
        assert_eq!(text(&op.on_watermark(20 * S).unwrap()), vec!["+I 0 15 1 2 3"]);
        // 6 s: inside the session, which keeps its bounds: -U/+U with the new count.
        let out = op.on_chunk(chunk(&schema, &[(1, 4, 6 * S, 20 * S)])).unwrap();
        assert_eq!(text(&out), vec!["-U 0 15 1 2 3", "+U 0 16 1 3 7"]);
        // 34 s reaches 16 s - 1 ms + 20 s: the state is gone; a 1 s row is too late.
        assert!(op.on_watermark(36 * S).unwrap().is_empty());
        assert_eq!(op.sessions(), 0);
        assert!(op.on_chunk(chunk(&schema, &[(1, 8, S, 36 * S)])).unwrap().is_empty());
        assert_eq!(op.late_rows(), 1);
    }

    #[test]
    fn a_late_row_reopening_a_session_corrects_it_when_it_closes_again() {
        // 10 s touches the emitted [0, 10) and extends it to [0, 20), past the watermark
        // (15 s): the correction waits until the watermark reaches 20 s - 1 ms.
        let (mut op, schema) = op("1 min");
        op.on_chunk(chunk(&schema, &[(1, 1, 0, i64::MIN)])).unwrap();
        assert_eq!(text(&op.on_watermark(15 * S).unwrap()), vec!["+I 0 10 1 1 1"]);
        assert!(op.on_chunk(chunk(&schema, &[(1, 2, 10 * S, 15 * S)])).unwrap().is_empty());
        assert!(op.on_watermark(20 * S - 2).unwrap().is_empty());
        assert_eq!(text(&op.on_watermark(20 * S - 1).unwrap()), vec!["-U 0 10 1 1 1", "+U 0 20 1 2 3"]);
    }

    /// Rows of two keys with out-of-order rows, a late row merging two emitted sessions
    /// (k1 at 10 s), and rows beyond a 45 s lateness (k2 at 4 s, k1 at 60 s); watermark =
    /// max ts so far.
    fn stream() -> Vec<(i64, i64, i64, i64)> {
        let rows = [
            (1, 0),
            (2, 1),
            (1, 20),
            (2, 3),
            (1, 45),
            (1, 50),
            (1, 10),
            (2, 60),
            (2, 4),
            (1, 52),
            (1, 120),
            (2, 100),
            (1, 60),
            (2, 121),
        ];
        let mut wm = i64::MIN;
        let mut out = Vec::new();
        for (i, &(k, t)) in rows.iter().enumerate() {
            out.push((k, i as i64, t * S, wm));
            wm = wm.max(t * S);
        }
        out
    }

    #[test]
    fn the_changelog_does_not_depend_on_chunk_boundaries() {
        let rows = stream();
        let (mut whole, schema) = op("45 s");
        let mut expected = whole.on_chunk(chunk(&schema, &rows)).unwrap();
        expected.extend(whole.on_watermark(i64::MAX).unwrap());
        for size in [1, 2, 3, 5] {
            let (mut split, _) = op("45 s");
            let mut got = Vec::new();
            for part in rows.chunks(size) {
                got.extend(split.on_chunk(chunk(&schema, part)).unwrap());
            }
            got.extend(split.on_watermark(i64::MAX).unwrap());
            assert_eq!(text(&got), text(&expected), "chunks of {size}");
            assert_eq!(split.late_rows(), whole.late_rows());
        }
        assert_eq!(whole.late_rows(), 2);
        assert!(text(&expected).iter().any(|r| r.starts_with("-D")), "the stream exercises merges");
    }

    #[test]
    fn snapshot_and_restore_continue_identically() {
        let rows = stream();
        let (first, second) = rows.split_at(9);
        let (mut a, schema) = op("45 s");
        a.on_chunk(chunk(&schema, first)).unwrap();
        let snapshot = a.snapshot().unwrap();
        let mut expected = a.on_chunk(chunk(&schema, second)).unwrap();
        expected.extend(a.on_watermark(i64::MAX).unwrap());

        let (mut b, _) = op("45 s");
        b.restore(&snapshot).unwrap();
        let mut got = b.on_chunk(chunk(&schema, second)).unwrap();
        got.extend(b.on_watermark(i64::MAX).unwrap());
        assert!(!got.is_empty());
        assert_eq!(text(&got), text(&expected));
        assert_eq!(b.late_rows(), a.late_rows());
    }
}
