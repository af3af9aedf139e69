//! Embeddings: candle's all-MiniLM-L6-v2 against independent reference vectors, the GGUF path
//! against candle, semantic search that stays within the caller's rows (pgvector on the
//! embedded database, the `real[]` fallback on external Postgres 15), `/v1/embeddings`, and
//! bad input.
//!
//! The model: `export AGENTBOX_TEST_EMBEDDING_MODEL=$(scripts/fetch-embedding-model.sh)`; its
//! GGUF conversion (`scripts/fetch-embedding-model.sh --gguf`) lies beside that folder.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use agentbox::engine::embed::{Embedder, EmbedderOptions, EmbeddingBackend, cosine};
use agentbox::store::{Actor, DatabaseKind, VectorStorage};
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Options, PASSWORD, Session, TestApp, error_code, openai_error_code};

const REFERENCE: &str = include_str!("../fixtures/embeddings/minilm-reference.json");

/// JSON numbers written from f32 values, back as f32.
#[allow(clippy::cast_possible_truncation)]
fn floats(values: &Value) -> Vec<f32> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// The test embedding model's folder (`AGENTBOX_TEST_EMBEDDING_MODEL`).
pub fn model_dir() -> PathBuf {
    let path = std::env::var("AGENTBOX_TEST_EMBEDDING_MODEL").unwrap_or_else(|_| {
        panic!(
            "AGENTBOX_TEST_EMBEDDING_MODEL is unset: run \
             `export AGENTBOX_TEST_EMBEDDING_MODEL=$(scripts/fetch-embedding-model.sh)`"
        )
    });
    let path = PathBuf::from(path);
    assert!(
        path.join("model.safetensors").is_file(),
        "{} holds no model",
        path.display()
    );
    path
}

/// The GGUF made by `scripts/fetch-embedding-model.sh --gguf` (beside the model folder).
fn gguf_file() -> PathBuf {
    let path = std::env::var("AGENTBOX_TEST_EMBEDDING_GGUF").map_or_else(
        |_| model_dir().with_file_name("all-minilm-l6-v2-f16.gguf"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-embedding-model.sh --gguf",
        path.display()
    );
    path
}

struct Reference {
    texts: Vec<String>,
    token_counts: Vec<usize>,
    vectors: Vec<Vec<f32>>,
    max_seq_length: usize,
}

fn reference() -> Reference {
    let fixture: Value = serde_json::from_str(REFERENCE).unwrap();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    Reference {
        texts: strings(&fixture["texts"]),
        token_counts: fixture["token_counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| usize::try_from(n.as_u64().unwrap()).unwrap())
            .collect(),
        vectors: fixture["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect(),
        max_seq_length: usize::try_from(fixture["max_seq_length"].as_u64().unwrap()).unwrap(),
    }
}

/// Milliseconds per text of embedding `texts` one request each.
async fn ms_per_text(embedder: &Embedder, texts: &[String]) -> (Vec<Vec<f32>>, f64) {
    let started = Instant::now();
    let mut vectors = Vec::new();
    for text in texts {
        vectors.extend(embedder.embed(vec![text.clone()]).await.unwrap());
    }
    let count = f64::from(u32::try_from(texts.len()).unwrap());
    (vectors, started.elapsed().as_secs_f64() * 1000.0 / count)
}

/// Embeds the texts one at a time and all together; returns the batch's vectors and the
/// milliseconds per text, one at a time, of the short texts and of the long last one.
async fn embed_both_ways(embedder: &Embedder, texts: &[String]) -> (Vec<Vec<f32>>, f64, f64) {
    let (mut single, short_ms) = ms_per_text(embedder, &texts[..texts.len() - 1]).await;
    let (long, long_ms) = ms_per_text(embedder, &texts[texts.len() - 1..]).await;
    single.extend(long);
    let batched = embedder.embed(texts.to_vec()).await.unwrap();
    for (i, (a, b)) in single.iter().zip(&batched).enumerate() {
        let similarity = cosine(a, b);
        assert!(
            similarity > 0.9999,
            "text {i}: batched vs single cosine {similarity}"
        );
    }
    (batched, short_ms, long_ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candle_matches_the_reference_vectors() {
    let reference = reference();
    let embedder = Embedder::load(&model_dir(), EmbedderOptions::default())
        .await
        .unwrap();
    assert_eq!(embedder.info().backend, EmbeddingBackend::Candle);
    assert_eq!(embedder.dims(), 384);
    assert_eq!(embedder.info().max_tokens, reference.max_seq_length);
    assert_eq!(embedder.model_name(), "all-minilm-l6-v2");

    let counted = embedder.embed_counted(reference.texts.clone()).await.unwrap();
    assert_eq!(
        counted.tokens,
        reference.token_counts.iter().sum::<usize>(),
        "word pieces"
    );
    let (vectors, short_ms, long_ms) = embed_both_ways(&embedder, &reference.texts).await;
    let mut worst = f32::MAX;
    for (i, (got, want)) in vectors.iter().zip(&reference.vectors).enumerate() {
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "text {i} is not normalised: {norm}");
        let similarity = cosine(got, want);
        assert!(
            similarity >= 1.0 - 1e-3,
            "text {i} {:?}: cosine {similarity}",
            reference.texts[i]
        );
        worst = worst.min(similarity);
    }
    eprintln!(
        "candle vs reference: worst cosine {worst:.6}; one text per request: {short_ms:.1} ms per \
         sentence, {long_ms:.1} ms for the 256-piece text"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gguf_through_llama_cpp_matches_candle() {
    let reference = reference();
    let candle = Embedder::load(&model_dir(), EmbedderOptions::default())
        .await
        .unwrap();
    let gguf = Embedder::load(
        &gguf_file(),
        EmbedderOptions {
            // The same cut as sentence-transformers' max_seq_length, for the long text.
            max_tokens: Some(reference.max_seq_length),
            ..EmbedderOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(gguf.info().backend, EmbeddingBackend::LlamaCpp);
    assert_eq!(gguf.dims(), 384);

    let counted = gguf.embed_counted(reference.texts.clone()).await.unwrap();
    assert_eq!(
        counted.tokens,
        reference.token_counts.iter().sum::<usize>(),
        "word pieces"
    );
    let (from_gguf, gguf_short, gguf_long) = embed_both_ways(&gguf, &reference.texts).await;
    let (from_candle, candle_short, candle_long) = embed_both_ways(&candle, &reference.texts).await;
    let mut worst = f32::MAX;
    for (i, (a, b)) in from_gguf.iter().zip(&from_candle).enumerate() {
        let similarity = cosine(a, b);
        assert!(
            similarity >= 1.0 - 1e-3,
            "text {i} {:?}: GGUF vs candle cosine {similarity}",
            reference.texts[i]
        );
        worst = worst.min(cosine(a, &reference.vectors[i]).min(similarity));
    }
    eprintln!(
        "GGUF (F16) vs candle and reference: worst cosine {worst:.6}; one text per request, ms per \
         sentence / for the 256-piece text: candle {candle_short:.1} / {candle_long:.1}, llama.cpp \
         {gguf_short:.1} / {gguf_long:.1}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_gguf_is_refused_as_an_embedding_model() {
    let chat_model = crate::engine::test_model();
    let err = Embedder::load(&chat_model, EmbedderOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, agentbox::engine::EngineError::EmbeddingModel { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("not an embedding model"), "{err}");
}

/// Starts the platform with the test embedding model.
async fn app_with_model() -> TestApp {
    TestApp::start_with(Options {
        tls: false,
        extra_env: vec![(
            "AGENTBOX_EMBEDDINGS_MODEL".into(),
            model_dir().display().to_string(),
        )],
        ..Options::default()
    })
    .await
}

fn id(user: &Value) -> Uuid {
    user["id"].as_str().unwrap().parse().unwrap()
}

/// A chat session of `user` with `messages`, written under the user's own claims (RLS).
async fn chat(app: &TestApp, user: Uuid, messages: &[&str]) -> Vec<Uuid> {
    let session = Uuid::new_v4();
    let mut sql =
        format!("insert into sessions (id, user_id, agent) values ('{session}', '{user}', 'assistant');");
    let ids: Vec<Uuid> = messages.iter().map(|_| Uuid::new_v4()).collect();
    for (id, text) in ids.iter().zip(messages) {
        let text = text.replace('\'', "''");
        let _ = write!(
            sql,
            "insert into messages (id, session_id, user_id, role, content) values ('{id}', '{session}', '{user}', 'user', '{text}');"
        );
    }
    app.store().execute_as(Actor::User(user), sql).await.unwrap();
    ids
}

async fn search(session: &Session, body: Value) -> Value {
    let response = session.post("/api/v1/search/semantic", body).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_search_finds_the_callers_own_rows_only() {
    let app = app_with_model().await;
    let alice = app.create_user("alice@example.com", "Acme", false).await;
    let bob = app.create_user("bob@example.com", "Globex", false).await;
    let (alice_id, bob_id) = (id(&alice), id(&bob));
    let alice_messages = chat(
        &app,
        alice_id,
        &[
            "I love baking sourdough bread on Sunday mornings.",
            "The quarterly revenue of our sales team missed its target.",
            "Remind me to water the plants in the office.",
        ],
    )
    .await;
    // Bob's message is the closest of all to the query: it must never come back to Alice.
    let bob_messages = chat(&app, bob_id, &["Sales revenue fell below the quarterly target."]).await;
    let session_a = app.login("alice@example.com", PASSWORD).await;
    let session_b = app.login("bob@example.com", PASSWORD).await;

    // pgvector (0.8, iterative scans) on the embedded database; real[] on Postgres 15 here.
    let storage = app.store().vector_storage().await.unwrap();
    match app.store().kind() {
        DatabaseKind::Embedded => assert_eq!(storage, VectorStorage::PgVector { iterative_scan: true }),
        DatabaseKind::External => assert_eq!(storage, VectorStorage::RealArray),
    }
    let hnsw = app
        .store()
        .query_json_as(
            Actor::System,
            "select indexname from pg_indexes where indexname = 'embeddings_hnsw_384_idx'".into(),
            5,
        )
        .await
        .unwrap();
    assert_eq!(
        hnsw.len(),
        usize::from(app.store().kind() == DatabaseKind::Embedded)
    );

    for session in [&session_a, &session_b] {
        let response = session
            .post("/api/v1/search/index", json!({ "sources": ["message"] }))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let report: Value = response.json().await.unwrap();
        assert_eq!(report["model"], "all-minilm-l6-v2");
    }
    // Indexing again finds nothing new.
    let report: Value = session_a
        .post("/api/v1/search/index", json!({ "sources": ["message"] }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["messages"], 0);

    let found = search(
        &session_a,
        json!({ "query": "sales revenue below target", "k": 5 }),
    )
    .await;
    let results = found["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{found}");
    assert_eq!(results[0]["source"], "message");
    assert_eq!(results[0]["message_id"], alice_messages[1].to_string());
    assert!(
        results[0]["snippet"]
            .as_str()
            .unwrap()
            .contains("quarterly revenue")
    );
    let scores: Vec<f64> = results.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");
    assert!(scores[0] > 0.5 && scores[0] <= 1.0001, "{scores:?}");
    let bob_id_text = bob_messages[0].to_string();
    assert!(results.iter().all(|r| r["message_id"] != bob_id_text.as_str()));

    // Bob sees his own, and nothing of Alice's.
    let found = search(&session_b, json!({ "query": "sourdough bread", "k": 50 })).await;
    let results = found["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["message_id"], bob_id_text);

    // Raw SQL under Alice's claims sees only her rows; Bob's message cannot be indexed by her.
    let rows = app
        .store()
        .query_json_as(Actor::User(alice_id), "select owner from embeddings".into(), 100)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["owner"] == alice_id.to_string()));
    let response = session_a
        .post(
            "/api/v1/search/index",
            json!({ "message_ids": [bob_messages[0]] }),
        )
        .await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_files_are_chunked_indexed_and_searched() {
    let app = app_with_model().await;
    let carol = app.create_user("carol@example.com", "Acme", false).await;
    let session = app.login("carol@example.com", PASSWORD).await;
    // Carol's workspace is her company's folder; files elsewhere in the workspace (another
    // company's, or at the top) are not hers to index.
    let base = app.data_dir.join("workspace");
    let workspace = base.join("companies").join(carol["company_id"].as_str().unwrap());
    std::fs::write(base.join("top-level.txt"), "Not in any company's folder.").unwrap();
    std::fs::create_dir_all(workspace.join("notes")).unwrap();
    std::fs::write(
        workspace.join("notes/infra.md"),
        "# Infrastructure\nThe database backups run every night at two o'clock.\n",
    )
    .unwrap();
    std::fs::write(
        workspace.join("recipes.txt"),
        "Pancakes need flour, eggs and milk.",
    )
    .unwrap();
    std::fs::write(workspace.join("logo.png"), [0x89, b'P', b'N', b'G', 0, 0, 0, 1]).unwrap();

    let response = session
        .post("/api/v1/search/index", json!({ "sources": ["workspace"] }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = response.json().await.unwrap();
    assert_eq!(
        (report["files"].as_u64(), report["skipped_files"].as_u64()),
        (Some(2), Some(1)),
        "{report}"
    );

    // A second run embeds only what changed.
    std::fs::write(
        workspace.join("recipes.txt"),
        "Pancakes need flour, eggs, milk and butter.",
    )
    .unwrap();
    let report: Value = session
        .post("/api/v1/search/index", json!({ "sources": ["workspace"] }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (report["files"].as_u64(), report["unchanged_files"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );

    let found = search(
        &session,
        json!({ "query": "when are backups taken?", "k": 2, "sources": ["workspace"] }),
    )
    .await;
    let results = found["results"].as_array().unwrap();
    assert_eq!(results[0]["source"], "workspace");
    assert_eq!(results[0]["path"], "notes/infra.md");
    assert_eq!(results[0]["chunk"], 0);
    // A deleted file leaves the index at the next run.
    std::fs::remove_file(workspace.join("notes/infra.md")).unwrap();
    let report: Value = session
        .post("/api/v1/search/index", json!({ "sources": ["workspace"] }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["removed_chunks"], 1, "{report}");
    let found = search(&session, json!({ "query": "backups", "sources": ["workspace"] })).await;
    let paths: Vec<&str> = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["recipes.txt"]);
    // Only messages asked for: none indexed, nothing found.
    let found = search(&session, json!({ "query": "backups", "sources": ["message"] })).await;
    assert_eq!(found["results"], json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_embeddings_endpoint_shape() {
    let app = app_with_model().await;
    app.create_user("dev@example.com", "Acme", false).await;
    let session = app.login("dev@example.com", PASSWORD).await;
    let key = session.api_key("sdk", &["read", "write"]).await;
    let client = app.client();
    let post = |body: Value| {
        client
            .post(app.url("/v1/embeddings"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };

    let response = post(json!({ "model": "text-embedding-3-small", "input": "hello world" }))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "all-minilm-l6-v2");
    assert_eq!(body["data"][0]["object"], "embedding");
    assert_eq!(body["data"][0]["index"], 0);
    let first = floats(&body["data"][0]["embedding"]);
    assert_eq!(first.len(), 384);
    assert_eq!(body["usage"]["prompt_tokens"], 4); // [CLS] hello world [SEP]
    assert_eq!(body["usage"]["total_tokens"], 4);

    let response = post(json!({ "model": "x", "input": ["a cat", "hello world"], "encoding_format": "base64", "dimensions": 384 }))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"][1]["index"], 1);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body["data"][1]["embedding"].as_str().unwrap())
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert!(cosine(&decoded, &first) > 0.9999);

    app.stop().await;
}

/// Bad search requests: 422 with the field named, or `invalid_body` for an unknown source.
async fn search_input_is_checked(session: &Session) {
    for (body, field) in [
        (json!({ "query": "  " }), "query"),
        (json!({ "query": "x", "k": 0 }), "k"),
        (json!({ "query": "x", "k": 51 }), "k"),
        (json!({ "query": "x", "sources": [] }), "sources"),
        (json!({ "query": "q".repeat(2001) }), "query"),
    ] {
        let response = session.post("/api/v1/search/semantic", body).await;
        let got: Value = response.json().await.unwrap();
        assert_eq!(
            (got["code"].as_str(), got["field"].as_str()),
            (Some("invalid_input"), Some(field))
        );
    }
    let response = session
        .post(
            "/api/v1/search/semantic",
            json!({ "query": "x", "sources": ["email"] }),
        )
        .await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_embedding_and_search_input_gets_4xx_with_stable_codes() {
    let app = app_with_model().await;
    app.create_user("dev@example.com", "Acme", false).await;
    let session = app.login("dev@example.com", PASSWORD).await;
    let key = session.api_key("sdk", &["read", "write"]).await;
    let client = app.client();
    let post = |body: Value| {
        client
            .post(app.url("/v1/embeddings"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };

    // (body, code): 400 unless the code says otherwise (OpenAI's status for bad input).
    let cases = [
        (json!({ "input": "" }), "invalid_input"),
        (json!({ "input": [] }), "invalid_input"),
        (json!({ "input": ["ok", ""] }), "invalid_input"),
        (json!({ "input": 42 }), "invalid_input"),
        (json!({ "input": [1, 2, 3] }), "invalid_input"),
        (json!({ "input": { "text": "x" } }), "invalid_input"),
        (json!({ "model": "m" }), "invalid_body"),
        (json!({ "input": "x".repeat(60_000) }), "invalid_input"),
        (json!({ "input": vec!["x"; 300] }), "invalid_input"),
        (json!({ "input": "x", "dimensions": 1536 }), "invalid_input"),
        (
            json!({ "input": "x", "encoding_format": "int8" }),
            "invalid_input",
        ),
        (json!({ "input": "x".repeat(3 << 20) }), "payload_too_large"),
    ];
    for (body, code) in cases {
        let status = if code == "payload_too_large" {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        let shown = body.to_string().chars().take(60).collect::<String>();
        let response = post(body).await.unwrap();
        assert_eq!(
            openai_error_code(response).await,
            (status, code.to_owned()),
            "{shown}"
        );
    }
    // A fresh client: the server closes the connection that carried the refused 3 MB body, and
    // a pooled client could send the next request on it as it closes.
    let client = app.client();
    let response = client
        .post(app.url("/v1/embeddings"))
        .header("content-type", "application/json")
        .body("{\"input\": ")
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        openai_error_code(response).await,
        (StatusCode::BAD_REQUEST, "invalid_json".into())
    );
    let response = client
        .post(app.url("/v1/embeddings"))
        .json(&json!({ "input": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        openai_error_code(response).await,
        (StatusCode::UNAUTHORIZED, "unauthenticated".into())
    );

    search_input_is_checked(&session).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_search_answers_503_with_a_stable_code() {
    for setting in [None, Some("/nonexistent/model.gguf"), Some("off")] {
        let mut options = Options {
            tls: false,
            ..Options::default()
        };
        if let Some(value) = setting {
            options
                .extra_env
                .push(("AGENTBOX_EMBEDDINGS_MODEL".into(), value.into()));
        }
        let app = TestApp::start_with(options).await;
        app.create_user("eve@example.com", "Acme", false).await;
        let session = app.login("eve@example.com", PASSWORD).await;
        for (path, body) in [
            ("/api/v1/search/semantic", json!({ "query": "anything" })),
            ("/api/v1/search/index", json!({})),
            ("/v1/embeddings", json!({ "input": "anything" })),
        ] {
            let response = session.post(path, body).await;
            let status = response.status();
            let mut got: Value = response.json().await.unwrap();
            if path.starts_with("/v1/") {
                got = got["error"].take();
            }
            assert_eq!(
                (status, got["code"].as_str()),
                (StatusCode::SERVICE_UNAVAILABLE, Some("embeddings_unavailable")),
                "{path} with {setting:?}: {got}"
            );
            assert!(got["message"].as_str().unwrap().contains("unavailable"), "{got}");
        }
        app.stop().await;
    }
}
