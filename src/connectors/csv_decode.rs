//! CSV (RFC 4180) → Arrow decoding. Fields map to columns by position.
//!
//! The decoder scans raw bytes: unquoted fields are slices of the input, quoted fields are
//! slices too unless they contain doubled quotes (then they are unescaped into one reused
//! buffer). Each field is parsed straight into its column builder; a bad row is rolled back.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use super::column_builder::{BadRow, Columns, RecordDecoder, MAX_RECORD_BYTES};
use crate::error::{Error, Result};

/// CSV dialect settings (Flink's `csv.*` options).
#[derive(Debug, Clone)]
pub struct CsvConfig {
    /// Field separator (`csv.field-delimiter`, default `,`).
    pub delimiter: u8,
    /// Quote character (`csv.quote-character`, default `"`); `None` disables quoting.
    pub quote: Option<u8>,
    /// Unquoted text meaning NULL (`csv.null-literal`); an empty field is NULL for every
    /// non-string column, and for string columns unless a non-empty null literal is set.
    pub null_literal: Option<Vec<u8>>,
    /// Skip lines starting with `#` (`csv.allow-comments`).
    pub allow_comments: bool,
    /// The first record of each file is a header and is skipped (`csv.header`).
    pub header: bool,
}

impl Default for CsvConfig {
    fn default() -> Self {
        CsvConfig { delimiter: b',', quote: Some(b'"'), null_literal: None, allow_comments: false, header: false }
    }
}

/// Decodes CSV records into batches of a fixed schema; see [`RecordDecoder`].
pub struct CsvDecoder {
    cfg: CsvConfig,
    columns: Columns,
    /// Line number of the next record start (1-based).
    line: u64,
    header_pending: bool,
    scratch: Vec<u8>,
    /// Bytes ending an unquoted field: the delimiter and `\n`.
    stop: [bool; 256],
    /// Whether an empty unquoted field is NULL for string columns.
    empty_text_is_null: bool,
}

enum Parsed {
    /// Need more input (nothing appended).
    Incomplete,
    /// A record ending at this offset, spanning this many `\n`.
    Ok(usize, u64),
    /// A bad record ending at this offset (and its length without terminator).
    Bad(usize, usize, u64, String),
}

impl CsvDecoder {
    /// A decoder producing batches of `schema`; a SQL error if a column type is unsupported
    /// or the delimiter equals the quote or is a line break.
    pub fn new(schema: &SchemaRef, cfg: CsvConfig) -> Result<Self> {
        if Some(cfg.delimiter) == cfg.quote || matches!(cfg.delimiter, b'\n' | b'\r') {
            return Err(Error::sql("csv: the field delimiter must differ from the quote and line breaks"));
        }
        let mut stop = [false; 256];
        stop[cfg.delimiter as usize] = true;
        stop[b'\n' as usize] = true;
        let empty_text_is_null = cfg.null_literal.as_ref().is_none_or(|n| n.is_empty());
        let header_pending = cfg.header;
        let columns = Columns::new(schema)?;
        Ok(CsvDecoder { cfg, columns, line: 1, header_pending, scratch: vec![], stop, empty_text_is_null })
    }

    fn append_field(&mut self, col: usize, field: &[u8], quoted: bool, scratch: bool) -> Result<(), String> {
        let field = if scratch { &self.scratch[..] } else { field };
        let c = &mut self.columns.cols[col];
        if !quoted {
            if let Some(n) = &self.cfg.null_literal {
                if !n.is_empty() && field == &n[..] {
                    return c.append_null();
                }
            }
        }
        if field.is_empty() && !(c.is_text() && (quoted || !self.empty_text_is_null)) {
            return c.append_null();
        }
        c.append_text(field)
    }

    /// Parses one record starting at `start` (not a blank or comment line).
    fn parse_record(&mut self, buf: &[u8], start: usize, eof: bool) -> Parsed {
        let n = buf.len();
        let ncols = self.columns.cols.len();
        let (mut i, mut col, mut newlines) = (start, 0usize, 0u64);
        let mut err: Option<String> = None;
        loop {
            let (fs, fe, quoted, escaped);
            let mut next = None; // offset after the delimiter, or None at record end
            if self.cfg.quote.is_some_and(|q| i < n && buf[i] == q) {
                let q = buf[i];
                let mut j = i + 1;
                let mut esc = false;
                let close = loop {
                    match buf[j..].iter().position(|&b| b == q) {
                        None => break None,
                        Some(k) if j + k + 1 < n && buf[j + k + 1] == q => {
                            esc = true;
                            j += k + 2;
                        }
                        Some(k) if j + k + 1 == n && !eof => return Parsed::Incomplete,
                        Some(k) => break Some(j + k),
                    }
                };
                let Some(k) = close else {
                    if !eof {
                        return Parsed::Incomplete;
                    }
                    let nl = buf[start..].iter().filter(|&&b| b == b'\n').count() as u64;
                    return Parsed::Bad(n, n - start, nl, "unterminated quoted field".into());
                };
                newlines += buf[i + 1..k].iter().filter(|&&b| b == b'\n').count() as u64;
                (fs, fe, quoted, escaped) = (i + 1, k, true, esc);
                let a = k + 1;
                match buf.get(a) {
                    None if !eof => return Parsed::Incomplete,
                    None => i = n,
                    Some(&b) if b == self.cfg.delimiter => next = Some(a + 1),
                    Some(b'\n') => i = a + 1,
                    Some(b'\r') if buf.get(a + 1) == Some(&b'\n') => i = a + 2,
                    Some(b'\r') if a + 1 == n && !eof => return Parsed::Incomplete,
                    Some(_) => {
                        // Garbage after a closing quote: the record ends at the next newline.
                        let Some(p) = buf[a..].iter().position(|&b| b == b'\n') else {
                            if !eof {
                                return Parsed::Incomplete;
                            }
                            return Parsed::Bad(n, n - start, newlines, "unexpected text after a closing quote".into());
                        };
                        let end = a + p;
                        let raw_len = end - start - usize::from(buf[..end].ends_with(b"\r"));
                        return Parsed::Bad(
                            end + 1,
                            raw_len,
                            newlines + 1,
                            "unexpected text after a closing quote".into(),
                        );
                    }
                }
                if next.is_none() && i > a {
                    newlines += 1;
                }
            } else {
                let mut j = i;
                while j < n && !self.stop[buf[j] as usize] {
                    j += 1;
                }
                if j == n && !eof {
                    return Parsed::Incomplete;
                }
                (fs, quoted, escaped) = (i, false, false);
                if j < n && buf[j] == self.cfg.delimiter {
                    fe = j;
                    next = Some(j + 1);
                } else {
                    fe = if j > i && buf[j - 1] == b'\r' { j - 1 } else { j };
                    if j < n {
                        newlines += 1;
                    }
                    i = (j + 1).min(n);
                }
            }
            if col < ncols && err.is_none() {
                if escaped {
                    let q = buf[fs - 1];
                    self.scratch.clear();
                    let mut p = fs;
                    while p < fe {
                        self.scratch.push(buf[p]);
                        p += if buf[p] == q { 2 } else { 1 };
                    }
                }
                if let Err(e) = self.append_field(col, &buf[fs..fe], quoted, escaped) {
                    err = Some(e);
                }
            }
            col += 1;
            match next {
                Some(p) => i = p,
                None => break,
            }
        }
        let raw_len = {
            let mut e = i;
            if e > start && buf[e - 1] == b'\n' {
                e -= 1;
                if e > start && buf[e - 1] == b'\r' {
                    e -= 1;
                }
            }
            e - start
        };
        if err.is_none() && col != ncols {
            err = Some(format!("expected {ncols} fields, found {col}"));
        }
        match err {
            Some(e) => {
                self.columns.rollback_row();
                Parsed::Bad(i, raw_len, newlines, e)
            }
            None => Parsed::Ok(i, newlines),
        }
    }
}

impl RecordDecoder for CsvDecoder {
    fn start_file(&mut self) {
        self.line = 1;
        self.header_pending = self.cfg.header;
    }

    fn resume_file(&mut self, line: u64, header_pending: bool) {
        self.line = line;
        self.header_pending = header_pending && self.cfg.header;
    }

    fn position(&self) -> (u64, bool) {
        (self.line, self.header_pending)
    }

    fn decode(&mut self, buf: &[u8], eof: bool, max_rows: usize, stop_on_bad: bool, bad: &mut Vec<BadRow>) -> usize {
        let mut pos = 0;
        while pos < buf.len() && self.columns.rows() < max_rows.max(1) {
            let b = buf[pos];
            let blank = b == b'\n' || (b == b'\r' && buf.get(pos + 1) == Some(&b'\n'));
            if blank || (self.cfg.allow_comments && b == b'#') {
                match buf[pos..].iter().position(|&b| b == b'\n') {
                    Some(p) => pos += p + 1,
                    None if eof => pos = buf.len(),
                    None => break,
                }
                self.line += 1;
                continue;
            }
            let line = self.line;
            match self.parse_record(buf, pos, eof) {
                Parsed::Incomplete => {
                    self.columns.rollback_row();
                    if buf.len() - pos <= MAX_RECORD_BYTES {
                        break;
                    }
                    // Too long to be a record: report the first physical line and go on.
                    let end = buf[pos..].iter().position(|&b| b == b'\n').map_or(buf.len(), |p| pos + p + 1);
                    let raw = buf[pos..end.min(pos + 1024)].to_vec();
                    bad.push(BadRow { line, reason: "record too long (unterminated quote?)".into(), raw });
                    pos = end;
                    self.line += 1;
                    if stop_on_bad {
                        break;
                    }
                }
                Parsed::Ok(end, nl) => {
                    pos = end;
                    self.line += nl;
                    if self.header_pending {
                        self.header_pending = false;
                        self.columns.rollback_row();
                    } else {
                        self.columns.commit_row();
                    }
                }
                Parsed::Bad(end, raw_len, nl, reason) => {
                    self.columns.rollback_row();
                    let raw = buf[pos..pos + raw_len].to_vec();
                    pos = end;
                    self.line += nl;
                    if std::mem::take(&mut self.header_pending) {
                        continue;
                    }
                    bad.push(BadRow { line, reason, raw });
                    if stop_on_bad {
                        break;
                    }
                }
            }
        }
        pos
    }

    fn buffered_rows(&self) -> usize {
        self.columns.rows()
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        self.columns.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::arrow::util::display::array_value_to_string;
    use std::sync::Arc;

    fn schema(cols: &[(&str, DataType)]) -> SchemaRef {
        Arc::new(Schema::new(cols.iter().map(|(n, t)| Field::new(*n, t.clone(), true)).collect::<Vec<_>>()))
    }

    fn run(s: &SchemaRef, cfg: CsvConfig, input: &[u8]) -> (RecordBatch, Vec<BadRow>) {
        let mut d = CsvDecoder::new(s, cfg).unwrap();
        let mut bad = vec![];
        let mut pos = 0;
        // Feed byte by byte to exercise incomplete-record handling, then finish at eof.
        let step = if input.len() > 4096 { input.len() } else { 1 };
        for end in (1..=input.len()).step_by(step) {
            pos += d.decode(&input[pos..end], false, usize::MAX, false, &mut bad);
        }
        pos += d.decode(&input[pos..], true, usize::MAX, false, &mut bad);
        assert_eq!(pos, input.len());
        (d.finish().unwrap(), bad)
    }

    fn cells(b: &RecordBatch) -> Vec<Vec<String>> {
        (0..b.num_rows())
            .map(|r| {
                b.columns()
                    .iter()
                    .map(|c| if c.is_null(r) { "NULL".into() } else { array_value_to_string(c, r).unwrap() })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_type() {
        let s = schema(&[
            ("a", DataType::Int8),
            ("b", DataType::Int16),
            ("c", DataType::Int32),
            ("d", DataType::Int64),
            ("e", DataType::UInt8),
            ("f", DataType::UInt16),
            ("g", DataType::UInt32),
            ("h", DataType::UInt64),
            ("i", DataType::Float32),
            ("j", DataType::Float64),
            ("k", DataType::Boolean),
            ("l", DataType::Utf8),
            ("m", DataType::LargeUtf8),
            ("n", DataType::Decimal128(10, 2)),
            ("o", DataType::Date32),
            ("p", DataType::Timestamp(TimeUnit::Millisecond, None)),
            ("q", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))),
            ("r", DataType::Binary),
        ]);
        let input = b"-1,-2,-3,-4,1,2,3,4,1.5,-2.25,True,x,y,12.34,2024-02-29,2024-01-01 00:00:01.196,2024-01-01T02:00:00.5+02:00,zz\r\n\
                      ,,,,,,,,,,,,,,,,,\n";
        let (b, bad) = run(&s, CsvConfig::default(), input);
        assert!(bad.is_empty(), "{bad:?}");
        let c = cells(&b);
        assert_eq!(
            c[0].join("|"),
            "-1|-2|-3|-4|1|2|3|4|1.5|-2.25|true|x|y|12.34|2024-02-29|2024-01-01T00:00:01.196|2024-01-01T00:00:00.500Z|7a7a"
        );
        assert!(c[1].iter().all(|v| v == "NULL"), "{:?}", c[1]);
    }

    #[test]
    fn quoting_header_comments_and_nulls() {
        let s = schema(&[("id", DataType::Int64), ("name", DataType::Utf8)]);
        let cfg =
            CsvConfig { header: true, allow_comments: true, null_literal: Some(b"N/A".to_vec()), ..Default::default() };
        let input =
            b"id,name\n# a comment\n1,\"a,b\"\n\n2,\"say \"\"hi\"\"\"\n3,\"two\nlines\"\n4,N/A\n5,\n6,\"\"\n7,last";
        let (b, bad) = run(&s, cfg, input);
        assert!(bad.is_empty(), "{bad:?}");
        let names: Vec<String> = cells(&b).into_iter().map(|r| r[1].clone()).collect();
        assert_eq!(names, ["a,b", "say \"hi\"", "two\nlines", "NULL", "", "", "last"]);
    }

    #[test]
    fn tab_delimiter_and_no_quote() {
        let s = schema(&[("a", DataType::Utf8), ("b", DataType::Int32)]);
        let cfg = CsvConfig { delimiter: b'\t', quote: None, ..Default::default() };
        let (b, bad) = run(&s, cfg, b"\"x\t1\n");
        assert!(bad.is_empty());
        assert_eq!(cells(&b), [["\"x", "1"]]);
    }

    #[test]
    fn bad_rows_have_lines_and_reasons() {
        let s = schema(&[("a", DataType::Int64), ("ts", DataType::Timestamp(TimeUnit::Millisecond, None))]);
        let input = b"1,2024-01-01 00:00:00\n\"x\ny\",1\n2,yesterday\n3\n4,2024-01-01\n5,\"unterminated\n";
        let (b, bad) = run(&s, CsvConfig::default(), input);
        assert_eq!(b.num_rows(), 2);
        let got: Vec<(u64, &str)> = bad.iter().map(|b| (b.line, b.reason.as_str())).collect();
        assert_eq!(
            got,
            [
                (2, "column 'a': cannot parse 'x\ny' as BIGINT"),
                (4, "column 'ts': cannot parse 'yesterday' as TIMESTAMP(3)"),
                (5, "expected 2 fields, found 1"),
                (7, "unterminated quoted field"),
            ]
        );
        assert_eq!(bad[1].raw, b"2,yesterday");
    }

    #[test]
    fn garbage_never_panics() {
        const ALPHA: &[u8] = b"a1,\"\n\r\xff\xc3#  -9";
        let s = schema(&[
            ("a", DataType::Int32),
            ("b", DataType::Utf8),
            ("c", DataType::Timestamp(TimeUnit::Second, None)),
        ]);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..300 {
            let len = (round * 7) % 200;
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    ALPHA[(seed % ALPHA.len() as u64) as usize]
                })
                .collect();
            let cfg = CsvConfig { allow_comments: round % 2 == 0, header: round % 3 == 0, ..Default::default() };
            let (b, bad) = run(&s, cfg, &input);
            assert!(b.num_rows() + bad.len() <= input.len() + 1);
        }
        let huge = [b"1,".to_vec(), vec![b'x'; 1 << 20], b",2024-01-01\n".to_vec()].concat();
        assert_eq!(run(&s, CsvConfig::default(), &huge).0.num_rows(), 1);
    }

    #[test]
    fn stops_at_max_rows_and_on_bad() {
        let s = schema(&[("a", DataType::Int32)]);
        let mut d = CsvDecoder::new(&s, CsvConfig::default()).unwrap();
        let mut bad = vec![];
        let input = b"1\n2\nx\n3\n";
        let n = d.decode(input, true, 1, true, &mut bad);
        assert_eq!((n, d.buffered_rows()), (2, 1));
        let n2 = d.decode(&input[n..], true, 10, true, &mut bad);
        assert_eq!((n + n2, d.buffered_rows(), bad.len()), (6, 2, 1));
        assert_eq!(bad[0].line, 3);
    }
}
