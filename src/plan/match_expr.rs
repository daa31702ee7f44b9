//! `DEFINE` and `MEASURES` expressions of `MATCH_RECOGNIZE` → DataFusion expressions
//! over the input's columns plus *slots* (see [`crate::exec::match_eval`]).
//!
//! Each row-pattern function call is cut out of the SQL expression and replaced by a slot
//! column `__mr_<i>`; DataFusion then plans what is left (operators, casts, any scalar
//! function) against `input ++ slots`:
//!
//! ```text
//! LAST(DOWN.price) < 0.9 * FIRST(price)  →  __mr_0 < 0.9 * __mr_1
//!                                           __mr_0 = Nav{Last, [DOWN], 0, 0, price}
//!                                           __mr_1 = Nav{First, *, 0, 0, price}
//! ```

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::common::{DFSchema, DFSchemaRef, Diagnostic};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::Expr;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::sql::sqlparser::ast::{
    self, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::tokenizer::Span;

use super::match_nav_arg::{self, NavArgs};
use crate::exec::match_eval::{AggFunc, Nav, Slot};

/// Prefix of slot column names.
pub const SLOT_PREFIX: &str = "__mr_";

/// Where an expression appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The `DEFINE` condition of this variable.
    Define(u16),
    /// A measure.
    Measure,
}

/// A planned `DEFINE` condition or measure.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct SlotExpr {
    /// The expression over `input ++ slots`.
    pub expr: Expr,
    /// The slots, slot `i` being column `__mr_<i>`.
    pub slots: Vec<Slot>,
}

impl SlotExpr {
    /// `rows ++ slots` as a DataFusion schema, `rows` being the input's columns and the
    /// derived columns (see [`match_nav_arg`]).
    pub fn schema(&self, input: &DFSchema) -> DfResult<DFSchemaRef> {
        let arrow = Arc::new(input.as_arrow().clone());
        let fields = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let ty = s.data_type(&arrow).map_err(|e| DataFusionError::Plan(e.message))?;
                Ok(Field::new(format!("{SLOT_PREFIX}{i}"), ty, true))
            })
            .collect::<DfResult<Vec<_>>>()?;
        let slots = DFSchema::try_from(Schema::new(fields))?;
        Ok(Arc::new(input.join(&slots)?))
    }
}

/// `e` located at `span` in the user's text (the tokens the clause rewrite moves keep their
/// positions); an empty span leaves it unlocated.
pub fn located(span: Span, e: DataFusionError) -> DataFusionError {
    let Some(span) = datafusion::common::Span::try_from_sqlparser_span(span).filter(|_| span != Span::empty()) else {
        return e;
    };
    let diagnostic = Diagnostic::new_error(e.message().to_string(), Some(span));
    DataFusionError::Diagnostic(Box::new(diagnostic), Box::new(e))
}

/// Names the planner resolves in row-pattern functions.
pub struct Names<'a> {
    /// Pattern variables by index (upper-case unless quoted).
    pub vars: &'a [String],
    /// `SUBSET` names and the variables each stands for.
    pub subsets: &'a [(String, Vec<u16>)],
    /// The input's column names.
    pub columns: Vec<String>,
    /// The index of the event-time attribute among them (for `MATCH_ROWTIME()`).
    pub time: usize,
    /// Whether `WITHIN .. EMIT TIMEOUTS` is given (for `MATCH_TIMED_OUT()`).
    pub timeouts: bool,
    /// Expressions navigation reads, as derived columns (filled while planning).
    pub nav_args: &'a NavArgs,
}

impl Names<'_> {
    /// The variables a name stands for: a pattern variable or a `SUBSET`.
    pub(super) fn vars(&self, id: &Ident) -> DfResult<Vec<u16>> {
        let name = var_name(id);
        if let Some(i) = self.vars.iter().position(|v| *v == name) {
            return Ok(vec![i as u16]);
        }
        if let Some((_, vs)) = self.subsets.iter().find(|(n, _)| *n == name) {
            return Ok(vs.clone());
        }
        let err = DataFusionError::Plan(format!(
            "MATCH_RECOGNIZE: {name} is not a pattern variable (variables: {})",
            self.vars.join(", ")
        ));
        Err(located(id.span, err))
    }

    pub(super) fn column(&self, id: &Ident) -> DfResult<usize> {
        let exact =
            |c: &String| if id.quote_style.is_some() { *c == id.value } else { c.eq_ignore_ascii_case(&id.value) };
        self.columns.iter().position(exact).ok_or_else(|| {
            let err = DataFusionError::Plan(format!("MATCH_RECOGNIZE: no column '{}' in the input", id.value));
            located(id.span, err)
        })
    }
}

/// A pattern variable's canonical name: upper case unless quoted (as Oracle and Trino).
pub fn var_name(id: &Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_ascii_uppercase()
    }
}

/// Plans `e` (from `place`) over `input` (its navigation arguments that are expressions
/// become derived columns in `names.nav_args`).
pub fn plan(
    e: &ast::Expr,
    place: Place,
    names: &Names,
    input: &DFSchema,
    ctx: &mut dyn RelationPlannerContext,
) -> DfResult<SlotExpr> {
    let mut e = e.clone();
    let mut rw = Rewriter { names, place, slots: Vec::new(), error: None };
    let _ = e.visit(&mut rw);
    if let Some(err) = rw.error {
        return Err(err);
    }
    let slots = rw.slots;
    names.nav_args.plan_new(input, ctx)?;
    let rows = match_nav_arg::row_schema(input, &names.nav_args.exprs())?;
    let probe = SlotExpr { expr: Expr::Literal(datafusion::common::ScalarValue::Null, None), slots };
    let schema = probe.schema(&rows)?;
    let expr = ctx.sql_to_expr(e, &schema)?;
    let simplifier = ExprSimplifier::new(SimplifyContext::builder().with_schema(Arc::clone(&schema)).build());
    let expr = simplifier.coerce(expr, &schema)?;
    Ok(SlotExpr { expr, slots: probe.slots })
}

struct Rewriter<'a, 'b> {
    names: &'a Names<'b>,
    place: Place,
    slots: Vec<Slot>,
    error: Option<DataFusionError>,
}

impl VisitorMut for Rewriter<'_, '_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut ast::Expr) -> ControlFlow<()> {
        match self.slot_of(expr) {
            Ok(Some(slot)) => {
                let i = self.slots.iter().position(|s| *s == slot).unwrap_or_else(|| {
                    self.slots.push(slot);
                    self.slots.len() - 1
                });
                *expr = ast::Expr::Identifier(Ident::new(format!("{SLOT_PREFIX}{i}")));
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

fn plan_err<T>(msg: impl Into<String>) -> DfResult<T> {
    Err(DataFusionError::Plan(format!("MATCH_RECOGNIZE: {}", msg.into())))
}

/// The arguments of a plain call `f(a, b)`.
fn call_args(f: &ast::Function) -> DfResult<Vec<&FunctionArgExpr>> {
    if f.filter.is_some() || f.over.is_some() || !f.within_group.is_empty() {
        return plan_err(format!("{}: FILTER, OVER and WITHIN GROUP are not supported here", f.name));
    }
    match &f.args {
        FunctionArguments::None => Ok(vec![]),
        FunctionArguments::List(l) => {
            if l.duplicate_treatment.is_some() || !l.clauses.is_empty() {
                return plan_err(format!("{}: DISTINCT and other clauses are not supported here", f.name));
            }
            l.args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(x) => Ok(x),
                    _ => plan_err(format!("{}: named arguments are not supported", f.name)),
                })
                .collect()
        }
        FunctionArguments::Subquery(_) => plan_err(format!("{}: a subquery is not supported here", f.name)),
    }
}

fn count_literal(f: &str, a: Option<&&FunctionArgExpr>) -> DfResult<u32> {
    match a {
        None => Ok(1),
        Some(FunctionArgExpr::Expr(ast::Expr::Value(v))) => match &v.value {
            ast::Value::Number(n, _) => n
                .parse::<u32>()
                .or_else(|_| plan_err(format!("{f}: the offset must be a non-negative integer, got {n}"))),
            other => plan_err(format!("{f}: the offset must be a non-negative integer, got {other}")),
        },
        Some(other) => plan_err(format!("{f}: the offset must be a non-negative integer literal, got {other}")),
    }
}

impl Rewriter<'_, '_> {
    /// Navigation function `f` over an expression: its variables and derived column.
    fn derived(&self, f: &str, arg: &ast::Expr) -> DfResult<(Option<Vec<u16>>, usize)> {
        let (vars, sql) = match_nav_arg::split(f, arg, self.names)?;
        Ok((vars, self.names.nav_args.column(self.names.columns.len(), sql)))
    }

    /// `col` or `v.col`: the variables (`None`: all) and column.
    fn var_column(&self, e: &ast::Expr) -> DfResult<Option<(Option<Vec<u16>>, usize)>> {
        Ok(match e {
            ast::Expr::Identifier(id) if id.value.starts_with(SLOT_PREFIX) => None,
            ast::Expr::Identifier(id) => Some((None, self.names.column(id)?)),
            ast::Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                Some((Some(self.names.vars(&parts[0])?), self.names.column(&parts[1])?))
            }
            ast::Expr::CompoundIdentifier(parts) => {
                return plan_err(format!(
                    "{}: reference columns as column or variable.column",
                    parts.iter().map(|p| p.value.as_str()).collect::<Vec<_>>().join(".")
                ))
            }
            _ => None,
        })
    }

    fn slot_of(&self, e: &ast::Expr) -> DfResult<Option<Slot>> {
        if let ast::Expr::CompoundIdentifier(_) = e {
            // `A.price` = LAST(A.price).
            let (vars, column) = self.var_column(e)?.expect("compound identifier");
            return Ok(Some(Slot::Nav { nav: Nav::Last, vars, offset: 0, physical: 0, column, fin: false }));
        }
        let ast::Expr::Function(f) = e else { return Ok(None) };
        let name = f.name.to_string().to_ascii_uppercase();
        match name.as_str() {
            "PREV" | "NEXT" | "FIRST" | "LAST" | "CLASSIFIER" | "MATCH_NUMBER" | "MATCH_ROWTIME" | "FINAL"
            | "RUNNING" => {}
            "MATCH_TIMED_OUT" => {
                return if !self.names.timeouts {
                    plan_err("MATCH_TIMED_OUT() needs WITHIN INTERVAL .. EMIT TIMEOUTS after the PATTERN")
                } else if self.place != Place::Measure {
                    plan_err("MATCH_TIMED_OUT() is only allowed in MEASURES")
                } else if !call_args(f)?.is_empty() {
                    plan_err("MATCH_TIMED_OUT() takes no arguments")
                } else {
                    Ok(Some(Slot::TimedOut))
                };
            }
            "COUNT" | "SUM" | "AVG" | "MIN" | "MAX" => return self.aggregate(&name, f).map(Some),
            _ => return Ok(None),
        }
        let args = call_args(f)?;
        match name.as_str() {
            "CLASSIFIER" | "MATCH_NUMBER" if !args.is_empty() => {
                plan_err(format!("{name}() takes no arguments here (CLASSIFIER(v) is not supported yet)"))
            }
            "CLASSIFIER" => Ok(Some(Slot::Classifier { fin: false })),
            "MATCH_NUMBER" => Ok(Some(Slot::MatchNumber)),
            "MATCH_ROWTIME" if !args.is_empty() => plan_err("MATCH_ROWTIME() takes no arguments"),
            "MATCH_ROWTIME" if self.place != Place::Measure => plan_err("MATCH_ROWTIME() is only allowed in MEASURES"),
            // Flink: the event time of the match's last row.
            "MATCH_ROWTIME" => Ok(Some(Slot::Nav {
                nav: Nav::Last,
                vars: None,
                offset: 0,
                physical: 0,
                column: self.names.time,
                fin: true,
            })),
            "FINAL" | "RUNNING" => {
                if self.place != Place::Measure {
                    return plan_err(format!("{name} is only allowed in MEASURES"));
                }
                let [FunctionArgExpr::Expr(inner)] = args.as_slice() else {
                    return plan_err(format!("{name} applies to one navigation or aggregate call"));
                };
                let Some(slot) = self.slot_of(inner)? else {
                    return plan_err(format!(
                        "{name} applies to FIRST, LAST, PREV, NEXT, CLASSIFIER or an aggregate, not {inner}"
                    ));
                };
                Ok(Some(with_final(slot, name == "FINAL")))
            }
            "FIRST" | "LAST" => {
                let (arg, offset) = match args.as_slice() {
                    [FunctionArgExpr::Expr(a)] => (a, 0),
                    [FunctionArgExpr::Expr(a), n] => (a, count_literal(&name, Some(n))?),
                    _ => return plan_err(format!("{name} takes a column and an optional offset")),
                };
                let (vars, column) = match self.var_column(arg)? {
                    Some(vc) => vc,
                    None => self.derived(&name, arg)?,
                };
                let nav = if name == "FIRST" { Nav::First } else { Nav::Last };
                Ok(Some(Slot::Nav { nav, vars, offset, physical: 0, column, fin: false }))
            }
            _ => {
                // PREV / NEXT
                let (arg, n) = match args.as_slice() {
                    [FunctionArgExpr::Expr(a)] => (a, 1),
                    [FunctionArgExpr::Expr(a), n] => (a, count_literal(&name, Some(n))?),
                    _ => return plan_err(format!("{name} takes a column and an optional offset")),
                };
                let physical = if name == "PREV" { -(n as i64) } else { n as i64 };
                let inner = match self.var_column(arg)? {
                    Some((vars, column)) => {
                        Slot::Nav { nav: Nav::Last, vars, offset: 0, physical: 0, column, fin: false }
                    }
                    None => match arg {
                        ast::Expr::Function(g)
                            if matches!(g.name.to_string().to_ascii_uppercase().as_str(), "FIRST" | "LAST") =>
                        {
                            self.slot_of(arg)?.expect("FIRST/LAST")
                        }
                        _ => {
                            let (vars, column) = self.derived(&name, arg)?;
                            Slot::Nav { nav: Nav::Last, vars, offset: 0, physical: 0, column, fin: false }
                        }
                    },
                };
                let Slot::Nav { nav, vars, offset, column, fin, .. } = inner else { unreachable!("navigation slot") };
                Ok(Some(Slot::Nav { nav, vars, offset, physical, column, fin }))
            }
        }
    }

    fn aggregate(&self, name: &str, f: &ast::Function) -> DfResult<Slot> {
        let func = match name {
            "COUNT" => AggFunc::Count,
            "SUM" => AggFunc::Sum,
            "AVG" => AggFunc::Avg,
            "MIN" => AggFunc::Min,
            _ => AggFunc::Max,
        };
        let args = call_args(f)?;
        let (vars, column) = match args.as_slice() {
            [FunctionArgExpr::Wildcard] if func == AggFunc::Count => (None, None),
            [FunctionArgExpr::QualifiedWildcard(v)] if func == AggFunc::Count && v.0.len() == 1 => {
                let id = v.0[0].as_ident().ok_or_else(|| DataFusionError::Plan(format!("{name}({v}.*)")))?;
                (Some(self.names.vars(id)?), None)
            }
            [FunctionArgExpr::Expr(e)] => {
                let (vars, column) = match self.var_column(e)? {
                    Some(vc) => vc,
                    None => self.derived(name, e)?,
                };
                (vars, Some(column))
            }
            _ => return plan_err(format!("{name} over pattern variables takes one column (COUNT also * and v.*)")),
        };
        Ok(Slot::Agg { func, vars, column, fin: false })
    }
}

fn with_final(slot: Slot, fin: bool) -> Slot {
    match slot {
        Slot::Nav { nav, vars, offset, physical, column, .. } => Slot::Nav { nav, vars, offset, physical, column, fin },
        Slot::Classifier { .. } => Slot::Classifier { fin },
        Slot::Agg { func, vars, column, .. } => Slot::Agg { func, vars, column, fin },
        Slot::MatchNumber => Slot::MatchNumber,
        Slot::TimedOut => Slot::TimedOut,
    }
}
