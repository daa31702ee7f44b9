//! Lowering: DataFusion's (analyzed) logical plan → a streaming [`QueryPlan`].
//!
//! DataFusion does name resolution, typing and coercion; here each node becomes an
//! operator. `Aggregate` over a `WindowTvf` becomes one pane-based window aggregate, keyed
//! by its non-window GROUP BY expressions, in a new hash-partitioned stage (SESSION and SLIDE
//! windows get their own operators, partitioned by their `PARTITION BY` keys; see
//! [`super::lower_windows`]); an OVER window becomes a slide aggregate emitting every row.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Column;
use datafusion::common::DFSchema;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Aggregate, Expr, ExprSchemable, Filter, LogicalPlan};
use datafusion::physical_expr::aggregate::LoweredAggregateBuilder;
use datafusion::physical_expr::{create_physical_expr, PhysicalExpr};

use super::deduplicate::DeduplicateNode;
use super::match_recognize::MatchRecognizeNode;
use super::pipeline::{OpSpec, Partitioning, QueryPlan, StagePlan};
use super::planner::LATE_SUFFIX;
use super::policy::{LatePolicy, TablePolicy};
use super::window::WindowKind;
use super::window_tvf::{WindowTvfNode, WINDOW_COLUMNS};
use crate::error::{Error, Result};
use crate::exec::current_watermark::{self, WATERMARK_COLUMN};
use crate::exec::emit_window_aggregate::EmitWindowAggregateSpec;
use crate::exec::groups::key_schema;
use crate::exec::groups::AggregateWithFilter;
use crate::exec::late_split::LateSplitSpec;
use crate::exec::updating_aggregate::UpdatingAggregateSpec;
use crate::exec::window_aggregate::{OutputColumn, WindowAggregateSpec};
use crate::sql::{Emit, EmitMode};

/// Lowers an analyzed logical plan. `policy(table)` gives the lateness and state policies
/// of operators over that table.
pub fn lower(
    plan: &LogicalPlan,
    props: &ExecutionProps,
    policy: &dyn Fn(&str) -> TablePolicy,
    emit: Option<Emit>,
) -> Result<QueryPlan> {
    let mut b = Builder { props, source: None, stages: vec![], policy, updating: false, emit };
    b.node(plan)?;
    if let Some(e) = b.emit {
        return Err(Error::sql(format!("{} needs a GROUP BY (a window aggregate)", describe_emit(e))));
    }
    let source = b.source.ok_or_else(|| Error::sql("a continuous query needs a FROM clause naming a table"))?;
    let append_only = !b.updating;
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
    policy: &'a dyn Fn(&str) -> TablePolicy,
    /// Whether the stream built so far is an updating changelog (an updating aggregate, or
    /// a window that corrects late rows).
    updating: bool,
    /// The query's `EMIT` clause until the aggregate it applies to takes it.
    emit: Option<Emit>,
}

impl Builder<'_> {
    fn push(&mut self, op: OpSpec) {
        if let Some(stage) = self.stages.last_mut() {
            stage.ops.push(op);
        }
    }

    fn physical(&self, e: &Expr, schema: &DFSchema) -> Result<Arc<dyn PhysicalExpr>> {
        check_no_current_watermark(e)?;
        Ok(create_physical_expr(e, schema, self.props, &PhysicalPlanningContext::default())?)
    }

    /// Expressions of a filter or projection. Calls of `CURRENT_WATERMARK(..)` become the
    /// column the operator appends to its input (see [`crate::exec::current_watermark`]);
    /// the flag says whether it must.
    fn stream_exprs(&self, exprs: &[&Expr], schema: &DFSchema) -> Result<(Vec<Arc<dyn PhysicalExpr>>, bool)> {
        if !exprs.iter().any(|e| uses_current_watermark(e)) {
            return Ok((exprs.iter().map(|e| self.physical(e, schema)).collect::<Result<_>>()?, false));
        }
        let column = Field::new(WATERMARK_COLUMN, current_watermark::data_type(), true);
        let extended = schema.join(&DFSchema::try_from(Schema::new(vec![column]))?)?;
        let mut out = Vec::new();
        for e in exprs {
            let e = (*e)
                .clone()
                .transform(|e| {
                    Ok(match e {
                        Expr::ScalarFunction(f) if f.name() == current_watermark::NAME => {
                            Transformed::yes(Expr::Column(Column::new_unqualified(WATERMARK_COLUMN)))
                        }
                        e => Transformed::no(e),
                    })
                })?
                .data;
            out.push(create_physical_expr(&e, &extended, self.props, &PhysicalPlanningContext::default())?);
        }
        Ok((out, true))
    }

    fn node(&mut self, plan: &LogicalPlan) -> Result<()> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                if self.source.is_some() {
                    return Err(Error::sql("queries over more than one table (joins, unions) are not supported yet"));
                }
                let table = scan.table_name.table();
                if let Some(base) = table.strip_suffix(LATE_SUFFIX) {
                    if (self.policy)(table).late_policy != LatePolicy::SideOutput {
                        return Err(Error::sql(format!(
                            "rows too late for windows over '{base}' are dropped, not routed to '{table}': set 'late.policy' = 'side-output' on '{base}' (table option or SET)"
                        )));
                    }
                }
                self.source = Some(table.to_string());
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
                    self.push(OpSpec::Project { exprs, schema, display: "scan projection".into(), watermark: false });
                }
                Ok(())
            }
            LogicalPlan::Projection(p) => {
                self.node(&p.input)?;
                if is_identity(&p.expr, p.input.schema()) {
                    return Ok(());
                }
                let (exprs, watermark) = self.stream_exprs(&p.expr.iter().collect::<Vec<_>>(), p.input.schema())?;
                let display = p.expr.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ");
                self.push(OpSpec::Project { exprs, schema: nullable(&p.schema), display, watermark });
                Ok(())
            }
            LogicalPlan::Filter(f) => {
                self.node(&f.input)?;
                let (mut predicate, watermark) = self.stream_exprs(&[&f.predicate], f.input.schema())?;
                let predicate = predicate.remove(0);
                self.push(OpSpec::Filter { predicate, display: f.predicate.to_string(), watermark });
                Ok(())
            }
            LogicalPlan::SubqueryAlias(a) => self.node(&a.input),
            LogicalPlan::Aggregate(a) => self.aggregate(a),
            LogicalPlan::Window(w) => {
                self.node(&w.input)?;
                if self.updating {
                    return Err(Error::sql("an OVER window over an updating input is not supported"));
                }
                let (partitioning, op) = super::lower_windows::over(w, self.props)?;
                if self.table_policy().late_policy == LatePolicy::SideOutput {
                    // OVER emits in event-time order: a row below the watermark is too late.
                    let time = over_time_column(w).ok_or_else(|| Error::internal("OVER without ORDER BY column"))?;
                    let display = op.describe();
                    let split = self.late_split_of(&w.input, time, WindowKind::Slide { size: 0 }, &[], 0, &display)?;
                    self.stages[0].ops.insert(0, split);
                }
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
                None => match ext.node.as_any().downcast_ref::<DeduplicateNode>() {
                    Some(d) => self.deduplicate(d),
                    None => match ext.node.as_any().downcast_ref::<MatchRecognizeNode>() {
                        Some(m) => self.match_recognize(m),
                        None => Err(Error::internal(format!("unknown plan node {}", ext.node.name()))),
                    },
                },
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

    /// `DEDUPLICATE`: a new stage hash-partitioned by the keys, so a key always meets the
    /// same filters.
    fn deduplicate(&mut self, d: &DeduplicateNode) -> Result<()> {
        self.node(&d.input)?;
        if self.updating {
            return Err(Error::sql(
                "DEDUPLICATE needs an append-only input, but its input is updating (it corrects earlier rows)",
            ));
        }
        let schema = d.input.schema();
        let keys = d
            .key_indices
            .iter()
            .map(|&i| self.physical(&Expr::Column(schema.qualified_field(i).into()), schema))
            .collect::<Result<Vec<_>>>()?;
        // Builds the filters once so a CAPACITY too large fails now.
        crate::exec::deduplicate::Deduplicate::try_new(keys.clone(), d.params)?;
        let p = d.params;
        let display = format!(
            "keys=[{}], capacity={}, fpp={}, horizon={}",
            d.keys.join(", "),
            p.capacity,
            p.fpp,
            super::window::ms(p.horizon_ms)
        );
        let op = OpSpec::Deduplicate { keys: keys.clone(), params: p, display };
        self.stages.push(StagePlan { partitioning: Partitioning::Hash(keys), ops: vec![op] });
        Ok(())
    }

    /// `MATCH_RECOGNIZE`: a new stage hash-partitioned by PARTITION BY (one worker without).
    fn match_recognize(&mut self, m: &MatchRecognizeNode) -> Result<()> {
        self.node(&m.input)?;
        if self.updating {
            return Err(Error::sql("MATCH_RECOGNIZE needs an append-only input, but its input is updating"));
        }
        let spec = super::match_lower::spec(m, self.props)?;
        let partitioning =
            if spec.partition.is_empty() { Partitioning::Single } else { Partitioning::Hash(spec.partition.clone()) };
        let op =
            OpSpec::MatchRecognize { spec: Arc::new(spec), display: m.text.clone(), pattern: m.pattern_text.clone() };
        if self.table_policy().late_policy == LatePolicy::SideOutput {
            // Matching runs in event-time order: a row below the watermark is too late.
            let time = m.input.schema().field(m.time_index).name().clone();
            let split = self.late_split_of(&m.input, time, WindowKind::Slide { size: 0 }, &[], 0, &op.describe())?;
            self.stages[0].ops.insert(0, split);
        }
        self.stages.push(StagePlan { partitioning, ops: vec![op] });
        Ok(())
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
                _ => return self.updating_aggregate(a),
            }
        };
        if a.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
            return Err(Error::sql("GROUPING SETS, CUBE and ROLLUP are not supported in window aggregates yet"));
        }
        let input_width = tvf.input.schema().fields().len();
        self.node(&tvf.input)?;
        if self.updating {
            return Err(Error::sql(
                "a window over an updating input (the output of a GROUP BY without window, or of a window with corrections) is not supported",
            ));
        }
        let refers_to_window = |e: &Expr, schema: &DFSchema| -> bool {
            e.column_refs().iter().any(|c| schema.index_of_column(c).map(|i| i >= input_width).unwrap_or(false))
        };
        for f in filters.iter().rev() {
            if refers_to_window(&f.predicate, f.input.schema()) {
                return Err(Error::sql(
                    "filtering on window_start/window_end before GROUP BY is not supported yet; use HAVING",
                ));
            }
            let (mut predicate, watermark) = self.stream_exprs(&[&f.predicate], f.input.schema())?;
            let predicate = predicate.remove(0);
            self.push(OpSpec::Filter { predicate, display: f.predicate.to_string(), watermark });
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
        for e in &a.aggr_expr {
            if refers_to_window(e, agg_in) {
                return Err(Error::sql(format!("aggregate {e} over window columns is not supported")));
            }
        }
        let (aggregates, descs) = self.aggregates(a, "windows")?;
        output.extend((0..aggregates.len()).map(OutputColumn::Aggregate));
        let time = self.time_column(tvf)?;
        let display = format!(
            "{} on {}, keys=[{}], aggs=[{}]",
            tvf.kind.describe(),
            tvf.input.schema().field(tvf.time_index).name(),
            keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", "),
            descs.join(", ")
        );
        let policy = self.table_policy();
        let lateness_ms = policy.lateness_ms;
        // A non-default EMIT is run by its own operator (state per window and key).
        let emit = self.emit.take().filter(|e| *e != Emit { mode: EmitMode::OnWindowClose, delay_ms: 0 });
        let delay_ms = emit.map_or(0, |e| e.delay_ms);
        if !tvf.kind.is_pane_based() {
            if let Some(e) = emit {
                return Err(Error::sql(format!(
                    "{} is not supported for SESSION and SLIDE windows yet",
                    describe_emit(e)
                )));
            }
            if policy.late_policy == LatePolicy::SideOutput {
                let split = self.late_split(tvf, &filters, lateness_ms, &display)?;
                self.stages[0].ops.insert(0, split);
            }
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
            self.updating |= corrects;
            self.stages.push(StagePlan { partitioning, ops: vec![op] });
            return Ok(());
        }
        self.updating |= lateness_ms > 0 || emit.is_some_and(|e| e.mode != EmitMode::OnWindowClose);
        if policy.late_policy == LatePolicy::SideOutput {
            let split = self.late_split(tvf, &filters, lateness_ms.saturating_add(delay_ms), &display)?;
            self.stages[0].ops.insert(0, split);
        }
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
        let op = match emit {
            None => OpSpec::WindowAggregate { spec: Arc::new(spec), display },
            Some(emit) => {
                let display = format!("{display}, {}", describe_emit(emit));
                OpSpec::EmitWindowAggregate {
                    spec: Arc::new(EmitWindowAggregateSpec { window: Arc::new(spec), emit }),
                    display,
                }
            }
        };
        self.stages.push(StagePlan { partitioning, ops: vec![op] });
        Ok(())
    }

    /// The operator routing rows too late for the window over `tvf` to the table's late
    /// stream. It runs first, on the table's rows: `tvf`'s input must be the table itself,
    /// with at most filters (`before` are filters between the window and the aggregate).
    fn late_split(&self, tvf: &WindowTvfNode, before: &[&Filter], lateness_ms: i64, display: &str) -> Result<OpSpec> {
        let time_name = tvf.input.schema().field(tvf.time_index).name().clone();
        let operator = match tvf.kind {
            WindowKind::Session { .. } => "SessionAggregate",
            WindowKind::Slide { .. } => "SlideAggregate",
            _ => "WindowAggregate",
        };
        let operator = format!("{operator}: {display}");
        self.late_split_of(&tvf.input, time_name, tvf.kind, before, lateness_ms, &operator)
    }

    /// [`Self::late_split`] for an operator over `input` with event time `time_name`;
    /// `operator` is its EXPLAIN line (the side rows' `__operator`).
    fn late_split_of(
        &self,
        input: &LogicalPlan,
        time_name: String,
        kind: WindowKind,
        before: &[&Filter],
        lateness_ms: i64,
        operator: &str,
    ) -> Result<OpSpec> {
        let unsupported = || {
            Error::sql(
                "'late.policy' = 'side-output' needs the window directly over the table (filters allowed, no projections or subqueries computing columns)",
            )
        };
        let mut predicates: Vec<&Expr> = before.iter().map(|f| &f.predicate).collect();
        let mut cur = input;
        let scan = loop {
            match cur {
                LogicalPlan::TableScan(scan) => break scan,
                LogicalPlan::Filter(f) => {
                    predicates.push(&f.predicate);
                    cur = f.input.as_ref();
                }
                LogicalPlan::SubqueryAlias(a) => cur = a.input.as_ref(),
                LogicalPlan::Projection(p) if p.expr.iter().all(|e| matches!(e, Expr::Column(_))) => {
                    cur = p.input.as_ref()
                }
                _ => return Err(unsupported()),
            }
        };
        let table = scan.table_name.table();
        let full = DFSchema::try_from(scan.source.schema().as_ref().clone())?;
        // Columns are resolved by name in the table (one table, so names are unique).
        let over_table = |e: &Expr| -> Result<Arc<dyn PhysicalExpr>> {
            let e = e
                .clone()
                .transform(|e| {
                    Ok(match e {
                        Expr::Column(c) => Transformed::yes(Expr::Column(Column::new_unqualified(c.name))),
                        e => Transformed::no(e),
                    })
                })?
                .data;
            self.physical(&e, &full)
        };
        let time = over_table(&Expr::Column(Column::new_unqualified(time_name)))?;
        let predicates = predicates.into_iter().map(over_table).collect::<Result<Vec<_>>>()?;
        let side = nullable(&DFSchema::try_from(scan.source.schema().as_ref().clone())?);
        let mut fields: Vec<Field> = side.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("__operator", DataType::Utf8, true));
        fields.push(Field::new("__reason", DataType::Utf8, true));
        let spec = LateSplitSpec {
            side_table: format!("{table}{LATE_SUFFIX}"),
            side_schema: Arc::new(Schema::new(fields)),
            kind,
            lateness_ms,
            time,
            predicates,
            operator: operator.to_string(),
        };
        Ok(OpSpec::LateSplit { spec: Arc::new(spec) })
    }

    /// The policies of the table the query reads.
    fn table_policy(&self) -> TablePolicy {
        self.source.as_deref().map(self.policy).unwrap_or_default()
    }

    /// The aggregates of `a` and their display texts. `place` names where they run, for
    /// errors.
    fn aggregates(&self, a: &Aggregate, place: &str) -> Result<(Vec<AggregateWithFilter>, Vec<String>)> {
        let agg_in = a.input.schema();
        let planning = PhysicalPlanningContext::default();
        let mut aggregates = Vec::new();
        let mut descs = Vec::new();
        for e in &a.aggr_expr {
            check_no_current_watermark(e)?;
            let lowered = LoweredAggregateBuilder::new(e, agg_in, agg_in.as_arrow(), self.props, &planning).build()?;
            // Over an updating input the aggregate must take rows back.
            crate::functions::check_aggregate(&lowered.aggregate, self.updating)?;
            if !lowered.order_bys.is_empty() {
                return Err(Error::sql(format!("ordered aggregate {e} is not supported in {place} yet")));
            }
            descs.push(e.to_string());
            aggregates.push((lowered.aggregate, lowered.filter));
        }
        Ok((aggregates, descs))
    }

    /// `GROUP BY` without a window: an updating aggregate in its own hash-partitioned stage.
    fn updating_aggregate(&mut self, a: &Aggregate) -> Result<()> {
        match self.emit.take() {
            None | Some(Emit { mode: EmitMode::OnUpdate, delay_ms: 0 }) => {}
            Some(e) => {
                return Err(Error::sql(format!(
                    "{} applies to window aggregates; a GROUP BY without window always emits on update",
                    describe_emit(e)
                )))
            }
        }
        if a.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
            return Err(Error::sql("GROUPING SETS, CUBE and ROLLUP are not supported yet"));
        }
        self.node(&a.input)?;
        let agg_in = a.input.schema();
        let mut keys = Vec::new();
        let mut key_fields = Vec::new();
        for (i, e) in a.group_expr.iter().enumerate() {
            key_fields.push(Field::new(format!("k{i}"), e.get_type(agg_in)?, true));
            keys.push(self.physical(e, agg_in)?);
        }
        let (aggregates, descs) = self.aggregates(a, "GROUP BY")?;
        let retracting = self.updating;
        let policy = self.table_policy();
        let display = format!(
            "keys=[{}], aggs=[{}]{}",
            keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", "),
            descs.join(", "),
            policy.state_ttl_ms.map(|t| format!(", state.ttl={t}ms")).unwrap_or_default()
        );
        let partitioning = if keys.is_empty() { Partitioning::Single } else { Partitioning::Hash(keys.clone()) };
        let spec = UpdatingAggregateSpec {
            keys,
            key_schema: key_schema(key_fields),
            aggregates,
            schema: nullable(&a.schema),
            retracting,
            ttl_ms: policy.state_ttl_ms,
        };
        self.stages
            .push(StagePlan { partitioning, ops: vec![OpSpec::UpdatingAggregate { spec: Arc::new(spec), display }] });
        self.updating = true;
        Ok(())
    }
}

/// Whether `e` calls `CURRENT_WATERMARK`.
fn uses_current_watermark(e: &Expr) -> bool {
    e.exists(|e| Ok(matches!(e, Expr::ScalarFunction(f) if f.name() == current_watermark::NAME))).unwrap_or(false)
}

/// An error for `CURRENT_WATERMARK` where it cannot be evaluated (keys, aggregates).
fn check_no_current_watermark(e: &Expr) -> Result<()> {
    if uses_current_watermark(e) {
        return Err(Error::sql(format!("CURRENT_WATERMARK is supported in WHERE and in the SELECT list, not in {e}")));
    }
    Ok(())
}

/// The clause as SQL.
fn describe_emit(e: Emit) -> String {
    let mode = match e.mode {
        EmitMode::OnWindowClose => "EMIT ON WINDOW CLOSE".to_string(),
        EmitMode::OnUpdate => "EMIT ON UPDATE".to_string(),
        EmitMode::Every(n) => format!("EMIT EVERY {}", crate::plan::window::ms(n)),
    };
    if e.delay_ms > 0 {
        format!("{mode} WITH DELAY {}", crate::plan::window::ms(e.delay_ms))
    } else {
        mode
    }
}

/// The ORDER BY column of an OVER window (checked to be the event time by the lowering).
fn over_time_column(w: &datafusion::logical_expr::Window) -> Option<String> {
    w.window_expr.iter().find_map(|e| {
        let mut inner = e;
        while let Expr::Alias(a) = inner {
            inner = &a.expr;
        }
        match inner {
            Expr::WindowFunction(f) => match &f.params.order_by[..] {
                [s] => match &s.expr {
                    Expr::Column(c) => Some(c.name.clone()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        }
    })
}
