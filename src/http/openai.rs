//! The OpenAI-compatible API under `/v1`: models, chat completions (streamed, with tools and
//! JSON response formats, and `agent:<name>` models that run an agent's loop), legacy text
//! completions and embeddings. Authenticated by the platform's API keys like every route;
//! errors in `OpenAI`'s own shape (`http/error.rs`), which its SDKs parse.

mod chat;
mod completions;
pub mod models;
pub mod stream;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::routes::embeddings;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(models::list))
        .routes(routes!(models::get))
        .routes(routes!(chat::create))
        .routes(routes!(completions::create))
        .routes(routes!(embeddings::create))
}
