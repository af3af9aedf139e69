//! Request metrics: every answer is counted by method, matched route and status, with its
//! latency, for `GET /metrics`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::Metrics;

/// The route label of requests that matched no route (404s, probes of random paths): one
/// series for all of them, however many paths clients invent.
const UNMATCHED: &str = "unmatched";

/// Records the request once its response head is ready. Keyed on the route's pattern as the
/// router matched it (`/api/v1/sessions/{id}`), never the path the client sent.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let method = method_label(request.method());
    let _in_flight = metrics.request_started();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.record_request(method, &route, response.status().as_u16(), started.elapsed());
    response
}

/// Standard methods by name; anything else under one label (clients choose methods freely).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
