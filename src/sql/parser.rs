//! The statement driver: splits SQL text into statements and parses each with either our
//! own grammar (CREATE TABLE, SET, SHOW, DESCRIBE, EXPLAIN) or sqlparser's.

use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::ast::{Emit, EmitMode, Located, Statement};
use super::ddl::{self, normalize_object_name};
use super::rewrite::{drop_table_arg_keyword, partition_by_arg};
use crate::error::{Error, Location, Result};

/// Parses every statement of `sql` (separated by `;`).
///
/// Errors are [`crate::ErrorKind::Sql`] with the line and column of the offending token and
/// what was expected there.
pub fn parse_statements(sql: &str) -> Result<Vec<Located>> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql).tokenize_with_location().map_err(|e| {
        Error::sql_at(e.message.clone(), Some(Location { line: e.location.line, column: e.location.column }))
    })?;
    let tokens = partition_by_arg(drop_table_arg_keyword(tokens));
    let tokens = super::match_recognize::rewrite_match_recognize(tokens);
    let (tokens, mut emits) = take_emit_clauses(tokens)?;
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let mut out = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        let first = parser.peek_token();
        if first.token == Token::EOF {
            break;
        }
        let location = Location { line: first.span.start.line, column: first.span.start.column };
        let statement = parse_one(&mut parser).map_err(|e| {
            let err = parser_error(e, location);
            // sqlparser gives no position for "found: EOF": point just past the text.
            if err.message.ends_with("found: EOF") {
                Error { location: Some(end_of(sql)), ..err }
            } else {
                err
            }
        })?;
        let end = parser.peek_token();
        let end_loc = match end.token {
            Token::EOF => Location { line: u64::MAX, column: u64::MAX },
            _ => Location { line: end.span.start.line, column: end.span.start.column },
        };
        let emit = match emits.iter().position(|(at, _)| (location..=end_loc).contains(at)) {
            Some(i) => {
                let (at, emit) = emits.remove(i);
                if !matches!(statement, Statement::Query(_) | Statement::Insert { .. } | Statement::Explain(_)) {
                    return Err(Error::sql_at("EMIT applies to SELECT and INSERT INTO .. SELECT", Some(at)));
                }
                Some(emit)
            }
            None => None,
        };
        if !matches!(end.token, Token::SemiColon | Token::EOF) {
            let loc = Location { line: end.span.start.line, column: end.span.start.column };
            return Err(Error::sql_at(format!("expected ';' or end of statement, found {}", end.token), Some(loc)));
        }
        let text = slice_text(sql, first.span.start, end.span.start);
        out.push(Located { statement, location, text, emit });
    }
    Ok(out)
}

/// `EMIT` clauses by the position of their `EMIT` keyword.
type EmitClauses = Vec<(Location, Emit)>;

/// Cuts `EMIT ON ..` / `EMIT EVERY ..` clauses (outside parentheses, up to the end of
/// their statement) out of the token stream, so sqlparser never sees them (it would take
/// `EMIT` for a table alias). Returns the remaining tokens and each clause with the
/// position of its `EMIT`.
fn take_emit_clauses(tokens: Vec<TokenWithSpan>) -> Result<(Vec<TokenWithSpan>, EmitClauses)> {
    let significant = |t: &TokenWithSpan| !matches!(t.token, Token::Whitespace(_));
    let mut out = Vec::with_capacity(tokens.len());
    let mut emits = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Word(w) if depth == 0 && w.quote_style.is_none() && w.value.eq_ignore_ascii_case("EMIT") => {
                let next = tokens[i + 1..].iter().find(|t| significant(t)).map(|t| &t.token);
                if matches!(next, Some(Token::Word(n)) if n.keyword == Keyword::ON || n.keyword == Keyword::EVERY) {
                    let end = tokens[i..].iter().position(|t| matches!(t.token, Token::SemiColon | Token::EOF));
                    let end = end.map_or(tokens.len(), |e| i + e);
                    let at = Location { line: tokens[i].span.start.line, column: tokens[i].span.start.column };
                    let mut clause = tokens[i..end].to_vec();
                    clause.push(TokenWithSpan::wrap(Token::EOF));
                    let mut p = Parser::new(&GenericDialect {}).with_tokens_with_locations(clause);
                    let emit = parse_emit(&mut p).map_err(|e| parser_error(e, at))?;
                    let rest = p.peek_token();
                    if rest.token != Token::EOF {
                        let loc = Location { line: rest.span.start.line, column: rest.span.start.column };
                        return Err(Error::sql_at(
                            format!("unexpected {} after the EMIT clause", rest.token),
                            Some(loc),
                        ));
                    }
                    emits.push((at, emit));
                    i = end;
                    continue;
                }
            }
            _ => {}
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    Ok((out, emits))
}

/// `EMIT ON WINDOW CLOSE | EMIT ON UPDATE | EMIT EVERY <interval>`, then optionally
/// `WITH DELAY <interval>`; intervals as `INTERVAL '5' SECOND` or `INTERVAL '5 seconds'`.
fn parse_emit(p: &mut Parser) -> Result<Emit, ParserError> {
    p.next_token(); // EMIT
    let mode = if p.parse_keyword(Keyword::ON) {
        if p.parse_keywords(&[Keyword::WINDOW, Keyword::CLOSE]) {
            EmitMode::OnWindowClose
        } else if p.parse_keyword(Keyword::UPDATE) {
            EmitMode::OnUpdate
        } else {
            return p.expected("WINDOW CLOSE or UPDATE after EMIT ON", p.peek_token());
        }
    } else if p.parse_keyword(Keyword::EVERY) {
        let every = interval_ms(p, "EMIT EVERY")?;
        if every <= 0 {
            return Err(ParserError::ParserError("EMIT EVERY needs a positive interval".into()));
        }
        EmitMode::Every(every)
    } else {
        return p.expected("ON WINDOW CLOSE, ON UPDATE or EVERY after EMIT", p.peek_token());
    };
    let delay_ms = if p.parse_keywords(&[Keyword::WITH, Keyword::DELAY]) { interval_ms(p, "WITH DELAY")? } else { 0 };
    if delay_ms < 0 {
        return Err(ParserError::ParserError("WITH DELAY needs an interval of 0 or more".into()));
    }
    Ok(Emit { mode, delay_ms })
}

/// A whole-millisecond interval literal.
fn interval_ms(p: &mut Parser, what: &str) -> Result<i64, ParserError> {
    let at = p.peek_token();
    let e = p.parse_expr()?;
    let text = match &e {
        ast::Expr::Interval(iv) => match (iv.value.as_ref(), &iv.leading_field) {
            (ast::Expr::Value(v), unit) => {
                let n = match &v.value {
                    ast::Value::SingleQuotedString(s) | ast::Value::Number(s, _) => s.clone(),
                    _ => String::new(),
                };
                format!("{n} {}", unit.as_ref().map(|u| u.to_string()).unwrap_or_default())
            }
            _ => String::new(),
        },
        _ => String::new(),
    };
    crate::connectors::options::parse_duration_ms(&text).ok_or_else(|| {
        ParserError::ParserError(format!(
            "{what} needs an interval like INTERVAL '5' SECOND, found {e} at Line: {}, Column: {}",
            at.span.start.line, at.span.start.column
        ))
    })
}

fn parse_one(p: &mut Parser) -> Result<Statement, ParserError> {
    if p.peek_keyword(Keyword::CREATE) {
        let is_table = matches!(&p.peek_nth_token(1).token, datafusion::sql::sqlparser::tokenizer::Token::Word(w) if w.keyword == Keyword::TABLE);
        if is_table {
            p.next_token();
            p.next_token();
            return Ok(Statement::CreateTable(Box::new(ddl::parse_create_table(p)?)));
        }
    }
    if p.parse_keyword(Keyword::SET) {
        let key = ddl::parse_key(p)?;
        if !p.consume_token(&Token::Eq) {
            p.expect_keyword(Keyword::TO)?;
        }
        let value = ddl::parse_value(p)?;
        return Ok(Statement::Set { key, value });
    }
    if p.parse_keywords(&[Keyword::SHOW, Keyword::TABLES]) {
        return Ok(Statement::ShowTables);
    }
    if p.parse_keyword(Keyword::DESCRIBE) || p.parse_keyword(Keyword::DESC) {
        return Ok(Statement::Describe(ddl::object_name(p)?));
    }
    if p.parse_keyword(Keyword::EXPLAIN) {
        let inner = parse_one(p)?;
        return Ok(Statement::Explain(Box::new(inner)));
    }
    let start = p.peek_token();
    let stmt = p.parse_statement()?;
    convert(stmt).map_err(|msg| {
        ParserError::ParserError(format!(
            "{msg} at Line: {}, Column: {}",
            start.span.start.line, start.span.start.column
        ))
    })
}

fn convert(stmt: ast::Statement) -> Result<Statement, String> {
    const UNSUPPORTED: &str = "this statement is not supported by Wavecrest (expected CREATE TABLE, CREATE VIEW, SELECT, INSERT INTO, EXPLAIN, SET, SHOW TABLES, DESCRIBE or DROP)";
    match stmt {
        ast::Statement::Query(q) => Ok(Statement::Query(q)),
        ast::Statement::Insert(insert) => {
            let table = match &insert.table {
                ast::TableObject::TableName(name) => normalize_object_name(name),
                _ => return Err(UNSUPPORTED.into()),
            };
            if !insert.columns.is_empty() {
                return Err(format!("INSERT INTO {table} (columns): column lists are not supported yet; give values for every column, in table order"));
            }
            let query = insert.source.ok_or_else(|| format!("INSERT INTO {table} needs VALUES or a query"))?;
            Ok(Statement::Insert { table, query })
        }
        ast::Statement::CreateView(view) => {
            let name = normalize_object_name(&view.name);
            if !view.columns.is_empty() {
                return Err(format!("CREATE VIEW {name} (columns): column lists are not supported yet; name the columns with AS in the query"));
            }
            if view.materialized {
                return Err(
                    "CREATE MATERIALIZED VIEW is not supported; use CREATE VIEW or CREATE TABLE .. AS SELECT".into()
                );
            }
            Ok(Statement::CreateView { name, query: view.query, or_replace: view.or_replace })
        }
        ast::Statement::Drop { object_type, if_exists, names, .. } => {
            let view = match object_type {
                ast::ObjectType::Table => false,
                ast::ObjectType::View => true,
                other => return Err(format!("DROP {other} is not supported (only DROP TABLE and DROP VIEW)")),
            };
            let names = names.iter().map(normalize_object_name).collect();
            Ok(Statement::Drop { view, names, if_exists })
        }
        _ => Err(UNSUPPORTED.into()),
    }
}

/// The position just after the last non-blank character of `sql`.
fn end_of(sql: &str) -> Location {
    let trimmed = sql.trim_end();
    let line = trimmed.lines().count().max(1) as u64;
    let column = trimmed.lines().last().map(|l| l.chars().count() as u64 + 1).unwrap_or(1);
    Location { line, column }
}

/// Turns sqlparser's "... at Line: 3, Column: 7" message into a located error.
fn parser_error(e: ParserError, statement_start: Location) -> Error {
    let msg = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        ParserError::RecursionLimitExceeded => "statement nested too deeply".to_string(),
    };
    match msg.rfind(" at Line: ") {
        Some(pos) => {
            let tail = &msg[pos + " at Line: ".len()..];
            let mut parts = tail.split(", Column: ");
            let line = parts.next().and_then(|l| l.trim().parse().ok());
            let column = parts.next().and_then(|c| c.trim().parse().ok());
            match (line, column) {
                (Some(line), Some(column)) => Error::sql_at(msg[..pos].to_string(), Some(Location { line, column })),
                _ => Error::sql_at(msg, Some(statement_start)),
            }
        }
        None => Error::sql_at(msg, Some(statement_start)),
    }
}

fn slice_text(
    sql: &str,
    start: datafusion::sql::sqlparser::tokenizer::Location,
    end: datafusion::sql::sqlparser::tokenizer::Location,
) -> String {
    let offset = |loc: datafusion::sql::sqlparser::tokenizer::Location| -> usize {
        if loc.line == 0 {
            return sql.len();
        }
        let mut off = 0;
        for (i, line) in sql.split_inclusive('\n').enumerate() {
            if i as u64 + 1 == loc.line {
                let col: usize = line.chars().take(loc.column.saturating_sub(1) as usize).map(char::len_utf8).sum();
                return off + col;
            }
            off += line.len();
        }
        sql.len()
    };
    let (a, b) = (offset(start), offset(end));
    sql.get(a..b.max(a)).unwrap_or("").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_table_with_watermark_and_options() {
        let sql = "CREATE TABLE bids (auction BIGINT, price BIGINT NOT NULL, ts TIMESTAMP(3),\n  t2 AS ts + INTERVAL '1' SECOND,\n  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND,\n  PRIMARY KEY (auction) NOT ENFORCED\n) WITH ('connector' = 'file', 'path' = 'x.csv');";
        let stmts = parse_statements(sql).unwrap();
        let Statement::CreateTable(ct) = &stmts[0].statement else { panic!() };
        assert_eq!(ct.name, "bids");
        assert_eq!(ct.columns.len(), 4);
        assert!(ct.columns[3].computed.is_some());
        assert_eq!(ct.watermark.as_ref().unwrap().column, "ts");
        assert_eq!(ct.primary_key, vec!["auction"]);
        assert_eq!(ct.options["connector"], "file");
    }

    #[test]
    fn set_both_forms() {
        let stmts = parse_statements("SET 'parallelism' = '2'; SET parallelism.default = 3;").unwrap();
        assert!(matches!(&stmts[0].statement, Statement::Set { key, value } if key == "parallelism" && value == "2"));
        assert!(
            matches!(&stmts[1].statement, Statement::Set { key, value } if key == "parallelism.default" && value == "3")
        );
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = parse_statements("SELECT 1;\nSELECT * FRM t;").unwrap_err();
        let loc = e.location.unwrap();
        assert_eq!(loc.line, 2, "{e}");
        assert!(e.message.contains("expected ';'"), "{e}");
        let e = parse_statements("SELECT a\nFROM t WHERE b = ;").unwrap_err();
        assert_eq!(e.location, Some(Location { line: 2, column: 18 }), "{e}");
    }

    #[test]
    fn flink_tvf_parses() {
        let sql = "SELECT * FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))";
        let stmts = parse_statements(sql).unwrap();
        assert!(matches!(stmts[0].statement, Statement::Query(_)));
        assert_eq!(stmts[0].text, sql);
    }
}
