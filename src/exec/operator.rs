//! The lifecycle every streaming operator implements.
//!
//! ```text
//!            on_chunk(rows)  on_chunk(rows)  on_watermark(w)   ...   on_end()
//! input  ──────[c1]────────────[c2]──────────────|w|──────────────────|EOS|
//! output ──── rows emitted by each call, in order; the runtime forwards a watermark
//!             downstream only after the rows `on_watermark` returned for it ────▶
//! ```
//!
//! Operators run on one task at a time (never concurrently) and keep their state in plain
//! fields. State must be serialisable: `snapshot` returns it as bytes, `restore` replaces
//! the operator's state with a snapshot taken from an operator built from the same plan.

use super::chunk::Chunk;
use crate::error::Result;

/// A streaming operator. See the module docs for the call order.
pub trait Operator: Send {
    /// Short name for EXPLAIN and metrics.
    fn name(&self) -> &str;

    /// Processes rows. Returns the rows this produces now (possibly none).
    fn on_chunk(&mut self, chunk: Chunk) -> Result<Vec<Chunk>>;

    /// The input watermark advanced to `watermark` (ms; monotonic; `i64::MAX` at the end of a
    /// bounded input). Returns rows to emit *before* the watermark is forwarded, e.g. the
    /// results of windows that close.
    fn on_watermark(&mut self, watermark: i64) -> Result<Vec<Chunk>> {
        let _ = watermark;
        Ok(vec![])
    }

    /// The input ended. Returns any final rows. Called once; nothing is called after it.
    fn on_end(&mut self) -> Result<Vec<Chunk>> {
        Ok(vec![])
    }

    /// The operator's state as bytes (empty for stateless operators).
    fn snapshot(&mut self) -> Result<Vec<u8>> {
        Ok(vec![])
    }

    /// Replaces the state with one produced by `snapshot` of an operator of the same plan.
    fn restore(&mut self, state: &[u8]) -> Result<()> {
        let _ = state;
        Ok(())
    }

    /// Checkpoint barrier `checkpoint` passed the operator, after every input before it and
    /// before any input after it (and after `snapshot` in a checkpointed job). An operator
    /// writing a side stream forwards the barrier into it.
    fn on_barrier(&mut self, checkpoint: u64) {
        let _ = checkpoint;
    }

    /// Rows this operator dropped because they were too late.
    fn late_rows(&self) -> u64 {
        0
    }

    /// Rows this operator dropped because their event time was NULL (they belong to no
    /// window).
    fn rows_without_time(&self) -> u64 {
        0
    }

    /// Number of live keys (groups) in the operator's state, for metrics.
    fn state_keys(&self) -> usize {
        0
    }

    /// The watermark this operator passes on after [`Operator::on_watermark`]`(input)`: by
    /// default `input`. An operator that may still emit rows whose event time is below
    /// `input` (MATCH_RECOGNIZE's `MATCH_ROWTIME()`) holds it back, so windows after it do
    /// not close too early. Must not decrease from one call to the next.
    fn output_watermark(&self, input: i64) -> i64 {
        input
    }
}

/// Runs a chunk through a chain of operators, returning what comes out of the last one.
pub fn push_chunk(ops: &mut [Box<dyn Operator>], chunk: Chunk) -> Result<Vec<Chunk>> {
    push_chunk_counted(ops, chunk, &mut |_, _, _| {})
}

/// Delivers a watermark to a chain: each operator's output goes through the rest of the
/// chain before the next operator sees the watermark.
pub fn push_watermark(ops: &mut [Box<dyn Operator>], watermark: i64) -> Result<Vec<Chunk>> {
    Ok(push_watermark_counted(ops, watermark, &mut |_, _, _| {})?.0)
}

/// Ends a chain the same way.
pub fn push_end(ops: &mut [Box<dyn Operator>]) -> Result<Vec<Chunk>> {
    push_end_counted(ops, &mut |_, _, _| {})
}

/// Counts rows through a chain: called with (operator index, rows in, rows out) for every
/// call of an operator.
pub type RowCounter<'a> = dyn FnMut(usize, u64, u64) + Send + 'a;

/// [`push_chunk`], reporting every operator call's rows to `count`.
pub fn push_chunk_counted(ops: &mut [Box<dyn Operator>], chunk: Chunk, count: &mut RowCounter) -> Result<Vec<Chunk>> {
    push_from(ops, 0, vec![chunk], count)
}

/// [`push_watermark`], reporting every operator call's rows to `count`. Each operator gets
/// the watermark the one before passes on ([`Operator::output_watermark`]); returns the
/// rows and the watermark the chain passes on.
pub fn push_watermark_counted(
    ops: &mut [Box<dyn Operator>],
    watermark: i64,
    count: &mut RowCounter,
) -> Result<(Vec<Chunk>, i64)> {
    let mut out = Vec::new();
    let mut watermark = watermark;
    for i in 0..ops.len() {
        let produced = ops[i].on_watermark(watermark)?;
        count(i, 0, rows(&produced));
        out.extend(push_from(ops, i + 1, produced, count)?);
        watermark = ops[i].output_watermark(watermark);
    }
    Ok((out, watermark))
}

/// [`push_end`], reporting every operator call's rows to `count`.
pub fn push_end_counted(ops: &mut [Box<dyn Operator>], count: &mut RowCounter) -> Result<Vec<Chunk>> {
    let mut out = Vec::new();
    for i in 0..ops.len() {
        let produced = ops[i].on_end()?;
        count(i, 0, rows(&produced));
        out.extend(push_from(ops, i + 1, produced, count)?);
    }
    Ok(out)
}

/// Runs `chunks` through `ops[first..]`.
fn push_from(
    ops: &mut [Box<dyn Operator>],
    first: usize,
    chunks: Vec<Chunk>,
    count: &mut RowCounter,
) -> Result<Vec<Chunk>> {
    let mut current = chunks;
    for (i, op) in ops.iter_mut().enumerate().skip(first) {
        if current.is_empty() {
            break;
        }
        let mut next = Vec::new();
        for c in current {
            let n = c.num_rows() as u64;
            let produced = op.on_chunk(c)?;
            count(i, n, rows(&produced));
            next.extend(produced);
        }
        current = next;
    }
    Ok(current)
}

fn rows(chunks: &[Chunk]) -> u64 {
    chunks.iter().map(|c| c.num_rows() as u64).sum()
}
