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
//!
//! SESSION and SLIDE take `TABLE t PARTITION BY k` (or `PARTITION BY (k1, k2)`) as their
//! input; [`partition_by_arg`] turns the `PARTITION BY` part into a named argument
//! `, PARTITION_BY => DESCRIPTOR(k1, k2)` that sqlparser reads as an ordinary argument.

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

/// Name of the argument [`partition_by_arg`] produces.
pub const PARTITION_BY_ARG: &str = "PARTITION_BY";

/// Rewrites `PARTITION BY keys` directly inside a window function's parentheses into the
/// named argument `, PARTITION_BY => DESCRIPTOR(keys)` (keys: one name, or a parenthesised
/// list). New tokens take the span of the `PARTITION` word.
pub fn partition_by_arg(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant = |t: &TokenWithSpan| !matches!(t.token, Token::Whitespace(_));
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut parens: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let tok = &tokens[i];
        match &tok.token {
            Token::LParen => {
                let callee = out.iter().rev().find(|t| significant(t)).map(|t| &t.token);
                parens.push(matches!(callee, Some(Token::Word(w))
                    if crate::sql::tvf_args::WINDOW_TVFS.iter().any(|n| n.eq_ignore_ascii_case(&w.value))));
            }
            Token::RParen => {
                parens.pop();
            }
            _ => {}
        }
        let is_partition = matches!(&tok.token, Token::Word(w) if w.keyword == Keyword::PARTITION);
        let by_at = tokens[i + 1..].iter().position(significant).map(|p| i + 1 + p);
        let followed_by_by =
            by_at.is_some_and(|j| matches!(&tokens[j].token, Token::Word(w) if w.keyword == Keyword::BY));
        if is_partition && followed_by_by && parens.last() == Some(&true) {
            let span = tok.span;
            let at = |token: Token| TokenWithSpan { token, span };
            out.push(at(Token::Comma));
            out.push(at(Token::make_word(PARTITION_BY_ARG, None)));
            out.push(at(Token::RArrow));
            out.push(at(Token::make_word("DESCRIPTOR", None)));
            out.push(at(Token::LParen));
            let mut j = by_at.unwrap_or(i) + 1;
            while j < tokens.len() && !significant(&tokens[j]) {
                j += 1;
            }
            if matches!(tokens.get(j).map(|t| &t.token), Some(Token::LParen)) {
                // `(k1, k2)`: copy what is inside the balanced parentheses.
                let mut depth = 0usize;
                while j < tokens.len() {
                    match tokens[j].token {
                        Token::LParen => depth += 1,
                        Token::RParen => depth -= 1,
                        _ => {}
                    }
                    let first_or_last = (depth == 1 && tokens[j].token == Token::LParen) || depth == 0;
                    if !first_or_last {
                        out.push(tokens[j].clone());
                    }
                    j += 1;
                    if depth == 0 {
                        break;
                    }
                }
            } else {
                // One (possibly qualified) name: up to the next `,` or `)`.
                while j < tokens.len() && !matches!(tokens[j].token, Token::Comma | Token::RParen) {
                    out.push(tokens[j].clone());
                    j += 1;
                }
            }
            out.push(at(Token::RParen));
            i = j;
            continue;
        }
        out.push(tok.clone());
        i += 1;
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

    /// The rewritten tokens as text, without whitespace (the rewrite adds tokens but no
    /// spaces); compare with [`squash`]ed expectations.
    fn partition(sql: &str) -> String {
        let toks = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location().unwrap();
        let toks = partition_by_arg(drop_table_arg_keyword(toks));
        squash(&toks.iter().map(|t| t.token.to_string()).collect::<String>())
    }

    fn squash(s: &str) -> String {
        s.split_whitespace().collect()
    }

    #[test]
    fn partition_by_becomes_a_named_argument() {
        assert_eq!(
            partition("SESSION(TABLE t PARTITION BY k, DESCRIPTOR(ts), INTERVAL '5' SECOND)"),
            squash("SESSION(t, PARTITION_BY => DESCRIPTOR(k), DESCRIPTOR(ts), INTERVAL '5' SECOND)")
        );
        assert_eq!(
            partition("SLIDE(TABLE t PARTITION BY (a, b.c), DESCRIPTOR(ts), x)"),
            squash("SLIDE(t, PARTITION_BY => DESCRIPTOR(a, b.c), DESCRIPTOR(ts), x)")
        );
        // Elsewhere PARTITION BY is left alone (OVER clauses, MATCH_RECOGNIZE).
        let over = "SELECT SUM(x) OVER (PARTITION BY k ORDER BY ts) FROM t";
        assert_eq!(partition(over), squash(over));
    }
}
