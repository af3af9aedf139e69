//! The tokenizer behind the lexical checks: words (folded unless quoted), parentheses,
//! semicolons, dots and casts; literals and comments are skipped.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
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

/// Splits `sql` into tokens (with their byte offsets), skipping whitespace and comments.
pub(super) fn tokenize(sql: &str) -> Result<(Vec<Token>, Vec<usize>), String> {
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
