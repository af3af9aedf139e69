//! The grammar of a call in each syntax. Each tool's argument schema becomes GBNF through
//! llama.cpp's converter; its rules are renamed apart (`t0-…`, `t1-…`) and joined under a root
//! that spells the syntax around them — so the name picks the schema its arguments follow.

use super::{
    DEEPSEEK_CALL_BEGIN, DEEPSEEK_CALL_END, DEEPSEEK_CALLS_BEGIN, DEEPSEEK_CALLS_END, DEEPSEEK_SEP,
    MISTRAL_CALLS, PYTHON_TAG, ToolSyntax,
};
use crate::engine::EngineError;
use crate::engine::grammar::{self, ToolSpec};

/// Blanks between tokens, bounded so a looping model cannot fill its budget with them.
const BLANK: &str = r#"ws ::= | " " | "\n"{1,2} [ \t]{0,20}"#;

/// GBNF for one or more calls of `tools` in `syntax` (one call where the syntax allows no
/// more), starting at the syntax's trigger.
pub fn call_grammar(syntax: ToolSyntax, tools: &[ToolSpec]) -> Result<String, EngineError> {
    let mut rules = Vec::new();
    let mut arguments = Vec::new();
    for (index, tool) in tools.iter().enumerate() {
        let prefix = format!("t{index}-");
        let converted = grammar::json_schema(&tool.parameters)?;
        rules.push(rename_rules(&converted, &prefix));
        arguments.push((literal(&tool.name), format!("{prefix}root")));
    }
    let key = literal(&format!("\"{}\"", syntax.arguments_key()));
    let object_alternatives: Vec<String> = arguments
        .iter()
        .map(|(name, args)| format!(r#""\"" {name} "\"" ws "," ws {key} ws ":" ws {args}"#))
        .collect();
    let object = format!(
        r#"call ::= "{{" ws "\"name\"" ws ":" ws ( {} ) ws "}}""#,
        object_alternatives.join(" | ")
    );
    let root = match syntax {
        ToolSyntax::Hermes => {
            r#"root ::= "<tool_call>" ws call ws "</tool_call>" ( ws "<tool_call>" ws call ws "</tool_call>" )*"#.to_owned()
        }
        ToolSyntax::SmolLm2 => {
            r#"root ::= "<tool_call>" ws "[" ws call ( ws "," ws call )* ws "]" ws "</tool_call>""#.to_owned()
        }
        ToolSyntax::Mistral => format!(
            r#"root ::= {} ws "[" ws call ( ws "," ws call )* ws "]""#,
            literal(MISTRAL_CALLS)
        ),
        ToolSyntax::Llama3 => format!("root ::= ( {} ws )? call", literal(PYTHON_TAG)),
        ToolSyntax::Json => "root ::= call".to_owned(),
        ToolSyntax::DeepSeekR1 => {
            let each: Vec<String> = arguments
                .iter()
                .map(|(name, args)| format!(r#"{name} "\n```json\n" {args} ws "```""#))
                .collect();
            let call = format!(
                r#"dcall ::= {} "function" {} ( {} ) ws {}"#,
                literal(DEEPSEEK_CALL_BEGIN),
                literal(DEEPSEEK_SEP),
                each.join(" | "),
                literal(DEEPSEEK_CALL_END)
            );
            rules.push(call);
            format!(
                "root ::= {} ws dcall ( ws dcall )* ws {}",
                literal(DEEPSEEK_CALLS_BEGIN),
                literal(DEEPSEEK_CALLS_END)
            )
        }
    };
    Ok([root, object, BLANK.to_owned()]
        .into_iter()
        .chain(rules)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// A GBNF string literal holding `text` (without the quotes' content being read as syntax).
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prefixes every rule name of a GBNF text (definitions and references), leaving string
/// literals, character classes and repetition counts as they are.
pub(super) fn rename_rules(gbnf: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(gbnf.len() * 2);
    let mut chars = gbnf.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '[' => {
                let close = if c == '"' { '"' } else { ']' };
                out.push(c);
                while let Some(inner) = chars.next() {
                    out.push(inner);
                    if inner == '\\' {
                        if let Some(escaped) = chars.next() {
                            out.push(escaped);
                        }
                    } else if inner == close {
                        break;
                    }
                }
            }
            '{' => {
                out.push(c);
                for inner in chars.by_ref() {
                    out.push(inner);
                    if inner == '}' {
                        break;
                    }
                }
            }
            '#' => {
                // A comment runs to the end of its line.
                out.push(c);
                for inner in chars.by_ref() {
                    out.push(inner);
                    if inner == '\n' {
                        break;
                    }
                }
            }
            c if c.is_ascii_alphabetic() => {
                out.push_str(prefix);
                out.push(c);
                while let Some(&next) = chars.peek() {
                    if next.is_ascii_alphanumeric() || next == '-' || next == '_' {
                        out.push(next);
                        chars.next();
                    } else {
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}
