//! Tab completion: SQL keywords, table and view names, their columns, connector option keys,
//! meta-commands and file names after `\i` / `\o`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use wavecrest::Session;

/// Keywords and common functions of the dialect.
const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "HAVING",
    "ORDER",
    "LIMIT",
    "AS",
    "AND",
    "OR",
    "NOT",
    "NULL",
    "IS",
    "IN",
    "BETWEEN",
    "LIKE",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DISTINCT",
    "CREATE",
    "TABLE",
    "VIEW",
    "REPLACE",
    "INSERT",
    "INTO",
    "VALUES",
    "SET",
    "SHOW",
    "TABLES",
    "DESCRIBE",
    "EXPLAIN",
    "DROP",
    "IF",
    "EXISTS",
    "WITH",
    "WATERMARK",
    "FOR",
    "INTERVAL",
    "SECOND",
    "MINUTE",
    "HOUR",
    "DAY",
    "TIMESTAMP",
    "DESCRIPTOR",
    "TUMBLE",
    "HOP",
    "CUMULATE",
    "PRIMARY",
    "KEY",
    "ENFORCED",
    "BIGINT",
    "INT",
    "INTEGER",
    "SMALLINT",
    "TINYINT",
    "DOUBLE",
    "FLOAT",
    "BOOLEAN",
    "VARCHAR",
    "STRING",
    "DECIMAL",
    "DATE",
    "COUNT",
    "SUM",
    "MIN",
    "MAX",
    "AVG",
    "CAST",
    "TRUE",
    "FALSE",
    "TUMBLE_START",
    "TUMBLE_END",
    "HOP_START",
    "HOP_END",
    "PROCTIME",
];

/// Option keys of `WITH (..)`.
const OPTION_KEYS: &[&str] = &[
    "connector",
    "path",
    "format",
    "follow",
    "on-error",
    "dead-letter.path",
    "scan.watermark.idle-timeout",
    "csv.header",
    "csv.field-delimiter",
    "csv.quote-character",
    "csv.disable-quote-character",
    "csv.allow-comments",
    "csv.null-literal",
    "csv.ignore-parse-errors",
    "json.fail-on-missing-field",
    "json.ignore-parse-errors",
    "json.timestamp-format.standard",
    "nexmark.table",
    "nexmark.events",
    "nexmark.rate",
    "nexmark.first-event-rate",
    "nexmark.seed",
    "nexmark.late-fraction",
    "nexmark.out-of-orderness",
    "rows-per-second",
    "number-of-rows",
    "sink.changelog",
];

/// Values of `'connector'`.
const CONNECTORS: &[&str] =
    &["filesystem", "file", "stdin", "nexmark", "datagen", "values", "memory", "print", "stdout", "blackhole"];

/// Meta-commands.
pub const META: &[&str] =
    &["\\?", "\\d", "\\timing", "\\format", "\\i", "\\o", "\\q", "\\bg", "\\jobs", "\\fg", "\\kill"];

/// Table and view names with their columns, refreshed after every statement.
#[derive(Debug, Default)]
pub struct Names {
    /// Name → columns.
    pub tables: BTreeMap<String, Vec<String>>,
}

impl Names {
    /// The names of `session`'s catalog.
    pub fn of(session: &Session) -> Self {
        let planner = session.planner();
        let tables = planner
            .list()
            .into_iter()
            .map(|(name, _)| {
                let columns = planner
                    .schema_of(&name)
                    .map(|s| s.fields().iter().map(|f| f.name().clone()).collect())
                    .unwrap_or_default();
                (name, columns)
            })
            .collect();
        Names { tables }
    }
}

/// The rustyline helper of the shell.
pub struct SqlHelper {
    /// The catalog's names.
    pub names: Arc<Mutex<Names>>,
    /// Lines of the statement typed so far (for columns of tables named on earlier lines).
    pub pending: Arc<Mutex<String>>,
    files: FilenameCompleter,
}

impl SqlHelper {
    /// A helper completing from `names`.
    pub fn new(names: Arc<Mutex<Names>>) -> Self {
        SqlHelper { names, pending: Arc::default(), files: FilenameCompleter::new() }
    }

    /// Candidates for the word `word` ending at the cursor, given the text before it.
    pub fn candidates(&self, before: &str, word: &str) -> Vec<String> {
        let names = self.names.lock().map(|n| n.tables.clone()).unwrap_or_default();
        let trimmed = before.trim_start();
        // Meta-commands: the command itself, then a table name for `\d`.
        if trimmed.is_empty() && word.starts_with('\\') {
            return META.iter().filter(|m| m.starts_with(word)).map(|m| m.to_string()).collect();
        }
        if let Some(rest) = trimmed.strip_prefix('\\') {
            return match rest.split_whitespace().next() {
                Some("d") => starting_with(names.keys(), word),
                Some("format") => starting_with(["table", "csv", "json"].iter(), word),
                _ => Vec::new(),
            };
        }
        if let Some(key) = word.strip_prefix('\'') {
            let after_connector = before.trim_end().strip_suffix('=').is_some_and(|b| {
                let b = b.trim_end();
                b.ends_with("'connector'")
            });
            let pool: &[&str] = if after_connector { CONNECTORS } else { OPTION_KEYS };
            return pool.iter().filter(|k| k.starts_with(key)).map(|k| format!("'{k}'")).collect();
        }
        let previous = before.split(|c: char| !is_word_char(c)).rev().find(|w| !w.is_empty()).unwrap_or("");
        let wants_table = ["FROM", "JOIN", "TABLE", "INTO", "DESCRIBE", "VIEW", "EXISTS", "UPDATE"]
            .iter()
            .any(|k| previous.eq_ignore_ascii_case(k));
        let mut out = starting_with(names.keys(), word);
        if wants_table {
            return out;
        }
        // `t.col`: the columns of t.
        if let Some(qualifier) = before.strip_suffix('.') {
            let table = qualifier.rsplit(|c: char| !is_word_char(c)).next().unwrap_or("");
            return names
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(table))
                .map(|(_, cols)| starting_with(cols.iter(), word))
                .unwrap_or_default();
        }
        // Columns of the tables the statement names (of every table if it names none).
        let statement = format!("{} {before}", self.pending.lock().map(|p| p.clone()).unwrap_or_default());
        let mentioned: Vec<&Vec<String>> = names
            .iter()
            .filter(|(n, _)| statement.split(|c: char| !is_word_char(c)).any(|w| w.eq_ignore_ascii_case(n)))
            .map(|(_, cols)| cols)
            .collect();
        let columns: Vec<&String> = if mentioned.is_empty() {
            names.values().flatten().collect()
        } else {
            mentioned.into_iter().flatten().collect()
        };
        out.extend(starting_with(columns.into_iter(), word));
        let lower = !word.is_empty() && word.chars().all(|c| !c.is_ascii_uppercase());
        out.extend(
            KEYWORDS.iter().filter(|k| k.len() >= word.len() && k[..word.len()].eq_ignore_ascii_case(word)).map(|k| {
                if lower {
                    k.to_ascii_lowercase()
                } else {
                    k.to_string()
                }
            }),
        );
        out.sort();
        out.dedup();
        out
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn starting_with<'a>(pool: impl Iterator<Item = impl AsRef<str> + 'a>, word: &str) -> Vec<String> {
    pool.map(|s| s.as_ref().to_string())
        .filter(|s| {
            s.len() >= word.len() && s.is_char_boundary(word.len()) && s[..word.len()].eq_ignore_ascii_case(word)
        })
        .collect()
}

/// Where the word ending at `pos` starts: identifiers, a quoted option key (`'csv.hea`),
/// or a meta-command (`\ti`).
fn word_start(line: &str, pos: usize) -> usize {
    let head = &line[..pos];
    let ident = head.rfind(|c: char| !is_word_char(c)).map_or(0, |i| i + 1);
    let key = head.rfind(|c: char| !(is_word_char(c) || c == '.' || c == '-')).map_or(0, |i| i + 1);
    if key > 0 && head[..key].ends_with('\'') {
        return key - 1;
    }
    if ident > 0 && head[..ident].ends_with('\\') && head[..ident - 1].trim().is_empty() {
        return ident - 1;
    }
    ident
}

impl Completer for SqlHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let trimmed = line.trim_start();
        if trimmed.starts_with("\\i ") || trimmed.starts_with("\\o ") {
            return self.files.complete(line, pos, ctx);
        }
        let start = word_start(line, pos);
        let candidates = self.candidates(&line[..start], &line[start..pos]);
        Ok((start, candidates.into_iter().map(|c| Pair { display: c.clone(), replacement: c }).collect()))
    }
}

impl Hinter for SqlHelper {
    type Hint = String;
}

impl Highlighter for SqlHelper {}

impl Validator for SqlHelper {}

impl Helper for SqlHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> SqlHelper {
        let mut session = Session::new();
        session
            .sql(
                "CREATE TABLE bids (auction BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts) WITH ('connector' = 'memory');
                 CREATE TABLE people (id BIGINT, name STRING) WITH ('connector' = 'values');",
            )
            .unwrap();
        SqlHelper::new(Arc::new(Mutex::new(Names::of(&session))))
    }

    fn complete(h: &SqlHelper, line: &str) -> Vec<String> {
        let start = word_start(line, line.len());
        h.candidates(&line[..start], &line[start..])
    }

    #[test]
    fn completes_tables_columns_keywords_options_and_meta_commands() {
        let h = helper();
        assert_eq!(complete(&h, "SELECT * FROM bi"), vec!["bids"]);
        assert_eq!(complete(&h, "SELECT pri"), vec!["price", "primary"]);
        assert_eq!(complete(&h, "SELECT n FROM people WHERE na"), vec!["name"]);
        assert_eq!(complete(&h, "sel"), vec!["select"]);
        assert_eq!(complete(&h, "SELECT bids.au"), vec!["auction"]);
        assert_eq!(complete(&h, "CREATE TABLE x (a INT) WITH ('csv.he"), vec!["'csv.header'"]);
        assert_eq!(complete(&h, "CREATE TABLE x (a INT) WITH ('connector' = 'me"), vec!["'memory'"]);
        assert_eq!(complete(&h, "\\ti"), vec!["\\timing"]);
        assert_eq!(complete(&h, "\\d pe"), vec!["people"]);
    }
}
