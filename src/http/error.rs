//! The only place where errors become HTTP responses. Every error body is
//! `{"code": "...", "message": "..."}` with a stable machine `code`; a 5xx logs the cause chain
//! and tells the client only that it happened.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::engine::EngineError;
use crate::service::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Json(#[from] JsonRejection),
    #[error(transparent)]
    Path(#[from] PathRejection),
    #[error(transparent)]
    Query(#[from] QueryRejection),
    #[error("a cookie-authenticated write needs the X-CSRF-Token header from sign-in or /api/v1/me")]
    Csrf,
    #[error("a cookie-authenticated write from another site's page is refused (Sec-Fetch-Site or Origin)")]
    CrossOrigin,
    #[error("no route for {0}")]
    RouteNotFound(String),
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    #[error("internal error")]
    Panic,
    #[error("agentbox is starting (opening the database, applying migrations); try again shortly")]
    Starting,
    /// An agent run or a download that failed after it started (`code` as its SSE `error`
    /// event says).
    #[error("{message}")]
    RunFailed { code: &'static str, message: String },
    /// A request field the compatible APIs do not support (or not with this value).
    #[error("{message}")]
    Unsupported { field: &'static str, message: String },
}

/// Every error answer: a stable machine `code` and a message for people.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// Stable and machine-readable, e.g. `not_found`, `invalid_input`, `unauthenticated`.
    code: &'a str,
    /// What went wrong, for people; 5xx answers say only that it happened.
    message: String,
    /// The request field at fault, for `invalid_input`.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl<'a> ErrorBody<'a> {
    /// The body of an error reported inside a stream (an SSE `error` event).
    pub fn new(code: &'a str, message: String) -> Self {
        Self {
            code,
            message,
            field: None,
        }
    }
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, Option<&'static str>) {
        use ServiceError as S;
        match self {
            ApiError::Service(err) => match err {
                S::InvalidInput { field, .. } => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", Some(field))
                }
                S::NotFound("model") => (StatusCode::NOT_FOUND, "model_not_found", None),
                S::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
                S::Conflict { code, .. } => (StatusCode::CONFLICT, code, None),
                S::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated", None),
                S::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials", None),
                S::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
                S::InsufficientScope(_) => (StatusCode::FORBIDDEN, "insufficient_scope", None),
                S::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", None),
                S::AlreadySetUp => (StatusCode::CONFLICT, "already_set_up", None),
                S::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", None),
                S::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
                S::Workspace(_) => (StatusCode::INTERNAL_SERVER_ERROR, "workspace_error", None),
                S::Engine(err) => {
                    let (status, code) = engine_status(err);
                    (status, code, None)
                }
            },
            ApiError::Json(rejection) => match rejection {
                JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "invalid_json", None),
                JsonRejection::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", None),
                JsonRejection::MissingJsonContentType(_) => {
                    (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None)
                }
                other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None)
                }
                other => (other.status(), "invalid_body", None),
            },
            ApiError::Path(_) => (StatusCode::BAD_REQUEST, "invalid_path", None),
            ApiError::Query(_) => (StatusCode::BAD_REQUEST, "invalid_query", None),
            ApiError::Csrf | ApiError::CrossOrigin => (StatusCode::FORBIDDEN, "csrf_failed", None),
            ApiError::RouteNotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None),
            ApiError::Panic => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
            ApiError::Starting => (StatusCode::SERVICE_UNAVAILABLE, "starting", None),
            ApiError::RunFailed { code, .. } => (run_failed_status(code), code, None),
            ApiError::Unsupported { field, .. } => {
                (StatusCode::BAD_REQUEST, "unsupported_value", Some(field))
            }
        }
    }

    /// What a 5xx tells the client instead of its cause.
    fn public_message(&self) -> String {
        match self {
            ApiError::Service(ServiceError::Unavailable(_)) => {
                "the database is unavailable; try again shortly".to_owned()
            }
            _ => "internal error; the server log has the details".to_owned(),
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Json(rejection) => rejection.body_text(),
            ApiError::Path(rejection) => rejection.body_text(),
            ApiError::Query(rejection) => rejection.body_text(),
            other => other.to_string(),
        }
    }
}

impl ApiError {
    /// Status, code, field and the message the client may see (a 5xx's cause is logged here
    /// and replaced by a generic message): what every error shape is made from.
    pub(crate) fn public_parts(&self) -> (StatusCode, &'static str, Option<&'static str>, String) {
        let (status, code, field) = self.parts();
        let public = match self {
            ApiError::Starting | ApiError::RunFailed { .. } => true,
            ApiError::Service(ServiceError::Engine(err)) => engine_message_is_public(err),
            _ => false,
        };
        let message = if status.is_server_error() && !public {
            log_cause_chain(self);
            self.public_message()
        } else {
            self.message()
        };
        (status, code, field, message)
    }

    /// `Retry-After` and `WWW-Authenticate`, where the error calls for them.
    fn add_headers(&self, headers: &mut HeaderMap) {
        match self {
            ApiError::Service(ServiceError::TooManyAttempts { retry_after }) => {
                let secs = retry_after.as_secs().max(1).to_string();
                if let Ok(value) = HeaderValue::from_str(&secs) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            ApiError::Service(ServiceError::Unauthenticated) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, field, message) = self.public_parts();
        let mut response = (status, Json(ErrorBody { code, message, field })).into_response();
        self.add_headers(response.headers_mut());
        response
    }
}

/// An error of the OpenAI-compatible API, in `OpenAI`'s own shape, which its SDKs parse:
/// `{"error": {"message", "type", "param", "code"}}`. Validation errors are 400s there.
#[derive(Debug)]
pub struct OpenAiError(pub ApiError);

/// The `error` object of an `OpenAI`-shaped error (also sent inside a stream).
#[derive(Serialize, utoipa::ToSchema)]
pub struct OpenAiErrorDetail {
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `permission_error`,
    /// `rate_limit_error` or `server_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The request field at fault.
    pub param: Option<&'static str>,
    /// The same stable code as the platform API's, e.g. `model_not_found`.
    pub code: &'static str,
}

/// `{"error": {...}}`
#[derive(Serialize, utoipa::ToSchema)]
pub struct OpenAiErrorBody {
    pub error: OpenAiErrorDetail,
}

impl OpenAiError {
    /// The status and body of the error.
    pub(crate) fn body(&self) -> (StatusCode, OpenAiErrorBody) {
        let (status, code, param, message) = self.0.public_parts();
        let status = compat_status(status);
        let kind = match status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::FORBIDDEN => "permission_error",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            status if status.is_server_error() => "server_error",
            _ => "invalid_request_error",
        };
        let error = OpenAiErrorDetail {
            message,
            kind,
            param,
            code,
        };
        (status, OpenAiErrorBody { error })
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let (status, body) = self.body();
        let mut response = (status, Json(body)).into_response();
        self.0.add_headers(response.headers_mut());
        response
    }
}

/// An error of the Ollama-compatible API, in Ollama's shape: `{"error": "message"}`.
#[derive(Debug)]
pub struct OllamaError(pub ApiError);

/// `{"error": "..."}`
#[derive(Serialize, utoipa::ToSchema)]
pub struct OllamaErrorBody {
    pub error: String,
}

impl OllamaError {
    pub(crate) fn body(&self) -> (StatusCode, OllamaErrorBody) {
        let (status, _, _, message) = self.0.public_parts();
        (compat_status(status), OllamaErrorBody { error: message })
    }
}

impl IntoResponse for OllamaError {
    fn into_response(self) -> Response {
        let (status, body) = self.body();
        let mut response = (status, Json(body)).into_response();
        self.0.add_headers(response.headers_mut());
        response
    }
}

/// Both compatible shapes wrap any error the handlers meet.
macro_rules! compat_error_from {
    ($shape:ident: $($source:ty),+) => {
        $(impl From<$source> for $shape {
            fn from(err: $source) -> Self {
                $shape(err.into())
            }
        })+
    };
}
compat_error_from!(OpenAiError: ApiError, ServiceError, EngineError, JsonRejection);
compat_error_from!(OllamaError: ApiError, ServiceError, EngineError, JsonRejection);

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        ApiError::Service(ServiceError::Engine(err))
    }
}

/// The compatible APIs answer bad input with 400, as `OpenAI` and Ollama do (the platform API
/// says 422 for a well-formed request it cannot accept).
fn compat_status(status: StatusCode) -> StatusCode {
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    }
}

/// The status of a run that failed with `code` (its SSE `error` event's).
fn run_failed_status(code: &str) -> StatusCode {
    match code {
        "model_unavailable" | "storage_failed" => StatusCode::SERVICE_UNAVAILABLE,
        "model_timeout" => StatusCode::GATEWAY_TIMEOUT,
        "too_many_steps" => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_GATEWAY,
    }
}

fn log_cause_chain(err: &dyn std::error::Error) {
    tracing::error!(error = %crate::error_chain::error_chain(err), "request failed");
}

/// Status and stable code of an engine error; the SSE `error` events of model pulls use the same.
pub(crate) fn engine_status(err: &EngineError) -> (StatusCode, &'static str) {
    use EngineError as E;
    match err {
        E::UnknownModel { .. } => (StatusCode::NOT_FOUND, "model_not_found"),
        E::InvalidGguf { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_gguf"),
        E::Unverified { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "unverified_model"),
        E::Refused(_) => (StatusCode::CONFLICT, "model_conflict"),
        E::RoleRefused(_) => (StatusCode::CONFLICT, "role_conflict"),
        E::PullLocked { .. } => (StatusCode::CONFLICT, "pull_in_progress"),
        E::ChecksumMismatch { .. } => (StatusCode::BAD_GATEWAY, "checksum_mismatch"),
        E::SizeMismatch { .. } => (StatusCode::BAD_GATEWAY, "size_mismatch"),
        E::Download { .. } => (StatusCode::BAD_GATEWAY, "download_failed"),
        E::Cancelled { .. } => (StatusCode::SERVICE_UNAVAILABLE, "pull_cancelled"),
        E::Catalog(_) => (StatusCode::INTERNAL_SERVER_ERROR, "catalog_invalid"),
        E::HttpClient(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        E::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "storage_error"),
        E::ModelMissing(_) => (StatusCode::SERVICE_UNAVAILABLE, "model_unavailable"),
        E::OverBudget { .. } => (StatusCode::SERVICE_UNAVAILABLE, "model_over_budget"),
        E::Load(_) => (StatusCode::INTERNAL_SERVER_ERROR, "model_load_failed"),
        E::ContextOverflow { .. } => (StatusCode::BAD_REQUEST, "context_overflow"),
        E::InvalidRequest(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        E::Template(_) => (StatusCode::INTERNAL_SERVER_ERROR, "template_error"),
        E::Decode(_) => (StatusCode::INTERNAL_SERVER_ERROR, "generation_failed"),
        E::InvalidOutput(_) => (StatusCode::BAD_GATEWAY, "invalid_model_output"),
        E::Provider { .. } => (StatusCode::BAD_GATEWAY, "provider_error"),
        E::ProviderUnavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable"),
        E::EmbeddingsUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "embeddings_unavailable"),
        E::EmbeddingModel { .. } => (StatusCode::SERVICE_UNAVAILABLE, "embedding_model_invalid"),
        E::Embedding(_) => (StatusCode::INTERNAL_SERVER_ERROR, "embedding_failed"),
    }
}

/// 5xx engine errors whose message says nothing about the server's insides (they are about a
/// remote server or the model) and helps the caller, so it is shown rather than hidden.
fn engine_message_is_public(err: &EngineError) -> bool {
    use EngineError as E;
    matches!(
        err,
        E::ChecksumMismatch { .. }
            | E::SizeMismatch { .. }
            | E::Download { .. }
            | E::Cancelled { .. }
            | E::ModelMissing(_)
            | E::OverBudget { .. }
            | E::InvalidOutput(_)
            | E::Provider { .. }
            | E::ProviderUnavailable { .. }
            | E::EmbeddingsUnavailable(_)
    )
}

/// `{code, message}` of an engine error reported inside a stream (an SSE `error` event), where
/// the status line has already been sent: the same code and the same message rules as a response.
pub(crate) fn engine_error_body(err: &EngineError) -> (&'static str, String) {
    let (status, code) = engine_status(err);
    if status.is_server_error() && !engine_message_is_public(err) {
        log_cause_chain(err);
        (code, "internal error; the server log has the details".to_owned())
    } else {
        (code, err.to_string())
    }
}

/// `{code, message}` of a service error reported inside a stream (an SSE `error` event), where
/// the status line has already been sent: the same code and message rules as a response.
pub(crate) fn service_error_body(err: ServiceError) -> (&'static str, String) {
    let error = ApiError::Service(err);
    let (status, code, _) = error.parts();
    if status.is_server_error() {
        log_cause_chain(&error);
        (code, error.public_message())
    } else {
        (code, error.message())
    }
}
