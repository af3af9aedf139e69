//! Streams the text of a grammar-constrained tool answer while it is being generated.
//!
//! With tools offered, the local model answers `{"type":"text","content":"…"}` or
//! `{"type":"tool_call",…}` (see `grammar::tool_schema`). A user should not wait for the whole
//! JSON to see the text, so this reads the output as it grows: once it is certain the answer is
//! text, the decoded characters of `content` are released as soon as they are complete.

/// What the answer turned out to be so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Too little output to tell.
    Unknown,
    /// A text answer: `content` starts at this byte of the output.
    Text { next: usize },
    /// A text answer whose `content` string has ended.
    TextDone,
    /// A tool call (or something else): nothing to stream.
    Other,
}

#[derive(Debug)]
pub struct ToolAnswerStream {
    output: String,
    shape: Shape,
    released: String,
}

impl Default for ToolAnswerStream {
    fn default() -> Self {
        Self::new()
    }
}

impl ToolAnswerStream {
    pub fn new() -> Self {
        Self {
            output: String::new(),
            shape: Shape::Unknown,
            released: String::new(),
        }
    }

    /// Adds generated output; returns the answer text that became certain (possibly empty).
    pub fn push(&mut self, piece: &str) -> String {
        self.output.push_str(piece);
        if self.shape == Shape::Unknown {
            self.shape = match text_content_start(&self.output) {
                Prefix::Text(next) => Shape::Text { next },
                Prefix::Incomplete => Shape::Unknown,
                Prefix::Other => Shape::Other,
            };
        }
        let Shape::Text { next } = self.shape else {
            return String::new();
        };
        let (text, consumed, ended) = decode_json_string(&self.output[next..]);
        self.shape = if ended {
            Shape::TextDone
        } else {
            Shape::Text {
                next: next + consumed,
            }
        };
        self.released.push_str(&text);
        text
    }

    /// The whole output so far.
    pub fn output(&self) -> &str {
        &self.output
    }

    /// The text released so far.
    pub fn released(&self) -> &str {
        &self.released
    }
}

enum Prefix {
    /// `content`'s value starts at this byte.
    Text(usize),
    Incomplete,
    Other,
}

/// Matches `{ "type" : "text" , "content" : "` with any JSON whitespace between the tokens.
fn text_content_start(output: &str) -> Prefix {
    const TOKENS: [&str; 7] = ["{", "\"type\"", ":", "\"text\"", ",", "\"content\"", ":"];
    let mut rest = output;
    for token in TOKENS.iter().copied().chain(["\""]) {
        rest = rest.trim_start_matches([' ', '\t', '\n', '\r']);
        if rest.len() < token.len() {
            return if token.starts_with(rest) {
                Prefix::Incomplete
            } else {
                Prefix::Other
            };
        }
        match rest.strip_prefix(token) {
            Some(after) => rest = after,
            None => return Prefix::Other,
        }
    }
    Prefix::Text(output.len() - rest.len())
}

/// Decodes the inside of a JSON string up to its closing quote or to the last complete
/// character: (decoded text, bytes consumed, whether the closing quote was reached).
fn decode_json_string(input: &str) -> (String, usize, bool) {
    let mut text = String::new();
    let mut consumed = 0;
    let mut chars = input.char_indices().peekable();
    while let Some((at, ch)) = chars.next() {
        match ch {
            '"' => return (text, at + 1, true),
            '\\' => {
                let Some((decoded, len)) = decode_escape(&input[at..]) else {
                    // The escape is not complete yet: wait for more output.
                    return (text, consumed, false);
                };
                text.push(decoded);
                consumed = at + len;
                while chars.peek().is_some_and(|(next, _)| *next < consumed) {
                    chars.next();
                }
            }
            _ => {
                text.push(ch);
                consumed = at + ch.len_utf8();
            }
        }
    }
    (text, consumed, false)
}

/// One escape sequence at the start of `input` (which begins with `\`): the character and the
/// bytes it took, or `None` while incomplete. A malformed escape decodes as U+FFFD: the grammar
/// rules it out, and the final parse of the whole answer has the last word.
fn decode_escape(input: &str) -> Option<(char, usize)> {
    let kind = input.as_bytes().get(1)?;
    let simple = match kind {
        b'n' => Some('\n'),
        b't' => Some('\t'),
        b'r' => Some('\r'),
        b'b' => Some('\u{8}'),
        b'f' => Some('\u{c}'),
        b'"' => Some('"'),
        b'\\' => Some('\\'),
        b'/' => Some('/'),
        b'u' => None,
        _ => return Some(('\u{fffd}', 2)),
    };
    if let Some(ch) = simple {
        return Some((ch, 2));
    }
    let unit = hex4(input.get(2..6)?)?;
    if !(0xD800..0xDC00).contains(&unit) {
        return Some((char::from_u32(unit).unwrap_or('\u{fffd}'), 6));
    }
    // A high surrogate needs its low half: `\uD83D\uDE00`.
    if input.len() < 12 {
        return None;
    }
    let low = input
        .get(6..8)
        .filter(|s| *s == "\\u")
        .and_then(|_| hex4(input.get(8..12)?));
    let ch = low
        .filter(|low| (0xDC00..0xE000).contains(low))
        .and_then(|low| char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)));
    Some(ch.map_or(('\u{fffd}', 6), |ch| (ch, 12)))
}

fn hex4(digits: &str) -> Option<u32> {
    if digits.len() == 4 {
        u32::from_str_radix(digits, 16).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_in_pieces(output: &str, size: usize) -> (String, ToolAnswerStream) {
        let mut stream = ToolAnswerStream::new();
        let mut text = String::new();
        let chars: Vec<char> = output.chars().collect();
        for piece in chars.chunks(size) {
            text.push_str(&stream.push(&piece.iter().collect::<String>()));
        }
        (text, stream)
    }

    #[test]
    fn text_answers_stream_their_decoded_content_whatever_the_piece_size() {
        let output = r#"{ "type": "text", "content": "Hi \"you\"\n\u00e9 \ud83d\ude00 end" }"#;
        for size in 1..8 {
            let (text, stream) = stream_in_pieces(output, size);
            assert_eq!(text, "Hi \"you\"\né 😀 end", "piece size {size}");
            assert_eq!(stream.output(), output);
        }
    }

    #[test]
    fn tool_calls_stream_nothing() {
        let output = r#"{"type":"tool_call","name":"text","arguments":{"content":"x"}}"#;
        let (text, _) = stream_in_pieces(output, 3);
        assert_eq!(text, "");
    }

    #[test]
    fn an_unfinished_escape_waits_for_the_rest() {
        let mut stream = ToolAnswerStream::new();
        assert_eq!(stream.push(r#"{"type":"text","content":"a\"#), "a");
        assert_eq!(stream.push("u00"), "");
        assert_eq!(stream.push("e9b"), "éb");
        assert_eq!(stream.released(), "aéb");
    }
}
