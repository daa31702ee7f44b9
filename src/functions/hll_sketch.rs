//! A HyperLogLog++ sketch over pre-hashed values, with a stable, documented byte format.
//!
//! Values are hashed by [`super::sketch_hash`] (pinned, versioned). The sketch is
//! HyperLogLog++ exactly as the `hyperloglogplus` crate (0.4.1) computes it — same sparse
//! codes (precision p' = 25), same sparse → dense rule, same registers, same estimates —
//! but it keeps its registers itself, as plain bytes it can update, merge and write without
//! copying: the crate has no register access, and going through it cost a serde round trip
//! per state. The crate remains the reference (tests check bytes and estimates against it on
//! the same hashes) and the estimator where HLL++ needs its empirical bias tables (see
//! [`super::hll_crate`]).
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
//! A sparse code is the crate's 32-bit encoding of a hash `h`: with `i = h >> 39` (the top
//! 25 bits), `i << 1` when the bits of `i` below the top `p` are not all zero, else
//! `i << 7 | r << 1 | 1` with `r` the rank of the remaining 39 bits. A sketch is sparse while
//! its codes' LEB128 deltas take at most `4 · 2^p / 5` bytes (the crate's dense size), dense
//! after. The bytes are canonical: the same set of values gives the same bytes however it
//! was split, merged or checkpointed.

use super::hll_crate::bias_corrected_estimate;
use super::sketch_hash::HASH_VERSION;
use crate::error::{Error, Result};

/// Default precision: 2^12 registers, standard error 1.04 / 64 ≈ 1.63 %.
pub const DEFAULT_PRECISION: u8 = 12;

const MAGIC: &[u8; 4] = b"WHLL";
const FORMAT_VERSION: u8 = 1;
const SPARSE: u8 = 0;
const DENSE: u8 = 1;
/// HLL++'s sparse precision p'.
const PRIME_PRECISION: u32 = 25;
/// Sparse estimates count over 2^24 registers, as the crate does.
const SPARSE_REGISTERS: usize = 1 << 24;
/// Header bytes before the body.
const HEADER: usize = 8;
/// Codes appended unsorted beyond twice the sorted ones before they are sorted in: most
/// window sketches are sorted once, when observed, and memory stays bounded.
const PENDING: usize = 256;

/// The relative standard error of an estimate at precision `p`.
pub fn standard_error(precision: u8) -> f64 {
    1.04 / ((1u64 << precision) as f64).sqrt()
}

/// The precision, validated.
fn check_precision(precision: u8) -> Result<u8> {
    if (4..=18).contains(&precision) {
        Ok(precision)
    } else {
        Err(Error::sql(format!("HyperLogLog precision must be between 4 and 18, got {precision}")))
    }
}

/// A HyperLogLog++ sketch of hashed values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HllSketch {
    precision: u8,
    repr: Repr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    /// Sparse codes: `codes[..clean]` ascending and unique, the rest appended since.
    Sparse { codes: Vec<u32>, clean: usize },
    /// One byte per register.
    Dense(Vec<u8>),
}

impl HllSketch {
    /// An empty sketch; `precision` must be in 4..=18.
    pub fn new(precision: u8) -> Result<Self> {
        Ok(HllSketch { precision: check_precision(precision)?, repr: Repr::Sparse { codes: Vec::new(), clean: 0 } })
    }

    /// The precision (log2 of the number of registers).
    pub fn precision(&self) -> u8 {
        self.precision
    }

    /// Whether the sketch holds registers (else sparse codes).
    pub fn is_dense(&mut self) -> bool {
        self.normalize();
        matches!(self.repr, Repr::Dense(_))
    }

    /// The crate's dense size in bytes: the sparse list may not grow beyond it.
    fn sparse_limit(&self) -> usize {
        4 * (1usize << self.precision) / 5
    }

    /// Adds a value by its [`super::sketch_hash`] hash.
    #[inline]
    pub fn insert_hash(&mut self, hash: u64) {
        let p = self.precision as u32;
        match &mut self.repr {
            Repr::Dense(registers) => {
                let index = (hash >> (64 - p)) as usize;
                let rank = 1 + ((hash << p) | (1 << (p - 1))).leading_zeros() as u8;
                if registers[index] < rank {
                    registers[index] = rank;
                }
            }
            Repr::Sparse { codes, clean } => {
                codes.push(encode_hash(hash, p));
                if codes.len() >= 2 * *clean + PENDING {
                    self.normalize();
                }
            }
        }
    }

    /// Adds every value of `other`. Both must have the same precision.
    pub fn merge(&mut self, other: &HllSketch) -> Result<()> {
        self.same_precision(other.precision)?;
        match &other.repr {
            Repr::Dense(theirs) => {
                let ours = self.make_dense();
                for (a, b) in ours.iter_mut().zip(theirs) {
                    *a = (*a).max(*b);
                }
            }
            Repr::Sparse { codes, .. } => self.add_codes(codes.iter().copied()),
        }
        Ok(())
    }

    /// Adds every value of the sketch written as `bytes` (see the module docs) without
    /// building it first. Both must have the same precision.
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.merge_bytes_with(bytes, &mut Vec::new())
    }

    /// [`HllSketch::merge_bytes`] with a caller-owned buffer (for the codes of a sparse
    /// sketch merged into a dense one, checked before any register changes).
    pub fn merge_bytes_with(&mut self, bytes: &[u8], scratch: &mut Vec<u32>) -> Result<()> {
        let (precision, dense, body) = parse_header(bytes)?;
        self.same_precision(precision)?;
        if dense {
            let ours = self.make_dense();
            if body.len() != ours.len() {
                return Err(bad("wrong register count"));
            }
            for (a, b) in ours.iter_mut().zip(body) {
                *a = (*a).max(*b & 0x3f);
            }
            return Ok(());
        }
        if body.len() < 4 {
            return Err(bad("truncated"));
        }
        let n = u32::from_le_bytes([body[0], body[1], body[2], body[3]]) as usize;
        let mut deltas = Deltas { bytes: &body[4..], last: 0, corrupt: false };
        let p = self.precision as u32;
        match &mut self.repr {
            Repr::Sparse { codes, clean } => {
                // Appended as one ascending run, sorted in when observed.
                let before = codes.len();
                codes.extend(deltas.by_ref());
                if deltas.corrupt || codes.get(before) == Some(&0) || codes.len() - before != n {
                    let corrupt = deltas.corrupt || codes.get(before) == Some(&0);
                    codes.truncate(before);
                    return Err(bad(if corrupt { "corrupt sparse list" } else { "sparse code count mismatch" }));
                }
                if codes.len() >= 2 * *clean + PENDING {
                    self.normalize();
                }
            }
            Repr::Dense(registers) => {
                scratch.clear();
                scratch.extend(deltas.by_ref());
                if deltas.corrupt || scratch.first() == Some(&0) {
                    return Err(bad("corrupt sparse list"));
                }
                if scratch.len() != n {
                    return Err(bad("sparse code count mismatch"));
                }
                for &code in scratch.iter() {
                    let (rank, index) = decode_code(code, p);
                    registers[index] = registers[index].max(rank);
                }
            }
        }
        Ok(())
    }

    fn same_precision(&self, other: u8) -> Result<()> {
        if other != self.precision {
            return Err(Error::sql(format!(
                "cannot merge HyperLogLog sketches of precision {} and {other}",
                self.precision
            )));
        }
        Ok(())
    }

    fn add_codes(&mut self, new: impl Iterator<Item = u32>) {
        let p = self.precision as u32;
        match &mut self.repr {
            Repr::Sparse { codes, .. } => codes.extend(new),
            Repr::Dense(registers) => {
                for code in new {
                    let (rank, index) = decode_code(code, p);
                    registers[index] = registers[index].max(rank);
                }
            }
        }
        self.normalize();
    }

    /// Sorts and dedups the codes; turns dense once their encoding outgrows the limit.
    fn normalize(&mut self) {
        if let Repr::Sparse { codes, clean } = &mut self.repr {
            if *clean == codes.len() {
                return;
            }
            // Stable sort: it can use long ascending runs (the sorted prefix, large merged
            // sketches). Estimates do not sort at all (see `count`).
            codes.sort();
            codes.dedup();
            *clean = codes.len();
            self.check_dense();
        }
    }

    /// Turns a normalized sparse sketch dense if its encoding outgrew the limit.
    fn check_dense(&mut self) {
        let limit = self.sparse_limit();
        if let Repr::Sparse { codes, .. } = &self.repr {
            // A delta takes at most 5 LEB128 bytes: most sketches need no exact count.
            if codes.len() * 5 > limit && encoded_len(codes) > limit {
                self.make_dense();
            }
        }
    }

    /// The registers, turning a sparse sketch dense first.
    fn make_dense(&mut self) -> &mut Vec<u8> {
        let p = self.precision as u32;
        if let Repr::Sparse { codes, .. } = &self.repr {
            let mut registers = vec![0u8; 1 << p];
            for &code in codes {
                let (rank, index) = decode_code(code, p);
                registers[index] = registers[index].max(rank);
            }
            self.repr = Repr::Dense(registers);
        }
        match &mut self.repr {
            Repr::Dense(registers) => registers,
            Repr::Sparse { .. } => unreachable!("made dense above"),
        }
    }

    /// The estimated number of distinct values, unrounded (the crate's `count`).
    pub fn count(&mut self) -> Result<f64> {
        if let Repr::Sparse { codes, clean } = &self.repr {
            // Counting needs no sorted list while the codes cannot reach the dense size (a
            // delta takes at most 5 LEB128 bytes): window results are read without sorting.
            if *clean != codes.len() {
                let n = distinct_count(codes);
                if n * 5 <= self.sparse_limit() {
                    return Ok(linear_count(SPARSE_REGISTERS, SPARSE_REGISTERS - n));
                }
            }
        }
        self.normalize();
        match &self.repr {
            Repr::Sparse { codes, .. } => Ok(linear_count(SPARSE_REGISTERS, SPARSE_REGISTERS - codes.len())),
            Repr::Dense(registers) => {
                let zeros = registers.iter().filter(|r| **r == 0).count();
                if zeros != 0 {
                    let estimate = linear_count(registers.len(), zeros);
                    if estimate <= linear_counting_threshold(self.precision) {
                        return Ok(estimate);
                    }
                }
                bias_corrected_estimate(self.precision, registers)
            }
        }
    }

    /// The estimated number of distinct values, rounded.
    pub fn estimate(&mut self) -> Result<i64> {
        Ok(self.count()?.round() as i64)
    }

    /// Approximate heap + inline size in bytes (bounded by the precision: the sparse list
    /// turns dense once its encoding outgrows the dense registers).
    pub fn size(&self) -> usize {
        std::mem::size_of::<Self>()
            + match &self.repr {
                Repr::Sparse { codes, .. } => codes.capacity() * 4,
                Repr::Dense(registers) => registers.capacity(),
            }
    }

    /// The canonical bytes (see the module docs).
    pub fn to_bytes(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_bytes(&mut out);
        out
    }

    /// Appends the canonical bytes to `out`.
    pub fn write_bytes(&mut self, out: &mut Vec<u8>) {
        self.normalize();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[FORMAT_VERSION, HASH_VERSION, self.precision]);
        match &self.repr {
            Repr::Sparse { codes, .. } => {
                out.push(SPARSE);
                out.extend_from_slice(&(codes.len() as u32).to_le_bytes());
                let mut last = 0u32;
                for &c in codes {
                    push_leb128(c - last, out);
                    last = c;
                }
            }
            Repr::Dense(registers) => {
                out.push(DENSE);
                out.extend_from_slice(registers);
            }
        }
    }

    /// Reads bytes written by [`HllSketch::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_with(bytes, &mut Vec::new())
    }

    /// [`HllSketch::from_bytes`] with a caller-owned buffer (see [`HllSketch::merge_bytes_with`]).
    pub fn from_bytes_with(bytes: &[u8], scratch: &mut Vec<u32>) -> Result<Self> {
        let (precision, _, _) = parse_header(bytes)?;
        let mut sketch = HllSketch::new(precision)?;
        sketch.merge_bytes_with(bytes, scratch)?;
        Ok(sketch)
    }
}

fn bad(why: &str) -> Error {
    Error::data(format!("not a HyperLogLog sketch: {why}"))
}

/// Checks the header: (precision, dense?, body).
fn parse_header(bytes: &[u8]) -> Result<(u8, bool, &[u8])> {
    if bytes.len() < HEADER || &bytes[..4] != MAGIC {
        return Err(bad("no 'WHLL' header"));
    }
    if bytes[4] != FORMAT_VERSION {
        return Err(bad(&format!("format version {} (this build reads {FORMAT_VERSION})", bytes[4])));
    }
    if bytes[5] != HASH_VERSION {
        return Err(bad(&format!("hash version {} (this build uses {HASH_VERSION})", bytes[5])));
    }
    let precision = check_precision(bytes[6]).map_err(|_| bad(&format!("precision {}", bytes[6])))?;
    let dense = match bytes[7] {
        SPARSE => false,
        DENSE => true,
        other => return Err(bad(&format!("representation {other}"))),
    };
    Ok((precision, dense, &bytes[HEADER..]))
}

/// The crate's sparse code of a hash (see the module docs).
#[inline]
fn encode_hash(hash: u64, p: u32) -> u32 {
    let index = hash >> (64 - PRIME_PRECISION);
    if index & ((1 << (PRIME_PRECISION - p)) - 1) == 0 {
        let rank = 1 + ((hash << PRIME_PRECISION) | (1 << (PRIME_PRECISION - 1))).leading_zeros();
        ((index as u32) << 7) | (rank << 1) | 1
    } else {
        (index << 1) as u32
    }
}

/// (rank, register index) of a sparse code at precision `p`.
#[inline]
fn decode_code(code: u32, p: u32) -> (u8, usize) {
    if code & 1 == 1 {
        (((code >> 1) & 0x3f) as u8 + (PRIME_PRECISION - p) as u8, (code >> (32 - p)) as usize)
    } else {
        ((code << (p + 6)).leading_zeros() as u8 + 1, (code >> (PRIME_PRECISION + 1 - p)) as usize)
    }
}

/// `count · ln(count / zeros)`.
fn linear_count(count: usize, zeros: usize) -> f64 {
    count as f64 * (count as f64 / zeros as f64).ln()
}

/// HLL++'s empirical threshold below which linear counting beats the bias-corrected
/// estimate (the crate's table).
fn linear_counting_threshold(precision: u8) -> f64 {
    const THRESHOLDS: [f64; 15] = [
        10.0, 10.0, 40.0, 80.0, 220.0, 400.0, 900.0, 1800.0, 3100.0, 6500.0, 11500.0, 20000.0, 50000.0, 120000.0,
        350000.0,
    ];
    THRESHOLDS[(precision - 4) as usize]
}

/// The number of distinct codes (never 0: see the module docs), by an open-addressing
/// table of twice their number.
fn distinct_count(codes: &[u32]) -> usize {
    let bits = (codes.len() * 2).next_power_of_two().max(16).trailing_zeros();
    let mask = (1usize << bits) - 1;
    let mut slots = vec![0u32; 1 << bits];
    let mut n = 0;
    for &code in codes {
        // Fibonacci hashing: the codes' low bit is a flag, their high bits are hash bits.
        let mut i = (code.wrapping_mul(0x9E37_79B9) >> (32 - bits)) as usize;
        loop {
            match slots[i] {
                0 => {
                    slots[i] = code;
                    n += 1;
                    break;
                }
                c if c == code => break,
                _ => i = (i + 1) & mask,
            }
        }
    }
    n
}

fn leb128_len(v: u32) -> usize {
    let bits = 32 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Bytes of the LEB128 deltas of ascending `codes`.
fn encoded_len(codes: &[u32]) -> usize {
    let mut last = 0u32;
    codes
        .iter()
        .map(|&c| {
            let d = c - last;
            last = c;
            leb128_len(d)
        })
        .sum()
}

fn push_leb128(mut v: u32, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The codes of unsigned LEB128 deltas; sets `corrupt` on a bad varint or overflow.
struct Deltas<'a> {
    bytes: &'a [u8],
    last: u32,
    corrupt: bool,
}

impl Iterator for Deltas<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        let (mut cur, mut shift) = (0u32, 0u32);
        for (i, &b) in self.bytes.iter().enumerate() {
            if shift > 28 {
                break;
            }
            cur |= ((b & 0x7f) as u32) << shift;
            if b & 0x80 == 0 {
                self.bytes = &self.bytes[i + 1..];
                match self.last.checked_add(cur) {
                    Some(v) => {
                        self.last = v;
                        return Some(v);
                    }
                    None => break,
                }
            }
            shift += 7;
        }
        if !self.bytes.is_empty() {
            self.corrupt = true;
            self.bytes = &[];
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::hll_crate::{crate_state, CrateHll, PassThrough};
    use crate::functions::sketch_hash::hash_bytes;
    use hyperloglogplus::HyperLogLog;

    fn hashes(range: std::ops::Range<u64>) -> impl Iterator<Item = u64> {
        range.map(|v| hash_bytes(&v.to_le_bytes()))
    }

    fn sketch_of(range: std::ops::Range<u64>) -> HllSketch {
        sketch_at(DEFAULT_PRECISION, range)
    }

    fn sketch_at(precision: u8, range: std::ops::Range<u64>) -> HllSketch {
        let mut s = HllSketch::new(precision).unwrap();
        for h in hashes(range) {
            s.insert_hash(h);
        }
        s
    }

    /// The bytes the crate's own sketch of the same hashes has in this format.
    fn crate_bytes_and_count(precision: u8, range: std::ops::Range<u64>) -> (Vec<u8>, f64) {
        let mut c = CrateHll::new(precision, PassThrough).unwrap();
        for h in hashes(range) {
            c.insert(&h);
        }
        let mut out = vec![b'W', b'H', b'L', b'L', FORMAT_VERSION, HASH_VERSION, precision];
        match crate_state(&mut c).unwrap() {
            Ok(codes) => {
                out.push(SPARSE);
                out.extend_from_slice(&(codes.len() as u32).to_le_bytes());
                let mut last = 0;
                for code in codes {
                    push_leb128(code - last, &mut out);
                    last = code;
                }
            }
            Err(registers) => {
                out.push(DENSE);
                out.extend_from_slice(&registers);
            }
        }
        (out, c.count())
    }

    /// The reference: on the same hashes, bytes (hence registers and representation) and
    /// estimates equal the `hyperloglogplus` crate's, across the sparse range, the sparse →
    /// dense switch, linear counting and the bias-corrected range.
    #[test]
    fn bytes_and_estimates_equal_the_crates() {
        for precision in [4u8, 8, 12, 14] {
            let m = 1u64 << precision;
            for n in [0, 1, 7, 100, m / 4, m / 2, m, 3 * m, 6 * m, 20 * m] {
                let (bytes, count) = crate_bytes_and_count(precision, 0..n);
                let mut ours = sketch_at(precision, 0..n);
                assert_eq!(ours.to_bytes(), bytes, "p = {precision}, n = {n}");
                assert_eq!(ours.count().unwrap(), count, "p = {precision}, n = {n}");
            }
        }
    }

    #[test]
    fn unsorted_codes_count_as_the_sorted_ones() {
        for n in [1u64, 50, 300, 700, 2_000] {
            let mut twice = sketch_of(0..n);
            for h in hashes(0..n) {
                twice.insert_hash(h);
            }
            let unsorted = twice.clone().count().unwrap();
            twice.normalize();
            assert_eq!(unsorted, twice.count().unwrap(), "n = {n}");
            assert_eq!(unsorted, crate_bytes_and_count(DEFAULT_PRECISION, 0..n).1, "n = {n}");
        }
    }

    #[test]
    fn the_switch_to_dense_is_where_the_crates_is() {
        // Around the switch, one more value may or may not turn the sketch dense: both agree.
        for n in (500u64..1_400).step_by(7) {
            let (bytes, _) = crate_bytes_and_count(DEFAULT_PRECISION, 0..n);
            assert_eq!(sketch_of(0..n).to_bytes(), bytes, "n = {n}");
        }
    }

    #[test]
    fn bytes_round_trip_sparse_and_dense() {
        for n in [0u64, 3, 500, 50_000] {
            let mut s = sketch_of(0..n);
            let bytes = s.to_bytes();
            assert_eq!(bytes[7], if n < 1000 { SPARSE } else { DENSE }, "n = {n}");
            let mut back = HllSketch::from_bytes(&bytes).unwrap();
            assert_eq!(back.to_bytes(), bytes, "n = {n}");
            assert_eq!(back.estimate().unwrap(), s.estimate().unwrap(), "n = {n}");
        }
        assert_eq!(sketch_of(0..3).to_bytes().len(), 8 + 4 + 3 * 4, "3 codes of ≤ 4 LEB128 bytes");
        assert_eq!(sketch_of(0..50_000).to_bytes().len(), 8 + 4096);
    }

    #[test]
    fn small_counts_are_exact_in_the_sparse_representation() {
        assert_eq!(sketch_of(0..0).estimate().unwrap(), 0);
        assert_eq!(sketch_of(0..1).estimate().unwrap(), 1);
        assert_eq!(sketch_of(0..100).estimate().unwrap(), 100);
        let mut twice = sketch_of(0..100);
        for h in hashes(0..100) {
            twice.insert_hash(h);
        }
        assert_eq!(twice.estimate().unwrap(), 100, "repeats count once");
    }

    #[test]
    fn a_restored_sketch_keeps_counting() {
        let mut a = sketch_of(0..20_000);
        let mut b = HllSketch::from_bytes(&sketch_of(0..10_000).to_bytes()).unwrap();
        for h in hashes(10_000..20_000) {
            b.insert_hash(h);
        }
        assert_eq!(b.to_bytes(), a.to_bytes());
    }

    #[test]
    fn merging_in_any_split_gives_the_same_bytes() {
        let mut whole = sketch_of(0..30_000);
        for cuts in [[10u64, 20], [200, 29_000], [5_000, 5_001], [300, 600]] {
            let mut merged = sketch_of(0..cuts[0]);
            merged.merge(&sketch_of(cuts[0]..cuts[1])).unwrap();
            let part = HllSketch::from_bytes(&sketch_of(cuts[1]..30_000).to_bytes()).unwrap();
            merged.merge(&part).unwrap();
            assert_eq!(merged.to_bytes(), whole.to_bytes(), "cuts {cuts:?}");
            let mut by_bytes = sketch_of(0..cuts[0]);
            by_bytes.merge_bytes(&sketch_of(cuts[0]..cuts[1]).to_bytes()).unwrap();
            by_bytes.merge_bytes(&sketch_of(cuts[1]..30_000).to_bytes()).unwrap();
            assert_eq!(by_bytes.to_bytes(), whole.to_bytes(), "cuts {cuts:?}, merged from bytes");
        }
        // Many small sparse sketches whose union is dense, as HOP panes are.
        let mut panes = HllSketch::new(DEFAULT_PRECISION).unwrap();
        for start in (0..30_000u64).step_by(250) {
            panes.merge_bytes(&sketch_of(start..start + 250).to_bytes()).unwrap();
        }
        assert_eq!(panes.to_bytes(), whole.to_bytes());
    }

    #[test]
    fn rejects_foreign_bytes() {
        assert!(HllSketch::from_bytes(b"nope").is_err());
        let mut bytes = sketch_of(0..5).to_bytes();
        bytes[5] = 9;
        assert!(HllSketch::from_bytes(&bytes).unwrap_err().to_string().contains("hash version 9"));
        let mut a = sketch_of(0..5);
        assert!(a.merge(&HllSketch::new(14).unwrap()).is_err());
        assert!(a
            .merge_bytes(&sketch_at(14, 0..5).to_bytes())
            .unwrap_err()
            .to_string()
            .contains("precision 12 and 14"));
        let good = sketch_of(0..5).to_bytes();
        let truncated = &good[..good.len() - 1];
        assert!(HllSketch::from_bytes(truncated).is_err(), "a cut varint or a missing code");
        let mut miscounted = good.clone();
        miscounted[8] = 6;
        assert!(HllSketch::from_bytes(&miscounted).unwrap_err().to_string().contains("count mismatch"));
        let mut zero_code = good.clone();
        zero_code[12] = 0;
        assert!(HllSketch::from_bytes(&zero_code).unwrap_err().to_string().contains("corrupt"), "codes are never 0");
        let mut before = sketch_of(0..5);
        let snapshot = before.to_bytes();
        assert!(before.merge_bytes(&miscounted).is_err());
        assert_eq!(before.to_bytes(), snapshot, "a rejected sparse sketch adds nothing");
    }
}
