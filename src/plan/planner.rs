//! The planner: a catalog of tables and views plus DataFusion's SQL planner configured for
//! streaming (window TVFs). SQL query → checked [`QueryPlan`], without any runtime.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::view::ViewTable;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::DFSchema;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan};
use datafusion::optimizer::analyzer::type_coercion::TypeCoercionRewriter;
use datafusion::physical_expr::{create_physical_expr, PhysicalExpr};
use datafusion::sql::sqlparser::ast::{self, ExprWithAlias};

use super::catalog::{mentions_proctime, physical_schema, StreamTable, TableDef};
use super::lower::lower;
use super::pipeline::QueryPlan;
use super::policy::TablePolicy;
use super::window_tvf::WindowTvfPlanner;
use crate::error::{Error, Result};
use crate::exec::delayed_column::DelayedColumn;
use crate::sql::ast::{CreateTable, Emit};

/// How a source table's rows become the table's full schema and its watermark.
#[derive(Debug, Clone)]
pub struct SourcePlan {
    /// The table.
    pub table: TableDef,
    /// Expressions over the physical schema producing the full schema, when the table has
    /// computed columns.
    pub computed: Option<Vec<Arc<dyn PhysicalExpr>>>,
    /// The watermark expression over the full schema (timestamps), if any.
    pub watermark: Option<Arc<dyn PhysicalExpr>>,
}

/// Suffix of the stream of a table's late rows.
pub const LATE_SUFFIX: &str = "__late";
/// The `connector` option value marking a late-row stream (never opened as a connector).
const LATE_CONNECTOR: &str = "late-rows";

/// SQL → streaming plans. Holds tables and views; never runs anything.
pub struct Planner {
    ctx: SessionContext,
    /// `SET 'lateness'` etc.: policies for tables that do not set their own.
    default_policy: TablePolicy,
    tables: BTreeMap<String, TableDef>,
    views: BTreeMap<String, (ast::Query, SchemaRef)>,
}

impl Default for Planner {
    fn default() -> Self {
        Self::new()
    }
}

impl Planner {
    /// An empty catalog. Tables are declared from DDL; planning needs no runtime.
    ///
    /// ```
    /// use wavecrest::plan::Planner;
    /// use wavecrest::sql::{parse_statements, Statement};
    ///
    /// let mut planner = Planner::new();
    /// for stmt in parse_statements(
    ///     "CREATE TABLE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts)
    ///      WITH ('connector' = 'values', 'late.policy' = 'side-output')",
    /// ).unwrap() {
    ///     let Statement::CreateTable(ddl) = stmt.statement else { unreachable!() };
    ///     planner.create_table(&ddl).unwrap();
    /// }
    /// assert_eq!(planner.list(), vec![("bids".to_string(), "table")]);
    /// assert_eq!(planner.table("bids").unwrap().time_attribute.as_deref(), Some("ts"));
    /// assert_eq!(planner.policy("bids").late_policy, wavecrest::plan::policy::LatePolicy::SideOutput);
    /// // Typed errors with positions.
    /// let err = planner.plan_sql("SELECT nope FROM bids").unwrap_err();
    /// assert_eq!(err.kind, wavecrest::ErrorKind::Sql);
    /// assert!(err.to_string().contains("nope"));
    /// ```
    pub fn new() -> Self {
        let config = SessionConfig::new().with_information_schema(false);
        let ctx = SessionContext::new_with_config(config);
        ctx.register_relation_planner(Arc::new(WindowTvfPlanner)).expect("registering a relation planner cannot fail");
        crate::functions::register(&ctx);
        Planner { ctx, default_policy: TablePolicy::default(), tables: BTreeMap::new(), views: BTreeMap::new() }
    }

    /// The DataFusion context (to register UDFs, for instance).
    pub fn datafusion(&self) -> &SessionContext {
        &self.ctx
    }

    /// A declared table.
    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.get(name)
    }

    /// A declared table, mutably (for `INSERT INTO t VALUES`).
    pub fn table_mut(&mut self, name: &str) -> Option<&mut TableDef> {
        self.tables.get_mut(name)
    }

    /// Names of tables and views, sorted, with their kind.
    pub fn list(&self) -> Vec<(String, &'static str)> {
        let mut out: Vec<_> =
            self.tables.keys().filter(|t| self.late_stream_base(t).is_none()).map(|t| (t.clone(), "table")).collect();
        out.extend(self.views.keys().map(|v| (v.clone(), "view")));
        out.sort();
        out
    }

    /// Schema of a table or view.
    pub fn schema_of(&self, name: &str) -> Option<SchemaRef> {
        self.tables.get(name).map(|t| t.schema.clone()).or_else(|| self.views.get(name).map(|v| v.1.clone()))
    }

    /// Declares a table from its DDL (without `AS query`).
    pub fn create_table(&mut self, ddl: &CreateTable) -> Result<()> {
        if ddl.name.ends_with(LATE_SUFFIX) {
            return Err(Error::sql(format!(
                "table names ending in '{LATE_SUFFIX}' are reserved for the late rows of a table"
            )));
        }
        if self.tables.contains_key(&ddl.name) || self.views.contains_key(&ddl.name) {
            if ddl.if_not_exists {
                return Ok(());
            }
            return Err(Error::sql(format!("table or view '{}' already exists", ddl.name)));
        }
        TablePolicy::default().with_options(&ddl.options)?;
        let physical = physical_schema(ddl)?;
        let physical_df = DFSchema::try_from(physical.as_ref().clone())?;
        let mut fields = Vec::new();
        for c in &ddl.columns {
            match &c.computed {
                None => fields.push(physical.field_with_name(&c.name)?.clone()),
                Some(e) => {
                    if mentions_proctime(e) {
                        return Err(Error::sql(format!(
                            "column '{}': processing time (PROCTIME()) is not supported yet; use an event-time column with a WATERMARK",
                            c.name
                        )));
                    }
                    let expr = self.logical_expr(e, &physical_df)?;
                    fields.push(Field::new(&c.name, expr.get_type(&physical_df)?, true));
                }
            }
        }
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let time_attribute = match &ddl.watermark {
            None => None,
            Some(w) => {
                let f = schema.field_with_name(&w.column).map_err(|_| {
                    Error::sql(format!("WATERMARK FOR {}: no column '{}' in table '{}'", w.column, w.column, ddl.name))
                })?;
                if !matches!(f.data_type(), DataType::Timestamp(_, _)) {
                    return Err(Error::sql(format!(
                        "WATERMARK FOR {}: the column must be a TIMESTAMP, not {}",
                        w.column,
                        f.data_type()
                    )));
                }
                Some(w.column.clone())
            }
        };
        for k in &ddl.primary_key {
            if schema.field_with_name(k).is_err() {
                return Err(Error::sql(format!("PRIMARY KEY column '{k}' is not a column of '{}'", ddl.name)));
            }
        }
        let def = TableDef {
            name: ddl.name.clone(),
            ddl: ddl.clone(),
            physical_schema: physical,
            schema: schema.clone(),
            time_attribute: time_attribute.clone(),
            values: vec![],
            memory: Arc::default(),
        };
        // Validate the watermark expression now, so errors come with the DDL.
        self.source_plan_of(&def)?;
        let provider = StreamTable { name: ddl.name.clone(), schema: schema.clone(), time_attribute };
        self.ctx.register_table(ddl.name.as_str(), Arc::new(provider))?;
        self.tables.insert(ddl.name.clone(), def);
        self.create_late_stream(&ddl.name, &schema)
    }

    /// Declares `<table>__late`: the table's columns plus `__operator` and `__reason`, fed
    /// by window operators when the table's `'late.policy'` is `side-output`.
    fn create_late_stream(&mut self, table: &str, schema: &SchemaRef) -> Result<()> {
        let name = format!("{table}{LATE_SUFFIX}");
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        fields.push(Field::new("__operator", DataType::Utf8, true));
        fields.push(Field::new("__reason", DataType::Utf8, true));
        let schema = Arc::new(Schema::new(fields));
        let ddl = CreateTable {
            name: name.clone(),
            columns: vec![],
            watermark: None,
            primary_key: vec![],
            options: [("connector".to_string(), LATE_CONNECTOR.to_string())].into(),
            as_query: None,
            if_not_exists: false,
        };
        let def = TableDef {
            name: name.clone(),
            ddl,
            physical_schema: schema.clone(),
            schema: schema.clone(),
            time_attribute: None,
            values: vec![],
            memory: Arc::default(),
        };
        let provider = StreamTable { name: name.clone(), schema, time_attribute: None };
        self.ctx.register_table(name.as_str(), Arc::new(provider))?;
        self.tables.insert(name, def);
        Ok(())
    }

    /// If `name` is the late-row stream of a table, that table.
    pub fn late_stream_base<'a>(&self, name: &'a str) -> Option<&'a str> {
        let def = self.tables.get(name)?;
        (def.connector().as_deref() == Some(LATE_CONNECTOR)).then(|| name.strip_suffix(LATE_SUFFIX)).flatten()
    }

    /// Declares a view. Views are inlined into the queries that read them.
    pub fn create_view(&mut self, name: &str, query: &ast::Query, or_replace: bool) -> Result<()> {
        if self.tables.contains_key(name) {
            return Err(Error::sql(format!("'{name}' is a table")));
        }
        if self.views.contains_key(name) && !or_replace {
            return Err(Error::sql(format!("view '{name}' already exists (use CREATE OR REPLACE VIEW)")));
        }
        let plan = self.logical_plan(query)?;
        // Check that the view is a valid streaming query now rather than when used.
        lower(&plan, self.ctx.state().execution_props(), &|t| self.policy(t), None)?;
        let schema = super::lower::nullable(plan.schema());
        self.ctx.deregister_table(name)?;
        self.ctx.register_table(name, Arc::new(ViewTable::new(plan, Some(query.to_string()))))?;
        self.views.insert(name.to_string(), (query.clone(), schema));
        Ok(())
    }

    /// Drops a table or view.
    pub fn drop(&mut self, name: &str, view: bool, if_exists: bool) -> Result<()> {
        if !view && self.late_stream_base(name).is_some() {
            return Err(Error::sql(format!("'{name}' holds the late rows of a table; drop that table instead")));
        }
        let removed = if view { self.views.remove(name).is_some() } else { self.tables.remove(name).is_some() };
        if removed && !view {
            let late = format!("{name}{LATE_SUFFIX}");
            self.tables.remove(&late);
            self.ctx.deregister_table(late.as_str())?;
        }
        if !removed {
            if if_exists {
                return Ok(());
            }
            let what = if view { "view" } else { "table" };
            return Err(Error::sql(format!("no {what} named '{name}'")));
        }
        self.ctx.deregister_table(name)?;
        Ok(())
    }

    /// Plans one continuous query given as SQL text, without running anything.
    ///
    /// ```
    /// use wavecrest::plan::Planner;
    /// use wavecrest::Session;
    ///
    /// let mut session = Session::new();
    /// session.sql("CREATE TABLE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3),
    ///                WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH ('connector' = 'values')").unwrap();
    /// let plan = session.planner().plan_sql(
    ///     "SELECT window_start, window_end, auction, MAX(price) AS top
    ///      FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
    ///      GROUP BY window_start, window_end, auction",
    /// ).unwrap();
    /// assert_eq!(plan.schema.field(3).name(), "top");
    /// assert!(plan.explain(1).contains("WindowAggregate: TUMBLE(size=10s)"));
    /// ```
    pub fn plan_sql(&self, sql: &str) -> Result<QueryPlan> {
        let mut statements = crate::sql::parse_statements(sql)?;
        match (statements.pop(), statements.is_empty()) {
            (Some(crate::sql::Located { statement: crate::sql::Statement::Query(q), location, emit, .. }), true) => {
                self.plan_query_emitting(&q, emit).map_err(|e| e.with_location(Some(location)))
            }
            _ => Err(Error::sql("plan_sql takes exactly one SELECT statement")),
        }
    }

    /// Plans a continuous query.
    pub fn plan_query(&self, query: &ast::Query) -> Result<QueryPlan> {
        self.plan_query_emitting(query, None)
    }

    /// Plans a continuous query with its `EMIT` clause, if any.
    pub fn plan_query_emitting(&self, query: &ast::Query, emit: Option<Emit>) -> Result<QueryPlan> {
        let plan = self.logical_plan(query)?;
        lower(&plan, self.ctx.state().execution_props(), &|t| self.policy(t), emit)
    }

    /// Sets a policy option (`lateness`, `late.policy`, `state.ttl`) for tables that do not
    /// set their own; `key` is lower-case.
    pub fn set_default_policy(&mut self, key: &str, value: &str) -> Result<()> {
        self.default_policy.set(key, value)
    }

    /// The policies for `table`: its own options over the session defaults (`SET`).
    /// The late-row stream `<t>__late` has the policies of `t`.
    pub fn policy(&self, table: &str) -> TablePolicy {
        let table = self.late_stream_base(table).unwrap_or(table);
        match self.tables.get(table) {
            // Options were checked when the table was created.
            Some(t) => self.default_policy.with_options(&t.ddl.options).unwrap_or(self.default_policy),
            None => self.default_policy,
        }
    }

    /// The allowed lateness of windows over `table` (ms): its `'lateness'` option, else the
    /// session default (`SET 'lateness'`), else 0.
    pub fn lateness_ms(&self, table: &str) -> i64 {
        self.policy(table).lateness_ms
    }

    /// DataFusion's analyzed logical plan of a query (names resolved, types coerced).
    pub fn logical_plan(&self, query: &ast::Query) -> Result<LogicalPlan> {
        if mentions_proctime_query(query) {
            return Err(Error::sql(
                "processing time (PROCTIME()) is not supported yet; use an event-time column with a WATERMARK",
            ));
        }
        let state = self.ctx.state();
        let mut query = query.clone();
        crate::sql::group_window::rewrite_group_windows(&mut query).map_err(Error::sql)?;
        crate::sql::tvf_args::expose_tvf_tables(&mut query);
        let stmt = datafusion::sql::parser::Statement::Statement(Box::new(ast::Statement::Query(Box::new(query))));
        let plan = futures::executor::block_on(state.statement_to_plan(stmt))?;
        let analyzed = state.analyzer().execute_and_check(plan, state.config_options(), |_, _| {})?;
        Ok(analyzed)
    }

    /// How to read a table: computed columns and watermark as physical expressions.
    pub fn source_plan(&self, name: &str) -> Result<SourcePlan> {
        let def = self.tables.get(name).ok_or_else(|| Error::sql(format!("no table named '{name}'")))?;
        self.source_plan_of(def)
    }

    fn source_plan_of(&self, def: &TableDef) -> Result<SourcePlan> {
        let props = self.ctx.state().execution_props().clone();
        let physical_df = DFSchema::try_from(def.physical_schema.as_ref().clone())?;
        let computed = if def.ddl.columns.iter().any(|c| c.computed.is_some()) {
            let mut exprs = Vec::new();
            for c in &def.ddl.columns {
                let e = match &c.computed {
                    None => Expr::Column(datafusion::common::Column::from_name(&c.name)),
                    Some(e) => self.logical_expr(e, &physical_df)?,
                };
                exprs.push(create_physical_expr(&e, &physical_df, &props, &PhysicalPlanningContext::default())?);
            }
            Some(exprs)
        } else {
            None
        };
        let full_df = DFSchema::try_from(def.schema.as_ref().clone())?;
        let watermark = match &def.ddl.watermark {
            None => None,
            Some(w) => {
                let e = match &w.expr {
                    None => Expr::Column(datafusion::common::Column::from_name(&w.column)),
                    Some(e) => self.logical_expr(e, &full_df)?,
                };
                if !matches!(e.get_type(&full_df)?, DataType::Timestamp(_, _)) {
                    return Err(Error::sql(format!(
                        "WATERMARK FOR {}: the expression must give a TIMESTAMP",
                        w.column
                    )));
                }
                match delayed_column(&e, &full_df) {
                    Some(fast) => Some(Arc::new(fast) as Arc<dyn PhysicalExpr>),
                    None => Some(create_physical_expr(&e, &full_df, &props, &PhysicalPlanningContext::default())?),
                }
            }
        };
        Ok(SourcePlan { table: def.clone(), computed, watermark })
    }

    fn logical_expr(&self, e: &ast::Expr, schema: &DFSchema) -> Result<Expr> {
        let state = self.ctx.state();
        let expr = state.create_logical_expr_from_sql_expr(ExprWithAlias { expr: e.clone(), alias: None }, schema)?;
        let mut rewriter = TypeCoercionRewriter::new(schema);
        Ok(expr.rewrite(&mut rewriter)?.data)
    }
}

/// `col` or `col - <constant interval>`: the watermark forms computed in integer ms.
fn delayed_column(e: &Expr, schema: &DFSchema) -> Option<DelayedColumn> {
    use datafusion::logical_expr::{BinaryExpr, Operator};
    let (column, delay) = match e {
        Expr::Column(c) => (c, 0),
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Minus, right }) => match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), Expr::Literal(v, _)) => (c, super::window_tvf::scalar_interval_ms(v)?),
            _ => return None,
        },
        _ => return None,
    };
    let index = schema.index_of_column(column).ok()?;
    Some(DelayedColumn::new(&column.name, index, delay))
}

fn mentions_proctime_query(q: &ast::Query) -> bool {
    q.to_string().to_ascii_uppercase().contains("PROCTIME(")
}
