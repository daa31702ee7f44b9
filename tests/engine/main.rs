//! Integration tests of the engine, in one test binary (one link of DataFusion).

mod cli;
mod grammar;
mod memory;
mod oracle;
mod parallel;
mod queries;
mod slide_oracle;
