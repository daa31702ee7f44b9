//! `DEDUPLICATE(TABLE t, DESCRIPTOR(k1 [, k2 ..]) [, CAPACITY => n] [, FPP => p]
//! [, HORIZON => interval])`: approximate deduplication as a table-valued function, planned
//! into a logical extension node that lowering turns into [`crate::exec::deduplicate`].
//!
//! The output has the input's schema and rows: the first row of each key within the
//! horizon, in arrival order. See the operator for the guarantees.

use std::cmp::Ordering;
use std::fmt;

use datafusion::common::{DFSchema, DFSchemaRef, ScalarValue};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::planner::{PlannedRelation, RelationPlannerContext, RelationPlanning};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::sql::sqlparser::ast::{self, FunctionArg, FunctionArgExpr, FunctionArguments, TableAlias};

use super::window_tvf::{interval_ms, plan_input};

/// Default `CAPACITY`: distinct keys per horizon the filters are sized for.
pub const DEFAULT_CAPACITY: usize = 1_000_000;
/// Default `FPP`: the probability that a unique row is wrongly dropped.
pub const DEFAULT_FPP: f64 = 0.01;
/// Default `HORIZON`: one hour of event time.
pub const DEFAULT_HORIZON_MS: i64 = 3_600_000;

/// The parameters of a `DEDUPLICATE` call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DedupParams {
    /// Distinct keys per horizon the filters are sized for.
    pub capacity: usize,
    /// Probability that a unique row is wrongly dropped (at most, within capacity).
    pub fpp: f64,
    /// Event time (watermark progress) within which a repeated key is always dropped.
    pub horizon_ms: i64,
}

/// `DEDUPLICATE` over an input relation.
#[derive(Debug, Clone, PartialEq)]
pub struct DeduplicateNode {
    /// The input relation.
    pub input: LogicalPlan,
    /// Names of the key columns (in the input).
    pub keys: Vec<String>,
    /// Indices of the key columns in the input schema.
    pub key_indices: Vec<usize>,
    /// Filter size and horizon.
    pub params: DedupParams,
}

impl Eq for DeduplicateNode {}

impl std::hash::Hash for DeduplicateNode {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.keys.hash(state);
        self.params.capacity.hash(state);
        self.params.fpp.to_bits().hash(state);
        self.params.horizon_ms.hash(state);
    }
}

impl PartialOrd for DeduplicateNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.keys.partial_cmp(&other.keys)
    }
}

impl DeduplicateNode {
    /// Builds the node; every key must be a column of the input.
    pub fn try_new(input: LogicalPlan, keys: Vec<String>, params: DedupParams) -> DfResult<Self> {
        if keys.is_empty() {
            return Err(DataFusionError::Plan("DEDUPLICATE: DESCRIPTOR needs at least one key column".into()));
        }
        if params.capacity == 0 || !(params.fpp > 0.0 && params.fpp < 1.0) || params.horizon_ms <= 0 {
            return Err(DataFusionError::Plan(format!(
                "DEDUPLICATE: CAPACITY must be positive, FPP between 0 and 1 and HORIZON positive (got {}, {}, {} ms)",
                params.capacity, params.fpp, params.horizon_ms
            )));
        }
        let schema = input.schema();
        let key_indices = keys
            .iter()
            .map(|k| {
                schema.fields().iter().position(|f| f.name().eq_ignore_ascii_case(k)).ok_or_else(|| {
                    DataFusionError::Plan(format!("DEDUPLICATE: DESCRIPTOR({k}): no column '{k}' in the input"))
                })
            })
            .collect::<DfResult<Vec<_>>>()?;
        Ok(DeduplicateNode { input, keys, key_indices, params })
    }
}

impl UserDefinedLogicalNodeCore for DeduplicateNode {
    fn name(&self) -> &str {
        "Deduplicate"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }
    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Deduplicate: keys=[{}]", self.keys.join(", "))
    }
    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let input = inputs.pop().ok_or_else(|| DataFusionError::Internal("Deduplicate needs one input".into()))?;
        DeduplicateNode::try_new(input, self.keys.clone(), self.params)
    }
}

/// Plans `DEDUPLICATE(...)` from a `FROM` clause (called by the TVF relation planner).
pub fn plan(
    args: Vec<FunctionArg>,
    alias: Option<TableAlias>,
    ctx: &mut dyn RelationPlannerContext,
) -> DfResult<RelationPlanning> {
    const ORDER: [&str; 5] = ["DATA", "KEYS", "CAPACITY", "FPP", "HORIZON"];
    let mut slots: [Option<ast::Expr>; 5] = Default::default();
    let mut next = 0;
    for arg in args {
        let (name, value) = match arg {
            FunctionArg::Unnamed(v) => (None, v),
            FunctionArg::Named { name, arg, .. } => (Some(name.value.to_ascii_uppercase()), arg),
            FunctionArg::ExprNamed { name, arg, .. } => (Some(name.to_string().to_ascii_uppercase()), arg),
        };
        let FunctionArgExpr::Expr(value) = value else {
            return Err(DataFusionError::Plan(format!("DEDUPLICATE: unexpected argument '{value}'")));
        };
        let idx = match name {
            Some(n) => ORDER.iter().position(|o| *o == n).ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "DEDUPLICATE has no argument named {n} (expected one of {})",
                    ORDER.join(", ")
                ))
            })?,
            None => {
                next += 1;
                next - 1
            }
        };
        let slot = slots.get_mut(idx).ok_or_else(|| {
            DataFusionError::Plan(format!("DEDUPLICATE: too many arguments (expected {})", ORDER.join(", ")))
        })?;
        *slot = Some(value);
    }
    let [data, keys, capacity, fpp, horizon] = slots;
    let data = data.ok_or_else(|| DataFusionError::Plan("DEDUPLICATE: missing the input table (DATA)".into()))?;
    let keys =
        keys.ok_or_else(|| DataFusionError::Plan("DEDUPLICATE: missing the key columns: DESCRIPTOR(event_id)".into()))?;
    let keys = descriptor_columns(&keys).ok_or_else(|| {
        DataFusionError::Plan(format!("DEDUPLICATE: the keys must be DESCRIPTOR(column, ..), got {keys}"))
    })?;
    let params = DedupParams {
        capacity: match capacity {
            None => DEFAULT_CAPACITY,
            Some(e) => match constant(e.clone(), ctx)?.cast_to(&datafusion::arrow::datatypes::DataType::Int64) {
                Ok(ScalarValue::Int64(Some(n))) if n > 0 => n as usize,
                _ => {
                    return Err(DataFusionError::Plan(format!(
                        "DEDUPLICATE: CAPACITY must be a positive integer, got {e}"
                    )))
                }
            },
        },
        fpp: match fpp {
            None => DEFAULT_FPP,
            Some(e) => match constant(e.clone(), ctx)?.cast_to(&datafusion::arrow::datatypes::DataType::Float64) {
                Ok(ScalarValue::Float64(Some(p))) => p,
                _ => return Err(DataFusionError::Plan(format!("DEDUPLICATE: FPP must be a number, got {e}"))),
            },
        },
        horizon_ms: match horizon {
            None => DEFAULT_HORIZON_MS,
            Some(e) => interval_ms(e, ctx)?,
        },
    };
    let input = plan_input(&data, ctx)?;
    let node = DeduplicateNode::try_new(input, keys, params)?;
    let plan = LogicalPlan::Extension(Extension { node: std::sync::Arc::new(node) });
    Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(plan, alias))))
}

fn constant(e: ast::Expr, ctx: &mut dyn RelationPlannerContext) -> DfResult<ScalarValue> {
    let text = e.to_string();
    match ctx.sql_to_expr(e, &DFSchema::empty())? {
        Expr::Literal(v, _) => Ok(v),
        _ => Err(DataFusionError::Plan(format!("DEDUPLICATE: {text} must be a constant"))),
    }
}

/// `DESCRIPTOR(a, b)` (or a bare column name) → its column names.
fn descriptor_columns(e: &ast::Expr) -> Option<Vec<String>> {
    match e {
        ast::Expr::Identifier(id) => Some(vec![id.value.clone()]),
        ast::Expr::CompoundIdentifier(parts) => parts.last().map(|p| vec![p.value.clone()]),
        ast::Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("descriptor") => match &f.args {
            FunctionArguments::List(l) if !l.args.is_empty() => l
                .args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(inner)) => {
                        descriptor_columns(inner).and_then(|v| v.into_iter().next())
                    }
                    _ => None,
                })
                .collect(),
            _ => None,
        },
        ast::Expr::Nested(inner) => descriptor_columns(inner),
        _ => None,
    }
}
