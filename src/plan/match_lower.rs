//! Lowering a [`MatchRecognizeNode`] to the operator's plan: logical expressions →
//! physical ones over the input (and, for `DEFINE`/`MEASURES`, over `input ++ slots`).

use std::sync::Arc;

use datafusion::common::DFSchema;
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{create_physical_expr, PhysicalExpr};

use super::lower::nullable;
use super::match_expr::SlotExpr;
use super::match_nav_arg::row_schema;
use super::match_recognize::MatchRecognizeNode;
use crate::error::Result;
use crate::exec::match_eval::MatchExpr;
use crate::exec::match_recognize::MatchRecognizeSpec;

fn physical(e: &Expr, schema: &DFSchema, props: &ExecutionProps) -> Result<Arc<dyn PhysicalExpr>> {
    Ok(create_physical_expr(e, schema, props, &PhysicalPlanningContext::default())?)
}

/// `e` over `input` (the rows: input and derived columns) `++ slots`.
fn match_expr(e: &SlotExpr, input: &DFSchema, props: &ExecutionProps) -> Result<MatchExpr> {
    let schema = e.schema(input)?;
    let arrow_input = Arc::new(input.as_arrow().clone());
    Ok(MatchExpr {
        expr: physical(&e.expr, &schema, props)?,
        slot_types: e.slots.iter().map(|s| s.data_type(&arrow_input)).collect::<Result<_>>()?,
        slots: e.slots.clone(),
        schema: nullable(&schema),
    })
}

/// The operator's plan for `node`.
pub fn spec(node: &MatchRecognizeNode, props: &ExecutionProps) -> Result<MatchRecognizeSpec> {
    let input = node.input.schema();
    let rows = row_schema(input, &node.derived)?;
    let time = physical(&Expr::Column(input.qualified_field(node.time_index).into()), input, props)?;
    Ok(MatchRecognizeSpec {
        partition: node.partition.iter().map(|(e, _)| physical(e, input, props)).collect::<Result<_>>()?,
        time,
        order: node.order.iter().map(|(e, desc)| Ok((physical(e, input, props)?, *desc))).collect::<Result<_>>()?,
        pattern: node.pattern.clone(),
        var_names: node.var_names.clone(),
        defines: node
            .defines
            .iter()
            .map(|d| d.as_ref().map(|d| match_expr(d, &rows, props)).transpose())
            .collect::<Result<_>>()?,
        measures: node.measures.iter().map(|(m, _)| match_expr(m, &rows, props)).collect::<Result<_>>()?,
        rows_per_match: node.rows_per_match,
        after_match: node.after_match,
        within_ms: node.within_ms,
        emit_timeouts: node.emit_timeouts,
        input_schema: nullable(input),
        derived: node.derived.iter().map(|(e, _)| physical(e, input, props)).collect::<Result<_>>()?,
        row_schema: nullable(&rows),
        schema: nullable(&node.schema),
    })
}
