//! The OpenAI- and Ollama-compatible APIs over plain HTTP: shapes, streams, bad input in each
//! API's own error shape, disconnects and the evaluations every call leaves. The official
//! clients drive the same endpoints in `compat_clients.rs`.

mod ollama;
mod openai;

use agentbox::engine::catalog::ModelRole;
use reqwest::{Client, RequestBuilder};
use serde_json::Value;

pub use crate::chat::eventually;
use crate::support::{Options, TestApp};

/// The name the test model is imported under.
pub const MODEL: &str = "SmolLM2-135M-Instruct.Q4_1";

/// An app with the real test model as the `fast` role, an admin, and the admin's API key.
pub struct CompatApp {
    pub app: TestApp,
    pub key: String,
    client: Client,
}

impl CompatApp {
    pub async fn start(slots: u32) -> Self {
        Self::start_with(slots, Vec::new()).await
    }

    /// The same with more settings (e.g. the embedding model).
    pub async fn start_with(slots: u32, extra_env: Vec<(String, String)>) -> Self {
        let mut env = vec![
            ("AGENTBOX_ENGINE_THREADS".into(), "1".into()),
            ("AGENTBOX_ENGINE_SLOTS".into(), slots.to_string()),
            ("AGENTBOX_ENGINE_CONTEXT_PER_SLOT".into(), "4096".into()),
        ];
        env.extend(extra_env);
        let app = TestApp::start_with(Options {
            extra_env: env,
            ..Options::default()
        })
        .await;
        let admin = app.setup_admin().await;
        app.services()
            .models
            .import(crate::engine::test_model(), vec![ModelRole::Fast])
            .await
            .expect("the test model imports");
        let key = admin.api_key("compat", &["read", "write"]).await;
        let client = app.client();
        Self { app, key, client }
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.app.url(path)).bearer_auth(&self.key)
    }

    pub fn post(&self, path: &str, body: &Value) -> RequestBuilder {
        self.client
            .post(self.app.url(path))
            .bearer_auth(&self.key)
            .json(body)
    }

    /// The JSON answer of a GET.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).send().await.unwrap().json().await.unwrap()
    }

    /// The JSON answer of a POST.
    pub async fn post_json(&self, path: &str, body: &Value) -> Value {
        self.post(path, body).send().await.unwrap().json().await.unwrap()
    }

    /// The `llm_evaluations` rows of calls made without an agent, oldest first.
    pub async fn direct_evaluations(&self) -> Vec<Value> {
        self.app
            .store()
            .query_json_as(
                agentbox::store::Actor::System,
                "select model, provider, outcome, agent, prompt_tokens, completion_tokens, ttft_ms \
                 from public.llm_evaluations where agent is null order by created_at"
                    .to_owned(),
                100,
            )
            .await
            .unwrap()
    }

    pub async fn stop(self) {
        self.app.stop().await;
    }
}
