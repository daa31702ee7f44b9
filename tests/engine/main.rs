//! Integration tests of the engine, in one test binary (one link of DataFusion).

mod checkpoint;
mod cli;
mod daemon;
mod grammar;
mod memory;
mod oracle;
mod oracle_late;
mod oracle_match;
mod oracle_updating;
mod parallel;
mod queries;
mod sketch;
mod slide_oracle;
mod snapshot;
