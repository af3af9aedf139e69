//! Server-sent event streams that replay stored events (a task's, a session's answer's) and
//! follow them live: each event carries its stored id, and a client resumes after the id it saw
//! last (`Last-Event-ID`, or `?after=` for clients that cannot set headers).

use std::convert::Infallible;

use axum::http::HeaderMap;
use axum::response::sse::Event;
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

use crate::http::error::service_error_body;
use crate::service::ServiceError;

/// Where to resume: `Last-Event-ID` wins over `after`.
pub fn resume_after(headers: &HeaderMap, after: Option<i64>) -> Result<Option<i64>, ServiceError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(after);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<i64>().ok())
        .filter(|id| *id >= 0)
        .map(Some)
        .ok_or_else(|| {
            ServiceError::invalid(
                "Last-Event-ID",
                "Last-Event-ID must be the id of an event of this stream (a whole number)",
            )
        })
}

/// Stored events as SSE with their ids; an error ends the stream with an `error` event.
pub fn stored_events<S>(stream: S) -> impl Stream<Item = Result<Event, Infallible>>
where
    S: Stream<Item = Result<(i64, String, Value), ServiceError>>,
{
    stream.map(|item| {
        Ok(match item {
            Ok((id, kind, data)) => Event::default()
                .id(id.to_string())
                .event(&kind)
                .json_data(&data)
                .unwrap_or_else(|_| Event::default().id(id.to_string()).event(&kind).data("{}")),
            Err(err) => {
                let (code, message) = service_error_body(err);
                Event::default()
                    .event("error")
                    .json_data(json!({ "code": code, "message": message }))
                    .unwrap_or_else(|_| Event::default().event("error").data("{}"))
            }
        })
    })
}
