//! The task that reads one source table and feeds every query of the job that reads it.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::sync::mpsc::{Sender, UnboundedReceiver, UnboundedSender};

use super::cancel::Cancel;
use super::checkpoint::{Report, SourceState, Trigger};
use super::clock::Clock;
use super::exchange::send_metered;
use super::job::JobSource;
use super::message::{Envelope, Message};
use super::metrics::JobMetrics;
use crate::connectors::{Source, SourceEvent};
use crate::error::{Error, Result};
use crate::exec::project::project;
use crate::exec::watermark_combiner::WatermarkCombiner;
use crate::exec::Chunk;

/// Reads the source's partitions round-robin (one poll each in turn, so the interleaving is
/// deterministic for bounded inputs) until all end or the job is cancelled: computes
/// computed columns, tags rows with the source watermark (the minimum over partitions that
/// are neither finished nor idle), and broadcasts rows and watermark advances.
///
/// When every partition has ended it sends a final watermark of `i64::MAX` (every window
/// closes), then `End`. On cancellation it sends only `End`: open windows stay open.
///
/// In a checkpointed job (`checkpoints.triggers` set) the source does not watch `cancel`:
/// between two polls it takes the coordinator's triggers, records every partition's offset
/// and the watermark state, reports them and sends the barrier; a [`Trigger::Stop`] then
/// ends it like a cancellation. A side stream (`checkpoints.barriers_in_input`) does the
/// same when a barrier arrives in its input instead, and stops after the barrier of a
/// [`Trigger::Stop`].
pub async fn run_source(
    source: JobSource,
    subscribers: Vec<Sender<Envelope>>,
    cancel: Cancel,
    metrics: Arc<JobMetrics>,
    clock: Arc<dyn Clock>,
    checkpoints: SourceCheckpoints,
) -> Result<()> {
    let JobSource { plan, mut partitions, idle_timeout_ms } = source;
    let n = partitions.len();
    let mut combiner = plan.watermark.clone().map(|e| WatermarkCombiner::new(e, n, idle_timeout_ms, clock));
    let mut subscribers = subscribers;
    let mut ended = vec![false; n];
    let mut p = n.saturating_sub(1);
    if let Some(state) = &checkpoints.restore {
        if state.offsets.len() != n || state.ended.len() != n {
            return Err(Error::internal(format!("checkpoint does not fit source '{}'", checkpoints.table)));
        }
        for (part, offset) in partitions.iter_mut().zip(&state.offsets) {
            part.seek(offset)?;
        }
        ended.clone_from(&state.ended);
        p = state.last_polled % n.max(1);
        if let (Some(c), Some(w)) = (combiner.as_mut(), &state.watermarks) {
            c.restore(w);
        }
    }
    let SourceCheckpoints { table, mut triggers, reports, barriers_in_input, .. } = checkpoints;
    let mut cancelled = false;
    // With barriers in the input: the id of the checkpoint that stops the job, once known.
    let mut stop_at: Option<u64> = None;
    while ended.iter().any(|e| !e) {
        if subscribers.is_empty() {
            // Every query reading this source has stopped (e.g. stdout closed).
            if let Some(r) = &reports {
                let _ = r.send(Report::SourceEnded { table, stopped: true });
            }
            return Ok(());
        }
        if let Some(t) = triggers.as_mut().filter(|_| !barriers_in_input) {
            let mut stop = false;
            loop {
                let trigger = match t.try_recv() {
                    Ok(trigger) => trigger,
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    // The coordinator is gone (it failed): stop like a cancelled job.
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                        stop = true;
                        break;
                    }
                };
                let (Trigger::Checkpoint(id) | Trigger::Stop(id)) = trigger;
                stop |= matches!(trigger, Trigger::Stop(_));
                let state = source_state(&partitions, &ended, p, combiner.as_ref());
                barrier(id, state, &table, reports.as_ref(), &mut subscribers, &metrics).await;
            }
            if stop {
                cancelled = true;
                break;
            }
        }
        p = (p + 1) % n;
        if ended[p] {
            continue;
        }
        let event = if triggers.is_some() {
            partitions[p].next().await?
        } else {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => { cancelled = true; break }
                e = partitions[p].next() => e?,
            }
        };
        let before = combiner.as_ref().map(WatermarkCombiner::current);
        match event {
            SourceEvent::Batch(batch) => {
                if batch.num_rows() == 0 {
                    continue;
                }
                let batch = match &plan.computed {
                    Some(exprs) => project(exprs, &plan.table.schema, &batch)?,
                    None => batch,
                };
                let mut chunk = Chunk::inserts(batch);
                if let Some(c) = combiner.as_mut() {
                    chunk = c.assign(p, chunk)?;
                }
                send(&mut subscribers, Message::Data(chunk), &metrics.source_backpressure_ns).await;
            }
            SourceEvent::Watermark(w) => {
                if let Some(c) = combiner.as_mut() {
                    c.explicit(p, w);
                }
            }
            SourceEvent::Idle => {
                if let Some(c) = combiner.as_mut() {
                    c.idle(p);
                }
            }
            SourceEvent::End => {
                ended[p] = true;
                if let Some(c) = combiner.as_mut() {
                    c.end(p);
                }
            }
            SourceEvent::Barrier(id) => {
                let state = source_state(&partitions, &ended, p, combiner.as_ref());
                barrier(id, state, &table, reports.as_ref(), &mut subscribers, &metrics).await;
                // The coordinator sends its stop trigger before any source sends that
                // barrier, so it is in the channel by the time the barrier gets here.
                while let Some(Ok(trigger)) = triggers.as_mut().map(UnboundedReceiver::try_recv) {
                    if let Trigger::Stop(s) = trigger {
                        stop_at = Some(s);
                    }
                }
                if stop_at.is_some_and(|s| s <= id) {
                    cancelled = true;
                    break;
                }
                continue;
            }
        }
        if let (Some(c), Some(before)) = (combiner.as_ref(), before) {
            let now = c.current();
            if now > before && !c.all_ended() {
                metrics.watermark.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
                send(&mut subscribers, Message::Watermark(now), &metrics.source_backpressure_ns).await;
            }
        }
    }
    if !cancelled {
        send(&mut subscribers, Message::Watermark(i64::MAX), &metrics.source_backpressure_ns).await;
    }
    send(&mut subscribers, Message::End, &metrics.source_backpressure_ns).await;
    if let Some(r) = &reports {
        let _ = r.send(Report::SourceEnded { table, stopped: cancelled });
    }
    Ok(())
}

/// A source task's part in checkpoints.
#[derive(Debug, Default)]
pub struct SourceCheckpoints {
    /// The source table, for reports and messages.
    pub table: String,
    /// The coordinator's triggers; `None` when the job does not checkpoint.
    pub triggers: Option<UnboundedReceiver<Trigger>>,
    /// The coordinator's report channel.
    pub reports: Option<UnboundedSender<Report>>,
    /// The state recorded in the checkpoint the job resumes from.
    pub restore: Option<SourceState>,
    /// Barriers come in the input ([`SourceEvent::Barrier`], a side stream) instead of being
    /// started by triggers; triggers then only tell which checkpoint stops the job.
    pub barriers_in_input: bool,
}

/// What the source records for a checkpoint: every partition's read position, which have
/// ended, the partition polled last and the watermark state.
fn source_state(
    partitions: &[Box<dyn Source>],
    ended: &[bool],
    last_polled: usize,
    combiner: Option<&WatermarkCombiner>,
) -> SourceState {
    SourceState {
        offsets: partitions.iter().map(|s| s.offset().unwrap_or_default()).collect(),
        ended: ended.to_vec(),
        last_polled,
        watermarks: combiner.map(WatermarkCombiner::state),
    }
}

/// Reports the source's part of checkpoint `id` and sends its barrier downstream.
async fn barrier(
    id: u64,
    state: SourceState,
    table: &str,
    reports: Option<&UnboundedSender<Report>>,
    subscribers: &mut Vec<Sender<Envelope>>,
    metrics: &JobMetrics,
) {
    if let Some(r) = reports {
        let _ = r.send(Report::Source { checkpoint: id, table: table.to_string(), state });
    }
    send(subscribers, Message::Barrier(id), &metrics.source_backpressure_ns).await;
}

/// Sends to every subscriber; a subscriber whose query stopped is dropped, the others go on.
/// Time spent waiting for room is added to `waited` (ns).
async fn send(subscribers: &mut Vec<Sender<Envelope>>, msg: Message, waited: &AtomicU64) {
    let mut open = Vec::with_capacity(subscribers.len());
    for s in subscribers.drain(..) {
        if send_metered(&s, (0, msg.clone()), Some(waited)).await.is_ok() {
            open.push(s);
        }
    }
    *subscribers = open;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::Source;
    use crate::plan::pipeline::OpSpec;
    use crate::plan::Planner;
    use crate::runtime::clock::ManualClock;
    use crate::sink::collect::chunks_to_strings;
    use crate::sql::{parse_statements, Statement};
    use async_trait::async_trait;
    use datafusion::arrow::array::{Int64Array, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::SchemaRef;
    use datafusion::arrow::record_batch::RecordBatch;
    use std::collections::VecDeque;

    /// Returns its batches, then `Idle` forever; each poll moves the clock by `tick_ms`.
    struct Scripted {
        schema: SchemaRef,
        batches: VecDeque<RecordBatch>,
        clock: ManualClock,
        tick_ms: i64,
    }

    #[async_trait]
    impl Source for Scripted {
        fn schema(&self) -> SchemaRef {
            self.schema.clone()
        }
        async fn next(&mut self) -> Result<SourceEvent> {
            self.clock.advance(self.tick_ms);
            tokio::task::yield_now().await;
            Ok(self.batches.pop_front().map(SourceEvent::Batch).unwrap_or(SourceEvent::Idle))
        }
    }

    #[tokio::test]
    async fn an_idle_partition_releases_a_window() {
        let mut planner = Planner::new();
        let sql = "CREATE TABLE t (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values');
                   SELECT window_start, k, COUNT(*) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND))
                   GROUP BY window_start, window_end, k;";
        let stmts = parse_statements(sql).unwrap();
        let Statement::CreateTable(ct) = &stmts[0].statement else { panic!() };
        planner.create_table(ct).unwrap();
        let Statement::Query(q) = &stmts[1].statement else { panic!() };
        let plan = planner.plan_query(q).unwrap();
        let mut window = plan
            .stages
            .iter()
            .flat_map(|s| &s.ops)
            .find(|o| matches!(o, OpSpec::WindowAggregate { .. }))
            .unwrap()
            .build()
            .unwrap();
        let source_plan = planner.source_plan("t").unwrap();
        let schema = source_plan.table.physical_schema.clone();
        let rows = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 1])),
                Arc::new(TimestampMillisecondArray::from(vec![1_000, 12_000])),
            ],
        )
        .unwrap();
        let clock = ManualClock::default();
        let busy =
            Scripted { schema: schema.clone(), batches: VecDeque::from([rows]), clock: clock.clone(), tick_ms: 0 };
        let quiet = Scripted { schema, batches: VecDeque::new(), clock: clock.clone(), tick_ms: 1_000 };
        let source = JobSource {
            plan: source_plan,
            partitions: vec![Box::new(busy), Box::new(quiet)],
            idle_timeout_ms: Some(5_000),
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let cancel = Cancel::new();
        let task = tokio::spawn(run_source(
            source,
            vec![tx],
            cancel.clone(),
            Arc::default(),
            Arc::new(clock.clone()),
            SourceCheckpoints::default(),
        ));
        let mut fired = Vec::new();
        while let Some((_, msg)) = rx.recv().await {
            match msg {
                Message::Data(chunk) => fired.extend(window.on_chunk(chunk).unwrap()),
                Message::Watermark(w) => {
                    assert!(clock.now_ms() >= 5_000, "the quiet partition held the watermark until its timeout");
                    assert_eq!(w, 12_000);
                    fired.extend(window.on_watermark(w).unwrap());
                    cancel.cancel();
                }
                Message::End => break,
                Message::Barrier(_) => panic!("no checkpoints in this job"),
            }
        }
        task.await.unwrap().unwrap();
        let rows = chunks_to_strings(&fired).unwrap();
        assert_eq!(rows, vec![vec!["+I", "1970-01-01 00:00:00.000", "1970-01-01 00:00:10.000", "1", "1"]]);
    }
}
