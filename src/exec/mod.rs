//! Operators, one per file, all implementing [`operator::Operator`].

pub mod chunk;
pub mod correction;
pub mod delayed_column;
pub mod event_time;
pub mod filter;
pub mod groups;
pub mod operator;
pub mod project;
pub mod session_aggregate;
pub mod slide_aggregate;
pub mod state_codec;
pub mod watermark_assigner;
pub mod watermark_combiner;
pub mod window_aggregate;
pub mod window_assign;

pub use chunk::{Chunk, RowOp};
pub use operator::Operator;
