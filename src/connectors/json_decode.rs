//! JSON lines → Arrow decoding. Each non-blank line is one object; keys map to columns by
//! name (exact match first, then ASCII case-insensitive); missing keys are NULL, extra keys
//! are ignored, and for a repeated key the first value wins.
//!
//! Values are deserialised straight into the column builders (no intermediate
//! `serde_json::Value` except for nested objects/arrays stored in string columns).

use std::fmt;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::column_builder::{BadRow, ColumnBuilder, Columns, RecordDecoder, MAX_RECORD_BYTES};
use crate::error::Result;

/// JSON format settings (Flink's `json.*` options).
#[derive(Debug, Clone, Default)]
pub struct JsonConfig {
    /// A missing key is a bad row instead of NULL (`json.fail-on-missing-field`).
    pub fail_on_missing_field: bool,
}

/// Decodes JSON lines into batches of a fixed schema; see [`RecordDecoder`].
pub struct JsonDecoder {
    cfg: JsonConfig,
    columns: Columns,
    names: Vec<String>,
    seen: Vec<bool>,
    line: u64,
}

impl JsonDecoder {
    /// A decoder producing batches of `schema`; a SQL error if a column type is unsupported.
    pub fn new(schema: &SchemaRef, cfg: JsonConfig) -> Result<Self> {
        let names = schema.fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>();
        let seen = vec![false; names.len()];
        Ok(JsonDecoder { cfg, columns: Columns::new(schema)?, names, seen, line: 1 })
    }

    /// Decodes one line into the pending row; on error the row is rolled back.
    fn decode_line(&mut self, line: &[u8]) -> Result<(), String> {
        self.seen.iter_mut().for_each(|s| *s = false);
        let mut reason = None;
        let mut de = serde_json::Deserializer::from_slice(line);
        let seed =
            RowSeed { names: &self.names, cols: &mut self.columns.cols, seen: &mut self.seen, reason: &mut reason };
        let res = seed.deserialize(&mut de).and_then(|_| de.end());
        let res = match (res, reason) {
            (_, Some(r)) => Err(r),
            (Err(e), None) => Err(format!("invalid JSON: {e}")),
            (Ok(()), None) => self.fill_missing(),
        };
        if res.is_err() {
            self.columns.rollback_row();
        }
        res
    }

    fn fill_missing(&mut self) -> Result<(), String> {
        for (i, c) in self.columns.cols.iter_mut().enumerate() {
            if !self.seen[i] {
                if self.cfg.fail_on_missing_field {
                    return Err(format!("column '{}': missing field", self.names[i]));
                }
                c.append_null()?;
            }
        }
        Ok(())
    }
}

impl RecordDecoder for JsonDecoder {
    fn start_file(&mut self) {
        self.line = 1;
    }

    fn resume_file(&mut self, line: u64, _header_pending: bool) {
        self.line = line;
    }

    fn position(&self) -> (u64, bool) {
        (self.line, false)
    }

    fn decode(&mut self, buf: &[u8], eof: bool, max_rows: usize, stop_on_bad: bool, bad: &mut Vec<BadRow>) -> usize {
        let mut pos = 0;
        while pos < buf.len() && self.columns.rows() < max_rows.max(1) {
            let (end, next) = match buf[pos..].iter().position(|&b| b == b'\n') {
                Some(p) => (pos + p, pos + p + 1),
                None if eof || buf.len() - pos > MAX_RECORD_BYTES => (buf.len(), buf.len()),
                None => break,
            };
            let line_no = self.line;
            self.line += 1;
            let raw = &buf[pos..end];
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            pos = next;
            if line.trim_ascii().is_empty() {
                continue;
            }
            match self.decode_line(line) {
                Ok(()) => self.columns.commit_row(),
                Err(reason) => {
                    bad.push(BadRow { line: line_no, reason, raw: line.to_vec() });
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

/// Deserialises one JSON object into the column builders.
struct RowSeed<'a> {
    names: &'a [String],
    cols: &'a mut [ColumnBuilder],
    seen: &'a mut [bool],
    reason: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(idx) = map.next_key_seed(KeySeed(self.names))? {
            match idx {
                Some(i) if !self.seen[i] => {
                    self.seen[i] = true;
                    map.next_value_seed(ValueSeed { col: &mut self.cols[i], reason: self.reason })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Maps a key to its column index without allocating.
struct KeySeed<'a>(&'a [String]);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, k: &str) -> Result<Option<usize>, E> {
        let exact = self.0.iter().position(|n| n == k);
        Ok(exact.or_else(|| self.0.iter().position(|n| n.eq_ignore_ascii_case(k))))
    }
}

/// Appends one JSON value to a column; the reason of a failure goes to `reason`.
struct ValueSeed<'a> {
    col: &'a mut ColumnBuilder,
    reason: &'a mut Option<String>,
}

impl ValueSeed<'_> {
    fn done<E: de::Error>(self, r: Result<(), String>) -> Result<(), E> {
        r.map_err(|e| {
            *self.reason = Some(e);
            E::custom("bad value")
        })
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        let r = self.col.append_null();
        self.done(r)
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        let r = self.col.append_bool(v);
        self.done(r)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        let r = self.col.append_i64(v);
        self.done(r)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        let r = match i64::try_from(v) {
            Ok(v) => self.col.append_i64(v),
            Err(_) => self.col.append_text(v.to_string().as_bytes()),
        };
        self.done(r)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        let r = self.col.append_f64(v);
        self.done(r)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let r = if v.is_empty() && !self.col.is_text() {
            self.col.append_null()
        } else {
            self.col.append_text(v.as_bytes())
        };
        self.done(r)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        self.nested(v)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        self.nested(v)
    }
}

impl ValueSeed<'_> {
    /// Nested objects and arrays are kept as JSON text in string columns.
    fn nested<E: de::Error>(self, v: serde_json::Value) -> Result<(), E> {
        let r = if self.col.is_text() {
            self.col.append_text(v.to_string().as_bytes())
        } else {
            Err(self.col.cannot("convert a nested JSON value"))
        };
        self.done(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::arrow::util::display::array_value_to_string;
    use std::sync::Arc;

    fn run(s: &SchemaRef, cfg: JsonConfig, input: &[u8]) -> (Vec<String>, Vec<BadRow>) {
        let mut d = JsonDecoder::new(s, cfg).unwrap();
        let mut bad = vec![];
        let mut pos = 0;
        for end in 1..=input.len() {
            pos += d.decode(&input[pos..end], false, usize::MAX, false, &mut bad);
        }
        pos += d.decode(&input[pos..], true, usize::MAX, false, &mut bad);
        assert_eq!(pos, input.len());
        let b = d.finish().unwrap();
        let rows = (0..b.num_rows())
            .map(|r| {
                let v: Vec<String> = b
                    .columns()
                    .iter()
                    .map(|c| if c.is_null(r) { "NULL".into() } else { array_value_to_string(c, r).unwrap() })
                    .collect();
                v.join("|")
            })
            .collect();
        (rows, bad)
    }

    fn schema(cols: &[(&str, DataType)]) -> SchemaRef {
        Arc::new(Schema::new(cols.iter().map(|(n, t)| Field::new(*n, t.clone(), true)).collect::<Vec<_>>()))
    }

    #[test]
    fn every_type_by_name() {
        let s = schema(&[
            ("i8", DataType::Int8),
            ("i64", DataType::Int64),
            ("u16", DataType::UInt16),
            ("u64", DataType::UInt64),
            ("f32", DataType::Float32),
            ("f64", DataType::Float64),
            ("b", DataType::Boolean),
            ("s", DataType::Utf8),
            ("d", DataType::Decimal128(8, 3)),
            ("day", DataType::Date32),
            ("ts", DataType::Timestamp(TimeUnit::Millisecond, None)),
            ("tz", DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into()))),
        ]);
        let input = br#"{"extra":[1,{"x":2}],"ts":"2024-01-01 00:00:01.196","i8":-8,"i64":"42","u16":7,"u64":18446744073709551615,"f32":1.5,"f64":2,"b":true,"s":"h\u00e9\"","d":1.2345,"day":"2024-03-01","tz":"2024-01-01T00:00:01.196Z"}
{"I8":null,"s":{"k":[1,2]},"ts":1704067201196,"b":"FALSE"}
{}
"#;
        let (rows, bad) = run(&s, JsonConfig::default(), input);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(
            rows[0],
            "-8|42|7|18446744073709551615|1.5|2.0|true|hé\"|1.235|2024-03-01|2024-01-01T00:00:01.196|2024-01-01T00:00:01.196Z"
        );
        assert_eq!(rows[1], "NULL|NULL|NULL|NULL|NULL|NULL|false|{\"k\":[1,2]}|NULL|NULL|2024-01-01T00:00:01.196|NULL");
        assert!(rows[2].split('|').all(|v| v == "NULL"));
    }

    #[test]
    fn bad_lines_are_reported() {
        let s = schema(&[("n", DataType::Int32), ("ts", DataType::Timestamp(TimeUnit::Millisecond, None))]);
        let input = b"{\"n\":1}\n[1]\n{\"n\":\"x\"}\n\n{\"n\":1,\"ts\":\"yesterday\"}\n{\"n\":\n{\"n\":300000000000}\n{\"n\":2} x\n\xff\xfe\n";
        let (rows, bad) = run(&s, JsonConfig::default(), input);
        assert_eq!(rows, ["1|NULL"]);
        let got: Vec<(u64, String)> = bad.iter().map(|b| (b.line, b.reason.clone())).collect();
        assert_eq!(got[0].0, 2);
        assert!(got[0].1.starts_with("invalid JSON"), "{got:?}");
        assert_eq!(got[1], (3, "column 'n': cannot parse 'x' as INT".to_string()));
        assert_eq!(got[2], (5, "column 'ts': cannot parse 'yesterday' as TIMESTAMP(3)".to_string()));
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [2, 3, 5, 6, 7, 8, 9]);
        assert_eq!(bad[2].raw, b"{\"n\":1,\"ts\":\"yesterday\"}");
    }

    #[test]
    fn missing_field_can_fail() {
        let s = schema(&[("a", DataType::Int32), ("b", DataType::Utf8)]);
        let (rows, bad) = run(&s, JsonConfig { fail_on_missing_field: true }, b"{\"a\":1}\n{\"a\":2,\"b\":\"x\"}");
        assert_eq!(rows, ["2|x"]);
        assert_eq!(bad[0].reason, "column 'b': missing field");
    }

    #[test]
    fn garbage_never_panics() {
        const ALPHA: &[u8] = b"{}[]\":,ab1\n\\\xff -e.";
        let s = schema(&[("a", DataType::Int32), ("b", DataType::Utf8)]);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for round in 0..300 {
            let input: Vec<u8> = (0..(round % 120))
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    ALPHA[(seed % ALPHA.len() as u64) as usize]
                })
                .collect();
            let _ = run(&s, JsonConfig::default(), &input);
        }
    }
}
