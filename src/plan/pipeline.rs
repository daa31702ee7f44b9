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

use crate::exec::filter::FilterOp;
use crate::exec::operator::Operator;
use crate::exec::project::ProjectOp;
use crate::exec::session_aggregate::{SessionAggregate, SessionAggregateSpec};
use crate::exec::slide_aggregate::{SlideAggregate, SlideAggregateSpec};
use crate::exec::window_aggregate::{WindowAggregate, WindowAggregateSpec};
use crate::exec::window_assign::WindowAssign;

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
    },
    /// `SELECT` list.
    Project {
        /// One expression per output column.
        exprs: Vec<Arc<dyn PhysicalExpr>>,
        /// Output schema.
        schema: SchemaRef,
        /// Text for EXPLAIN.
        display: String,
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
    /// Window aggregate.
    WindowAggregate {
        /// The operator's plan.
        spec: Arc<WindowAggregateSpec>,
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
    /// Builds a fresh operator.
    pub fn build(&self) -> Box<dyn Operator> {
        match self {
            OpSpec::Filter { predicate, .. } => Box::new(FilterOp::new(Arc::clone(predicate))),
            OpSpec::Project { exprs, schema, .. } => Box::new(ProjectOp::new(exprs.clone(), schema.clone(), "Project")),
            OpSpec::WindowAggregate { spec, .. } => Box::new(WindowAggregate::new(Arc::clone(spec))),
            OpSpec::WindowAssign { kind, time, schema } => {
                Box::new(WindowAssign::new(*kind, Arc::clone(time), schema.clone()))
            }
            // Key types were checked to have a row format when planning.
            OpSpec::SessionAggregate { spec, .. } => {
                Box::new(SessionAggregate::new(Arc::clone(spec)).expect("key types checked when planning"))
            }
            OpSpec::SlideAggregate { spec, .. } => {
                Box::new(SlideAggregate::new(Arc::clone(spec)).expect("key types checked when planning"))
            }
        }
    }

    /// One line for EXPLAIN.
    pub fn describe(&self) -> String {
        match self {
            OpSpec::Filter { display, .. } => format!("Filter: {display}"),
            OpSpec::Project { display, .. } => format!("Project: {display}"),
            OpSpec::WindowAggregate { display, .. } => format!("WindowAggregate: {display}"),
            OpSpec::WindowAssign { kind, time, .. } => format!("WindowAssign: {} on {time}", kind.describe()),
            OpSpec::SessionAggregate { display, .. } => format!("SessionAggregate: {display}"),
            OpSpec::SlideAggregate { display, .. } => format!("SlideAggregate: {display}"),
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
                OpSpec::SessionAggregate { .. } => "SessionAggregate",
                OpSpec::SlideAggregate { .. } => "SlideAggregate",
            })
            .collect()
    }

    /// The windows the query uses.
    pub fn windows(&self) -> Vec<crate::plan::window::WindowKind> {
        self.stages
            .iter()
            .flat_map(|s| &s.ops)
            .filter_map(|o| match o {
                OpSpec::WindowAssign { kind, .. } => Some(*kind),
                OpSpec::WindowAggregate { spec, .. } => Some(spec.kind),
                _ => None,
            })
            .collect()
    }

    /// Whether the query keeps state between rows (window aggregates), and so needs
    /// checkpoints to recover and memory per open window and key.
    pub fn is_stateful(&self) -> bool {
        self.operators().iter().any(|o| matches!(*o, "WindowAggregate" | "SessionAggregate" | "SlideAggregate"))
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
