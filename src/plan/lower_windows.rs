//! Lowering of the data-driven windows: `GROUP BY` over SESSION and SLIDE window TVFs, and
//! aggregate functions `OVER (PARTITION BY .. ORDER BY ts RANGE|ROWS .. PRECEDING AND
//! CURRENT ROW)`. Called from [`super::lower`], which handles the shared GROUP BY analysis.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{Column, ScalarValue};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::expr::{AggregateFunction, WindowFunction, WindowFunctionParams};
use datafusion::logical_expr::logical_plan::Window;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, ExprSchemable, WindowFrame, WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition,
};
use datafusion::physical_expr::aggregate::LoweredAggregateBuilder;
use datafusion::physical_expr::{create_physical_expr, PhysicalExpr};

use super::lower::nullable;
use super::pipeline::{OpSpec, Partitioning};
use super::window::{ms, WindowKind};
use super::window_tvf::{is_time_attribute, scalar_interval_ms, WindowTvfNode};
use crate::error::{Error, Result};
use crate::exec::session_aggregate::SessionAggregateSpec;
use crate::exec::slide_aggregate::{keys_supported, Frame, SlideAggregateSpec, SlideOutput};
use crate::exec::window_aggregate::{AggregateWithFilter, OutputColumn};

/// A `GROUP BY window_start, window_end, keys` over a SESSION or SLIDE TVF, analysed by
/// [`super::lower`].
pub struct WindowGroupBy<'a> {
    /// The window TVF.
    pub tvf: &'a WindowTvfNode,
    /// The non-window GROUP BY expressions (logical).
    pub key_exprs: &'a [Expr],
    /// The same, physical.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Schema of the key columns.
    pub key_schema: SchemaRef,
    /// Aggregates with their filters.
    pub aggregates: Vec<AggregateWithFilter>,
    /// Output column sources.
    pub output: Vec<OutputColumn>,
    /// The event-time column.
    pub time: Arc<dyn PhysicalExpr>,
    /// Output schema.
    pub schema: SchemaRef,
    /// EXPLAIN text.
    pub display: String,
    /// Allowed lateness (SESSION only; SLIDE emits in time order and has none).
    pub lateness_ms: i64,
}

impl WindowGroupBy<'_> {
    /// The stage's partitioning, its operator, and whether the output carries corrections.
    pub fn lower(self) -> Result<(Partitioning, OpSpec, bool)> {
        // Position of each PARTITION BY column among the GROUP BY keys.
        let mut partition = Vec::new();
        for p in &self.tvf.partition {
            let at = self.key_exprs.iter().position(|e| matches!(e, Expr::Column(c) if c.name.eq_ignore_ascii_case(p)));
            partition.push(at.ok_or_else(|| {
                Error::sql(format!(
                    "{}: GROUP BY must include the PARTITION BY column {p} (GROUP BY window_start, window_end, {p})",
                    self.tvf.kind.describe()
                ))
            })?);
        }
        let types: Vec<DataType> = self.key_schema.fields().iter().map(|f| f.data_type().clone()).collect();
        if !keys_supported(&types) {
            return Err(Error::sql(format!(
                "{}: GROUP BY keys of these types are not supported",
                self.tvf.kind.describe()
            )));
        }
        let hash = |idx: &[usize]| match idx {
            [] => Partitioning::Single,
            _ => Partitioning::Hash(idx.iter().map(|&i| Arc::clone(&self.keys[i])).collect()),
        };
        match self.tvf.kind {
            WindowKind::Session { gap } => {
                let partitioning = hash(&partition);
                let display = match self.tvf.partition.is_empty() {
                    true => self.display,
                    false => format!("{}, partition by [{}]", self.display, self.tvf.partition.join(", ")),
                };
                let spec = SessionAggregateSpec {
                    gap,
                    time: self.time,
                    keys: self.keys,
                    partition,
                    key_schema: self.key_schema,
                    aggregates: self.aggregates,
                    output: self.output,
                    schema: self.schema,
                    lateness_ms: self.lateness_ms,
                };
                Ok((partitioning, OpSpec::SessionAggregate { spec: Arc::new(spec), display }, self.lateness_ms > 0))
            }
            WindowKind::Slide { size } => {
                if partition.len() != self.keys.len() {
                    return Err(Error::sql(
                        "SLIDE: the GROUP BY keys must be exactly the PARTITION BY columns (GROUP BY window_start, window_end[, partition columns])",
                    ));
                }
                check_retractable(&self.aggregates, "SLIDE")?;
                // The operator's partition keys are the GROUP BY keys, in GROUP BY order, so
                // that `OutputColumn::Key(i)` picks the i-th.
                let all: Vec<usize> = (0..self.keys.len()).collect();
                let spec = SlideAggregateSpec {
                    time: self.time,
                    partition: self.keys.clone(),
                    partition_types: if self.keys.is_empty() { vec![] } else { types },
                    frame: Frame::Range(size),
                    aggregates: self.aggregates,
                    output: SlideOutput::PerWindow(self.output),
                    schema: self.schema,
                };
                Ok((hash(&all), OpSpec::SlideAggregate { spec: Arc::new(spec), display: self.display }, false))
            }
            _ => Err(Error::internal("pane windows are lowered by WindowAggregate")),
        }
    }
}

/// An `OVER` window over a stream: every window expression must be an aggregate with the
/// same `PARTITION BY`, `ORDER BY <time attribute>` and a frame ending at the current row.
pub fn over(w: &Window, props: &ExecutionProps) -> Result<(Partitioning, OpSpec)> {
    let input = w.input.schema();
    let planning = PhysicalPlanningContext::default();
    let physical =
        |e: &Expr| -> Result<Arc<dyn PhysicalExpr>> { Ok(create_physical_expr(e, input, props, &planning)?) };
    let mut shape: Option<(&[Expr], &[datafusion::logical_expr::SortExpr], &WindowFrame)> = None;
    let mut aggregates = Vec::new();
    let mut descs = Vec::new();
    for e in &w.window_expr {
        let mut inner = e;
        while let Expr::Alias(a) = inner {
            inner = &a.expr;
        }
        let Expr::WindowFunction(f) = inner else {
            return Err(Error::internal(format!("unexpected window expression {e}")));
        };
        let WindowFunction { fun, params } = f.as_ref();
        let WindowFunctionParams { args, partition_by, order_by, window_frame, filter, null_treatment, distinct } =
            params;
        let WindowFunctionDefinition::AggregateUDF(udaf) = fun else {
            return Err(Error::sql(format!(
                "{fun} OVER (..) is not supported in streaming queries yet: only aggregate functions (SUM, COUNT, AVG, MIN, MAX, ..) over a frame ending at the current row"
            )));
        };
        if *distinct {
            return Err(Error::sql(format!("{e}: DISTINCT aggregates are not supported in OVER windows")));
        }
        match &shape {
            None => shape = Some((partition_by, order_by, window_frame)),
            Some((p, o, fr)) if *p == &partition_by[..] && *o == &order_by[..] && *fr == window_frame => {}
            Some(_) => {
                return Err(Error::sql(
                    "all OVER clauses of a streaming query must use the same PARTITION BY, ORDER BY and frame",
                ))
            }
        }
        let agg = Expr::AggregateFunction(AggregateFunction::new_udf(
            Arc::clone(udaf),
            args.clone(),
            false,
            filter.clone(),
            vec![],
            *null_treatment,
        ));
        let lowered = LoweredAggregateBuilder::new(&agg, input, input.as_arrow(), props, &planning)
            .with_name(e.schema_name().to_string())
            .build()?;
        descs.push(e.schema_name().to_string());
        aggregates.push((lowered.aggregate, lowered.filter));
    }
    let Some((partition_by, order_by, frame)) = shape else {
        return Err(Error::internal("OVER window without window expressions"));
    };
    let time_col = match order_by {
        [s] if s.asc => match &s.expr {
            Expr::Column(c) if is_time_attribute(&w.input, &c.name) => c.clone(),
            _ => return Err(order_error()),
        },
        _ => return Err(order_error()),
    };
    let frame = frame_of(frame)?;
    if !matches!(frame, Frame::Range(i64::MAX) | Frame::Rows(u64::MAX)) {
        check_retractable(&aggregates, "OVER")?;
    }
    let partition = partition_by.iter().map(&physical).collect::<Result<Vec<_>>>()?;
    let partition_types =
        partition_by.iter().map(|e| e.get_type(input)).collect::<datafusion::error::Result<Vec<_>>>()?;
    if !keys_supported(&partition_types) {
        return Err(Error::sql("OVER: PARTITION BY keys of these types are not supported"));
    }
    let time = physical(&Expr::Column(Column::new(time_col.relation.clone(), time_col.name.clone())))?;
    let display = format!(
        "OVER(partition by [{}], order by {}, {}), aggs=[{}]",
        partition.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "),
        time_col.name,
        describe(frame),
        descs.join(", ")
    );
    let partitioning = if partition.is_empty() { Partitioning::Single } else { Partitioning::Hash(partition.clone()) };
    let spec = SlideAggregateSpec {
        time,
        partition,
        partition_types,
        frame,
        aggregates,
        output: SlideOutput::PerRow,
        schema: nullable(&w.schema),
    };
    Ok((partitioning, OpSpec::SlideAggregate { spec: Arc::new(spec), display }))
}

fn order_error() -> Error {
    Error::sql(
        "OVER windows over a stream must be ORDER BY the event-time attribute ascending (the column with a WATERMARK), e.g. OVER (PARTITION BY k ORDER BY ts RANGE BETWEEN INTERVAL '5' MINUTE PRECEDING AND CURRENT ROW)",
    )
}

/// The frame of an OVER clause: `RANGE|ROWS BETWEEN (n | UNBOUNDED) PRECEDING AND CURRENT ROW`.
fn frame_of(f: &WindowFrame) -> Result<Frame> {
    let unsupported = || {
        Error::sql(format!(
            "window frame {f} is not supported over a stream: use RANGE BETWEEN INTERVAL .. PRECEDING AND CURRENT ROW or ROWS BETWEEN n PRECEDING AND CURRENT ROW"
        ))
    };
    if f.end_bound != WindowFrameBound::CurrentRow {
        return Err(unsupported());
    }
    let WindowFrameBound::Preceding(v) = &f.start_bound else { return Err(unsupported()) };
    match f.units {
        WindowFrameUnits::Range if v.is_null() => Ok(Frame::Range(i64::MAX)),
        WindowFrameUnits::Range => {
            scalar_interval_ms(v).filter(|ms| *ms >= 0).map(Frame::Range).ok_or_else(unsupported)
        }
        WindowFrameUnits::Rows if v.is_null() => Ok(Frame::Rows(u64::MAX)),
        WindowFrameUnits::Rows => match v {
            ScalarValue::UInt64(Some(n)) => Ok(Frame::Rows(*n)),
            _ => Err(unsupported()),
        },
        WindowFrameUnits::Groups => Err(unsupported()),
    }
}

fn describe(f: Frame) -> String {
    match f {
        Frame::Range(i64::MAX) => "RANGE UNBOUNDED PRECEDING".into(),
        Frame::Range(size) => format!("RANGE {} PRECEDING", ms(size)),
        Frame::Rows(u64::MAX) => "ROWS UNBOUNDED PRECEDING".into(),
        Frame::Rows(n) => format!("ROWS {n} PRECEDING"),
    }
}

/// Sliding frames retract rows: every aggregate needs `retract_batch`.
fn check_retractable(aggregates: &[AggregateWithFilter], what: &str) -> Result<()> {
    for (agg, _) in aggregates {
        let acc = agg.create_sliding_accumulator();
        if !acc.as_ref().is_ok_and(|a| a.supports_retract_batch()) {
            return Err(Error::sql(format!(
                "{what}: aggregate {} cannot remove rows from a sliding frame (no retract_batch); use SUM, COUNT, AVG, MIN, MAX or another retractable aggregate",
                agg.name()
            )));
        }
    }
    Ok(())
}
