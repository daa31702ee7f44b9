//! Navigation over expressions in `MATCH_RECOGNIZE`: `PREV(price * 2)`,
//! `LAST(UP.price - UP.qty)`.
//!
//! SQL:2016 lets `PREV`, `NEXT`, `FIRST` and `LAST` take an expression whose column
//! references all name the same pattern variable (or none: every row). Such an argument is
//! computed once per input row, as a *derived column* held after the input's columns, and
//! the navigation reads that column like any other:
//!
//! ```text
//! LAST(UP.price - UP.qty)  →  __mr_0 = Nav{Last, [UP], 0, 0, __mrd_0}   __mrd_0 = price - qty
//! ```
//!
//! The same argument text (after its variable is taken off) shares one derived column.

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::Field;
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::planner::RelationPlannerContext;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::sql::sqlparser::ast::{self, Ident, VisitMut, VisitorMut};

use super::match_expr::{var_name, Names};

/// Prefix of derived column names.
pub const DERIVED_PREFIX: &str = "__mrd_";

/// Row-pattern functions that cannot appear inside a navigation argument.
const PATTERN_FUNCTIONS: [&str; 15] = [
    "PREV",
    "NEXT",
    "FIRST",
    "LAST",
    "CLASSIFIER",
    "MATCH_NUMBER",
    "MATCH_ROWTIME",
    "MATCH_TIMED_OUT",
    "FINAL",
    "RUNNING",
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
];

struct NavArg {
    /// The argument without variables, as SQL text (the key that shares columns).
    key: String,
    sql: ast::Expr,
    planned: Option<Expr>,
}

/// The derived columns of one `MATCH_RECOGNIZE`, filled while its expressions are planned.
#[derive(Default)]
pub struct NavArgs {
    args: RefCell<Vec<NavArg>>,
}

impl NavArgs {
    /// The row column (after the `input_width` input columns) holding `sql`, an argument
    /// without variable qualifiers; registered (to be planned by [`Self::plan_new`]) if new.
    pub fn column(&self, input_width: usize, sql: ast::Expr) -> usize {
        let key = sql.to_string();
        let mut args = self.args.borrow_mut();
        let i = args.iter().position(|a| a.key == key).unwrap_or_else(|| {
            args.push(NavArg { key, sql, planned: None });
            args.len() - 1
        });
        input_width + i
    }

    /// Plans the arguments registered since the last call, over `input`.
    pub fn plan_new(&self, input: &DFSchema, ctx: &mut dyn RelationPlannerContext) -> DfResult<()> {
        let input = Arc::new(input.clone());
        let input = &input;
        let mut args = self.args.borrow_mut();
        for a in args.iter_mut().filter(|a| a.planned.is_none()) {
            let expr = ctx.sql_to_expr(a.sql.clone(), input)?;
            let simplifier = ExprSimplifier::new(SimplifyContext::builder().with_schema(Arc::clone(input)).build());
            a.planned = Some(simplifier.coerce(expr, input)?);
        }
        Ok(())
    }

    /// The planned arguments in column order, with their column names.
    pub fn exprs(&self) -> Vec<(Expr, String)> {
        let args = self.args.borrow();
        args.iter()
            .enumerate()
            .filter_map(|(i, a)| a.planned.clone().map(|e| (e, format!("{DERIVED_PREFIX}{i}"))))
            .collect()
    }
}

/// The rows' schema: `input`'s columns, then the derived columns of `derived`.
pub fn row_schema(input: &DFSchema, derived: &[(Expr, String)]) -> DfResult<DFSchemaRef> {
    if derived.is_empty() {
        return Ok(Arc::new(input.clone()));
    }
    let fields =
        derived.iter().map(|(e, name)| Ok(Field::new(name, e.get_type(input)?, true))).collect::<DfResult<Vec<_>>>()?;
    let extra = DFSchema::from_unqualified_fields(fields.into(), Default::default())?;
    Ok(Arc::new(input.join(&extra)?))
}

/// Splits the argument of navigation function `f` into the variables its columns name
/// (`None`: no variable, every row) and the expression without them. Errors when columns
/// name different variables, when no column is referenced, or when a row-pattern function
/// is nested inside.
pub fn split(f: &str, arg: &ast::Expr, names: &Names) -> DfResult<(Option<Vec<u16>>, ast::Expr)> {
    let mut stripped = arg.clone();
    let mut v = Strip { names, f, vars: Vec::new(), columns: 0, qualified: 0, error: None };
    let _ = stripped.visit(&mut v);
    if let Some(e) = v.error {
        return Err(e);
    }
    if v.columns == 0 {
        return plan_err(format!("{f}({arg}): the argument must reference a column of the input"));
    }
    match (v.vars.as_slice(), v.columns - v.qualified) {
        ([], _) => Ok((None, stripped)),
        ([(_, vars)], 0) => Ok((Some(vars.clone()), stripped)),
        (used, unqualified) => {
            let mut used: Vec<&str> = used.iter().map(|(n, _)| n.as_str()).collect();
            if unqualified > 0 {
                used.push("none");
            }
            plan_err(format!(
                "{f}({arg}): the columns of the argument must all be of one pattern variable (or all of none), not of {}",
                used.join(", ")
            ))
        }
    }
}

fn plan_err<T>(msg: impl Into<String>) -> DfResult<T> {
    Err(DataFusionError::Plan(format!("MATCH_RECOGNIZE: {}", msg.into())))
}

/// Takes the variables off column references, collecting them.
struct Strip<'a, 'b> {
    names: &'a Names<'b>,
    f: &'a str,
    /// Distinct variable names used, and what each stands for.
    vars: Vec<(String, Vec<u16>)>,
    /// Column references seen, and how many of them had a variable.
    columns: usize,
    qualified: usize,
    error: Option<DataFusionError>,
}

impl VisitorMut for Strip<'_, '_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut ast::Expr) -> ControlFlow<()> {
        let result = match expr {
            ast::Expr::Identifier(id) => self.names.column(id).map(|_| {
                self.columns += 1;
            }),
            ast::Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                let (var, col) = (parts[0].clone(), parts[1].clone());
                self.names.vars(&var).and_then(|vars| {
                    self.names.column(&col)?;
                    let name = var_name(&var);
                    if !self.vars.iter().any(|(n, _)| *n == name) {
                        self.vars.push((name, vars));
                    }
                    self.columns += 1;
                    self.qualified += 1;
                    *expr =
                        ast::Expr::Identifier(Ident { value: col.value, quote_style: col.quote_style, span: col.span });
                    Ok(())
                })
            }
            ast::Expr::CompoundIdentifier(parts) => plan_err(format!(
                "{}: reference columns as column or variable.column",
                parts.iter().map(|p| p.value.as_str()).collect::<Vec<_>>().join(".")
            )),
            ast::Expr::Function(g) => {
                let name = g.name.to_string().to_ascii_uppercase();
                if PATTERN_FUNCTIONS.contains(&name.as_str()) {
                    plan_err(format!("{}: {name}(..) cannot be nested in the argument of {}", self.f, self.f))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        };
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}
