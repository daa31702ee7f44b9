//! A session: executes statements against a [`Planner`]'s catalog and runs continuous
//! queries as one job. The CLI, the REPL and embedders all go through this type.

mod plan_spec;
mod running;

pub use plan_spec::PlanSpec;
pub use running::{PreparedJob, RunningQuery};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, ArrayRef};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::DFSchema;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::physical_expr::create_physical_expr;
use datafusion::physical_expr::expressions::Column;
use datafusion::sql::sqlparser::ast;

use crate::connectors::options::parse_duration_ms;
use crate::connectors::options::Options;
use crate::connectors::registry::{idle_timeout_ms, open_source};
use crate::connectors::SourceCounters;
use crate::error::{Error, Result};
use crate::plan::catalog::options_text;
use crate::plan::pipeline::{OpSpec, QueryPlan};
use crate::plan::Planner;
use crate::runtime::checkpoint::{CheckpointConfig, DEFAULT_INTERVAL};
use crate::runtime::job::JobCheckpoints;
use crate::runtime::side_output::{side_stream, SideOutputs};
use crate::runtime::{Cancel, JobMetrics, JobQuery, JobSource};
use crate::sink::open_sink_with;
use crate::sink::subscription::subscriptions;
use crate::sink::Sink;
use crate::sql::ast::{is_values, CreateTable, Emit, Statement};
use crate::sql::Located;

/// Where a continuous query's results go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The client (stdout, the REPL, a library subscriber).
    Client,
    /// A sink table (`INSERT INTO t SELECT ..`).
    Table(String),
}

/// A planned continuous statement, ready to run.
#[derive(Debug, Clone)]
pub struct Continuous {
    /// Its plan.
    pub plan: QueryPlan,
    /// Where its rows go.
    pub target: Target,
}

/// What executing a statement produced.
#[derive(Debug, Clone)]
pub enum Output {
    /// A DDL or setting took effect; a short confirmation.
    Done(String),
    /// Text to show (SHOW TABLES, DESCRIBE, EXPLAIN).
    Text(String),
    /// A continuous query, to be run (see [`Session::run`]).
    Continuous(Continuous),
}

impl Output {
    /// The planned continuous query, if this output is one.
    ///
    /// ```
    /// use wavecrest::{Output, Session};
    /// let mut session = Session::new();
    /// let queries: Vec<_> = session
    ///     .sql("CREATE TABLE t (a BIGINT) WITH ('connector' = 'values'); SELECT a FROM t;")
    ///     .unwrap()
    ///     .into_iter()
    ///     .filter_map(Output::continuous)
    ///     .collect();
    /// assert_eq!(queries.len(), 1);
    /// ```
    pub fn continuous(self) -> Option<Continuous> {
        match self {
            Output::Continuous(c) => Some(c),
            _ => None,
        }
    }
}

/// What identifies a job for its checkpoints: each statement's target and plan, the options
/// and columns of the tables it reads and writes (offsets and part files only make sense for
/// the same inputs and outputs), and the parallelism. A checkpoint is only restored into a
/// job with the same fingerprint.
fn fingerprint(statements: &[Continuous], parallelism: usize, planner: &Planner) -> String {
    let routing = crate::runtime::exchange::routing_signature();
    let mut text = format!("parallelism {parallelism}\nrouting {routing}\n");
    let table = |name: &str| match planner.table(name) {
        Some(t) => format!("table {name} {:?} {:?}\n", t.ddl.options, t.physical_schema.fields()),
        None => format!("table {name}\n"),
    };
    for s in statements {
        text.push_str(&table(&s.plan.source));
        if let Target::Table(t) = &s.target {
            text.push_str(&table(t));
        }
        text.push_str(&format!("target {:?}\n{}", s.target, s.plan.explain(parallelism)));
    }
    text
}

/// Settings and catalog of one user session.
pub struct Session {
    planner: Planner,
    settings: BTreeMap<String, String>,
    /// The state directory when jobs checkpoint.
    state_dir: Option<std::path::PathBuf>,
    /// Statements that shaped the catalog and settings, in order (for [`PlanSpec`]).
    log: Vec<String>,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// An empty session.
    pub fn new() -> Self {
        Session { planner: Planner::new(), settings: BTreeMap::new(), state_dir: None, log: Vec::new() }
    }

    /// The planner (catalog and SQL planning).
    pub fn planner(&self) -> &Planner {
        &self.planner
    }

    /// Makes every job started from now on checkpoint into `dir` (and resume from the newest
    /// checkpoint of the same job there), every `interval` if given, else every
    /// `SET 'checkpoint.interval'` (default 10 s). File sinks of such jobs are exactly-once
    /// (see [`crate::sink::FileSink`]).
    pub fn enable_checkpoints(&mut self, dir: std::path::PathBuf, interval: Option<std::time::Duration>) {
        self.state_dir = Some(dir);
        if let Some(i) = interval {
            self.settings.insert("checkpoint.interval".into(), i.as_millis().to_string());
        }
    }

    /// Where and how often jobs checkpoint, if they do.
    pub fn checkpoint_config(&self) -> Option<CheckpointConfig> {
        let interval = self
            .settings
            .get("checkpoint.interval")
            .and_then(|ms| ms.parse::<u64>().ok())
            .map_or(DEFAULT_INTERVAL, std::time::Duration::from_millis);
        self.state_dir.clone().map(|dir| CheckpointConfig { dir, interval })
    }

    /// Workers per keyed stage: `SET 'parallelism' = 'N'`, default the number of cores.
    pub fn parallelism(&self) -> usize {
        self.settings
            .get("parallelism")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
    }

    /// Parses and executes every statement of `sql` in order; stops at the first error.
    /// Continuous statements are planned, not run: they come back as [`Output::Continuous`].
    ///
    /// ```
    /// use wavecrest::{Output, Session};
    /// let mut session = Session::new();
    /// let out = session
    ///     .sql("CREATE TABLE t (a BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values');
    ///           SELECT a FROM t WHERE a > 1;")
    ///     .unwrap();
    /// assert!(matches!(out[0], Output::Done(_)));
    /// let Output::Continuous(query) = &out[1] else { panic!() };
    /// assert!(query.plan.append_only);
    ///
    /// let err = session.sql("SELECT nope FROM t").unwrap_err();
    /// assert_eq!(err.kind, wavecrest::ErrorKind::Sql);
    /// ```
    pub fn sql(&mut self, sql: &str) -> Result<Vec<Output>> {
        crate::sql::parse_statements(sql)?.iter().map(|s| self.execute(s)).collect()
    }

    /// Executes one statement. Continuous statements are planned, not run.
    ///
    /// ```
    /// use wavecrest::sql::parse_statements;
    /// use wavecrest::{Output, Session};
    /// let mut session = Session::new();
    /// for stmt in parse_statements("CREATE TABLE t (a BIGINT) WITH ('connector' = 'values'); SHOW TABLES").unwrap() {
    ///     match session.execute(&stmt).unwrap() {
    ///         Output::Done(msg) => assert_eq!(msg, "created table t"),
    ///         Output::Text(table) => assert!(table.contains("t")),
    ///         Output::Continuous(_) => unreachable!(),
    ///     }
    /// }
    /// ```
    pub fn execute(&mut self, stmt: &Located) -> Result<Output> {
        let out = self.execute_statement(&stmt.statement, stmt.emit).map_err(|e| {
            let at = locate_unknown_name(&e, stmt).or(Some(stmt.location));
            e.with_location(at)
        })?;
        let shapes_catalog = match &stmt.statement {
            Statement::CreateTable(ct) => ct.as_query.is_none(),
            Statement::CreateView { .. } | Statement::Drop { .. } | Statement::Set { .. } => true,
            Statement::Insert { query, .. } => is_values(query),
            _ => false,
        };
        if shapes_catalog {
            self.log.push(stmt.text.clone());
        }
        Ok(out)
    }

    /// Plans `query` (one SELECT) and packages it with this session's catalog, so it can be
    /// stored or sent elsewhere and loaded with [`PlanSpec::load`].
    pub fn plan_spec(&self, query: &str) -> Result<PlanSpec> {
        let plan = self.planner.plan_sql(query)?;
        Ok(PlanSpec { statements: self.log.clone(), query: query.to_string(), explain: plan.explain(1) })
    }

    fn execute_statement(&mut self, stmt: &Statement, emit: Option<Emit>) -> Result<Output> {
        match stmt {
            Statement::CreateTable(ct) => self.create_table(ct),
            Statement::CreateView { name, query, or_replace } => {
                self.planner.create_view(name, query, *or_replace)?;
                Ok(Output::Done(format!("created view {name}")))
            }
            Statement::Query(q) => {
                let plan = self.planner.plan_query_emitting(q, emit)?;
                Ok(Output::Continuous(Continuous { plan, target: Target::Client }))
            }
            Statement::Insert { table, query } if is_values(query) => {
                let n = self.insert_values(table, query)?;
                Ok(Output::Done(format!("inserted {n} row{} into {table}", if n == 1 { "" } else { "s" })))
            }
            Statement::Insert { table, query } => {
                let plan = self.planner.plan_query_emitting(query, emit)?;
                Ok(Output::Continuous(Continuous {
                    plan: self.cast_to_table(plan, table)?,
                    target: Target::Table(table.clone()),
                }))
            }
            Statement::Explain(inner) => Ok(Output::Text(self.explain(inner, emit)?)),
            Statement::Set { key, value } => self.set(key, value),
            Statement::ShowTables => {
                let rows = self.planner.list().into_iter().map(|(n, k)| vec![n, k.to_string()]).collect();
                Ok(Output::Text(text_table(&["name", "kind"], rows)))
            }
            Statement::Describe(name) => self.describe(name),
            Statement::Drop { view, names, if_exists } => {
                for name in names {
                    self.planner.drop(name, *view, *if_exists)?;
                }
                Ok(Output::Done(format!("dropped {} {}", if *view { "view" } else { "table" }, names.join(", "))))
            }
        }
    }

    fn create_table(&mut self, ct: &CreateTable) -> Result<Output> {
        match &ct.as_query {
            None => {
                self.planner.create_table(ct)?;
                Ok(Output::Done(format!("created table {}", ct.name)))
            }
            Some(q) => {
                if !ct.columns.is_empty() || ct.watermark.is_some() || !ct.primary_key.is_empty() {
                    return Err(Error::sql(format!(
                        "CREATE TABLE {} .. AS SELECT takes its columns from the query; drop the column list",
                        ct.name
                    )));
                }
                let plan = self.planner.plan_query(q)?;
                let mut ddl = ct.clone();
                ddl.as_query = None;
                ddl.columns = plan
                    .schema
                    .fields()
                    .iter()
                    .map(|f| {
                        Ok(crate::sql::ast::ColumnDef {
                            name: f.name().clone(),
                            data_type: Some(sql_type(f.data_type()).ok_or_else(|| {
                                Error::sql(format!(
                                    "CREATE TABLE {} AS: column '{}' has type {}, which a table cannot hold yet",
                                    ct.name,
                                    f.name(),
                                    f.data_type()
                                ))
                            })?),
                            not_null: false,
                            computed: None,
                        })
                    })
                    .collect::<Result<_>>()?;
                self.planner.create_table(&ddl)?;
                Ok(Output::Continuous(Continuous {
                    plan: self.cast_to_table(plan, &ct.name)?,
                    target: Target::Table(ct.name.clone()),
                }))
            }
        }
    }

    /// Appends a projection that casts the query's columns to the sink table's (by position).
    fn cast_to_table(&self, mut plan: QueryPlan, table: &str) -> Result<QueryPlan> {
        let def = self.planner.table(table).ok_or_else(|| Error::sql(format!("no table named '{table}'")))?;
        let target = &def.physical_schema;
        if target.fields().len() != plan.schema.fields().len() {
            return Err(Error::sql(format!(
                "INSERT INTO {table}: the query has {} columns but the table has {}",
                plan.schema.fields().len(),
                target.fields().len()
            )));
        }
        for (from, to) in plan.schema.fields().iter().zip(target.fields()) {
            if !datafusion::arrow::compute::can_cast_types(from.data_type(), to.data_type()) {
                return Err(Error::sql(format!(
                    "INSERT INTO {table}: column '{}' is {} but the query gives {}",
                    to.name(),
                    to.data_type(),
                    from.data_type()
                )));
            }
        }
        let schema = Arc::new(Schema::new(
            target.fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)).collect::<Vec<_>>(),
        ));
        let exprs =
            plan.schema.fields().iter().enumerate().map(|(i, f)| Arc::new(Column::new(f.name(), i)) as _).collect();
        if let Some(stage) = plan.stages.last_mut() {
            stage.ops.push(OpSpec::Project {
                exprs,
                schema: schema.clone(),
                display: format!("cast to {table}"),
                watermark: false,
            });
        }
        plan.schema = schema;
        Ok(plan)
    }

    fn explain(&self, stmt: &Statement, emit: Option<Emit>) -> Result<String> {
        let plan = match stmt {
            Statement::Query(q) => self.planner.plan_query_emitting(q, emit)?,
            Statement::Insert { table, query } if !is_values(query) => {
                let p = self.planner.plan_query_emitting(query, emit)?;
                let mut p = self.cast_to_table(p, table)?;
                p.source = p.source.clone();
                return Ok(format!("Sink: {table}\n{}", p.explain(self.parallelism())));
            }
            _ => return Err(Error::sql("EXPLAIN works on SELECT and INSERT INTO .. SELECT")),
        };
        Ok(plan.explain(self.parallelism()))
    }

    fn set(&mut self, key: &str, value: &str) -> Result<Output> {
        let key = key.to_ascii_lowercase();
        match key.as_str() {
            "parallelism" | "parallelism.default" => {
                let n: usize = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| Error::sql(format!("'{key}' must be a whole number ≥ 1, got '{value}'")))?;
                self.settings.insert("parallelism".into(), n.to_string());
            }
            "lateness" | "late.policy" | "state.ttl" => self.planner.set_default_policy(&key, value)?,
            "checkpoint.interval" => {
                let ms = parse_duration_ms(value)
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| Error::sql(format!("'{key}' must be a positive duration such as '10s', got '{value}'")))?;
                self.settings.insert(key.clone(), ms.to_string());
            }
            "execution.runtime-mode" if value.eq_ignore_ascii_case("streaming") => {}
            "execution.runtime-mode" => {
                return Err(Error::sql("only 'execution.runtime-mode' = 'streaming' is supported"))
            }
            k if k.starts_with("sql-client.") => {}
            _ => {
                return Err(Error::sql(format!(
                    "unknown setting '{key}' (known: parallelism, parallelism.default, lateness, late.policy, state.ttl, checkpoint.interval, execution.runtime-mode)"
                )))
            }
        }
        Ok(Output::Done(format!("set {key} = {value}")))
    }

    fn describe(&self, name: &str) -> Result<Output> {
        // Views and late-row streams: every column nullable, nothing extra.
        let plain = |schema: datafusion::arrow::datatypes::SchemaRef| {
            let rows = schema
                .fields()
                .iter()
                .map(|f| vec![f.name().clone(), f.data_type().to_string(), "true".into(), String::new()])
                .collect();
            text_table(&["column", "type", "nullable", "extra"], rows)
        };
        if let Some(base) = self.planner.late_stream_base(name) {
            let schema = self.planner.schema_of(name).ok_or_else(|| Error::internal("late stream without schema"))?;
            let mut out = plain(schema);
            out.push_str(&format!("rows too late for windows over '{base}' ('late.policy' = 'side-output')\n"));
            return Ok(Output::Text(out));
        }
        if let Some(t) = self.planner.table(name) {
            let mut rows = Vec::new();
            for c in &t.ddl.columns {
                let f = t.schema.field_with_name(&c.name)?;
                let mut extra = Vec::new();
                if let Some(e) = &c.computed {
                    extra.push(format!("AS {e}"));
                }
                if let Some(w) = t.ddl.watermark.as_ref().filter(|w| w.column == c.name) {
                    extra.push(match &w.expr {
                        Some(e) => format!("WATERMARK AS {e}"),
                        None => "WATERMARK".to_string(),
                    });
                }
                if t.ddl.primary_key.contains(&c.name) {
                    extra.push("PRIMARY KEY NOT ENFORCED".into());
                }
                rows.push(vec![c.name.clone(), f.data_type().to_string(), (!c.not_null).to_string(), extra.join(" ")]);
            }
            let mut out = text_table(&["column", "type", "nullable", "extra"], rows);
            out.push_str(&format!("WITH ({})\n", options_text(&t.ddl.options)));
            return Ok(Output::Text(out));
        }
        match self.planner.schema_of(name) {
            Some(s) => Ok(Output::Text(plain(s))),
            None => Err(Error::sql(format!("no table or view named '{name}'"))),
        }
    }

    fn insert_values(&mut self, table: &str, query: &ast::Query) -> Result<usize> {
        let def = self.planner.table(table).ok_or_else(|| Error::sql(format!("no table named '{table}'")))?;
        let connector = def.connector().unwrap_or_default();
        if connector != "values" && connector != "memory" {
            return Err(Error::sql(format!(
                "INSERT INTO {table} VALUES needs a table with 'connector' = 'values' (bounded content) or 'memory' (live rows)"
            )));
        }
        let schema = def.physical_schema.clone();
        let ast::SetExpr::Values(values) = query.body.as_ref() else { return Err(Error::internal("not VALUES")) };
        let empty = DFSchema::empty();
        let props = self.planner.datafusion().state().execution_props().clone();
        let one_row = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &datafusion::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(1)),
        )?;
        let mut columns: Vec<Vec<ArrayRef>> = vec![Vec::new(); schema.fields().len()];
        for row in &values.rows {
            if row.len() != schema.fields().len() {
                return Err(Error::sql(format!(
                    "INSERT INTO {table}: a row has {} values but the table has {} columns",
                    row.len(),
                    schema.fields().len()
                )));
            }
            for (i, (e, f)) in row.iter().zip(schema.fields()).enumerate() {
                let logical = self.planner.datafusion().state().create_logical_expr(&e.to_string(), &empty)?;
                let physical = create_physical_expr(&logical, &empty, &props, &PhysicalPlanningContext::default())?;
                let a = physical.evaluate(&one_row)?.into_array(1)?;
                let a = if a.data_type() == &DataType::Null {
                    new_null_array(f.data_type(), 1)
                } else {
                    cast(&a, f.data_type()).map_err(|err| Error::sql(format!("column '{}': {err}", f.name())))?
                };
                columns[i].push(a);
            }
        }
        let n = values.rows.len();
        if n == 0 {
            return Ok(0);
        }
        let cols = columns
            .iter()
            .map(|parts| datafusion::arrow::compute::concat(&parts.iter().map(|a| a.as_ref()).collect::<Vec<_>>()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(schema, cols).map_err(|e| Error::sql(format!("INSERT INTO {table}: {e}")))?;
        if let Some(t) = self.planner.table_mut(table) {
            if connector == "memory" {
                t.memory.push(batch)?;
            } else {
                t.values.push(batch);
            }
        }
        Ok(n)
    }

    /// The live row log of a `memory` table: push rows into it while a query runs, and
    /// watermarks if the program drives event time. `None` for other tables.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wavecrest::Result<()> {
    /// use std::sync::Arc;
    /// use datafusion::arrow::array::{Int64Array, RecordBatch, TimestampMillisecondArray};
    /// use wavecrest::sink::collect::chunks_to_strings;
    /// use wavecrest::{Output, Session};
    ///
    /// let mut session = Session::new();
    /// session.sql("CREATE TABLE ev (k BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'memory')")?;
    /// let Some(Output::Continuous(query)) = session
    ///     .sql("SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE ev, DESCRIPTOR(ts), INTERVAL '10' SECOND))
    ///           GROUP BY window_start, window_end")?
    ///     .pop() else { unreachable!() };
    /// let mut running = session.start(query, 1)?;
    /// let log = session.memory_table("ev").expect("a memory table");
    /// let schema = session.planner().table("ev").unwrap().schema.clone();
    /// let batch = RecordBatch::try_new(schema, vec![
    ///     Arc::new(Int64Array::from(vec![1, 2])),
    ///     Arc::new(TimestampMillisecondArray::from(vec![1_000, 2_000])),
    /// ])?;
    /// log.push(batch)?;
    /// log.push_watermark(10_000)?; // [0 s, 10 s) closes
    /// let chunk = running.subscriptions[0].next_chunk().await.expect("the window fired");
    /// assert_eq!(chunks_to_strings(&[chunk])?, vec![vec!["+I", "1970-01-01 00:00:00.000", "2"]]);
    /// running.cancel();
    /// running.wait().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn memory_table(&self, name: &str) -> Option<Arc<crate::connectors::memory::MemoryLog>> {
        let t = self.planner.table(name)?;
        (t.connector().as_deref() == Some("memory")).then(|| Arc::clone(&t.memory))
    }

    /// Opens the sources and sinks of continuous statements that will run together as one
    /// job. `client_sink` makes the sink for each [`Target::Client`] statement.
    pub fn prepare(
        &self,
        statements: Vec<Continuous>,
        mut client_sink: impl FnMut(&QueryPlan) -> Result<Box<dyn Sink>>,
        allow_stdin: bool,
    ) -> Result<PreparedJob> {
        let metrics = Arc::new(JobMetrics::default());
        let checkpoints = self.checkpoint_config().map(|config| JobCheckpoints {
            config,
            fingerprint: fingerprint(&statements, self.parallelism(), &self.planner),
        });
        let tables: BTreeSet<String> = statements.iter().map(|s| s.plan.source.clone()).collect();
        let mut sources = BTreeMap::new();
        let mut side_outputs = SideOutputs::new();
        for name in tables {
            let def = self.planner.table(&name).ok_or_else(|| Error::sql(format!("no table named '{name}'")))?;
            if self.planner.late_stream_base(&name).is_some() {
                let (writer, source) = side_stream(def.schema.clone());
                side_outputs.insert(name.clone(), writer);
                let plan = self.planner.source_plan(&name)?;
                sources.insert(
                    name.clone(),
                    JobSource { plan, partitions: vec![Box::new(source)], idle_timeout_ms: None },
                );
                continue;
            }
            let counters = Arc::new(SourceCounters::default());
            let partitions = open_source(def, Arc::clone(&counters), allow_stdin)?;
            if let Ok(mut s) = metrics.sources.lock() {
                s.push((name.clone(), counters));
            }
            let idle_timeout_ms = idle_timeout_ms(def)?;
            let plan = self.planner.source_plan(&name)?;
            sources.insert(name.clone(), JobSource { plan, partitions, idle_timeout_ms });
        }
        let mut queries = Vec::new();
        for s in statements {
            let sink = match &s.target {
                Target::Client => client_sink(&s.plan)?,
                Target::Table(t) => {
                    let def = self.planner.table(t).ok_or_else(|| Error::sql(format!("no table named '{t}'")))?;
                    let options = Options::new(def.ddl.options.clone());
                    options.mark_used(&["connector"]);
                    let connector =
                        def.connector().ok_or_else(|| Error::sql(format!("table '{t}' has no 'connector' option")))?;
                    let exactly_once = checkpoints.is_some();
                    open_sink_with(&connector, &options, s.plan.schema.clone(), s.plan.append_only, exactly_once)?
                }
            };
            queries.push(JobQuery { plan: s.plan, sink });
        }
        Ok(PreparedJob { sources, queries, parallelism: self.parallelism(), side_outputs, metrics, checkpoints })
    }

    /// Runs continuous statements together as one job until their inputs end or `cancel`
    /// is set. `client_sink` makes the sink for each [`Target::Client`] statement. Returns
    /// the job's counters.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wavecrest::Result<()> {
    /// use std::sync::atomic::Ordering;
    /// use wavecrest::runtime::Cancel;
    /// use wavecrest::sink::collect::CollectSink;
    /// use wavecrest::{Output, Session};
    ///
    /// let mut session = Session::new();
    /// let statements: Vec<_> = session
    ///     .sql("CREATE TABLE t (k BIGINT, v BIGINT) WITH ('connector' = 'values');
    ///           INSERT INTO t VALUES (1, 10), (1, 5), (2, 7);
    ///           SELECT k, SUM(v) FROM t GROUP BY k;")?
    ///     .into_iter()
    ///     .filter_map(Output::continuous)
    ///     .collect();
    /// let sink = CollectSink::new();
    /// let rows = sink.clone();
    /// let metrics = session.run(statements, move |_| Ok(Box::new(rows.clone()) as _), false, Cancel::new()).await?;
    /// // An updating aggregate: +I for a new key, -U/+U when it changes.
    /// assert_eq!(sink.rows()?, vec![
    ///     vec!["+I", "1", "10"], vec!["-U", "1", "10"], vec!["+U", "1", "15"], vec!["+I", "2", "7"],
    /// ]);
    /// assert_eq!(metrics.rows_out.load(Ordering::Relaxed), 4);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run(
        &self,
        statements: Vec<Continuous>,
        client_sink: impl FnMut(&QueryPlan) -> Result<Box<dyn Sink>>,
        allow_stdin: bool,
        cancel: Cancel,
    ) -> Result<Arc<JobMetrics>> {
        self.prepare(statements, client_sink, allow_stdin)?.run(cancel).await
    }

    /// Registers a scalar function (DataFusion `ScalarUDF`) for every later statement:
    /// usable in `SELECT`, `WHERE`, keys and window aggregates.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use datafusion::arrow::datatypes::DataType;
    /// use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
    /// use wavecrest::Session;
    ///
    /// let double = create_udf("double", vec![DataType::Int64], DataType::Int64, Volatility::Immutable,
    ///     Arc::new(|args: &[ColumnarValue]| {
    ///         let two = ColumnarValue::Scalar(datafusion::common::ScalarValue::Int64(Some(2)));
    ///         datafusion::logical_expr::ColumnarValue::values_to_arrays(&[args[0].clone(), two]).and_then(|a| {
    ///             Ok(ColumnarValue::Array(datafusion::arrow::compute::kernels::numeric::mul(&a[0], &a[1])?))
    ///         })
    ///     }));
    /// let mut session = Session::new();
    /// session.register_udf(double);
    /// session.sql("CREATE TABLE t (a BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values')").unwrap();
    /// let plan = session.planner().plan_sql(
    ///     "SELECT window_start, SUM(double(a)) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' SECOND))
    ///      GROUP BY window_start, window_end").unwrap();
    /// assert!(plan.explain(1).contains("double(t.a)"));
    /// ```
    pub fn register_udf(&mut self, udf: datafusion::logical_expr::ScalarUDF) {
        self.planner.datafusion().register_udf(udf);
    }

    /// Registers an aggregate function (DataFusion `AggregateUDF`) for every later
    /// statement: usable in window aggregates and `GROUP BY`. Over an updating input it
    /// must be one that can retract (see [`crate::functions::check_aggregate`]).
    ///
    /// ```
    /// use datafusion::functions_aggregate::sum::sum_udaf;
    /// use wavecrest::Session;
    ///
    /// let mut session = Session::new();
    /// // Any AggregateUDF; here DataFusion's SUM under another name.
    /// session.register_udaf(sum_udaf().as_ref().clone().with_aliases(["total"]));
    /// session.sql("CREATE TABLE t (a BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values')").unwrap();
    /// let plan = session.planner().plan_sql(
    ///     "SELECT window_start, total(a) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' SECOND))
    ///      GROUP BY window_start, window_end").unwrap();
    /// assert_eq!(plan.operators(), vec!["WindowAggregate", "Project"]);
    /// ```
    pub fn register_udaf(&mut self, udaf: datafusion::logical_expr::AggregateUDF) {
        self.planner.datafusion().register_udaf(udaf);
    }

    /// Starts one continuous query in the background (on the current tokio runtime) with
    /// `subscribers` independent subscriptions to its results.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wavecrest::Result<()> {
    /// use futures::StreamExt;
    /// use wavecrest::{Output, Session};
    ///
    /// let mut session = Session::new();
    /// let mut out = session.sql(
    ///     "CREATE TABLE t (a BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'values');
    ///      INSERT INTO t VALUES (1, TIMESTAMP '2024-01-01 00:00:00'), (2, TIMESTAMP '2024-01-01 00:00:01');
    ///      SELECT a * 10 AS b FROM t;",
    /// )?;
    /// let Some(Output::Continuous(query)) = out.pop() else { unreachable!() };
    /// let mut running = session.start(query, 1)?;
    /// let chunks: Vec<_> = running.subscriptions.pop().unwrap().collect().await;
    /// assert_eq!(chunks.iter().map(|c| c.num_rows()).sum::<usize>(), 2);
    /// running.wait().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn start(&self, query: Continuous, subscribers: usize) -> Result<RunningQuery> {
        let (sink, subs) = subscriptions(subscribers);
        let mut sink = Some(sink);
        let job = self.prepare(
            vec![query],
            |_| sink.take().map(|s| Box::new(s) as Box<dyn Sink>).ok_or_else(|| Error::internal("one client query")),
            false,
        )?;
        let cancel = Cancel::new();
        let metrics = Arc::clone(&job.metrics);
        let handle = tokio::spawn(job.run(cancel.clone()));
        Ok(RunningQuery { subscriptions: subs, cancel, metrics, handle })
    }
}

/// The Flink SQL type name of an Arrow type (for `CREATE TABLE .. AS SELECT`).
fn sql_type(t: &DataType) -> Option<ast::DataType> {
    use ast::DataType as S;
    Some(match t {
        DataType::Int8 => S::TinyInt(None),
        DataType::Int16 | DataType::UInt8 => S::SmallInt(None),
        DataType::Int32 | DataType::UInt16 => S::Int(None),
        DataType::Int64 | DataType::UInt32 => S::BigInt(None),
        DataType::UInt64 => S::Decimal(ast::ExactNumberInfo::PrecisionAndScale(20, 0)),
        DataType::Float16 => S::Float(ast::ExactNumberInfo::None),
        DataType::Float32 => S::Float(ast::ExactNumberInfo::None),
        DataType::Float64 => S::Double(ast::ExactNumberInfo::None),
        DataType::Boolean => S::Boolean,
        DataType::Date32 => S::Date,
        DataType::Decimal128(p, s) => S::Decimal(ast::ExactNumberInfo::PrecisionAndScale(*p as u64, *s as i64)),
        DataType::Timestamp(unit, tz) => {
            let p = match unit {
                datafusion::arrow::datatypes::TimeUnit::Second
                | datafusion::arrow::datatypes::TimeUnit::Millisecond => 3,
                datafusion::arrow::datatypes::TimeUnit::Microsecond => 6,
                datafusion::arrow::datatypes::TimeUnit::Nanosecond => 9,
            };
            S::Timestamp(Some(p), if tz.is_some() { ast::TimezoneInfo::WithTimeZone } else { ast::TimezoneInfo::None })
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => S::Bytea,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => S::Varchar(None),
        _ => return None,
    })
}

/// DataFusion reports an unknown column without a position: find the name in the
/// statement's text (as a whole word), so the caret points at it.
fn locate_unknown_name(e: &Error, stmt: &Located) -> Option<crate::error::Location> {
    if e.location.is_some() {
        return None;
    }
    let name = e.message.strip_prefix("No field named ")?;
    let name = name.split(['.', '\n']).next()?.trim_matches('"');
    let text = &stmt.text;
    let bytes = text.as_bytes();
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let offset = text
        .match_indices(name)
        .map(|(i, _)| i)
        .find(|&i| (i == 0 || !is_word(bytes[i - 1])) && bytes.get(i + name.len()).is_none_or(|c| !is_word(*c)))?;
    let before = &text[..offset];
    let line = before.matches('\n').count() as u64;
    let column = before.rsplit('\n').next().map(|l| l.chars().count() as u64).unwrap_or(0);
    Some(if line == 0 {
        crate::error::Location { line: stmt.location.line, column: stmt.location.column + column }
    } else {
        crate::error::Location { line: stmt.location.line + line, column: column + 1 }
    })
}

/// A small aligned text table.
pub fn text_table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let parts: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("{}\n", parts.join(" | ").trim_end())
    };
    let mut out = line(header.to_vec());
    out.push_str(&format!("{}\n", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-+-")));
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}
