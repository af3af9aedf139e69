//! `/mcp`: the platform's MCP server over Streamable HTTP. Only bearer API keys get in (MCP
//! clients do not hold browser sessions); a request without a valid key gets 401 with
//! `WWW-Authenticate: Bearer`, and the caller's identity travels to the tools in the request's
//! extensions.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::mcp_server::{self, PlatformMcp};
use crate::service::ServiceError;

/// The `/mcp` endpoint with its authentication in front.
pub fn routes(state: &AppState) -> Router<AppState> {
    let mcp = PlatformMcp::per_request(state.services.host_tools(), state.settings.mcp.call_timeout);
    let service = mcp_server::http_service(mcp, &state.settings.mcp.allowed_hosts, state.shutdown.clone());
    Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(state.clone(), authenticate))
}

async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let key = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let Some(key) = key else {
        return ApiError::from(ServiceError::Unauthenticated).into_response();
    };
    match state.services.auth.authenticate_api_key(&key).await {
        Ok(Some(identity)) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Ok(None) => ApiError::from(ServiceError::Unauthenticated).into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}
