//! SLIDE windows and `OVER (PARTITION BY .. ORDER BY ts RANGE|ROWS .. PRECEDING AND CURRENT
//! ROW)`: aggregates over a frame that ends at each row, emitted in event-time order.
//!
//! Rows wait in a buffer until the watermark passes their time; then, per partition and in
//! ascending time, they enter retractable accumulators (DataFusion's
//! `create_sliding_accumulator`) and rows that left the frame are retracted, so the cost
//! per row does not grow with the frame size:
//!
//! ```text
//! RANGE 10 min, partition k:   rows at 00:01 00:04 00:12 00:12 00:15
//! at 00:12: update(00:12, 00:12), retract(00:01)   frame = [00:02, 00:12] = {00:04, 00:12 ×2}
//! at 00:15: update(00:15), retract(00:04)          frame = [00:05, 00:15] = {00:12 ×2, 00:15}
//! ```
//!
//! Output: SLIDE gives one row per distinct (time, partition) with `window_start = t - size`,
//! `window_end = window_time = t`; OVER gives one row per input row (its columns, then the
//! aggregates), rows sharing a time being peers in a RANGE frame.
//!
//! Timing (DESIGN's determinism rule): a row whose time is below the watermark before it is
//! late — dropped and counted; no allowed lateness, since results go out in time order.
//! A time `t` is emitted once the watermark passes it (`watermark > t`): only then can no
//! on-time row at `t` still arrive.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, UInt32Array, UInt64Array};
use datafusion::arrow::compute::{cast, concat, concat_batches, filter, filter_record_batch, not, take};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;
use datafusion::physical_expr::PhysicalExpr;
use serde::{Deserialize, Serialize};

use super::chunk::Chunk;
use super::event_time;
use super::operator::Operator;
use super::state_codec::{decode_arrays, encode_arrays, encode_snapshot_arrays, SnapshotBytes};
use super::window_aggregate::{AggregateWithFilter, OutputColumn};
use crate::error::{Error, Result};

/// The frame of each row: which earlier rows of its partition it aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// `RANGE BETWEEN size PRECEDING AND CURRENT ROW`: times in `[t - size, t]`
    /// (`i64::MAX` = `UNBOUNDED PRECEDING`).
    Range(i64),
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW`: the row and the `n` rows before it in
    /// (time, arrival) order.
    Rows(u64),
}

/// What the operator emits.
#[derive(Debug, Clone)]
pub enum SlideOutput {
    /// SLIDE TVF + GROUP BY: one row per distinct (time, partition); `Key(i)` is the i-th
    /// partition expression.
    PerWindow(Vec<OutputColumn>),
    /// OVER: one row per input row: the input columns, then one column per aggregate.
    PerRow,
}

/// Everything needed to build the operator (one per worker).
#[derive(Debug, Clone)]
pub struct SlideAggregateSpec {
    /// The event-time column of the input.
    pub time: Arc<dyn PhysicalExpr>,
    /// Partition keys (empty: one partition).
    pub partition: Vec<Arc<dyn PhysicalExpr>>,
    /// Their types (checked when planning to be usable as row-format keys).
    pub partition_types: Vec<DataType>,
    /// The frame.
    pub frame: Frame,
    /// Aggregates (must support retraction unless the frame is unbounded) with filters.
    pub aggregates: Vec<AggregateWithFilter>,
    /// Output shape.
    pub output: SlideOutput,
    /// Output schema.
    pub schema: SchemaRef,
}

/// Rows of one partition at one time currently in the frame: where to find the argument
/// values each aggregate was updated with (needed to retract them). Rows point into the
/// batch they were processed from, so an entry costs no allocation.
struct Entry {
    time: i64,
    rows: EntryRows,
}

enum EntryRows {
    /// Rows `offset..offset + len` of a processed batch (see [`Layout`]).
    InBatch { batch: Arc<RecordBatch>, offset: usize, len: usize },
    /// Argument columns per aggregate (entries restored from a snapshot).
    Args(Vec<Vec<ArrayRef>>),
}

/// The argument columns per aggregate of rows `from..from + len` of a [`Layout`] batch, with
/// each aggregate's FILTER applied.
fn args_of(layout: &Layout, batch: &RecordBatch, from: usize, len: usize) -> Result<Vec<Vec<ArrayRef>>> {
    let mut per_agg = Vec::with_capacity(layout.args.len());
    for (cols, f) in layout.args.iter().zip(&layout.filters) {
        let mut args: Vec<ArrayRef> = batch.columns()[cols.clone()].iter().map(|c| c.slice(from, len)).collect();
        if let Some(f) = f {
            let mask = batch.column(*f).slice(from, len);
            let mask = mask.as_any().downcast_ref::<BooleanArray>().ok_or_else(|| Error::internal("filter column"))?;
            args = args.iter().map(|c| filter(c, mask)).collect::<std::result::Result<Vec<_>, _>>()?;
        }
        per_agg.push(args);
    }
    Ok(per_agg)
}

impl Entry {
    fn args(&self, layout: &Layout) -> Result<Vec<Vec<ArrayRef>>> {
        match &self.rows {
            EntryRows::InBatch { batch, offset, len } => args_of(layout, batch, *offset, *len),
            EntryRows::Args(a) => Ok(a.clone()),
        }
    }
}

struct Partition {
    accs: Vec<Box<dyn Accumulator>>,
    entries: VecDeque<Entry>,
    rows_in_frame: u64,
    last_time: i64,
}

/// Column positions in the buffered rows: time, seq, partition keys, each aggregate's
/// arguments and filter, then (OVER) the input columns.
struct Layout {
    partition: std::ops::Range<usize>,
    args: Vec<std::ops::Range<usize>>,
    filters: Vec<Option<usize>>,
    input: std::ops::Range<usize>,
}

/// The operator. See the module docs.
pub struct SlideAggregate {
    spec: Arc<SlideAggregateSpec>,
    converter: RowConverter,
    /// Buffered on-time rows (see [`Layout`]) whose time the watermark has not passed.
    pending: Vec<RecordBatch>,
    pending_min: i64,
    partitions: HashMap<Vec<u8>, Partition, ahash::RandomState>,
    /// Bounded RANGE frames: once the watermark passes a partition's `last_time + size`, any
    /// later row would retract its whole frame, so the state is released. Partitions are
    /// scanned for that when the watermark reaches this time, then `size` later again (so
    /// state lingers at most one `size` longer, at O(1) amortised cost per row).
    next_scan: i64,
    seq: u64,
    watermark: i64,
    late: u64,
    no_time: u64,
}

impl SlideAggregate {
    /// A fresh operator with no state and watermark at -∞. Fails if a partition key type
    /// has no row format (the planner checks this with [`keys_supported`]).
    pub fn new(spec: Arc<SlideAggregateSpec>) -> Result<Self> {
        // Without partition keys every row gets the same constant key (see `stage`).
        let types = match spec.partition_types.is_empty() {
            true => vec![DataType::UInt8],
            false => spec.partition_types.clone(),
        };
        let converter = RowConverter::new(types.into_iter().map(SortField::new).collect())?;
        Ok(SlideAggregate {
            spec,
            converter,
            pending: vec![],
            pending_min: i64::MAX,
            partitions: HashMap::default(),
            next_scan: i64::MIN,
            seq: 0,
            watermark: i64::MIN,
            late: 0,
            no_time: 0,
        })
    }

    /// Number of partitions with state.
    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }

    fn layout(&self, input_width: usize) -> Layout {
        let mut at = 2;
        let mut span = |n: usize| {
            let r = at..at + n;
            at += n;
            r
        };
        let partition = span(self.spec.partition.len().max(1));
        let args: Vec<_> = self.spec.aggregates.iter().map(|(a, _)| span(a.expressions().len())).collect();
        let filters: Vec<_> = self.spec.aggregates.iter().map(|(_, f)| f.as_ref().map(|_| span(1).start)).collect();
        let input = match self.spec.output {
            SlideOutput::PerRow => span(input_width),
            SlideOutput::PerWindow(_) => span(0),
        };
        Layout { partition, args, filters, input }
    }

    /// Buffers the chunk's on-time rows as [`Layout`] columns.
    fn stage(&mut self, chunk: &Chunk) -> Result<()> {
        let batch = &chunk.batch;
        let n = batch.num_rows();
        let time = event_time::millis(&self.spec.time, batch)?;
        let mut keep = Vec::with_capacity(n);
        for i in 0..n {
            let ok = if time.is_null(i) {
                self.no_time += 1;
                false
            } else {
                let w = chunk.row_watermarks.as_ref().map(|w| w.value(i)).unwrap_or(self.watermark);
                let late = time.value(i) < w;
                self.late += late as u64;
                !late
            };
            keep.push(ok);
        }
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::new(time.values().clone(), None)),
            Arc::new(UInt64Array::from_iter_values(self.seq..self.seq + n as u64)),
        ];
        self.seq += n as u64;
        for p in &self.spec.partition {
            cols.push(p.evaluate(batch)?.into_array(n)?);
        }
        if self.spec.partition.is_empty() {
            cols.extend(super::groups::constant_key(n));
        }
        for (agg, _) in &self.spec.aggregates {
            for e in agg.expressions() {
                cols.push(e.evaluate(batch)?.into_array(n)?);
            }
        }
        for (_, f) in &self.spec.aggregates {
            if let Some(f) = f {
                let mask = f.evaluate(batch)?.into_array(n)?;
                let mask = mask
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .ok_or_else(|| Error::internal("FILTER is not boolean"))?;
                // NULL filters exclude the row, as in SQL.
                cols.push(Arc::new(datafusion::arrow::compute::prep_null_mask_filter(mask)));
            }
        }
        if let SlideOutput::PerRow = self.spec.output {
            cols.extend(batch.columns().iter().cloned());
        }
        let schema = Arc::new(Schema::new(
            cols.iter()
                .enumerate()
                .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let staged =
            RecordBatch::try_new_with_options(schema, cols, &RecordBatchOptions::new().with_row_count(Some(n)))?;
        let staged = filter_record_batch(&staged, &BooleanArray::from(keep))?;
        if staged.num_rows() > 0 {
            let times = staged.column(0).as_any().downcast_ref::<Int64Array>().expect("time column");
            self.pending_min = self.pending_min.min(times.values().iter().copied().min().unwrap_or(i64::MAX));
            self.pending.push(staged);
        }
        Ok(())
    }

    /// Advances the watermark to `w`, emitting every buffered time below it.
    fn advance(&mut self, w: i64) -> Result<Vec<Chunk>> {
        if w <= self.watermark {
            return Ok(vec![]);
        }
        self.watermark = w;
        let mut out = vec![];
        if self.pending_min < w {
            let schema = self.pending[0].schema();
            let all = concat_batches(&schema, &self.pending)?;
            let times = all.column(0).as_any().downcast_ref::<Int64Array>().expect("time column").clone();
            let ready_mask = datafusion::arrow::compute::kernels::cmp::lt(&times, &Int64Array::new_scalar(w))?;
            let ready = filter_record_batch(&all, &ready_mask)?;
            let rest = filter_record_batch(&all, &not(&ready_mask)?)?;
            let rest_times = rest.column(0).as_any().downcast_ref::<Int64Array>().expect("time column");
            self.pending_min = rest_times.values().iter().copied().min().unwrap_or(i64::MAX);
            self.pending = if rest.num_rows() > 0 { vec![rest] } else { vec![] };
            out.extend(self.process(ready)?);
        }
        if let Frame::Range(size) = self.spec.frame {
            if size != i64::MAX && w >= self.next_scan {
                self.partitions.retain(|_, p| p.last_time.saturating_add(size) >= w);
                self.next_scan = w.saturating_add(size.max(1));
            }
        }
        Ok(out)
    }

    /// Runs ready rows through their partitions' frames in (time, partition, arrival) order.
    fn process(&mut self, ready: RecordBatch) -> Result<Vec<Chunk>> {
        let layout = self.layout(ready.num_columns().saturating_sub(self.width_before_input()));
        let part_cols: Vec<ArrayRef> = ready.columns()[layout.partition.clone()].to_vec();
        let rows = self.converter.convert_columns(&part_cols)?;
        let times = ready.column(0).as_any().downcast_ref::<Int64Array>().expect("time column").clone();
        let seqs = ready.column(1).as_any().downcast_ref::<UInt64Array>().expect("seq column").clone();
        let mut order: Vec<u32> = (0..ready.num_rows() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            times
                .value(a)
                .cmp(&times.value(b))
                .then_with(|| rows.row(a).cmp(&rows.row(b)))
                .then(seqs.value(a).cmp(&seqs.value(b)))
        });
        let ready = Arc::new(datafusion::arrow::compute::take_record_batch(&ready, &UInt32Array::from(order))?);
        let rows = self.converter.convert_columns(&ready.columns()[layout.partition.clone()])?;
        let times = ready.column(0).as_any().downcast_ref::<Int64Array>().expect("time column").clone();
        // Per output row: the ready row it stands for and the aggregate values.
        let mut picks: Vec<u32> = Vec::new();
        let mut values: Vec<Vec<ScalarValue>> = vec![Vec::new(); self.spec.aggregates.len()];
        let n = ready.num_rows();
        let mut a = 0;
        while a < n {
            let t = times.value(a);
            let mut b = a + 1;
            while b < n && times.value(b) == t && same_row(&rows, a, b) {
                b += 1;
            }
            self.group(&ready, &layout, &rows, a, b, t, &mut picks, &mut values)?;
            a = b;
        }
        if picks.is_empty() {
            return Ok(vec![]);
        }
        let batch = self.output(&ready, &layout, &picks, values)?;
        Ok(vec![Chunk::inserts(batch)])
    }

    fn width_before_input(&self) -> usize {
        2 + self.spec.partition.len().max(1)
            + self.spec.aggregates.iter().map(|(a, f)| a.expressions().len() + f.is_some() as usize).sum::<usize>()
    }

    /// Feeds rows `[a, b)` (one partition, time `t`) through the partition's frame.
    #[allow(clippy::too_many_arguments)]
    fn group(
        &mut self,
        ready: &Arc<RecordBatch>,
        layout: &Layout,
        rows: &Rows,
        a: usize,
        b: usize,
        t: i64,
        picks: &mut Vec<u32>,
        values: &mut [Vec<ScalarValue>],
    ) -> Result<()> {
        let key = rows.row(a).data();
        if !self.partitions.contains_key(key) {
            let accs = self
                .spec
                .aggregates
                .iter()
                .map(|(agg, _)| agg.create_sliding_accumulator())
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            let p = Partition { accs, entries: VecDeque::new(), rows_in_frame: 0, last_time: i64::MIN };
            self.partitions.insert(key.to_vec(), p);
        }
        let frame = self.spec.frame;
        let part = self.partitions.get_mut(key).expect("just inserted");
        let evaluate = |part: &mut Partition, values: &mut [Vec<ScalarValue>]| -> Result<()> {
            for (acc, v) in part.accs.iter_mut().zip(values.iter_mut()) {
                v.push(acc.evaluate()?);
            }
            Ok(())
        };
        match frame {
            Frame::Range(size) => {
                let args = args_of(layout, ready, a, b - a)?;
                for (acc, x) in part.accs.iter_mut().zip(&args) {
                    acc.update_batch(x)?;
                }
                let rows = EntryRows::InBatch { batch: Arc::clone(ready), offset: a, len: b - a };
                part.entries.push_back(Entry { time: t, rows });
                let from = t.saturating_sub(size);
                while part.entries.front().is_some_and(|e| e.time < from) {
                    let e = part.entries.pop_front().expect("checked above");
                    for (acc, x) in part.accs.iter_mut().zip(&e.args(layout)?) {
                        acc.retract_batch(x)?;
                    }
                }
                evaluate(part, values)?;
                match self.spec.output {
                    SlideOutput::PerWindow(_) => picks.push(a as u32),
                    SlideOutput::PerRow => {
                        for v in values.iter_mut() {
                            let last = v.last().cloned().unwrap_or(ScalarValue::Null);
                            v.extend(std::iter::repeat_n(last, b - a - 1));
                        }
                        picks.extend(a as u32..b as u32);
                    }
                }
            }
            Frame::Rows(preceding) => {
                for r in a..b {
                    let args = args_of(layout, ready, r, 1)?;
                    for (acc, x) in part.accs.iter_mut().zip(&args) {
                        acc.update_batch(x)?;
                    }
                    let rows = EntryRows::InBatch { batch: Arc::clone(ready), offset: r, len: 1 };
                    part.entries.push_back(Entry { time: t, rows });
                    part.rows_in_frame += 1;
                    if part.rows_in_frame > preceding.saturating_add(1) {
                        let e = part.entries.pop_front().expect("frame is not empty");
                        part.rows_in_frame -= 1;
                        for (acc, x) in part.accs.iter_mut().zip(&e.args(layout)?) {
                            acc.retract_batch(x)?;
                        }
                    }
                    evaluate(part, values)?;
                    picks.push(r as u32);
                }
            }
        }
        part.last_time = t;
        Ok(())
    }

    fn output(
        &self,
        ready: &RecordBatch,
        layout: &Layout,
        picks: &[u32],
        values: Vec<Vec<ScalarValue>>,
    ) -> Result<RecordBatch> {
        let idx = UInt32Array::from(picks.to_vec());
        let n = picks.len();
        let mut aggs = Vec::with_capacity(values.len());
        for v in values {
            aggs.push(ScalarValue::iter_to_array(v)?);
        }
        let times = take(ready.column(0), &idx, None)?;
        let times = times.as_any().downcast_ref::<Int64Array>().expect("time column").clone();
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.spec.schema.fields().len());
        match &self.spec.output {
            SlideOutput::PerRow => {
                for c in &ready.columns()[layout.input.clone()] {
                    cols.push(take(c, &idx, None)?);
                }
                cols.extend(aggs);
            }
            SlideOutput::PerWindow(output) => {
                let size = match self.spec.frame {
                    Frame::Range(s) => s,
                    Frame::Rows(_) => 0,
                };
                let ts = |f: &dyn Fn(i64) -> i64| -> ArrayRef {
                    let v: Vec<i64> = times.values().iter().map(|&t| f(t)).collect();
                    Arc::new(datafusion::arrow::array::TimestampMillisecondArray::from(v))
                };
                for c in output {
                    cols.push(match c {
                        OutputColumn::WindowStart => ts(&|t| t.saturating_sub(size)),
                        OutputColumn::WindowEnd | OutputColumn::WindowTime => ts(&|t| t),
                        OutputColumn::Key(i) => take(ready.column(layout.partition.start + i), &idx, None)?,
                        OutputColumn::Aggregate(i) => Arc::clone(&aggs[*i]),
                    });
                }
            }
        }
        let cols = cols
            .into_iter()
            .zip(self.spec.schema.fields())
            .map(|(c, f)| if c.data_type() != f.data_type() { cast(&c, f.data_type()) } else { Ok(c) })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new_with_options(
            self.spec.schema.clone(),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )?)
    }
}

/// Whether values of these types can be partition keys.
pub fn keys_supported(types: &[DataType]) -> bool {
    RowConverter::supports_fields(&types.iter().cloned().map(SortField::new).collect::<Vec<_>>())
}

fn same_row(rows: &Rows, a: usize, b: usize) -> bool {
    rows.row(a).cmp(&rows.row(b)) == Ordering::Equal
}

/// One partition's frame in a snapshot: its rows' times, per aggregate the number of
/// argument rows each entry holds, and per aggregate all argument rows, encoded.
#[derive(Serialize, Deserialize)]
struct PartitionSnapshot {
    #[serde(with = "crate::runtime::checkpoint::base64_bytes::one")]
    key: Vec<u8>,
    last_time: i64,
    rows_in_frame: u64,
    times: Vec<i64>,
    lens: Vec<Vec<usize>>,
    args: Vec<Option<SnapshotBytes>>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    watermark: i64,
    late: u64,
    no_time: u64,
    seq: u64,
    #[serde(with = "crate::runtime::checkpoint::base64_bytes::option")]
    pending: Option<Vec<u8>>,
    partitions: Vec<PartitionSnapshot>,
}

impl Operator for SlideAggregate {
    fn name(&self) -> &str {
        "SlideAggregate"
    }

    fn on_chunk(&mut self, chunk: Chunk) -> Result<Vec<Chunk>> {
        self.stage(&chunk)?;
        // The watermark before the last row is known now: emit what it has passed.
        match chunk.row_watermarks.as_ref().and_then(|w| w.values().iter().copied().max()) {
            Some(w) => self.advance(w),
            None => Ok(vec![]),
        }
    }

    fn on_watermark(&mut self, watermark: i64) -> Result<Vec<Chunk>> {
        self.advance(watermark)
    }

    fn snapshot(&mut self) -> Result<Vec<u8>> {
        let pending = match self.pending.first() {
            Some(first) => Some(encode_arrays(concat_batches(&first.schema(), &self.pending)?.columns())?),
            None => None,
        };
        let mut keys: Vec<&Vec<u8>> = self.partitions.keys().collect();
        keys.sort();
        let mut partitions = Vec::with_capacity(keys.len());
        for key in keys {
            let p = &self.partitions[key];
            let aggs = self.spec.aggregates.len();
            let layout = self.layout(0);
            let entry_args = p.entries.iter().map(|e| e.args(&layout)).collect::<Result<Vec<_>>>()?;
            let mut lens = Vec::with_capacity(aggs);
            let mut args = Vec::with_capacity(aggs);
            for j in 0..aggs {
                lens.push(entry_args.iter().map(|e| e[j].first().map(|a| a.len()).unwrap_or(0)).collect());
                let width = entry_args.first().map(|e| e[j].len()).unwrap_or(0);
                let mut columns = Vec::with_capacity(width);
                for c in 0..width {
                    let parts: Vec<&dyn Array> = entry_args.iter().map(|e| e[j][c].as_ref()).collect();
                    columns.push(concat(&parts)?);
                }
                args.push(if columns.is_empty() { None } else { Some(encode_snapshot_arrays(&columns)?) });
            }
            partitions.push(PartitionSnapshot {
                key: key.clone(),
                last_time: p.last_time,
                rows_in_frame: p.rows_in_frame,
                times: p.entries.iter().map(|e| e.time).collect(),
                lens,
                args,
            });
        }
        let snap = Snapshot {
            watermark: self.watermark,
            late: self.late,
            no_time: self.no_time,
            seq: self.seq,
            pending,
            partitions,
        };
        serde_json::to_vec(&snap).map_err(|e| Error::internal(format!("snapshot: {e}")))
    }

    fn restore(&mut self, state: &[u8]) -> Result<()> {
        let snap: Snapshot = serde_json::from_slice(state).map_err(|e| Error::internal(format!("restore: {e}")))?;
        self.watermark = snap.watermark;
        self.late = snap.late;
        self.no_time = snap.no_time;
        self.seq = snap.seq;
        self.pending.clear();
        self.pending_min = i64::MAX;
        if let Some(bytes) = snap.pending {
            let cols = decode_arrays(&bytes)?;
            let schema = Arc::new(Schema::new(
                cols.iter()
                    .enumerate()
                    .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
                    .collect::<Vec<_>>(),
            ));
            let n = cols.first().map(|c| c.len()).unwrap_or(0);
            let batch =
                RecordBatch::try_new_with_options(schema, cols, &RecordBatchOptions::new().with_row_count(Some(n)))?;
            let times = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| Error::internal("restore: time column"))?;
            self.pending_min = times.values().iter().copied().min().unwrap_or(i64::MAX);
            self.pending.push(batch);
        }
        self.partitions.clear();
        self.next_scan = i64::MIN;
        for p in snap.partitions {
            let mut accs = self
                .spec
                .aggregates
                .iter()
                .map(|(agg, _)| agg.create_sliding_accumulator())
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            let mut restored: Vec<Vec<Vec<ArrayRef>>> = vec![Vec::new(); p.times.len()];
            for (j, acc) in accs.iter_mut().enumerate() {
                let columns = match &p.args[j] {
                    Some(bytes) => decode_arrays(bytes)?,
                    None => vec![],
                };
                if !columns.is_empty() {
                    acc.update_batch(&columns)?;
                }
                let mut at = 0;
                for (e, &len) in restored.iter_mut().zip(&p.lens[j]) {
                    e.push(columns.iter().map(|c| c.slice(at, len)).collect());
                    at += len;
                }
            }
            let entries: VecDeque<Entry> =
                p.times.iter().zip(restored).map(|(&time, args)| Entry { time, rows: EntryRows::Args(args) }).collect();
            let part = Partition { accs, entries, rows_in_frame: p.rows_in_frame, last_time: p.last_time };
            self.partitions.insert(p.key, part);
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
        self.partitions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::pipeline::OpSpec;
    use crate::plan::Planner;
    use crate::sink::collect::chunks_to_strings;
    use crate::sql::{parse_statements, Statement};
    use datafusion::arrow::array::TimestampMillisecondArray;

    const S: i64 = 1000;

    /// The operator of `query` over `t (k, v, ts)`. Its rows are the aggregate's (before the
    /// final projection): SLIDE `window_start, window_end, k, aggs`; OVER `k, v, ts, aggs`.
    fn op(query: &str) -> (SlideAggregate, SchemaRef) {
        let mut planner = Planner::new();
        let sql = format!(
            "CREATE TABLE t (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values'); {query};"
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
                OpSpec::SlideAggregate { spec, .. } => Some(Arc::clone(spec)),
                _ => None,
            })
            .unwrap();
        (SlideAggregate::new(spec).unwrap(), input)
    }

    const SLIDE: &str = "SELECT window_end, k, COUNT(*), SUM(v) FROM TABLE(SLIDE(TABLE t PARTITION BY k, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY window_start, window_end, k";
    const OVER_ROWS: &str =
        "SELECT k, v, SUM(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM t";

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

    fn text(chunks: &[Chunk]) -> Vec<String> {
        chunks_to_strings(chunks).unwrap().into_iter().map(|r| r[1..].join(" ")).collect()
    }

    #[test]
    fn a_time_is_emitted_once_the_watermark_passes_it() {
        let (mut op, schema) = op(SLIDE);
        assert!(op.on_chunk(chunk(&schema, &[(1, 1, 5 * S, i64::MIN)])).unwrap().is_empty());
        // Watermark 5 s: a row at 5 s is still on time, so 5 s cannot be emitted yet.
        assert!(op.on_watermark(5 * S).unwrap().is_empty());
        assert!(op.on_chunk(chunk(&schema, &[(1, 2, 5 * S, 5 * S)])).unwrap().is_empty());
        assert_eq!(op.late_rows(), 0);
        assert_eq!(
            text(&op.on_watermark(5 * S + 1).unwrap()),
            vec!["1969-12-31 23:59:55.000 1970-01-01 00:00:05.000 1 2 3"]
        );
        // Now 5 s is below the watermark: late.
        assert!(op.on_chunk(chunk(&schema, &[(1, 4, 5 * S, 5 * S + 1)])).unwrap().is_empty());
        assert_eq!(op.late_rows(), 1);
        assert!(op.on_watermark(i64::MAX).unwrap().is_empty());
    }

    #[test]
    fn rows_leave_the_frame_and_state_is_released_after_it() {
        let (mut op, schema) = op(SLIDE);
        let rows: Vec<_> = (0..30).map(|i| (1, 1, i * S, i64::MIN)).collect();
        let out = op.on_chunk(chunk(&schema, &rows)).unwrap();
        assert!(out.is_empty());
        let out = text(&op.on_watermark(30 * S).unwrap());
        // [t - 10 s, t] holds 11 one-second rows once t >= 10 s.
        assert_eq!(out[3], "1969-12-31 23:59:53.000 1970-01-01 00:00:03.000 1 4 4");
        assert_eq!(out[29], "1970-01-01 00:00:19.000 1970-01-01 00:00:29.000 1 11 11");
        let frame_rows: Vec<usize> = op.partitions.values().map(|p| p.entries.len()).collect();
        assert_eq!(frame_rows, vec![11], "rows older than the frame were retracted");
        assert!(op.on_watermark(39 * S).unwrap().is_empty());
        assert_eq!(op.partitions(), 1, "a row at 39 s would still see the 29 s row");
        // Released at the next scan, at most one size (10 s) after it became unreachable.
        assert!(op.on_watermark(49 * S + 1).unwrap().is_empty());
        assert_eq!(op.partitions(), 0, "no later row can see these rows");
    }

    #[test]
    fn rows_frames_count_rows_in_time_then_arrival_order() {
        let (mut op, schema) = op(OVER_ROWS);
        // Arrival order differs from time order within the watermark delay (none is late).
        let rows = [(1, 1, 3 * S, i64::MIN), (1, 2, S, i64::MIN), (1, 4, 2 * S, i64::MIN), (1, 8, 2 * S, i64::MIN)];
        op.on_chunk(chunk(&schema, &rows)).unwrap();
        let out = chunks_to_strings(&op.on_watermark(i64::MAX).unwrap()).unwrap();
        let v_and_sum: Vec<String> = out.iter().map(|r| format!("{} {}", r[2], r[4])).collect();
        // time order: 1 s (2), 2 s (4), 2 s (8), 3 s (1); sums of the last three.
        assert_eq!(v_and_sum, vec!["2 2", "4 6", "8 14", "1 13"]);
    }

    #[test]
    fn snapshot_and_restore_continue_identically() {
        for query in [SLIDE, OVER_ROWS] {
            let rows: Vec<_> = (0..60).map(|i| (i % 3, i, (i * 700) % 9000 + i * 300, i * 300 - 3000)).collect();
            let (first, second) = rows.split_at(25);
            let (mut a, schema) = op(query);
            a.on_chunk(chunk(&schema, first)).unwrap();
            let snapshot = a.snapshot().unwrap();
            let mut expected = a.on_chunk(chunk(&schema, second)).unwrap();
            expected.extend(a.on_watermark(i64::MAX).unwrap());

            let (mut b, _) = op(query);
            b.restore(&snapshot).unwrap();
            let mut got = b.on_chunk(chunk(&schema, second)).unwrap();
            got.extend(b.on_watermark(i64::MAX).unwrap());
            assert!(!got.is_empty());
            assert_eq!(text(&got), text(&expected), "{query}");
            assert_eq!(b.late_rows(), a.late_rows());
        }
    }
}
