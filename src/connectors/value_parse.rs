//! Text → typed value parsing shared by the csv and json decoders (the column builders in
//! [`super::column_builder`] call these).
//!
//! Parsers work on `&[u8]` without allocating. Timestamps have a hand-written fast path for
//! `YYYY-MM-DD[ T]HH:MM[:SS[.f…]][Z|±HH[:MM]]` (computed arithmetically) and fall back to
//! chrono for other layouts. Values with an offset are converted to UTC; values without one
//! are taken as UTC wall-clock time.

use datafusion::arrow::datatypes::*;

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

thread_local! {
    /// The last `YYYY-MM-DD` parsed and its day number: consecutive rows of a stream
    /// almost always share their date.
    static LAST_DATE: std::cell::Cell<([u8; 10], i64)> = const { std::cell::Cell::new(([0; 10], i64::MIN)) };
}

fn fast_date(s: &[u8]) -> Option<i64> {
    if s.len() < 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let key: [u8; 10] = s[..10].try_into().ok()?;
    let (last, days) = LAST_DATE.with(|c| c.get());
    if last == key && days != i64::MIN {
        return Some(days);
    }
    let y = d2(s, 0)? * 100 + d2(s, 2)?;
    let days = days_from_civil(y as i64, d2(s, 5)?, d2(s, 8)?)?;
    LAST_DATE.with(|c| c.set((key, days)));
    Some(days)
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
}
