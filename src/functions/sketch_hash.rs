//! The pinned, versioned hash every sketch uses: SipHash-1-3 with fixed keys over a
//! canonical byte encoding of each value.
//!
//! Sketch bytes outlive the process that wrote them (sinks store them, snapshots restore
//! them, a later query merges them), so the hash of a value must never change: not with the
//! Rust release (std's `DefaultHasher` may), not with the process (`RandomState`), not with
//! the Arrow type that carried the value. Hash version 1 (the `hash id` byte of the sketch
//! formats) is:
//!
//! ```text
//! hash(v) = SipHash-1-3(k0 = 0x7365_7263_6576_6177, k1 = 0x6863_7465_6b73_5f74, encode(v))
//!
//! encode(v), by value (not by Arrow type):
//!   integer (Int8..Int64, UInt8..UInt64)       0x01, i128 little-endian (16 bytes)
//!   floating point (Float16/32/64)             0x02, f64 bits little-endian (-0.0 as 0.0, one NaN)
//!   string (Utf8, LargeUtf8, Utf8View)         0x03, u64 LE byte length, UTF-8 bytes
//!   bytes (Binary, LargeBinary, BinaryView,
//!          FixedSizeBinary)                    0x04, u64 LE byte length, bytes
//!   boolean                                    0x05, 0 or 1
//!   date (Date32, Date64)                      0x06, i64 LE days since 1970-01-01
//!   timestamp (any unit, time zone ignored)    0x07, i128 LE nanoseconds since the epoch
//!   anything else                              0x08, u64 LE length, the value's text (Arrow cast to Utf8)
//!   NULL (only inside multi-column keys)       0x00
//! ```
//!
//! So `5` hashes the same as an `INT`, a `BIGINT` or an `UNSIGNED`, and one instant the same
//! in `TIMESTAMP(3)` and `TIMESTAMP(6)`. A key of several columns hashes the concatenation
//! of its columns' encodings (each is self-delimiting).

use std::hash::Hasher;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, PrimitiveArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
    UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use siphasher::sip::SipHasher13;

use crate::error::Result;

/// The hash version written into sketch bytes (see the module docs).
pub const HASH_VERSION: u8 = 1;

const K0: u64 = 0x7365_7263_6576_6177; // "wavecres" little-endian
const K1: u64 = 0x6863_7465_6b73_5f74; // "t_sketch" little-endian

/// Hashes one already-encoded value.
pub fn hash_bytes(encoded: &[u8]) -> u64 {
    let mut h = SipHasher13::new_with_keys(K0, K1);
    h.write(encoded);
    h.finish()
}

/// The hash of each row of `array`; `None` for NULL rows (sketches skip NULLs, as
/// `COUNT(DISTINCT)` does).
pub fn hash_column(array: &ArrayRef) -> Result<Vec<Option<u64>>> {
    macro_rules! ints {
        ($t:ty) => {
            return Ok(hash_ints(array.as_primitive::<$t>(), |v| v as i128))
        };
    }
    match array.data_type() {
        DataType::Int8 => ints!(Int8Type),
        DataType::Int16 => ints!(Int16Type),
        DataType::Int32 => ints!(Int32Type),
        DataType::Int64 => ints!(Int64Type),
        DataType::UInt8 => ints!(UInt8Type),
        DataType::UInt16 => ints!(UInt16Type),
        DataType::UInt32 => ints!(UInt32Type),
        DataType::UInt64 => ints!(UInt64Type),
        _ => {}
    }
    let encoder = Encoder::new(array)?;
    let mut buf = Vec::with_capacity(32);
    Ok((0..array.len())
        .map(|i| {
            if array.is_null(i) {
                return None;
            }
            buf.clear();
            encoder.encode(i, &mut buf);
            Some(hash_bytes(&buf))
        })
        .collect())
}

/// [`hash_column`] for an integer column: the encoding has a fixed size, so no per-row
/// dispatch or buffer growth.
fn hash_ints<T: ArrowPrimitiveType>(array: &PrimitiveArray<T>, widen: impl Fn(T::Native) -> i128) -> Vec<Option<u64>> {
    let hash = |v: T::Native| hash_int(widen(v));
    match array.nulls().filter(|n| n.null_count() > 0) {
        None => array.values().iter().map(|v| Some(hash(*v))).collect(),
        Some(nulls) => array.values().iter().zip(nulls.iter()).map(|(v, valid)| valid.then(|| hash(*v))).collect(),
    }
}

/// `hash_bytes` of an integer's encoding (`0x01`, i128 little-endian: 17 bytes), with
/// SipHash-1-3 unrolled for that length: two message words and a one-byte tail.
#[inline]
fn hash_int(v: i128) -> u64 {
    let (lo, hi) = (v as u64, (v >> 64) as u64);
    let mut s = [
        K0 ^ 0x736f_6d65_7073_6575,
        K1 ^ 0x646f_7261_6e64_6f6d,
        K0 ^ 0x6c79_6765_6e65_7261,
        K1 ^ 0x7465_6462_7974_6573,
    ];
    let words = [0x01 | (lo << 8), (lo >> 56) | (hi << 8), (17u64 << 56) | (hi >> 56)];
    for m in words {
        s[3] ^= m;
        sip_round(&mut s);
        s[0] ^= m;
    }
    s[2] ^= 0xff;
    for _ in 0..3 {
        sip_round(&mut s);
    }
    s[0] ^ s[1] ^ s[2] ^ s[3]
}

#[inline(always)]
fn sip_round(s: &mut [u64; 4]) {
    s[0] = s[0].wrapping_add(s[1]);
    s[1] = s[1].rotate_left(13) ^ s[0];
    s[0] = s[0].rotate_left(32);
    s[2] = s[2].wrapping_add(s[3]);
    s[3] = s[3].rotate_left(16) ^ s[2];
    s[0] = s[0].wrapping_add(s[3]);
    s[3] = s[3].rotate_left(21) ^ s[0];
    s[2] = s[2].wrapping_add(s[1]);
    s[1] = s[1].rotate_left(17) ^ s[2];
    s[2] = s[2].rotate_left(32);
}

/// The hash of each row of a multi-column key; NULLs are part of the key.
pub fn hash_rows(columns: &[ArrayRef], rows: usize) -> Result<Vec<u64>> {
    let encoders = columns.iter().map(Encoder::new).collect::<Result<Vec<_>>>()?;
    let mut buf = Vec::with_capacity(32 * columns.len());
    Ok((0..rows)
        .map(|i| {
            buf.clear();
            for (c, e) in columns.iter().zip(&encoders) {
                if c.is_null(i) {
                    buf.push(0x00);
                } else {
                    e.encode(i, &mut buf);
                }
            }
            hash_bytes(&buf)
        })
        .collect())
}

/// A column viewed through the canonical encoding of its type.
enum Encoder {
    Int(Box<dyn Fn(usize) -> i128>),
    Float(Box<dyn Fn(usize) -> f64>),
    Str(ArrayRef),
    Bytes(ArrayRef),
    Bool(ArrayRef),
    Date(Box<dyn Fn(usize) -> i64>),
    Timestamp(Box<dyn Fn(usize) -> i128>),
    Text(ArrayRef),
}

impl Encoder {
    fn new(array: &ArrayRef) -> Result<Encoder> {
        macro_rules! int {
            ($t:ty) => {{
                let a = array.as_primitive::<$t>().clone();
                Encoder::Int(Box::new(move |i| a.value(i) as i128))
            }};
        }
        macro_rules! ts {
            ($t:ty, $per_ns:expr) => {{
                let a = array.as_primitive::<$t>().clone();
                Encoder::Timestamp(Box::new(move |i| a.value(i) as i128 * $per_ns))
            }};
        }
        Ok(match array.data_type() {
            DataType::Int8 => int!(Int8Type),
            DataType::Int16 => int!(Int16Type),
            DataType::Int32 => int!(Int32Type),
            DataType::Int64 => int!(Int64Type),
            DataType::UInt8 => int!(UInt8Type),
            DataType::UInt16 => int!(UInt16Type),
            DataType::UInt32 => int!(UInt32Type),
            DataType::UInt64 => int!(UInt64Type),
            DataType::Float16 => {
                let a = array.as_primitive::<Float16Type>().clone();
                Encoder::Float(Box::new(move |i| a.value(i).to_f64()))
            }
            DataType::Float32 => {
                let a = array.as_primitive::<Float32Type>().clone();
                Encoder::Float(Box::new(move |i| a.value(i) as f64))
            }
            DataType::Float64 => {
                let a = array.as_primitive::<Float64Type>().clone();
                Encoder::Float(Box::new(move |i| a.value(i)))
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Encoder::Str(Arc::clone(array)),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
                Encoder::Bytes(Arc::clone(array))
            }
            DataType::Boolean => Encoder::Bool(Arc::clone(array)),
            DataType::Date32 => {
                let a = array.as_primitive::<Date32Type>().clone();
                Encoder::Date(Box::new(move |i| a.value(i) as i64))
            }
            DataType::Date64 => {
                let a = array.as_primitive::<Date64Type>().clone();
                Encoder::Date(Box::new(move |i| a.value(i).div_euclid(86_400_000)))
            }
            DataType::Timestamp(TimeUnit::Second, _) => ts!(TimestampSecondType, 1_000_000_000),
            DataType::Timestamp(TimeUnit::Millisecond, _) => ts!(TimestampMillisecondType, 1_000_000),
            DataType::Timestamp(TimeUnit::Microsecond, _) => ts!(TimestampMicrosecondType, 1_000),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => ts!(TimestampNanosecondType, 1),
            _ => Encoder::Text(cast(array, &DataType::Utf8)?),
        })
    }

    /// Appends the canonical encoding of (non-null) row `i`.
    fn encode(&self, i: usize, out: &mut Vec<u8>) {
        match self {
            Encoder::Int(f) => {
                out.push(0x01);
                out.extend_from_slice(&f(i).to_le_bytes());
            }
            Encoder::Float(f) => {
                let v = f(i);
                let v = if v == 0.0 {
                    0.0
                } else if v.is_nan() {
                    f64::NAN
                } else {
                    v
                };
                out.push(0x02);
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            Encoder::Str(a) => {
                let s = match a.data_type() {
                    DataType::Utf8 => a.as_string::<i32>().value(i),
                    DataType::LargeUtf8 => a.as_string::<i64>().value(i),
                    _ => a.as_string_view().value(i),
                };
                length_prefixed(0x03, s.as_bytes(), out);
            }
            Encoder::Bytes(a) => {
                let b = match a.data_type() {
                    DataType::Binary => a.as_binary::<i32>().value(i),
                    DataType::LargeBinary => a.as_binary::<i64>().value(i),
                    DataType::BinaryView => a.as_binary_view().value(i),
                    _ => a.as_fixed_size_binary().value(i),
                };
                length_prefixed(0x04, b, out);
            }
            Encoder::Bool(a) => {
                out.push(0x05);
                out.push(a.as_boolean().value(i) as u8);
            }
            Encoder::Date(f) => {
                out.push(0x06);
                out.extend_from_slice(&f(i).to_le_bytes());
            }
            Encoder::Timestamp(f) => {
                out.push(0x07);
                out.extend_from_slice(&f(i).to_le_bytes());
            }
            Encoder::Text(a) => length_prefixed(0x08, a.as_string::<i32>().value(i).as_bytes(), out),
        }
    }
}

fn length_prefixed(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        Float32Array, Float64Array, Int32Array, Int64Array, StringArray, StringViewArray, TimestampMicrosecondArray,
        TimestampMillisecondArray, UInt8Array,
    };

    fn h(a: ArrayRef) -> Vec<Option<u64>> {
        hash_column(&a).unwrap()
    }

    #[test]
    fn the_same_value_hashes_the_same_in_every_type() {
        let ints = h(Arc::new(Int64Array::from(vec![5, -1])));
        assert_eq!(h(Arc::new(Int32Array::from(vec![5, -1]))), ints);
        assert_eq!(h(Arc::new(UInt8Array::from(vec![5])))[0], ints[0]);
        assert_eq!(h(Arc::new(Float32Array::from(vec![2.5]))), h(Arc::new(Float64Array::from(vec![2.5]))));
        assert_eq!(h(Arc::new(StringArray::from(vec!["ab"]))), h(Arc::new(StringViewArray::from(vec!["ab"]))));
        assert_eq!(
            h(Arc::new(TimestampMillisecondArray::from(vec![1_500]))),
            h(Arc::new(TimestampMicrosecondArray::from(vec![1_500_000])))
        );
        assert_eq!(h(Arc::new(Float64Array::from(vec![0.0]))), h(Arc::new(Float64Array::from(vec![-0.0]))));
    }

    #[test]
    fn different_values_and_kinds_hash_differently() {
        let a = h(Arc::new(Int64Array::from(vec![1, 2])));
        assert_ne!(a[0], a[1]);
        assert_ne!(h(Arc::new(StringArray::from(vec!["1"])))[0], a[0], "the string '1' is not the integer 1");
        // Length prefixes keep ("a", "bc") apart from ("ab", "c").
        let x: ArrayRef = Arc::new(StringArray::from(vec!["a", "ab"]));
        let y: ArrayRef = Arc::new(StringArray::from(vec!["bc", "c"]));
        let rows = hash_rows(&[x, y], 2).unwrap();
        assert_ne!(rows[0], rows[1]);
    }

    #[test]
    fn nulls_are_skipped_by_columns_and_kept_in_keys() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None]));
        assert_eq!(hash_column(&a).unwrap()[1], None);
        // A sliced column keeps its rows' nulls (the integer fast path reads the null mask).
        let b: ArrayRef = Arc::new(Int32Array::from(vec![None, Some(1), None, Some(2)]));
        let sliced = hash_column(&b.slice(1, 3)).unwrap();
        assert_eq!(sliced, vec![hash_column(&a).unwrap()[0], None, h(Arc::new(Int64Array::from(vec![2])))[0]]);
        let rows = hash_rows(&[a], 2).unwrap();
        assert_ne!(rows[0], rows[1]);
    }

    #[test]
    fn the_unrolled_integer_hash_is_siphash_of_the_encoding() {
        let mut rng = 0x1234_5678_9abc_def0u64;
        let mut values = vec![0i128, 1, -1, i64::MIN as i128, i64::MAX as i128, u64::MAX as i128];
        for _ in 0..1000 {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            values.push(rng as i64 as i128);
        }
        for v in values {
            let mut encoded = vec![0x01];
            encoded.extend_from_slice(&v.to_le_bytes());
            assert_eq!(hash_int(v), hash_bytes(&encoded), "{v}");
        }
    }

    /// Hash version 1 is frozen: stored sketches depend on these exact values. If this test
    /// fails, the hash changed and every stored sketch became unmergeable with new ones.
    #[test]
    fn hash_version_1_is_frozen() {
        let got = h(Arc::new(Int64Array::from(vec![0, 1, 42])));
        let s = h(Arc::new(StringArray::from(vec!["wavecrest"])));
        let frozen = [got[0].unwrap(), got[1].unwrap(), got[2].unwrap(), s[0].unwrap()];
        assert_eq!(frozen, FROZEN, "{frozen:#x?}");
    }

    /// Recorded when hash version 1 was introduced: 0, 1, 42 and 'wavecrest'.
    const FROZEN: [u64; 4] =
        [0x469f_6aa0_f76f_8c3b, 0xb380_515d_2cbe_ea20, 0x64f2_e29c_6a09_e749, 0x21d1_49d0_d763_6553];
}
