//! Inference: the model catalog (`models.toml`), model files on disk (pull, import, remove),
//! and running GGUF models in-process with llama.cpp on dedicated threads.

pub mod bench;
mod call_deltas;
pub mod catalog;
pub mod chat;
pub mod download;
pub mod embed;
mod error;
pub mod gguf;
pub mod grammar;
pub mod library;
pub mod llama;
mod local_chat;
pub mod providers;
mod reasoning;
mod request;
pub mod template;
pub(crate) mod tool_stream;
pub mod tool_syntax;

pub use error::EngineError;
pub use request::{
    ChatMessage, FinishReason, GenerateRequest, GenerationEvent, GenerationStats, Grammar, Prompt,
    SamplingParams, ToolCall,
};
