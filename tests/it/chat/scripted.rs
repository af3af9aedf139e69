//! A scripted model behind a real OpenAI-compatible HTTP endpoint: each chat request gets the
//! next reply of the script (text, a tool call, or a stream that stalls), streamed in the wire
//! format `OpenAI` uses. Registered as a provider, it drives the real platform deterministically:
//! the router, the provider client, the agent loop, the tools and the database are all real.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::support::Session;

/// The model name the scripted provider serves.
pub const MODEL: &str = "scripted-model";

/// One answer of the script.
pub enum Reply {
    Text(String),
    Call {
        name: String,
        arguments: Value,
    },
    /// Streams this text, then nothing more, ever.
    Stall(String),
    /// Decided from the request body (e.g. an answer made from the tool results it was sent).
    From(Box<dyn Fn(&Value) -> Reply + Send>),
}

pub fn text(answer: &str) -> Reply {
    Reply::Text(answer.to_owned())
}

pub fn call(name: &str, arguments: Value) -> Reply {
    Reply::Call {
        name: name.to_owned(),
        arguments,
    }
}

#[derive(Clone, Default)]
struct Script {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

pub struct ScriptedModel {
    pub base_url: String,
    script: Script,
    task: JoinHandle<()>,
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedModel {
    pub async fn start(replies: Vec<Reply>) -> Self {
        let script = Script::default();
        script.replies.lock().unwrap().extend(replies);
        let app = Router::new()
            .route("/v1/chat/completions", post(answer))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base_url,
            script,
            task,
        }
    }

    /// Registers this server as the preferred provider serving [`MODEL`] (admin session).
    pub async fn register(&self, admin: &Session) {
        self.register_with(admin, json!({"context_size": 8192})).await;
    }

    /// Registers it as the preferred model of `role` too (for runs that cannot name a model).
    pub async fn register_for_role(&self, admin: &Session, role: &str) {
        self.register_with(admin, json!({"context_size": 8192, "role": role}))
            .await;
    }

    async fn register_with(&self, admin: &Session, model: Value) {
        let created = admin
            .request(Method::POST, "/api/v1/providers")
            .json(&json!({"name": "scripted", "kind": "openai_compatible", "base_url": self.base_url, "priority": -1}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
        let put = admin
            .request(Method::PUT, &format!("/api/v1/providers/scripted/models/{MODEL}"))
            .json(&model)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    }

    /// Adds a reply at the end of the script.
    pub fn push(&self, reply: Reply) {
        self.script.replies.lock().unwrap().push_back(reply);
    }

    /// The chat requests received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.script.bodies.lock().unwrap().clone()
    }
}

async fn answer(State(script): State<Script>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    script.bodies.lock().unwrap().push(request.clone());
    let mut reply = script
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| text("(the script has no more replies)"));
    while let Reply::From(decide) = reply {
        reply = decide(&request);
    }
    let (chunks, stall) = match reply {
        Reply::Text(answer) => (text_chunks(&answer, "stop"), false),
        Reply::Call { name, arguments } => (call_chunks(&name, &arguments), false),
        Reply::Stall(partial) => (vec![chunk(&json!({"content": partial}), None)], true),
        Reply::From(_) => unreachable!("resolved above"),
    };
    let head = futures::stream::iter(chunks.into_iter().map(|c| Ok::<_, Infallible>(Bytes::from(c))));
    let body = if stall {
        Body::from_stream(head.chain(futures::stream::pending()))
    } else {
        Body::from_stream(head)
    };
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

fn chunk(delta: &Value, finish: Option<&str>) -> String {
    let data = json!({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {data}\n\n")
}

fn tail(prompt_tokens: u32, completion_tokens: u32) -> Vec<String> {
    let usage = json!({"choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}});
    vec![format!("data: {usage}\n\n"), "data: [DONE]\n\n".to_owned()]
}

fn text_chunks(answer: &str, finish: &str) -> Vec<String> {
    let words: Vec<String> = answer.split_inclusive(' ').map(str::to_owned).collect();
    let mut chunks: Vec<String> = words
        .iter()
        .map(|w| chunk(&json!({"content": w}), None))
        .collect();
    chunks.push(chunk(&json!({}), Some(finish)));
    chunks.extend(tail(40, u32::try_from(words.len()).unwrap()));
    chunks
}

fn call_chunks(name: &str, arguments: &Value) -> Vec<String> {
    let delta = json!({"tool_calls": [{"index": 0, "id": format!("call_{name}"), "type": "function",
        "function": {"name": name, "arguments": arguments.to_string()}}]});
    let mut chunks = vec![chunk(&delta, None), chunk(&json!({}), Some("tool_calls"))];
    chunks.extend(tail(60, 12));
    chunks
}
