//! Text → typed value parsing shared by the csv and json decoders, and the column builders
//! both append to.
//!
//! Parsers work on `&[u8]` without allocating. Timestamps have a hand-written fast path for
//! `YYYY-MM-DD[ T]HH:MM[:SS[.f…]][Z|±HH[:MM]]` (computed arithmetically) and fall back to
//! chrono for other layouts. Values with an offset are converted to UTC; values without one
//! are taken as UTC wall-clock time.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, LargeBinaryArray, LargeStringArray, PrimitiveArray, StringArray,
};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::*;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::error::{Error, Result};

/// A row that could not be decoded.
#[derive(Debug, Clone)]
pub struct BadRow {
    /// 1-based physical line where the record starts.
    pub line: u64,
    /// Why it was rejected (e.g. `column 'ts': cannot parse 'x' as TIMESTAMP(3)`).
    pub reason: String,
    /// The raw record, without its line terminator.
    pub raw: Vec<u8>,
}

/// A format decoder turning bytes into rows of a fixed schema.
pub trait RecordDecoder: Send {
    /// Starts a new input file: line numbers restart at 1, a header (if any) is expected.
    fn start_file(&mut self);
    /// Decodes complete records from the start of `buf`, appending good rows to the pending
    /// batch and bad ones to `bad`, until `buf` has no complete record left (a trailing record
    /// without newline counts as complete only when `eof`), until the pending batch holds
    /// `max_rows` rows, or (when `stop_on_bad`) after the first bad row. Returns how many bytes
    /// were consumed; the caller passes the rest again, followed by more input.
    fn decode(&mut self, buf: &[u8], eof: bool, max_rows: usize, stop_on_bad: bool, bad: &mut Vec<BadRow>) -> usize;
    /// Rows in the pending batch.
    fn buffered_rows(&self) -> usize;
    /// Takes the pending rows as a batch (possibly empty) and starts a new one.
    fn finish(&mut self) -> Result<RecordBatch>;
}

/// Records longer than this are rejected (protects memory from an unterminated quote).
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// `s` without leading and trailing ASCII whitespace.
pub fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

fn split_sign(s: &[u8]) -> (bool, &[u8]) {
    match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

fn parse_digits(d: &[u8]) -> Option<u64> {
    if d.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    if d.len() <= 18 {
        for &b in d {
            let x = b.wrapping_sub(b'0');
            if x > 9 {
                return None;
            }
            v = v * 10 + x as u64;
        }
        return Some(v);
    }
    for &b in d {
        let x = b.wrapping_sub(b'0');
        if x > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(x as u64)?;
    }
    Some(v)
}

/// Parses a decimal integer (optional sign, surrounding whitespace allowed).
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, d) = split_sign(trim(s));
    let v = parse_digits(d)?;
    if neg {
        (v <= i64::MAX as u64 + 1).then(|| (v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses an unsigned decimal integer (optional `+`, surrounding whitespace allowed).
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    let s = trim(s);
    parse_digits(s.strip_prefix(b"+").unwrap_or(s))
}

/// Parses a float (anything Rust's `f64::from_str` accepts, e.g. `1.5`, `-2e3`, `NaN`).
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    std::str::from_utf8(trim(s)).ok()?.parse().ok()
}

/// Parses `true`/`false`/`1`/`0`, case-insensitively.
pub fn parse_bool(s: &[u8]) -> Option<bool> {
    let s = trim(s);
    if s.eq_ignore_ascii_case(b"true") || s == b"1" {
        Some(true)
    } else if s.eq_ignore_ascii_case(b"false") || s == b"0" {
        Some(false)
    } else {
        None
    }
}

/// Parses a decimal number into its unscaled `i128` for `DECIMAL(precision, scale)`
/// (`scale >= 0`); extra fractional digits are rounded half away from zero. `None` when
/// malformed or when the value does not fit the precision.
pub fn parse_decimal(s: &[u8], precision: u8, scale: i8) -> Option<i128> {
    let (neg, s) = split_sign(trim(s));
    let scale = u32::try_from(scale).ok()?;
    let (mut int, mut frac, mut fd, mut round_up, mut any) = (0i128, 0i128, 0u32, false, false);
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        int = int.checked_mul(10)?.checked_add((s[i] - b'0') as i128)?;
        i += 1;
        any = true;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            let d = (s[i] - b'0') as i128;
            if fd < scale {
                frac = frac * 10 + d;
                fd += 1;
            } else if fd == scale && i == start + scale as usize {
                round_up = d >= 5;
            }
            i += 1;
        }
        any |= i > start;
    }
    if i != s.len() || !any {
        return None;
    }
    let v = int
        .checked_mul(10i128.checked_pow(scale)?)?
        .checked_add(frac * 10i128.pow(scale - fd))?
        .checked_add(round_up as i128)?;
    if v >= 10i128.checked_pow(precision as u32)? {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// Days since 1970-01-01 of a proleptic Gregorian date, `None` if the date does not exist.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let dim = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d == 0 || d > dim[(m - 1) as usize] {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = ((m + 9) % 12) as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn d2(s: &[u8], i: usize) -> Option<u32> {
    let a = s.get(i)?.wrapping_sub(b'0');
    let b = s.get(i + 1)?.wrapping_sub(b'0');
    (a < 10 && b < 10).then_some(a as u32 * 10 + b as u32)
}

fn fast_date(s: &[u8]) -> Option<i64> {
    if s.len() < 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let y = d2(s, 0)? * 100 + d2(s, 2)?;
    days_from_civil(y as i64, d2(s, 5)?, d2(s, 8)?)
}

/// Parses a date (`YYYY-MM-DD`, or chrono's `%Y-%m-%d` with unpadded parts) into days since
/// the epoch.
pub fn parse_date(s: &[u8]) -> Option<i32> {
    let s = trim(s);
    let days = match fast_date(s) {
        Some(d) if s.len() == 10 => d,
        _ => {
            let t = std::str::from_utf8(s).ok()?;
            let d = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()?;
            d.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days()
        }
    };
    i32::try_from(days).ok()
}

/// Parses a timestamp into (seconds since the epoch, nanoseconds), UTC. Accepts the SQL form
/// `2024-01-01 00:00:01.196` and ISO-8601 `2024-01-01T00:00:01.196Z`, with or without a
/// fraction (up to 9 digits, more are truncated) and with an optional `Z`/`UTC`/`±HH[:MM]`
/// offset; a bare date means midnight. Other layouts go through chrono (RFC 2822, `/` dates).
pub fn parse_timestamp(s: &[u8]) -> Option<(i64, u32)> {
    let s = trim(s);
    fast_timestamp(s).or_else(|| slow_timestamp(s))
}

fn fast_timestamp(s: &[u8]) -> Option<(i64, u32)> {
    let days = fast_date(s)?;
    if s.len() == 10 {
        return Some((days * 86_400, 0));
    }
    if s.len() < 16 || !matches!(s[10], b' ' | b'T' | b't') || s[13] != b':' {
        return None;
    }
    let (h, mi) = (d2(s, 11)?, d2(s, 14)?);
    let (mut sec, mut i) = (0, 16);
    if s.get(16) == Some(&b':') {
        sec = d2(s, 17)?;
        i = 19;
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut nanos = 0u32;
    if matches!(s.get(i), Some(b'.') | Some(b',')) {
        i += 1;
        let start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + (s[i] - b'0') as u32;
            }
            i += 1;
        }
        let n = (i - start).min(9);
        if n == 0 {
            return None;
        }
        nanos *= 10u32.pow((9 - n) as u32);
    }
    let mut secs = days * 86_400 + (h * 3600 + mi * 60 + sec) as i64;
    let rest = s[i..].trim_ascii_start();
    match rest {
        [] | [b'Z'] | [b'z'] | b"UTC" => {}
        [sign @ (b'+' | b'-'), r @ ..] => {
            let oh = d2(r, 0)?;
            let om = match r.len() {
                2 => 0,
                4 => d2(r, 2)?,
                5 if r[2] == b':' => d2(r, 3)?,
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let off = (oh * 3600 + om * 60) as i64;
            secs += if *sign == b'+' { -off } else { off };
        }
        _ => return None,
    }
    Some((secs, nanos))
}

fn slow_timestamp(s: &[u8]) -> Option<(i64, u32)> {
    use chrono::{DateTime, NaiveDateTime};
    let t = std::str::from_utf8(s).ok()?;
    if let Ok(dt) = DateTime::parse_from_rfc3339(t).or_else(|_| DateTime::parse_from_rfc2822(t)) {
        return Some((dt.timestamp(), dt.timestamp_subsec_nanos()));
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(dt) = DateTime::parse_from_str(t, f) {
            return Some((dt.timestamp(), dt.timestamp_subsec_nanos()));
        }
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y/%m/%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, f) {
            let u = dt.and_utc();
            return Some((u.timestamp(), u.timestamp_subsec_nanos()));
        }
    }
    let d = parse_date(s)? as i64;
    Some((d * 86_400, 0))
}

/// Converts (seconds, nanoseconds) to a count of `unit`, `None` on overflow.
pub fn to_unit(secs: i64, nanos: u32, unit: TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Second => Some(secs),
        TimeUnit::Millisecond => secs.checked_mul(1_000)?.checked_add((nanos / 1_000_000) as i64),
        TimeUnit::Microsecond => secs.checked_mul(1_000_000)?.checked_add((nanos / 1_000) as i64),
        TimeUnit::Nanosecond => secs.checked_mul(1_000_000_000)?.checked_add(nanos as i64),
    }
}

/// The SQL name of a type, for messages (`BIGINT`, `TIMESTAMP(3)`, `DECIMAL(10,2)`, …).
pub fn sql_type_name(t: &DataType) -> String {
    let p = |u: &TimeUnit| match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    };
    match t {
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "TINYINT UNSIGNED".into(),
        DataType::UInt16 => "SMALLINT UNSIGNED".into(),
        DataType::UInt32 => "INT UNSIGNED".into(),
        DataType::UInt64 => "BIGINT UNSIGNED".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Utf8 | DataType::LargeUtf8 => "STRING".into(),
        DataType::Binary | DataType::LargeBinary => "BYTES".into(),
        DataType::Decimal128(pr, s) => format!("DECIMAL({pr},{s})"),
        DataType::Date32 => "DATE".into(),
        DataType::Timestamp(u, None) => format!("TIMESTAMP({})", p(u)),
        DataType::Timestamp(u, Some(_)) => format!("TIMESTAMP_LTZ({})", p(u)),
        other => other.to_string(),
    }
}

/// A value shown in a message: lossy UTF-8, cut after 60 characters.
pub fn show(s: &[u8]) -> String {
    let t = String::from_utf8_lossy(s);
    match t.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.into_owned(),
    }
}

/// Pushes `x` if it is `Some`; whether it was.
fn push<T>(v: &mut Vec<T>, x: Option<T>) -> bool {
    x.map(|x| v.push(x)).is_some()
}

/// Applies `$e` to the value vector of a non-`Bytes` variant (`Bytes` is unreachable).
macro_rules! each_vec {
    ($values:expr, $v:ident => $e:expr) => {
        match $values {
            Values::I8($v) => $e,
            Values::I16($v) => $e,
            Values::I32($v) | Values::Date($v) => $e,
            Values::I64($v) | Values::Ts($v, _) => $e,
            Values::U8($v) => $e,
            Values::U16($v) => $e,
            Values::U32($v) => $e,
            Values::U64($v) => $e,
            Values::F32($v) => $e,
            Values::F64($v) => $e,
            Values::Bool($v) => $e,
            Values::Dec($v, ..) => $e,
            Values::Bytes { .. } => unreachable!(),
        }
    };
}

enum Values {
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    /// Strings (`utf8`) or bytes, with `offsets.len() == rows + 1`.
    Bytes {
        offsets: Vec<i64>,
        data: Vec<u8>,
        utf8: bool,
        large: bool,
    },
    Dec(Vec<i128>, u8, i8),
    Date(Vec<i32>),
    Ts(Vec<i64>, TimeUnit),
}

/// Builds one Arrow column from text or JSON scalars; supports truncation so that a row can
/// be rolled back when a later field of it is bad.
pub struct ColumnBuilder {
    name: String,
    dtype: DataType,
    nullable: bool,
    values: Values,
    /// Validity, materialised at the first null.
    nulls: Option<Vec<bool>>,
    len: usize,
}

impl ColumnBuilder {
    /// A builder for `field`; a SQL error naming the column if its type is not supported.
    pub fn new(field: &Field) -> Result<Self> {
        let values = match field.data_type() {
            DataType::Int8 => Values::I8(vec![]),
            DataType::Int16 => Values::I16(vec![]),
            DataType::Int32 => Values::I32(vec![]),
            DataType::Int64 => Values::I64(vec![]),
            DataType::UInt8 => Values::U8(vec![]),
            DataType::UInt16 => Values::U16(vec![]),
            DataType::UInt32 => Values::U32(vec![]),
            DataType::UInt64 => Values::U64(vec![]),
            DataType::Float32 => Values::F32(vec![]),
            DataType::Float64 => Values::F64(vec![]),
            DataType::Boolean => Values::Bool(vec![]),
            t @ (DataType::Utf8 | DataType::LargeUtf8 | DataType::Binary | DataType::LargeBinary) => Values::Bytes {
                offsets: vec![0],
                data: vec![],
                utf8: matches!(t, DataType::Utf8 | DataType::LargeUtf8),
                large: matches!(t, DataType::LargeUtf8 | DataType::LargeBinary),
            },
            DataType::Decimal128(p, s) if *s >= 0 => Values::Dec(vec![], *p, *s),
            DataType::Date32 => Values::Date(vec![]),
            DataType::Timestamp(u, _) => Values::Ts(vec![], *u),
            t => {
                return Err(Error::sql(format!(
                    "column '{}': type {t} is not supported by the file/stdin connectors",
                    field.name()
                )))
            }
        };
        let (name, dtype, nullable) = (field.name().clone(), field.data_type().clone(), field.is_nullable());
        Ok(ColumnBuilder { name, dtype, nullable, values, nulls: None, len: 0 })
    }

    /// Whether the column holds strings (text is stored as is, never parsed).
    pub fn is_text(&self) -> bool {
        matches!(self.values, Values::Bytes { utf8: true, .. })
    }

    /// Number of values appended since the last `finish`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no value was appended since the last `finish`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A reason saying `what` (e.g. `convert 42`) failed for this column and its type.
    pub fn cannot(&self, what: &str) -> String {
        self.fail(format_args!("{what}"))
    }

    fn fail(&self, what: std::fmt::Arguments<'_>) -> String {
        format!("column '{}': cannot {what} as {}", self.name, sql_type_name(&self.dtype))
    }

    fn valid(&mut self) {
        self.len += 1;
        if let Some(n) = &mut self.nulls {
            n.push(true);
        }
    }

    /// Appends NULL; an error (the reason) if the column is NOT NULL.
    pub fn append_null(&mut self) -> Result<(), String> {
        if !self.nullable {
            return Err(format!("column '{}' is NOT NULL but the value is missing or null", self.name));
        }
        match &mut self.values {
            Values::Bytes { offsets, data, .. } => offsets.push(data.len() as i64),
            other => each_vec!(other, v => v.push(Default::default())),
        }
        let len = self.len;
        self.nulls.get_or_insert_with(|| vec![true; len]).push(false);
        self.len += 1;
        Ok(())
    }

    /// Parses `text` as the column's type and appends it; on failure appends nothing and
    /// returns the reason. Strings must be valid UTF-8 and are stored unchanged.
    pub fn append_text(&mut self, text: &[u8]) -> Result<(), String> {
        let ok = match &mut self.values {
            Values::I64(v) => push(v, parse_i64(text)),
            Values::I8(v) => push(v, parse_i64(text).and_then(|x| x.try_into().ok())),
            Values::I16(v) => push(v, parse_i64(text).and_then(|x| x.try_into().ok())),
            Values::I32(v) => push(v, parse_i64(text).and_then(|x| x.try_into().ok())),
            Values::U8(v) => push(v, parse_u64(text).and_then(|x| x.try_into().ok())),
            Values::U16(v) => push(v, parse_u64(text).and_then(|x| x.try_into().ok())),
            Values::U32(v) => push(v, parse_u64(text).and_then(|x| x.try_into().ok())),
            Values::U64(v) => push(v, parse_u64(text)),
            Values::F32(v) => push(v, parse_f64(text).map(|x| x as f32)),
            Values::F64(v) => push(v, parse_f64(text)),
            Values::Bool(v) => push(v, parse_bool(text)),
            Values::Dec(v, p, s) => push(v, parse_decimal(text, *p, *s)),
            Values::Date(v) => push(v, parse_date(text)),
            Values::Ts(v, u) => push(v, parse_timestamp(text).and_then(|(s, n)| to_unit(s, n, *u))),
            Values::Bytes { offsets, data, utf8, .. } => {
                let ok = !*utf8 || text.is_ascii() || std::str::from_utf8(text).is_ok();
                if ok {
                    data.extend_from_slice(text);
                    offsets.push(data.len() as i64);
                }
                ok
            }
        };
        if !ok {
            if self.is_text() {
                return Err(format!("column '{}': invalid UTF-8", self.name));
            }
            return Err(self.fail(format_args!("parse '{}'", show(text))));
        }
        self.valid();
        Ok(())
    }

    /// Appends an integer (from JSON). Numeric columns take it if it fits; timestamps read it
    /// as epoch milliseconds, dates as days since the epoch, strings as its decimal text.
    pub fn append_i64(&mut self, x: i64) -> Result<(), String> {
        let ok = match &mut self.values {
            Values::I64(v) => push(v, Some(x)),
            Values::I8(v) => push(v, x.try_into().ok()),
            Values::I16(v) => push(v, x.try_into().ok()),
            Values::I32(v) => push(v, x.try_into().ok()),
            Values::U8(v) => push(v, x.try_into().ok()),
            Values::U16(v) => push(v, x.try_into().ok()),
            Values::U32(v) => push(v, x.try_into().ok()),
            Values::U64(v) => push(v, x.try_into().ok()),
            Values::F32(v) => push(v, Some(x as f32)),
            Values::F64(v) => push(v, Some(x as f64)),
            Values::Ts(v, u) => {
                let (s, ms) = (x.div_euclid(1000), x.rem_euclid(1000));
                push(v, to_unit(s, ms as u32 * 1_000_000, *u))
            }
            Values::Date(v) => push(v, x.try_into().ok()),
            Values::Bool(_) | Values::Bytes { utf8: false, .. } => false,
            Values::Dec(..) | Values::Bytes { .. } => return self.append_text(x.to_string().as_bytes()),
        };
        if !ok {
            return Err(self.fail(format_args!("convert {x}")));
        }
        self.valid();
        Ok(())
    }

    /// Appends a float (from JSON): float columns take it, integer and decimal columns take
    /// integral/representable values, string columns its text.
    pub fn append_f64(&mut self, x: f64) -> Result<(), String> {
        let ok = match &mut self.values {
            Values::F32(v) => push(v, Some(x as f32)),
            Values::F64(v) => push(v, Some(x)),
            Values::Bool(_) | Values::Ts(..) | Values::Date(_) => false,
            Values::Dec(..) | Values::Bytes { .. } => return self.append_text(x.to_string().as_bytes()),
            _ if x.fract() == 0.0 && x.abs() < 9.2e18 => return self.append_i64(x as i64),
            _ => false,
        };
        if !ok {
            return Err(self.fail(format_args!("convert {x}")));
        }
        self.valid();
        Ok(())
    }

    /// Appends a boolean (from JSON): boolean columns, or `true`/`false` for strings.
    pub fn append_bool(&mut self, x: bool) -> Result<(), String> {
        match &mut self.values {
            Values::Bool(v) => v.push(x),
            Values::Bytes { utf8: true, .. } => return self.append_text(if x { b"true" } else { b"false" }),
            _ => return Err(self.fail(format_args!("convert {x}"))),
        }
        self.valid();
        Ok(())
    }

    /// Drops values so that `len` remain (`len <= self.len()`).
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        match &mut self.values {
            Values::Bytes { offsets, data, .. } => {
                offsets.truncate(len + 1);
                data.truncate(offsets[len] as usize);
            }
            other => each_vec!(other, v => v.truncate(len)),
        }
        if let Some(n) = &mut self.nulls {
            n.truncate(len);
        }
        self.len = len;
    }

    /// Takes the appended values as an Arrow array of the column's type and starts afresh.
    pub fn finish(&mut self) -> Result<ArrayRef> {
        fn prim<T: ArrowPrimitiveType>(v: &mut Vec<T::Native>, n: Option<NullBuffer>, t: &DataType) -> ArrayRef {
            let cap = v.len();
            let values = std::mem::replace(v, Vec::with_capacity(cap));
            Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(values), n).with_data_type(t.clone()))
        }
        let n = self.nulls.take().map(NullBuffer::from).filter(|n| n.null_count() > 0);
        self.len = 0;
        let t = &self.dtype;
        Ok(match &mut self.values {
            Values::I8(v) => prim::<Int8Type>(v, n, t),
            Values::I16(v) => prim::<Int16Type>(v, n, t),
            Values::I32(v) => prim::<Int32Type>(v, n, t),
            Values::I64(v) => prim::<Int64Type>(v, n, t),
            Values::U8(v) => prim::<UInt8Type>(v, n, t),
            Values::U16(v) => prim::<UInt16Type>(v, n, t),
            Values::U32(v) => prim::<UInt32Type>(v, n, t),
            Values::U64(v) => prim::<UInt64Type>(v, n, t),
            Values::F32(v) => prim::<Float32Type>(v, n, t),
            Values::F64(v) => prim::<Float64Type>(v, n, t),
            Values::Dec(v, ..) => prim::<Decimal128Type>(v, n, t),
            Values::Date(v) => prim::<Date32Type>(v, n, t),
            Values::Ts(v, TimeUnit::Second) => prim::<TimestampSecondType>(v, n, t),
            Values::Ts(v, TimeUnit::Millisecond) => prim::<TimestampMillisecondType>(v, n, t),
            Values::Ts(v, TimeUnit::Microsecond) => prim::<TimestampMicrosecondType>(v, n, t),
            Values::Ts(v, TimeUnit::Nanosecond) => prim::<TimestampNanosecondType>(v, n, t),
            Values::Bool(v) => {
                let b = BooleanBuffer::from(std::mem::take(v));
                Arc::new(BooleanArray::new(b, n))
            }
            Values::Bytes { offsets, data, utf8, large } => {
                let offs = std::mem::replace(offsets, vec![0]);
                let bytes = Buffer::from_vec(std::mem::take(data));
                if *large {
                    let o = OffsetBuffer::new(ScalarBuffer::from(offs));
                    match utf8 {
                        true => Arc::new(LargeStringArray::try_new(o, bytes, n)?),
                        false => Arc::new(LargeBinaryArray::try_new(o, bytes, n)?),
                    }
                } else {
                    let offs: Vec<i32> =
                        offs.into_iter().map(i32::try_from).collect::<Result<_, _>>().map_err(|_| {
                            Error::data(format!("column '{}': more than 2 GiB of text in one batch", self.name))
                        })?;
                    let o = OffsetBuffer::new(ScalarBuffer::from(offs));
                    match utf8 {
                        true => Arc::new(StringArray::try_new(o, bytes, n)?),
                        false => Arc::new(BinaryArray::try_new(o, bytes, n)?),
                    }
                }
            }
        })
    }
}

/// The builders of all columns of a schema, appended to row by row.
pub struct Columns {
    schema: SchemaRef,
    /// One builder per schema field, in order.
    pub cols: Vec<ColumnBuilder>,
    rows: usize,
}

impl Columns {
    /// Builders for every field of `schema`; a SQL error if a type is not supported.
    pub fn new(schema: &SchemaRef) -> Result<Self> {
        let cols = schema.fields().iter().map(|f| ColumnBuilder::new(f)).collect::<Result<_>>()?;
        Ok(Columns { schema: schema.clone(), cols, rows: 0 })
    }

    /// Complete rows appended so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Marks the current row complete (every builder got one value).
    pub fn commit_row(&mut self) {
        self.rows += 1;
    }

    /// Undoes the values of an incomplete row.
    pub fn rollback_row(&mut self) {
        for c in &mut self.cols {
            c.truncate(self.rows);
        }
    }

    /// Takes the complete rows as a batch.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        self.rollback_row();
        let arrays = self.cols.iter_mut().map(ColumnBuilder::finish).collect::<Result<Vec<_>>>()?;
        let opts = RecordBatchOptions::new().with_row_count(Some(self.rows));
        self.rows = 0;
        Ok(RecordBatch::try_new_with_options(self.schema.clone(), arrays, &opts)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Option<i64> {
        parse_timestamp(s.as_bytes()).and_then(|(s, n)| to_unit(s, n, TimeUnit::Millisecond))
    }

    #[test]
    fn timestamps_in_both_forms() {
        let base = 1_704_067_201_196; // 2024-01-01 00:00:01.196 UTC
        assert_eq!(ms("2024-01-01 00:00:01.196"), Some(base));
        assert_eq!(ms("2024-01-01T00:00:01.196Z"), Some(base));
        assert_eq!(ms("2024-01-01T02:00:01.196+02:00"), Some(base));
        assert_eq!(ms("2023-12-31T23:00:01.196-0100"), Some(base));
        assert_eq!(ms("2024-01-01 00:00:01"), Some(base - 196));
        assert_eq!(ms(" 2024-01-01T00:00:01.196123456Z "), Some(base));
        assert_eq!(ms("2024-01-01"), Some(base - 1196));
        assert_eq!(ms("2024-01-01 00:00"), Some(base - 1196));
        assert_eq!(ms("1969-12-31 23:59:59.999"), Some(-1));
        assert_eq!(ms("2024/01/01 00:00:01.196"), Some(base));
        for bad in ["yesterday", "2024-02-30 00:00:00", "2024-01-01 25:00:00", "2024-01-01T00:00:01.", ""] {
            assert_eq!(ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn civil_days_match_chrono() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (1600, 3, 1), (-4, 12, 31), (2024, 12, 31)] {
            let c = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let want = c.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days();
            assert_eq!(days_from_civil(y as i64, m, d), Some(want));
        }
        assert_eq!(days_from_civil(2023, 2, 29), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b" +42 "), Some(42));
        assert_eq!(parse_i64(b"4x"), None);
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"-12.345", 10, 2), Some(-1235));
        assert_eq!(parse_decimal(b"12", 4, 2), Some(1200));
        assert_eq!(parse_decimal(b"123", 4, 2), None);
        assert_eq!(parse_decimal(b".5", 4, 2), Some(50));
        assert_eq!(parse_decimal(b".", 4, 2), None);
        assert_eq!(parse_bool(b"TRUE"), Some(true));
        assert_eq!(parse_bool(b"0"), Some(false));
        assert_eq!(parse_bool(b"yes"), None);
        assert_eq!(parse_date(b"2024-1-2"), parse_date(b"2024-01-02"));
    }

    #[test]
    fn rollback_keeps_columns_aligned() {
        let schema =
            Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true), Field::new("n", DataType::Int32, true)]));
        let mut c = Columns::new(&schema).unwrap();
        c.cols[0].append_text(b"ok").unwrap();
        c.cols[1].append_null().unwrap();
        c.commit_row();
        c.cols[0].append_text(b"gone").unwrap();
        assert!(c.cols[1].append_text(b"x").unwrap_err().contains("cannot parse 'x' as INT"));
        c.rollback_row();
        let b = c.finish().unwrap();
        assert_eq!(b.num_rows(), 1);
        assert_eq!(b.column(1).null_count(), 1);
    }
}
