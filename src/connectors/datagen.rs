//! Flink's `datagen` connector (`'connector' = 'datagen'`): random or sequential values for
//! every declared column, at a fixed rate, bounded or not.
//!
//! Numeric, boolean and string values come from a PRNG with a fixed seed per column (derived
//! from its name), so they are the same on every run; timestamps and dates follow the wall
//! clock, as in Flink.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int16Array, Int32Array,
    Int64Array, Int8Array, StringBuilder, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use tokio::time::Instant;

use crate::connectors::{Options, Source, SourceContext, SourceCounters, SourceEvent};
use crate::error::{Error, Result};

/// Per-column option suffixes (`'fields.<col>.<suffix>'`).
const FIELD_OPTIONS: [&str; 8] = ["kind", "min", "max", "length", "start", "end", "max-past", "null-rate"];
/// When rate-limited, the source waits for about this much of the stream before emitting.
const PACE_SECS: f64 = 0.05;
const MS_PER_DAY: i64 = 86_400_000;

/// SplitMix64, a small deterministic PRNG.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`; `n` may be up to 2^64.
    fn below(&mut self, n: u128) -> u128 {
        (u128::from(self.next_u64()) * n) >> 64
    }
    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// How a column's values are made.
enum Kind {
    /// Integers (and decimal mantissas) uniform in `[min, max]`.
    Int {
        min: i128,
        max: i128,
    },
    /// Floats uniform in `[min, max)`.
    Float {
        min: f64,
        max: f64,
    },
    Bool,
    /// Lowercase hex strings of this length (Flink's `nextHexString`).
    Str {
        length: usize,
    },
    /// Timestamps and dates: now minus a random amount up to `max_past_ms`.
    Time {
        max_past_ms: i64,
    },
    /// `start`, `start + 1`, ... (the row index decides; the bound is enforced by the source).
    Seq {
        start: i128,
    },
}

struct Column {
    dt: DataType,
    kind: Kind,
    null_rate: f64,
    rng: Rng,
}

/// Inclusive integer range of a type whose values are generated as integers
/// (for a decimal: its mantissa).
fn int_bounds(dt: &DataType) -> Option<(i128, i128)> {
    Some(match dt {
        DataType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        DataType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        DataType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        DataType::Int64 => (i64::MIN.into(), i64::MAX.into()),
        DataType::UInt8 => (0, u8::MAX.into()),
        DataType::UInt16 => (0, u16::MAX.into()),
        DataType::UInt32 => (0, u32::MAX.into()),
        DataType::UInt64 => (0, u64::MAX.into()),
        DataType::Decimal128(p, s) if *s >= 0 => {
            let m = 10i128.pow(u32::from(*p).min(38)) - 1;
            (-m, m)
        }
        _ => return None,
    })
}

/// Column option reader: `'fields.<col>.<suffix>'`, with errors naming the key.
struct FieldOptions<'a> {
    options: &'a Options,
    /// The key as the user spelt it, per suffix of [`FIELD_OPTIONS`].
    keys: Vec<Option<String>>,
}

impl FieldOptions<'_> {
    fn get(&self, suffix: &str) -> Option<(&str, &str)> {
        let i = FIELD_OPTIONS.iter().position(|s| *s == suffix)?;
        let key = self.keys[i].as_deref()?;
        Some((key, self.options.get(key)?.trim()))
    }
    fn parse<T: std::str::FromStr>(&self, suffix: &str) -> Result<Option<T>> {
        match self.get(suffix) {
            None => Ok(None),
            Some((key, v)) => {
                v.parse().map(Some).map_err(|_| Error::sql(format!("option '{key}': cannot parse '{v}'")))
            }
        }
    }
    fn duration_ms(&self, suffix: &str) -> Result<Option<i64>> {
        match self.get(suffix) {
            None => Ok(None),
            Some((key, v)) => crate::connectors::options::parse_duration_ms(v)
                .map(Some)
                .ok_or_else(|| Error::sql(format!("option '{key}': '{v}' is not a duration (e.g. '1 min')"))),
        }
    }
}

impl Column {
    /// Reads the options of column `name` of type `dt`.
    fn new(name: &str, dt: &DataType, o: &FieldOptions) -> Result<Column> {
        let err = |m: String| Error::sql(format!("datagen column '{name}' ({dt}): {m}"));
        let kind = o.get("kind").map_or("random".to_string(), |(_, v)| v.to_ascii_lowercase());
        let null_rate = o.parse::<f64>("null-rate")?.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&null_rate) {
            return Err(err("'null-rate' must be between 0 and 1".into()));
        }
        let scale = match dt {
            DataType::Decimal128(_, s) => 10f64.powi(i32::from(*s)),
            _ => 1.0,
        };
        let kind = match kind.as_str() {
            "sequence" => {
                let (start, end) = match (o.parse::<i128>("start")?, o.parse::<i128>("end")?) {
                    (Some(s), Some(e)) => (s, e),
                    _ => return Err(err("a sequence needs both 'start' and 'end'".into())),
                };
                if start > end {
                    return Err(err(format!("sequence start {start} is after its end {end}")));
                }
                let fits = match int_bounds(dt) {
                    Some((lo, hi)) => {
                        (lo as f64..=hi as f64).contains(&(start as f64 * scale))
                            && (lo as f64..=hi as f64).contains(&(end as f64 * scale))
                    }
                    None if matches!(dt, DataType::Float32 | DataType::Float64 | DataType::Utf8) => true,
                    None => return Err(err("type not supported by a sequence".into())),
                };
                if !fits {
                    return Err(err(format!("a sequence from {start} to {end} does not fit this type")));
                }
                Kind::Seq { start }
            }
            "random" => match dt {
                DataType::Float32 | DataType::Float64 => {
                    let top = if *dt == DataType::Float32 { f64::from(f32::MAX) } else { f64::MAX };
                    let min = o.parse::<f64>("min")?.unwrap_or(0.0);
                    let max = o.parse::<f64>("max")?.unwrap_or(top);
                    if !(min <= max && min >= -top && max <= top) {
                        return Err(err(format!("bad random range [{min}, {max}]")));
                    }
                    Kind::Float { min, max }
                }
                DataType::Decimal128(_, s) if *s >= 0 => {
                    let (lo, hi) = int_bounds(dt).unwrap_or_default();
                    let bound = |s, d: i128| -> Result<i128> {
                        Ok(o.parse::<f64>(s)?.map_or(d, |v| (v * scale).round() as i128))
                    };
                    let (min, max) = (bound("min", 0)?, bound("max", hi)?);
                    if !(lo <= min && min <= max && max <= hi) {
                        return Err(err("bad random range (min > max or out of the precision)".into()));
                    }
                    Kind::Int { min, max }
                }
                DataType::Boolean => Kind::Bool,
                DataType::Utf8 => Kind::Str { length: o.parse("length")?.unwrap_or(100) },
                DataType::Date32 | DataType::Timestamp(..) => {
                    let max_past_ms = o.duration_ms("max-past")?.unwrap_or(0);
                    if max_past_ms < 0 {
                        return Err(err("'max-past' must not be negative".into()));
                    }
                    Kind::Time { max_past_ms }
                }
                _ => {
                    let Some((lo, hi)) = int_bounds(dt) else {
                        return Err(err("type not supported by datagen".into()));
                    };
                    let min = o.parse::<i128>("min")?.unwrap_or(lo);
                    let max = o.parse::<i128>("max")?.unwrap_or(hi);
                    if !(lo <= min && min <= max && max <= hi) {
                        return Err(err(format!("bad random range [{min}, {max}] (type range [{lo}, {hi}])")));
                    }
                    Kind::Int { min, max }
                }
            },
            other => return Err(err(format!("unknown kind '{other}' (expected random or sequence)"))),
        };
        // FNV-1a of the name: a fixed seed per column, whatever the column order.
        let seed = name
            .to_ascii_lowercase()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        Ok(Column { dt: dt.clone(), kind, null_rate, rng: Rng(seed) })
    }

    /// Number of values a sequence column can give, if it is one.
    fn sequence_len(&self, o: &FieldOptions) -> Option<u64> {
        match self.kind {
            Kind::Seq { start } => {
                let end = o.parse::<i128>("end").ok().flatten()?;
                Some(u64::try_from(end - start + 1).unwrap_or(u64::MAX))
            }
            _ => None,
        }
    }

    /// `n` values for rows `row0..row0 + n`; `now_ns` is the wall clock.
    fn generate(&mut self, n: usize, row0: u64, now_ns: i64) -> Result<ArrayRef> {
        let null_rate = self.null_rate;
        let rng = &mut self.rng;
        let null = move |rng: &mut Rng| null_rate > 0.0 && rng.unit() < null_rate;
        match (&self.kind, &self.dt) {
            (Kind::Float { min, max }, _) => {
                let v: Vec<Option<f64>> = (0..n)
                    .map(|_| {
                        let u = rng.unit();
                        (!null(rng)).then(|| min * (1.0 - u) + max * u)
                    })
                    .collect();
                Ok(float_array(&self.dt, v))
            }
            (Kind::Bool, _) => {
                let v: BooleanArray = (0..n).map(|_| (!null(rng)).then(|| rng.next_u64() & 1 == 1)).collect();
                Ok(Arc::new(v))
            }
            (Kind::Str { length }, _) => {
                let mut b = StringBuilder::with_capacity(n, n * length);
                let mut s = String::with_capacity(*length);
                for _ in 0..n {
                    if null(rng) {
                        b.append_null();
                        continue;
                    }
                    s.clear();
                    s.extend((0..*length).map(|_| char::from(b"0123456789abcdef"[rng.below(16) as usize])));
                    b.append_value(&s);
                }
                Ok(Arc::new(b.finish()))
            }
            (Kind::Seq { start }, DataType::Utf8) => {
                let mut b = StringBuilder::with_capacity(n, n * 8);
                for i in 0..n {
                    if null(rng) {
                        b.append_null();
                    } else {
                        b.append_value((start + i128::from(row0) + i as i128).to_string());
                    }
                }
                Ok(Arc::new(b.finish()))
            }
            (Kind::Seq { start }, DataType::Float32 | DataType::Float64) => {
                let v = (0..n).map(|i| (!null(rng)).then(|| (start + i128::from(row0) + i as i128) as f64));
                Ok(float_array(&self.dt, v.collect()))
            }
            (Kind::Seq { start }, dt) => {
                let scale = match dt {
                    DataType::Decimal128(_, s) => 10i128.pow(u32::from(*s as u8)),
                    _ => 1,
                };
                let v = (0..n).map(|i| (!null(rng)).then(|| (start + i128::from(row0) + i as i128) * scale));
                int_array(dt, v.collect())
            }
            (Kind::Int { min, max }, dt) => {
                let span = (max - min + 1) as u128;
                let v = (0..n).map(|_| {
                    let x = min + rng.below(span) as i128;
                    (!null(rng)).then_some(x)
                });
                int_array(dt, v.collect())
            }
            (Kind::Time { max_past_ms }, dt) => {
                // The clock in the column's unit, and the maximal step back in that unit.
                let (now, past) = match dt {
                    DataType::Date32 => (now_ns / 1_000_000 / MS_PER_DAY, max_past_ms / MS_PER_DAY),
                    DataType::Timestamp(TimeUnit::Second, _) => (now_ns / 1_000_000_000, max_past_ms / 1000),
                    DataType::Timestamp(TimeUnit::Millisecond, _) => (now_ns / 1_000_000, *max_past_ms),
                    DataType::Timestamp(TimeUnit::Microsecond, _) => (now_ns / 1000, max_past_ms.saturating_mul(1000)),
                    _ => (now_ns, max_past_ms.saturating_mul(1_000_000)),
                };
                let v = (0..n).map(|_| {
                    let x = i128::from(now) - rng.below(past as u128 + 1) as i128;
                    (!null(rng)).then_some(x)
                });
                int_array(dt, v.collect())
            }
        }
    }
}

fn float_array(dt: &DataType, v: Vec<Option<f64>>) -> ArrayRef {
    match dt {
        DataType::Float32 => Arc::new(v.into_iter().map(|x| x.map(|x| x as f32)).collect::<Float32Array>()),
        _ => Arc::new(Float64Array::from(v)),
    }
}

/// An array of type `dt` from integers already checked to fit it.
fn int_array(dt: &DataType, v: Vec<Option<i128>>) -> Result<ArrayRef> {
    macro_rules! arr {
        ($a:ty, $n:ty) => {
            v.into_iter().map(|x| x.map(|x| x as $n)).collect::<$a>()
        };
    }
    Ok(match dt {
        DataType::Int8 => Arc::new(arr!(Int8Array, i8)),
        DataType::Int16 => Arc::new(arr!(Int16Array, i16)),
        DataType::Int32 => Arc::new(arr!(Int32Array, i32)),
        DataType::Int64 => Arc::new(arr!(Int64Array, i64)),
        DataType::UInt8 => Arc::new(arr!(UInt8Array, u8)),
        DataType::UInt16 => Arc::new(arr!(UInt16Array, u16)),
        DataType::UInt32 => Arc::new(arr!(UInt32Array, u32)),
        DataType::UInt64 => Arc::new(arr!(UInt64Array, u64)),
        DataType::Date32 => Arc::new(arr!(Date32Array, i32)),
        DataType::Decimal128(p, s) => Arc::new(arr!(Decimal128Array, i128).with_precision_and_scale(*p, *s)?),
        DataType::Timestamp(unit, tz) => match unit {
            TimeUnit::Second => Arc::new(arr!(TimestampSecondArray, i64).with_timezone_opt(tz.clone())),
            TimeUnit::Millisecond => Arc::new(arr!(TimestampMillisecondArray, i64).with_timezone_opt(tz.clone())),
            TimeUnit::Microsecond => Arc::new(arr!(TimestampMicrosecondArray, i64).with_timezone_opt(tz.clone())),
            TimeUnit::Nanosecond => Arc::new(arr!(TimestampNanosecondArray, i64).with_timezone_opt(tz.clone())),
        },
        other => return Err(Error::internal(format!("datagen: no integer array for {other}"))),
    })
}

/// Opens a `datagen` source producing every column of `ctx.schema`.
///
/// Options: `rows-per-second` (default 10000), `number-of-rows` (bounded if set), and per
/// column `fields.<col>.kind` (`random`, the default, or `sequence`), `.min` / `.max` (random
/// numbers, default the type's range; floats and decimals default to `[0, max]` like Flink), `.length`
/// (random strings, default 100 hex digits), `.start` / `.end` (sequences of integers, floats,
/// decimals or strings; the source ends when the shortest sequence or `number-of-rows` is
/// exhausted), `.max-past` (timestamps and dates: up to this duration before now; default now),
/// `.null-rate` (0..=1, default 0). Supports Int8..Int64, UInt8..UInt64, Float32/64, Boolean,
/// Utf8, Decimal128, Date32 and Timestamp of any unit.
/// Fails on an unknown option, an option naming an undeclared column, an unsupported type or
/// a bad range.
pub fn open(options: &Options, ctx: &SourceContext) -> Result<Box<dyn Source>> {
    let rate = options.parse::<f64>("rows-per-second")?.unwrap_or(10_000.0);
    if !(rate.is_finite() && rate > 0.0) {
        return Err(Error::sql("option 'rows-per-second' must be a positive number"));
    }
    let mut remaining = options.parse::<u64>("number-of-rows")?;
    let fields = ctx.schema.fields();
    let mut keys = vec![vec![None; FIELD_OPTIONS.len()]; fields.len()];
    for key in options.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>() {
        let Some((col, suffix)) = key.strip_prefix("fields.").and_then(|k| k.rsplit_once('.')) else {
            continue;
        };
        let Some(c) = fields.iter().position(|f| f.name().eq_ignore_ascii_case(col)) else {
            let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
            return Err(Error::sql(format!(
                "datagen option '{key}' names column '{col}', which table '{}' does not declare (columns: {})",
                ctx.table,
                names.join(", ")
            )));
        };
        // An unknown suffix stays unread, so `check_all_used` reports it.
        if let Some(s) = FIELD_OPTIONS.iter().position(|s| *s == suffix) {
            keys[c][s] = Some(key);
        }
    }
    let mut columns = Vec::with_capacity(fields.len());
    for (field, keys) in fields.iter().zip(keys) {
        let o = FieldOptions { options, keys };
        // Every known option of a declared column counts as used, even if its kind ignores it.
        for s in FIELD_OPTIONS {
            o.get(s);
        }
        let column = Column::new(field.name(), field.data_type(), &o)?;
        if let Some(len) = column.sequence_len(&o) {
            remaining = Some(remaining.map_or(len, |r| r.min(len)));
        }
        columns.push(column);
    }
    options.check_all_used("datagen")?;
    Ok(Box::new(DatagenSource {
        schema: ctx.schema.clone(),
        columns,
        end: remaining.unwrap_or(u64::MAX),
        emitted: 0,
        rate,
        start: None,
        batch_size: ctx.batch_size.max(1),
        counters: ctx.counters.clone(),
    }))
}

/// The `datagen` [`Source`].
struct DatagenSource {
    schema: SchemaRef,
    columns: Vec<Column>,
    /// Total number of rows to emit (`u64::MAX`: unbounded).
    end: u64,
    emitted: u64,
    rate: f64,
    start: Option<Instant>,
    batch_size: usize,
    counters: Arc<SourceCounters>,
}

#[async_trait]
impl Source for DatagenSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn next(&mut self) -> Result<SourceEvent> {
        if self.emitted >= self.end {
            return Ok(SourceEvent::End);
        }
        // Row k is due k / rate seconds after the first poll; wait for a slice of rows rather
        // than emitting them one at a time.
        let start = *self.start.get_or_insert_with(Instant::now);
        let slice = ((self.rate * PACE_SECS) as u64).clamp(1, self.batch_size as u64);
        let wait_for = (self.emitted + slice - 1).min(self.end - 1);
        tokio::time::sleep_until(start + Duration::from_secs_f64(wait_for as f64 / self.rate)).await;
        let due = ((start.elapsed().as_secs_f64() * self.rate) as u64 + 1).max(wait_for + 1);
        let n = (due.min(self.end) - self.emitted).min(self.batch_size as u64) as usize;
        let now_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64);
        let arrays =
            self.columns.iter_mut().map(|c| c.generate(n, self.emitted, now_ns)).collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(n));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)?;
        self.emitted += n as u64;
        SourceCounters::add(&self.counters.rows, n as u64);
        Ok(SourceEvent::Batch(batch))
    }

    /// Rows emitted, then each column's random state: sequences follow the row index and
    /// random values the state, so the rows after a seek are those of an uninterrupted run
    /// (except `now`-relative timestamps).
    fn offset(&self) -> Option<Vec<u8>> {
        let words = std::iter::once(self.emitted).chain(self.columns.iter().map(|c| c.rng.0));
        Some(words.flat_map(u64::to_le_bytes).collect())
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        self.emitted = super::offset_word(offset, 0)?;
        for (i, c) in self.columns.iter_mut().enumerate() {
            c.rng.0 = super::offset_word(offset, i + 1)?;
        }
        // Pace as if the rows before the offset had been emitted on time.
        self.start = Instant::now().checked_sub(Duration::from_secs_f64(self.emitted as f64 / self.rate));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::OnError;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Field, Float64Type, Int32Type, Int64Type, Schema, UInt8Type};

    fn ctx(fields: Vec<Field>, batch_size: usize) -> SourceContext {
        SourceContext {
            table: "gen".into(),
            schema: Arc::new(Schema::new(fields)),
            on_error: OnError::Fail,
            counters: Arc::default(),
            batch_size,
        }
    }

    fn options(pairs: &[(&str, &str)]) -> Options {
        let mut map: std::collections::BTreeMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        map.entry("rows-per-second".into()).or_insert_with(|| "1000000".into());
        Options::new(map)
    }

    #[tokio::test]
    async fn resumes_from_any_offset_with_the_same_rows() {
        let c = ctx(vec![Field::new("id", DataType::Int64, false), Field::new("x", DataType::Float64, true)], 300);
        let o = options(&[
            ("number-of-rows", "2000"),
            ("fields.id.kind", "sequence"),
            ("fields.id.start", "1"),
            ("fields.id.end", "5000"),
            ("fields.x.null-rate", "0.2"),
        ]);
        crate::connectors::resume_check::assert_resumes_anywhere(|| open(&o, &c).unwrap()).await;
    }

    async fn drain(mut source: Box<dyn Source>) -> Vec<RecordBatch> {
        let mut batches = Vec::new();
        while let SourceEvent::Batch(b) = source.next().await.unwrap() {
            batches.push(b);
        }
        batches
    }

    fn col<T: datafusion::arrow::datatypes::ArrowPrimitiveType>(b: &[RecordBatch], i: usize) -> Vec<Option<T::Native>> {
        b.iter().flat_map(|b| b.column(i).as_primitive::<T>().iter().collect::<Vec<_>>()).collect()
    }

    #[tokio::test]
    async fn exhausted_sequence_ends_the_source() {
        let c = ctx(vec![Field::new("id", DataType::Int64, false), Field::new("name", DataType::Utf8, true)], 10);
        let o = options(&[
            ("fields.id.kind", "sequence"),
            ("fields.id.start", "5"),
            ("fields.id.end", "29"),
            ("fields.name.kind", "sequence"),
            ("fields.name.start", "1"),
            ("fields.name.end", "1000"),
        ]);
        let batches = drain(open(&o, &c).unwrap()).await;
        assert!(batches.iter().all(|b| b.num_rows() <= 10));
        let ids: Vec<i64> = col::<Int64Type>(&batches, 0).into_iter().flatten().collect();
        assert_eq!(ids, (5..=29).collect::<Vec<_>>());
        assert_eq!(batches[2].column(1).as_string::<i32>().value(0), "21");
        assert_eq!(c.counters.rows.load(std::sync::atomic::Ordering::Relaxed), 25);
    }

    #[tokio::test]
    async fn random_values_respect_min_max_and_are_reproducible() {
        let fields = vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Float64, true),
            Field::new("c", DataType::UInt8, true),
            Field::new("d", DataType::Decimal128(6, 2), true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
            Field::new("s", DataType::Utf8, true),
            Field::new("f", DataType::Boolean, true),
        ];
        let o = || {
            options(&[
                ("number-of-rows", "2000"),
                ("fields.a.min", "-5"),
                ("fields.a.max", "5"),
                ("fields.b.min", "1.5"),
                ("fields.b.max", "2.5"),
                ("fields.c.min", "250"),
                ("fields.d.min", "-1.5"),
                ("fields.d.max", "1.25"),
                ("fields.ts.max-past", "1 min"),
                ("fields.s.length", "7"),
                ("fields.s.null-rate", "0.5"),
            ])
        };
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64;
        let batches = drain(open(&o(), &ctx(fields.clone(), 512)).unwrap()).await;
        let a = col::<Int32Type>(&batches, 0);
        assert_eq!(a.len(), 2000);
        assert!(a.iter().all(|v| (-5..=5).contains(&v.unwrap())));
        assert!(a.contains(&Some(-5)) && a.contains(&Some(5)));
        assert!(col::<Float64Type>(&batches, 1).iter().all(|v| (1.5..2.5).contains(&v.unwrap())));
        assert!(col::<UInt8Type>(&batches, 2).iter().all(|v| v.unwrap() >= 250));
        let d = batches[0].column(3).as_primitive::<datafusion::arrow::datatypes::Decimal128Type>();
        assert!(d.values().iter().all(|v| (-150..=125).contains(v)));
        let ts = batches[0].column(4).as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
        assert!(ts.values().iter().all(|t| (before - 61_000_000..before + 10_000_000).contains(t)));
        let s = batches[0].column(5).as_string::<i32>();
        assert!(s.null_count() > 100 && s.null_count() < 412, "{}", s.null_count());
        assert!(s.iter().flatten().all(|v| v.len() == 7 && v.chars().all(|c| c.is_ascii_hexdigit())));
        let again = drain(open(&o(), &ctx(fields, 100)).unwrap()).await;
        assert_eq!(col::<Int32Type>(&again, 0), a, "same values whatever the batch size");
    }

    #[tokio::test]
    async fn number_of_rows_and_rate_are_honoured() {
        let c = ctx(vec![Field::new("x", DataType::Int64, true)], 1000);
        let batches = drain(open(&options(&[("number-of-rows", "1234")]), &c).unwrap()).await;
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1234);
        let started = std::time::Instant::now();
        let o = options(&[("number-of-rows", "300"), ("rows-per-second", "2000")]);
        let batches = drain(open(&o, &c).unwrap()).await;
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 300);
        assert!(started.elapsed() >= Duration::from_millis(140), "{:?}", started.elapsed());
    }

    #[test]
    fn bad_options_are_named() {
        let c = ctx(vec![Field::new("price", DataType::Int64, true), Field::new("b", DataType::Boolean, true)], 10);
        let e = open(&options(&[("fields.prize.min", "1")]), &c).err().unwrap();
        assert!(e.message.contains("'prize'") && e.message.contains("price, b"), "{e}");
        let e = open(&options(&[("fields.price.mni", "1")]), &c).err().unwrap();
        assert!(e.message.contains("'fields.price.mni'"), "{e}");
        let e = open(&options(&[("rows-per-sec", "1")]), &c).err().unwrap();
        assert!(e.message.contains("'rows-per-sec'"), "{e}");
        let e = open(&options(&[("fields.price.kind", "sequence"), ("fields.price.start", "1")]), &c).err().unwrap();
        assert!(e.message.contains("'end'"), "{e}");
        let e = open(&options(&[("fields.price.min", "9"), ("fields.price.max", "1")]), &c).err().unwrap();
        assert!(e.message.contains("price"), "{e}");
        let e = open(&options(&[("fields.b.kind", "sequence"), ("fields.b.start", "0"), ("fields.b.end", "1")]), &c);
        assert!(e.is_err());
        // A known option that the column's kind ignores is accepted, as in Flink.
        assert!(open(&options(&[("fields.PRICE.length", "3"), ("fields.b.null-rate", "1")]), &c).is_ok());
    }
}
