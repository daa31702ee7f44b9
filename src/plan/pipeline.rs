//! The physical streaming plan of one query: a source and a chain of stages, each stage
//! a chain of operators run by one or more workers.
//!
//! ```text
//! source ─▶ stage 0 (1 worker: filters, projections)
//!        ─hash(keys)▶ stage 1 (N workers: window aggregate, projections) ─▶ sink
//! ```

use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;

use crate::error::Result;
use crate::exec::deduplicate::Deduplicate;
use crate::exec::emit_window_aggregate::{EmitWindowAggregate, EmitWindowAggregateSpec};
use crate::exec::filter::FilterOp;
use crate::exec::late_split::{LateSplit, LateSplitSpec};
use crate::exec::match_recognize::{MatchRecognize, MatchRecognizeSpec};
use crate::exec::operator::Operator;
use crate::exec::project::ProjectOp;
use crate::exec::session_aggregate::{SessionAggregate, SessionAggregateSpec};
use crate::exec::slide_aggregate::{Frame, SlideAggregate, SlideAggregateSpec, SlideOutput};
use crate::exec::updating_aggregate::{UpdatingAggregate, UpdatingAggregateSpec};
use crate::exec::window_aggregate::{WindowAggregate, WindowAggregateSpec};
use crate::exec::window_assign::WindowAssign;
use crate::plan::window::WindowKind;
use crate::runtime::side_output::SideOutputs;

/// How rows reach the workers of a stage.
#[derive(Debug, Clone)]
pub enum Partitioning {
    /// The first stage: one worker fed by the source.
    Source,
    /// By hash of these key expressions over `parallelism` workers.
    Hash(Vec<Arc<dyn PhysicalExpr>>),
    /// All rows to one worker (aggregates without keys).
    Single,
}

/// An operator to instantiate once per worker.
#[derive(Debug, Clone)]
pub enum OpSpec {
    /// `WHERE`.
    Filter {
        /// Predicate over the input.
        predicate: Arc<dyn PhysicalExpr>,
        /// Its SQL-ish text, for EXPLAIN.
        display: String,
        /// Whether the predicate reads `CURRENT_WATERMARK` (the input gets its column).
        watermark: bool,
    },
    /// `SELECT` list.
    Project {
        /// One expression per output column.
        exprs: Vec<Arc<dyn PhysicalExpr>>,
        /// Output schema.
        schema: SchemaRef,
        /// Text for EXPLAIN.
        display: String,
        /// Whether an expression reads `CURRENT_WATERMARK` (the input gets its column).
        watermark: bool,
    },
    /// Window TVF without aggregation.
    WindowAssign {
        /// Window shape.
        kind: crate::plan::window::WindowKind,
        /// The event-time column of the input.
        time: Arc<dyn PhysicalExpr>,
        /// Input schema plus the window columns.
        schema: SchemaRef,
    },
    /// Routes rows too late for a window to the table's `__late` stream.
    LateSplit {
        /// The operator's plan.
        spec: Arc<LateSplitSpec>,
    },
    /// Window aggregate with an `EMIT` clause.
    EmitWindowAggregate {
        /// The operator's plan.
        spec: Arc<EmitWindowAggregateSpec>,
        /// Text for EXPLAIN.
        display: String,
    },
    /// Non-windowed `GROUP BY`: an updating aggregate.
    UpdatingAggregate {
        /// The operator's plan.
        spec: Arc<UpdatingAggregateSpec>,
        /// Text for EXPLAIN.
        display: String,
    },
    /// Window aggregate.
    WindowAggregate {
        /// The operator's plan.
        spec: Arc<WindowAggregateSpec>,
        /// Text for EXPLAIN.
        display: String,
    },
    /// `MATCH_RECOGNIZE` (in a stage hash-partitioned by `PARTITION BY`).
    MatchRecognize {
        /// The operator's plan.
        spec: Arc<MatchRecognizeSpec>,
        /// Text for EXPLAIN.
        display: String,
        /// The `PATTERN` as SQL.
        pattern: String,
    },
    /// `DEDUPLICATE` (in a stage hash-partitioned by its keys).
    Deduplicate {
        /// Key expressions over the input.
        keys: Vec<Arc<dyn PhysicalExpr>>,
        /// Filter size and horizon (validated when planned).
        params: crate::plan::deduplicate::DedupParams,
        /// Text for EXPLAIN.
        display: String,
    },
    /// SESSION window aggregate.
    SessionAggregate {
        /// The operator's plan.
        spec: Arc<SessionAggregateSpec>,
        /// Text for EXPLAIN.
        display: String,
    },
    /// SLIDE window aggregate or OVER window.
    SlideAggregate {
        /// The operator's plan.
        spec: Arc<SlideAggregateSpec>,
        /// Text for EXPLAIN.
        display: String,
    },
}

impl OpSpec {
    /// Builds a fresh operator whose side outputs (late rows) are dropped.
    pub fn build(&self) -> Result<Box<dyn Operator>> {
        self.build_with(&SideOutputs::new())
    }

    /// Builds a fresh operator writing its side outputs to the job's `outputs`.
    pub fn build_with(&self, outputs: &SideOutputs) -> Result<Box<dyn Operator>> {
        Ok(match self {
            OpSpec::LateSplit { spec } => Box::new(LateSplit::new(Arc::clone(spec), outputs.writer(&spec.side_table))),
            OpSpec::Filter { predicate, watermark, .. } => {
                Box::new(FilterOp::new(Arc::clone(predicate)).reading_watermark(*watermark))
            }
            OpSpec::Project { exprs, schema, watermark, .. } => {
                Box::new(ProjectOp::new(exprs.clone(), schema.clone(), "Project").reading_watermark(*watermark))
            }
            OpSpec::WindowAggregate { spec, .. } => Box::new(WindowAggregate::new(Arc::clone(spec))),
            OpSpec::WindowAssign { kind, time, schema } => {
                Box::new(WindowAssign::new(*kind, Arc::clone(time), schema.clone()))
            }
            OpSpec::UpdatingAggregate { spec, .. } => Box::new(UpdatingAggregate::new(Arc::clone(spec))?),
            OpSpec::EmitWindowAggregate { spec, .. } => Box::new(EmitWindowAggregate::new(Arc::clone(spec))?),
            OpSpec::Deduplicate { keys, params, .. } => Box::new(Deduplicate::try_new(keys.clone(), *params)?),
            OpSpec::SessionAggregate { spec, .. } => Box::new(SessionAggregate::new(Arc::clone(spec))?),
            OpSpec::SlideAggregate { spec, .. } => Box::new(SlideAggregate::new(Arc::clone(spec))?),
            OpSpec::MatchRecognize { spec, .. } => Box::new(MatchRecognize::try_new(Arc::clone(spec))?),
        })
    }

    /// One line for EXPLAIN.
    pub fn describe(&self) -> String {
        match self {
            OpSpec::Filter { display, .. } => format!("Filter: {display}"),
            OpSpec::Project { display, .. } => format!("Project: {display}"),
            OpSpec::WindowAggregate { display, .. } => format!("WindowAggregate: {display}"),
            OpSpec::WindowAssign { kind, time, .. } => format!("WindowAssign: {} on {time}", kind.describe()),
            OpSpec::UpdatingAggregate { display, .. } => format!("UpdatingAggregate: {display}"),
            OpSpec::EmitWindowAggregate { display, .. } => format!("WindowAggregate: {display}"),
            OpSpec::LateSplit { spec } => {
                format!("LateSplit: rows too late for {} to {}", spec.operator, spec.side_table)
            }
            OpSpec::Deduplicate { display, .. } => format!("Deduplicate: {display}"),
            OpSpec::SessionAggregate { display, .. } => format!("SessionAggregate: {display}"),
            OpSpec::SlideAggregate { display, .. } => format!("SlideAggregate: {display}"),
            OpSpec::MatchRecognize { display, .. } => format!("MatchRecognize: {display}"),
        }
    }
}

/// A stage: a partitioning and the operators each of its workers runs.
#[derive(Debug, Clone)]
pub struct StagePlan {
    /// How input rows are distributed.
    pub partitioning: Partitioning,
    /// Operators, first to last.
    pub ops: Vec<OpSpec>,
}

/// A query's streaming plan.
///
/// ```
/// use wavecrest::Session;
/// let mut session = Session::new();
/// session.sql("CREATE TABLE t (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values', 'lateness' = '5 s')").unwrap();
/// let plan = session.planner().plan_sql(
///     "SELECT window_start, k, COUNT(*) FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '5' SECOND))
///      GROUP BY window_start, window_end, k").unwrap();
/// assert_eq!(plan.source, "t");
/// assert_eq!(plan.operators(), vec!["WindowAggregate", "Project"]);
/// assert_eq!(plan.windows()[0].describe(), "HOP(slide=1s, size=5s)");
/// assert!(plan.is_stateful());
/// assert!(!plan.append_only, "allowed lateness makes it correct earlier rows");
/// assert_eq!(plan.schema.field(2).name(), "count(*)");
/// assert!(plan.explain(4).contains("hash(k@0), 4 workers"));
///
/// let cep = session.planner().plan_sql(
///     "SELECT * FROM t MATCH_RECOGNIZE (PARTITION BY k ORDER BY ts MEASURES COUNT(B.*) AS n
///      PATTERN (A B+) DEFINE B AS k > 0)").unwrap();
/// assert_eq!(cep.patterns(), vec!["A B+"]);
/// let sessions = session.planner().plan_sql(
///     "SELECT window_start, k, COUNT(*) FROM TABLE(SESSION(TABLE t PARTITION BY k, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
///      GROUP BY window_start, window_end, k").unwrap();
/// assert_eq!(sessions.windows()[0].describe(), "SESSION(gap=1min)");
/// ```
#[derive(Debug, Clone)]
pub struct QueryPlan {
    /// The table the query reads.
    pub source: String,
    /// Stages, source side first.
    pub stages: Vec<StagePlan>,
    /// Output schema.
    pub schema: SchemaRef,
    /// Whether the output is append-only (`+I` only).
    pub append_only: bool,
}

impl QueryPlan {
    /// The operators, source side first, by name (`Filter`, `Project`, `WindowAggregate`, ...).
    pub fn operators(&self) -> Vec<&'static str> {
        self.stages
            .iter()
            .flat_map(|s| &s.ops)
            .map(|o| match o {
                OpSpec::Filter { .. } => "Filter",
                OpSpec::Project { .. } => "Project",
                OpSpec::WindowAssign { .. } => "WindowAssign",
                OpSpec::WindowAggregate { .. } => "WindowAggregate",
                OpSpec::UpdatingAggregate { .. } => "UpdatingAggregate",
                OpSpec::EmitWindowAggregate { .. } => "WindowAggregate",
                OpSpec::LateSplit { .. } => "LateSplit",
                OpSpec::Deduplicate { .. } => "Deduplicate",
                OpSpec::SessionAggregate { .. } => "SessionAggregate",
                OpSpec::SlideAggregate { .. } => "SlideAggregate",
                OpSpec::MatchRecognize { .. } => "MatchRecognize",
            })
            .collect()
    }

    /// The windows the query uses.
    pub fn windows(&self) -> Vec<WindowKind> {
        self.stages
            .iter()
            .flat_map(|s| &s.ops)
            .filter_map(|o| match o {
                OpSpec::WindowAssign { kind, .. } => Some(*kind),
                OpSpec::WindowAggregate { spec, .. } => Some(spec.kind),
                OpSpec::EmitWindowAggregate { spec, .. } => Some(spec.window.kind),
                OpSpec::SessionAggregate { spec, .. } => Some(WindowKind::Session { gap: spec.gap }),
                OpSpec::SlideAggregate { spec, .. } => match (&spec.output, spec.frame) {
                    (SlideOutput::PerWindow(_), Frame::Range(size)) => Some(WindowKind::Slide { size }),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// The `MATCH_RECOGNIZE` patterns the query uses, as SQL (`(A B+ C?)`).
    pub fn patterns(&self) -> Vec<&str> {
        self.stages
            .iter()
            .flat_map(|s| &s.ops)
            .filter_map(|o| match o {
                OpSpec::MatchRecognize { pattern, .. } => Some(pattern.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Whether the query keeps state between rows (aggregates, deduplication), and
    /// so needs checkpoints to recover and memory per open window and key.
    pub fn is_stateful(&self) -> bool {
        self.operators().iter().any(|o| {
            matches!(
                *o,
                "WindowAggregate"
                    | "UpdatingAggregate"
                    | "Deduplicate"
                    | "SessionAggregate"
                    | "SlideAggregate"
                    | "MatchRecognize"
            )
        })
    }

    /// The operator pipeline as text (EXPLAIN), top = sink side.
    pub fn explain(&self, parallelism: usize) -> String {
        let mut out = String::new();
        let columns = self.schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ");
        let mode = if self.append_only { "append-only" } else { "updating" };
        let _ = writeln!(out, "Output: {columns} ({mode})");
        for (i, stage) in self.stages.iter().enumerate().rev() {
            let (how, workers) = match &stage.partitioning {
                Partitioning::Source => ("from source".to_string(), 1),
                Partitioning::Single => ("single worker".to_string(), 1),
                Partitioning::Hash(keys) => {
                    let keys = keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ");
                    (format!("hash({keys})"), parallelism)
                }
            };
            let plural = if workers == 1 { "" } else { "s" };
            let _ = writeln!(out, "Stage {i} [{how}, {workers} worker{plural}]");
            for op in stage.ops.iter().rev() {
                let _ = writeln!(out, "  {}", op.describe());
            }
        }
        let _ = writeln!(out, "Source: {}", self.source);
        out
    }
}
