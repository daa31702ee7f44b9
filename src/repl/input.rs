//! Multi-line input: lines are buffered until a statement ends at a `;` that is outside
//! quotes and comments.

/// Lexical state of the scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Normal,
    /// Inside a quoted text: `'..'`, `".."` or `` `..` `` (the closing quote).
    Quoted(char),
    LineComment,
    /// Inside `/* .. */`, with its nesting depth.
    BlockComment(usize),
}

/// What a scan of some SQL text found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Byte offsets just after each statement-ending `;`.
    pub ends: Vec<usize>,
    /// Whether there is SQL (not just blanks and comments) after the last end.
    pub rest_has_sql: bool,
}

/// Finds the statement ends of `text`.
pub fn scan(text: &str) -> Scan {
    let mut scan = Scan::default();
    let mut state = State::Normal;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|(_, c)| *c);
        match state {
            State::Normal => match c {
                ';' => {
                    scan.ends.push(i + 1);
                    scan.rest_has_sql = false;
                }
                '\'' | '"' | '`' => {
                    state = State::Quoted(c);
                    scan.rest_has_sql = true;
                }
                '-' if next == Some('-') => {
                    chars.next();
                    state = State::LineComment;
                }
                '/' if next == Some('*') => {
                    chars.next();
                    state = State::BlockComment(1);
                }
                c if c.is_whitespace() => {}
                _ => scan.rest_has_sql = true,
            },
            // A doubled quote inside a quoted text leaves and re-enters it, which is the same.
            State::Quoted(q) if c == q => state = State::Normal,
            State::Quoted(_) => {}
            State::LineComment if c == '\n' => state = State::Normal,
            State::LineComment => {}
            State::BlockComment(depth) => {
                if c == '*' && next == Some('/') {
                    chars.next();
                    state = if depth == 1 { State::Normal } else { State::BlockComment(depth - 1) };
                } else if c == '/' && next == Some('*') {
                    chars.next();
                    state = State::BlockComment(depth + 1);
                }
            }
        }
    }
    scan
}

/// Lines typed so far that do not yet form a complete statement.
#[derive(Debug, Default)]
pub struct InputBuffer {
    text: String,
}

impl InputBuffer {
    /// Whether nothing (but blanks and comments) is pending.
    pub fn is_empty(&self) -> bool {
        !scan(&self.text).rest_has_sql
    }

    /// The pending text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Drops the pending text.
    pub fn clear(&mut self) {
        self.text.clear();
    }

    /// Adds a line and returns the statements it completed (each with its `;`, without
    /// leading blanks). What follows the last `;` stays pending, unless it is only blanks
    /// and comments.
    pub fn push_line(&mut self, line: &str) -> Vec<String> {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(line);
        let found = scan(&self.text);
        let mut statements = Vec::new();
        let mut start = 0;
        for end in found.ends {
            let piece = self.text[start..end].trim_start();
            // A lone `;` (or one after a comment only) is no statement.
            if scan(&piece[..piece.len() - 1]).rest_has_sql {
                statements.push(piece.to_string());
            }
            start = end;
        }
        if found.rest_has_sql {
            self.text = self.text[start..].trim_start().to_string();
        } else {
            self.text.clear();
        }
        statements
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_semicolons_outside_quotes_and_comments() {
        let mut b = InputBuffer::default();
        assert!(b.push_line("SELECT 'a;b', \"c;\" -- d;").is_empty());
        assert!(!b.is_empty());
        assert!(b.push_line("/* x; /* y; */ z; */ FROM t").is_empty());
        let s = b.push_line("; SELECT 2; SELECT");
        assert_eq!(s, vec!["SELECT 'a;b', \"c;\" -- d;\n/* x; /* y; */ z; */ FROM t\n;", "SELECT 2;"]);
        assert_eq!(b.text(), "SELECT");
        assert_eq!(b.push_line("3;"), vec!["SELECT\n3;"]);
        assert!(b.is_empty());
    }

    #[test]
    fn blanks_comments_and_lone_semicolons_are_not_statements() {
        let mut b = InputBuffer::default();
        assert!(b.push_line("  -- only a comment").is_empty());
        assert!(b.is_empty());
        assert!(b.push_line(";;").is_empty());
        assert!(b.is_empty());
        assert_eq!(b.push_line("SELECT 'it''s;';  "), vec!["SELECT 'it''s;';"]);
        assert!(b.is_empty());
    }
}
