//! The `OpenAI`- and Ollama-compatible APIs driven by real clients nobody here wrote: the official
//! `OpenAI` Python SDK and the official Ollama Python library, pinned with hashes in
//! `tests/fixtures/clients/requirements.txt` and installed by `scripts/fetch-api-clients.sh`.
//! Each scenario of `tests/fixtures/clients/{openai,ollama}_client.py` goes through the
//! library's public API with an API key, checks what the library must see, and prints one JSON
//! line that the tests here check further.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::chat::scripted::ScriptedModel;
use crate::chat::{analyst_app, revenue_question_script};
use crate::compat::{CompatApp, MODEL};
use crate::support::TestApp;

/// The test embedding model's name.
const EMBEDDING_MODEL: &str = "all-minilm-l6-v2";
/// What the scripted analyst answers from the sample data's KPI results.
const ANALYST_ANSWER: &str = "Missed last quarter: Marketing, Operations.";

/// The Python of the venv that `scripts/fetch-api-clients.sh` installed the clients into.
fn clients_python() -> PathBuf {
    let dir = std::env::var("AGENTBOX_TEST_API_CLIENTS").unwrap_or_else(|_| {
        panic!(
            "AGENTBOX_TEST_API_CLIENTS is unset: run `export AGENTBOX_TEST_API_CLIENTS=$(scripts/fetch-api-clients.sh)` \
             (scripts/test does this for you)"
        )
    });
    let python = PathBuf::from(dir).join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/fetch-api-clients.sh",
        python.display()
    );
    python
}

/// One client script, with the platform and the API key it talks to.
struct Client {
    script: &'static str,
    base: String,
    key: String,
}

impl Client {
    fn openai(app: &TestApp, key: &str) -> Self {
        Self::of_script("openai_client.py", app, key)
    }

    fn ollama(app: &TestApp, key: &str) -> Self {
        Self::of_script("ollama_client.py", app, key)
    }

    fn of_script(script: &'static str, app: &TestApp, key: &str) -> Self {
        Self {
            script,
            base: app.base.clone(),
            key: key.to_owned(),
        }
    }

    /// Runs `scenario` naming `model`, for at most two minutes; returns the JSON line it printed.
    async fn run(&self, scenario: &str, model: &str) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/clients")
            .join(self.script);
        let run = tokio::process::Command::new(clients_python())
            .arg(&script)
            .args([
                "--base",
                self.base.as_str(),
                "--key",
                self.key.as_str(),
                "--model",
                model,
                scenario,
            ])
            // No __pycache__ beside the scripts in the checkout.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_mins(2), run)
            .await
            .unwrap_or_else(|_| panic!("{} {scenario} finishes within two minutes", self.script))
            .expect("the client runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{} {scenario} failed:\n{}{stdout}",
            self.script,
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str(stdout.trim()).unwrap_or_else(|err| {
            panic!(
                "{} {scenario} printed no JSON line ({err}): {stdout}",
                self.script
            )
        })
    }
}

/// The platform with the real test model as the `fast` role and the test embedding model, on
/// one engine thread and slot, with an API key of the admin's.
async fn real_model_app() -> CompatApp {
    let embeddings = crate::embeddings::model_dir().display().to_string();
    CompatApp::start_with(1, vec![("AGENTBOX_EMBEDDINGS_MODEL".into(), embeddings)]).await
}

/// The strings of a JSON array.
fn strings(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("an array")
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

/// An answer of the real model: some text, ended on its own or at the limit, of 1 to `max`
/// tokens.
fn assert_answer(text: &Value, finish: &Value, tokens: &Value, max: u64, seen: &Value) {
    assert!(text.as_str().is_some_and(|t| !t.is_empty()), "some text: {seen}");
    assert!(
        matches!(finish.as_str(), Some("stop" | "length")),
        "stop or length: {seen}"
    );
    assert!(
        (1..=max).contains(&tokens.as_u64().unwrap_or(0)),
        "1 to {max} tokens: {seen}"
    );
}

/// [`assert_answer`] for what an `OpenAI` scenario printed, its text under `text`.
fn assert_openai_answer(seen: &Value, text: &str, max: u64) {
    let tokens = &seen["usage"]["completion_tokens"];
    assert_answer(&seen[text], &seen["finish_reason"], tokens, max, seen);
}

/// [`assert_answer`] for what an Ollama scenario printed, its text under `text`.
fn assert_ollama_answer(seen: &Value, text: &str, max: u64) {
    assert_answer(&seen[text], &seen["done_reason"], &seen["eval_count"], max, seen);
}

/// A person answer that follows the scenarios' JSON schema.
fn assert_person(person: &Value, seen: &Value) {
    assert!(
        person["name"].is_string() && person["age"].is_i64(),
        "a name and an integer age: {seen}"
    );
}

/// Two vectors of the test embedding model.
fn assert_two_vectors(seen: &Value) {
    assert_eq!(
        (seen["count"].as_u64(), seen["dims"].as_u64()),
        (Some(2), Some(384)),
        "{seen}"
    );
}

/// The official `OpenAI` SDK against the real test model: it lists the models, roles and agents
/// and retrieves one; chats plainly and streamed with usage, by role and by name; makes a forced
/// tool call, sends the result back and gets a text answer, and streams the call; gets JSON that
/// follows a schema, raw and through the SDK's pydantic `parse`; completes legacy text; embeds
/// (the SDK's default base64 and floats agree); and raises the error classes the SDK maps from
/// `OpenAI`-shaped errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_drives_v1_on_the_real_model() {
    let compat = real_model_app().await;
    let sdk = Client::openai(&compat.app, &compat.key);

    let models = sdk.run("models", MODEL).await;
    let ids = strings(&models["ids"]);
    for id in [
        MODEL,
        "fast",
        "reasoning",
        "code",
        "agent:assistant",
        "agent:analyst",
        "agent:coder",
    ] {
        assert!(ids.contains(&id), "{id} is listed: {ids:?}");
    }

    assert_openai_answer(&sdk.run("plain", "fast").await, "content", 24);
    assert_openai_answer(&sdk.run("stream", MODEL).await, "text", 24);

    let tools = sdk.run("tools", MODEL).await;
    assert_eq!(tools["first_finish_reason"], "tool_calls", "{tools}");
    for call in [&tools["call"], &tools["streamed_call"]] {
        assert_eq!(call["name"], "get_weather", "{tools}");
        assert!(call["arguments"]["city"].is_string(), "{tools}");
    }
    assert!(tools["answer"].as_str().is_some_and(|a| !a.is_empty()), "{tools}");

    let person = sdk.run("json_schema", MODEL).await;
    assert_person(&person["raw"], &person);
    assert_person(&person["parsed"], &person);

    assert_openai_answer(&sdk.run("completions", "fast").await, "text", 16);

    assert_two_vectors(&sdk.run("embeddings", EMBEDDING_MODEL).await);

    let errors = sdk.run("errors", MODEL).await;
    for (case, status, code) in [
        ("unknown_model", 404, Some("model_not_found")),
        ("unknown_model_streamed", 404, Some("model_not_found")),
        ("n_2", 400, Some("unsupported_value")),
        ("empty_messages", 400, None),
        ("wrong_key", 401, None),
    ] {
        let seen = &errors[case];
        assert_eq!(seen["status_code"], status, "{case}: {seen}");
        if let Some(code) = code {
            assert_eq!(seen["code"], code, "{case}: {seen}");
        }
        // The SDK found `{"error": {...}}` and read the code, message and type from it.
        assert!(
            seen["code"].is_string()
                && seen["type"].is_string()
                && seen["body"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{case}: {seen}"
        );
    }
    compat.stop().await;
}

/// The official `OpenAI` SDK asks the analyst agent (`agent:analyst`) the acceptance question,
/// plainly and streamed: each time the agent's loop runs on the server as the key's owner (the
/// scripted model calls the KPI tools on the sample data), and the SDK gets the answer made from
/// their result.
#[tokio::test]
async fn the_openai_sdk_asks_the_analyst_agent_and_gets_the_answer_from_the_data() {
    let script: Vec<_> = revenue_question_script()
        .into_iter()
        .chain(revenue_question_script())
        .collect();
    let model = ScriptedModel::start(script).await;
    let (app, admin, analyst) = analyst_app().await;
    model.register_for_role(&admin, "reasoning").await;
    let key = analyst.api_key("sdk", &["read", "write"]).await;

    let seen = Client::openai(&app, &key).run("agent", "agent:analyst").await;
    assert_eq!(seen["answer"], ANALYST_ANSWER, "{seen}");
    assert_eq!(seen["streamed"], ANALYST_ANSWER, "{seen}");
    assert_eq!(seen["finish_reason"], "stop", "{seen}");
    assert_eq!(
        model.requests().len(),
        6,
        "both runs called the two tools, then answered"
    );
    app.stop().await;
}

/// The official Ollama library against the real test model: version, tags, show and ps; chat
/// and generate, plain and streamed, by role and by name, ending with Ollama's counters and
/// nanosecond timings; embed, and the older embeddings call agreeing with it; a Python function
/// as a tool, a call's result sent back; JSON answers for `format: "json"`, a pydantic model's
/// schema and a written schema; and the library's `ResponseError` with the status and the
/// message of Ollama's `{"error": "..."}` bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ollama_library_drives_api_on_the_real_model() {
    let compat = real_model_app().await;
    let ollama = Client::ollama(&compat.app, &compat.key);

    let version = ollama.run("version", MODEL).await;
    assert!(version["version"].is_string(), "{version}");
    let tags = ollama.run("list", MODEL).await;
    let listed = tags["models"]
        .as_array()
        .expect("models")
        .iter()
        .find(|m| m["model"] == MODEL)
        .unwrap_or_else(|| panic!("{MODEL} is listed: {tags}"));
    assert!(listed["size"].as_u64() > Some(0), "{listed}");
    let shown = ollama.run("show", MODEL).await;
    assert_eq!(shown["details"]["format"], "gguf", "{shown}");

    assert_ollama_answer(&ollama.run("chat", "fast").await, "content", 24);
    assert_ollama_answer(&ollama.run("chat_stream", MODEL).await, "text", 24);
    // It just answered, so it is in memory.
    let running = ollama.run("ps", MODEL).await;
    assert!(strings(&running["names"]).contains(&MODEL), "{running}");

    let generated = ollama.run("generate", "fast").await;
    assert_ollama_answer(&generated, "response", 24);
    assert_ollama_answer(&generated["streamed"], "text", 24);

    assert_two_vectors(&ollama.run("embed", EMBEDDING_MODEL).await);

    // Offered a tool without being made to call it, a 135M model may call it or answer in text;
    // the script checks a call's shape and sends its result back for an answer.
    let tools = ollama.run("tools", MODEL).await;
    let called = !tools["tool_calls"].as_array().expect("tool_calls").is_empty();
    let text = if called {
        &tools["answer"]
    } else {
        &tools["content"]
    };
    assert!(text.as_str().is_some_and(|t| !t.is_empty()), "{tools}");

    let formats = ollama.run("format", MODEL).await;
    assert!(formats["json"].is_object(), "{formats}");
    assert_person(&formats["pydantic"], &formats);
    assert_person(&formats["schema"], &formats);

    let errors = ollama.run("errors", MODEL).await;
    for (case, status) in [
        ("chat", 404),
        ("chat_stream", 404),
        ("generate", 404),
        ("show", 404),
        ("wrong_key", 401),
    ] {
        let seen = &errors[case];
        assert_eq!(seen["status_code"], status, "{case}: {errors}");
        // The library read the message out of `{"error": "..."}` (a body of another shape
        // would come through whole).
        let message = seen["error"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty() && !message.starts_with('{'),
            "{case}: {errors}"
        );
    }
    compat.stop().await;
}
