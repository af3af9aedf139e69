//! `/api/v1/auth/*`: first-run setup, login, logout.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{SetupState, User};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, Caller, Client, SESSION_COOKIE};
use crate::service::auth::{SetupRequest, SignedIn};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupBody {
    email: String,
    password: String,
    display_name: Option<String>,
    /// The company the first admin joins: an existing company's name (any case) joins it
    /// (e.g. a sample company listed by `GET /api/v1/auth/setup`); another name creates it.
    /// Absent: the first listed company, or a new "My Company" when none exists.
    company: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignedInBody {
    user: User,
    /// Send this as `X-CSRF-Token` on every write made with the session cookie.
    csrf_token: String,
    expires_at: DateTime<Utc>,
}

/// Whether first-run setup is still to be done and, only then, the companies that already exist
/// (with `--sample-data`, the sample companies, the one a first admin joins by default first).
#[utoipa::path(
    get,
    path = "/auth/setup",
    operation_id = "getSetupState",
    tag = "auth",
    security(()),
    responses((status = 200, description = "Whether setup is needed, and the companies to join", body = SetupState))
)]
pub async fn setup_state(State(state): State<AppState>) -> Result<Json<SetupState>, ApiError> {
    Ok(Json(state.services.auth.setup_state().await?))
}

/// Creates the first admin (only while no user exists) and signs them in.
#[utoipa::path(
    post,
    path = "/auth/setup",
    operation_id = "setupFirstAdmin",
    tag = "auth",
    security(()),
    request_body = SetupBody,
    responses(
        (status = 201, description = "The admin, signed in", body = SignedInBody, headers(
            ("Set-Cookie" = String, description = "The HTTP-only session cookie `agentbox_session`")
        )),
        (status = 409, description = "Setup was already done (`already_set_up`)", body = ErrorBody),
        (status = 422, description = "Invalid email or too weak a password (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn setup(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<SetupBody>,
) -> Result<Response, ApiError> {
    let request = SetupRequest {
        email: body.email,
        password: body.password,
        display_name: body.display_name,
        company: body.company,
    };
    let signed_in = state.services.auth.setup(request, client).await?;
    Ok(signed_in_response(&state, StatusCode::CREATED, signed_in))
}

/// Signs in with email and password: sets the session cookie and answers with the CSRF token.
#[utoipa::path(
    post,
    path = "/auth/login",
    operation_id = "login",
    tag = "auth",
    security(()),
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = SignedInBody, headers(
            ("Set-Cookie" = String, description = "The HTTP-only session cookie `agentbox_session`")
        )),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts (`too_many_attempts`); see `Retry-After`", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let signed_in = state
        .services
        .auth
        .login(&body.email, body.password, client)
        .await?;
    Ok(signed_in_response(&state, StatusCode::OK, signed_in))
}

/// Ends the caller's session and clears the cookie.
#[utoipa::path(
    post,
    path = "/auth/logout",
    operation_id = "logout",
    tag = "auth",
    responses((status = 204, description = "Signed out"))
)]
pub async fn logout(State(state): State<AppState>, Caller(identity): Caller) -> Result<Response, ApiError> {
    state.services.auth.logout(&identity).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    set_cookie(&state, &mut response, "", 0);
    Ok(response)
}

fn signed_in_response(state: &AppState, status: StatusCode, signed_in: SignedIn) -> Response {
    let max_age = (signed_in.expires_at - Utc::now()).num_seconds().max(0);
    let body = SignedInBody {
        user: signed_in.user,
        csrf_token: signed_in.csrf_token,
        expires_at: signed_in.expires_at,
    };
    let mut response = (status, Json(body)).into_response();
    set_cookie(state, &mut response, &signed_in.session_token, max_age);
    response
}

/// HTTP-only, SameSite=Strict, and Secure whenever the listener speaks TLS.
fn set_cookie(state: &AppState, response: &mut Response, token: &str, max_age: i64) {
    let secure = if state.settings.uses_tls() { "; Secure" } else { "" };
    let cookie =
        format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}
