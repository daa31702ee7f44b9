//! A Bloom filter (the `bloomfilter` crate) over pre-hashed values, with a stable,
//! documented byte format and a merge (bitwise OR of equally shaped filters).
//!
//! Byte format, version 1 (integers little-endian):
//!
//! ```text
//! offset size
//! 0      4    magic "WBLM"
//! 4      1    format version = 1
//! 5      1    hash version (sketch_hash::HASH_VERSION = 1)
//! 6      1    bloomfilter layout version = 1
//! 7      8    m, the bitmap length in bytes
//! 15     4    k, the number of hash functions
//! 19     32   seed: two 16-byte SipHash-1-3 keys (always SEED below)
//! 51     m    the bitmap; bit i is byte i / 8, bit i % 8 (LSB first)
//! ```
//!
//! Bytes 6.. are exactly `bloomfilter` 3.0.2's `to_bytes()`. Bit positions of a value
//! `v`: with `h = sketch_hash(v)` written as 8 little-endian bytes, `h1 = SipHash-1-3(key 1, h)`,
//! `h2 = SipHash-1-3(key 2, h)`, positions `h1`, `h2`, then `(h1 + i·h2) mod (2^64 - 59)` for
//! `i = 2..k`, each modulo `8m` (the crate's double hashing).
//!
//! Sizing (the crate's formulas): `m = ceil(-n·ln(fpp) / (8·ln²2))` bytes and
//! `k = round(8m / n · ln 2)` for `n` expected items, so the false-positive rate at `n`
//! items is about `fpp`.

use std::hash::{Hash, Hasher};

use bloomfilter::Bloom;

use super::sketch_hash::HASH_VERSION;
use crate::error::{Error, Result};

/// Default expected number of items of `BLOOM_FILTER(x)`.
pub const DEFAULT_CAPACITY: usize = 10_000;
/// Default target false-positive rate of `BLOOM_FILTER(x)`.
pub const DEFAULT_FPP: f64 = 0.01;

const MAGIC: &[u8; 4] = b"WBLM";
const FORMAT_VERSION: u8 = 1;
/// The crate's header: layout version (1), m (8), k (4), seed (32).
const CRATE_HEADER: usize = 1 + 8 + 4 + 32;
/// Every filter uses this seed, so equally sized filters can be merged and a filter's
/// bits do not depend on the process that built it.
const SEED: [u8; 32] = *b"wavecrest/bloom/seed/version/1..";
/// The largest filter we build (256 MiB of bits).
const MAX_BYTES: usize = 1 << 28;

/// A value's [`super::sketch_hash`] hash as the crate's item: always 8 little-endian bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Le(pub u64);

impl Hash for Le {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(&self.0.to_le_bytes());
    }
}

/// A Bloom filter of hashed values.
#[derive(Clone)]
pub struct BloomSketch {
    bloom: Bloom<Le>,
}

impl std::fmt::Debug for BloomSketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BloomSketch({} bits, k = {})", self.bloom.len(), self.bloom.number_of_hash_functions())
    }
}

impl BloomSketch {
    /// An empty filter for `capacity` items at false-positive rate `fpp` (0 < fpp < 1).
    pub fn new(capacity: usize, fpp: f64) -> Result<Self> {
        if capacity == 0 {
            return Err(Error::sql("a Bloom filter's expected number of items must be positive"));
        }
        if !(fpp > 0.0 && fpp < 1.0) {
            return Err(Error::sql(format!("a Bloom filter's false-positive rate must be between 0 and 1, got {fpp}")));
        }
        if Bloom::<Le>::compute_bitmap_size(capacity, fpp) > MAX_BYTES {
            return Err(Error::sql(format!(
                "a Bloom filter for {capacity} items at rate {fpp} would exceed {MAX_BYTES} bytes"
            )));
        }
        let bloom = Bloom::new_for_fp_rate_with_seed(capacity, fpp, &SEED).map_err(Error::internal)?;
        Ok(BloomSketch { bloom })
    }

    /// Adds a value by its hash.
    pub fn insert_hash(&mut self, hash: u64) {
        self.bloom.set(&Le(hash));
    }

    /// Whether a value may have been added (never false for an added value).
    pub fn contains_hash(&self, hash: u64) -> bool {
        self.bloom.check(&Le(hash))
    }

    /// Adds the value and says whether it may have been there before.
    pub fn check_and_insert(&mut self, hash: u64) -> bool {
        self.bloom.check_and_set(&Le(hash))
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        self.bloom.clear();
    }

    /// Size of the bitmap in bytes (the filter's memory; fixed at creation).
    pub fn size(&self) -> usize {
        (self.bloom.len() / 8) as usize + CRATE_HEADER
    }

    /// Adds every value of `other`; both must have the same size, k and seed.
    pub fn merge(&mut self, other: &BloomSketch) -> Result<()> {
        let mut mine = self.bloom.to_bytes();
        let theirs = other.bloom.as_slice();
        if mine.len() != theirs.len() || mine[..CRATE_HEADER] != theirs[..CRATE_HEADER] {
            return Err(Error::sql(format!(
                "cannot merge Bloom filters of different shapes ({:?} and {:?}): build them with the same expected items and rate",
                self, other
            )));
        }
        for (a, b) in mine[CRATE_HEADER..].iter_mut().zip(&theirs[CRATE_HEADER..]) {
            *a |= *b;
        }
        self.bloom = Bloom::from_bytes(mine).map_err(Error::internal)?;
        Ok(())
    }

    /// The bytes (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = self.bloom.as_slice();
        let mut out = Vec::with_capacity(6 + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[FORMAT_VERSION, HASH_VERSION]);
        out.extend_from_slice(body);
        out
    }

    /// Reads bytes written by [`BloomSketch::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |why: String| Error::data(format!("not a Bloom filter: {why}"));
        if bytes.len() < 6 || &bytes[..4] != MAGIC {
            return Err(bad("no 'WBLM' header".into()));
        }
        if bytes[4] != FORMAT_VERSION {
            return Err(bad(format!("format version {} (this build reads {FORMAT_VERSION})", bytes[4])));
        }
        if bytes[5] != HASH_VERSION {
            return Err(bad(format!("hash version {} (this build uses {HASH_VERSION})", bytes[5])));
        }
        let bloom = Bloom::from_slice(&bytes[6..]).map_err(|e| bad(e.to_string()))?;
        Ok(BloomSketch { bloom })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::sketch_hash::hash_bytes;

    fn h(i: u64) -> u64 {
        hash_bytes(&i.to_le_bytes())
    }

    /// At capacity: no false negatives, and the false-positive rate within 2× the target.
    #[test]
    fn no_false_negatives_and_fp_rate_within_twice_the_target() {
        for (capacity, fpp) in [(10_000usize, 0.01), (50_000, 0.001), (2_000, 0.05)] {
            let mut b = BloomSketch::new(capacity, fpp).unwrap();
            for i in 0..capacity as u64 {
                b.insert_hash(h(i));
            }
            assert!((0..capacity as u64).all(|i| b.contains_hash(h(i))), "false negative");
            let probes = 200_000u64;
            let fp = (0..probes).filter(|i| b.contains_hash(h(1 << 40 | i))).count() as f64 / probes as f64;
            assert!(fp <= 2.0 * fpp, "capacity {capacity}, fpp {fpp}: measured {fp}");
            assert!(fp > 0.0, "a filter at capacity has some false positives");
        }
    }

    #[test]
    fn merge_is_the_union_and_bytes_round_trip() {
        let (mut a, mut b, mut both) = (
            BloomSketch::new(1000, 0.01).unwrap(),
            BloomSketch::new(1000, 0.01).unwrap(),
            BloomSketch::new(1000, 0.01).unwrap(),
        );
        for i in 0..500 {
            a.insert_hash(h(i));
            both.insert_hash(h(i));
        }
        for i in 500..900 {
            b.insert_hash(h(i));
            both.insert_hash(h(i));
        }
        a.merge(&BloomSketch::from_bytes(&b.to_bytes()).unwrap()).unwrap();
        assert_eq!(a.to_bytes(), both.to_bytes());
        assert_eq!(&a.to_bytes()[..7], b"WBLM\x01\x01\x01");
        assert!(a.merge(&BloomSketch::new(2000, 0.01).unwrap()).is_err());
        assert!(BloomSketch::from_bytes(b"WHLL\x01\x01").is_err());
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(BloomSketch::new(0, 0.01).is_err());
        assert!(BloomSketch::new(10, 1.0).is_err());
        assert!(BloomSketch::new(usize::MAX / 2, 0.0001).is_err());
    }
}
