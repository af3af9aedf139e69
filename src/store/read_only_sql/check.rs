//! The lexical checks on agent-written SQL, before it reaches the database: one statement, a
//! SELECT (or WITH … SELECT), and only functions from an allow-list.
//!
//! Row-level security and grants decide what the query may see, but they cannot stop SQL that
//! changes the transaction's own identity: `set_config('request.jwt.claims', …)` claims another
//! user, and `set_config('role', 'none', …)` drops back to the connecting (owner) role, which
//! RLS does not restrict. Functions that run SQL text (`query_to_xml`, `ts_stat`) would smuggle
//! such a call inside a string. So function calls are checked against an allow-list (see
//! docs/schema.md, Known limits); everything else gets a clear message for the model.

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

/// Functions a read-only analysis may call: aggregates, window functions, arithmetic, text,
/// dates, JSON and arrays. None of them changes settings, runs SQL text, sleeps or locks.
#[rustfmt::skip]
const ALLOWED_FUNCTIONS: &[&str] = &[
    // aggregates
    "array_agg", "avg", "bool_and", "bool_or", "corr", "count", "covar_pop", "covar_samp",
    "every", "json_agg", "json_object_agg", "jsonb_agg", "jsonb_object_agg", "max", "min", "mode",
    "percentile_cont", "percentile_disc", "regr_intercept", "regr_r2", "regr_slope", "stddev",
    "stddev_pop", "stddev_samp", "string_agg", "sum", "var_pop", "var_samp", "variance",
    // window functions
    "cume_dist", "dense_rank", "first_value", "lag", "last_value", "lead", "nth_value", "ntile",
    "percent_rank", "rank", "row_number",
    // conditionals and arithmetic
    "abs", "cbrt", "ceil", "ceiling", "coalesce", "div", "exp", "floor", "greatest", "least",
    "ln", "log", "log10", "mod", "nullif", "num_nonnulls", "num_nulls", "pi", "pow", "power",
    "round", "scale", "sign", "sqrt", "trunc", "width_bucket",
    // text
    "btrim", "char_length", "character_length", "concat", "concat_ws", "format", "initcap",
    "left", "length", "lower", "lpad", "ltrim", "md5", "octet_length", "overlay", "position",
    "regexp_match", "regexp_matches", "regexp_replace", "regexp_split_to_array",
    "regexp_split_to_table", "repeat", "replace", "reverse", "right", "rpad", "rtrim",
    "split_part", "starts_with", "strpos", "substr", "substring", "to_char", "to_number",
    "translate", "trim", "upper",
    // dates
    "age", "date", "date_bin", "date_part", "date_trunc", "extract", "generate_series",
    "isfinite", "justify_days", "justify_hours", "justify_interval", "make_date", "make_interval",
    "make_timestamp", "now", "to_date", "to_timestamp",
    // JSON and arrays
    "array_append", "array_length", "array_position", "array_remove", "array_to_string",
    "cardinality", "json_array_elements", "json_build_array", "json_build_object", "json_each",
    "json_typeof", "jsonb_array_elements", "jsonb_build_array", "jsonb_build_object",
    "jsonb_each", "jsonb_object_keys", "jsonb_typeof", "row_to_json", "string_to_array",
    "to_json", "to_jsonb", "unnest",
];

/// Functions that only make sense where the database can stop a statement at its timeout.
const TIMEOUT_BOUND_FUNCTIONS: &[&str] = &["pg_sleep"];

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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An identifier or keyword: lower-cased unless it was double-quoted.
    Word {
        text: String,
        quoted: bool,
    },
    Open,
    Close,
    Semicolon,
    Dot,
    Cast,
    /// Literals, numbers, operators, commas: nothing the checks look at.
    Other,
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
    Ok(sql[..end.start].trim_end())
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
        if TIMEOUT_BOUND_FUNCTIONS.contains(&text.as_str()) {
            if timeouts == Timeouts::Enforced {
                continue;
            }
            return Err(format!(
                "{text}() is not available here: this database cannot stop a statement at its timeout"
            ));
        }
        return Err(format!(
            "the function {text}() is not allowed in sql_query; use aggregates (sum, avg, count, \
             min, max), window functions, arithmetic, text, date (date_trunc, extract, \
             generate_series), JSON or array functions"
        ));
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

/// Splits `sql` into tokens (with their byte offsets), skipping whitespace and comments.
fn tokenize(sql: &str) -> Result<(Vec<Token>, Vec<usize>), String> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut starts = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let token = match c {
            b if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = skip_block_comment(bytes, i)?;
                continue;
            }
            b'\'' => {
                i = skip_string(bytes, i, false)?;
                Token::Other
            }
            b'"' => {
                let (end, text) = quoted_identifier(sql, i)?;
                i = end;
                Token::Word { text, quoted: true }
            }
            b'$' => {
                i = skip_dollar(sql, i)?;
                Token::Other
            }
            b'(' => {
                i += 1;
                Token::Open
            }
            b')' => {
                i += 1;
                Token::Close
            }
            b';' => {
                i += 1;
                Token::Semicolon
            }
            b'.' if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i += 1;
                Token::Dot
            }
            b':' if bytes.get(i + 1) == Some(&b':') => {
                i += 2;
                Token::Cast
            }
            b if b.is_ascii_digit() || b == b'.' => {
                i = skip_number(bytes, i);
                Token::Other
            }
            b if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                let end = word_end(bytes, i);
                let word = &sql[i..end];
                i = end;
                match (word.to_ascii_lowercase().as_str(), bytes.get(i)) {
                    ("u", Some(b'&')) if matches!(bytes.get(i + 1), Some(b'\'' | b'"')) => {
                        return Err("Unicode escapes (U&'…') are not supported in sql_query".into());
                    }
                    ("e", Some(b'\'')) => {
                        i = skip_string(bytes, i, true)?;
                        Token::Other
                    }
                    ("b" | "x" | "n", Some(b'\'')) => {
                        i = skip_string(bytes, i, false)?;
                        Token::Other
                    }
                    (lower, _) => Token::Word {
                        text: lower.to_owned(),
                        quoted: false,
                    },
                }
            }
            _ => {
                i += 1;
                Token::Other
            }
        };
        tokens.push(token);
        starts.push(start);
    }
    Ok((tokens, starts))
}

fn word_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len()
        && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'$') || bytes[i] >= 0x80)
    {
        i += 1;
    }
    i
}

fn skip_number(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'0'..=b'9' | b'.' | b'_' => i += 1,
            b'e' | b'E' if matches!(bytes.get(i + 1), Some(b'+' | b'-')) => i += 2,
            b if b.is_ascii_alphabetic() => i += 1,
            _ => break,
        }
    }
    i
}

/// Skips `/* … */`, which nests in Postgres.
fn skip_block_comment(bytes: &[u8], mut i: usize) -> Result<usize, String> {
    let mut depth = 0_usize;
    while i < bytes.len() {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Ok(i);
            }
        } else {
            i += 1;
        }
    }
    Err("a /* comment is never closed".into())
}

/// Skips a '…' literal starting at `i` ('' is a quote; with `backslash`, \' is one too).
fn skip_string(bytes: &[u8], mut i: usize, backslash: bool) -> Result<usize, String> {
    i += 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash => i += 2,
            b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err("a string literal is never closed (a ' is missing)".into())
}

fn quoted_identifier(sql: &str, start: usize) -> Result<(usize, String), String> {
    let bytes = sql.as_bytes();
    let mut text = String::new();
    let mut i = start + 1;
    let mut from = i;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            text.push_str(&sql[from..i]);
            if bytes.get(i + 1) == Some(&b'"') {
                text.push('"');
                i += 2;
                from = i;
            } else {
                return Ok((i + 1, text));
            }
        } else {
            i += 1;
        }
    }
    Err("a quoted identifier is never closed (a \" is missing)".into())
}

/// Skips a dollar-quoted literal `$tag$ … $tag$`; `$1` (a parameter) is a lone token.
fn skip_dollar(sql: &str, start: usize) -> Result<usize, String> {
    let bytes = sql.as_bytes();
    let mut i = start + 1;
    if bytes.get(i).is_some_and(u8::is_ascii_digit) {
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        return Ok(i);
    }
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80) {
        i += 1;
    }
    if bytes.get(i) != Some(&b'$') {
        return Err("a stray `$` in the query".into());
    }
    let tag = &sql[start..=i];
    sql[i + 1..]
        .find(tag)
        .map(|n| i + 1 + n + tag.len())
        .ok_or_else(|| format!("a {tag}-quoted string is never closed"))
}

#[cfg(test)]
mod tests;
