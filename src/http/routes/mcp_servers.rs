//! `/api/v1/mcp/servers`: the external MCP servers whose tools agents use (admins). Servers
//! from agentbox.toml are listed but changed only there; servers added here are stored with
//! their secrets encrypted, and every replica connects them within seconds.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::domain::McpServerFields;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, Caller};
use crate::service::mcp::McpServerView;

/// Every MCP server with its connection status and tools.
#[utoipa::path(
    get,
    path = "/mcp/servers",
    operation_id = "listMcpServers",
    tag = "mcp",
    responses(
        (status = 200, description = "The servers", body = Vec<McpServerView>),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<McpServerView>>, ApiError> {
    Ok(Json(state.services.mcp.list(&caller).await?))
}

/// Adds a server and starts connecting it.
#[utoipa::path(
    post,
    path = "/mcp/servers",
    operation_id = "createMcpServer",
    tag = "mcp",
    request_body = McpServerFields,
    responses(
        (status = 201, description = "The server (its status is usually `connecting`)", body = McpServerView),
        (status = 409, description = "The name is taken (`mcp_server_exists`, `mcp_server_configured`)", body = ErrorBody),
        (status = 422, description = "An invalid definition (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(input): ApiJson<McpServerFields>,
) -> Result<(StatusCode, Json<McpServerView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.services.mcp.create(&caller, input).await?),
    ))
}

/// One server with its status and tools.
#[utoipa::path(
    get,
    path = "/mcp/servers/{name}",
    operation_id = "getMcpServer",
    tag = "mcp",
    params(("name" = String, Path, description = "The server's name")),
    responses(
        (status = 200, description = "The server", body = McpServerView),
        (status = 404, description = "No such server (`not_found`)", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<McpServerView>, ApiError> {
    Ok(Json(state.services.mcp.get(&caller, &name).await?))
}

/// Replaces a stored server's definition; `{"enabled": false}` alone switches it off and keeps
/// the rest. The server reconnects with the new settings.
#[utoipa::path(
    put,
    path = "/mcp/servers/{name}",
    operation_id = "replaceMcpServer",
    tag = "mcp",
    params(("name" = String, Path, description = "The server's name")),
    request_body = McpServerFields,
    responses(
        (status = 200, description = "The server as changed", body = McpServerView),
        (status = 404, description = "No such stored server (`not_found`)", body = ErrorBody),
        (status = 409, description = "Defined in agentbox.toml (`mcp_server_configured`)", body = ErrorBody),
        (status = 422, description = "An invalid definition (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn replace(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<McpServerFields>,
) -> Result<Json<McpServerView>, ApiError> {
    Ok(Json(state.services.mcp.replace(&caller, &name, input).await?))
}

/// Removes a stored server: its connection closes and its tools disappear.
#[utoipa::path(
    delete,
    path = "/mcp/servers/{name}",
    operation_id = "deleteMcpServer",
    tag = "mcp",
    params(("name" = String, Path, description = "The server's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such stored server (`not_found`)", body = ErrorBody),
        (status = 409, description = "Defined in agentbox.toml (`mcp_server_configured`)", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.services.mcp.delete(&caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Drops the server's session and connects again now (a stdio server's process is restarted).
#[utoipa::path(
    post,
    path = "/mcp/servers/{name}/restart",
    operation_id = "restartMcpServer",
    tag = "mcp",
    params(("name" = String, Path, description = "The server's name")),
    responses(
        (status = 202, description = "Reconnecting", body = McpServerView),
        (status = 404, description = "No such server (`not_found`)", body = ErrorBody),
        (status = 409, description = "The server is disabled (`mcp_server_disabled`)", body = ErrorBody),
    )
)]
pub async fn restart(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<(StatusCode, Json<McpServerView>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(state.services.mcp.restart(&caller, &name).await?),
    ))
}
