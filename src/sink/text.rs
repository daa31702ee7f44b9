//! Low-level value formatting for the sink formats: integers, decimals, floats, dates, times,
//! timestamps, hex bytes and csv/JSON string escaping.
//!
//! Values are formatted straight into a caller-owned `Vec<u8>`; integers, dates and
//! timestamps never allocate. Timestamps are printed as `YYYY-MM-DD HH:MM:SS.fff` (3 fraction
//! digits for s/ms precision, 6 for µs, 9 for ns) in the stored wall-clock (UTC for zoned
//! timestamps). Floats use the shortest round-trip form, switching to exponent form (`1e21`,
//! `1e-7`) outside `[1e-6, 1e21)` like JavaScript.

use std::io::Write as _;

use datafusion::arrow::datatypes::TimeUnit;

/// Where a value goes: a csv field (with its delimiter), a JSON value or a table cell.
#[derive(Clone, Copy)]
pub(super) enum Mode {
    Csv(u8),
    Json,
    Table,
}

pub(super) fn quote(out: &mut Vec<u8>, quoted: bool, f: impl FnOnce(&mut Vec<u8>)) {
    if quoted {
        out.push(b'"');
        f(out);
        out.push(b'"');
    } else {
        f(out);
    }
}

pub(super) fn push_str(out: &mut Vec<u8>, s: &str, mode: Mode) {
    match mode {
        Mode::Csv(d) => push_csv_str(out, s.as_bytes(), d),
        Mode::Json => {
            // Writing a &str into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, s);
        }
        Mode::Table => out.extend_from_slice(s.as_bytes()),
    }
}

/// RFC 4180: quote fields containing the delimiter, a quote, CR or LF; double quotes.
pub(super) fn push_csv_str(out: &mut Vec<u8>, s: &[u8], d: u8) {
    if !s.iter().any(|&b| b == d || b == b'"' || b == b'\n' || b == b'\r') {
        out.extend_from_slice(s);
        return;
    }
    out.push(b'"');
    for part in s.split_inclusive(|&b| b == b'"') {
        out.extend_from_slice(part);
        if part.last() == Some(&b'"') {
            out.push(b'"');
        }
    }
    out.push(b'"');
}

pub(super) fn push_hex(out: &mut Vec<u8>, bytes: &[u8], quoted: bool) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    quote(out, quoted, |o| {
        o.reserve(bytes.len() * 2);
        for &b in bytes {
            o.push(HEX[usize::from(b >> 4)]);
            o.push(HEX[usize::from(b & 15)]);
        }
    });
}

pub(super) fn push_float<F: std::fmt::Display + std::fmt::LowerExp>(out: &mut Vec<u8>, v: F, x: f64, mode: Mode) {
    if !x.is_finite() {
        out.extend_from_slice(match mode {
            Mode::Json => b"null",
            _ if x.is_nan() => b"NaN",
            _ if x > 0.0 => b"Infinity",
            _ => b"-Infinity",
        });
    } else if x != 0.0 && (x.abs() >= 1e21 || x.abs() < 1e-6) {
        let _ = write!(out, "{v:e}");
    } else {
        let _ = write!(out, "{v}");
    }
}

const LUT: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

pub(super) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&LUT[r..r + 2]);
    }
    if v >= 10 {
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&LUT[v as usize * 2..v as usize * 2 + 2]);
    } else {
        pos -= 1;
        buf[pos] = b'0' + v as u8;
    }
    out.extend_from_slice(&buf[pos..]);
}

pub(super) fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// `v` zero-padded to `width` digits (`v` must have at most `width` digits).
fn push_padded(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for k in (start..start + width).rev() {
        out[k] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

pub(super) fn push_decimal(out: &mut Vec<u8>, v: i128, scale: i8) {
    let mut digits = [0u8; 40];
    let (mut pos, mut u) = (digits.len(), v.unsigned_abs());
    loop {
        pos -= 1;
        digits[pos] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    let d = &digits[pos..];
    if v < 0 {
        out.push(b'-');
    }
    let s = usize::from(scale.unsigned_abs());
    if scale <= 0 {
        out.extend_from_slice(d);
        if v != 0 {
            out.resize(out.len() + s, b'0');
        }
    } else if d.len() > s {
        out.extend_from_slice(&d[..d.len() - s]);
        out.push(b'.');
        out.extend_from_slice(&d[d.len() - s..]);
    } else {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + s - d.len(), b'0');
        out.extend_from_slice(d);
    }
}

/// Days since 1970-01-01 → `YYYY-MM-DD` (proleptic Gregorian; H. Hinnant's algorithm).
pub(super) fn push_date(out: &mut Vec<u8>, days: i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let y = yoe + era * 400 + i64::from(m <= 2);
    if y < 0 {
        out.push(b'-');
    }
    if y.unsigned_abs() <= 9999 {
        push_padded(out, y.unsigned_abs(), 4);
    } else {
        push_u64(out, y.unsigned_abs());
    }
    out.push(b'-');
    push_padded(out, m, 2);
    out.push(b'-');
    push_padded(out, d, 2);
}

/// Seconds since midnight → `HH:MM:SS`.
fn push_hms(out: &mut Vec<u8>, sod: i64) {
    let sod = sod.rem_euclid(86_400) as u64;
    push_padded(out, sod / 3600, 2);
    out.push(b':');
    push_padded(out, sod / 60 % 60, 2);
    out.push(b':');
    push_padded(out, sod % 60, 2);
}

/// Splits `v` in `unit` into (seconds, fraction, fraction digits).
fn split_unit(v: i64, unit: TimeUnit) -> (i64, u64, usize) {
    let (per_sec, digits) = match unit {
        TimeUnit::Second => (1, 3),
        TimeUnit::Millisecond => (1_000, 3),
        TimeUnit::Microsecond => (1_000_000, 6),
        TimeUnit::Nanosecond => (1_000_000_000, 9),
    };
    (v.div_euclid(per_sec), v.rem_euclid(per_sec) as u64, digits)
}

pub(super) fn push_ts(out: &mut Vec<u8>, v: i64, unit: TimeUnit) {
    let (secs, frac, digits) = split_unit(v, unit);
    push_date(out, secs.div_euclid(86_400));
    out.push(b' ');
    push_hms(out, secs);
    out.push(b'.');
    push_padded(out, frac, digits);
}

pub(super) fn push_time(out: &mut Vec<u8>, v: i64, unit: TimeUnit) {
    let (secs, frac, digits) = split_unit(v, unit);
    push_hms(out, secs);
    if unit != TimeUnit::Second {
        out.push(b'.');
        push_padded(out, frac, digits);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::*;

    use crate::sink::format::tests::{chunk, render};
    use crate::sink::format::{OutputFormat, RowWriter};

    #[test]
    fn csv_quoting_edge_cases() {
        let s: ArrayRef = Arc::new(StringArray::from(vec![
            Some("plain"),
            Some("a,b"),
            Some("say \"hi\""),
            Some("l1\nl2"),
            Some("cr\r"),
            Some(""),
            None,
        ]));
        let (schema, c) = chunk(vec![("s", s)], None);
        let out = render(&schema, &c, OutputFormat::Csv, true);
        let want = "op,s\n+I,plain\n+I,\"a,b\"\n+I,\"say \"\"hi\"\"\"\n+I,\"l1\nl2\"\n+I,\"cr\r\"\n+I,\n+I,\n";
        assert_eq!(out, want);
        // Another delimiter: commas no longer need quotes, semicolons do.
        let s: ArrayRef = Arc::new(StringArray::from(vec!["a,b", "a;b"]));
        let (schema, c) = chunk(vec![("s", s)], None);
        let mut w = RowWriter::new(schema, OutputFormat::Csv, false).with_delimiter(b';');
        let mut out = Vec::new();
        w.write_chunk(&c, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a,b\n\"a;b\"\n");
    }

    #[test]
    fn timestamps_dates_and_nulls() {
        let ms: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![Some(1_700_000_000_123), Some(-1), None]));
        let us: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![Some(1_000_001), None, Some(0)]));
        let d: ArrayRef = Arc::new(Date32Array::from(vec![Some(19_000), Some(-719_528), None]));
        let i: ArrayRef = Arc::new(Int64Array::from(vec![Some(i64::MIN), None, Some(42)]));
        let (schema, c) = chunk(vec![("ms", ms), ("us", us), ("d", d), ("i", i)], None);
        let csv = render(&schema, &c, OutputFormat::Csv, false);
        assert_eq!(
            csv,
            "ms,us,d,i\n2023-11-14 22:13:20.123,1970-01-01 00:00:01.000001,2022-01-08,-9223372036854775808\n\
             1969-12-31 23:59:59.999,,0000-01-01,\n,1970-01-01 00:00:00.000000,,42\n"
        );
        let json = render(&schema, &c, OutputFormat::Json, false);
        assert_eq!(
            json.lines().nth(1).unwrap(),
            r#"{"ms":"1969-12-31 23:59:59.999","us":null,"d":"0000-01-01","i":null}"#
        );
    }

    #[test]
    fn floats_shortest_round_trip() {
        let f: ArrayRef = Arc::new(Float64Array::from(vec![
            0.1,
            1e-7,
            1e21,
            1e20,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.5,
            3.0,
        ]));
        let g: ArrayRef = Arc::new(Float32Array::from(vec![0.1f32, 1e-7, 1e21, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]));
        let (schema, c) = chunk(vec![("f", f), ("g", g)], None);
        let csv = render(&schema, &c, OutputFormat::Csv, false);
        let lines: Vec<_> = csv.lines().skip(1).collect();
        assert_eq!(
            lines,
            [
                "0.1,0.1",
                "1e-7,1e-7",
                "1e21,1e21",
                "100000000000000000000,1",
                "NaN,0",
                "Infinity,0",
                "-Infinity,0",
                "-0.5,0",
                "3,0"
            ]
        );
        let json = render(&schema, &c, OutputFormat::Json, false);
        assert_eq!(json.lines().nth(4).unwrap(), r#"{"f":null,"g":0}"#);
        assert_eq!(json.lines().nth(1).unwrap(), r#"{"f":1e-7,"g":1e-7}"#);
    }

    #[test]
    fn decimals_bools_binary() {
        let dec =
            Decimal128Array::from(vec![Some(1230), Some(-5), Some(0), None]).with_precision_and_scale(10, 2).unwrap();
        let b: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), Some(false), None, Some(true)]));
        let bin: ArrayRef = Arc::new(BinaryArray::from(vec![&b"\x00\xff"[..], b"", b"A", b"z"]));
        let (schema, c) = chunk(vec![("x", Arc::new(dec) as ArrayRef), ("b", b), ("bin", bin)], None);
        assert_eq!(
            render(&schema, &c, OutputFormat::Csv, false),
            "x,b,bin\n12.30,true,00ff\n-0.05,false,\n0.00,,41\n,true,7a\n"
        );
        let json = render(&schema, &c, OutputFormat::Json, false);
        assert_eq!(json.lines().next().unwrap(), r#"{"x":12.30,"b":true,"bin":"00ff"}"#);
    }

    #[test]
    fn json_escapes_strings() {
        let s: ArrayRef = Arc::new(StringArray::from(vec!["q\"uote", "new\nline", "tab\tü€😀", "\u{1}"]));
        let (schema, c) = chunk(vec![("a \"k\"", s)], None);
        let out = render(&schema, &c, OutputFormat::Json, true);
        for (line, want) in out.lines().zip(["q\"uote", "new\nline", "tab\tü€😀", "\u{1}"]) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["a \"k\""], want, "{line}");
        }
        assert!(out.starts_with(r#"{"op":"+I","a \"k\"":"q\"uote"}"#), "{out}");
        assert!(out.contains(r#""new\nline""#), "{out}");
    }
}
