//! Chat templates: the Jinja template a GGUF carries in `tokenizer.chat_template` (or a
//! per-model override), rendered with minijinja. llama.cpp's built-in matcher guesses the
//! format instead and silently drops system prompts of some models (`SmolLM2`'s among them).

mod turns;

pub use turns::{Arguments, Conventions, EmptyContent, Rendered};

use std::fmt::Write as _;

use minijinja::{Environment, Error, ErrorKind, Value, context};

use super::EngineError;
use super::grammar::ToolSpec;
use super::request::ChatMessage;
use super::tool_syntax::{ToolSyntax, template_tools};

/// A compiled chat template with the model's special tokens, and what it knows of tools.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
    conventions: Conventions,
    /// The model reasons in `<think>` blocks.
    reasons: bool,
}

/// A conversation rendered for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedChat {
    pub prompt: String,
    /// The prompt opened a `<think>` block: the output starts inside it.
    pub thinking: bool,
}

/// Where tool results go in the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultTurns {
    /// `tool` turns, as the template expects them.
    Tool,
    /// `user` turns saying "Tool result: …", for templates that refuse a `tool` role.
    User,
}

const NAME: &str = "chat";

/// Used when a model carries no template at all: `ChatML`, the most common format.
pub const CHATML: &str = "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

impl ChatTemplate {
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, EngineError> {
        let mut env = Environment::new();
        // HF templates call Python string methods (`.strip()`, `.startswith()`, …).
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_function("strftime_now", |format: String| -> Result<String, Error> {
            // An unknown `%` specifier makes chrono's formatting fail (`to_string` would panic).
            let mut now = String::new();
            write!(now, "{}", chrono::Local::now().format(&format)).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("strftime_now: {format:?} is not a date format"),
                )
            })?;
            Ok(now)
        });
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|err| EngineError::Template(format!("the chat template does not compile: {err}")))?;
        Ok(Self {
            env,
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
            conventions: Conventions::of(source),
            reasons: source.contains("<think>"),
        })
    }

    /// How this model writes tool calls.
    pub fn syntax(&self) -> ToolSyntax {
        self.conventions.syntax
    }

    /// Renders the conversation and opens the assistant's turn.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        Ok(self.render_chat(messages, &[], ResultTurns::Tool)?.prompt)
    }

    /// Renders a conversation that may offer `tools` and hold earlier calls and results, in
    /// the template's own way where it has one, else in its syntax's words.
    pub fn render_chat(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
        results: ResultTurns,
    ) -> Result<RenderedChat, EngineError> {
        let template = self
            .env
            .get_template(NAME)
            .map_err(|err| EngineError::Template(err.to_string()))?;
        let by_template = self.conventions.tools == Rendered::ByTemplate;
        let shape = turns::Shape {
            conventions: self.conventions,
            describe_tools: !tools.is_empty() && !by_template,
            results,
        };
        let turns = turns::turns(messages, tools, shape);
        let tools = (!tools.is_empty() && by_template).then(|| template_tools(tools));
        let prompt = template
            .render(context! {
                messages => turns,
                tools => tools,
                add_generation_prompt => true,
                enable_thinking => true,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            })
            .map_err(|err| EngineError::Template(format!("cannot render the chat template: {err}")))?;
        let thinking = self.reasons && prompt.trim_end().ends_with("<think>");
        Ok(RenderedChat { prompt, thinking })
    }

    /// Whether the model reasons in `<think>` blocks.
    pub fn reasons(&self) -> bool {
        self.reasons
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_keeps_the_system_prompt() {
        let template = ChatTemplate::new(CHATML, "", "<|im_end|>").unwrap();
        let text = template
            .render(&[
                ChatMessage::new("system", "Be brief."),
                ChatMessage::new("user", "Hi"),
            ])
            .unwrap();
        assert_eq!(
            text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn python_string_methods_and_raise_exception_work() {
        let source = "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}{{ messages[0].content.strip().upper() }}";
        let template = ChatTemplate::new(source, "", "").unwrap();
        assert_eq!(
            template.render(&[ChatMessage::new("user", "  hi ")]).unwrap(),
            "HI"
        );
        let err = template.render(&[ChatMessage::new("system", "x")]).unwrap_err();
        assert!(err.to_string().contains("first must be user"), "{err}");
    }
}
