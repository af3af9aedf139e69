//! Splits a streaming answer into the free text a user sees at once and the tool call that
//! follows the syntax's trigger (see `tool_syntax`). Text is released as soon as it cannot be
//! the start of a trigger; from the trigger on, the output is the call, read once complete.

use super::tool_syntax::{DEEPSEEK_CALLS_BEGIN, MISTRAL_CALLS, PYTHON_TAG, ToolSyntax};

#[derive(Debug)]
pub struct CallStream {
    syntax: ToolSyntax,
    /// Output held back: it may still turn out to open a call.
    pending: String,
    /// The output from the trigger on, once a call has begun.
    call: Option<String>,
    /// Whether text was released already (a call that must lead the answer cannot follow).
    spoke: bool,
}

/// What an answer was, once generation ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Finished {
    /// Text not released before.
    pub text: String,
    /// The call text, from the trigger on.
    pub call: Option<String>,
}

impl CallStream {
    pub fn new(syntax: ToolSyntax) -> Self {
        Self {
            syntax,
            pending: String::new(),
            call: None,
            spoke: false,
        }
    }

    /// Adds generated output; returns the text that is certain now (possibly empty).
    pub fn push(&mut self, piece: &str) -> String {
        if let Some(call) = self.call.as_mut() {
            call.push_str(piece);
            return String::new();
        }
        self.pending.push_str(piece);
        let released = if self.syntax.calls_lead() {
            self.leading_call()
        } else {
            self.call_after_text()
        };
        self.spoke |= !released.is_empty();
        released
    }

    /// The call text so far, from the trigger on, once a call has begun.
    pub fn call(&self) -> Option<&str> {
        self.call.as_deref()
    }

    /// Ends the answer.
    pub fn finish(mut self) -> Finished {
        Finished {
            text: if self.call.is_some() {
                String::new()
            } else {
                std::mem::take(&mut self.pending)
            },
            call: self.call,
        }
    }

    /// Syntaxes whose call is the whole answer: a call opens it, or it is text.
    fn leading_call(&mut self) -> String {
        if self.spoke {
            return std::mem::take(&mut self.pending);
        }
        match opening(&self.pending, self.syntax == ToolSyntax::Llama3) {
            Opening::Call(start) => {
                self.call = Some(self.pending[start..].to_owned());
                self.pending.clear();
                String::new()
            }
            Opening::Undecided => String::new(),
            Opening::Text => std::mem::take(&mut self.pending),
        }
    }

    /// Syntaxes whose call opens with a word, which may follow text.
    fn call_after_text(&mut self) -> String {
        let word = match self.syntax {
            ToolSyntax::Mistral => MISTRAL_CALLS,
            ToolSyntax::DeepSeekR1 => DEEPSEEK_CALLS_BEGIN,
            _ => "<tool_call>",
        };
        match find_marker(&self.pending, word) {
            Marker::Found(at) => {
                let text = self.pending[..at].to_owned();
                self.call = Some(self.pending[at..].to_owned());
                self.pending.clear();
                text
            }
            Marker::Partial(at) => {
                let text = self.pending[..at].to_owned();
                self.pending.drain(..at);
                text
            }
        }
    }
}

enum Opening {
    /// A call begins at this byte.
    Call(usize),
    /// Blanks, or the beginning of `{"name"`.
    Undecided,
    Text,
}

/// Whether `output` opens with a bare JSON call — `{"name":` after blanks (and, for Llama,
/// an optional `<|python_tag|>`) — as the lazy grammar's leading pattern decides.
fn opening(output: &str, python_tag: bool) -> Opening {
    let mut rest = output.trim_start();
    if python_tag {
        if rest.len() < PYTHON_TAG.len() && PYTHON_TAG.starts_with(rest) && !rest.is_empty() {
            return Opening::Undecided;
        }
        if let Some(after) = rest.strip_prefix(PYTHON_TAG) {
            rest = after.trim_start();
        }
    }
    if rest.is_empty() {
        return Opening::Undecided;
    }
    if !rest.starts_with('{') {
        return Opening::Text;
    }
    let start = output.len() - rest.len();
    let after = rest[1..].trim_start();
    let key = after.strip_prefix("\"name\"").map(str::trim_start);
    match key {
        Some(colon) if colon.starts_with(':') => Opening::Call(start),
        Some("") => Opening::Undecided,
        None if "\"name\"".starts_with(after) => Opening::Undecided,
        _ => Opening::Text,
    }
}

pub(super) enum Marker {
    /// The marker starts at this byte.
    Found(usize),
    /// Not there; from this byte on, the text may be its beginning.
    Partial(usize),
}

/// Where `marker` is in `text`, or how much of `text` is certainly not part of it.
pub(super) fn find_marker(text: &str, marker: &str) -> Marker {
    if let Some(at) = text.find(marker) {
        return Marker::Found(at);
    }
    let held = text
        .char_indices()
        .map(|(at, _)| at)
        .find(|&at| marker.starts_with(&text[at..]))
        .unwrap_or(text.len());
    Marker::Partial(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(syntax: ToolSyntax, pieces: &[&str]) -> (String, Finished) {
        let mut stream = CallStream::new(syntax);
        let text: String = pieces.iter().map(|piece| stream.push(piece)).collect();
        (text, stream.finish())
    }

    #[test]
    fn text_streams_and_a_hermes_call_is_held() {
        let mut stream = CallStream::new(ToolSyntax::Hermes);
        assert_eq!(stream.push("Let me check"), "Let me check");
        assert_eq!(stream.push(".\n<tool"), ".\n");
        assert_eq!(stream.push("_call>\n{\"name\""), "");
        assert_eq!(stream.push(": \"x\"}</tool_call>"), "");
        let finished = stream.finish();
        assert_eq!(finished.text, "");
        assert_eq!(
            finished.call.as_deref(),
            Some("<tool_call>\n{\"name\": \"x\"}</tool_call>")
        );
    }

    #[test]
    fn a_false_start_of_the_trigger_is_released() {
        let (text, finished) = run(ToolSyntax::Hermes, &["a <tool", "box> b", " <"]);
        assert_eq!(text, "a <toolbox> b ");
        assert_eq!(finished.text, "<");
        assert!(finished.call.is_none());
    }

    #[test]
    fn leading_json_calls_open_the_answer_or_not_at_all() {
        let (text, finished) = run(ToolSyntax::Json, &[" ", "{", "\"na", "me\": \"x\"}"]);
        assert_eq!(text, "");
        assert_eq!(finished.call.as_deref(), Some("{\"name\": \"x\"}"));

        let (text, finished) = run(ToolSyntax::Json, &["{\"answer\"", ": 1}"]);
        assert_eq!(text, "{\"answer\": 1}");
        assert!(finished.call.is_none());

        let (text, finished) = run(ToolSyntax::Json, &["Hi ", "{\"name\": 1}"]);
        assert_eq!(text, "Hi {\"name\": 1}");
        assert!(finished.call.is_none());

        let (text, finished) = run(
            ToolSyntax::Llama3,
            &["<|python", "_tag|>", "{\"name\":", " \"x\"}"],
        );
        assert_eq!(text, "");
        assert_eq!(finished.call.as_deref(), Some("{\"name\": \"x\"}"));
    }

    #[test]
    fn words_of_other_syntaxes_trigger_them() {
        let (text, finished) = run(ToolSyntax::Mistral, &["[TOOL", "_CALLS][{}]"]);
        assert_eq!(text, "");
        assert_eq!(finished.call.as_deref(), Some("[TOOL_CALLS][{}]"));
        let (text, finished) = run(ToolSyntax::DeepSeekR1, &["ok <｜tool▁calls", "▁begin｜>…"]);
        assert_eq!(text, "ok ");
        assert!(finished.call.unwrap().starts_with(DEEPSEEK_CALLS_BEGIN));
    }
}
