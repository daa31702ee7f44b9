//! Wavecrest's statements: what sqlparser's AST cannot express (watermarks, computed
//! columns, Flink `SET`) plus thin wrappers around sqlparser queries.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::ast;

use crate::error::Location;

/// A statement together with where it starts in the SQL text.
#[derive(Debug, Clone)]
pub struct Located {
    /// The statement.
    pub statement: Statement,
    /// Where its first token is.
    pub location: Location,
    /// The statement's own text (for error carets and history).
    pub text: String,
    /// The statement's `EMIT` clause, if any.
    pub emit: Option<Emit>,
}

/// One statement of the dialect.
#[derive(Debug, Clone)]
pub enum Statement {
    /// `CREATE TABLE` (a source or sink declaration, or `CREATE TABLE .. AS SELECT`).
    CreateTable(Box<CreateTable>),
    /// `CREATE [OR REPLACE] VIEW name AS query`.
    CreateView {
        /// View name.
        name: String,
        /// Its query.
        query: Box<ast::Query>,
        /// Whether `OR REPLACE` was given.
        or_replace: bool,
    },
    /// A continuous `SELECT` whose results go to the client.
    Query(Box<ast::Query>),
    /// `INSERT INTO table <query>` (`VALUES` or `SELECT`).
    Insert {
        /// Target table.
        table: String,
        /// Rows or query to insert.
        query: Box<ast::Query>,
    },
    /// `EXPLAIN <statement>`.
    Explain(Box<Statement>),
    /// `SET 'key' = 'value'` or `SET key = value`.
    Set {
        /// Setting name.
        key: String,
        /// Setting value (quotes removed).
        value: String,
    },
    /// `SHOW TABLES`.
    ShowTables,
    /// `DESCRIBE name` / `DESC name`.
    Describe(String),
    /// `DROP TABLE|VIEW [IF EXISTS] name`.
    Drop {
        /// Whether it was `DROP VIEW`.
        view: bool,
        /// The names, dropped in order.
        names: Vec<String>,
        /// Whether `IF EXISTS` was given.
        if_exists: bool,
    },
}

/// `CREATE TABLE` as Flink writes it.
#[derive(Debug, Clone)]
pub struct CreateTable {
    /// Table name.
    pub name: String,
    /// Declared columns, physical and computed, in order.
    pub columns: Vec<ColumnDef>,
    /// `WATERMARK FOR col [AS expr]`.
    pub watermark: Option<WatermarkDef>,
    /// `PRIMARY KEY (..) NOT ENFORCED` columns (recorded, not enforced).
    pub primary_key: Vec<String>,
    /// `WITH ('k' = 'v', ..)`.
    pub options: BTreeMap<String, String>,
    /// `AS query` for `CREATE TABLE .. AS SELECT`.
    pub as_query: Option<Box<ast::Query>>,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
}

/// A column of `CREATE TABLE`.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    /// Column name.
    pub name: String,
    /// Declared type (`None` for a computed column: its type is the expression's).
    pub data_type: Option<ast::DataType>,
    /// `NOT NULL` was given.
    pub not_null: bool,
    /// `name AS expr`: a computed column.
    pub computed: Option<ast::Expr>,
}

/// `WATERMARK FOR column [AS expr]`.
#[derive(Debug, Clone)]
pub struct WatermarkDef {
    /// The event-time column.
    pub column: String,
    /// The watermark expression; `None` means the column itself (zero delay).
    pub expr: Option<ast::Expr>,
}

/// Whether a query is a plain `VALUES` list.
pub fn is_values(query: &ast::Query) -> bool {
    matches!(query.body.as_ref(), ast::SetExpr::Values(_))
}

/// When a window aggregate emits results (`EMIT ..` after `GROUP BY`; DESIGN's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitMode {
    /// `EMIT ON WINDOW CLOSE` (the default): one final row per window and key.
    OnWindowClose,
    /// `EMIT ON UPDATE`: `+I` at a window's first row, then `-U`/`+U` per change.
    OnUpdate,
    /// `EMIT EVERY INTERVAL ..` (ms): changes at each tick `window_start + k * period`.
    Every(i64),
}

/// A parsed `EMIT` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Emit {
    /// When results are emitted.
    pub mode: EmitMode,
    /// `WITH DELAY ..` (ms): windows close this much later than their end.
    pub delay_ms: i64,
}
