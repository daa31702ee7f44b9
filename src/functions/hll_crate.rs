//! The bridge to the `hyperloglogplus` crate (0.4.1, pinned): the reference HyperLogLog++
//! that [`super::hll_sketch`] reproduces register for register.
//!
//! [`super::hll_sketch::HllSketch`] keeps its own registers (the crate has no way to read or
//! set them, and going through it per row was the slow part), using the crate's exact
//! sparse encoding, sparse → dense rule and estimator formulas. The crate is still the
//! estimator where HLL++ needs Google's empirical bias tables (a dense sketch above the
//! linear-counting threshold): [`bias_corrected_estimate`] hands it the registers through
//! the serde shape of its internals. The tests of `hll_sketch` check, on the same hashes,
//! that bytes and estimates equal the crate's.

use std::hash::{BuildHasher, Hasher};

use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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

/// The crate's sketch over pre-hashed values.
pub type CrateHll = HyperLogLogPlus<u64, PassThrough>;

/// Registers per 32-bit word in the crate's dense layout (6-bit registers).
const PER_WORD: usize = 5;

/// The crate's estimate of a dense sketch with these registers (one byte each, `2^p` of
/// them): HLL++'s raw estimate with empirical bias correction, or linear counting.
pub fn bias_corrected_estimate(precision: u8, registers: &[u8]) -> Result<f64> {
    let mut inner = dense_crate_sketch(precision, registers)?;
    Ok(inner.count())
}

/// A crate sketch in the dense representation holding `registers`.
pub fn dense_crate_sketch(precision: u8, registers: &[u8]) -> Result<CrateHll> {
    let empty = CrateHll::new(precision, PassThrough)
        .map_err(|_| Error::sql(format!("HyperLogLog precision must be between 4 and 18, got {precision}")))?;
    let mut m = Mirror::of(&empty)?;
    let mut buf = vec![0u32; registers.len().div_ceil(PER_WORD)];
    for (i, &v) in registers.iter().enumerate() {
        buf[i / PER_WORD] |= ((v & 0x3f) as u32) << ((i % PER_WORD) * 6);
    }
    let zeros = registers.iter().filter(|v| **v == 0).count();
    m.registers = Some(MirrorRegisters { buf, count: registers.len(), zeros });
    m.into_inner()
}

/// A crate sketch's state as the `hll_sketch` byte format parts: `Ok(sparse codes)` or
/// `Err(dense registers)`, after flushing its pending inserts (as `count` does).
pub fn crate_state(inner: &mut CrateHll) -> Result<std::result::Result<Vec<u32>, Vec<u8>>> {
    inner.count();
    let m = Mirror::of(inner)?;
    Ok(match m.registers {
        Some(r) => Err((0..r.count).map(|i| ((r.buf[i / PER_WORD] >> ((i % PER_WORD) * 6)) & 0x3f) as u8).collect()),
        None => {
            let mut codes = Vec::with_capacity(m.sparse.count);
            let (mut last, mut cur, mut shift) = (0u32, 0u32, 0u32);
            for b in m.sparse.buf {
                cur |= ((b & 0x7f) as u32) << shift;
                if b & 0x80 == 0 {
                    last += cur;
                    codes.push(last);
                    cur = 0;
                    shift = 0;
                } else {
                    shift += 7;
                }
            }
            Ok(codes)
        }
    })
}

/// The serde shape of `hyperloglogplus` 0.4.1's `HyperLogLogPlus` (the crate has no other
/// way to read or set its sparse list and registers). Pinned by the exact version in
/// Cargo.toml; the reference tests in `hll_sketch` fail if the shape changes.
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
    fn of(inner: &CrateHll) -> Result<Mirror> {
        let value = serde_json::to_value(inner).map_err(|e| Error::internal(format!("HLL state: {e}")))?;
        serde_json::from_value(value).map_err(|e| Error::internal(format!("HLL state layout changed: {e}")))
    }

    fn into_inner(self) -> Result<CrateHll> {
        let value = serde_json::to_value(self).map_err(|e| Error::internal(format!("HLL state: {e}")))?;
        serde_json::from_value(value).map_err(|e| Error::internal(format!("HLL state layout changed: {e}")))
    }
}
