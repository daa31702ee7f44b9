//! Lowering: DataFusion's (analyzed) logical plan → a streaming [`QueryPlan`].
//!
//! DataFusion does name resolution, typing and coercion; here each node becomes an
//! operator. `Aggregate` over a `WindowTvf` becomes one pane-based window aggregate, keyed
//! by its non-window GROUP BY expressions, in a new hash-partitioned stage (SESSION and SLIDE
//! windows get their own operators, partitioned by their `PARTITION BY` keys; see
//! [`super::lower_windows`]); an OVER window becomes a slide aggregate emitting every row.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Aggregate, Expr, ExprSchemable, LogicalPlan};
use datafusion::physical_expr::aggregate::LoweredAggregateBuilder;
use datafusion::physical_expr::{create_physical_expr, PhysicalExpr};

use super::pipeline::{OpSpec, Partitioning, QueryPlan, StagePlan};
use super::window_tvf::{WindowTvfNode, WINDOW_COLUMNS};
use crate::error::{Error, Result};
use crate::exec::groups::key_schema;
use crate::exec::window_aggregate::{OutputColumn, WindowAggregateSpec};

/// Lowers an analyzed logical plan. `lateness_ms(table)` is the allowed lateness of
/// windows over that table.
pub fn lower(plan: &LogicalPlan, props: &ExecutionProps, lateness_ms: &dyn Fn(&str) -> i64) -> Result<QueryPlan> {
    let mut b = Builder { props, source: None, stages: vec![], lateness_ms, corrects: false };
    b.node(plan)?;
    let source = b.source.ok_or_else(|| Error::sql("a continuous query needs a FROM clause naming a table"))?;
    // Corrections of late rows make the output an updating changelog.
    let append_only = !b.corrects;
    Ok(QueryPlan { source, stages: b.stages, schema: nullable(plan.schema()), append_only })
}

/// An Arrow schema with every field nullable (streaming results may hold NULLs where the
/// batch planner proved none).
pub fn nullable(s: &DFSchema) -> SchemaRef {
    Arc::new(Schema::new(
        s.fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)).collect::<Vec<_>>(),
    ))
}

/// Whether a projection passes its input through unchanged (`SELECT *`).
fn is_identity(exprs: &[Expr], input: &DFSchema) -> bool {
    exprs.len() == input.fields().len()
        && exprs.iter().enumerate().all(|(i, e)| match e {
            Expr::Column(c) => input.index_of_column(c).ok() == Some(i),
            _ => false,
        })
}

struct Builder<'a> {
    props: &'a ExecutionProps,
    source: Option<String>,
    stages: Vec<StagePlan>,
    lateness_ms: &'a dyn Fn(&str) -> i64,
    /// Whether a window may emit corrections (allowed lateness > 0).
    corrects: bool,
}

impl Builder<'_> {
    fn push(&mut self, op: OpSpec) {
        if let Some(stage) = self.stages.last_mut() {
            stage.ops.push(op);
        }
    }

    fn physical(&self, e: &Expr, schema: &DFSchema) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(create_physical_expr(e, schema, self.props, &PhysicalPlanningContext::default())?)
    }

    fn node(&mut self, plan: &LogicalPlan) -> Result<()> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                if self.source.is_some() {
                    return Err(Error::sql("queries over more than one table (joins, unions) are not supported yet"));
                }
                self.source = Some(scan.table_name.table().to_string());
                self.stages.push(StagePlan { partitioning: Partitioning::Source, ops: vec![] });
                if !scan.filters.is_empty() {
                    return Err(Error::internal("unexpected pushed-down filters on a stream scan"));
                }
                if scan.projection.is_some() {
                    let full = scan.source.schema();
                    let full_df = DFSchema::try_from_qualified_schema(scan.table_name.clone(), &full)?;
                    let exprs = scan
                        .projected_schema
                        .columns()
                        .into_iter()
                        .map(|c| self.physical(&Expr::Column(c), &full_df))
                        .collect::<Result<Vec<_>>>()?;
                    let schema = nullable(&scan.projected_schema);
                    self.push(OpSpec::Project { exprs, schema, display: "scan projection".into() });
                }
                Ok(())
            }
            LogicalPlan::Projection(p) => {
                self.node(&p.input)?;
                if is_identity(&p.expr, p.input.schema()) {
                    return Ok(());
                }
                let exprs = p.expr.iter().map(|e| self.physical(e, p.input.schema())).collect::<Result<Vec<_>>>()?;
                let display = p.expr.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ");
                self.push(OpSpec::Project { exprs, schema: nullable(&p.schema), display });
                Ok(())
            }
            LogicalPlan::Filter(f) => {
                self.node(&f.input)?;
                let predicate = self.physical(&f.predicate, f.input.schema())?;
                self.push(OpSpec::Filter { predicate, display: f.predicate.to_string() });
                Ok(())
            }
            LogicalPlan::SubqueryAlias(a) => self.node(&a.input),
            LogicalPlan::Aggregate(a) => self.aggregate(a),
            LogicalPlan::Window(w) => {
                self.node(&w.input)?;
                let (partitioning, op) = super::lower_windows::over(w, self.props)?;
                self.stages.push(StagePlan { partitioning, ops: vec![op] });
                Ok(())
            }
            LogicalPlan::Extension(ext) => match ext.node.as_any().downcast_ref::<WindowTvfNode>() {
                Some(tvf) if !tvf.kind.is_pane_based() => Err(Error::sql(format!(
                    "{} windows need an aggregate: GROUP BY window_start, window_end[, keys]",
                    tvf.kind.describe()
                ))),
                Some(tvf) => {
                    self.node(&tvf.input)?;
                    let time = self.time_column(tvf)?;
                    self.push(OpSpec::WindowAssign { kind: tvf.kind, time, schema: nullable(&tvf.schema) });
                    Ok(())
                }
                None => Err(Error::internal(format!("unknown plan node {}", ext.node.name()))),
            },
            LogicalPlan::EmptyRelation(_) | LogicalPlan::Values(_) => {
                Err(Error::sql("a continuous query needs a FROM clause naming a table"))
            }
            other => Err(Error::sql(format!(
                "{} is not supported in streaming queries yet",
                match other {
                    LogicalPlan::Join(_) => "JOIN",
                    LogicalPlan::Union(_) => "UNION",
                    LogicalPlan::Sort(_) => "ORDER BY",
                    LogicalPlan::Limit(_) => "LIMIT",
                    LogicalPlan::Distinct(_) => "DISTINCT",
                    LogicalPlan::Window(_) => "an OVER window",
                    _ => "this construct",
                }
            ))),
        }
    }

    /// The TVF's event-time column as an expression over its input.
    fn time_column(&self, tvf: &WindowTvfNode) -> Result<Arc<dyn PhysicalExpr>> {
        let column = datafusion::common::Column::from(tvf.input.schema().qualified_field(tvf.time_index));
        self.physical(&Expr::Column(column), tvf.input.schema())
    }

    fn aggregate(&mut self, a: &Aggregate) -> Result<()> {
        // Peel filters/aliases between the aggregate and the window TVF.
        let mut filters = Vec::new();
        let mut cur = a.input.as_ref();
        let tvf = loop {
            match cur {
                LogicalPlan::Filter(f) => {
                    filters.push(f);
                    cur = f.input.as_ref();
                }
                LogicalPlan::SubqueryAlias(s) => cur = s.input.as_ref(),
                LogicalPlan::Extension(ext) => match ext.node.as_any().downcast_ref::<WindowTvfNode>() {
                    Some(node) => break node,
                    None => return Err(Error::sql("GROUP BY over this input is not supported yet")),
                },
                _ => {
                    return Err(Error::sql(
                        "GROUP BY without a window (an updating aggregate) is not supported yet: aggregate over TUMBLE, HOP or CUMULATE and GROUP BY window_start, window_end",
                    ))
                }
            }
        };
        if a.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
            return Err(Error::sql("GROUPING SETS, CUBE and ROLLUP are not supported in window aggregates yet"));
        }
        let input_width = tvf.input.schema().fields().len();
        self.node(&tvf.input)?;
        let refers_to_window = |e: &Expr, schema: &DFSchema| -> bool {
            e.column_refs().iter().any(|c| schema.index_of_column(c).map(|i| i >= input_width).unwrap_or(false))
        };
        for f in filters.iter().rev() {
            if refers_to_window(&f.predicate, f.input.schema()) {
                return Err(Error::sql(
                    "filtering on window_start/window_end before GROUP BY is not supported yet; use HAVING",
                ));
            }
            let predicate = self.physical(&f.predicate, f.input.schema())?;
            self.push(OpSpec::Filter { predicate, display: f.predicate.to_string() });
        }
        let agg_in = a.input.schema();
        let mut output = Vec::new();
        let mut keys = Vec::new();
        let mut key_exprs = Vec::new();
        let mut key_fields = Vec::new();
        let mut has = [false; 3];
        for e in &a.group_expr {
            let window_col = match e {
                Expr::Column(c) => agg_in
                    .index_of_column(c)
                    .ok()
                    .filter(|i| *i >= input_width)
                    .and_then(|_| WINDOW_COLUMNS.iter().position(|n| *n == c.name)),
                _ => None,
            };
            match window_col {
                Some(w) => {
                    has[w] = true;
                    output.push([OutputColumn::WindowStart, OutputColumn::WindowEnd, OutputColumn::WindowTime][w]);
                }
                None => {
                    if refers_to_window(e, agg_in) {
                        return Err(Error::sql(format!(
                            "GROUP BY expression {e} over window columns is not supported"
                        )));
                    }
                    output.push(OutputColumn::Key(keys.len()));
                    key_fields.push(Field::new(format!("k{}", keys.len()), e.get_type(agg_in)?, true));
                    keys.push(self.physical(e, agg_in)?);
                    key_exprs.push(e.clone());
                }
            }
        }
        if !(has[0] && has[1]) {
            return Err(Error::sql(
                "GROUP BY over a window must include window_start and window_end (e.g. GROUP BY window_start, window_end, key)",
            ));
        }
        let arrow_in = agg_in.as_arrow();
        let planning = PhysicalPlanningContext::default();
        let mut aggregates = Vec::new();
        let mut descs = Vec::new();
        for (i, e) in a.aggr_expr.iter().enumerate() {
            if refers_to_window(e, agg_in) {
                return Err(Error::sql(format!("aggregate {e} over window columns is not supported")));
            }
            let lowered = LoweredAggregateBuilder::new(e, agg_in, arrow_in, self.props, &planning).build()?;
            if !lowered.order_bys.is_empty() {
                return Err(Error::sql(format!("ordered aggregate {e} is not supported in windows yet")));
            }
            descs.push(e.to_string());
            aggregates.push((lowered.aggregate, lowered.filter));
            output.push(OutputColumn::Aggregate(i));
        }
        let time = self.time_column(tvf)?;
        let display = format!(
            "{} on {}, keys=[{}], aggs=[{}]",
            tvf.kind.describe(),
            tvf.input.schema().field(tvf.time_index).name(),
            keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", "),
            descs.join(", ")
        );
        let lateness_ms = self.source.as_deref().map(self.lateness_ms).unwrap_or(0);
        if !tvf.kind.is_pane_based() {
            let lowered = super::lower_windows::WindowGroupBy {
                tvf,
                key_exprs: &key_exprs,
                keys,
                key_schema: key_schema(key_fields),
                aggregates,
                output,
                time,
                schema: nullable(&a.schema),
                display,
                lateness_ms,
            };
            let (partitioning, op, corrects) = lowered.lower()?;
            self.corrects |= corrects;
            self.stages.push(StagePlan { partitioning, ops: vec![op] });
            return Ok(());
        }
        self.corrects |= lateness_ms > 0;
        let partitioning = if keys.is_empty() { Partitioning::Single } else { Partitioning::Hash(keys.clone()) };
        let spec = WindowAggregateSpec {
            kind: tvf.kind,
            time,
            keys,
            key_schema: key_schema(key_fields),
            aggregates,
            output,
            schema: nullable(&a.schema),
            lateness_ms,
        };
        self.stages
            .push(StagePlan { partitioning, ops: vec![OpSpec::WindowAggregate { spec: Arc::new(spec), display }] });
        Ok(())
    }
}
