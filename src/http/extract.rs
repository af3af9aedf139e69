//! Extractors: JSON, path and query that answer with the platform's error shape, and the
//! authenticated caller.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{Method, header};

use super::AppState;
use super::error::ApiError;
use crate::domain::{Credential, Identity, KeyScope};
use crate::service::ServiceError;
use crate::service::auth::ClientInfo;

/// `Json<T>` whose rejections are `ApiError`s.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// A JSON body whatever the `Content-Type` says: Ollama's clients and its documented `curl`
/// calls send none (or a form type). Rejections are those of [`ApiJson`].
#[derive(Debug)]
pub struct AnyJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for AnyJson<T> {
    type Rejection = ApiError;

    async fn from_request(mut request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        );
        let ApiJson(value) = ApiJson::<T>::from_request(request, state).await?;
        Ok(AnyJson(value))
    }
}

/// `Path<T>` whose rejections are `ApiError`s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `Query<T>` whose rejections are `ApiError`s.
#[derive(Debug, FromRequestParts)]
#[from_request(via(Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// The browser session cookie.
pub const SESSION_COOKIE: &str = "agentbox_session";
/// The header that carries the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The signed-in caller. Bearer API keys are checked against their scopes; cookie sessions
/// must echo their CSRF token on every request that is not safe.
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if let Some(key) = bearer_token(parts) {
            let identity = state
                .services
                .auth
                .authenticate_api_key(key)
                .await?
                .ok_or(ServiceError::Unauthenticated)?;
            if let Credential::ApiKey { scopes, .. } = &identity.credential {
                let needed = if safe { KeyScope::Read } else { KeyScope::Write };
                if !scopes.contains(&needed) {
                    return Err(ServiceError::InsufficientScope(needed.as_str()).into());
                }
            }
            return Ok(Caller(identity));
        }
        let token = cookie(parts, SESSION_COOKIE).ok_or(ServiceError::Unauthenticated)?;
        let identity = state
            .services
            .auth
            .authenticate_session(token)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        if let Credential::Session { csrf_token, .. } = &identity.credential
            && !safe
        {
            if !from_same_origin(parts) {
                return Err(ApiError::CrossOrigin);
            }
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .map(axum::http::HeaderValue::as_bytes)
                .unwrap_or_default();
            if !constant_time_eq(sent, csrf_token.as_bytes()) {
                return Err(ApiError::Csrf);
            }
        }
        Ok(Caller(identity))
    }
}

/// Whether a cookie write comes from the platform's own pages, by what the browser says of
/// where it was made: `Sec-Fetch-Site` where the browser sends it (every current one does),
/// else `Origin` against the host the request was sent to. A request with neither is not from
/// a browser page, and the CSRF token alone decides. (The token already stops a forged write;
/// this refuses one even if a token leaked, as `SameSite=Strict` does for the cookie.)
fn from_same_origin(parts: &Parts) -> bool {
    if let Some(site) = parts.headers.get("sec-fetch-site") {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = parts.headers.get(header::ORIGIN) else {
        return true;
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| parts.uri.authority().map(axum::http::uri::Authority::as_str));
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, authority)| authority);
    matches!((origin_host, host), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

/// Who is on the other end of the connection, for sessions and throttling.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Client(ClientInfo { ip, user_agent }))
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The value of one cookie from the `Cookie` headers.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
