//! Operators, one per file, all implementing [`operator::Operator`].

pub mod changelog;
pub mod chunk;
pub mod correction;
pub mod current_watermark;
pub mod deduplicate;
pub mod delayed_column;
pub mod emit_window_aggregate;
pub mod event_time;
pub mod filter;
pub mod groups;
pub mod late_split;
pub mod match_eval;
pub mod match_pattern;
pub mod match_recognize;
mod match_rows;
pub mod match_spec;
pub mod operator;
pub mod project;
pub mod row_group;
pub mod session_aggregate;
pub mod slide_aggregate;
pub mod state_codec;
#[cfg(test)]
pub mod test_rows;
pub mod updating_aggregate;
pub mod watermark_assigner;
pub mod watermark_combiner;
pub mod window_aggregate;
pub mod window_assign;

pub use chunk::{Chunk, RowOp};
pub use operator::Operator;
