//! Token-level rewrites inside `MATCH_RECOGNIZE ( .. )` for what sqlparser 0.62 cannot
//! parse, so the whole clause still arrives as one `TableFactor::MatchRecognize`:
//!
//! ```text
//! FINAL LAST(A.x)              →  FINAL(LAST(A.x))          (also RUNNING)
//! PATTERN (A {- B | C D -})    →  PATTERN (A ("__wavecrest_exclude" (B | C D)))
//! PATTERN (..) WITHIN INTERVAL '1' HOUR  SUBSET U = (A, B)  DEFINE ..
//!   →  PATTERN (..) DEFINE "__wavecrest_within" AS INTERVAL '1' HOUR,
//!                          U AS "__wavecrest_subset"(A, B), ..
//! PATTERN (..) WITHIN INTERVAL '5' MINUTE EMIT TIMEOUTS  DEFINE ..
//!   →  PATTERN (..) DEFINE "__wavecrest_within" AS INTERVAL '5' MINUTE,
//!                          "__wavecrest_timeouts" AS TRUE, ..
//! ```
//!
//! The planner ([`crate::plan::match_recognize`]) takes the marked `DEFINE` entries back
//! out. Moved tokens keep their positions, so errors still point at the user's text.

use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

/// The marker function of a `SUBSET` declaration moved into `DEFINE`.
pub const SUBSET_MARK: &str = "__wavecrest_subset";
/// The marker variable of a `WITHIN` interval moved into `DEFINE`.
pub const WITHIN_MARK: &str = "__wavecrest_within";
/// The marker variable leading the group an exclusion `{- .. -}` becomes in `PATTERN`.
pub const EXCLUDE_MARK: &str = "__wavecrest_exclude";
/// The marker variable of `EMIT TIMEOUTS` moved into `DEFINE`.
pub const TIMEOUTS_MARK: &str = "__wavecrest_timeouts";

fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
}

fn significant(t: &TokenWithSpan) -> bool {
    !matches!(t.token, Token::Whitespace(_))
}

/// The index of the parenthesis closing the one at `open`.
fn closing(tokens: &[TokenWithSpan], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Rewrites every `MATCH_RECOGNIZE ( .. )` body in `tokens`; other tokens are unchanged.
pub fn rewrite_match_recognize(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    if !tokens.iter().any(|t| is_word(&t.token, "MATCH_RECOGNIZE")) {
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        out.push(tokens[i].clone());
        if is_word(&tokens[i].token, "MATCH_RECOGNIZE") {
            let open = tokens[i + 1..].iter().position(significant).map(|p| i + 1 + p);
            if let Some(open) = open.filter(|&o| tokens[o].token == Token::LParen) {
                if let Some(close) = closing(&tokens, open) {
                    out.extend_from_slice(&tokens[i + 1..=open]);
                    out.extend(rewrite_body(&tokens[open + 1..close]));
                    out.push(tokens[close].clone());
                    i = close + 1;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

fn rewrite_body(body: &[TokenWithSpan]) -> Vec<TokenWithSpan> {
    let body = wrap_exclusions(&wrap_final_running(body));
    // Top-level clause boundaries.
    let mut depth = 0usize;
    let (mut within, mut subset, mut define, mut emit) = (None, None, None, None);
    let next = |i: usize| body[i + 1..].iter().position(significant).map(|p| i + 1 + p);
    for (i, t) in body.iter().enumerate() {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            _ if depth == 0 && is_word(&t.token, "WITHIN") => within = within.or(Some(i)),
            _ if depth == 0 && is_word(&t.token, "EMIT") && emit.is_none() => {
                // `EMIT TIMEOUTS`: the index of EMIT and of TIMEOUTS.
                emit = next(i).filter(|&n| is_word(&body[n].token, "TIMEOUTS")).map(|n| (i, n));
            }
            _ if depth == 0 && is_word(&t.token, "SUBSET") => subset = subset.or(Some(i)),
            _ if depth == 0 && is_word(&t.token, "DEFINE") => define = define.or(Some(i)),
            _ => {}
        }
    }
    let Some(define) = define else { return body };
    let mut moved: Vec<TokenWithSpan> = Vec::new();
    let mut cut = vec![false; body.len()];
    let clause_end = |from: usize| {
        [within, subset, emit.map(|e| e.0), Some(define)].into_iter().flatten().filter(|&x| x > from).min()
    };
    if let Some(w) = within.filter(|&w| w < define) {
        let end = clause_end(w).unwrap_or(define);
        let span = body[w].span;
        moved.push(TokenWithSpan::new(Token::make_word(WITHIN_MARK, Some('"')), span));
        moved.push(TokenWithSpan::new(Token::make_keyword("AS"), span));
        moved.extend(body[w + 1..end].iter().cloned());
        moved.push(TokenWithSpan::new(Token::Comma, span));
        cut[w..end].iter_mut().for_each(|c| *c = true);
    }
    if let Some((e, timeouts)) = emit.filter(|&(_, t)| t < define) {
        let span = body[e].span;
        moved.push(TokenWithSpan::new(Token::make_word(TIMEOUTS_MARK, Some('"')), span));
        moved.push(TokenWithSpan::new(Token::make_keyword("AS"), span));
        moved.push(TokenWithSpan::new(Token::make_keyword("TRUE"), span));
        moved.push(TokenWithSpan::new(Token::Comma, span));
        cut[e..=timeouts].iter_mut().for_each(|c| *c = true);
    }
    if let Some(s) = subset.filter(|&s| s < define) {
        let end = clause_end(s).unwrap_or(define);
        let mut depth = 0usize;
        for t in &body[s + 1..end] {
            match t.token {
                Token::LParen => depth += 1,
                Token::RParen => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth == 0 && t.token == Token::Eq {
                moved.push(TokenWithSpan::new(Token::make_keyword("AS"), t.span));
                moved.push(TokenWithSpan::new(Token::make_word(SUBSET_MARK, Some('"')), t.span));
            } else {
                moved.push(t.clone());
            }
        }
        moved.push(TokenWithSpan::new(Token::Comma, body[s].span));
        cut[s..end].iter_mut().for_each(|c| *c = true);
    }
    let mut out = Vec::with_capacity(body.len() + 8);
    for (i, t) in body.iter().enumerate() {
        if cut[i] {
            continue;
        }
        out.push(t.clone());
        if i == define {
            out.extend(moved.iter().cloned());
        }
    }
    out
}

/// `{- p -}` → `("__wavecrest_exclude" (p))`: sqlparser reads an exclusion of one symbol
/// only, and only after `(` or `|`; a group led by the marker variable holds any pattern
/// (`{- A B+ -}`, `{- A | B -}`) anywhere.
fn wrap_exclusions(body: &[TokenWithSpan]) -> Vec<TokenWithSpan> {
    let next = |i: usize| body[i + 1..].iter().position(significant).map(|p| i + 1 + p);
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let t = &body[i];
        let pair = |second: Token| next(i).filter(|&n| body[n].token == second);
        if t.token == Token::LBrace {
            if let Some(minus) = pair(Token::Minus) {
                out.push(TokenWithSpan::new(Token::LParen, t.span));
                out.push(TokenWithSpan::new(Token::make_word(EXCLUDE_MARK, Some('"')), t.span));
                out.push(TokenWithSpan::new(Token::LParen, t.span));
                i = minus + 1;
                continue;
            }
        }
        if t.token == Token::Minus {
            if let Some(brace) = pair(Token::RBrace) {
                out.push(TokenWithSpan::new(Token::RParen, t.span));
                out.push(TokenWithSpan::new(Token::RParen, body[brace].span));
                i = brace + 1;
                continue;
            }
        }
        out.push(t.clone());
        i += 1;
    }
    out
}

/// `FINAL f(..)` → `FINAL(f(..))`, likewise `RUNNING`.
fn wrap_final_running(body: &[TokenWithSpan]) -> Vec<TokenWithSpan> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let t = &body[i];
        if is_word(&t.token, "FINAL") || is_word(&t.token, "RUNNING") {
            let name = body[i + 1..].iter().position(significant).map(|p| i + 1 + p);
            let open = name.and_then(|n| body[n + 1..].iter().position(significant).map(|p| n + 1 + p));
            if let (Some(name), Some(open)) = (name, open) {
                if matches!(body[name].token, Token::Word(_)) && body[open].token == Token::LParen {
                    if let Some(close) = closing(body, open) {
                        out.push(t.clone());
                        out.push(TokenWithSpan::new(Token::LParen, t.span));
                        out.extend(wrap_final_running(&body[name..=close]));
                        out.push(TokenWithSpan::new(Token::RParen, body[close].span));
                        i = close + 1;
                        continue;
                    }
                }
            }
        }
        out.push(t.clone());
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;

    /// The rewritten text without whitespace (moved tokens leave theirs behind).
    fn rewrite(sql: &str) -> String {
        let tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location().unwrap();
        let text: String = rewrite_match_recognize(tokens).iter().map(|t| t.token.to_string()).collect();
        squeeze(&text)
    }

    fn squeeze(s: &str) -> String {
        s.split_whitespace().collect()
    }

    #[test]
    fn moves_within_and_subset_into_define_and_wraps_final() {
        let sql = "SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts MEASURES FINAL LAST(A.x) AS l, RUNNING COUNT(*) AS n \
                   PATTERN (A B) WITHIN INTERVAL '1' HOUR SUBSET U = (A, B), V = (B) DEFINE A AS x > 0)";
        let expected =
            "SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts MEASURES FINAL(LAST(A.x)) AS l, RUNNING(COUNT(*)) AS n \
             PATTERN (A B) DEFINE \"__wavecrest_within\" AS INTERVAL '1' HOUR, U AS \"__wavecrest_subset\"(A, B), \
             V AS \"__wavecrest_subset\"(B), A AS x > 0)";
        assert_eq!(rewrite(sql), squeeze(expected));
    }

    #[test]
    fn moves_emit_timeouts_into_define() {
        let sql = "SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts MEASURES A.x AS a \
                   PATTERN (A B) WITHIN INTERVAL '5' MINUTE EMIT TIMEOUTS DEFINE A AS x > 0)";
        let expected = "SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts MEASURES A.x AS a PATTERN (A B) \
                        DEFINE \"__wavecrest_within\" AS INTERVAL '5' MINUTE, \"__wavecrest_timeouts\" AS TRUE, \
                        A AS x > 0)";
        assert_eq!(rewrite(sql), squeeze(expected));
    }

    #[test]
    fn turns_exclusions_into_marked_groups() {
        let sql = "SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN (A {- B | C D -}+ E) DEFINE A AS x > 0)";
        assert_eq!(
            rewrite(sql),
            squeeze(
                "SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts \
                 PATTERN (A (\"__wavecrest_exclude\" (B | C D))+ E) DEFINE A AS x > 0)"
            )
        );
    }

    #[test]
    fn leaves_other_text_alone() {
        let sql = "SELECT final, running FROM t WHERE x IN (SELECT 1)";
        assert_eq!(rewrite(sql), squeeze(sql));
    }
}
