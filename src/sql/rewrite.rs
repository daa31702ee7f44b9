//! Token-level rewrites that let sqlparser's `GenericDialect` read Flink's window
//! table-valued functions.
//!
//! Flink writes the input of a window TVF as `TABLE bids` (`TUMBLE(TABLE bids, ...)`,
//! `DATA => TABLE bids`). sqlparser cannot parse a `TABLE` keyword inside function
//! arguments, so we drop it: a `TABLE` word directly after `(`, `,` or `=>` and directly
//! before a name. Nowhere else in the dialect can `TABLE` stand there, and dropping a
//! token keeps every other token's line:column, so errors still point at the user's text.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

/// Removes the `TABLE` keyword in front of table arguments of function calls.
pub fn drop_table_arg_keyword(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant = |t: &TokenWithSpan| !matches!(t.token, Token::Whitespace(_));
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    for (i, tok) in tokens.iter().enumerate() {
        let is_table = matches!(&tok.token, Token::Word(w) if w.keyword == Keyword::TABLE);
        if is_table {
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
        assert_eq!(rewrite("f(DATA => TABLE t)"), "f(DATA => t)");
        assert_eq!(rewrite("CREATE TABLE t (a INT)"), "CREATE TABLE t (a INT)");
        assert_eq!(rewrite("DROP TABLE t"), "DROP TABLE t");
    }
}
