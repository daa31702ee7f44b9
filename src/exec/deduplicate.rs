//! `DEDUPLICATE`: drops rows whose key was seen recently, in bounded memory, with two
//! rotating Bloom filters.
//!
//! ```text
//! watermark:  |---- generation g-1 ----|---- generation g ----|---- g+1 ...
//! filters:         previous                  current
//! a row:      key in previous or current?  yes → dropped (a repeat)
//!                                          no  → emitted, key added to current
//! watermark enters g+1:  previous ← current, current ← empty (g+2 or later: both empty)
//! ```
//!
//! Generations are `HORIZON`-long slices of the watermark (event time), and the watermark
//! used is the one just before each row, so results never depend on batch boundaries.
//!
//! Guarantees, for each worker (keys are hash-partitioned, so a key always meets the
//! same filters), while at most `CAPACITY` distinct keys arrive per generation:
//! - **no repeat passes within the horizon**: a row is dropped if a row with the same key
//!   was emitted while the watermark was less than `HORIZON` lower (it is then still in the
//!   current or the previous generation; keys stay remembered for between 1 and 2 horizons);
//! - **a unique row is wrongly dropped with probability at most `FPP`**: each filter is
//!   sized for `CAPACITY` keys at `FPP / 2`, and a row is checked against two.
//!
//! Memory is two filters of about `CAPACITY · 1.44 · log2(2 / FPP)` bits, fixed at start.
//! When more than `CAPACITY` keys arrive in one generation, the filters rotate early
//! (counted in [`Deduplicate::early_rotations`]) so the false-positive bound still holds;
//! repeats are then caught within the last `CAPACITY` to `2 · CAPACITY` distinct keys.

use std::sync::Arc;

use datafusion::arrow::array::BooleanArray;
use datafusion::physical_expr::PhysicalExpr;
use serde::{Deserialize, Serialize};

use super::chunk::Chunk;
use super::operator::Operator;
use crate::error::{Error, Result};
use crate::functions::bloom_sketch::BloomSketch;
use crate::functions::sketch_hash::hash_rows;
use crate::plan::deduplicate::DedupParams;

/// The operator. See the module docs.
pub struct Deduplicate {
    keys: Vec<Arc<dyn PhysicalExpr>>,
    params: DedupParams,
    current: BloomSketch,
    previous: BloomSketch,
    /// The watermark generation `current` belongs to (`None` before the first watermark).
    generation: Option<i64>,
    /// Keys added to `current`.
    inserted: usize,
    watermark: i64,
    dropped: u64,
    early_rotations: u64,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    generation: Option<i64>,
    inserted: usize,
    watermark: i64,
    dropped: u64,
    early_rotations: u64,
    #[serde(with = "crate::runtime::checkpoint::base64_bytes::one")]
    current: Vec<u8>,
    #[serde(with = "crate::runtime::checkpoint::base64_bytes::one")]
    previous: Vec<u8>,
}

impl Deduplicate {
    /// A fresh operator on the key expressions, with empty filters.
    pub fn try_new(keys: Vec<Arc<dyn PhysicalExpr>>, params: DedupParams) -> Result<Self> {
        let filter = BloomSketch::new(params.capacity, params.fpp / 2.0)?;
        Ok(Deduplicate {
            keys,
            params,
            previous: filter.clone(),
            current: filter,
            generation: None,
            inserted: 0,
            watermark: i64::MIN,
            dropped: 0,
            early_rotations: 0,
        })
    }

    /// Rows dropped as repeats so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Rotations forced because a generation exceeded `CAPACITY` keys.
    pub fn early_rotations(&self) -> u64 {
        self.early_rotations
    }

    /// Bytes held by the two filters (constant for the operator's life).
    pub fn state_bytes(&self) -> usize {
        self.current.size() + self.previous.size()
    }

    fn rotate(&mut self) {
        std::mem::swap(&mut self.current, &mut self.previous);
        self.current.clear();
        self.inserted = 0;
    }

    /// Moves to the generation of watermark `w`.
    fn observe(&mut self, w: i64) {
        if w == i64::MIN {
            return; // no watermark yet: the first generation has not started
        }
        let g = w.div_euclid(self.params.horizon_ms);
        match self.generation {
            Some(cur) if g <= cur => {}
            Some(cur) if g == cur + 1 => {
                self.rotate();
                self.generation = Some(g);
            }
            Some(_) => {
                self.rotate();
                self.rotate();
                self.generation = Some(g);
            }
            None => self.generation = Some(g),
        }
    }
}

impl Operator for Deduplicate {
    fn name(&self) -> &str {
        "Deduplicate"
    }

    fn on_chunk(&mut self, chunk: Chunk) -> Result<Vec<Chunk>> {
        if chunk.ops.is_some() {
            return Err(Error::internal("DEDUPLICATE got an updating input; the planner should have refused it"));
        }
        let n = chunk.num_rows();
        let cols = self
            .keys
            .iter()
            .map(|k| k.evaluate(&chunk.batch)?.into_array(n))
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        let hashes = hash_rows(&cols, n)?;
        let mut keep = Vec::with_capacity(n);
        for (i, h) in hashes.into_iter().enumerate() {
            let w = chunk.row_watermarks.as_ref().map_or(self.watermark, |w| w.value(i));
            self.observe(w);
            let repeat = self.previous.contains_hash(h) || self.current.check_and_insert(h);
            if repeat {
                self.dropped += 1;
            } else {
                self.inserted += 1;
                if self.inserted >= self.params.capacity {
                    self.rotate();
                    self.early_rotations += 1;
                }
            }
            keep.push(!repeat);
        }
        if keep.iter().all(|k| *k) {
            return Ok(vec![chunk]);
        }
        let out = chunk.filter(&BooleanArray::from(keep))?;
        Ok(if out.num_rows() == 0 { vec![] } else { vec![out] })
    }

    fn on_watermark(&mut self, watermark: i64) -> Result<Vec<Chunk>> {
        self.watermark = self.watermark.max(watermark);
        self.observe(self.watermark);
        Ok(vec![])
    }

    fn snapshot(&mut self) -> Result<Vec<u8>> {
        let snap = Snapshot {
            generation: self.generation,
            inserted: self.inserted,
            watermark: self.watermark,
            dropped: self.dropped,
            early_rotations: self.early_rotations,
            current: self.current.to_bytes(),
            previous: self.previous.to_bytes(),
        };
        serde_json::to_vec(&snap).map_err(|e| Error::internal(format!("snapshot: {e}")))
    }

    fn restore(&mut self, state: &[u8]) -> Result<()> {
        let snap: Snapshot = serde_json::from_slice(state).map_err(|e| Error::internal(format!("restore: {e}")))?;
        self.current = BloomSketch::from_bytes(&snap.current)?;
        self.previous = BloomSketch::from_bytes(&snap.previous)?;
        self.generation = snap.generation;
        self.inserted = snap.inserted;
        self.watermark = snap.watermark;
        self.dropped = snap.dropped;
        self.early_rotations = snap.early_rotations;
        Ok(())
    }

    fn state_keys(&self) -> usize {
        self.inserted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_expr::expressions::col;

    const H: i64 = 1_000; // horizon

    fn op(capacity: usize, fpp: f64) -> (Deduplicate, Arc<Schema>) {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        let key = col("id", &schema).unwrap();
        (Deduplicate::try_new(vec![key], DedupParams { capacity, fpp, horizon_ms: H }).unwrap(), schema)
    }

    /// Keys with the watermark before each row.
    fn chunk(schema: &Arc<Schema>, rows: &[(i64, i64)]) -> Chunk {
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0)))],
        )
        .unwrap();
        let wm = Int64Array::from_iter_values(rows.iter().map(|r| r.1));
        Chunk { batch, row_watermarks: Some(Arc::new(wm)), ops: None }
    }

    fn ids(out: &[Chunk]) -> Vec<i64> {
        out.iter()
            .flat_map(|c| {
                let a = c.batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap().clone();
                (0..a.len()).map(move |i| a.value(i))
            })
            .collect()
    }

    #[test]
    fn a_repeat_within_the_horizon_is_dropped_and_one_two_horizons_later_passes() {
        let (mut d, schema) = op(1000, 0.01);
        // 7 at watermark 0; again at 999 (same generation) and 1500 (next): dropped both times.
        let out = d.on_chunk(chunk(&schema, &[(7, 0), (8, 10), (7, 999), (7, 1500)])).unwrap();
        assert_eq!(ids(&out), vec![7, 8]);
        // At 2000 the generation of the first 7 (0) is two behind: forgotten.
        let out = d.on_chunk(chunk(&schema, &[(7, 2000), (8, 2000)])).unwrap();
        assert_eq!(ids(&out), vec![7, 8]);
        assert_eq!(d.dropped(), 2);
    }

    #[test]
    fn never_passes_a_repeat_within_the_horizon_and_memory_is_fixed() {
        // 50 000 rows over 5 horizons, each key repeated 3 times within less than a horizon.
        let (mut d, schema) = op(20_000, 0.01);
        let bytes = d.state_bytes();
        let mut rows = Vec::new();
        for i in 0..50_000i64 {
            let wm = i / 10; // 10 rows per ms of watermark: 10 000 keys per horizon
            rows.push((i, wm));
            rows.push((i, wm + 300));
            rows.push((i, wm + 900));
        }
        rows.sort_by_key(|r| r.1);
        let mut passed = Vec::new();
        for part in rows.chunks(4096) {
            passed.extend(ids(&d.on_chunk(chunk(&schema, part)).unwrap()));
        }
        let mut sorted = passed.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), passed.len(), "a repeat passed");
        let wrongly_dropped = 50_000 - passed.len();
        assert!(wrongly_dropped as f64 <= 0.01 * 50_000.0, "{wrongly_dropped} unique keys dropped");
        assert_eq!(d.early_rotations(), 0);
        assert_eq!(d.state_bytes(), bytes, "memory does not grow");
    }

    #[test]
    fn snapshot_and_restore_continue_identically() {
        let (mut a, schema) = op(1000, 0.01);
        a.on_chunk(chunk(&schema, &[(1, 0), (2, 5), (3, 1200)])).unwrap();
        let snap = a.snapshot().unwrap();
        let next = [(1, 1300), (3, 1300), (4, 1300), (2, 2100)];
        let expected = ids(&a.on_chunk(chunk(&schema, &next)).unwrap());
        let (mut b, _) = op(1000, 0.01);
        b.restore(&snap).unwrap();
        assert_eq!(ids(&b.on_chunk(chunk(&schema, &next)).unwrap()), expected);
        assert_eq!(expected, vec![4, 2], "1 and 3 are repeats; 2 was two generations ago");
    }

    #[test]
    fn over_capacity_the_filters_rotate_early() {
        let (mut d, schema) = op(100, 0.01);
        let rows: Vec<_> = (0..250).map(|i| (i, 0)).collect();
        d.on_chunk(chunk(&schema, &rows)).unwrap();
        assert_eq!(d.early_rotations(), 2);
    }
}
