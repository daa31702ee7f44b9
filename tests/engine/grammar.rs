//! Runs every example of `grammar/wavecrest.ebnf` in a fresh session, and checks that every
//! production of the grammar is followed by at least one example.
//!
//! An example is a comment of the form `(* example: <name>` … `*)` (the closing `*)` alone
//! on its line). Statements that start a continuous query are run to completion.

use wavecrest::runtime::Cancel;
use wavecrest::sink::collect::CollectSink;
use wavecrest::sql::parse_statements;
use wavecrest::{Output, Session};

const GRAMMAR: &str = include_str!("../../grammar/wavecrest.ebnf");

struct Example {
    name: String,
    sql: String,
}

/// Extracts the examples; fails if a production has no example before the next production.
fn examples(grammar: &str) -> (Vec<Example>, usize) {
    let mut out: Vec<Example> = Vec::new();
    let mut current: Option<Example> = None;
    let mut depth = 0i32;
    let mut pending: Option<String> = None;
    let mut productions = 0;
    for (n, line) in grammar.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(ex) = current.as_mut() {
            if trimmed == "*)" {
                out.extend(current.take());
            } else {
                ex.sql.push_str(line);
                ex.sql.push('\n');
            }
            continue;
        }
        if depth == 0 {
            if let Some(name) = trimmed.strip_prefix("(* example:") {
                pending = None;
                current = Some(Example { name: name.trim().to_string(), sql: String::new() });
                continue;
            }
            if let Some((name, _)) = line.split_once("::=") {
                let name = name.trim().to_string();
                if let Some(prev) = pending.replace(name) {
                    panic!("line {}: production '{prev}' has no example before the next one", n + 1);
                }
                productions += 1;
            }
        }
        depth += line.matches("(*").count() as i32 - line.matches("*)").count() as i32;
    }
    assert!(current.is_none(), "an example is not closed by a line holding only '*)'");
    assert!(pending.is_none(), "production '{}' has no example", pending.unwrap_or_default());
    (out, productions)
}

async fn run_example(sql: &str) -> wavecrest::Result<()> {
    let mut session = Session::new();
    for stmt in parse_statements(sql)? {
        if let Output::Continuous(c) = session.execute(&stmt)? {
            let sink = |_: &_| Ok(Box::new(CollectSink::new()) as _);
            session.run(vec![c], sink, false, Cancel::new()).await?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_grammar_example_runs() {
    let (examples, productions) = examples(GRAMMAR);
    assert!(productions > 0, "no productions found");
    assert!(examples.len() >= productions, "{} examples for {productions} productions", examples.len());
    let mut failures = Vec::new();
    for ex in &examples {
        assert!(ex.sql.trim_end().ends_with(';'), "example '{}' must end with ';'", ex.name);
        if let Err(e) = run_example(&ex.sql).await {
            failures.push(format!("example '{}': {e}\n{}", ex.name, ex.sql));
        }
    }
    assert!(failures.is_empty(), "{} of {} examples failed:\n{}", failures.len(), examples.len(), failures.join("\n"));
}
