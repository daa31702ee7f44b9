//! Makes the input table of a window TVF visible to DataFusion.
//!
//! DataFusion collects the tables a statement uses from its AST before planning, and a
//! table named only as a function argument (`TUMBLE(bids, ...)`) is not among them. We
//! rewrite such an argument into the subquery `(SELECT * FROM bids)`, which it does see.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    self, FunctionArg, FunctionArgExpr, FunctionArguments, Query, TableFactor, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Table functions whose first argument is a table (the window TVFs and `DEDUPLICATE`).
pub const WINDOW_TVFS: &[&str] = &["TUMBLE", "HOP", "CUMULATE", "SESSION", "SLIDE", "DEDUPLICATE"];

/// Rewrites every window TVF's bare-table first argument (positional or `DATA =>`).
pub fn expose_tvf_tables(query: &mut Query) {
    let _ = query.visit(&mut Rewriter);
}

struct Rewriter;

impl VisitorMut for Rewriter {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let args = match factor {
            TableFactor::TableFunction { expr: ast::Expr::Function(f), .. } if is_window(&f.name) => {
                match &mut f.args {
                    FunctionArguments::List(l) => &mut l.args,
                    _ => return ControlFlow::Continue(()),
                }
            }
            TableFactor::Function { name, args, .. } if is_window(name) => args,
            TableFactor::Table { name, args: Some(a), .. } if is_window(name) => &mut a.args,
            _ => return ControlFlow::Continue(()),
        };
        for (i, arg) in args.iter_mut().enumerate() {
            let slot = match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) if i == 0 => e,
                FunctionArg::Named { name, arg: FunctionArgExpr::Expr(e), .. }
                    if name.value.eq_ignore_ascii_case("data") =>
                {
                    e
                }
                _ => continue,
            };
            if let ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_) = slot {
                if let Some(sub) = subquery_of(&slot.to_string()) {
                    *slot = ast::Expr::Subquery(sub);
                }
            }
        }
        ControlFlow::Continue(())
    }
}

fn is_window(name: &ast::ObjectName) -> bool {
    let n = name.to_string();
    WINDOW_TVFS.iter().any(|w| w.eq_ignore_ascii_case(&n))
}

fn subquery_of(table: &str) -> Option<Box<Query>> {
    Parser::new(&GenericDialect {}).try_with_sql(&format!("SELECT * FROM {table}")).ok()?.parse_query().ok()
}
