//! Wavecrest: a streaming SQL engine with event-time windows, watermarks and changelog
//! output, built on Apache DataFusion and Arrow.

pub mod connectors;
pub mod error;
pub mod exec;
pub mod functions;
pub mod plan;
pub mod runtime;
pub mod session;
pub mod sink;
pub mod sql;

pub use session::{Continuous, Output, Session, Target};

pub use error::{Error, ErrorKind, Location, Result};
