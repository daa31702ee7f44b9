//! Row pattern matching for `MATCH_RECOGNIZE`: a pattern (a regular expression over
//! pattern variables) compiled to a small backtracking program.
//!
//! ```text
//! PATTERN (A B+? | C)          rows of a partition:  r0 r1 r2 r3 ...
//!   0: Split 1, 5                                    ▲ start
//!   1: Var A                   threads are tried in preference order (SQL:2016):
//!   2: Var B                   greedy quantifiers try one more iteration first,
//!   3: Split 5, 2  (reluctant)  reluctant ones try to stop first, alternation tries
//!   4: ...                      its left branch first. The first thread that reaches
//!   5: Var C                    `Match` is the preferred match.
//! ```
//!
//! Matching is streaming-aware: rows at index `avail` and beyond are not known yet. When a
//! thread needs such a row (or a predicate needs a row after the current one) before any
//! more preferred thread has matched, the answer is [`Outcome::NeedMore`]: the match at this
//! start cannot be decided until more rows are final. At the end of input ([`Tail::End`])
//! the missing rows do not exist; when rows may follow but none a match from this start
//! may use (`WITHIN` expired: [`Tail::Closed`]) matches cannot grow, but `$` still waits.

use std::cell::RefCell;

use crate::error::Result;

/// A pattern over variable indices.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub enum Pattern {
    /// One row satisfying the variable's `DEFINE` condition.
    Var(u16),
    /// `^`: the start of the partition.
    Start,
    /// `$`: the end of the partition (end of a bounded input).
    End,
    /// `{- p -}`: rows matched by `p` belong to the match but are not output by
    /// `ALL ROWS PER MATCH`.
    Exclude(Box<Pattern>),
    /// Patterns one after the other.
    Concat(Vec<Pattern>),
    /// The first pattern that matches, left first.
    Alt(Vec<Pattern>),
    /// `inner{min, max}` (`max = None`: unbounded); greedy or reluctant.
    Repeat {
        /// The repeated pattern.
        inner: Box<Pattern>,
        /// Least number of iterations.
        min: u32,
        /// Most iterations, if bounded.
        max: Option<u32>,
        /// Greedy (prefer more iterations) or reluctant (prefer fewer).
        greedy: bool,
    },
}

impl Pattern {
    /// The least number of rows a match of the pattern has.
    pub fn min_rows(&self) -> u64 {
        match self {
            Pattern::Var(_) => 1,
            Pattern::Start | Pattern::End => 0,
            Pattern::Exclude(p) => p.min_rows(),
            Pattern::Concat(ps) => ps.iter().map(Pattern::min_rows).sum(),
            Pattern::Alt(ps) => ps.iter().map(Pattern::min_rows).min().unwrap_or(0),
            Pattern::Repeat { inner, min, .. } => inner.min_rows().saturating_mul(*min as u64),
        }
    }

    /// The variable every match's first row is mapped to, if there is one (for `SKIP TO
    /// FIRST v` checks).
    pub fn always_starts_with(&self) -> Option<u16> {
        match self {
            Pattern::Var(v) => Some(*v),
            Pattern::Concat(ps) => {
                for p in ps {
                    match p {
                        Pattern::Start => continue,
                        p => return p.always_starts_with(),
                    }
                }
                None
            }
            Pattern::Repeat { inner, min, .. } if *min > 0 => inner.always_starts_with(),
            Pattern::Exclude(p) => p.always_starts_with(),
            _ => None,
        }
    }
}

/// One instruction of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inst {
    /// Consume the next row if it satisfies variable `.0`.
    Var(u16),
    /// Try `.0` first, then `.1`.
    Split(usize, usize),
    Jmp(usize),
    Start,
    End,
    /// Remember the position in mark register `.0` (start of a loop iteration).
    Mark(usize),
    /// Fail unless the position moved since the mark: stops empty iterations from looping.
    Progress(usize),
    /// Enter (`true`) or leave an exclusion `{- .. -}`.
    Exclude(bool),
    Match,
}

/// What may follow the known rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// More rows may follow, and a match may use them.
    Open,
    /// More rows may follow, but a match from this start cannot use them.
    Closed,
    /// The partition ends after the known rows (end of a bounded input).
    End,
}

/// What a row test says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The row satisfies the condition.
    True,
    /// It does not.
    False,
    /// The condition reads a row that is not final yet.
    NeedMore,
}

/// The result of looking for a match at a start row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The preferred match: `(row, variable)` per matched row, in row order, and the rows
    /// matched inside an exclusion `{- .. -}` (ascending).
    Match(Vec<(usize, u16)>, Vec<usize>),
    /// No match starts at this row.
    NoMatch,
    /// Undecided until rows from `avail` on are final.
    NeedMore,
}

/// Decides whether row `row` satisfies variable `var`'s condition, given the rows matched
/// so far (`path`, whose last element is `(row, var)` itself).
pub trait RowTest {
    /// See the trait docs.
    fn test(&mut self, var: u16, row: usize, path: &[(usize, u16)]) -> Result<Verdict>;
}

impl<F: FnMut(u16, usize, &[(usize, u16)]) -> Result<Verdict>> RowTest for F {
    fn test(&mut self, var: u16, row: usize, path: &[(usize, u16)]) -> Result<Verdict> {
        self(var, row, path)
    }
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Program {
    insts: Vec<Inst>,
    marks: usize,
    /// Buffers reused from search to search (a search runs per candidate start row, so
    /// allocating them each time would cost more than the search itself).
    scratch: RefCell<Scratch>,
}

#[derive(Debug, Clone, Default)]
struct Scratch {
    stack: Vec<Thread>,
    path: Vec<(usize, u16)>,
    excluded: Vec<usize>,
    /// Mark registers of all threads, `marks` per thread from its `marks_at`.
    marks: Vec<usize>,
}

#[derive(Debug, Clone)]
struct Thread {
    pc: usize,
    pos: usize,
    path_len: usize,
    /// Where the thread's mark registers start in [`Scratch::marks`].
    marks_at: usize,
    /// Exclusions the thread is inside.
    excluding: u32,
    excluded_len: usize,
}

impl Program {
    /// Compiles a pattern.
    pub fn compile(p: &Pattern) -> Program {
        let mut prog = Program { insts: Vec::new(), marks: 0, scratch: RefCell::default() };
        prog.emit(p);
        prog.insts.push(Inst::Match);
        prog
    }

    fn push(&mut self, i: Inst) -> usize {
        self.insts.push(i);
        self.insts.len() - 1
    }

    fn emit(&mut self, p: &Pattern) {
        match p {
            Pattern::Var(v) => {
                self.push(Inst::Var(*v));
            }
            Pattern::Start => {
                self.push(Inst::Start);
            }
            Pattern::End => {
                self.push(Inst::End);
            }
            Pattern::Exclude(p) => {
                self.push(Inst::Exclude(true));
                self.emit(p);
                self.push(Inst::Exclude(false));
            }
            Pattern::Concat(ps) => ps.iter().for_each(|p| self.emit(p)),
            Pattern::Alt(ps) => {
                let mut jumps = Vec::new();
                for (i, p) in ps.iter().enumerate() {
                    if i + 1 < ps.len() {
                        let split = self.push(Inst::Split(0, 0));
                        self.emit(p);
                        jumps.push(self.push(Inst::Jmp(0)));
                        self.insts[split] = Inst::Split(split + 1, self.insts.len());
                    } else {
                        self.emit(p);
                    }
                }
                let end = self.insts.len();
                for j in jumps {
                    self.insts[j] = Inst::Jmp(end);
                }
            }
            Pattern::Repeat { inner, min, max, greedy } => {
                for _ in 0..*min {
                    self.emit(inner);
                }
                let order =
                    |body: usize, exit: usize| if *greedy { Inst::Split(body, exit) } else { Inst::Split(exit, body) };
                match max {
                    None => {
                        let mark = self.marks;
                        self.marks += 1;
                        let split = self.push(Inst::Split(0, 0));
                        self.push(Inst::Mark(mark));
                        self.emit(inner);
                        self.push(Inst::Progress(mark));
                        self.push(Inst::Jmp(split));
                        self.insts[split] = order(split + 1, self.insts.len());
                    }
                    Some(max) => {
                        let mut splits = Vec::new();
                        for _ in *min..*max {
                            splits.push(self.push(Inst::Split(0, 0)));
                            self.emit(inner);
                        }
                        let exit = self.insts.len();
                        for s in splits {
                            self.insts[s] = order(s + 1, exit);
                        }
                    }
                }
            }
        }
    }

    /// Finds the preferred match starting at row `start`, over rows `0..avail` followed by
    /// `tail`. `partition_start` is the index of the partition's first row if it is still
    /// held (for `^`).
    pub fn find(
        &self,
        start: usize,
        avail: usize,
        tail: Tail,
        partition_start: Option<usize>,
        test: &mut dyn RowTest,
    ) -> Result<Outcome> {
        self.search(start, avail, tail, partition_start, test, &mut Vec::new())
    }

    /// The most preferred partial match from `start` that is still waiting for rows at
    /// `avail` or beyond (its rows so far, each with its variable), or `None` when every
    /// thread is decided over rows `0..avail` (a match, or no match at all). This is the
    /// partial match a `WITHIN .. EMIT TIMEOUTS` reports once its interval has passed.
    pub fn partial(
        &self,
        start: usize,
        avail: usize,
        partition_start: Option<usize>,
        test: &mut dyn RowTest,
    ) -> Result<Option<Vec<(usize, u16)>>> {
        let mut waiting = Vec::new();
        Ok(match self.search(start, avail, Tail::Open, partition_start, test, &mut waiting)? {
            Outcome::NeedMore => Some(waiting),
            Outcome::Match(..) | Outcome::NoMatch => None,
        })
    }

    /// [`Program::find`]; on [`Outcome::NeedMore`] `waiting` holds the rows the waiting
    /// thread has matched (without a row whose verdict is still open).
    fn search(
        &self,
        start: usize,
        avail: usize,
        tail: Tail,
        partition_start: Option<usize>,
        test: &mut dyn RowTest,
        waiting: &mut Vec<(usize, u16)>,
    ) -> Result<Outcome> {
        let mut scratch = self.scratch.borrow_mut();
        let Scratch { stack, path, excluded, marks } = &mut *scratch;
        let m = self.marks;
        stack.clear();
        path.clear();
        excluded.clear();
        marks.clear();
        marks.resize(m, usize::MAX);
        stack.push(Thread { pc: 0, pos: start, path_len: 0, marks_at: 0, excluding: 0, excluded_len: 0 });
        'threads: while let Some(mut t) = stack.pop() {
            path.truncate(t.path_len);
            excluded.truncate(t.excluded_len);
            loop {
                match self.insts[t.pc] {
                    Inst::Var(v) => {
                        if t.pos >= avail {
                            if tail == Tail::Open {
                                *waiting = path.clone();
                                return Ok(Outcome::NeedMore);
                            }
                            continue 'threads;
                        }
                        path.push((t.pos, v));
                        match test.test(v, t.pos, path)? {
                            Verdict::True => {
                                if t.excluding > 0 {
                                    excluded.push(t.pos);
                                }
                                t.pos += 1;
                                t.pc += 1;
                            }
                            Verdict::False => continue 'threads,
                            Verdict::NeedMore => {
                                path.pop();
                                *waiting = path.clone();
                                return Ok(Outcome::NeedMore);
                            }
                        }
                    }
                    Inst::Split(a, b) => {
                        let marks_at = marks.len();
                        marks.extend_from_within(t.marks_at..t.marks_at + m);
                        stack.push(Thread {
                            pc: b,
                            pos: t.pos,
                            path_len: path.len(),
                            marks_at,
                            excluding: t.excluding,
                            excluded_len: excluded.len(),
                        });
                        t.pc = a;
                    }
                    Inst::Exclude(enter) => {
                        if enter {
                            t.excluding += 1;
                        } else {
                            t.excluding -= 1;
                        }
                        t.pc += 1;
                    }
                    Inst::Jmp(a) => t.pc = a,
                    Inst::Start => {
                        if partition_start != Some(t.pos) {
                            continue 'threads;
                        }
                        t.pc += 1;
                    }
                    Inst::End => {
                        if t.pos < avail {
                            continue 'threads;
                        }
                        if tail != Tail::End {
                            *waiting = path.clone();
                            return Ok(Outcome::NeedMore);
                        }
                        t.pc += 1;
                    }
                    Inst::Mark(r) => {
                        marks[t.marks_at + r] = t.pos;
                        t.pc += 1;
                    }
                    Inst::Progress(r) => {
                        if t.pos <= marks[t.marks_at + r] {
                            continue 'threads;
                        }
                        t.pc += 1;
                    }
                    Inst::Match => return Ok(Outcome::Match(path.clone(), excluded.clone())),
                }
            }
        }
        Ok(Outcome::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Variables are letters: A = 0, B = 1, ...; by default variable X matches rows labelled x.
    fn v(c: char) -> Pattern {
        Pattern::Var(c as u16 - 'A' as u16)
    }
    fn cat(ps: Vec<Pattern>) -> Pattern {
        Pattern::Concat(ps)
    }
    fn alt(ps: Vec<Pattern>) -> Pattern {
        Pattern::Alt(ps)
    }
    fn rep(p: Pattern, min: u32, max: Option<u32>, greedy: bool) -> Pattern {
        Pattern::Repeat { inner: Box::new(p), min, max, greedy }
    }
    fn plus(p: Pattern) -> Pattern {
        rep(p, 1, None, true)
    }
    fn star(p: Pattern) -> Pattern {
        rep(p, 0, None, true)
    }

    /// Matches `pattern` at `start` of `rows` (labels), all rows final. The result is the
    /// matched rows as variable letters, e.g. "ABB".
    fn run(pattern: &Pattern, rows: &str, start: usize) -> Option<String> {
        run_with(pattern, rows, start, true).map(|r| r.expect("decided"))
    }

    fn run_with(pattern: &Pattern, rows: &str, start: usize, is_final: bool) -> Option<Option<String>> {
        let labels: Vec<char> = rows.chars().collect();
        let prog = Program::compile(pattern);
        let mut test = |var: u16, row: usize, _: &[(usize, u16)]| -> Result<Verdict> {
            let want = (b'a' + var as u8) as char;
            Ok(if labels[row] == want || labels[row] == '*' { Verdict::True } else { Verdict::False })
        };
        let tail = if is_final { Tail::End } else { Tail::Open };
        match prog.find(start, labels.len(), tail, Some(0), &mut test).unwrap() {
            Outcome::Match(p, _) => Some(Some(p.iter().map(|(_, v)| (b'A' + *v as u8) as char).collect())),
            Outcome::NoMatch => None,
            Outcome::NeedMore => Some(None),
        }
    }

    #[test]
    fn concatenation_and_greedy_plus() {
        let p = cat(vec![v('A'), plus(v('B'))]);
        assert_eq!(run(&p, "abbbc", 0).as_deref(), Some("ABBB"));
        assert_eq!(run(&p, "acbb", 0), None);
        assert_eq!(run(&p, "abbbc", 1), None);
    }

    #[test]
    fn greedy_prefers_more_reluctant_prefers_fewer() {
        // `*` rows match both A and B: A+ takes all it can, A+? as few as possible.
        let greedy = cat(vec![plus(v('A')), v('B')]);
        assert_eq!(run(&greedy, "***b", 0).as_deref(), Some("AAAB"));
        let reluctant = cat(vec![rep(v('A'), 1, None, false), v('B')]);
        assert_eq!(run(&reluctant, "***b", 0).as_deref(), Some("AB"));
        let star_reluctant = cat(vec![rep(v('A'), 0, None, false), v('B')]);
        assert_eq!(run(&star_reluctant, "**b", 0).as_deref(), Some("B"));
        let opt_reluctant = cat(vec![rep(v('A'), 0, Some(1), false), v('B')]);
        assert_eq!(run(&opt_reluctant, "*b", 0).as_deref(), Some("B"));
        let opt_greedy = cat(vec![rep(v('A'), 0, Some(1), true), v('B')]);
        assert_eq!(run(&opt_greedy, "*b", 0).as_deref(), Some("AB"));
    }

    #[test]
    fn alternation_prefers_left_even_if_shorter() {
        let p = alt(vec![v('A'), cat(vec![v('A'), v('B')])]);
        assert_eq!(run(&p, "*b", 0).as_deref(), Some("A"));
        let p = alt(vec![cat(vec![v('A'), v('B')]), v('A')]);
        assert_eq!(run(&p, "*b", 0).as_deref(), Some("AB"));
        assert_eq!(run(&p, "ac", 0).as_deref(), Some("A"));
    }

    #[test]
    fn bounded_quantifiers() {
        let p = |min, max| cat(vec![rep(v('A'), min, max, true), v('B')]);
        assert_eq!(run(&p(2, Some(2)), "aab", 0).as_deref(), Some("AAB"));
        assert_eq!(run(&p(2, Some(2)), "ab", 0), None);
        assert_eq!(run(&p(2, Some(2)), "aaab", 0), None);
        assert_eq!(run(&p(2, None), "aaaab", 0).as_deref(), Some("AAAAB"));
        assert_eq!(run(&p(1, Some(3)), "aaab", 0).as_deref(), Some("AAAB"));
        assert_eq!(run(&p(1, Some(3)), "aaaab", 0), None);
        assert_eq!(run(&p(0, Some(2)), "b", 0).as_deref(), Some("B"));
        // Reluctant {1,3}? takes one row when B can follow.
        let r = cat(vec![rep(v('A'), 1, Some(3), false), v('B')]);
        assert_eq!(run(&r, "***b", 0).as_deref(), Some("AB"));
    }

    #[test]
    fn grouping_with_quantifiers_and_backtracking() {
        // (A B)+ C over abab c
        let p = cat(vec![plus(cat(vec![v('A'), v('B')])), v('C')]);
        assert_eq!(run(&p, "ababc", 0).as_deref(), Some("ABABC"));
        // Greedy A* must give rows back for the A that follows.
        let p = cat(vec![star(v('A')), v('A'), v('B')]);
        assert_eq!(run(&p, "aaab", 0).as_deref(), Some("AAAB"));
    }

    #[test]
    fn empty_iterations_do_not_loop() {
        let p = cat(vec![star(star(v('A'))), v('B')]);
        assert_eq!(run(&p, "aab", 0).as_deref(), Some("AAB"));
        assert_eq!(run(&p, "c", 0), None);
    }

    #[test]
    fn anchors() {
        let p = cat(vec![Pattern::Start, v('A')]);
        assert_eq!(run(&p, "aa", 0).as_deref(), Some("A"));
        assert_eq!(run(&p, "aa", 1), None);
        let p = cat(vec![v('A'), Pattern::End]);
        assert_eq!(run(&p, "aa", 0), None);
        assert_eq!(run(&p, "aa", 1).as_deref(), Some("A"));
        // Not final: `$` cannot be decided at the last known row, even when matches can
        // no longer grow.
        assert_eq!(run_with(&p, "aa", 1, false), Some(None));
        let prog = Program::compile(&p);
        let mut any = |_: u16, _: usize, _: &[(usize, u16)]| -> Result<Verdict> { Ok(Verdict::True) };
        assert_eq!(prog.find(1, 2, Tail::Closed, Some(0), &mut any).unwrap(), Outcome::NeedMore);
    }

    #[test]
    fn undecided_until_rows_are_final() {
        // A B+ with more B possible: the greedy match may still grow.
        let p = cat(vec![v('A'), plus(v('B'))]);
        assert_eq!(run_with(&p, "abb", 0, false), Some(None));
        assert_eq!(run_with(&p, "abbc", 0, false), Some(Some("ABB".into())));
        // Reluctant: the shortest match is preferred and decided at once.
        let p = cat(vec![v('A'), rep(v('B'), 1, None, false)]);
        assert_eq!(run_with(&p, "abb", 0, false), Some(Some("AB".into())));
        // A left branch that needs an unseen row holds back a right branch that matched.
        let p = alt(vec![cat(vec![v('A'), v('B')]), v('A')]);
        assert_eq!(run_with(&p, "a", 0, false), Some(None));
        assert_eq!(run_with(&p, "a", 0, true), Some(Some("A".into())));
        // Rows may follow but cannot join this match: decided now.
        let prog = Program::compile(&p);
        let mut is_a = |var: u16, _: usize, _: &[(usize, u16)]| -> Result<Verdict> {
            Ok(if var == 0 { Verdict::True } else { Verdict::False })
        };
        assert_eq!(prog.find(0, 1, Tail::Closed, Some(0), &mut is_a).unwrap(), Outcome::Match(vec![(0, 0)], vec![]));
    }

    #[test]
    fn excluded_rows_are_reported_and_forgotten_on_backtracking() {
        // A {- B+ -} C over a b b c: the two b rows are excluded.
        let p = cat(vec![v('A'), Pattern::Exclude(Box::new(plus(v('B')))), v('C')]);
        let prog = Program::compile(&p);
        let labels: Vec<char> = "abbc".chars().collect();
        let mut test = |var: u16, row: usize, _: &[(usize, u16)]| -> Result<Verdict> {
            Ok(if labels[row] == (b'a' + var as u8) as char { Verdict::True } else { Verdict::False })
        };
        let Outcome::Match(path, excluded) = prog.find(0, 4, Tail::End, Some(0), &mut test).unwrap() else {
            panic!("no match")
        };
        assert_eq!(path.len(), 4);
        assert_eq!(excluded, vec![1, 2]);
        // ({- A -} B | A C) over a c: the excluded A of the failed first branch is undone.
        let p = alt(vec![cat(vec![Pattern::Exclude(Box::new(v('A'))), v('B')]), cat(vec![v('A'), v('C')])]);
        let prog = Program::compile(&p);
        let labels: Vec<char> = "ac".chars().collect();
        let mut test = |var: u16, row: usize, _: &[(usize, u16)]| -> Result<Verdict> {
            Ok(if labels[row] == (b'a' + var as u8) as char { Verdict::True } else { Verdict::False })
        };
        assert_eq!(
            prog.find(0, 2, Tail::End, Some(0), &mut test).unwrap(),
            Outcome::Match(vec![(0, 0), (1, 2)], vec![])
        );
    }

    #[test]
    fn partial_is_the_preferred_thread_still_waiting() {
        let label_test = |labels: &'static str| {
            move |var: u16, row: usize, _: &[(usize, u16)]| -> Result<Verdict> {
                let c = labels.as_bytes()[row];
                Ok(if c == b'a' + var as u8 { Verdict::True } else { Verdict::False })
            }
        };
        let letters = |p: Vec<(usize, u16)>| -> String { p.iter().map(|(_, v)| (b'A' + *v as u8) as char).collect() };
        // (A C | A B+ D) over a b b: A C failed; A B+ waits for a D or another B.
        let p = alt(vec![cat(vec![v('A'), v('C')]), cat(vec![v('A'), plus(v('B')), v('D')])]);
        let prog = Program::compile(&p);
        let waiting = prog.partial(0, 3, Some(0), &mut label_test("abb")).unwrap();
        assert_eq!(waiting.map(letters).as_deref(), Some("ABB"));
        // A thread that failed is no partial match; a complete match is none either.
        assert_eq!(prog.partial(0, 2, Some(0), &mut label_test("ax")).unwrap(), None);
        assert_eq!(prog.partial(0, 2, Some(0), &mut label_test("ac")).unwrap(), None);
    }

    #[test]
    fn min_rows_and_first_variable() {
        assert_eq!(star(v('A')).min_rows(), 0);
        assert_eq!(cat(vec![v('A'), rep(v('B'), 2, Some(3), true)]).min_rows(), 3);
        assert_eq!(alt(vec![v('A'), cat(vec![v('A'), v('B')])]).min_rows(), 1);
        assert_eq!(cat(vec![Pattern::Start, plus(v('B')), v('C')]).always_starts_with(), Some(1));
        assert_eq!(cat(vec![star(v('B')), v('C')]).always_starts_with(), None);
    }
}
