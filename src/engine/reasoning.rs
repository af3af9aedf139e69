//! Reasoning models (`DeepSeek` R1, Qwen 3, `QwQ`) think in `<think>…</think>` before they answer.
//! That part is not the answer: it streams apart, as reasoning, and the answer starts after it.
//! Some templates open the `<think>` block in the prompt itself, so the output starts inside.

use super::tool_stream::{Marker, find_marker};

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// A piece of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Reasoning(String),
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing but blanks so far: a `<think>` may still open.
    Opening,
    Thinking,
    /// Reasoning ended: blanks before the answer are dropped.
    AfterThinking,
    Answer,
}

#[derive(Debug)]
pub struct ThinkSplit {
    state: State,
    pending: String,
}

impl ThinkSplit {
    /// `inside`: the prompt already opened the reasoning block.
    pub fn new(inside: bool) -> Self {
        Self {
            state: if inside { State::Thinking } else { State::Opening },
            pending: String::new(),
        }
    }

    /// Adds generated output; returns the parts that are certain now.
    pub fn push(&mut self, piece: &str) -> Vec<Part> {
        if self.state == State::Answer {
            return text(piece.to_owned());
        }
        self.pending.push_str(piece);
        let mut parts = Vec::new();
        loop {
            match self.state {
                State::Opening => {
                    let rest = self.pending.trim_start();
                    if let Some(inside) = rest.strip_prefix(OPEN) {
                        self.pending = inside.to_owned();
                        self.state = State::Thinking;
                    } else if OPEN.starts_with(rest) {
                        return parts;
                    } else {
                        self.state = State::Answer;
                        parts.extend(text(std::mem::take(&mut self.pending)));
                        return parts;
                    }
                }
                State::Thinking => match find_marker(&self.pending, CLOSE) {
                    Marker::Found(at) => {
                        parts.extend(reasoning(self.pending[..at].to_owned()));
                        self.pending.drain(..at + CLOSE.len());
                        self.state = State::AfterThinking;
                    }
                    Marker::Partial(at) => {
                        parts.extend(reasoning(self.pending[..at].to_owned()));
                        self.pending.drain(..at);
                        return parts;
                    }
                },
                State::AfterThinking => {
                    let rest = self.pending.trim_start();
                    if rest.is_empty() {
                        self.pending.clear();
                        return parts;
                    }
                    self.state = State::Answer;
                    parts.extend(text(rest.to_owned()));
                    self.pending.clear();
                    return parts;
                }
                State::Answer => return parts,
            }
        }
    }

    /// Ends the output: what was held back goes out as what it was.
    pub fn finish(self) -> Vec<Part> {
        match self.state {
            State::Thinking => reasoning(self.pending),
            State::AfterThinking => Vec::new(),
            State::Opening | State::Answer => text(self.pending),
        }
    }
}

fn text(piece: String) -> Vec<Part> {
    if piece.is_empty() {
        Vec::new()
    } else {
        vec![Part::Text(piece)]
    }
}

fn reasoning(piece: String) -> Vec<Part> {
    if piece.is_empty() {
        Vec::new()
    } else {
        vec![Part::Reasoning(piece)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(inside: bool, pieces: &[&str]) -> Vec<Part> {
        let mut split = ThinkSplit::new(inside);
        let mut parts: Vec<Part> = pieces.iter().flat_map(|piece| split.push(piece)).collect();
        parts.extend(split.finish());
        // Join neighbours of the same kind, as a reader would see them.
        parts.into_iter().fold(Vec::new(), |mut joined, part| {
            match (joined.last_mut(), part) {
                (Some(Part::Reasoning(a)), Part::Reasoning(b)) | (Some(Part::Text(a)), Part::Text(b)) => {
                    a.push_str(&b);
                }
                (_, part) => joined.push(part),
            }
            joined
        })
    }

    #[test]
    fn the_think_block_is_reasoning_and_the_rest_the_answer() {
        assert_eq!(
            run(false, &["<thi", "nk>Hmm", ", 2+2.</th", "ink>\n\n", "4."]),
            vec![Part::Reasoning("Hmm, 2+2.".into()), Part::Text("4.".into())]
        );
    }

    #[test]
    fn a_prompt_that_opened_the_block_starts_inside_it() {
        assert_eq!(
            run(true, &["Let me see", "</think>", "Yes."]),
            vec![Part::Reasoning("Let me see".into()), Part::Text("Yes.".into())]
        );
    }

    #[test]
    fn without_a_block_everything_is_the_answer() {
        assert_eq!(
            run(false, &["<b>", "bold</b>"]),
            vec![Part::Text("<b>bold</b>".into())]
        );
        assert_eq!(run(false, &["  <th"]), vec![Part::Text("  <th".into())]);
    }
}
