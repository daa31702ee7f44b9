//! Group-window short forms, rewritten into window TVFs before planning:
//!
//! * Flink's legacy group windows: `GROUP BY TUMBLE(ts, size)` / `HOP(ts, slide, size)` /
//!   `CUMULATE(ts, step, max)`, with `TUMBLE_START(..)`, `TUMBLE_END(..)` and
//!   `TUMBLE_ROWTIME(..)` (and the `HOP_`/`CUMULATE_` ones) in the select list;
//! * Arroyo's `tumble(interval ..)` / `hop(slide, size)` without a time column (the table's
//!   event-time attribute is used), usually selected with an alias and grouped by it.
//!
//! ```sql
//! SELECT TUMBLE_START(ts, INTERVAL '1' MINUTE), COUNT(*) FROM t GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE)
//! -- becomes
//! SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(t, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
//! GROUP BY window_start, window_end
//! ```
//! In the select list a bare window call (Arroyo) stands for `window_start`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    self, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, Query, Select, SelectItem,
    SetExpr, TableFactor, VisitMut, VisitorMut,
};

/// Time column placeholder for Arroyo's form: the planner uses the input's time attribute.
pub const ROWTIME_PLACEHOLDER: &str = "__rowtime__";

const KINDS: &[&str] = &["TUMBLE", "HOP", "CUMULATE"];

/// Rewrites every SELECT of `query` (including nested ones) that groups by a window call.
/// Fails if a `<KIND>_START/_END/_ROWTIME` call does not name the grouped window.
pub fn rewrite_group_windows(query: &mut Query) -> Result<(), String> {
    match query.visit(&mut Rewriter) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Rewriter;

impl VisitorMut for Rewriter {
    type Break = String;

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<String> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            if let Err(e) = rewrite_select(select) {
                return ControlFlow::Break(e);
            }
        }
        ControlFlow::Continue(())
    }
}

/// A window call: kind (upper case), time column (None for Arroyo's form), durations.
fn window_call(e: &Expr) -> Option<(String, Option<Expr>, Vec<Expr>)> {
    let Expr::Function(f) = e else { return None };
    let kind = f.name.to_string().to_ascii_uppercase();
    if !KINDS.contains(&kind.as_str()) {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else { return None };
    let args: Vec<Expr> = list
        .args
        .iter()
        .filter_map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect();
    let is_interval = |e: &Expr| matches!(e, Expr::Interval(_));
    match args.first() {
        Some(first) if is_interval(first) => Some((kind, None, args)),
        Some(Expr::Identifier(_) | Expr::CompoundIdentifier(_))
            if args.len() >= 2 && args[1..].iter().all(is_interval) =>
        {
            Some((kind, Some(args[0].clone()), args[1..].to_vec()))
        }
        _ => None,
    }
}

fn rewrite_select(select: &mut Select) -> Result<(), String> {
    let GroupByExpr::Expressions(groups, _) = &select.group_by else { return Ok(()) };
    if select.from.len() != 1 || !select.from[0].joins.is_empty() {
        return Ok(());
    }
    // Find the window in GROUP BY, directly or through a select-list alias.
    let mut found = None;
    for (i, g) in groups.iter().enumerate() {
        let call = window_call(g).or_else(|| match g {
            Expr::Identifier(id) => select.projection.iter().find_map(|item| match item {
                SelectItem::ExprWithAlias { expr, alias } if alias.value.eq_ignore_ascii_case(&id.value) => {
                    window_call(expr)
                }
                _ => None,
            }),
            _ => None,
        });
        if let Some(c) = call {
            found = Some((i, c));
            break;
        }
    }
    let Some((index, (kind, time, durations))) = found else { return Ok(()) };
    // The window's own arguments, as property functions must repeat them.
    let signature: Vec<String> = time.iter().chain(durations.iter()).map(|e| e.to_string()).collect();
    let relation = &mut select.from[0].relation;
    let (input, alias) = match relation {
        TableFactor::Table { name, alias, args: None, .. } => {
            (Expr::CompoundIdentifier(name_parts(name)), alias.take())
        }
        TableFactor::Derived { subquery, alias, .. } => (Expr::Subquery(subquery.clone()), alias.take()),
        _ => return Ok(()),
    };
    let time = time.unwrap_or_else(|| Expr::Identifier(Ident::new(ROWTIME_PLACEHOLDER)));
    let mut args = vec![arg(input), arg(call("DESCRIPTOR", vec![time]))];
    args.extend(durations.into_iter().map(arg));
    let tvf = Expr::Function(ast::Function {
        name: ast::ObjectName::from(vec![Ident::new(kind.clone())]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(ast::FunctionArgumentList { duplicate_treatment: None, args, clauses: vec![] }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    });
    *relation = TableFactor::TableFunction { expr: tvf, alias };
    if let GroupByExpr::Expressions(groups, _) = &mut select.group_by {
        groups.remove(index);
        groups.insert(index, Expr::Identifier(Ident::new("window_end")));
        groups.insert(index, Expr::Identifier(Ident::new("window_start")));
    }
    let mut replace = |e: &mut Expr| replace_window_functions(e, &kind, &signature);
    if let ControlFlow::Break(err) = ast::visit_expressions_mut(&mut select.projection, &mut replace) {
        return Err(err);
    }
    if let Some(having) = select.having.as_mut() {
        if let ControlFlow::Break(err) = ast::visit_expressions_mut(having, &mut replace) {
            return Err(err);
        }
    }
    Ok(())
}

/// Replaces window property functions by window columns; they must name the grouped
/// window (same kind and arguments), as Flink requires.
fn replace_window_functions(e: &mut Expr, kind: &str, signature: &[String]) -> ControlFlow<String> {
    let Expr::Function(f) = e else { return ControlFlow::Continue(()) };
    let name = f.name.to_string().to_ascii_uppercase();
    let (called_kind, column) = match name.rsplit_once('_') {
        Some((k, "START")) if KINDS.contains(&k) => (k.to_string(), "window_start"),
        Some((k, "END")) if KINDS.contains(&k) => (k.to_string(), "window_end"),
        Some((k, "ROWTIME")) if KINDS.contains(&k) => (k.to_string(), "window_time"),
        _ if KINDS.contains(&name.as_str()) => (name.clone(), "window_start"),
        _ => return ControlFlow::Continue(()),
    };
    let args: Vec<String> = match &f.args {
        FunctionArguments::List(l) => l.args.iter().map(|a| a.to_string()).collect(),
        _ => vec![],
    };
    // A bare window call in the select list (Arroyo) may omit the time column.
    let matches = called_kind == kind && (args == signature || (called_kind == name && signature.ends_with(&args)));
    if !matches {
        return ControlFlow::Break(format!(
            "{name}({}) does not match the window in GROUP BY ({kind}({}))",
            args.join(", "),
            signature.join(", ")
        ));
    }
    *e = Expr::Identifier(Ident::new(column));
    ControlFlow::Continue(())
}

fn name_parts(name: &ast::ObjectName) -> Vec<Ident> {
    name.0.iter().filter_map(|p| p.as_ident().cloned()).collect()
}

fn arg(e: Expr) -> FunctionArg {
    FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(ast::Function {
        name: ast::ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: args.into_iter().map(arg).collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}
