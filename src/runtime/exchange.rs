//! Routing a task's output to the next stage: by key hash, to one worker, or to the sink.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{ArrayRef, UInt32Array};
use datafusion::common::hash_utils::{create_hashes, RandomState};
use datafusion::physical_expr::PhysicalExpr;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::Sender;

use super::message::{Envelope, Message};
use super::metrics::TaskMetrics;
use crate::error::{Error, Result};
use crate::exec::Chunk;

/// Fixed seed: the same key always goes to the same worker, in every run.
const HASH_SEED: RandomState = RandomState::with_seed(0x5eed);

/// The hashes that route a few probe keys (integers and strings), as text. Keyed state in a
/// checkpoint belongs to the worker its keys hash to, so a checkpoint records this and is
/// only restored by a binary that routes the same way: a dependency upgrade that changed the
/// hash function starts the job from scratch (with the usual warning) instead of restoring
/// keys into the wrong workers.
pub fn routing_signature() -> String {
    use datafusion::arrow::array::{Int64Array, StringArray};
    let ints: ArrayRef = Arc::new(Int64Array::from(vec![0, 1, -1, 42, i64::MAX]));
    let strings: ArrayRef = Arc::new(StringArray::from(vec!["", "a", "wavecrest", "ü", "0"]));
    let mut hashes = vec![0u64; 5];
    let mut text = String::new();
    for probe in [ints, strings] {
        hashes.iter_mut().for_each(|h| *h = 0);
        if create_hashes(&[probe], &HASH_SEED, &mut hashes).is_ok() {
            text.extend(hashes.iter().map(|h| format!("{h:016x}")));
        }
    }
    text
}

/// Where a task sends what it produces.
pub struct Router {
    /// This task's index among the receivers' upstreams.
    pub from: usize,
    /// The receivers (workers of the next stage, or the sink).
    pub targets: Vec<Sender<Envelope>>,
    /// Hash keys when there are several targets; `None` sends everything to target 0.
    pub keys: Option<Vec<Arc<dyn PhysicalExpr>>>,
    hashes: Vec<u64>,
    /// Where time spent waiting on full channels is counted.
    meter: Option<Arc<TaskMetrics>>,
}

impl Router {
    /// A router from upstream `from` to `targets`.
    pub fn new(from: usize, targets: Vec<Sender<Envelope>>, keys: Option<Vec<Arc<dyn PhysicalExpr>>>) -> Self {
        Router { from, targets, keys, hashes: Vec::new(), meter: None }
    }

    /// Counts the time this router waits for full channels into `meter.backpressure_ns`.
    pub fn metered(mut self, meter: Arc<TaskMetrics>) -> Self {
        self.meter = Some(meter);
        self
    }

    async fn send(&self, to: usize, msg: Message) -> Result<()> {
        send_metered(&self.targets[to], (self.from, msg), self.meter.as_ref().map(|m| &m.backpressure_ns)).await
    }

    /// Sends rows, split by key hash when there are several targets.
    pub async fn data(&mut self, chunks: Vec<Chunk>) -> Result<()> {
        for chunk in chunks {
            if chunk.num_rows() == 0 {
                continue;
            }
            let n_targets = self.targets.len();
            let keys = match &self.keys {
                Some(k) if n_targets > 1 => k,
                _ => {
                    self.send(0, Message::Data(chunk)).await?;
                    continue;
                }
            };
            let n = chunk.num_rows();
            let cols = keys
                .iter()
                .map(|k| k.evaluate(&chunk.batch)?.into_array(n))
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            self.hashes.clear();
            self.hashes.resize(n, 0);
            create_hashes(&cols, &HASH_SEED, &mut self.hashes)?;
            let mut parts: Vec<Vec<u32>> = vec![Vec::new(); n_targets];
            for (i, h) in self.hashes.iter().enumerate() {
                parts[(*h % n_targets as u64) as usize].push(i as u32);
            }
            for (t, idx) in parts.into_iter().enumerate() {
                if idx.is_empty() {
                    continue;
                }
                let part = if idx.len() == n { chunk.clone() } else { chunk.take(&UInt32Array::from(idx))? };
                self.send(t, Message::Data(part)).await?;
            }
        }
        Ok(())
    }

    /// Sends a watermark or end-of-stream to every target.
    pub async fn broadcast(&self, msg: Message) -> Result<()> {
        for t in 0..self.targets.len() {
            self.send(t, msg.clone()).await?;
        }
        Ok(())
    }
}

/// Sends `envelope`, adding the time spent waiting for room in a full channel to `waited`
/// (in ns) when given.
pub async fn send_metered(tx: &Sender<Envelope>, envelope: Envelope, waited: Option<&AtomicU64>) -> Result<()> {
    let stopped = || Error::stopped("downstream task stopped");
    match tx.try_send(envelope) {
        Ok(()) => Ok(()),
        Err(TrySendError::Closed(_)) => Err(stopped()),
        Err(TrySendError::Full(envelope)) => {
            let started = Instant::now();
            let sent = tx.send(envelope).await.map_err(|_| stopped());
            if let Some(w) = waited {
                w.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            }
            sent
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routing_signature_covers_every_probe_and_is_stable() {
        let sig = routing_signature();
        assert_eq!(sig.len(), 10 * 16, "ten probe hashes");
        assert_eq!(sig, routing_signature());
    }
}
