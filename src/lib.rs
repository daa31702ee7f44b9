//! Wavecrest: a streaming SQL engine with event-time windows, watermarks and changelog
//! output, built on Apache DataFusion and Arrow.
//!
//! The `wavecrest` binary is a thin layer over this crate. Embedders use:
//! - [`Session`]: executes statements ([`Session::sql`]); DDL takes effect at once,
//!   continuous queries come back planned ([`Output::Continuous`]) and run with
//!   [`Session::start`] (background, subscribe to results) or [`Session::run`] (to
//!   completion, into sinks);
//! - [`plan::Planner`]: SQL → checked, explainable streaming plan, no runtime needed;
//! - `memory` tables ([`Session::memory_table`]) to push Arrow batches and watermarks in.
//!
//! Results are changelog [`exec::Chunk`]s: Arrow rows plus an op per row
//! (`+I`, `-U`, `+U`, `-D`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> wavecrest::Result<()> {
//! use futures::StreamExt;
//! use wavecrest::sink::collect::chunks_to_strings;
//! use wavecrest::{Output, Session};
//!
//! let mut session = Session::new();
//! let mut out = session.sql(
//!     "CREATE TABLE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3),
//!        WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH ('connector' = 'values');
//!      INSERT INTO bids VALUES (1, 10, TIMESTAMP '2024-01-01 00:00:01'),
//!                              (1, 30, TIMESTAMP '2024-01-01 00:00:04');
//!      SELECT window_start, auction, MAX(price) AS top
//!      FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
//!      GROUP BY window_start, window_end, auction;",
//! )?;
//! let Some(Output::Continuous(query)) = out.pop() else { unreachable!() };
//! let mut running = session.start(query, 1)?;
//! let chunks: Vec<_> = running.subscriptions.pop().unwrap().collect().await;
//! assert_eq!(chunks_to_strings(&chunks)?, vec![vec!["+I", "2024-01-01 00:00:00.000", "1", "30"]]);
//! running.wait().await?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod connectors;
#[cfg(feature = "daemon")]
pub mod daemon;
pub mod error;
pub mod exec;
pub mod functions;
pub mod plan;
pub mod runtime;
pub mod session;
pub mod sink;
pub mod sql;

pub use session::{Continuous, Output, PlanSpec, RunningQuery, Session, Target};

pub use error::{Error, ErrorKind, Location, Result};
