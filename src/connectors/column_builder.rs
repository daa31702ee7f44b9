//! The column builders the csv and json decoders append typed values to, and the decoder
//! interface they share ([`RecordDecoder`], [`BadRow`]).

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, LargeBinaryArray, LargeStringArray, PrimitiveArray, StringArray,
};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::*;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::value_parse::{
    parse_bool, parse_date, parse_decimal, parse_f64, parse_i64, parse_timestamp, parse_u64, show, sql_type_name,
    to_unit,
};
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
    /// Starts an input part-way, at a position [`RecordDecoder::position`] returned: the next
    /// record is on line `line`, and a header is still expected if `header_pending`.
    fn resume_file(&mut self, line: u64, header_pending: bool);
    /// The line number of the next record, and whether the header is still to come.
    fn position(&self) -> (u64, bool);
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
