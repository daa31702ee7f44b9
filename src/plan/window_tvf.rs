//! Window table-valued functions (`TUMBLE`, `HOP`, `CUMULATE`, `SESSION`, `SLIDE`) as a
//! DataFusion logical extension node, planned by a [`RelationPlanner`] from the `FROM` clause.
//!
//! The node adds `window_start`, `window_end` and `window_time` to its input. It is never
//! executed by DataFusion: the streaming lowering turns `Aggregate(WindowTvf)` into a
//! pane-based window aggregate, and a bare `WindowTvf` into a window-assigning operator.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{DFSchema, DFSchemaRef, ScalarValue};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::planner::{PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::sql::sqlparser::ast::{self, FunctionArg, FunctionArgExpr, FunctionArguments, TableFactor};

use super::catalog::StreamTable;
use super::match_recognize::MatchRecognizeNode;
use super::window::WindowKind;

/// Names of the columns a window TVF adds.
pub const WINDOW_COLUMNS: [&str; 3] = ["window_start", "window_end", "window_time"];

/// `TUMBLE/HOP/CUMULATE/SESSION/SLIDE(input, DESCRIPTOR(time_col), ...)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WindowTvfNode {
    /// The input relation.
    pub input: LogicalPlan,
    /// Window shape.
    pub kind: WindowKind,
    /// Index of the event-time column in the input schema.
    pub time_index: usize,
    /// Input schema plus the three window columns.
    pub schema: DFSchemaRef,
    /// SESSION/SLIDE `PARTITION BY` columns of the input (empty: one partition).
    pub partition: Vec<String>,
}

impl PartialOrd for WindowTvfNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self.kind, self.time_index).partial_cmp(&(other.kind, other.time_index))
    }
}

impl WindowTvfNode {
    /// Builds the node; the input must have `time_col` as a timestamp column.
    pub fn try_new(input: LogicalPlan, kind: WindowKind, time_col: &str) -> DfResult<Self> {
        kind.validate().map_err(DataFusionError::Plan)?;
        let in_schema = input.schema();
        let time_index =
            in_schema.fields().iter().position(|f| f.name().eq_ignore_ascii_case(time_col)).ok_or_else(|| {
                DataFusionError::Plan(format!("DESCRIPTOR({time_col}): no column '{time_col}' in the window's input"))
            })?;
        let field = in_schema.field(time_index);
        if !matches!(field.data_type(), DataType::Timestamp(_, _)) {
            return Err(DataFusionError::Plan(format!(
                "DESCRIPTOR({time_col}): the time column must be a TIMESTAMP, not {}",
                field.data_type()
            )));
        }
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let extra = DFSchema::from_unqualified_fields(
            WINDOW_COLUMNS.iter().map(|n| Field::new(*n, ts.clone(), false)).collect::<Vec<_>>().into(),
            Default::default(),
        )?;
        let schema = Arc::new(in_schema.join(&extra)?);
        Ok(WindowTvfNode { input, kind, time_index, schema, partition: vec![] })
    }

    /// Sets the `PARTITION BY` columns (SESSION and SLIDE only); each must be an input column.
    pub fn with_partition(mut self, partition: Vec<String>) -> DfResult<Self> {
        if !partition.is_empty() && self.kind.is_pane_based() {
            return Err(DataFusionError::Plan(format!(
                "PARTITION BY is only allowed in SESSION and SLIDE windows, not {}",
                self.kind.describe()
            )));
        }
        for p in &partition {
            if !self.input.schema().fields().iter().any(|f| f.name().eq_ignore_ascii_case(p)) {
                return Err(DataFusionError::Plan(format!("PARTITION BY {p}: no column '{p}' in the window's input")));
            }
        }
        self.partition = partition;
        Ok(self)
    }
}

impl UserDefinedLogicalNodeCore for WindowTvfNode {
    fn name(&self) -> &str {
        "WindowTvf"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "WindowTvf: {} on {}", self.kind.describe(), self.input.schema().field(self.time_index).name())?;
        if !self.partition.is_empty() {
            write!(f, " partition by {}", self.partition.join(", "))?;
        }
        Ok(())
    }
    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let input = inputs.pop().ok_or_else(|| DataFusionError::Internal("WindowTvf needs one input".into()))?;
        let time_col = self.input.schema().field(self.time_index).name().clone();
        WindowTvfNode::try_new(input, self.kind, &time_col)?.with_partition(self.partition.clone())
    }
}

/// Plans window TVFs in `FROM`: Flink's `TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), size))`
/// (with named arguments) and RisingWave's short `TUMBLE(t, ts, size)`.
#[derive(Debug, Default)]
pub struct WindowTvfPlanner;

impl RelationPlanner for WindowTvfPlanner {
    fn plan_relation(&self, relation: TableFactor, ctx: &mut dyn RelationPlannerContext) -> DfResult<RelationPlanning> {
        if matches!(relation, TableFactor::MatchRecognize { .. }) {
            return super::match_recognize::plan(relation, ctx);
        }
        let (name, args, alias) = match &relation {
            TableFactor::TableFunction { expr: ast::Expr::Function(f), alias } => match &f.args {
                FunctionArguments::List(list) => (f.name.to_string(), list.args.clone(), alias.clone()),
                _ => return Ok(RelationPlanning::Original(Box::new(relation))),
            },
            TableFactor::Function { name, args, alias, .. } => (name.to_string(), args.clone(), alias.clone()),
            TableFactor::Table { name, args: Some(args), alias, .. } => {
                (name.to_string(), args.args.clone(), alias.clone())
            }
            _ => return Ok(RelationPlanning::Original(Box::new(relation))),
        };
        let upper = name.to_ascii_uppercase();
        if upper == "DEDUPLICATE" {
            return super::deduplicate::plan(args, alias, ctx);
        }
        if !matches!(upper.as_str(), "TUMBLE" | "HOP" | "CUMULATE" | "SESSION" | "SLIDE") {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        }
        let args = WindowArgs::collect(&upper, args)?;
        let input = plan_input(&args.data, ctx)?;
        let mut args = args;
        if args.timecol == crate::sql::group_window::ROWTIME_PLACEHOLDER {
            args.timecol = time_attribute_of(&input).ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "{upper}(interval) needs an input with an event-time attribute (WATERMARK FOR ..); or name the column: {upper}(ts, interval)"
                ))
            })?;
        }
        let mut durations = Vec::new();
        for e in &args.durations {
            durations.push(interval_ms(e.clone(), ctx)?);
        }
        let need = |n: usize| -> DfResult<()> {
            if durations.len() < n || durations.len() > n + 1 {
                return Err(DataFusionError::Plan(format!(
                    "{upper} takes {} interval arguments{}, got {}",
                    n,
                    " plus an optional offset",
                    durations.len()
                )));
            }
            Ok(())
        };
        let offset = |i: usize| durations.get(i).copied().unwrap_or(0);
        let exactly_one = || -> DfResult<i64> {
            match durations[..] {
                [d] => Ok(d),
                _ => {
                    Err(DataFusionError::Plan(format!("{upper} takes one interval argument, got {}", durations.len())))
                }
            }
        };
        let kind = match upper.as_str() {
            "SESSION" => WindowKind::Session { gap: exactly_one()? },
            "SLIDE" => WindowKind::Slide { size: exactly_one()? },
            "TUMBLE" => {
                need(1)?;
                WindowKind::Tumble { size: durations[0], offset: offset(1) }
            }
            "HOP" => {
                need(2)?;
                WindowKind::Hop { slide: durations[0], size: durations[1], offset: offset(2) }
            }
            _ => {
                need(2)?;
                WindowKind::Cumulate { step: durations[0], max_size: durations[1], offset: offset(2) }
            }
        };
        let node = WindowTvfNode::try_new(input, kind, &args.timecol)?.with_partition(args.partition)?;
        check_time_attribute(&node.input, &args.timecol)?;
        let plan = LogicalPlan::Extension(Extension { node: Arc::new(node) });
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(plan, alias))))
    }
}

/// Arguments of a window TVF, positional or named, in Flink's order
/// (`DATA`, `TIMECOL`, then `SIZE` | `SLIDE, SIZE` | `STEP, SIZE`, then `OFFSET`).
struct WindowArgs {
    data: ast::Expr,
    timecol: String,
    durations: Vec<ast::Expr>,
    /// `PARTITION BY` columns (see [`crate::sql::rewrite::partition_by_arg`]).
    partition: Vec<String>,
}

impl WindowArgs {
    fn collect(func: &str, args: Vec<FunctionArg>) -> DfResult<Self> {
        let order: &[&str] = match func {
            "TUMBLE" => &["DATA", "TIMECOL", "SIZE", "OFFSET"],
            "HOP" => &["DATA", "TIMECOL", "SLIDE", "SIZE", "OFFSET"],
            "SESSION" => &["DATA", "TIMECOL", "GAP"],
            "SLIDE" => &["DATA", "TIMECOL", "SIZE"],
            _ => &["DATA", "TIMECOL", "STEP", "SIZE", "OFFSET"],
        };
        let mut slots: Vec<Option<ast::Expr>> = vec![None; order.len()];
        let mut next = 0;
        let mut partition = Vec::new();
        for arg in args {
            let (name, value) = match arg {
                FunctionArg::Unnamed(v) => (None, v),
                FunctionArg::Named { name, arg, .. } => (Some(name.value.to_ascii_uppercase()), arg),
                FunctionArg::ExprNamed { name, arg, .. } => (Some(name.to_string().to_ascii_uppercase()), arg),
            };
            let FunctionArgExpr::Expr(value) = value else {
                return Err(DataFusionError::Plan(format!("{func}: unexpected argument '{value}'")));
            };
            if name.as_deref() == Some(crate::sql::rewrite::PARTITION_BY_ARG) {
                if !matches!(func, "SESSION" | "SLIDE") {
                    return Err(DataFusionError::Plan(format!("{func} does not take PARTITION BY")));
                }
                partition = descriptor_columns(&value).ok_or_else(|| {
                    DataFusionError::Plan(format!("{func}: PARTITION BY takes column names, got {value}"))
                })?;
                continue;
            }
            let idx = match name {
                Some(n) => order.iter().position(|o| *o == n).ok_or_else(|| {
                    DataFusionError::Plan(format!(
                        "{func} has no argument named {n} (expected one of {})",
                        order.join(", ")
                    ))
                })?,
                None => {
                    let i = next;
                    next += 1;
                    i
                }
            };
            if idx >= slots.len() {
                return Err(DataFusionError::Plan(format!(
                    "{func}: too many arguments (expected {})",
                    order.join(", ")
                )));
            }
            slots[idx] = Some(value);
        }
        let mut slots = slots.into_iter();
        let data = slots
            .next()
            .flatten()
            .ok_or_else(|| DataFusionError::Plan(format!("{func}: missing the input table (DATA)")))?;
        let timecol_expr = slots
            .next()
            .flatten()
            .ok_or_else(|| DataFusionError::Plan(format!("{func}: missing the time column: DESCRIPTOR(ts)")))?;
        let timecol = descriptor_column(&timecol_expr).ok_or_else(|| {
            DataFusionError::Plan(format!("{func}: the time column must be DESCRIPTOR(column), got {timecol_expr}"))
        })?;
        let durations: Vec<ast::Expr> = slots.flatten().collect();
        Ok(WindowArgs { data, timecol, durations, partition })
    }
}

/// The columns of `DESCRIPTOR(a, b, ..)`.
fn descriptor_columns(e: &ast::Expr) -> Option<Vec<String>> {
    match e {
        ast::Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("descriptor") => match &f.args {
            FunctionArguments::List(l) => l
                .args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(inner)) => descriptor_column(inner),
                    _ => None,
                })
                .collect(),
            _ => None,
        },
        _ => None,
    }
}

fn descriptor_column(e: &ast::Expr) -> Option<String> {
    match e {
        ast::Expr::Identifier(id) => Some(id.value.clone()),
        ast::Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()),
        ast::Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("descriptor") => match &f.args {
            FunctionArguments::List(l) if l.args.len() == 1 => match &l.args[0] {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(inner)) => descriptor_column(inner),
                _ => None,
            },
            _ => None,
        },
        ast::Expr::Nested(inner) => descriptor_column(inner),
        _ => None,
    }
}

/// Plans a TVF's input argument: `TABLE name` (rewritten to a name) or a subquery.
pub(crate) fn plan_input(data: &ast::Expr, ctx: &mut dyn RelationPlannerContext) -> DfResult<LogicalPlan> {
    let factor = match data {
        ast::Expr::Identifier(id) => table_factor(ast::ObjectName::from(vec![id.clone()])),
        ast::Expr::CompoundIdentifier(parts) => table_factor(ast::ObjectName::from(parts.clone())),
        ast::Expr::Subquery(q) => {
            TableFactor::Derived { lateral: false, subquery: q.clone(), alias: None, sample: None }
        }
        other => {
            return Err(DataFusionError::Plan(format!("window input must be TABLE name or a subquery, got {other}")))
        }
    };
    ctx.plan(factor)
}

fn table_factor(name: ast::ObjectName) -> TableFactor {
    TableFactor::Table {
        name,
        alias: None,
        args: None,
        with_hints: vec![],
        version: None,
        with_ordinality: false,
        partitions: vec![],
        json_path: None,
        sample: None,
        index_hints: vec![],
    }
}

/// The event-time attribute of the (single) stream table under `input`, if any.
fn time_attribute_of(input: &LogicalPlan) -> Option<String> {
    let mut found = None;
    let _ = input.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            if let Ok(provider) = datafusion::datasource::source_as_provider(&scan.source) {
                if let Some(t) = StreamTable::from_provider(provider.as_ref()) {
                    found = found.take().or_else(|| t.time_attribute.clone());
                }
            }
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    found
}

/// A window needs an event-time attribute: a column with a declared WATERMARK in a source
/// table below, or the `window_time` of a window below.
fn check_time_attribute(input: &LogicalPlan, col: &str) -> DfResult<()> {
    if is_time_attribute(input, col) {
        return Ok(());
    }
    let mut ok = false;
    let mut tables_without = Vec::new();
    input.apply(|node| {
        match node {
            LogicalPlan::TableScan(scan) => {
                if let Ok(provider) = datafusion::datasource::source_as_provider(&scan.source) {
                    if let Some(t) = StreamTable::from_provider(provider.as_ref()) {
                        match &t.time_attribute {
                            Some(ta) if ta.eq_ignore_ascii_case(col) => ok = true,
                            _ => tables_without.push(t.name.clone()),
                        }
                    }
                }
            }
            LogicalPlan::Extension(ext)
                if ext.node.name() == "WindowTvf" && col.eq_ignore_ascii_case("window_time") =>
            {
                ok = true
            }
            _ => {}
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    })?;
    if ok {
        // The name matches a time attribute below, but the column was computed on the way.
        return Err(DataFusionError::Plan(format!(
            "column '{col}' is computed from the event-time attribute, which makes it a plain timestamp: window on the attribute itself"
        )));
    }
    Err(DataFusionError::Plan(format!(
        "column '{col}' is not an event-time attribute: declare `WATERMARK FOR {col} AS ...` in CREATE TABLE {} (processing time is not supported yet)",
        tables_without.first().map(String::as_str).unwrap_or("<table>")
    )))
}

/// Whether `col` of `plan`'s output is an event-time attribute: a table's `WATERMARK FOR`
/// column, or a window's `window_time`, reached through plain column references only
/// (an expression over the attribute, even `ts + 0`, is an ordinary timestamp, as in Flink).
pub fn is_time_attribute(plan: &LogicalPlan, col: &str) -> bool {
    match plan {
        LogicalPlan::TableScan(scan) => datafusion::datasource::source_as_provider(&scan.source)
            .ok()
            .and_then(|p| StreamTable::from_provider(p.as_ref()).and_then(|t| t.time_attribute.clone()))
            .is_some_and(|t| t.eq_ignore_ascii_case(col)),
        LogicalPlan::Projection(p) => {
            let Some(i) = p.schema.fields().iter().position(|f| f.name().eq_ignore_ascii_case(col)) else {
                return false;
            };
            match p.expr[i].clone().unalias_nested().data {
                Expr::Column(c) => is_time_attribute(&p.input, &c.name),
                _ => false,
            }
        }
        LogicalPlan::SubqueryAlias(a) => is_time_attribute(&a.input, col),
        LogicalPlan::Filter(f) => is_time_attribute(&f.input, col),
        // An OVER window passes its input columns through unchanged.
        LogicalPlan::Window(w) => {
            w.input.schema().fields().iter().any(|f| f.name().eq_ignore_ascii_case(col))
                && is_time_attribute(&w.input, col)
        }
        LogicalPlan::Extension(ext) => match ext.node.as_any().downcast_ref::<WindowTvfNode>() {
            Some(_) if col.eq_ignore_ascii_case("window_time") => true,
            Some(tvf) => is_time_attribute(&tvf.input, col),
            // DEDUPLICATE passes its input's columns through unchanged.
            None if ext.node.name() == "Deduplicate" => ext.node.inputs().iter().any(|i| is_time_attribute(i, col)),
            None => ext.node.as_any().downcast_ref::<MatchRecognizeNode>().is_some_and(|m| m.is_rowtime_measure(col)),
        },
        LogicalPlan::Aggregate(a) => {
            let Some(i) = a.schema.fields().iter().position(|f| f.name().eq_ignore_ascii_case(col)) else {
                return false;
            };
            matches!(a.group_expr.get(i), Some(Expr::Column(c)) if c.name == "window_time")
        }
        _ => false,
    }
}

/// Evaluates an interval literal to milliseconds.
pub(crate) fn interval_ms(e: ast::Expr, ctx: &mut dyn RelationPlannerContext) -> DfResult<i64> {
    let text = e.to_string();
    let expr = ctx.sql_to_expr(e, &DFSchema::empty())?;
    let value = match expr {
        Expr::Literal(v, _) => v,
        Expr::Cast(c) => match *c.expr {
            Expr::Literal(v, _) => v,
            _ => return Err(DataFusionError::Plan(format!("window sizes must be constant intervals, got {text}"))),
        },
        _ => return Err(DataFusionError::Plan(format!("window sizes must be constant intervals, got {text}"))),
    };
    scalar_interval_ms(&value).ok_or_else(|| {
        DataFusionError::Plan(format!(
            "{text} is not a whole number of milliseconds (intervals of days, hours, minutes, seconds or milliseconds)"
        ))
    })
}

/// Milliseconds of a day-time interval scalar (month intervals have no fixed length).
pub fn scalar_interval_ms(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::IntervalMonthDayNano(Some(i)) if i.months == 0 && i.nanoseconds % 1_000_000 == 0 => {
            Some(i.days as i64 * 86_400_000 + i.nanoseconds / 1_000_000)
        }
        ScalarValue::IntervalDayTime(Some(i)) => Some(i.days as i64 * 86_400_000 + i.milliseconds as i64),
        ScalarValue::DurationMillisecond(Some(v)) => Some(*v),
        ScalarValue::DurationSecond(Some(v)) => Some(v * 1000),
        ScalarValue::DurationMicrosecond(Some(v)) if v % 1000 == 0 => Some(v / 1000),
        ScalarValue::DurationNanosecond(Some(v)) if v % 1_000_000 == 0 => Some(v / 1_000_000),
        _ => None,
    }
}
