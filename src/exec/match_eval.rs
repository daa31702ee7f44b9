//! `DEFINE` and `MEASURES` evaluation for `MATCH_RECOGNIZE`.
//!
//! The planner rewrites each expression so that every row-pattern function (`PREV`, `NEXT`,
//! `FIRST`, `LAST`, `A.x`, `CLASSIFIER()`, `MATCH_NUMBER()`, aggregates over variables) is a
//! *slot*: an extra column `__mr_<i>` next to the input's columns. Everything around the
//! slots (arithmetic, comparisons, any DataFusion function) is an ordinary `PhysicalExpr`
//! over `input columns ++ slot columns`:
//!
//! ```text
//! DEFINE UP AS price > PREV(price)   →   price > __mr_0      __mr_0 = Nav{Last, *, 0, -1, price}
//! ```
//!
//! To evaluate at a row, the slots are computed from the partition's rows and the match so
//! far (a [`MatchView`]) and the expression runs on a batch of those rows. Conditions whose
//! slots only read the current row and rows at fixed physical offsets ([`MatchExpr::is_context_free`])
//! are evaluated for many rows in one batch.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::physical_expr::PhysicalExpr;

use crate::error::{Error, Result};

/// `FIRST` or `LAST` (logical navigation among the rows mapped to some variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum Nav {
    /// Counting from the first row of the match.
    First,
    /// Counting back from the last (running: current) row.
    Last,
}

/// An aggregate over the rows mapped to variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum AggFunc {
    /// `COUNT(v.*)` or `COUNT(v.x)` (non-null values).
    Count,
    /// `SUM(v.x)`.
    Sum,
    /// `AVG(v.x)` (as DOUBLE).
    Avg,
    /// `MIN(v.x)`.
    Min,
    /// `MAX(v.x)`.
    Max,
}

/// A row-pattern function call, computed per evaluated row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub enum Slot {
    /// `[PREV|NEXT]([FIRST|LAST](vars.column, offset), physical)`: the logical navigation
    /// picks a row of the match, then `physical` moves by rows of the partition.
    Nav {
        /// `FIRST` or `LAST`.
        nav: Nav,
        /// Variables whose rows count (`None`: every row of the match).
        vars: Option<Vec<u16>>,
        /// Logical offset (`LAST(x, 2)`: 2).
        offset: u32,
        /// Physical offset: `PREV(.., n)` is `-n`, `NEXT(.., n)` is `n`.
        physical: i64,
        /// The input column read.
        column: usize,
        /// `FINAL` semantics (the whole match) rather than `RUNNING` (up to the current row).
        fin: bool,
    },
    /// `CLASSIFIER()`: the variable of the current (or, final, last) row.
    Classifier {
        /// `FINAL` semantics.
        fin: bool,
    },
    /// `MATCH_NUMBER()`: 1 for the first match of a partition, 2 for the next, ...
    MatchNumber,
    /// `MATCH_TIMED_OUT()`: whether the row is a timed-out partial match (`WITHIN ..
    /// EMIT TIMEOUTS`) rather than a complete match.
    TimedOut,
    /// An aggregate over the rows of `vars` (`None`: all rows of the match).
    Agg {
        /// Which aggregate.
        func: AggFunc,
        /// Variables whose rows count.
        vars: Option<Vec<u16>>,
        /// The aggregated column (`None`: `COUNT(*)`).
        column: Option<usize>,
        /// `FINAL` semantics.
        fin: bool,
    },
}

impl Slot {
    /// The slot's column type, for input columns of `input`.
    pub fn data_type(&self, input: &SchemaRef) -> Result<DataType> {
        let col = |c: usize| input.field(c).data_type().clone();
        Ok(match self {
            Slot::Nav { column, .. } => col(*column),
            Slot::Classifier { .. } => DataType::Utf8,
            Slot::MatchNumber => DataType::Int64,
            Slot::TimedOut => DataType::Boolean,
            Slot::Agg { func: AggFunc::Count, .. } => DataType::Int64,
            Slot::Agg { func: AggFunc::Avg, .. } => DataType::Float64,
            Slot::Agg { func: AggFunc::Sum, column: Some(c), .. } => match col(*c) {
                t if t.is_signed_integer() => DataType::Int64,
                t if t.is_unsigned_integer() => DataType::UInt64,
                t if t.is_floating() => DataType::Float64,
                t @ (DataType::Decimal128(_, _) | DataType::Decimal256(_, _)) => t,
                t => return Err(Error::sql(format!("SUM over pattern variables needs a number, not {t}"))),
            },
            Slot::Agg { column: Some(c), .. } => col(*c),
            Slot::Agg { column: None, .. } => {
                return Err(Error::sql("only COUNT accepts * in MATCH_RECOGNIZE aggregates"));
            }
        })
    }

    /// Largest physical offset forward (`NEXT`) the slot reads, 0 if none.
    pub fn lookahead(&self) -> i64 {
        match self {
            Slot::Nav { physical, .. } => (*physical).max(0),
            _ => 0,
        }
    }

    /// Largest physical offset backward (`PREV`) the slot reads, 0 if none.
    pub fn lookbehind(&self) -> i64 {
        match self {
            Slot::Nav { physical, .. } => (-*physical).max(0),
            _ => 0,
        }
    }
}

/// The rows a slot is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct MatchView<'a> {
    /// Rows in order; the partition's held rows are `lo..avail`, all final.
    pub rows: &'a RecordBatch,
    /// The partition's first held row: physical navigation before it reads NULL (the rows
    /// `PREV` can reach are held, so only rows before the partition's start are missing).
    pub lo: usize,
    /// End of the partition's final rows.
    pub avail: usize,
    /// Whether no rows follow the final ones (end of input).
    pub is_final: bool,
    /// The match (so far): `(row, variable)` in row order.
    pub path: &'a [(usize, u16)],
    /// The index in `path` of the current row (running semantics).
    pub position: usize,
    /// The match's number in its partition.
    pub match_number: u64,
    /// Whether `path` is a timed-out partial match (`WITHIN .. EMIT TIMEOUTS`).
    pub timed_out: bool,
    /// Pattern variable names by index (for `CLASSIFIER()`).
    pub var_names: &'a [String],
}

/// The row a navigation slot reads.
enum Target {
    Row(usize),
    /// No such row: NULL.
    Null,
    /// A row that is not final yet.
    Undecided,
}

/// The row [`Slot::Nav`] `slot` reads for view `v`.
fn nav_target(slot: &Slot, v: &MatchView) -> Target {
    let Slot::Nav { nav, vars, offset, physical, fin, .. } = slot else { return Target::Null };
    let scope = match v.path.len() {
        0 => v.path,
        n if *fin => &v.path[..n],
        n => &v.path[..=v.position.min(n - 1)],
    };
    let rows = scope.iter().filter(|(_, var)| vars.as_ref().is_none_or(|vs| vs.contains(var)));
    let picked = match nav {
        Nav::First => rows.clone().nth(*offset as usize),
        Nav::Last => rows.rev().nth(*offset as usize),
    };
    let Some((row, _)) = picked else { return Target::Null };
    let target = *row as i64 + physical;
    if target < v.lo as i64 {
        Target::Null
    } else if target as usize >= v.avail {
        if v.is_final {
            Target::Null
        } else {
            Target::Undecided
        }
    } else {
        Target::Row(target as usize)
    }
}

/// The slot's values for `views` (which all share `rows`) as one column, `None` when one
/// of them reads a row that is not final yet. Navigation is one `take`.
fn slot_column(slot: &Slot, ty: &DataType, views: &[MatchView]) -> Result<Option<ArrayRef>> {
    if let (Slot::Nav { column, .. }, Some(first)) = (slot, views.first()) {
        let mut idx = Vec::with_capacity(views.len());
        for v in views {
            debug_assert!(std::ptr::eq(v.rows, first.rows), "views of one evaluation share their rows");
            idx.push(match nav_target(slot, v) {
                Target::Row(r) => Some(r as u32),
                Target::Null => None,
                Target::Undecided => return Ok(None),
            });
        }
        return Ok(Some(take(first.rows.column(*column), &UInt32Array::from(idx), None)?));
    }
    let mut values = Vec::with_capacity(views.len());
    for v in views {
        match slot_value(slot, ty, v)? {
            Some(x) => values.push(x),
            None => return Ok(None),
        }
    }
    Ok(Some(ScalarValue::iter_to_array(values)?))
}

/// The slot's value, `None` when it reads a row that is not final yet.
pub fn slot_value(slot: &Slot, ty: &DataType, v: &MatchView) -> Result<Option<ScalarValue>> {
    let scope = |fin: bool| match v.path.len() {
        0 => v.path,
        n if fin => &v.path[..n],
        n => &v.path[..=v.position.min(n - 1)],
    };
    let in_vars = |vars: &Option<Vec<u16>>, var: u16| vars.as_ref().is_none_or(|vs| vs.contains(&var));
    let null = || ScalarValue::try_new_null(ty).map_err(Error::from);
    match slot {
        Slot::Nav { column, .. } => Ok(match nav_target(slot, v) {
            Target::Row(row) => Some(ScalarValue::try_from_array(v.rows.column(*column), row)?),
            Target::Null => Some(null()?),
            Target::Undecided => None,
        }),
        Slot::Classifier { fin } => Ok(Some(match scope(*fin).last() {
            Some((_, var)) => ScalarValue::Utf8(Some(v.var_names[*var as usize].clone())),
            None => null()?,
        })),
        Slot::MatchNumber => Ok(Some(ScalarValue::Int64(Some(v.match_number as i64)))),
        Slot::TimedOut => Ok(Some(ScalarValue::Boolean(Some(v.timed_out)))),
        Slot::Agg { func, vars, column, fin } => {
            let rows = scope(*fin).iter().filter(|(_, var)| in_vars(vars, *var)).map(|(r, _)| *r);
            aggregate(*func, rows, column.map(|c| v.rows.column(c)), ty).map(Some)
        }
    }
}

fn aggregate(
    func: AggFunc,
    rows: impl Iterator<Item = usize>,
    column: Option<&ArrayRef>,
    ty: &DataType,
) -> Result<ScalarValue> {
    let Some(column) = column else {
        return Ok(ScalarValue::Int64(Some(rows.count() as i64)));
    };
    let mut count = 0i64;
    let mut acc: Option<ScalarValue> = None;
    for r in rows {
        if column.is_null(r) {
            continue;
        }
        count += 1;
        if func == AggFunc::Count {
            continue;
        }
        let x = ScalarValue::try_from_array(column, r)?;
        let x = if func == AggFunc::Sum || func == AggFunc::Avg {
            x.cast_to(if func == AggFunc::Avg { &DataType::Float64 } else { ty })?
        } else {
            x
        };
        acc = Some(match acc {
            None => x,
            Some(a) => match func {
                AggFunc::Sum | AggFunc::Avg => a.add_checked(&x)?,
                AggFunc::Min => {
                    if x < a {
                        x
                    } else {
                        a
                    }
                }
                AggFunc::Max => {
                    if x > a {
                        x
                    } else {
                        a
                    }
                }
                AggFunc::Count => a,
            },
        });
    }
    match func {
        AggFunc::Count => Ok(ScalarValue::Int64(Some(count))),
        AggFunc::Avg => match acc {
            Some(ScalarValue::Float64(Some(s))) => Ok(ScalarValue::Float64(Some(s / count as f64))),
            _ => Ok(ScalarValue::Float64(None)),
        },
        _ => match acc {
            Some(a) => Ok(a),
            None => Ok(ScalarValue::try_new_null(ty)?),
        },
    }
}

/// A `DEFINE` condition or a measure: an expression over the input's columns and its slots.
#[derive(Debug, Clone)]
pub struct MatchExpr {
    /// The expression over `input ++ slots` (slot `i` is column `input width + i`).
    pub expr: Arc<dyn PhysicalExpr>,
    /// The slots, in column order.
    pub slots: Vec<Slot>,
    /// The slots' types.
    pub slot_types: Vec<DataType>,
    /// `input ++ slots`.
    pub schema: SchemaRef,
}

impl MatchExpr {
    /// Whether the expression, as the condition of variable `var`, reads only the current
    /// row and rows at fixed physical offsets from it (not the rest of the match), so it can
    /// be evaluated for many rows at once.
    pub fn is_context_free(&self, var: u16) -> bool {
        self.slots.iter().all(|s| match s {
            Slot::Nav { nav: Nav::Last, offset: 0, vars, fin: false, .. } => {
                vars.as_ref().is_none_or(|vs| vs.contains(&var))
            }
            Slot::Classifier { fin: false } => true,
            _ => false,
        })
    }

    /// Largest `NEXT` offset the expression reads.
    pub fn lookahead(&self) -> i64 {
        self.slots.iter().map(Slot::lookahead).max().unwrap_or(0)
    }

    /// Largest `PREV` offset the expression reads.
    pub fn lookbehind(&self) -> i64 {
        self.slots.iter().map(Slot::lookbehind).max().unwrap_or(0)
    }

    /// Number of row columns the expression reads before its slots (the input's columns
    /// and the derived columns planned before it); rows may have more, appended later.
    pub fn row_width(&self) -> usize {
        self.schema.fields().len() - self.slots.len()
    }

    /// Evaluates over `base` (one row per evaluated position) with `views[i]` giving the
    /// slots of row `i`; all views share their rows. `None` if some slot reads a row that is
    /// not final yet.
    pub fn evaluate(&self, base: &RecordBatch, views: &[MatchView]) -> Result<Option<ArrayRef>> {
        if views.is_empty() {
            return Ok(Some(datafusion::arrow::array::new_empty_array(&self.expr.data_type(&self.schema)?)));
        }
        let mut columns = base.columns()[..self.row_width()].to_vec();
        for (slot, ty) in self.slots.iter().zip(&self.slot_types) {
            match slot_column(slot, ty, views)? {
                Some(c) => columns.push(c),
                None => return Ok(None),
            }
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        Ok(Some(self.expr.evaluate(&batch)?.into_array(batch.num_rows())?))
    }

    /// Evaluates a context-free condition (see [`Self::is_context_free`]) of variable
    /// `var_name` for every row of `rows`, vectorised: slots become shifted copies of their
    /// columns. `parts` are the partitions' row ranges, in order and covering `rows`;
    /// navigation does not leave a range (before it: NULL; after it: NULL at the end of
    /// input, else the row is undecided, `None`, because its `NEXT` is not final yet).
    pub fn context_free_conditions(
        &self,
        var_name: &str,
        rows: &RecordBatch,
        parts: &[(usize, usize)],
        is_final: bool,
    ) -> Result<Vec<Option<bool>>> {
        let n = rows.num_rows();
        if n == 0 {
            return Ok(vec![]);
        }
        let mut decided = vec![true; n];
        let mut columns = rows.columns()[..self.row_width()].to_vec();
        for slot in &self.slots {
            let column: ArrayRef = match slot {
                Slot::Nav { physical: 0, column, .. } => Arc::clone(rows.column(*column)),
                Slot::Nav { physical, column, .. } => {
                    let mut idx = Vec::with_capacity(n);
                    for &(lo, hi) in parts {
                        for (k, decided) in (lo..hi).zip(&mut decided[lo..hi]) {
                            let t = k as i64 + physical;
                            idx.push(if t < lo as i64 {
                                None
                            } else if t as usize >= hi {
                                *decided &= is_final;
                                None
                            } else {
                                Some(t as u32)
                            });
                        }
                    }
                    take(rows.column(*column), &UInt32Array::from(idx), None)?
                }
                Slot::Classifier { .. } => Arc::new(StringArray::from(vec![var_name; n])),
                other => return Err(Error::internal(format!("{other:?} is not a context-free slot"))),
            };
            columns.push(column);
        }
        self.verdicts(columns, decided)
    }

    fn verdicts(&self, columns: Vec<ArrayRef>, decided: Vec<bool>) -> Result<Vec<Option<bool>>> {
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        let out = self.expr.evaluate(&batch)?.into_array(batch.num_rows())?;
        let bools = out
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| Error::sql(format!("a DEFINE condition must be a boolean, not {}", out.data_type())))?;
        Ok((0..decided.len()).map(|i| decided[i].then(|| bools.is_valid(i) && bools.value(i))).collect())
    }

    /// Evaluates a condition for each row of `base`, `views[i]` for row `i`: `Some(true)`
    /// when it holds, `Some(false)` when false or NULL, `None` when undecided (reads a row
    /// not final yet). Rows are evaluated in one batch; undecided rows are found first.
    pub fn conditions(&self, base: &RecordBatch, views: &[MatchView]) -> Result<Vec<Option<bool>>> {
        if views.is_empty() {
            return Ok(vec![]);
        }
        let mut decided = vec![true; views.len()];
        let mut columns = base.columns()[..self.row_width()].to_vec();
        for (slot, ty) in self.slots.iter().zip(&self.slot_types) {
            let mut values = Vec::with_capacity(views.len());
            for (i, v) in views.iter().enumerate() {
                match slot_value(slot, ty, v)? {
                    Some(x) => values.push(x),
                    None => {
                        decided[i] = false;
                        values.push(ScalarValue::try_new_null(ty)?);
                    }
                }
            }
            columns.push(ScalarValue::iter_to_array(values)?);
        }
        self.verdicts(columns, decided)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{Field, Schema};

    fn rows() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("price", DataType::Int64, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![Some(10), Some(8), None, Some(12), Some(7)]))])
            .unwrap()
    }

    fn view<'a>(rows: &'a RecordBatch, path: &'a [(usize, u16)], names: &'a [String]) -> MatchView<'a> {
        MatchView {
            rows,
            lo: 0,
            avail: 4,
            is_final: false,
            path,
            position: path.len() - 1,
            match_number: 3,
            timed_out: false,
            var_names: names,
        }
    }

    #[test]
    fn navigation_logical_then_physical() {
        let r = rows();
        let names = vec!["A".to_string(), "B".to_string()];
        let path = [(0, 0), (1, 1), (2, 1), (3, 0)];
        let v = view(&r, &path, &names);
        let ty = DataType::Int64;
        let nav = |nav, vars: Option<Vec<u16>>, offset, physical, fin| Slot::Nav {
            nav,
            vars,
            offset,
            physical,
            column: 0,
            fin,
        };
        let get = |s: Slot, v: &MatchView| slot_value(&s, &ty, v).unwrap();
        // LAST(B.price) = row 2 (NULL); LAST(B.price, 1) = row 1; FIRST(price) = row 0.
        assert_eq!(get(nav(Nav::Last, Some(vec![1]), 0, 0, false), &v), Some(ScalarValue::Int64(None)));
        assert_eq!(get(nav(Nav::Last, Some(vec![1]), 1, 0, false), &v), Some(ScalarValue::Int64(Some(8))));
        assert_eq!(get(nav(Nav::First, None, 0, 0, false), &v), Some(ScalarValue::Int64(Some(10))));
        // PREV(LAST(A.price), 3) = row 0; PREV(FIRST(price)) is before the partition: NULL.
        assert_eq!(get(nav(Nav::Last, Some(vec![0]), 0, -3, false), &v), Some(ScalarValue::Int64(Some(10))));
        assert_eq!(get(nav(Nav::First, None, 0, -1, false), &v), Some(ScalarValue::Int64(None)));
        // NEXT(price) at row 3 reads row 4, which is not final: undecided; at end of input NULL.
        assert_eq!(get(nav(Nav::Last, None, 0, 1, false), &v), None);
        let end = MatchView { is_final: true, ..v };
        assert_eq!(get(nav(Nav::Last, None, 0, 1, false), &end), Some(ScalarValue::Int64(None)));
        // Running at position 1 vs final.
        let running = MatchView { position: 1, ..v };
        assert_eq!(get(nav(Nav::Last, None, 0, 0, false), &running), Some(ScalarValue::Int64(Some(8))));
        assert_eq!(get(nav(Nav::Last, None, 0, 0, true), &running), Some(ScalarValue::Int64(Some(12))));
        assert_eq!(get(Slot::Classifier { fin: false }, &running), Some(ScalarValue::Utf8(Some("B".into()))));
        assert_eq!(get(Slot::MatchNumber, &running), Some(ScalarValue::Int64(Some(3))));
        assert_eq!(get(Slot::TimedOut, &running), Some(ScalarValue::Boolean(Some(false))));
        let timed_out = MatchView { timed_out: true, ..v };
        assert_eq!(get(Slot::TimedOut, &timed_out), Some(ScalarValue::Boolean(Some(true))));
    }

    #[test]
    fn aggregates_over_variables_skip_nulls() {
        let r = rows();
        let names = vec!["A".to_string(), "B".to_string()];
        let path = [(0, 0), (1, 1), (2, 1), (3, 0)];
        let v = view(&r, &path, &names);
        let agg = |func, vars: Option<Vec<u16>>, column| Slot::Agg { func, vars, column, fin: false };
        let get = |s: Slot| {
            let ty = s.data_type(&r.schema()).unwrap();
            slot_value(&s, &ty, &v).unwrap().unwrap()
        };
        assert_eq!(get(agg(AggFunc::Count, Some(vec![1]), None)), ScalarValue::Int64(Some(2)));
        assert_eq!(get(agg(AggFunc::Count, Some(vec![1]), Some(0))), ScalarValue::Int64(Some(1)));
        assert_eq!(get(agg(AggFunc::Sum, None, Some(0))), ScalarValue::Int64(Some(30)));
        assert_eq!(get(agg(AggFunc::Avg, Some(vec![0]), Some(0))), ScalarValue::Float64(Some(11.0)));
        assert_eq!(get(agg(AggFunc::Min, None, Some(0))), ScalarValue::Int64(Some(8)));
        assert_eq!(get(agg(AggFunc::Max, None, Some(0))), ScalarValue::Int64(Some(12)));
        assert_eq!(get(agg(AggFunc::Max, Some(vec![5]), Some(0))), ScalarValue::Int64(None));
    }
}
