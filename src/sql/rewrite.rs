//! Token-level rewrites that let sqlparser's `GenericDialect` read Flink's window
//! table-valued functions.
//!
//! Flink writes the input of a window TVF as `TABLE bids` (`TUMBLE(TABLE bids, ...)`,
//! `DATA => TABLE bids`). sqlparser cannot parse a `TABLE` keyword inside function
//! arguments, so we drop it: a `TABLE` word directly inside the parentheses of a window
//! function call (`TUMBLE`, `HOP`, `CUMULATE`, `SESSION`, `SLIDE`), after `(`, `,` or `=>`
//! and before a name. Standard `TABLE t` elsewhere (`WITH c AS (TABLE t)`) is left alone.
//! Dropping a token keeps every other token's line:column, so errors still point at the
//! user's text.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

/// Removes the `TABLE` keyword in front of table arguments of function calls.
pub fn drop_table_arg_keyword(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant = |t: &TokenWithSpan| !matches!(t.token, Token::Whitespace(_));
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    // For each open parenthesis: whether it opens the arguments of a window function.
    let mut parens: Vec<bool> = Vec::new();
    for (i, tok) in tokens.iter().enumerate() {
        match &tok.token {
            Token::LParen => {
                let callee = out.iter().rev().find(|t| significant(t)).map(|t| &t.token);
                let window = matches!(callee, Some(Token::Word(w))
                    if crate::sql::tvf_args::WINDOW_TVFS.iter().any(|n| n.eq_ignore_ascii_case(&w.value)));
                parens.push(window);
            }
            Token::RParen => {
                parens.pop();
            }
            _ => {}
        }
        let is_table = matches!(&tok.token, Token::Word(w) if w.keyword == Keyword::TABLE);
        if is_table && parens.last() == Some(&true) {
            let prev = out.iter().rev().find(|t| significant(t)).map(|t| &t.token);
            let next = tokens[i + 1..].iter().find(|t| significant(t)).map(|t| &t.token);
            let after_arg_start = matches!(prev, Some(Token::LParen | Token::Comma | Token::RArrow));
            let before_name = matches!(next, Some(Token::Word(_)));
            if after_arg_start && before_name {
                continue;
            }
        }
        out.push(tok.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;

    fn rewrite(sql: &str) -> String {
        let toks = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location().unwrap();
        let text: String = drop_table_arg_keyword(toks).iter().map(|t| t.token.to_string()).collect();
        text.split_whitespace().collect::<Vec<_>>().join(" ").replace("( ", "(")
    }

    #[test]
    fn drops_table_keyword_only_in_arguments() {
        assert_eq!(
            rewrite("SELECT * FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts)))"),
            "SELECT * FROM TABLE(TUMBLE(bids, DESCRIPTOR(ts)))"
        );
        assert_eq!(rewrite("TUMBLE(DATA => TABLE t)"), "TUMBLE(DATA => t)");
        assert_eq!(rewrite("f(DATA => TABLE t)"), "f(DATA => TABLE t)");
        assert_eq!(rewrite("CREATE TABLE t (a INT)"), "CREATE TABLE t (a INT)");
        assert_eq!(rewrite("DROP TABLE t"), "DROP TABLE t");
        assert_eq!(rewrite("WITH c AS (TABLE t) SELECT * FROM c"), "WITH c AS (TABLE t) SELECT * FROM c");
        assert_eq!(rewrite("SELECT * FROM HOP(TABLE t, DESCRIPTOR(ts))"), "SELECT * FROM HOP(t, DESCRIPTOR(ts))");
    }
}
