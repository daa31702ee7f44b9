//! The plan of one `MATCH_RECOGNIZE` operator: what the planner hands the operator
//! ([`super::match_recognize::MatchRecognize`]).

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;

use super::match_eval::MatchExpr;
use super::match_pattern::Pattern;

/// `ONE ROW PER MATCH` or `ALL ROWS PER MATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum RowsPerMatch {
    /// One row per match (empty matches too): partition columns and measures (final
    /// semantics).
    One,
    /// Every row of a match: input columns and measures (running semantics).
    All(EmptyMatches),
}

/// What `ALL ROWS PER MATCH` outputs besides the rows of non-empty matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum EmptyMatches {
    /// `SHOW EMPTY MATCHES` (the default): an empty match gives its starting row with
    /// measures over no rows.
    Show,
    /// `OMIT EMPTY MATCHES`: empty matches give no row (they still take a MATCH_NUMBER).
    Omit,
    /// `WITH UNMATCHED ROWS`: empty matches as with `Show`, and every row in no match
    /// with NULL measures.
    WithUnmatched,
}

/// Where the search for the next match starts (`AFTER MATCH SKIP ..`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum AfterMatch {
    /// `PAST LAST ROW` (the default).
    PastLastRow,
    /// `TO NEXT ROW`: the row after the match's first row.
    ToNextRow,
    /// `TO FIRST v`: the first row mapped to variable `v`.
    ToFirst(u16),
    /// `TO LAST v`: the last row mapped to variable `v`.
    ToLast(u16),
}

/// The plan of one `MATCH_RECOGNIZE` operator.
#[derive(Debug)]
pub struct MatchRecognizeSpec {
    /// `PARTITION BY` expressions over the input.
    pub partition: Vec<Arc<dyn PhysicalExpr>>,
    /// The event-time attribute (the first `ORDER BY` key).
    pub time: Arc<dyn PhysicalExpr>,
    /// Further `ORDER BY` keys (ties of time), with `descending` flags.
    pub order: Vec<(Arc<dyn PhysicalExpr>, bool)>,
    /// The pattern over variable indices.
    pub pattern: Pattern,
    /// Variable names by index.
    pub var_names: Vec<String>,
    /// `DEFINE` condition per variable (`None`: matches every row).
    pub defines: Vec<Option<MatchExpr>>,
    /// `MEASURES`, in output order.
    pub measures: Vec<MatchExpr>,
    /// Output shape.
    pub rows_per_match: RowsPerMatch,
    /// `AFTER MATCH SKIP`.
    pub after_match: AfterMatch,
    /// `WITHIN`: a match's last row is less than this after its first (ms).
    pub within_ms: Option<i64>,
    /// `WITHIN .. EMIT TIMEOUTS` (only with `ONE ROW PER MATCH`): once the watermark reaches
    /// a partial match's first row time plus `within_ms` and no match starts there, the
    /// partial match is output with `MATCH_TIMED_OUT()` true.
    pub emit_timeouts: bool,
    /// The input schema (all fields nullable).
    pub input_schema: SchemaRef,
    /// Expressions over the input that navigation reads (`PREV(price * 2)`), computed once
    /// per row when it arrives and held as extra columns after the input's.
    pub derived: Vec<Arc<dyn PhysicalExpr>>,
    /// The held rows' schema: the input's columns, then the derived ones (all nullable).
    pub row_schema: SchemaRef,
    /// The output schema.
    pub schema: SchemaRef,
}
