//! Chat templates: the Jinja template a GGUF carries in `tokenizer.chat_template` (or a
//! per-model override), rendered with minijinja. llama.cpp's built-in matcher guesses the
//! format instead and silently drops system prompts of some models (`SmolLM2`'s among them).

use minijinja::{Environment, Error, ErrorKind, Value, context};

use super::EngineError;
use super::request::ChatMessage;

/// A compiled chat template with the model's special tokens.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
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
        env.add_function("strftime_now", |format: String| {
            chrono::Local::now().format(&format).to_string()
        });
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|err| EngineError::Template(format!("the chat template does not compile: {err}")))?;
        Ok(Self {
            env,
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
        })
    }

    /// Renders the conversation and opens the assistant's turn.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String, EngineError> {
        let template = self
            .env
            .get_template(NAME)
            .map_err(|err| EngineError::Template(err.to_string()))?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            })
            .map_err(|err| EngineError::Template(format!("cannot render the chat template: {err}")))
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
