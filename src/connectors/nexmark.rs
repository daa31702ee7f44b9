//! The built-in Nexmark generator (`'connector' = 'nexmark'`).
//!
//! Follows the structure of the reference generator (Apache Beam's and Flink's nexmark
//! `NexmarkGenerator` + `GeneratorConfig`), without being bit-identical to it:
//!
//! ```text
//! global event index e = 0, 1, 2, ...          (person + auction + bid events)
//! e % 50:  0 → person   1..=3 → auction   4..=49 → bid          (1 : 3 : 46)
//! date_time(e) = 2015-07-15 00:00:00 UTC + e × inter-event delay  (100 µs at 10 000 ev/s)
//! ```
//!
//! Ids, hot sellers / bidders / auctions, channels, urls and prices follow the reference
//! formulas. Every event draws from its own PRNG stream seeded from `(seed, e)` (as the
//! reference seeds `new Random(eventId)`), so a table is the same whatever other table is read,
//! whatever columns are projected, whatever the batch size or output rate.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int64Builder, StringBuilder, TimestampMillisecondBuilder};
use datafusion::arrow::compute::{can_cast_types, cast};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use tokio::time::Instant;

use crate::connectors::{Options, Source, SourceContext, SourceCounters, SourceEvent};
use crate::error::{Error, Result};

/// 2015-07-15 00:00:00 UTC (the reference `BASE_TIME`), in milliseconds since the epoch.
pub const BASE_TIME_MS: i64 = 1_436_918_400_000;
/// Default event rate that fixes the spacing of event times: 10 000 events/s → 100 µs.
pub const DEFAULT_FIRST_EVENT_RATE: u64 = 10_000;

const FIRST_PERSON_ID: i64 = 1000;
const FIRST_AUCTION_ID: i64 = 1000;
const FIRST_CATEGORY_ID: i64 = 10;
const NUM_CATEGORIES: u64 = 5;
const PERSON_PROPORTION: i64 = 1;
const AUCTION_PROPORTION: i64 = 3;
const TOTAL_PROPORTION: i64 = 50;
const NUM_ACTIVE_PEOPLE: i64 = 1000;
const NUM_IN_FLIGHT_AUCTIONS: i64 = 100;
const PERSON_ID_LEAD: i64 = 10;
const AUCTION_ID_LEAD: i64 = 10;
/// Configured ratios: 1 in N picks a random id, the others a hot one.
const HOT_AUCTION_RATIO: u64 = 2;
const HOT_BIDDERS_RATIO: u64 = 4;
const HOT_SELLERS_RATIO: u64 = 4;
/// Hot auctions, bidders and sellers are multiples of this (the reference's hot ratios).
const HOT_STEP: i64 = 100;
const HOT_CHANNELS_RATIO: u64 = 2;
const CHANNELS_NUMBER: usize = 10_000;
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
const AVG_PERSON_BYTES: usize = 200;
const AVG_AUCTION_BYTES: usize = 500;
const AVG_BID_BYTES: usize = 100;
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] =
    ["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"];
const FIRST_NAMES: [&str; 11] =
    ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"];
const LAST_NAMES: [&str; 9] = ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"];
/// Size of the pool of random letters `extra` columns are cut from.
const POOL_LETTERS: usize = 1 << 16;
/// When rate-limited, a source waits for about this much of the stream before emitting.
const PACE_SECS: f64 = 0.05;

/// The three Nexmark tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Person,
    Auction,
    Bid,
}

impl Table {
    fn parse(name: &str) -> Result<Table> {
        match name.trim().to_ascii_lowercase().as_str() {
            "person" => Ok(Table::Person),
            "auction" => Ok(Table::Auction),
            "bid" => Ok(Table::Bid),
            _ => Err(Error::sql(format!("nexmark: unknown table '{name}' (expected bid, auction or person)"))),
        }
    }

    /// Column names, in full-schema order.
    fn columns(self) -> Vec<&'static str> {
        let names = match self {
            Table::Person => "id name email_address credit_card city state date_time extra",
            Table::Auction => "id item_name description initial_bid reserve date_time expires seller category extra",
            Table::Bid => "auction bidder price channel url date_time extra",
        };
        names.split(' ').collect()
    }

    fn schema(self) -> SchemaRef {
        let field = |name: &str| Field::new(name, column_type(name), true);
        Arc::new(Schema::new(self.columns().into_iter().map(field).collect::<Vec<_>>()))
    }

    /// Average size of a record in bytes, which `extra` pads to.
    fn avg_bytes(self) -> usize {
        match self {
            Table::Person => AVG_PERSON_BYTES,
            Table::Auction => AVG_AUCTION_BYTES,
            Table::Bid => AVG_BID_BYTES,
        }
    }

    /// The first event index `>= e` that belongs to this table.
    fn next_event(self, e: u64) -> u64 {
        let r = e % TOTAL_PROPORTION as u64;
        let base = e - r;
        match self {
            Table::Person if r == 0 => e,
            Table::Person => base + TOTAL_PROPORTION as u64,
            Table::Auction if r == 0 => e + 1,
            Table::Auction if r <= AUCTION_PROPORTION as u64 => e,
            Table::Auction => base + TOTAL_PROPORTION as u64 + 1,
            Table::Bid if r <= AUCTION_PROPORTION as u64 => base + 4,
            Table::Bid => e,
        }
    }
}

/// Type of a column: ints are `Int64`, strings `Utf8`, times `Timestamp(Millisecond, None)`.
fn column_type(name: &str) -> DataType {
    match name {
        "date_time" | "expires" => DataType::Timestamp(TimeUnit::Millisecond, None),
        "id" | "initial_bid" | "reserve" | "seller" | "category" | "auction" | "bidder" | "price" => DataType::Int64,
        _ => DataType::Utf8,
    }
}

/// The full schema of a Nexmark table (`bid`, `auction` or `person`), with the benchmark's
/// column names: ints are `Int64`, strings `Utf8`, times `Timestamp(Millisecond, None)`.
/// Fails on an unknown table name.
pub fn full_schema(table: &str) -> Result<SchemaRef> {
    Ok(Table::parse(table)?.schema())
}

/// The splitmix64 finaliser: a fast, well-mixing 64-bit hash.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64: small, fast and good enough for synthetic data.
struct Rng(u64);

impl Rng {
    /// Independent stream number `k` of the generator seeded with `seed`.
    fn stream(seed: u64, k: u64) -> Rng {
        Rng(mix64(seed ^ k.wrapping_mul(0xD1B5_4A32_D192_ED03)))
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }
    /// Uniform in `0..n` (`n > 0`), by multiply-shift.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Appends `n` random lowercase letters (`nextExactString`), ten letters per 64-bit draw.
fn push_letters(rng: &mut Rng, out: &mut String, n: usize) {
    let (mut r, mut left) = (0u64, 0);
    for _ in 0..n {
        if left == 0 {
            r = rng.next_u64();
            left = 10;
        }
        let m = u128::from(r) * 26;
        out.push(char::from(b'a' + (m >> 64) as u8));
        r = m as u64;
        left -= 1;
    }
}

/// `nextString`: 3 to `max_len - 1` letters, each replaced by `special` with probability
/// 1/13, trimmed of spaces like Java's `trim`.
fn push_string(rng: &mut Rng, out: &mut String, max_len: u64, special: char) {
    let start = out.len();
    for _ in 0..3 + rng.below(max_len - 3) {
        let d = rng.below(13 * 26);
        out.push(if d < 26 { special } else { char::from(b'a' + (d % 26) as u8) });
    }
    while out.len() > start && out.ends_with(' ') {
        out.pop();
    }
    let lead = out[start..].len() - out[start..].trim_start_matches(' ').len();
    out.drain(start..start + lead);
}

/// `nextExtra`: letters padding a record of `current` bytes to about `avg` bytes (±20 %).
/// For speed the letters are a slice at a random offset of a pool of random letters.
fn extra<'a>(rng: &mut Rng, pool: &'a str, current: usize, avg: usize) -> &'a str {
    if current > avg {
        return "";
    }
    let desired = (avg - current) as u64;
    let delta = (desired * 2 + 5) / 10; // round(desired × 0.2)
    let size = (desired - delta + if delta == 0 { 0 } else { rng.below(2 * delta) }) as usize;
    let size = size.min(pool.len());
    let at = rng.below((pool.len() - size) as u64 + 1) as usize;
    &pool[at..at + size]
}

/// `nextPrice`: log-uniform between 1.00 and 1 000 000.00, in cents
/// (`round(10^(6u) × 100)`; `exp` is much cheaper than `powf`).
fn next_price(rng: &mut Rng) -> i64 {
    ((rng.unit() * (6.0 * std::f64::consts::LN_10)).exp() * 100.0 + 0.5) as i64
}

/// Id (from 0) of the last person created at or before event `e`.
fn last_base0_person_id(e: i64) -> i64 {
    let offset = (e % TOTAL_PROPORTION).min(PERSON_PROPORTION - 1);
    e / TOTAL_PROPORTION * PERSON_PROPORTION + offset
}

/// A person id among the active people, or slightly in the future.
fn next_base0_person_id(e: i64, rng: &mut Rng) -> i64 {
    let num_people = last_base0_person_id(e) + 1;
    let active = num_people.min(NUM_ACTIVE_PEOPLE);
    num_people - active + rng.below((active + PERSON_ID_LEAD) as u64) as i64
}

/// Id (from 0) of the last auction created at or before event `e` (`-1` before any).
fn last_base0_auction_id(e: i64) -> i64 {
    let (mut epoch, mut offset) = (e / TOTAL_PROPORTION, e % TOTAL_PROPORTION);
    if offset < PERSON_PROPORTION {
        epoch -= 1;
        offset = AUCTION_PROPORTION - 1;
    } else if offset >= PERSON_PROPORTION + AUCTION_PROPORTION {
        offset = AUCTION_PROPORTION - 1;
    } else {
        offset -= PERSON_PROPORTION;
    }
    epoch * AUCTION_PROPORTION + offset
}

/// An auction id among the in-flight auctions, or slightly in the future.
fn next_base0_auction_id(e: i64, rng: &mut Rng) -> i64 {
    let max = last_base0_auction_id(e);
    let min = (max - NUM_IN_FLIGHT_AUCTIONS).max(0);
    min + rng.below((max - min + 1 + AUCTION_ID_LEAD) as u64) as i64
}

/// Arrow builders for the requested columns of one batch (`None` = not requested).
enum ColBuilder {
    Int(Int64Builder),
    Ts(TimestampMillisecondBuilder),
    Str(StringBuilder),
}

struct Out {
    cols: Vec<Option<ColBuilder>>,
}

impl Out {
    fn new(table: Table, wanted: &[bool], rows: usize) -> Out {
        let cols = table.columns().into_iter().zip(wanted).map(|(name, want)| {
            // Typical string lengths, so that builders rarely grow.
            let bytes = match name {
                "extra" => 1 + table.avg_bytes() * 6 / 5,
                "url" => 72,
                "description" => 100,
                _ => 24,
            };
            want.then(|| match column_type(name) {
                DataType::Int64 => ColBuilder::Int(Int64Builder::with_capacity(rows)),
                DataType::Utf8 => ColBuilder::Str(StringBuilder::with_capacity(rows, rows * bytes)),
                _ => ColBuilder::Ts(TimestampMillisecondBuilder::with_capacity(rows)),
            })
        });
        Out { cols: cols.collect() }
    }
    #[inline]
    fn wants(&self, i: usize) -> bool {
        self.cols[i].is_some()
    }
    #[inline]
    fn int(&mut self, i: usize, v: i64) {
        if let Some(ColBuilder::Int(b)) = &mut self.cols[i] {
            b.append_value(v);
        }
    }
    #[inline]
    fn ts(&mut self, i: usize, v: i64) {
        if let Some(ColBuilder::Ts(b)) = &mut self.cols[i] {
            b.append_value(v);
        }
    }
    #[inline]
    fn str(&mut self, i: usize, v: &str) {
        if let Some(ColBuilder::Str(b)) = &mut self.cols[i] {
            b.append_value(v);
        }
    }
    fn finish(self) -> Vec<Option<ArrayRef>> {
        let finish = |b: ColBuilder| -> ArrayRef {
            match b {
                ColBuilder::Int(mut b) => Arc::new(b.finish()),
                ColBuilder::Ts(mut b) => Arc::new(b.finish()),
                ColBuilder::Str(mut b) => Arc::new(b.finish()),
            }
        };
        self.cols.into_iter().map(|c| c.map(finish)).collect()
    }
}

/// The event generator proper: a position in the global event sequence plus configuration.
struct Generator {
    table: Table,
    seed: u64,
    /// Next global event index to look at.
    next_event: u64,
    /// Exclusive bound of the global event sequence.
    end_event: u64,
    delay_ns: u64,
    disorder_ms: u64,
    late_ms: i64,
    late_fraction: f64,
    hot_urls: Vec<String>,
    /// Lazily built `(channel, url)` of the non-hot channels.
    channels: Vec<(String, String)>,
    /// Scratch buffer for strings built piecewise.
    buf: String,
    /// Random letters that `extra` columns are sliced from.
    pool: String,
}

impl Generator {
    fn new(table: Table, seed: u64, end_event: u64) -> Generator {
        let seed = mix64(seed ^ 0x6E65_786D_6172_6B00);
        let hot_urls =
            (0..HOT_CHANNELS.len() as u64).map(|i| base_url(&mut Rng::stream(seed, (1 << 40) + i))).collect();
        let mut pool = String::with_capacity(POOL_LETTERS);
        push_letters(&mut Rng::stream(seed, 3 << 40), &mut pool, POOL_LETTERS);
        Generator {
            table,
            seed,
            next_event: 0,
            end_event,
            delay_ns: 1_000_000_000 / DEFAULT_FIRST_EVENT_RATE,
            disorder_ms: 0,
            late_ms: 0,
            late_fraction: 0.0,
            hot_urls,
            channels: vec![(String::new(), String::new()); CHANNELS_NUMBER],
            buf: String::with_capacity(128),
            pool,
        }
    }

    fn done(&self) -> bool {
        self.table.next_event(self.next_event) >= self.end_event
    }

    /// Event time of event `e` before any disorder.
    fn nominal_ms(&self, e: u64) -> i64 {
        let ms = match e.checked_mul(self.delay_ns) {
            Some(ns) => ns / 1_000_000,
            None => (u128::from(e) * u128::from(self.delay_ns) / 1_000_000) as u64,
        };
        BASE_TIME_MS + ms as i64
    }

    fn event_time(&self, e: u64, es: u64) -> i64 {
        let mut t = self.nominal_ms(e);
        if self.disorder_ms > 0 || self.late_fraction > 0.0 {
            let mut r = Rng::stream(es, 1);
            t -= r.below(self.disorder_ms + 1) as i64;
            if r.unit() < self.late_fraction {
                t -= self.late_ms;
            }
        }
        t
    }

    /// Generates up to `max_rows` rows of the table from events below `limit`.
    fn fill(&mut self, out: &mut Out, max_rows: usize, limit: u64) -> usize {
        let limit = limit.min(self.end_event);
        let mut rows = 0;
        while rows < max_rows {
            let e = self.table.next_event(self.next_event);
            if e >= limit {
                self.next_event = self.next_event.max(limit);
                break;
            }
            let es = mix64(self.seed ^ e);
            match self.table {
                Table::Person => self.person(e, es, out),
                Table::Auction => self.auction(e, es, out),
                Table::Bid => self.bid(e, es, out),
            }
            self.next_event = e + 1;
            rows += 1;
        }
        rows
    }

    fn person(&mut self, e: u64, es: u64, out: &mut Out) {
        let mut r = Rng::stream(es, 0);
        let b = &mut self.buf;
        out.int(0, last_base0_person_id(e as i64) + FIRST_PERSON_ID);
        b.clear();
        b.push_str(FIRST_NAMES[r.below(FIRST_NAMES.len() as u64) as usize]);
        b.push(' ');
        b.push_str(LAST_NAMES[r.below(LAST_NAMES.len() as u64) as usize]);
        let mut size = 8 + b.len();
        out.str(1, b);
        b.clear();
        push_string(&mut r, b, 7, ' ');
        b.push('@');
        push_string(&mut r, b, 5, ' ');
        b.push_str(".com");
        size += b.len();
        out.str(2, b);
        b.clear();
        for group in 0..4 {
            if group > 0 {
                b.push(' ');
            }
            let v = r.below(10_000);
            for d in [1000, 100, 10, 1] {
                b.push(char::from(b'0' + (v / d % 10) as u8));
            }
        }
        size += b.len();
        out.str(3, b);
        let city = US_CITIES[r.below(US_CITIES.len() as u64) as usize];
        let state = US_STATES[r.below(US_STATES.len() as u64) as usize];
        out.str(4, city);
        out.str(5, state);
        out.ts(6, self.event_time(e, es));
        if out.wants(7) {
            let size = size + city.len() + state.len();
            out.str(7, extra(&mut r, &self.pool, size, AVG_PERSON_BYTES));
        }
    }

    fn auction(&mut self, e: u64, es: u64, out: &mut Out) {
        let mut r = Rng::stream(es, 0);
        let ei = e as i64;
        let seller = if r.below(HOT_SELLERS_RATIO) > 0 {
            last_base0_person_id(ei) / HOT_STEP * HOT_STEP
        } else {
            next_base0_person_id(ei, &mut r)
        };
        let category = FIRST_CATEGORY_ID + r.below(NUM_CATEGORIES) as i64;
        let initial_bid = next_price(&mut r);
        // Auctions last up to twice the time it takes for the in-flight auctions to turn over.
        let events_for_auctions = (NUM_IN_FLIGHT_AUCTIONS * TOTAL_PROPORTION / AUCTION_PROPORTION) as u64;
        let nominal = self.nominal_ms(e);
        let horizon = self.nominal_ms(e + events_for_auctions) - nominal;
        let expires = nominal + 1 + r.below((horizon * 2).max(1) as u64) as i64;
        out.int(0, last_base0_auction_id(ei) + FIRST_AUCTION_ID);
        let b = &mut self.buf;
        b.clear();
        push_string(&mut r, b, 20, ' ');
        let mut size = 8 + b.len();
        out.str(1, b);
        b.clear();
        push_string(&mut r, b, 100, ' ');
        size += b.len() + 40;
        out.str(2, b);
        out.int(3, initial_bid);
        out.int(4, initial_bid + next_price(&mut r));
        out.ts(5, self.event_time(e, es));
        out.ts(6, expires);
        out.int(7, seller + FIRST_PERSON_ID);
        out.int(8, category);
        if out.wants(9) {
            out.str(9, extra(&mut r, &self.pool, size, AVG_AUCTION_BYTES));
        }
    }

    fn bid(&mut self, e: u64, es: u64, out: &mut Out) {
        let mut r = Rng::stream(es, 0);
        let ei = e as i64;
        let auction = if r.below(HOT_AUCTION_RATIO) > 0 {
            last_base0_auction_id(ei) / HOT_STEP * HOT_STEP
        } else {
            next_base0_auction_id(ei, &mut r)
        };
        let bidder = if r.below(HOT_BIDDERS_RATIO) > 0 {
            last_base0_person_id(ei) / HOT_STEP * HOT_STEP + 1
        } else {
            next_base0_person_id(ei, &mut r)
        };
        out.int(0, auction + FIRST_AUCTION_ID);
        out.int(1, bidder + FIRST_PERSON_ID);
        out.int(2, next_price(&mut r));
        let hot = r.below(HOT_CHANNELS_RATIO) > 0;
        let pick = if hot { r.below(HOT_CHANNELS.len() as u64) } else { r.below(CHANNELS_NUMBER as u64) };
        if out.wants(3) || out.wants(4) {
            let (channel, url) = self.channel(hot, pick as usize);
            out.str(3, channel);
            out.str(4, url);
        }
        out.ts(5, self.event_time(e, es));
        if out.wants(6) {
            out.str(6, extra(&mut r, &self.pool, 32, AVG_BID_BYTES));
        }
    }

    /// `(channel, url)` of a hot channel or of `channel-N`, whose url carries a
    /// `channel_id` nine times in ten.
    fn channel(&mut self, hot: bool, n: usize) -> (&str, &str) {
        if hot {
            return (HOT_CHANNELS[n], &self.hot_urls[n]);
        }
        if self.channels[n].0.is_empty() {
            let mut r = Rng::stream(self.seed, (2 << 40) + n as u64);
            let mut url = base_url(&mut r);
            if r.below(10) > 0 {
                let id = (n as i32).reverse_bits().unsigned_abs();
                url.push_str(&format!("&channel_id={id}"));
            }
            self.channels[n] = (format!("channel-{n}"), url);
        }
        let (channel, url) = &self.channels[n];
        (channel, url)
    }
}

fn base_url(r: &mut Rng) -> String {
    let mut url = String::from("https://www.nexmark.com/");
    for _ in 0..3 {
        push_string(r, &mut url, 5, '_');
        url.push('/');
    }
    url.push_str("item.htm?query=1");
    url
}

/// Maps each requested column (by name, case-insensitively) to its full-schema position,
/// checking that its declared type can be produced.
fn projection(table: Table, schema: &Schema) -> Result<Vec<usize>> {
    let cols = table.columns();
    let full = table.schema();
    schema
        .fields()
        .iter()
        .map(|f| {
            let Some(i) = cols.iter().position(|n| n.eq_ignore_ascii_case(f.name())) else {
                return Err(Error::sql(format!(
                    "nexmark table '{table:?}' has no column '{}' (valid columns: {})",
                    f.name(),
                    cols.join(", ")
                )));
            };
            let from = full.field(i).data_type();
            if !can_cast_types(from, f.data_type()) {
                return Err(Error::sql(format!(
                    "nexmark column '{}' is {from} and cannot be declared as {}",
                    f.name(),
                    f.data_type()
                )));
            }
            Ok(i)
        })
        .collect()
}

/// Builds the batch of `schema` from full-schema columns, casting where types differ.
fn project(cols: &[Option<ArrayRef>], proj: &[usize], schema: &SchemaRef, rows: usize) -> Result<RecordBatch> {
    let arrays = proj
        .iter()
        .zip(schema.fields())
        .map(|(&i, field)| {
            let a = cols[i].clone().ok_or_else(|| Error::internal("nexmark: column not generated"))?;
            if a.data_type() == field.data_type() {
                Ok(a)
            } else {
                Ok(cast(&a, field.data_type())?)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(schema.clone(), arrays, &options)?)
}

/// Generates the first `events` events of the global sequence in memory and returns the rows
/// of `table` (`bid`, `auction` or `person`) in its [`full_schema`], in batches of at most
/// `batch_size` rows, without disorder. Same arguments ⇒ same batches.
pub fn generate_batches(table: &str, events: u64, seed: u64, batch_size: usize) -> Result<Vec<RecordBatch>> {
    let table = Table::parse(table)?;
    let schema = table.schema();
    let proj: Vec<usize> = (0..schema.fields().len()).collect();
    let wanted = vec![true; proj.len()];
    let batch_size = batch_size.max(1);
    let mut gen = Generator::new(table, seed, events);
    let mut batches = Vec::new();
    while !gen.done() {
        let mut out = Out::new(table, &wanted, batch_size);
        let rows = gen.fill(&mut out, batch_size, u64::MAX);
        batches.push(project(&out.finish(), &proj, &schema, rows)?);
    }
    Ok(batches)
}

/// Opens a Nexmark source producing `ctx.schema`, which may name any subset of the table's
/// columns in any order (matched case-insensitively, cast to the declared types).
///
/// Options (all optional): `nexmark.table` (`bid` | `auction` | `person`, default `bid`),
/// `nexmark.events` (length of the global event sequence; unbounded if absent),
/// `nexmark.rate` (global events per second; as fast as possible if absent),
/// `nexmark.seed` (default 0), `nexmark.first-event-rate` (events/s fixing the spacing of
/// event times, default 10 000 → 100 µs), `nexmark.out-of-orderness` (duration: event times
/// move back by a random amount within it, default 0), `nexmark.late-fraction` (0..=1: this
/// fraction of events also moves back by 10 × the out-of-orderness, or 10 s if that is 0).
/// Fails on an unknown option, table or column, or a value out of range.
pub fn open(options: &Options, ctx: &SourceContext) -> Result<Box<dyn Source>> {
    let table = Table::parse(options.get("nexmark.table").unwrap_or("bid"))?;
    let events = options.parse::<u64>("nexmark.events")?;
    let rate = options.parse::<f64>("nexmark.rate")?;
    let seed = options.parse::<u64>("nexmark.seed")?.unwrap_or(0);
    let first_rate = options.parse::<u64>("nexmark.first-event-rate")?;
    let first_rate = first_rate.unwrap_or(DEFAULT_FIRST_EVENT_RATE);
    let disorder = options.duration_ms("nexmark.out-of-orderness")?;
    let disorder = disorder.unwrap_or(0);
    let late_fraction = options.parse::<f64>("nexmark.late-fraction")?;
    let late_fraction = late_fraction.unwrap_or(0.0);
    let checks = [
        (rate.is_none_or(|r| r.is_finite() && r > 0.0), "nexmark.rate", "> 0"),
        ((1..=1_000_000_000).contains(&first_rate), "nexmark.first-event-rate", "in 1..=1e9"),
        (disorder >= 0, "nexmark.out-of-orderness", ">= 0"),
        ((0.0..=1.0).contains(&late_fraction), "nexmark.late-fraction", "in 0..=1"),
    ];
    if let Some((_, key, bound)) = checks.iter().find(|c| !c.0) {
        return Err(Error::sql(format!("option '{key}' must be {bound}")));
    }
    options.check_all_used("nexmark")?;

    let proj = projection(table, &ctx.schema)?;
    let wanted = (0..table.columns().len()).map(|i| proj.contains(&i)).collect();
    let mut gen = Generator::new(table, seed, events.unwrap_or(u64::MAX));
    gen.delay_ns = 1_000_000_000 / first_rate;
    gen.disorder_ms = disorder as u64;
    gen.late_fraction = late_fraction;
    gen.late_ms = if disorder > 0 { disorder.saturating_mul(10) } else { 10_000 };
    Ok(Box::new(NexmarkSource {
        gen,
        schema: ctx.schema.clone(),
        proj,
        wanted,
        batch_size: ctx.batch_size.max(1),
        rate,
        start: None,
        counters: ctx.counters.clone(),
    }))
}

/// A Nexmark table as a [`Source`].
struct NexmarkSource {
    gen: Generator,
    schema: SchemaRef,
    proj: Vec<usize>,
    wanted: Vec<bool>,
    batch_size: usize,
    rate: Option<f64>,
    start: Option<Instant>,
    counters: Arc<SourceCounters>,
}

#[async_trait]
impl Source for NexmarkSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    async fn next(&mut self) -> Result<SourceEvent> {
        loop {
            let target = self.gen.table.next_event(self.gen.next_event);
            if target >= self.gen.end_event {
                return Ok(SourceEvent::End);
            }
            let limit = match self.rate {
                None => u64::MAX,
                Some(rate) => {
                    // Event k is due k / rate seconds after the first poll; wait for a slice
                    // of the stream rather than emitting one row at a time.
                    let start = *self.start.get_or_insert_with(Instant::now);
                    let slice = ((rate * PACE_SECS) as u64).clamp(1, self.batch_size as u64);
                    let wait_for = target.max(self.gen.next_event + slice - 1).min(self.gen.end_event - 1);
                    tokio::time::sleep_until(start + Duration::from_secs_f64(wait_for as f64 / rate)).await;
                    ((start.elapsed().as_secs_f64() * rate) as u64 + 1).max(wait_for + 1)
                }
            };
            let mut out = Out::new(self.gen.table, &self.wanted, self.batch_size);
            let rows = self.gen.fill(&mut out, self.batch_size, limit);
            if rows > 0 {
                SourceCounters::add(&self.counters.rows, rows as u64);
                let batch = project(&out.finish(), &self.proj, &self.schema, rows)?;
                return Ok(SourceEvent::Batch(batch));
            }
        }
    }

    /// The next global event index: every event is generated from its index alone.
    fn offset(&self) -> Option<Vec<u8>> {
        Some(self.gen.next_event.to_le_bytes().to_vec())
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        self.gen.next_event = super::offset_word(offset, 0)?;
        if let Some(rate) = self.rate {
            // Pace as if the events before the offset had been emitted on time.
            let behind = Duration::from_secs_f64(self.gen.next_event as f64 / rate);
            self.start = Instant::now().checked_sub(behind);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::OnError;
    use datafusion::arrow::array::{AsArray, Int64Array};
    use datafusion::arrow::compute::concat_batches;

    fn ctx(columns: &[(&str, DataType)], batch_size: usize) -> SourceContext {
        let fields: Vec<Field> = columns.iter().map(|(n, t)| Field::new(*n, t.clone(), true)).collect();
        let (on_error, counters) = (OnError::Fail, Arc::default());
        let schema = Arc::new(Schema::new(fields));
        SourceContext { table: "t".into(), schema, on_error, counters, batch_size }
    }

    fn options(pairs: &[(&str, &str)]) -> Options {
        Options::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    /// All the rows of a source, checking that no batch exceeds `max_rows`.
    async fn drain(o: &Options, c: &SourceContext) -> RecordBatch {
        let (mut source, mut batches) = (open(o, c).unwrap(), Vec::new());
        while let SourceEvent::Batch(b) = source.next().await.unwrap() {
            assert!(b.num_rows() <= c.batch_size);
            batches.push(b);
        }
        concat_batches(&c.schema, &batches).unwrap()
    }

    fn generate(table: &str, events: u64, seed: u64) -> RecordBatch {
        let batches = generate_batches(table, events, seed, 1000).unwrap();
        assert!(batches.iter().all(|b| b.num_rows() <= 1000));
        concat_batches(&full_schema(table).unwrap(), &batches).unwrap()
    }

    /// Column `name` (case-insensitive) as i64s: ints and timestamps.
    fn ints(b: &RecordBatch, name: &str) -> Vec<i64> {
        let i = b.schema().fields().iter().position(|f| f.name().eq_ignore_ascii_case(name));
        let c = cast(b.column(i.unwrap()), &DataType::Int64).unwrap();
        c.as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec()
    }

    const TS: DataType = DataType::Timestamp(TimeUnit::Millisecond, None);

    #[tokio::test]
    async fn resumes_from_any_offset_with_the_same_events() {
        let c = ctx(&[("auction", DataType::Int64), ("price", DataType::Int64), ("date_time", TS)], 700);
        let o = options(&[
            ("nexmark.events", "5000"),
            ("nexmark.out-of-orderness", "2s"),
            ("nexmark.late-fraction", "0.1"),
        ]);
        crate::connectors::resume_check::assert_resumes_anywhere(|| open(&o, &c).unwrap()).await;
    }

    #[test]
    fn same_seed_same_batches_other_seed_differs() {
        for table in ["bid", "auction", "person"] {
            let a = generate_batches(table, 3000, 7, 256).unwrap();
            assert_eq!(a, generate_batches(table, 3000, 7, 256).unwrap());
            assert_ne!(a, generate_batches(table, 3000, 8, 256).unwrap());
        }
    }

    #[test]
    fn mix_is_1_3_46_and_values_follow_the_reference() {
        let (people, auctions, bids) =
            (generate("person", 5000, 0), generate("auction", 5000, 0), generate("bid", 5000, 0));
        assert_eq!((people.num_rows(), auctions.num_rows(), bids.num_rows()), (100, 300, 4600));
        assert_eq!(ints(&people, "id"), (1000..1100).collect::<Vec<_>>());
        assert_eq!(ints(&auctions, "id"), (1000..1300).collect::<Vec<_>>());
        // Bids refer to auctions and people that exist or are about to.
        assert!(ints(&bids, "auction").iter().all(|a| (1000..1310).contains(a)));
        assert!(ints(&bids, "bidder").iter().all(|a| (1000..1110).contains(a)));
        assert!(ints(&bids, "price").iter().all(|p| (100..=100_000_000).contains(p)));
        let channel = bids.column(3).as_string::<i32>();
        assert!(channel.iter().flatten().any(|c| HOT_CHANNELS.contains(&c)));
        assert!(channel.iter().flatten().any(|c| c.starts_with("channel-")));
        let url = bids.column(4).as_string::<i32>();
        assert!(url.iter().flatten().all(|u| u.starts_with("https://www.nexmark.com/")));
        let extra = bids.column(6).as_string::<i32>();
        assert!(extra.iter().all(|x| (54..82).contains(&x.unwrap().len())));
        let email = people.column(2).as_string::<i32>();
        assert!(email.iter().all(|e| e.unwrap().contains('@') && e.unwrap().ends_with(".com")));
        let (expires, start) = (ints(&auctions, "expires"), ints(&auctions, "date_time"));
        assert!(expires.iter().zip(&start).all(|(e, s)| e > s && *e <= s + 334));
    }

    #[test]
    fn event_times_are_base_plus_index_times_delay() {
        for (table, kinds) in [("bid", 4..50), ("person", 0..1), ("auction", 1..4)] {
            let expected: Vec<i64> =
                (0..5000i64).filter(|e| kinds.contains(&(e % 50))).map(|e| BASE_TIME_MS + e / 10).collect();
            assert_eq!(ints(&generate(table, 5000, 3), "date_time"), expected, "{table}");
        }
    }

    #[tokio::test]
    async fn subset_in_any_order_with_cast() {
        let c = ctx(&[("DATE_TIME", TS), ("price", DataType::Int32), ("auction", DataType::Int64)], 100);
        let got = drain(&options(&[("nexmark.events", "500"), ("nexmark.seed", "5")]), &c).await;
        let full = generate("bid", 500, 5);
        assert_eq!((got.num_rows(), got.schema()), (460, c.schema.clone()));
        for name in ["date_time", "price", "auction"] {
            assert_eq!(ints(&got, name), ints(&full, name));
        }
        assert_eq!(c.counters.rows.load(std::sync::atomic::Ordering::Relaxed), 460);
    }

    #[test]
    fn unknown_column_table_and_option_are_errors() {
        let c = ctx(&[("bidder_id", DataType::Int64)], 10);
        let e = open(&options(&[]), &c).err().unwrap();
        assert!(e.message.contains("'bidder_id'") && e.message.contains("auction, bidder, price"), "{e}");
        let e = open(&options(&[("nexmark.table", "bids")]), &c).err().unwrap();
        assert!(e.message.contains("'bids'"), "{e}");
        let c = ctx(&[("id", DataType::Int64)], 10);
        let e = open(&options(&[("nexmark.table", "person"), ("nexmark.sed", "1")]), &c).err().unwrap();
        assert!(e.message.contains("'nexmark.sed'"), "{e}");
        let e = open(&options(&[("nexmark.table", "person"), ("nexmark.late-fraction", "2")]), &c);
        assert!(e.err().unwrap().message.contains("late-fraction"));
    }

    #[tokio::test]
    async fn events_bound_is_honoured_for_every_table() {
        for (table, expected) in [("bid", 920), ("auction", 60), ("person", 20)] {
            let c = ctx(&[("date_time", TS)], 64);
            let got = drain(&options(&[("nexmark.table", table), ("nexmark.events", "1000")]), &c).await;
            assert_eq!(got.num_rows(), expected, "{table}");
            assert!(ints(&got, "date_time").iter().all(|t| *t < BASE_TIME_MS + 100));
        }
    }

    #[tokio::test]
    async fn out_of_orderness_and_lateness_bounds() {
        let c = ctx(&[("date_time", TS)], 1000);
        let nominal = ints(&generate("bid", 20000, 0), "date_time");
        let (c, nominal) = (&c, &nominal);
        let shifts = |o: &[(&str, &str)]| {
            let o = options(&[&[("nexmark.events", "20000")], o].concat());
            async move {
                let got = ints(&drain(&o, c).await, "date_time");
                nominal.iter().zip(got).map(|(n, t)| n - t).collect::<Vec<_>>()
            }
        };
        let jitter = shifts(&[("nexmark.out-of-orderness", "2 s")]).await;
        assert!(jitter.iter().all(|s| (0..=2000).contains(s)));
        assert!(jitter.iter().any(|s| *s > 1900), "jitter should use the bound");
        let late = shifts(&[("nexmark.out-of-orderness", "1 s"), ("nexmark.late-fraction", "0.1")]).await;
        assert!(late.iter().all(|s| (0..=11_000).contains(s)));
        let n = late.iter().filter(|s| **s >= 10_000).count();
        assert!((1500..2200).contains(&n), "late events: {n} of {}", late.len());
    }

    #[tokio::test]
    async fn rate_limits_output() {
        let c = ctx(&[("price", DataType::Int64)], 1000);
        let started = std::time::Instant::now();
        let got = drain(&options(&[("nexmark.events", "200"), ("nexmark.rate", "1000")]), &c).await;
        assert_eq!(got.num_rows(), 184);
        assert!(started.elapsed() >= Duration::from_millis(190), "{:?}", started.elapsed());
    }
}
