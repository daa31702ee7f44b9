//! `CREATE TABLE` in Flink's form, which sqlparser cannot read whole:
//!
//! ```sql
//! CREATE TABLE [IF NOT EXISTS] name (
//!   col TYPE [NOT NULL],            -- physical column
//!   col AS expr,                    -- computed column
//!   WATERMARK FOR col [AS expr],
//!   PRIMARY KEY (col, ..) NOT ENFORCED
//! ) [WITH ('k' = 'v', ..)] [AS query]
//! ```

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::ast::ObjectName;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::ast::{ColumnDef, CreateTable, WatermarkDef};

/// Parses the rest of a `CREATE TABLE` after the `CREATE TABLE` keywords.
pub fn parse_create_table(p: &mut Parser) -> Result<CreateTable, ParserError> {
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = object_name(p)?;
    let mut table = CreateTable {
        name,
        columns: vec![],
        watermark: None,
        primary_key: vec![],
        options: BTreeMap::new(),
        as_query: None,
        if_not_exists,
    };
    if p.consume_token(&Token::LParen) {
        loop {
            parse_table_element(p, &mut table)?;
            if p.consume_token(&Token::Comma) {
                continue;
            }
            p.expect_token(&Token::RParen)?;
            break;
        }
    }
    if p.parse_keyword(Keyword::WITH) {
        table.options = parse_with_options(p)?;
    }
    if p.parse_keyword(Keyword::AS) {
        table.as_query = Some(p.parse_query()?);
    }
    Ok(table)
}

fn parse_table_element(p: &mut Parser, t: &mut CreateTable) -> Result<(), ParserError> {
    if parse_word(p, "WATERMARK") {
        p.expect_keyword(Keyword::FOR)?;
        let column = ident_name(p)?;
        let expr = if p.parse_keyword(Keyword::AS) { Some(p.parse_expr()?) } else { None };
        if t.watermark.is_some() {
            return p.expected("only one WATERMARK per table", p.peek_token());
        }
        t.watermark = Some(WatermarkDef { column, expr });
        return Ok(());
    }
    if p.parse_keywords(&[Keyword::PRIMARY, Keyword::KEY]) {
        p.expect_token(&Token::LParen)?;
        t.primary_key = p.parse_comma_separated(ident_name)?;
        p.expect_token(&Token::RParen)?;
        // Flink requires NOT ENFORCED; we accept it and also its absence.
        let _ = p.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]);
        return Ok(());
    }
    let name = ident_name(p)?;
    if p.parse_keyword(Keyword::AS) {
        let expr = p.parse_expr()?;
        t.columns.push(ColumnDef { name, data_type: None, not_null: false, computed: Some(expr) });
        return Ok(());
    }
    let data_type = p.parse_data_type()?;
    let mut not_null = false;
    loop {
        if p.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
            not_null = true;
        } else if p.parse_keyword(Keyword::NULL) {
            not_null = false;
        } else if p.parse_keywords(&[Keyword::PRIMARY, Keyword::KEY]) {
            let _ = p.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]);
            t.primary_key = vec![name.clone()];
        } else if p.parse_keyword(Keyword::COMMENT) {
            p.parse_literal_string()?;
        } else {
            break;
        }
    }
    t.columns.push(ColumnDef { name, data_type: Some(data_type), not_null, computed: None });
    Ok(())
}

/// Parses `( 'k' = 'v' [, ..] )`; keys may also be bare dotted identifiers.
pub fn parse_with_options(p: &mut Parser) -> Result<BTreeMap<String, String>, ParserError> {
    p.expect_token(&Token::LParen)?;
    let mut options = BTreeMap::new();
    if p.consume_token(&Token::RParen) {
        return Ok(options);
    }
    loop {
        let key = parse_key(p)?;
        p.expect_token(&Token::Eq)?;
        let value = parse_value(p)?;
        options.insert(key, value);
        if p.consume_token(&Token::Comma) {
            continue;
        }
        p.expect_token(&Token::RParen)?;
        return Ok(options);
    }
}

/// A setting or option key: `'a.b-c'` or `a.b.c`.
pub fn parse_key(p: &mut Parser) -> Result<String, ParserError> {
    let tok = p.next_token();
    match &tok.token {
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Ok(s.clone()),
        Token::Word(w) => {
            let mut key = w.value.clone();
            while p.consume_token(&Token::Period) {
                let part = p.next_token();
                match &part.token {
                    Token::Word(w) => {
                        key.push('.');
                        key.push_str(&w.value);
                    }
                    _ => return p.expected("an option name", part),
                }
            }
            Ok(key)
        }
        _ => p.expected("an option name like 'connector'", tok),
    }
}

/// A setting or option value: a string, number or bare word.
pub fn parse_value(p: &mut Parser) -> Result<String, ParserError> {
    let tok = p.next_token();
    match tok.token {
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Ok(s),
        Token::Number(n, _) => Ok(n),
        Token::Word(w) => Ok(w.value),
        _ => p.expected("a value like 'file'", tok),
    }
}

fn ident_name(p: &mut Parser) -> Result<String, ParserError> {
    let id = p.parse_identifier()?;
    Ok(if id.quote_style.is_some() { id.value } else { id.value.to_ascii_lowercase() })
}

/// The normalised name of a table or view: unquoted parts lower-cased, as DataFusion does.
pub fn object_name(p: &mut Parser) -> Result<String, ParserError> {
    let name = p.parse_object_name(false)?;
    Ok(normalize_object_name(&name))
}

/// Lower-cases the unquoted parts of a name and joins them with `.`.
pub fn normalize_object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(id) if id.quote_style.is_some() => id.value.clone(),
            Some(id) => id.value.to_ascii_lowercase(),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Consumes the next token if it is the (non-reserved) word `word`, case-insensitively.
pub fn parse_word(p: &mut Parser, word: &str) -> bool {
    match &p.peek_token().token {
        Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word) => {
            p.next_token();
            true
        }
        _ => false,
    }
}
