//! `MATCH_RECOGNIZE` in `FROM`: planned by the relation planner into a logical extension
//! node that lowering turns into [`crate::exec::match_recognize`].
//!
//! Output: `ONE ROW PER MATCH` gives the `PARTITION BY` columns then the measures;
//! `ALL ROWS PER MATCH` gives every input column then the measures (running semantics).
//! `AFTER MATCH SKIP PAST LAST ROW` is the default, as in SQL:2016 (Flink differs).

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::planner::{PlannedRelation, RelationPlannerContext, RelationPlanning};
use datafusion::logical_expr::{Expr, ExprSchemable, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::sql::sqlparser::ast::{
    self, AfterMatchSkip, EmptyMatchesMode, MatchRecognizePattern as P, MatchRecognizeSymbol as Sym,
    RepetitionQuantifier as Q, RowsPerMatch as Rpm, Spanned, TableFactor,
};
use datafusion::sql::sqlparser::tokenizer::Span;

use super::match_expr::{self, located, var_name, Names, Place, SlotExpr};
use super::match_nav_arg::{row_schema, NavArgs};
use super::window_tvf::{interval_ms, is_time_attribute};
use crate::exec::match_eval::{Nav, Slot};
use crate::exec::match_pattern::Pattern;
use crate::exec::match_recognize::{AfterMatch, EmptyMatches, RowsPerMatch};
use crate::sql::match_recognize::{EXCLUDE_MARK, SUBSET_MARK, TIMEOUTS_MARK, WITHIN_MARK};

/// Most variables `PERMUTE` takes (its alternation has n! branches).
const MAX_PERMUTE: usize = 5;

/// A planned `MATCH_RECOGNIZE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MatchRecognizeNode {
    /// The input relation.
    pub input: LogicalPlan,
    /// `PARTITION BY` expressions over the input, and their output names.
    pub partition: Vec<(Expr, String)>,
    /// Index of the event-time attribute (first `ORDER BY` key) in the input.
    pub time_index: usize,
    /// Further `ORDER BY` keys and whether each is descending.
    pub order: Vec<(Expr, bool)>,
    /// The pattern over variable indices.
    pub pattern: Pattern,
    /// Variable names by index.
    pub var_names: Vec<String>,
    /// `DEFINE` per variable (`None`: matches every row).
    pub defines: Vec<Option<SlotExpr>>,
    /// Measures and their names.
    pub measures: Vec<(SlotExpr, String)>,
    /// Expressions over the input that navigation reads, held as extra columns after the
    /// input's (see [`super::match_nav_arg`]), and their column names.
    pub derived: Vec<(Expr, String)>,
    /// Output shape.
    pub rows_per_match: RowsPerMatch,
    /// `AFTER MATCH SKIP`.
    pub after_match: AfterMatch,
    /// `WITHIN`: a match's last row is less than this after its first (ms).
    pub within_ms: Option<i64>,
    /// `EMIT TIMEOUTS`: partial matches whose `WITHIN` interval passed are output too.
    pub emit_timeouts: bool,
    /// Output schema.
    pub schema: DFSchemaRef,
    /// The clause as SQL, for EXPLAIN.
    pub text: String,
    /// The `PATTERN` as SQL.
    pub pattern_text: String,
}

impl MatchRecognizeNode {
    /// Whether output column `col` is an event-time attribute: a measure that is exactly
    /// `MATCH_ROWTIME()` (the final `LAST` of the input's time attribute over the whole
    /// match). The operator holds its output watermark below every match it may still emit
    /// (see [`crate::exec::operator::Operator::output_watermark`]), so windows can follow.
    pub fn is_rowtime_measure(&self, col: &str) -> bool {
        let rowtime =
            Slot::Nav { nav: Nav::Last, vars: None, offset: 0, physical: 0, column: self.time_index, fin: true };
        self.measures.iter().any(|(m, name)| {
            name.eq_ignore_ascii_case(col)
                && m.slots.len() == 1
                && m.slots[0] == rowtime
                && matches!(m.expr.clone().unalias_nested().data, Expr::Column(c) if c.name == "__mr_0")
        })
    }
}

impl PartialOrd for MatchRecognizeNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.text.partial_cmp(&other.text)
    }
}

impl UserDefinedLogicalNodeCore for MatchRecognizeNode {
    fn name(&self) -> &str {
        "MatchRecognize"
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
        write!(f, "MatchRecognize: {}", self.text)
    }
    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        let input = inputs.pop().ok_or_else(|| DataFusionError::Internal("MatchRecognize needs one input".into()))?;
        if input.schema() != self.input.schema() {
            return Err(DataFusionError::Internal("MatchRecognize: the input's columns changed".into()));
        }
        Ok(MatchRecognizeNode { input, ..self.clone() })
    }
}

fn plan_err<T>(msg: impl Into<String>) -> DfResult<T> {
    Err(DataFusionError::Plan(format!("MATCH_RECOGNIZE: {}", msg.into())))
}

/// Plans a `TableFactor::MatchRecognize` (called by the relation planner).
pub fn plan(relation: TableFactor, ctx: &mut dyn RelationPlannerContext) -> DfResult<RelationPlanning> {
    let TableFactor::MatchRecognize {
        table,
        partition_by,
        order_by,
        measures,
        rows_per_match,
        after_match_skip,
        pattern,
        symbols,
        alias,
    } = relation
    else {
        return Ok(RelationPlanning::Original(Box::new(relation)));
    };
    let table_span = table.span();
    let input = ctx.plan(*table)?;
    let in_schema = Arc::clone(input.schema());

    // Variables: in order of first appearance in PATTERN.
    let pattern_text = show(&pattern);
    let mut var_names = Vec::new();
    collect_vars(&pattern, &mut var_names);
    let pattern = convert(&pattern, &var_names)?;

    // ORDER BY: the event-time attribute ascending first.
    let Some((first, rest)) = order_by.split_first() else {
        let err = "ORDER BY is required and must start with the event-time attribute (ORDER BY ts)";
        return plan_err(err).map_err(|e| located(table_span, e));
    };
    let order_span = first.expr.span();
    let time_col = match &first.expr {
        ast::Expr::Identifier(id) => ctx.normalize_ident(id.clone()),
        ast::Expr::CompoundIdentifier(parts) if !parts.is_empty() => {
            ctx.normalize_ident(parts[parts.len() - 1].clone())
        }
        other => {
            let err = plan_err(format!("ORDER BY must start with the event-time attribute, got {other}"));
            return err.map_err(|e| located(order_span, e));
        }
    };
    let time_index = in_schema.fields().iter().position(|f| f.name().eq_ignore_ascii_case(&time_col));
    let time_index = match time_index {
        Some(i) if is_time_attribute(&input, &time_col) => i,
        _ => {
            return plan_err(format!(
                "ORDER BY must start with the event-time attribute (a column with WATERMARK FOR ..), but '{time_col}' is not one"
            ))
            .map_err(|e| located(order_span, e))
        }
    };
    if first.options.asc == Some(false) {
        return plan_err(format!("ORDER BY {time_col} must be ascending (rows are matched in event-time order)"))
            .map_err(|e| located(order_span, e));
    }
    let mut order = Vec::new();
    for o in rest {
        order.push((ctx.sql_to_expr(o.expr.clone(), &in_schema)?, o.options.asc == Some(false)));
    }

    let mut partition = Vec::new();
    for e in &partition_by {
        let name = match e {
            ast::Expr::Identifier(id) => ctx.normalize_ident(id.clone()),
            ast::Expr::CompoundIdentifier(p) if !p.is_empty() => ctx.normalize_ident(p[p.len() - 1].clone()),
            other => other.to_string(),
        };
        partition.push((ctx.sql_to_expr(e.clone(), &in_schema)?, name));
    }

    // WITHIN and SUBSET arrive as marked DEFINE entries (see crate::sql::match_recognize).
    let mut within_ms = None;
    let mut emit_timeouts = false;
    let mut subsets: Vec<(String, Vec<u16>)> = Vec::new();
    let mut defined = Vec::new();
    for d in symbols {
        let marked = |id: &ast::Ident, mark: &str| id.quote_style.is_some() && id.value == mark;
        if marked(&d.symbol, WITHIN_MARK) {
            let ms = interval_ms(d.definition.clone(), ctx)?;
            if ms <= 0 {
                return plan_err(format!("WITHIN {}: the interval must be positive", d.definition));
            }
            within_ms = Some(ms);
            continue;
        }
        if marked(&d.symbol, TIMEOUTS_MARK) {
            emit_timeouts = true;
            continue;
        }
        if let ast::Expr::Function(f) = &d.definition {
            if f.name.0.len() == 1 && f.name.0[0].as_ident().is_some_and(|id| marked(id, SUBSET_MARK)) {
                let name = var_name(&d.symbol);
                if var_names.contains(&name) || subsets.iter().any(|(n, _)| *n == name) {
                    return plan_err(format!("SUBSET {name}: the name is already a pattern variable or subset"));
                }
                let mut members = Vec::new();
                let ast::FunctionArguments::List(list) = &f.args else {
                    return plan_err(format!("SUBSET {name} = (..) needs at least one variable"));
                };
                for a in &list.args {
                    let member = match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(ast::Expr::Identifier(id))) => {
                            var_name(id)
                        }
                        other => return plan_err(format!("SUBSET {name}: {other} is not a pattern variable")),
                    };
                    match var_names.iter().position(|n| *n == member) {
                        Some(v) => members.push(v as u16),
                        None => return plan_err(format!("SUBSET {name}: {member} is not a pattern variable")),
                    }
                }
                if members.is_empty() {
                    return plan_err(format!("SUBSET {name} = (..) needs at least one variable"));
                }
                subsets.push((name, members));
                continue;
            }
        }
        defined.push(d);
    }

    let nav_args = NavArgs::default();
    let names = Names {
        vars: &var_names,
        subsets: &subsets,
        columns: in_schema.fields().iter().map(|f| f.name().clone()).collect(),
        time: time_index,
        timeouts: emit_timeouts,
        nav_args: &nav_args,
    };
    let rows = || row_schema(&in_schema, &nav_args.exprs());
    let mut defines: Vec<Option<SlotExpr>> = vec![None; var_names.len()];
    for d in &defined {
        let name = var_name(&d.symbol);
        let at = |e| located(d.symbol.span, e);
        let Some(v) = var_names.iter().position(|n| *n == name) else {
            return plan_err(format!("DEFINE {name}: {name} does not appear in the PATTERN")).map_err(at);
        };
        if defines[v].is_some() {
            return plan_err(format!("DEFINE {name} appears twice")).map_err(at);
        }
        let planned = match_expr::plan(&d.definition, Place::Define(v as u16), &names, &in_schema, ctx)?;
        let ty = planned.expr.get_type(&planned.schema(rows()?.as_ref())?)?;
        if !matches!(ty, DataType::Boolean | DataType::Null) {
            return plan_err(format!("DEFINE {name} must be a condition (BOOLEAN), not {ty}")).map_err(at);
        }
        defines[v] = Some(planned);
    }

    let mut planned_measures = Vec::new();
    for m in &measures {
        let planned = match_expr::plan(&m.expr, Place::Measure, &names, &in_schema, ctx)?;
        planned_measures.push((planned, ctx.normalize_ident(m.alias.clone())));
    }

    let rows_per_match = match rows_per_match {
        None | Some(Rpm::OneRow) => RowsPerMatch::One,
        Some(Rpm::AllRows(None | Some(EmptyMatchesMode::Show))) => RowsPerMatch::All(EmptyMatches::Show),
        Some(Rpm::AllRows(Some(EmptyMatchesMode::Omit))) => RowsPerMatch::All(EmptyMatches::Omit),
        Some(Rpm::AllRows(Some(EmptyMatchesMode::WithUnmatched))) => RowsPerMatch::All(EmptyMatches::WithUnmatched),
    };
    if emit_timeouts && within_ms.is_none() {
        return plan_err(
            "EMIT TIMEOUTS needs WITHIN INTERVAL .. before it: the time after which a partial match times out",
        );
    }
    if emit_timeouts && rows_per_match != RowsPerMatch::One {
        return plan_err(
            "WITHIN .. EMIT TIMEOUTS needs ONE ROW PER MATCH: a timed-out partial match is output as one row",
        );
    }
    if rows_per_match == RowsPerMatch::All(EmptyMatches::WithUnmatched) && has_exclusion(&pattern) {
        return plan_err("WITH UNMATCHED ROWS cannot be combined with an exclusion {- .. -} (SQL:2016)");
    }
    let var_of = |id: &ast::Ident| -> DfResult<u16> {
        let name = var_name(id);
        if subsets.iter().any(|(n, _)| *n == name) {
            return plan_err(format!("AFTER MATCH SKIP TO {name}: skipping to a SUBSET is not supported yet"))
                .map_err(|e| located(id.span, e));
        }
        var_names.iter().position(|n| *n == name).map(|i| i as u16).ok_or_else(|| {
            let err =
                DataFusionError::Plan(format!("MATCH_RECOGNIZE: AFTER MATCH SKIP TO {name}: not a pattern variable"));
            located(id.span, err)
        })
    };
    let skip_span = match &after_match_skip {
        Some(AfterMatchSkip::ToFirst(v) | AfterMatchSkip::ToLast(v)) => v.span,
        _ => Span::empty(),
    };
    let after_match = match after_match_skip {
        None | Some(AfterMatchSkip::PastLastRow) => AfterMatch::PastLastRow,
        Some(AfterMatchSkip::ToNextRow) => AfterMatch::ToNextRow,
        Some(AfterMatchSkip::ToFirst(v)) => AfterMatch::ToFirst(var_of(&v)?),
        Some(AfterMatchSkip::ToLast(v)) => AfterMatch::ToLast(var_of(&v)?),
    };
    if let AfterMatch::ToFirst(v) = after_match {
        if pattern.always_starts_with() == Some(v) {
            return plan_err(format!(
                "AFTER MATCH SKIP TO FIRST {} would restart every match at its own first row (an endless loop)",
                var_names[v as usize]
            ))
            .map_err(|e| located(skip_span, e));
        }
    }

    // Output schema.
    let mut fields = Vec::new();
    match rows_per_match {
        RowsPerMatch::One => {
            for (e, name) in &partition {
                fields.push(Field::new(name, e.get_type(&in_schema)?, true));
            }
        }
        RowsPerMatch::All(_) => {
            fields.extend(in_schema.fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)))
        }
    }
    let derived = nav_args.exprs();
    let rows = row_schema(&in_schema, &derived)?;
    for (m, name) in &planned_measures {
        fields.push(Field::new(name, m.expr.get_type(&m.schema(&rows)?)?, true));
    }
    let schema = Arc::new(DFSchema::from_unqualified_fields(fields.into(), Default::default())?);
    let within = within_ms.map(|w| (w, emit_timeouts));
    let text = describe(&pattern_text, &partition, &planned_measures, rows_per_match, after_match, &var_names, within);
    let node = MatchRecognizeNode {
        input,
        partition,
        time_index,
        order,
        pattern,
        var_names,
        defines,
        measures: planned_measures,
        derived,
        rows_per_match,
        after_match,
        within_ms,
        emit_timeouts,
        schema,
        text,
        pattern_text,
    };
    let plan = LogicalPlan::Extension(Extension { node: Arc::new(node) });
    Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(plan, alias))))
}

/// One line for EXPLAIN.
fn describe(
    pattern: &str,
    partition: &[(Expr, String)],
    measures: &[(SlotExpr, String)],
    rows: RowsPerMatch,
    after: AfterMatch,
    vars: &[String],
    within: Option<(i64, bool)>,
) -> String {
    let partition = partition.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", ");
    let measures = measures.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", ");
    let rows = match rows {
        RowsPerMatch::One => "ONE ROW PER MATCH",
        RowsPerMatch::All(EmptyMatches::Show) => "ALL ROWS PER MATCH",
        RowsPerMatch::All(EmptyMatches::Omit) => "ALL ROWS PER MATCH OMIT EMPTY MATCHES",
        RowsPerMatch::All(EmptyMatches::WithUnmatched) => "ALL ROWS PER MATCH WITH UNMATCHED ROWS",
    };
    let skip = match after {
        AfterMatch::PastLastRow => "PAST LAST ROW".to_string(),
        AfterMatch::ToNextRow => "TO NEXT ROW".to_string(),
        AfterMatch::ToFirst(v) => format!("TO FIRST {}", vars[v as usize]),
        AfterMatch::ToLast(v) => format!("TO LAST {}", vars[v as usize]),
    };
    let within = within
        .map(|(w, timeouts)| {
            format!(" WITHIN {}{}", super::window::ms(w), if timeouts { " EMIT TIMEOUTS" } else { "" })
        })
        .unwrap_or_default();
    format!(
        "PATTERN ({pattern}){within}, partition=[{partition}], measures=[{measures}], {rows}, AFTER MATCH SKIP {skip}"
    )
}

fn has_exclusion(p: &Pattern) -> bool {
    match p {
        Pattern::Exclude(_) => true,
        Pattern::Var(_) | Pattern::Start | Pattern::End => false,
        Pattern::Concat(ps) | Pattern::Alt(ps) => ps.iter().any(has_exclusion),
        Pattern::Repeat { inner, .. } => has_exclusion(inner),
    }
}

/// The pattern inside an exclusion, if `p` is one (see [`EXCLUDE_MARK`]).
fn excluded(p: &P) -> Option<&P> {
    let P::Group(g) = p else { return None };
    match g.as_ref() {
        P::Concat(ps) if ps.len() == 2 && matches!(&ps[0], P::Symbol(Sym::Named(id)) if is_mark(id)) => Some(&ps[1]),
        _ => None,
    }
}

fn is_mark(id: &ast::Ident) -> bool {
    id.quote_style.is_some() && id.value == EXCLUDE_MARK
}

/// The pattern as the user wrote it (exclusions as `{- .. -}`), for EXPLAIN.
fn show(p: &P) -> String {
    if let Some(inner) = excluded(p) {
        let inner = match inner {
            P::Group(x) => x.as_ref(),
            x => x,
        };
        return format!("{{- {} -}}", show(inner));
    }
    let join = |ps: &[P], sep: &str| ps.iter().map(show).collect::<Vec<_>>().join(sep);
    match p {
        P::Concat(ps) => join(ps, " "),
        P::Alternation(ps) => join(ps, " | "),
        P::Group(x) => format!("( {} )", show(x)),
        P::Repetition(x, q) => format!("{}{q}", show(x)),
        other => other.to_string(),
    }
}

fn collect_vars(p: &P, out: &mut Vec<String>) {
    let mut add = |s: &Sym| {
        if let Sym::Named(id) = s {
            if is_mark(id) {
                return;
            }
            let n = var_name(id);
            if !out.contains(&n) {
                out.push(n);
            }
        }
    };
    match p {
        P::Symbol(s) | P::Exclude(s) => add(s),
        P::Permute(ss) => ss.iter().for_each(add),
        P::Concat(ps) | P::Alternation(ps) => ps.iter().for_each(|p| collect_vars(p, out)),
        P::Group(p) | P::Repetition(p, _) => collect_vars(p, out),
    }
}

fn symbol(s: &Sym, vars: &[String]) -> Pattern {
    match s {
        Sym::Named(id) => {
            let n = var_name(id);
            Pattern::Var(vars.iter().position(|v| *v == n).unwrap_or(0) as u16)
        }
        Sym::Start => Pattern::Start,
        Sym::End => Pattern::End,
    }
}

/// sqlparser's pattern → ours. A reluctant quantifier arrives as `?` around a repetition
/// that is not a group (`B+?`), unlike `(B+)?`.
fn convert(p: &P, vars: &[String]) -> DfResult<Pattern> {
    if let Some(inner) = excluded(p) {
        return Ok(Pattern::Exclude(Box::new(convert(inner, vars)?)));
    }
    Ok(match p {
        P::Symbol(s) => symbol(s, vars),
        P::Exclude(s) => Pattern::Exclude(Box::new(symbol(s, vars))),
        P::Permute(ss) => {
            if ss.len() > MAX_PERMUTE {
                return plan_err(format!("PERMUTE takes at most {MAX_PERMUTE} variables"));
            }
            let items: Vec<Pattern> = ss.iter().map(|s| symbol(s, vars)).collect();
            Pattern::Alt(permutations(&items).into_iter().map(Pattern::Concat).collect())
        }
        P::Concat(ps) => Pattern::Concat(ps.iter().map(|p| convert(p, vars)).collect::<DfResult<_>>()?),
        P::Alternation(ps) => Pattern::Alt(ps.iter().map(|p| convert(p, vars)).collect::<DfResult<_>>()?),
        P::Group(p) => convert(p, vars)?,
        P::Repetition(inner, Q::AtMostOne) if matches!(inner.as_ref(), P::Repetition(..)) => {
            let P::Repetition(x, q) = inner.as_ref() else { unreachable!("checked") };
            repeat(convert(x, vars)?, q, false)?
        }
        P::Repetition(inner, q) => repeat(convert(inner, vars)?, q, true)?,
    })
}

fn repeat(inner: Pattern, q: &Q, greedy: bool) -> DfResult<Pattern> {
    let (min, max) = match q {
        Q::ZeroOrMore => (0, None),
        Q::OneOrMore => (1, None),
        Q::AtMostOne => (0, Some(1)),
        Q::Exactly(n) => (*n, Some(*n)),
        Q::AtLeast(n) => (*n, None),
        Q::AtMost(n) => (0, Some(*n)),
        Q::Range(a, b) => (*a, Some(*b)),
    };
    if max.is_some_and(|m| m < min) {
        return plan_err(format!("quantifier {q}: the maximum is below the minimum"));
    }
    Ok(Pattern::Repeat { inner: Box::new(inner), min, max, greedy })
}

/// All orderings of `items`, in the order SQL:2016 prefers them (lexicographic by position).
fn permutations(items: &[Pattern]) -> Vec<Vec<Pattern>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let head = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, head.clone());
            out.push(tail);
        }
    }
    out
}
