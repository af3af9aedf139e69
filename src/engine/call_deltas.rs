//! Reads a local model's tool-call text while it is generated, so that a call's name and its
//! arguments reach the client as they come (a tool card fills live) rather than when the
//! answer ends. The grammar holds the call to its syntax: the name comes first (`"name": "…"`,
//! or the `DeepSeekR1` syntax's `<｜tool▁sep｜>NAME\n`), then the arguments object, whose characters are passed
//! on as they arrive until its closing brace. The complete call, parsed when generation ends
//! (`tool_syntax::parse_calls`), stays the authority; these deltas only show it early.

use super::tool_syntax::{DEEPSEEK_SEP, ToolSyntax};

/// What the call text revealed since the last push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallDelta {
    /// The `index`th call of the answer names its tool.
    Named { index: usize, name: String },
    /// More characters of the `index`th call's arguments (a JSON object, in pieces).
    Arguments { index: usize, text: String },
}

#[derive(Debug)]
enum State {
    /// Looking for the next call's name.
    Name,
    /// The name is known; looking for the `{` that opens the arguments.
    Opening,
    /// Inside the arguments object.
    Arguments {
        depth: u32,
        in_string: bool,
        escaped: bool,
    },
}

#[derive(Debug)]
pub struct CallDeltas {
    syntax: ToolSyntax,
    /// The call text so far, and how far it has been read.
    text: String,
    read: usize,
    state: State,
    /// Calls named so far.
    calls: usize,
}

impl CallDeltas {
    pub fn new(syntax: ToolSyntax) -> Self {
        Self {
            syntax,
            text: String::new(),
            read: 0,
            state: State::Name,
            calls: 0,
        }
    }

    /// Adds generated call text (from the trigger on); returns what it revealed.
    pub fn push(&mut self, piece: &str) -> Vec<CallDelta> {
        self.text.push_str(piece);
        let mut deltas = Vec::new();
        loop {
            let progressed = match self.state {
                State::Name => self.name(&mut deltas),
                State::Opening => self.opening(),
                State::Arguments { .. } => {
                    self.arguments(&mut deltas);
                    matches!(self.state, State::Name)
                }
            };
            if !progressed {
                return deltas;
            }
        }
    }

    /// Reads a complete name, if the text holds one past `read`.
    fn name(&mut self, deltas: &mut Vec<CallDelta>) -> bool {
        let rest = &self.text[self.read..];
        let found = if self.syntax == ToolSyntax::DeepSeekR1 {
            rest.find(DEEPSEEK_SEP).and_then(|at| {
                let start = at + DEEPSEEK_SEP.len();
                rest[start..]
                    .find('\n')
                    .map(|len| (rest[start..start + len].trim().to_owned(), start + len + 1))
            })
        } else {
            json_name(rest)
        };
        let Some((name, end)) = found else { return false };
        self.read += end;
        deltas.push(CallDelta::Named {
            index: self.calls,
            name,
        });
        self.calls += 1;
        self.state = State::Opening;
        true
    }

    fn opening(&mut self) -> bool {
        let Some(at) = self.text[self.read..].find('{') else {
            return false;
        };
        self.read += at;
        self.state = State::Arguments {
            depth: 0,
            in_string: false,
            escaped: false,
        };
        true
    }

    /// Passes on the arguments' characters up to their closing brace (or all there is).
    fn arguments(&mut self, deltas: &mut Vec<CallDelta>) {
        let State::Arguments {
            mut depth,
            mut in_string,
            mut escaped,
        } = self.state
        else {
            return;
        };
        let start = self.read;
        let mut end = None;
        for (offset, c) in self.text[start..].char_indices() {
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => in_string = true,
                '{' | '[' => depth += 1,
                '}' | ']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = Some(start + offset + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        let stop = end.unwrap_or(self.text.len());
        if stop > start {
            deltas.push(CallDelta::Arguments {
                index: self.calls - 1,
                text: self.text[start..stop].to_owned(),
            });
        }
        self.read = stop;
        self.state = match end {
            Some(_) => State::Name,
            None => State::Arguments {
                depth,
                in_string,
                escaped,
            },
        };
    }
}

/// `"name" : "NAME"` in `text`: the name and where it ends. Names hold no quotes or escapes
/// (the grammar spells them out).
fn json_name(text: &str) -> Option<(String, usize)> {
    let key = text.find("\"name\"")?;
    let mut rest = text[key + 6..]
        .char_indices()
        .skip_while(|(_, c)| c.is_whitespace());
    let (colon, ':') = rest.next()? else { return None };
    let after_colon = key + 6 + colon + 1;
    let quote = text[after_colon..].find(|c: char| !c.is_whitespace())?;
    if text[after_colon + quote..].chars().next()? != '"' {
        return None;
    }
    let start = after_colon + quote + 1;
    let len = text[start..].find('"')?;
    Some((text[start..start + len].to_owned(), start + len + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` in pieces of `size` characters; the deltas, with argument pieces joined.
    fn read(syntax: ToolSyntax, text: &str, size: usize) -> Vec<CallDelta> {
        let chars: Vec<char> = text.chars().collect();
        let mut deltas = CallDeltas::new(syntax);
        let mut out: Vec<CallDelta> = Vec::new();
        for piece in chars.chunks(size) {
            for delta in deltas.push(&piece.iter().collect::<String>()) {
                match (out.last_mut(), delta) {
                    (
                        Some(CallDelta::Arguments { index, text }),
                        CallDelta::Arguments {
                            index: next,
                            text: more,
                        },
                    ) if *index == next => text.push_str(&more),
                    (_, delta) => out.push(delta),
                }
            }
        }
        out
    }

    fn named(index: usize, name: &str) -> CallDelta {
        CallDelta::Named {
            index,
            name: name.into(),
        }
    }

    fn arguments(index: usize, text: &str) -> CallDelta {
        CallDelta::Arguments {
            index,
            text: text.into(),
        }
    }

    #[test]
    fn a_hermes_call_streams_its_name_then_its_arguments_however_it_is_cut() {
        let text = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris {}\\\"\", \"days\": [1, 2]}}\n</tool_call>";
        for size in [1, 2, 3, 7, 200] {
            assert_eq!(
                read(ToolSyntax::Hermes, text, size),
                [
                    named(0, "get_weather"),
                    arguments(0, "{\"city\": \"Paris {}\\\"\", \"days\": [1, 2]}")
                ],
                "pieces of {size}"
            );
        }
    }

    #[test]
    fn several_calls_are_numbered_in_order() {
        let text = "<tool_call>\n[{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": {\"x\": 1}}]\n</tool_call>";
        assert_eq!(
            read(ToolSyntax::SmolLm2, text, 4),
            [
                named(0, "a"),
                arguments(0, "{}"),
                named(1, "b"),
                arguments(1, "{\"x\": 1}")
            ]
        );
    }

    #[test]
    fn deepseek_names_the_tool_after_its_separator() {
        let text = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>kpi_values\n```json\n{\"kpi\": \"revenue\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
        assert_eq!(
            read(ToolSyntax::DeepSeekR1, text, 3),
            [named(0, "kpi_values"), arguments(0, "{\"kpi\": \"revenue\"}")]
        );
    }

    #[test]
    fn a_call_cut_short_streams_what_there_is() {
        let text = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Par";
        assert_eq!(
            read(ToolSyntax::Llama3, text, 5),
            [named(0, "get_weather"), arguments(0, "{\"city\": \"Par")]
        );
        assert_eq!(read(ToolSyntax::Json, "{\"na", 1), []);
    }
}
