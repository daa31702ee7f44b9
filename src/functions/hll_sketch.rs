//! A HyperLogLog++ sketch (the `hyperloglogplus` crate) over pre-hashed values, with a
//! stable, documented byte format.
//!
//! Values are hashed by [`super::sketch_hash`] (pinned, versioned) and the 64-bit hash is
//! handed to the crate through a pass-through hasher, so the crate never hashes anything
//! itself and its registers depend only on our hash.
//!
//! Byte format, version 1 (all integers little-endian):
//!
//! ```text
//! offset size
//! 0      4    magic "WHLL"
//! 4      1    format version = 1
//! 5      1    hash version (sketch_hash::HASH_VERSION = 1)
//! 6      1    precision p (4..=18): 2^p registers, standard error 1.04 / sqrt(2^p)
//! 7      1    representation: 0 = sparse, 1 = dense
//! sparse: 8  4    n, the number of HLL++ sparse codes (precision p' = 25, as in Heule et al.)
//!         12 ..   the n codes in ascending order, as unsigned LEB128 deltas (first from 0)
//! dense:  8  2^p  one byte per register (the leading-zero rank, 0..=64-p+1)
//! ```
//!
//! The bytes are canonical: the same multiset of values gives the same bytes however it
//! was split, merged or checkpointed (the crate's pending insert buffer is flushed first).

use std::hash::{BuildHasher, Hasher};

use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};
use serde::{Deserialize, Serialize};

use super::sketch_hash::HASH_VERSION;
use crate::error::{Error, Result};

/// Default precision: 2^12 registers, standard error 1.04 / 64 ≈ 1.63 %.
pub const DEFAULT_PRECISION: u8 = 12;

const MAGIC: &[u8; 4] = b"WHLL";
const FORMAT_VERSION: u8 = 1;
const SPARSE: u8 = 0;
const DENSE: u8 = 1;
/// Registers per 32-bit word in the crate's dense layout (6-bit registers).
const PER_WORD: usize = 5;

/// The relative standard error of an estimate at precision `p`.
pub fn standard_error(precision: u8) -> f64 {
    1.04 / ((1u64 << precision) as f64).sqrt()
}

/// Hands a pre-computed 64-bit hash to the crate unchanged.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct PassThrough;

/// The hasher [`PassThrough`] builds.
#[derive(Debug, Default)]
pub struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `u64::hash` is ever fed in, which calls `write_u64`; fold anything else.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ *b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

type Inner = HyperLogLogPlus<u64, PassThrough>;

/// A HyperLogLog++ sketch of hashed values.
#[derive(Debug, Clone)]
pub struct HllSketch {
    inner: Inner,
    precision: u8,
}

impl HllSketch {
    /// An empty sketch; `precision` must be in 4..=18.
    pub fn new(precision: u8) -> Result<Self> {
        let inner = Inner::new(precision, PassThrough)
            .map_err(|_| Error::sql(format!("HyperLogLog precision must be between 4 and 18, got {precision}")))?;
        Ok(HllSketch { inner, precision })
    }

    /// The precision (log2 of the number of registers).
    pub fn precision(&self) -> u8 {
        self.precision
    }

    /// Adds a value by its [`super::sketch_hash`] hash.
    pub fn insert_hash(&mut self, hash: u64) {
        self.inner.insert(&hash);
    }

    /// Adds every value of `other`. Both must have the same precision.
    pub fn merge(&mut self, other: &HllSketch) -> Result<()> {
        if other.precision != self.precision {
            return Err(Error::sql(format!(
                "cannot merge HyperLogLog sketches of precision {} and {}",
                self.precision, other.precision
            )));
        }
        self.inner.merge(&other.inner).map_err(|e| Error::internal(format!("HLL merge: {e}")))
    }

    /// The estimated number of distinct values, rounded.
    pub fn estimate(&mut self) -> i64 {
        self.inner.count().round() as i64
    }

    /// Approximate heap + inline size in bytes (bounded by the precision: the crate turns
    /// its sparse list dense once the list outgrows the dense registers).
    pub fn size(&self) -> usize {
        std::mem::size_of::<Self>() + (1usize << self.precision)
    }

    /// The canonical bytes (see the module docs).
    pub fn to_bytes(&mut self) -> Result<Vec<u8>> {
        self.inner.count(); // flushes pending inserts into the sparse list (or turns dense)
        let m = Mirror::of(&self.inner)?;
        let mut out = Vec::with_capacity(8 + m.sparse.buf.len() + 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[FORMAT_VERSION, HASH_VERSION, self.precision]);
        match &m.registers {
            None => {
                out.push(SPARSE);
                out.extend_from_slice(&(m.sparse.count as u32).to_le_bytes());
                out.extend_from_slice(&m.sparse.buf);
            }
            Some(r) => {
                out.push(DENSE);
                let n = 1usize << self.precision;
                out.extend((0..n).map(|i| ((r.buf[i / PER_WORD] >> ((i % PER_WORD) * 6)) & 0x3f) as u8));
            }
        }
        Ok(out)
    }

    /// Reads bytes written by [`HllSketch::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |why: &str| Error::data(format!("not a HyperLogLog sketch: {why}"));
        if bytes.len() < 8 || &bytes[..4] != MAGIC {
            return Err(bad("no 'WHLL' header"));
        }
        if bytes[4] != FORMAT_VERSION {
            return Err(bad(&format!("format version {} (this build reads {FORMAT_VERSION})", bytes[4])));
        }
        if bytes[5] != HASH_VERSION {
            return Err(bad(&format!("hash version {} (this build uses {HASH_VERSION})", bytes[5])));
        }
        let precision = bytes[6];
        let empty = HllSketch::new(precision).map_err(|_| bad(&format!("precision {precision}")))?;
        let mut m = Mirror::of(&empty.inner)?;
        let body = &bytes[8..];
        match bytes[7] {
            SPARSE => {
                if body.len() < 4 {
                    return Err(bad("truncated"));
                }
                let n = u32::from_le_bytes([body[0], body[1], body[2], body[3]]) as usize;
                let deltas = &body[4..];
                let (count, last) = decode_deltas(deltas).ok_or_else(|| bad("corrupt sparse list"))?;
                if count != n {
                    return Err(bad("sparse code count mismatch"));
                }
                m.sparse = MirrorDifIntVec { count, last, buf: deltas.to_vec() };
            }
            DENSE => {
                let n = 1usize << precision;
                if body.len() != n {
                    return Err(bad("wrong register count"));
                }
                let mut buf = vec![0u32; n.div_ceil(PER_WORD)];
                for (i, &v) in body.iter().enumerate() {
                    buf[i / PER_WORD] |= ((v & 0x3f) as u32) << ((i % PER_WORD) * 6);
                }
                let zeros = body.iter().filter(|v| **v == 0).count();
                m.registers = Some(MirrorRegisters { buf, count: n, zeros });
            }
            other => return Err(bad(&format!("representation {other}"))),
        }
        Ok(HllSketch { inner: m.into_inner()?, precision })
    }
}

/// Decodes unsigned LEB128 deltas: (number of values, last value).
fn decode_deltas(bytes: &[u8]) -> Option<(usize, u32)> {
    let (mut count, mut last, mut cur, mut shift) = (0usize, 0u32, 0u32, 0u32);
    for &b in bytes {
        if shift > 28 {
            return None;
        }
        cur |= ((b & 0x7f) as u32) << shift;
        if b & 0x80 == 0 {
            last = last.checked_add(cur)?;
            count += 1;
            cur = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    (shift == 0).then_some((count, last))
}

/// The serde shape of `hyperloglogplus` 0.4.1's `HyperLogLogPlus` (the crate has no other
/// way to read or set its sparse list and registers). Pinned by the exact version in
/// Cargo.toml; the round-trip tests below fail if the shape changes.
#[derive(Serialize, Deserialize)]
struct Mirror {
    builder: PassThrough,
    precision: u8,
    counts: (usize, usize, usize),
    tmpset: Vec<u32>,
    sparse: MirrorDifIntVec,
    registers: Option<MirrorRegisters>,
    phantom: (),
}

#[derive(Serialize, Deserialize)]
struct MirrorDifIntVec {
    count: usize,
    last: u32,
    buf: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct MirrorRegisters {
    buf: Vec<u32>,
    count: usize,
    zeros: usize,
}

impl Mirror {
    fn of(inner: &Inner) -> Result<Mirror> {
        let value = serde_json::to_value(inner).map_err(|e| Error::internal(format!("HLL state: {e}")))?;
        serde_json::from_value(value).map_err(|e| Error::internal(format!("HLL state layout changed: {e}")))
    }

    fn into_inner(self) -> Result<Inner> {
        let value = serde_json::to_value(self).map_err(|e| Error::internal(format!("HLL state: {e}")))?;
        serde_json::from_value(value).map_err(|e| Error::internal(format!("HLL state layout changed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::sketch_hash::hash_bytes;

    fn sketch_of(range: std::ops::Range<u64>) -> HllSketch {
        let mut s = HllSketch::new(DEFAULT_PRECISION).unwrap();
        for v in range {
            s.insert_hash(hash_bytes(&v.to_le_bytes()));
        }
        s
    }

    #[test]
    fn bytes_round_trip_sparse_and_dense() {
        for n in [0u64, 3, 500, 50_000] {
            let mut s = sketch_of(0..n);
            let bytes = s.to_bytes().unwrap();
            assert_eq!(bytes[7], if n < 1000 { SPARSE } else { DENSE }, "n = {n}");
            let mut back = HllSketch::from_bytes(&bytes).unwrap();
            assert_eq!(back.to_bytes().unwrap(), bytes, "n = {n}");
            assert_eq!(back.estimate(), s.estimate(), "n = {n}");
        }
        assert_eq!(sketch_of(0..3).to_bytes().unwrap().len(), 8 + 4 + 3 * 4, "3 codes of ≤ 4 LEB128 bytes");
        assert_eq!(sketch_of(0..50_000).to_bytes().unwrap().len(), 8 + 4096);
    }

    #[test]
    fn small_counts_are_exact_in_the_sparse_representation() {
        assert_eq!(sketch_of(0..0).estimate(), 0);
        assert_eq!(sketch_of(0..1).estimate(), 1);
        assert_eq!(sketch_of(0..100).estimate(), 100);
    }

    #[test]
    fn a_restored_sketch_keeps_counting() {
        let mut a = sketch_of(0..20_000);
        let mut b = HllSketch::from_bytes(&sketch_of(0..10_000).to_bytes().unwrap()).unwrap();
        for v in 10_000u64..20_000 {
            b.insert_hash(hash_bytes(&v.to_le_bytes()));
        }
        assert_eq!(b.to_bytes().unwrap(), a.to_bytes().unwrap());
    }

    #[test]
    fn merging_in_any_split_gives_the_same_bytes() {
        let mut whole = sketch_of(0..30_000);
        for cuts in [[10u64, 20], [200, 29_000], [5_000, 5_001]] {
            let mut merged = sketch_of(0..cuts[0]);
            merged.merge(&sketch_of(cuts[0]..cuts[1])).unwrap();
            let part = HllSketch::from_bytes(&sketch_of(cuts[1]..30_000).to_bytes().unwrap()).unwrap();
            merged.merge(&part).unwrap();
            assert_eq!(merged.to_bytes().unwrap(), whole.to_bytes().unwrap(), "cuts {cuts:?}");
        }
    }

    #[test]
    fn rejects_foreign_bytes() {
        assert!(HllSketch::from_bytes(b"nope").is_err());
        let mut bytes = sketch_of(0..5).to_bytes().unwrap();
        bytes[5] = 9;
        assert!(HllSketch::from_bytes(&bytes).unwrap_err().to_string().contains("hash version 9"));
        let mut a = sketch_of(0..5);
        assert!(a.merge(&HllSketch::new(14).unwrap()).is_err());
    }
}
