//! Parsing: SQL text → Wavecrest statements (sqlparser plus our dialect extensions).

pub mod ast;
pub mod ddl;
pub mod group_window;
pub mod match_recognize;
pub mod parser;
pub mod rewrite;
pub mod tvf_args;

pub use ast::{Emit, EmitMode, Located, Statement};
pub use parser::parse_statements;
