//! A file server with configurable manners (Range support, dropped connections, slow chunks):
//! what the model downloads are tried against, standing in for a model hub.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use futures::stream::BoxStream;

#[derive(Debug, Clone, Default)]
pub struct Manners {
    /// Honour `Range: bytes=N-` with 206 (else always send the whole file with 200).
    pub ranges: bool,
    /// The next response stops (connection dropped) when the file offset reaches this.
    pub drop_once_at: Option<u64>,
    /// Every response stops when the file offset reaches this.
    pub drop_always_at: Option<u64>,
    /// A pause between 64 KiB chunks.
    pub chunk_delay: Option<Duration>,
}

struct ServerState {
    data: Bytes,
    manners: Mutex<Manners>,
    ranges_asked: Mutex<Vec<Option<String>>>,
}

pub struct FileServer {
    pub addr: SocketAddr,
    state: Arc<ServerState>,
}

impl FileServer {
    pub async fn start(data: Vec<u8>, manners: Manners) -> Self {
        let state = Arc::new(ServerState {
            data: Bytes::from(data),
            manners: Mutex::new(manners),
            ranges_asked: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new().fallback(serve_file).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/model.gguf", self.addr.port())
    }

    /// The `Range` header of every request so far (`None`: no header).
    pub fn ranges_asked(&self) -> Vec<Option<String>> {
        self.state.ranges_asked.lock().unwrap().clone()
    }

    pub fn set(&self, change: impl FnOnce(&mut Manners)) {
        change(&mut self.state.manners.lock().unwrap());
    }
}

async fn serve_file(State(state): State<Arc<ServerState>>, uri: Uri, headers: HeaderMap) -> Response {
    if uri.path() != "/model.gguf" {
        return AxumStatus::NOT_FOUND.into_response();
    }
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state.ranges_asked.lock().unwrap().push(range.clone());
    let len = state.data.len() as u64;
    let (manners, cut) = {
        let mut manners = state.manners.lock().unwrap();
        let cut = manners.drop_always_at.or(manners.drop_once_at.take());
        (manners.clone(), cut)
    };
    let start = range
        .as_deref()
        .filter(|_| manners.ranges)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse::<u64>().ok());
    if let Some(start) = start
        && start >= len
    {
        return (
            AxumStatus::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{len}"))],
        )
            .into_response();
    }
    let from = start.unwrap_or(0);
    let until = cut.map_or(len, |cut| cut.max(from)).min(len);
    let chunks: Vec<Bytes> = (from..until)
        .step_by(64 * 1024)
        .map(|at| {
            let (at, end) = (usize::try_from(at).unwrap(), usize::try_from(until).unwrap());
            state.data.slice(at..(at + 64 * 1024).min(end))
        })
        .collect();
    let delay = manners.chunk_delay;
    let mut stream: BoxStream<'static, io::Result<Bytes>> = futures::stream::iter(chunks)
        .then(move |chunk| async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            Ok(chunk)
        })
        .boxed();
    if until < len {
        stream = stream
            .chain(futures::stream::once(async {
                Err(io::Error::other("connection dropped by the test server"))
            }))
            .boxed();
    }
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, (len - from).into());
    if manners.ranges {
        headers.insert(header::ACCEPT_RANGES, "bytes".parse().unwrap());
    }
    if start.is_some() {
        *response.status_mut() = AxumStatus::PARTIAL_CONTENT;
        response.headers_mut().insert(
            header::CONTENT_RANGE,
            format!("bytes {from}-{}/{len}", len - 1).parse().unwrap(),
        );
    }
    response
}
