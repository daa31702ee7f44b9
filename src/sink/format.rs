//! Output formats for changelog chunks: csv, JSON lines and a human-readable table.
//!
//! Arrays are downcast once per chunk and column; the values themselves are written by the
//! formatters in [`super::text`].

use std::str::FromStr;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::*;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use super::text::{
    push_csv_str, push_date, push_decimal, push_float, push_hex, push_i64, push_str, push_time, push_ts, push_u64,
    quote, Mode,
};
use crate::error::{Error, Result};
use crate::exec::chunk::{Chunk, RowOp};

/// How result rows are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for humans; header reprinted every page.
    Table,
    /// RFC 4180 csv (`\n` line ends), header `op,<columns>`.
    Csv,
    /// JSON lines, one object `{"op":"+I","col":value,..}` per row.
    Json,
}

impl OutputFormat {
    /// The lowercase name accepted by `FromStr` (`table`, `csv`, `json`).
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
        }
    }
}

impl std::fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutputFormat {
    type Err = Error;
    /// Parses `table` | `csv` | `json` (case-insensitive, surrounding blanks ignored).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            _ => Err(Error::sql(format!("unknown output format '{s}': expected one of table, csv, json"))),
        }
    }
}

/// Default number of table rows between header reprints.
pub const DEFAULT_PAGE_ROWS: usize = 40;

/// The name of the changelog column for `schema`: `op`, or `__op` (more underscores if
/// needed) when the query has its own column named `op` (case-insensitive).
pub fn op_column_name(schema: &Schema) -> String {
    let mut name = "op".to_string();
    while schema.fields().iter().any(|f| f.name().eq_ignore_ascii_case(&name)) {
        name = format!("__{name}");
    }
    name
}

/// Renders chunks of one output schema in one [`OutputFormat`].
///
/// Contract: every chunk passed to [`RowWriter::write_chunk`] has the columns of the schema
/// given at construction (same count; types are taken from the chunk's arrays). Rows are
/// written in order, each terminated by `\n`. The writer is stateful only in table mode
/// (column widths fixed by the first non-empty chunk, page counter).
#[derive(Debug)]
pub struct RowWriter {
    format: OutputFormat,
    with_op: bool,
    delimiter: u8,
    page_rows: usize,
    /// Header names, op column first when `with_op`.
    names: Vec<String>,
    /// `"name":` for each data column (JSON).
    json_keys: Vec<Vec<u8>>,
    /// Per header column: right-aligned (numbers) in table mode.
    right: Vec<bool>,
    /// Per header column: minimum width from the name and type.
    min_widths: Vec<usize>,
    /// Fixed widths once the first non-empty chunk was seen (table mode).
    widths: Vec<usize>,
    rows_in_page: usize,
    cell: Vec<u8>,
    scratch: String,
}

impl RowWriter {
    /// A writer for rows of `schema` in `format`; `with_op` adds the changelog column first.
    pub fn new(schema: SchemaRef, format: OutputFormat, with_op: bool) -> Self {
        let mut names = Vec::new();
        let (mut right, mut min_widths) = (Vec::new(), Vec::new());
        if with_op {
            let op = op_column_name(&schema);
            min_widths.push(op.chars().count().max(2));
            right.push(false);
            names.push(op);
        }
        let mut json_keys = Vec::new();
        for f in schema.fields() {
            names.push(f.name().clone());
            right.push(f.data_type().is_numeric());
            min_widths.push(f.name().chars().count().max(type_min_width(f.data_type())));
            let mut key = serde_json::to_vec(f.name()).unwrap_or_default();
            key.push(b':');
            json_keys.push(key);
        }
        RowWriter {
            format,
            with_op,
            delimiter: b',',
            page_rows: DEFAULT_PAGE_ROWS,
            names,
            json_keys,
            right,
            min_widths,
            widths: Vec::new(),
            rows_in_page: 0,
            cell: Vec::new(),
            scratch: String::new(),
        }
    }

    /// Sets the csv field delimiter (default `,`); it must be one ASCII byte other than `"`,
    /// CR or LF (checked by the caller, see [`parse_delimiter`]).
    pub fn with_delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// Sets the table page length: the header is reprinted every `rows` rows (0 = only once).
    pub fn with_page_rows(mut self, rows: usize) -> Self {
        self.page_rows = rows;
        self
    }

    /// The format this writer renders.
    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// The one-time header, with its trailing newline: the csv header line for csv, `None`
    /// for json and table (table mode writes its own headers inside `write_chunk`, as their
    /// widths depend on the data and they repeat every page). Callers decide whether to use it.
    pub fn header(&self) -> Option<String> {
        if self.format != OutputFormat::Csv {
            return None;
        }
        let mut out = Vec::new();
        for (j, name) in self.names.iter().enumerate() {
            if j > 0 {
                out.push(self.delimiter);
            }
            push_csv_str(&mut out, name.as_bytes(), self.delimiter);
        }
        out.push(b'\n');
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    /// Appends the rows of `chunk` to `out`. Fails (internal error) if the chunk's column
    /// count differs from the schema or its op column is shorter than the batch.
    pub fn write_chunk(&mut self, chunk: &Chunk, out: &mut Vec<u8>) -> Result<()> {
        let n = chunk.num_rows();
        let ncols = self.names.len() - usize::from(self.with_op);
        if chunk.batch.num_columns() != ncols {
            return Err(Error::internal(format!("sink expected {ncols} columns, got {}", chunk.batch.num_columns())));
        }
        let ops: Option<&[i8]> = chunk.ops.as_ref().map(|o| &o.values()[..]);
        if ops.is_some_and(|o| o.len() < n) {
            return Err(Error::internal("chunk op column is shorter than its batch"));
        }
        let arrays = chunk.batch.columns().iter().map(unpack).collect::<Result<Vec<_>>>()?;
        let cols = arrays.iter().map(Col::new).collect::<Result<Vec<_>>>()?;
        let op = |i: usize| ops.map_or(RowOp::Insert, |o| RowOp::from_i8(o[i])).as_str().as_bytes();
        let scratch = &mut self.scratch;
        match self.format {
            OutputFormat::Csv => {
                let d = self.delimiter;
                out.reserve(n * (4 + 8 * cols.len()));
                for i in 0..n {
                    if self.with_op {
                        out.extend_from_slice(op(i));
                    }
                    for (j, c) in cols.iter().enumerate() {
                        if j > 0 || self.with_op {
                            out.push(d);
                        }
                        if !c.is_null(i) {
                            c.write(i, Mode::Csv(d), out, scratch);
                        }
                    }
                    out.push(b'\n');
                }
            }
            OutputFormat::Json => {
                out.reserve(n * (12 + 16 * cols.len()));
                for i in 0..n {
                    out.push(b'{');
                    if self.with_op {
                        serde_json::to_writer(&mut *out, &self.names[0]).map_err(json_err)?;
                        out.extend_from_slice(b":\"");
                        out.extend_from_slice(op(i));
                        out.push(b'"');
                    }
                    for (j, c) in cols.iter().enumerate() {
                        if j > 0 || self.with_op {
                            out.push(b',');
                        }
                        out.extend_from_slice(&self.json_keys[j]);
                        if c.is_null(i) {
                            out.extend_from_slice(b"null");
                        } else {
                            c.write(i, Mode::Json, out, scratch);
                        }
                    }
                    out.extend_from_slice(b"}\n");
                }
            }
            OutputFormat::Table => self.write_table(&cols, &op, n, out),
        }
        Ok(())
    }

    fn write_table(&mut self, cols: &[Col<'_>], op: &dyn Fn(usize) -> &'static [u8], n: usize, out: &mut Vec<u8>) {
        if n == 0 {
            return;
        }
        let off = usize::from(self.with_op);
        if self.widths.is_empty() {
            let mut w = self.min_widths.clone();
            for (j, c) in cols.iter().enumerate() {
                for i in 0..n {
                    self.cell.clear();
                    c.write_table_cell(i, &mut self.cell, &mut self.scratch);
                    w[j + off] = w[j + off].max(display_width(&self.cell));
                }
            }
            self.widths = w;
        }
        let last = self.names.len().saturating_sub(1);
        for i in 0..n {
            if self.rows_in_page == 0 {
                self.push_table_header(out);
            }
            self.rows_in_page += 1;
            if self.page_rows > 0 && self.rows_in_page >= self.page_rows {
                self.rows_in_page = 0;
            }
            for k in 0..self.names.len() {
                self.cell.clear();
                if k < off {
                    self.cell.extend_from_slice(op(i));
                } else {
                    out.extend_from_slice(if k > 0 { b" | " } else { b"" });
                    cols[k - off].write_table_cell(i, &mut self.cell, &mut self.scratch);
                }
                let pad = self.widths[k].saturating_sub(display_width(&self.cell));
                if self.right[k] {
                    out.resize(out.len() + pad, b' ');
                    out.extend_from_slice(&self.cell);
                } else {
                    out.extend_from_slice(&self.cell);
                    if k < last {
                        out.resize(out.len() + pad, b' ');
                    }
                }
            }
            out.push(b'\n');
        }
    }

    fn push_table_header(&self, out: &mut Vec<u8>) {
        let last = self.names.len().saturating_sub(1);
        for (k, name) in self.names.iter().enumerate() {
            if k > 0 {
                out.extend_from_slice(b" | ");
            }
            let pad = self.widths[k].saturating_sub(name.chars().count());
            if self.right[k] {
                out.resize(out.len() + pad, b' ');
            }
            out.extend_from_slice(name.as_bytes());
            if !self.right[k] && k < last {
                out.resize(out.len() + pad, b' ');
            }
        }
        out.push(b'\n');
        for (k, w) in self.widths.iter().enumerate() {
            out.extend_from_slice(if k > 0 { b"-+-" } else { b"" });
            out.resize(out.len() + w, b'-');
        }
        out.push(b'\n');
    }
}

/// Parses a csv delimiter option value: one ASCII character, or `\t` for tab.
pub fn parse_delimiter(key: &str, value: &str) -> Result<u8> {
    let b = match value.as_bytes() {
        [b'\\', b't'] => b'\t',
        [b] if b.is_ascii() && !matches!(b, b'"' | b'\r' | b'\n') => *b,
        _ => return Err(Error::sql(format!("option '{key}': expected one ASCII character, got '{value}'"))),
    };
    Ok(b)
}

fn json_err(e: serde_json::Error) -> Error {
    Error::internal(format!("json encoding: {e}"))
}

/// Dictionary and run-end encoded columns are decoded to their value type once per chunk.
fn unpack(a: &ArrayRef) -> Result<ArrayRef> {
    Ok(match a.data_type() {
        DataType::Dictionary(_, v) => cast(a, v)?,
        DataType::RunEndEncoded(_, v) => cast(a, v.data_type())?,
        _ => a.clone(),
    })
}

fn type_min_width(dt: &DataType) -> usize {
    match dt {
        DataType::Timestamp(TimeUnit::Second | TimeUnit::Millisecond, _) => 23,
        DataType::Timestamp(TimeUnit::Microsecond, _) => 26,
        DataType::Timestamp(TimeUnit::Nanosecond, _) => 29,
        DataType::Date32 | DataType::Date64 => 10,
        DataType::Time32(TimeUnit::Second) => 8,
        DataType::Time32(_) => 12,
        DataType::Time64(TimeUnit::Microsecond) => 15,
        DataType::Time64(_) => 18,
        DataType::Boolean => 5,
        _ => 4, // fits NULL
    }
}

/// Display width: number of chars (UTF-8 non-continuation bytes).
fn display_width(s: &[u8]) -> usize {
    s.iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

type F16Array = datafusion::arrow::array::PrimitiveArray<Float16Type>;

/// One column of a chunk, downcast once.
enum Kind<'a> {
    Null,
    Bool(&'a datafusion::arrow::array::BooleanArray),
    I(&'a [i64]),
    I32(&'a [i32]),
    I16(&'a [i16]),
    I8(&'a [i8]),
    U(&'a [u64]),
    U32(&'a [u32]),
    U16(&'a [u16]),
    U8(&'a [u8]),
    F64(&'a [f64]),
    F32(&'a [f32]),
    F16(&'a F16Array),
    Str(&'a datafusion::arrow::array::StringArray),
    LargeStr(&'a datafusion::arrow::array::LargeStringArray),
    StrView(&'a datafusion::arrow::array::StringViewArray),
    Bin(&'a datafusion::arrow::array::BinaryArray),
    LargeBin(&'a datafusion::arrow::array::LargeBinaryArray),
    BinView(&'a datafusion::arrow::array::BinaryViewArray),
    FixedBin(&'a datafusion::arrow::array::FixedSizeBinaryArray),
    Date32(&'a [i32]),
    Date64(&'a [i64]),
    Ts(&'a [i64], TimeUnit),
    Time32(&'a [i32], TimeUnit),
    Time64(&'a [i64], TimeUnit),
    Dec(&'a [i128], i8),
    /// Anything else through arrow's display; `true` = a number in JSON.
    Other(ArrayFormatter<'a>, bool),
}

struct Col<'a> {
    nulls: Option<NullBuffer>,
    kind: Kind<'a>,
}

impl<'a> Col<'a> {
    fn new(a: &'a ArrayRef) -> Result<Col<'a>> {
        use DataType as D;
        let kind = match a.data_type() {
            D::Null => Kind::Null,
            D::Boolean => Kind::Bool(a.as_boolean()),
            D::Int64 => Kind::I(a.as_primitive::<Int64Type>().values()),
            D::Int32 => Kind::I32(a.as_primitive::<Int32Type>().values()),
            D::Int16 => Kind::I16(a.as_primitive::<Int16Type>().values()),
            D::Int8 => Kind::I8(a.as_primitive::<Int8Type>().values()),
            D::UInt64 => Kind::U(a.as_primitive::<UInt64Type>().values()),
            D::UInt32 => Kind::U32(a.as_primitive::<UInt32Type>().values()),
            D::UInt16 => Kind::U16(a.as_primitive::<UInt16Type>().values()),
            D::UInt8 => Kind::U8(a.as_primitive::<UInt8Type>().values()),
            D::Float64 => Kind::F64(a.as_primitive::<Float64Type>().values()),
            D::Float32 => Kind::F32(a.as_primitive::<Float32Type>().values()),
            D::Float16 => Kind::F16(a.as_primitive::<Float16Type>()),
            D::Utf8 => Kind::Str(a.as_string::<i32>()),
            D::LargeUtf8 => Kind::LargeStr(a.as_string::<i64>()),
            D::Utf8View => Kind::StrView(a.as_string_view()),
            D::Binary => Kind::Bin(a.as_binary::<i32>()),
            D::LargeBinary => Kind::LargeBin(a.as_binary::<i64>()),
            D::BinaryView => Kind::BinView(a.as_binary_view()),
            D::FixedSizeBinary(_) => Kind::FixedBin(a.as_fixed_size_binary()),
            D::Date32 => Kind::Date32(a.as_primitive::<Date32Type>().values()),
            D::Date64 => Kind::Date64(a.as_primitive::<Date64Type>().values()),
            D::Timestamp(u, _) => Kind::Ts(ts_values(a, *u), *u),
            D::Time32(u) => match u {
                TimeUnit::Second => Kind::Time32(a.as_primitive::<Time32SecondType>().values(), *u),
                _ => Kind::Time32(a.as_primitive::<Time32MillisecondType>().values(), TimeUnit::Millisecond),
            },
            D::Time64(u) => match u {
                TimeUnit::Nanosecond => Kind::Time64(a.as_primitive::<Time64NanosecondType>().values(), *u),
                _ => Kind::Time64(a.as_primitive::<Time64MicrosecondType>().values(), TimeUnit::Microsecond),
            },
            D::Decimal128(_, s) => Kind::Dec(a.as_primitive::<Decimal128Type>().values(), *s),
            dt => {
                let numeric = dt.is_numeric();
                Kind::Other(ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())?, numeric)
            }
        };
        Ok(Col { nulls: a.logical_nulls(), kind })
    }

    fn is_null(&self, i: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.is_null(i))
    }

    /// Writes non-null value `i` in `mode`.
    fn write(&self, i: usize, mode: Mode, out: &mut Vec<u8>, scratch: &mut String) {
        let quoted = matches!(mode, Mode::Json);
        match &self.kind {
            Kind::Null => {}
            Kind::Bool(a) => out.extend_from_slice(if a.value(i) { b"true" } else { b"false" }),
            Kind::I(v) => push_i64(out, v[i]),
            Kind::I32(v) => push_i64(out, v[i].into()),
            Kind::I16(v) => push_i64(out, v[i].into()),
            Kind::I8(v) => push_i64(out, v[i].into()),
            Kind::U(v) => push_u64(out, v[i]),
            Kind::U32(v) => push_u64(out, v[i].into()),
            Kind::U16(v) => push_u64(out, v[i].into()),
            Kind::U8(v) => push_u64(out, v[i].into()),
            Kind::F64(v) => push_float(out, v[i], v[i], mode),
            Kind::F32(v) => push_float(out, v[i], f64::from(v[i]), mode),
            Kind::F16(a) => push_float(out, a.value(i).to_f32(), f64::from(a.value(i).to_f32()), mode),
            Kind::Str(a) => push_str(out, a.value(i), mode),
            Kind::LargeStr(a) => push_str(out, a.value(i), mode),
            Kind::StrView(a) => push_str(out, a.value(i), mode),
            Kind::Bin(a) => push_hex(out, a.value(i), quoted),
            Kind::LargeBin(a) => push_hex(out, a.value(i), quoted),
            Kind::BinView(a) => push_hex(out, a.value(i), quoted),
            Kind::FixedBin(a) => push_hex(out, a.value(i), quoted),
            Kind::Date32(v) => quote(out, quoted, |o| push_date(o, v[i].into())),
            Kind::Date64(v) => quote(out, quoted, |o| push_date(o, v[i].div_euclid(86_400_000))),
            Kind::Ts(v, u) => quote(out, quoted, |o| push_ts(o, v[i], *u)),
            Kind::Time32(v, u) => quote(out, quoted, |o| push_time(o, v[i].into(), *u)),
            Kind::Time64(v, u) => quote(out, quoted, |o| push_time(o, v[i], *u)),
            Kind::Dec(v, s) => push_decimal(out, v[i], *s),
            Kind::Other(f, numeric) => {
                scratch.clear();
                let _ = std::fmt::Write::write_fmt(scratch, format_args!("{}", f.value(i)));
                if *numeric && quoted {
                    out.extend_from_slice(scratch.as_bytes());
                } else {
                    push_str(out, scratch, mode);
                }
            }
        }
    }

    fn write_table_cell(&self, i: usize, out: &mut Vec<u8>, scratch: &mut String) {
        if self.is_null(i) {
            out.extend_from_slice(b"NULL");
        } else {
            self.write(i, Mode::Table, out, scratch);
        }
    }
}

fn ts_values(a: &ArrayRef, u: TimeUnit) -> &[i64] {
    match u {
        TimeUnit::Second => a.as_primitive::<TimestampSecondType>().values(),
        TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().values(),
        TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().values(),
        TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().values(),
    }
}

/// Test helpers shared with the value formatting tests in `text.rs`.
#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::*;
    use datafusion::arrow::record_batch::RecordBatch;

    use super::*;

    pub(crate) fn chunk(cols: Vec<(&str, ArrayRef)>, ops: Option<Vec<RowOp>>) -> (SchemaRef, Chunk) {
        let batch = RecordBatch::try_from_iter(cols).unwrap();
        let ops = ops.map(|o| Arc::new(Int8Array::from(o.into_iter().map(|x| x as i8).collect::<Vec<_>>())));
        (batch.schema(), Chunk { batch, row_watermarks: None, ops })
    }

    pub(crate) fn render(schema: &SchemaRef, c: &Chunk, format: OutputFormat, with_op: bool) -> String {
        let mut w = RowWriter::new(schema.clone(), format, with_op);
        let mut out = w.header().unwrap_or_default().into_bytes();
        w.write_chunk(c, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn parses_format_names() {
        assert_eq!(" CSV ".parse::<OutputFormat>().unwrap(), OutputFormat::Csv);
        assert_eq!("table".parse::<OutputFormat>().unwrap(), OutputFormat::Table);
        let e = "xml".parse::<OutputFormat>().unwrap_err();
        assert!(e.message.contains("table, csv, json"), "{e}");
    }

    #[test]
    fn op_column_renamed_when_query_has_op() {
        let (schema, c) = chunk(vec![("OP", Arc::new(Int32Array::from(vec![7])) as ArrayRef)], None);
        assert_eq!(render(&schema, &c, OutputFormat::Csv, true), "__op,OP\n+I,7\n");
        assert_eq!(render(&schema, &c, OutputFormat::Json, true), "{\"__op\":\"+I\",\"OP\":7}\n");
    }

    #[test]
    fn changelog_ops() {
        let ops = vec![RowOp::Insert, RowOp::UpdateBefore, RowOp::UpdateAfter, RowOp::Delete];
        let (schema, c) = chunk(vec![("k", Arc::new(Int32Array::from(vec![1, 2, 3, 4])) as ArrayRef)], Some(ops));
        assert_eq!(render(&schema, &c, OutputFormat::Csv, true), "op,k\n+I,1\n-U,2\n+U,3\n-D,4\n");
        let json = render(&schema, &c, OutputFormat::Json, true);
        assert_eq!(json.lines().nth(3).unwrap(), r#"{"op":"-D","k":4}"#);
        let table = render(&schema, &c, OutputFormat::Table, true);
        assert_eq!(table.lines().nth(3).unwrap(), "-U |    2");
        // Without the op column, ops are not shown.
        assert_eq!(render(&schema, &c, OutputFormat::Csv, false), "k\n1\n2\n3\n4\n");
    }

    #[test]
    fn table_widths_and_header_reprint() {
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![Some(0), None, Some(1)]));
        let s: ArrayRef = Arc::new(StringArray::from(vec![Some("ab"), None, Some("x")]));
        let (schema, c) = chunk(vec![("ts", ts), ("name", s)], None);
        let mut w = RowWriter::new(schema.clone(), OutputFormat::Table, true).with_page_rows(2);
        assert_eq!(w.header(), None);
        let mut out = Vec::new();
        w.write_chunk(&c, &mut out).unwrap();
        let wide: ArrayRef = Arc::new(StringArray::from(vec!["much longer"]));
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![2]));
        let c2 = Chunk::inserts(RecordBatch::try_new(schema, vec![ts, wide]).unwrap());
        w.write_chunk(&c2, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let header = "op | ts                      | name\n---+-------------------------+-----\n";
        let want = format!(
            "{header}+I | 1970-01-01 00:00:00.000 | ab\n+I | NULL                    | NULL\n\
             {header}+I | 1970-01-01 00:00:00.001 | x\n+I | 1970-01-01 00:00:00.002 | much longer\n{header}"
        );
        assert_eq!(format!("{text}{header}"), want);
    }
}
