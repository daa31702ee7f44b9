//! Non-windowed `GROUP BY` over a stream: a continuously maintained view.
//!
//! Every input row changes its group, and the change is emitted at once (per row, so the
//! changelog never depends on batch boundaries):
//!
//! ```text
//! input (k, v)        state (k → COUNT, SUM)     output
//! +I (a, 1)           a → (1, 1)                 +I (a, 1, 1)
//! +I (a, 2)           a → (2, 3)                 -U (a, 1, 1)  +U (a, 2, 3)
//! -D (a, 1)           a → (1, 2)                 -U (a, 2, 3)  +U (a, 1, 2)
//! -D (a, 2)           (a gone)                   -D (a, 1, 2)
//! ```
//!
//! * An update that changes no value is not emitted.
//! * Over an updating input (`-U`/`-D` rows) the aggregates retract; the planner only
//!   allows retractable ones there. A group whose rows were all retracted is deleted.
//! * With a state TTL, a group not updated while the watermark advanced by more than the
//!   TTL is forgotten without output; a later row for its key starts it afresh (`+I`).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int8Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use datafusion::physical_expr::PhysicalExpr;
use serde::{Deserialize, Serialize};

use super::chunk::{Chunk, RowOp};
use super::groups::{aggregate_inputs, constant_key, AggregateWithFilter};
use super::operator::Operator;
use super::row_group::{Change, GroupSnapshot, RowGroup};
use crate::error::{Error, Result};

/// The plan of one updating aggregate.
#[derive(Debug)]
pub struct UpdatingAggregateSpec {
    /// Grouping keys (empty: one global group).
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Schema of the key columns (see [`super::groups::key_schema`]).
    pub key_schema: SchemaRef,
    /// Aggregates with their optional `FILTER` predicates.
    pub aggregates: Vec<AggregateWithFilter>,
    /// Output schema: the keys, then one column per aggregate.
    pub schema: SchemaRef,
    /// Whether the input is a changelog with retractions (accumulators must retract).
    pub retracting: bool,
    /// Forget groups not updated for this long in event time (ms), if set.
    pub ttl_ms: Option<i64>,
}

/// The operator. See the module docs.
pub struct UpdatingAggregate {
    spec: Arc<UpdatingAggregateSpec>,
    converter: RowConverter,
    groups: HashMap<Vec<u8>, RowGroup>,
    watermark: i64,
    expired: u64,
}

impl UpdatingAggregate {
    /// A fresh operator with no groups.
    pub fn new(spec: Arc<UpdatingAggregateSpec>) -> Result<Self> {
        let fields = spec.key_schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect();
        Ok(UpdatingAggregate {
            converter: RowConverter::new(fields)?,
            spec,
            groups: HashMap::new(),
            watermark: i64::MIN,
            expired: 0,
        })
    }

    /// Builds the output chunk from (op, key bytes, values) rows.
    fn output(&self, rows: Vec<(RowOp, Vec<u8>, Vec<ScalarValue>)>) -> Result<Vec<Chunk>> {
        if rows.is_empty() {
            return Ok(vec![]);
        }
        let mut columns: Vec<ArrayRef> = Vec::new();
        if !self.spec.keys.is_empty() {
            let parser = self.converter.parser();
            columns = self.converter.convert_rows(rows.iter().map(|(_, k, _)| parser.parse(k)))?;
        }
        for i in 0..self.spec.aggregates.len() {
            columns.push(ScalarValue::iter_to_array(rows.iter().map(|(_, _, v)| v[i].clone()))?);
        }
        let columns = columns
            .into_iter()
            .zip(self.spec.schema.fields())
            .map(|(c, f)| if c.data_type() != f.data_type() { cast(&c, f.data_type()) } else { Ok(c) })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(self.spec.schema.clone(), columns)?;
        let ops = Int8Array::from(rows.iter().map(|(op, _, _)| *op as i8).collect::<Vec<_>>());
        Ok(vec![Chunk { batch, row_watermarks: None, ops: Some(Arc::new(ops)) }])
    }
}

impl Operator for UpdatingAggregate {
    fn name(&self) -> &str {
        "UpdatingAggregate"
    }

    fn on_chunk(&mut self, chunk: Chunk) -> Result<Vec<Chunk>> {
        let batch = &chunk.batch;
        let n = batch.num_rows();
        let keys = if self.spec.keys.is_empty() {
            constant_key(n)
        } else {
            self.spec.keys.iter().map(|k| k.evaluate(batch)?.into_array(n)).collect::<datafusion::error::Result<_>>()?
        };
        let key_rows = self.converter.convert_columns(&keys)?;
        let (args, filters) = aggregate_inputs(&self.spec.aggregates, batch)?;
        let mut out = Vec::new();
        for i in 0..n {
            let add = matches!(chunk.op(i), RowOp::Insert | RowOp::UpdateAfter);
            let touched = chunk.row_watermarks.as_ref().map_or(self.watermark, |w| w.value(i));
            let key = key_rows.row(i);
            if !self.groups.contains_key(key.as_ref()) {
                if !add {
                    // A retraction of a row this operator never counted (its group expired).
                    continue;
                }
                let group = RowGroup::new(&self.spec.aggregates, self.spec.retracting, touched)?;
                self.groups.insert(key.as_ref().to_vec(), group);
            }
            let group = self.groups.get_mut(key.as_ref()).expect("inserted above");
            group.apply(&args, &filters, i, add)?;
            group.touched = touched;
            if group.rows <= 0 {
                let group = self.groups.remove(key.as_ref()).expect("present");
                if let Some(old) = group.emitted {
                    out.push((RowOp::Delete, key.as_ref().to_vec(), old));
                }
                continue;
            }
            match group.change()? {
                Change::None => {}
                Change::Update(old, new) => {
                    out.push((RowOp::UpdateBefore, key.as_ref().to_vec(), old));
                    out.push((RowOp::UpdateAfter, key.as_ref().to_vec(), new));
                }
                Change::Insert(new) => out.push((RowOp::Insert, key.as_ref().to_vec(), new)),
            }
        }
        self.output(out)
    }

    fn on_watermark(&mut self, watermark: i64) -> Result<Vec<Chunk>> {
        self.watermark = watermark;
        if let Some(ttl) = self.spec.ttl_ms {
            // At the end of a bounded input (MAX) nothing can arrive any more; expiring
            // then would only skew the count.
            if watermark != i64::MAX {
                let before = self.groups.len();
                self.groups.retain(|_, g| g.touched.saturating_add(ttl) >= watermark);
                self.expired += (before - self.groups.len()) as u64;
            }
        }
        Ok(vec![])
    }

    fn snapshot(&mut self) -> Result<Vec<u8>> {
        let groups = self.groups.iter_mut().map(|(key, g)| g.snapshot(key.clone())).collect::<Result<Vec<_>>>()?;
        let snap = Snapshot { watermark: self.watermark, expired: self.expired, groups };
        serde_json::to_vec(&snap).map_err(|e| Error::internal(format!("snapshot: {e}")))
    }

    fn restore(&mut self, state: &[u8]) -> Result<()> {
        let snap: Snapshot = serde_json::from_slice(state).map_err(|e| Error::internal(format!("restore: {e}")))?;
        self.watermark = snap.watermark;
        self.expired = snap.expired;
        self.groups.clear();
        for g in &snap.groups {
            self.groups.insert(g.key.clone(), RowGroup::restore(&self.spec.aggregates, self.spec.retracting, g)?);
        }
        Ok(())
    }

    fn state_keys(&self) -> usize {
        self.groups.len()
    }
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    watermark: i64,
    expired: u64,
    groups: Vec<GroupSnapshot>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::test_rows::{self, lines as text};
    use crate::plan::pipeline::OpSpec;
    use crate::plan::Planner;

    /// The aggregate of `SELECT k, COUNT(*), SUM(v) FROM t GROUP BY k` with `options`.
    fn op(options: &str) -> (UpdatingAggregate, SchemaRef) {
        let mut session = crate::Session::new();
        session
            .sql(&format!(
                "CREATE TABLE t (k BIGINT, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values'{options})"
            ))
            .unwrap();
        let planner: &Planner = session.planner();
        let plan = planner.plan_sql("SELECT k, COUNT(*), SUM(v) FROM t GROUP BY k").unwrap();
        let spec = plan
            .stages
            .iter()
            .flat_map(|s| &s.ops)
            .find_map(|o| match o {
                OpSpec::UpdatingAggregate { spec, .. } => Some(Arc::clone(spec)),
                _ => None,
            })
            .unwrap();
        (UpdatingAggregate::new(spec).unwrap(), planner.table("t").unwrap().schema.clone())
    }

    /// Rows (k, v, ts), each arriving with the watermark at its own time.
    fn chunk(schema: &SchemaRef, rows: &[(i64, i64, i64)]) -> Chunk {
        test_rows::chunk(schema, &rows.iter().map(|&(k, v, t)| (k, v, t, t)).collect::<Vec<_>>())
    }

    #[test]
    fn each_row_emits_its_change_whatever_the_batch_split() {
        let rows: Vec<_> = (0..12).map(|i| (i % 3, i, i * 100)).collect();
        let (mut whole, schema) = op("");
        let expected = text(&whole.on_chunk(chunk(&schema, &rows)).unwrap());
        assert_eq!(expected.len(), 3 + 9 * 2, "3 inserts, then an update pair per row");
        let (mut split, _) = op("");
        let mut got = Vec::new();
        for part in rows.chunks(5) {
            got.extend(text(&split.on_chunk(chunk(&schema, part)).unwrap()));
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn idle_groups_expire_after_the_ttl_and_restart_with_an_insert() {
        let (mut a, schema) = op(", 'state.ttl' = '10 s'");
        a.on_chunk(chunk(&schema, &[(1, 5, 0), (2, 7, 0)])).unwrap();
        a.on_chunk(chunk(&schema, &[(2, 1, 6_000)])).unwrap();
        assert!(a.on_watermark(10_000).unwrap().is_empty());
        assert_eq!(a.state_keys(), 2, "at exactly the TTL both are kept");
        a.on_watermark(10_001).unwrap();
        assert_eq!(a.state_keys(), 1, "key 1 was last updated at 0 s");
        let out = text(&a.on_chunk(chunk(&schema, &[(1, 3, 10_001), (2, 1, 10_001)])).unwrap());
        assert_eq!(out, vec!["+I 1 1 3", "-U 2 2 8", "+U 2 3 9"]);
    }

    #[test]
    fn snapshot_and_restore_continue_identically() {
        let first: Vec<_> = (0..20).map(|i| (i % 4, i, i * 10)).collect();
        let second: Vec<_> = (20..40).map(|i| (i % 5, i, i * 10)).collect();
        let (mut a, schema) = op("");
        a.on_chunk(chunk(&schema, &first)).unwrap();
        let snapshot = a.snapshot().unwrap();
        let expected = text(&a.on_chunk(chunk(&schema, &second)).unwrap());
        let (mut b, _) = op("");
        b.restore(&snapshot).unwrap();
        assert_eq!(text(&b.on_chunk(chunk(&schema, &second)).unwrap()), expected);
    }
}
