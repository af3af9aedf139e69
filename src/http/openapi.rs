//! The OpenAPI 3.1 document at `GET /api/v1/openapi.json`. Operations come from the
//! `#[utoipa::path]` annotations of the handlers that `documented_routes` registers; this module
//! adds what is the same for all of them: the API's description and tags, the security schemes
//! and each operation's requirement (derived from whether it is public and from its method,
//! exactly as the `Caller` extractor decides), and the error responses.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    Components, ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, SecurityRequirement,
};

use super::error::ErrorBody;
use super::extract::SESSION_COOKIE;
use super::openai::stream::Chunk as ChatCompletionChunk;
use super::routes::models::{PullDone, PullProgress};
use crate::service::chat::events::{RunSummary, TokenData, ToolCallData, ToolCallDeltaData, ToolResultData};

/// The security scheme names operations refer to.
const BEARER: &str = "api_key";
const SESSION: &str = "session";
const CSRF: &str = "csrf";

/// Shared responses in `components.responses`.
const UNAUTHENTICATED: &str = "Unauthenticated";
const FORBIDDEN: &str = "Forbidden";
const ERROR: &str = "Error";
const OPENAI_ERROR: &str = "OpenAiError";
const OLLAMA_ERROR: &str = "OllamaError";

const DESCRIPTION: &str = "\
The REST API of agentbox, a self-hosted AI agent platform.

**Authentication.** Programs send an API key: `Authorization: Bearer abx_...` (create one with \
`POST /api/v1/keys`; a key with only the `read` scope may make GET requests only). Browsers sign \
in with `POST /api/v1/auth/login`, which sets the HTTP-only session cookie `agentbox_session` and \
answers with a `csrf_token`: every request made with the cookie that is not a GET, HEAD or \
OPTIONS must send it back as the `X-CSRF-Token` header. Operations without a security \
requirement need neither.

**Errors.** Every error answer is JSON `{\"code\", \"message\", \"field\"?}`: `code` is stable and \
machine-readable (`invalid_input`, `not_found`, `unauthenticated`, `forbidden`, `csrf_failed`, \
`insufficient_scope`, ...), `field` names the request field at fault for `invalid_input`.

**Streams.** Operations documented as `text/event-stream` answer with server-sent events; their \
descriptions name the events, whose `data` is one JSON object each.";

/// How the schema of a `text/event-stream` answer reads: each server-sent event, with its name
/// and its `data`, one JSON object (the operation's description names the events).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the streams are written by axum's `Sse`
pub struct ServerSentEvent {
    /// The event's name (the compatible APIs' streams send none).
    event: Option<String>,
    /// One JSON object.
    data: String,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "agentbox", description = DESCRIPTION),
    tags(
        (name = "system", description = "Liveness, readiness and this document"),
        (name = "auth", description = "First-run setup, sign-in and sign-out, the caller"),
        (name = "keys", description = "The caller's API keys"),
        (name = "users", description = "Users of the caller's company (admins)"),
        (name = "companies", description = "The caller's company and its departments"),
        (name = "agents", description = "Agents: built in, from the agents folder, or stored"),
        (name = "sessions", description = "Chat sessions and their messages; answers stream as server-sent events"),
        (name = "tasks", description = "Background agent runs and their replayable event streams"),
        (name = "ratings", description = "Thumbs up or down on assistants' answers"),
        (name = "analytics", description = "Usage of the models: requests, tokens, latency, ratings"),
        (name = "evals", description = "Recorded runs of `agentbox eval`"),
        (name = "kpis", description = "The KPI dashboard: KPIs, their values against targets, performance"),
        (name = "models", description = "Local models: the catalog, downloads, loading"),
        (name = "providers", description = "Where models run and in which order the router tries them"),
        (name = "mcp", description = "External MCP servers whose tools agents use (admins); the platform's own tools are served at `/mcp`"),
        (name = "search", description = "Semantic search over the caller's messages and workspace files"),
        (name = "openai", description = "The OpenAI-compatible API: existing OpenAI clients and SDKs work unchanged with `base_url` set to `https://<host>/v1` and an API key. Models are local models, roles (`fast`, `reasoning`, `code`), remote providers' models and agents (`agent:<name>`, whose loop runs on the server). Errors are in OpenAI's shape, `{\"error\": {\"message\", \"type\", \"param\", \"code\"}}`"),
        (name = "ollama", description = "The Ollama-compatible API: Ollama clients work unchanged with the host set to `https://<host>` and an `Authorization: Bearer` API key header. Streams are newline-delimited JSON; errors are `{\"error\": \"message\"}`"),
    ),
    components(schemas(
        ErrorBody,
        ChatCompletionChunk,
        PullProgress,
        PullDone,
        TokenData,
        ToolCallDeltaData,
        ToolCallData,
        ToolResultData,
        RunSummary
    ))
)]
struct ApiDoc;

/// The document before any route is registered: info, tags and the schemas no operation names.
pub fn base() -> OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

/// Adds what every operation shares once all routes are registered.
pub fn finish(document: &mut OpenApi) {
    let components = document.components.get_or_insert_with(Components::new);
    components.security_schemes.extend([
        (BEARER.to_owned(), bearer_scheme()),
        (
            SESSION.to_owned(),
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie set by `POST /api/v1/auth/login` and `POST /api/v1/auth/setup`.",
            ))),
        ),
        (
            CSRF.to_owned(),
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The `csrf_token` from sign-in or `GET /api/v1/me`; required with the session \
                 cookie on every request that is not GET, HEAD or OPTIONS.",
            ))),
        ),
    ]);
    let shared = [
        (UNAUTHENTICATED, "No valid API key or session (`unauthenticated`)"),
        (
            FORBIDDEN,
            "Not allowed: `forbidden` (e.g. admins only), `insufficient_scope` (a read-only API key \
             on a write) or `csrf_failed` (a cookie write without `X-CSRF-Token`)",
        ),
        (ERROR, "Any other error"),
    ];
    for (name, description) in shared {
        components.responses.insert(
            name.to_owned(),
            RefOr::T(error_response(description, "ErrorBody")),
        );
    }
    for (name, schema) in [
        (OPENAI_ERROR, "OpenAiErrorBody"),
        (OLLAMA_ERROR, "OllamaErrorBody"),
    ] {
        components.responses.insert(
            name.to_owned(),
            RefOr::T(error_response("An error, in this API's own shape", schema)),
        );
    }

    for item in document.paths.paths.values_mut() {
        let operations = [
            (&mut item.get, true),
            (&mut item.head, true),
            (&mut item.options, true),
            (&mut item.put, false),
            (&mut item.post, false),
            (&mut item.delete, false),
            (&mut item.patch, false),
            (&mut item.trace, false),
        ];
        for (operation, safe) in operations {
            let Some(operation) = operation else { continue };
            let (unauthenticated, forbidden, error) = error_refs(operation.tags.as_deref());
            let responses = &mut operation.responses.responses;
            match &operation.security {
                // `security(())` in the annotation: no credentials needed.
                Some(requirements) if requirements.iter().all(|r| *r == SecurityRequirement::default()) => {
                    operation.security = Some(Vec::new());
                }
                Some(_) => {}
                None => {
                    operation.security = Some(caller_requirements(safe));
                    add_ref(responses, "401", unauthenticated);
                    add_ref(responses, "403", forbidden);
                }
            }
            add_ref(responses, "default", error);
        }
    }
}

fn bearer_scheme() -> SecurityScheme {
    SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("abx_...")
            .description(Some(
                "An API key: `Authorization: Bearer abx_...`. Keys with only the `read` scope \
                 may make GET, HEAD and OPTIONS requests.",
            ))
            .build(),
    )
}

/// What the `Caller` extractor accepts: an API key, or the session cookie — with the CSRF
/// header unless the method is safe.
fn caller_requirements(safe: bool) -> Vec<SecurityRequirement> {
    let no_scopes: [&str; 0] = [];
    let session = SecurityRequirement::new(SESSION, no_scopes);
    let session = if safe {
        session
    } else {
        session.add(CSRF, no_scopes)
    };
    vec![SecurityRequirement::new(BEARER, no_scopes), session]
}

fn error_response(description: &str, schema: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
}

/// The shared responses for 401, 403 and any other error: the compatible APIs answer in their
/// own error shapes.
fn error_refs(tags: Option<&[String]>) -> (&'static str, &'static str, &'static str) {
    let tagged = |name: &str| tags.is_some_and(|tags| tags.iter().any(|tag| tag == name));
    if tagged("openai") {
        (OPENAI_ERROR, OPENAI_ERROR, OPENAI_ERROR)
    } else if tagged("ollama") {
        (OLLAMA_ERROR, OLLAMA_ERROR, OLLAMA_ERROR)
    } else {
        (UNAUTHENTICATED, FORBIDDEN, ERROR)
    }
}

fn add_ref(responses: &mut std::collections::BTreeMap<String, RefOr<Response>>, status: &str, name: &str) {
    responses
        .entry(status.to_owned())
        .or_insert_with(|| Ref::from_response_name(name).into());
}

/// The OpenAPI 3.1 document of this API, from which typed clients are generated.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "getOpenApiDocument",
    tag = "system",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = serde_json::Value))
)]
pub async fn document() -> Json<OpenApi> {
    Json(super::openapi_document())
}
