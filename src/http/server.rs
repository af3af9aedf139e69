//! The listeners: the main one (HTTPS, or plain HTTP with TLS off) and the plain-HTTP one that
//! redirects to HTTPS and answers `/health`.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_server::Handle;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};

use super::routes::health::health;

/// Serves `router` on `listener` until `handle` shuts it down.
pub async fn serve_main(
    listener: std::net::TcpListener,
    router: Router,
    tls: Option<RustlsConfig>,
    handle: Handle,
) -> std::io::Result<()> {
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    // TCP_NODELAY: without it, a response (or an SSE event) written as more than one segment —
    // every TLS response is — waits ~40 ms for the client's delayed ACK (Nagle).
    let server = axum_server::from_tcp(listener).handle(handle);
    match tls {
        Some(config) => {
            server
                .acceptor(RustlsAcceptor::new(config).acceptor(NoDelayAcceptor))
                .serve(service)
                .await
        }
        None => server.acceptor(NoDelayAcceptor).serve(service).await,
    }
}

/// Serves the redirect listener: `/health` plainly, everything else 308 to HTTPS.
pub async fn serve_redirect(
    listener: std::net::TcpListener,
    https_port: u16,
    handle: Handle,
) -> std::io::Result<()> {
    let router = Router::new()
        .route("/health", get(health))
        .fallback(move |request: Request| async move { redirect(&request, https_port) });
    axum_server::from_tcp(listener)
        .handle(handle)
        .serve(router.into_make_service())
        .await
}

fn redirect(request: &Request, https_port: u16) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(strip_port)
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c))
        });
    let Some(host) = host else {
        return (StatusCode::BAD_REQUEST, "a Host header is required").into_response();
    };
    let authority = if https_port == 443 {
        host.to_owned()
    } else {
        format!("{host}:{https_port}")
    };
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    match format!("https://{authority}{path}").parse::<Uri>() {
        Ok(target) => Redirect::permanent(&target.to_string()).into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "invalid request target").into_response(),
    }
}

/// `example.com:8080` → `example.com`, `[::1]:8080` → `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}
