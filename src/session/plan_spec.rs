//! Plans that can be stored or sent to another process.

use super::{Continuous, Session, Target};
use crate::error::{Error, Result};

/// A query plan in a form that can be stored or sent to another process: the SQL of the
/// statements that built the catalog, the query, and the plan's EXPLAIN text. Loading
/// replays the statements, plans the query again and checks that the EXPLAIN is
/// identical, so a plan never runs against a different catalog than it was checked with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanSpec {
    /// DDL, `SET` and `INSERT INTO t VALUES` statements, in order.
    pub statements: Vec<String>,
    /// The query.
    pub query: String,
    /// EXPLAIN of the plan when it was made.
    pub explain: String,
}

impl PlanSpec {
    /// Replays the catalog in a fresh session and plans the query again.
    ///
    /// ```
    /// use wavecrest::Session;
    /// let mut session = Session::new();
    /// session.sql("CREATE TABLE t (a BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values')").unwrap();
    /// let spec = session.plan_spec("SELECT a + 1 AS b FROM t").unwrap();
    /// let json = serde_json::to_string(&spec).unwrap();
    /// let spec: wavecrest::PlanSpec = serde_json::from_str(&json).unwrap();
    /// let (_fresh, query) = spec.load().unwrap();
    /// assert_eq!(query.plan.explain(1), spec.explain);
    /// ```
    pub fn load(&self) -> Result<(Session, Continuous)> {
        let mut session = Session::new();
        for s in &self.statements {
            session.sql(s)?;
        }
        let plan = session.planner.plan_sql(&self.query)?;
        let explain = plan.explain(1);
        if explain != self.explain {
            return Err(Error::sql(format!(
                "the stored plan no longer matches its catalog:\nstored:\n{}\nnow:\n{explain}",
                self.explain
            )));
        }
        Ok((session, Continuous { plan, target: Target::Client }))
    }
}
