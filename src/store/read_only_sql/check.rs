//! The lexical checks on agent-written SQL, before it reaches the database: one statement, a
//! SELECT (or WITH … SELECT), and only functions from an allow-list; then the names it uses,
//! read from its syntax tree (`names.rs`): only the KPI tables, allowed functions and types.
//!
//! Row-level security and grants decide what the query may see, but they cannot stop SQL that
//! changes the transaction's own identity: `set_config('request.jwt.claims', …)` claims another
//! user, and `set_config('role', 'none', …)` drops back to the connecting (owner) role, which
//! RLS does not restrict. Functions that run SQL text (`query_to_xml`, `ts_stat`) would smuggle
//! such a call inside a string. So function calls are checked against an allow-list (see
//! docs/schema.md, Known limits); everything else gets a clear message for the model.
//! Grants leave the system catalogs readable by every role, so the catalogs, and the functions
//! and casts that read them, are kept out here too (`allowed.rs`).

mod tokens;

use self::tokens::{Token, tokenize};
use super::allowed::{ALLOWED_FUNCTIONS, OPERATOR_REFUSAL, TIMEOUT_BOUND_FUNCTIONS, function_refusal};

/// SQL keywords that may stand before `(` without being a function call.
#[rustfmt::skip]
const KEYWORDS_BEFORE_PAREN: &[&str] = &[
    "all", "and", "any", "array", "as", "between", "by", "case", "cast", "cube", "distinct",
    "else", "escape", "except", "exists", "filter", "from", "group", "grouping", "having",
    "ilike", "in", "intersect", "is", "join", "lateral", "like", "limit", "materialized", "not",
    "offset", "on", "or", "over", "overlaps", "recursive", "rollup", "row", "select", "sets",
    "similar", "some", "then", "union", "using", "values", "when", "where", "with", "within",
    // type names with a modifier: numeric(10, 2), varchar(20), timestamp(0)
    "bit", "char", "character", "dec", "decimal", "float", "interval", "numeric", "time",
    "timestamp", "timestamptz", "varchar", "varying",
];

/// Statements that write, and the message that refuses them.
const WRITE_KEYWORDS: &[&str] = &["insert", "update", "delete", "merge", "truncate", "copy"];
#[rustfmt::skip]
const DDL_KEYWORDS: &[&str] = &[
    "alter", "analyze", "call", "cluster", "comment", "create", "do", "drop", "grant", "lock",
    "refresh", "reindex", "reset", "revoke", "set", "vacuum",
];

/// What the database can do about a statement that runs too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeouts {
    /// `statement_timeout` stops it (external Postgres).
    Enforced,
    /// The statement runs to its end (the embedded server ignores `statement_timeout`).
    Ignored,
}

#[derive(Debug, Clone, Copy)]
struct Located {
    token: usize,
    start: usize,
}

/// Checks `sql` and returns the one statement to run, without its trailing semicolon.
/// The error is a sentence for the model: what is wrong and what to do instead.
pub fn check(sql: &str, timeouts: Timeouts) -> Result<&str, String> {
    let (tokens, starts) = tokenize(sql)?;
    let Some(first) = tokens.first() else {
        return Err("the query is empty: send one SELECT statement".into());
    };
    let end = statement_end(&tokens, &starts, sql.len())?;
    let tokens = &tokens[..end.token];
    check_first_word(first)?;
    check_parentheses(tokens)?;
    check_calls(tokens, timeouts)?;
    let statement = sql[..end.start].trim_end();
    let words: Vec<&str> = tokens
        .iter()
        .filter_map(|token| match token {
            Token::Word { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    super::names::check(statement, &words, timeouts)?;
    Ok(statement)
}

/// Where the statement ends: at a semicolon followed by nothing, or at the end of the text.
fn statement_end(tokens: &[Token], starts: &[usize], len: usize) -> Result<Located, String> {
    match tokens.iter().position(|t| *t == Token::Semicolon) {
        None => Ok(Located {
            token: tokens.len(),
            start: len,
        }),
        Some(i) if tokens[i + 1..].iter().all(|t| *t == Token::Semicolon) => Ok(Located {
            token: i,
            start: starts[i],
        }),
        Some(_) => Err("only one statement is allowed: remove everything after the first semicolon".into()),
    }
}

fn check_first_word(first: &Token) -> Result<(), String> {
    let word = match first {
        Token::Word { text, quoted: false } => text.as_str(),
        _ => "",
    };
    if matches!(word, "select" | "with") {
        Ok(())
    } else if WRITE_KEYWORDS.contains(&word) {
        Err(format!(
            "sql_query is read-only: {} is refused; only SELECT (or WITH … SELECT) runs",
            word.to_uppercase()
        ))
    } else if DDL_KEYWORDS.contains(&word) {
        Err(format!(
            "sql_query is read-only: {} statements are refused; only SELECT (or WITH … SELECT) runs",
            word.to_uppercase()
        ))
    } else {
        Err("the query must start with SELECT or WITH".into())
    }
}

fn check_parentheses(tokens: &[Token]) -> Result<(), String> {
    let mut depth = 0_i32;
    for token in tokens {
        match token {
            Token::Open => depth += 1,
            Token::Close => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced parentheses: a `)` has no matching `(`".into());
                }
            }
            _ => {}
        }
    }
    if depth == 0 {
        Ok(())
    } else {
        Err("unbalanced parentheses: a `(` is never closed".into())
    }
}

/// Every word followed by `(` must be an allowed function, a keyword, a type modifier, or a
/// column list (`AS t(a, b)`, a CTE's `name(a, b) AS (…)`).
fn check_calls(tokens: &[Token], timeouts: Timeouts) -> Result<(), String> {
    for (i, token) in tokens.iter().enumerate() {
        let Token::Word { text, quoted } = token else {
            continue;
        };
        if tokens.get(i + 1) != Some(&Token::Open) {
            continue;
        }
        let previous = i.checked_sub(1).map(|p| &tokens[p]);
        // `schema.name(` is always a function call, whatever the name.
        if previous != Some(&Token::Dot) {
            let keyword = !quoted && KEYWORDS_BEFORE_PAREN.contains(&text.as_str());
            let column_list =
                previous.is_some_and(|p| matches!(p, Token::Close | Token::Cast) || is_word(p, "as"));
            if keyword || column_list || is_cte_name(tokens, i) {
                continue;
            }
        }
        if ALLOWED_FUNCTIONS.contains(&text.as_str()) {
            continue;
        }
        if !quoted && text == "operator" {
            return Err(OPERATOR_REFUSAL.into());
        }
        if TIMEOUT_BOUND_FUNCTIONS.contains(&text.as_str()) {
            if timeouts == Timeouts::Enforced {
                continue;
            }
            return Err(format!(
                "{text}() is not available here: this database cannot stop a statement at its timeout"
            ));
        }
        return Err(function_refusal(text));
    }
    // A data-modifying CTE: WITH x AS (DELETE …).
    for pair in tokens.windows(2) {
        if let [Token::Open, Token::Word { text, quoted: false }] = pair
            && WRITE_KEYWORDS.contains(&text.as_str())
        {
            return Err(read_only_refusal(text));
        }
    }
    Ok(())
}

fn read_only_refusal(word: &str) -> String {
    format!(
        "sql_query is read-only: {} is refused; only SELECT (or WITH … SELECT) runs",
        word.to_uppercase()
    )
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word { text, quoted: false } if text == word)
}

/// `name (a, b) AS (`, `AS MATERIALIZED (` or `AS NOT MATERIALIZED (`: a CTE with a column
/// list. The final `(` matters: `f(x) AS not` and `f(x) AS materialized` are a call with a
/// column label (any keyword may follow AS).
fn is_cte_name(tokens: &[Token], name: usize) -> bool {
    let mut depth = 0_usize;
    for (i, token) in tokens.iter().enumerate().skip(name + 1) {
        match token {
            Token::Open => depth += 1,
            Token::Close => {
                depth -= 1;
                if depth == 0 {
                    let mut rest = tokens[i + 1..].iter();
                    if !rest.next().is_some_and(|t| is_word(t, "as")) {
                        return false;
                    }
                    let mut next = rest.next();
                    if next.is_some_and(|t| is_word(t, "not")) {
                        next = rest.next();
                    }
                    if next.is_some_and(|t| is_word(t, "materialized")) {
                        next = rest.next();
                    }
                    return next == Some(&Token::Open);
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests;
