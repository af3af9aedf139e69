//! The web UI, embedded from `assets/ui/dist` (built by build.rs with the `ui` feature): every
//! path the API does not serve. Hashed files under `assets/` are cached for a year, the rest
//! (`index.html` above all) revalidated on every load; the `.br`/`.gz` twins made at build time
//! are sent to clients that accept them. A path without an extension is a page of the app and
//! gets `index.html` (the router in the browser takes it from there), except under the API's
//! prefixes, which keep their JSON 404s.

use std::borrow::Cow;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use super::error::ApiError;

#[derive(RustEmbed)]
#[folder = "assets/ui/dist/"]
struct Assets;

/// Paths that belong to the API (and the probes): never the UI, even when nothing matches.
const API_PREFIXES: [&str; 6] = ["/api", "/v1", "/mcp", "/health", "/ready", "/metrics"];

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// The router's fallback: a UI file, the app's `index.html`, or the API's JSON 404.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let not_found = || ApiError::RouteNotFound(format!("{method} {path}")).into_response();
    if !(method == Method::GET || method == Method::HEAD) || is_api(path) {
        return not_found();
    }
    let name = path.trim_start_matches('/');
    let name = if name.is_empty() { "index.html" } else { name };
    let file = match Asset::find(name, &headers) {
        Some(file) => file,
        // A page of the single-page app: its router reads the path.
        None if !last_segment(name).contains('.') => match Asset::find("index.html", &headers) {
            Some(index) => index,
            None => return not_found(),
        },
        None => return not_found(),
    };
    // For HEAD, hyper sends the headers (the length included) and drops the body.
    file.respond(&headers)
}

fn is_api(path: &str) -> bool {
    API_PREFIXES.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

fn last_segment(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

struct Asset {
    name: String,
    body: Cow<'static, [u8]>,
    content_type: String,
    encoding: Option<&'static str>,
    etag: String,
}

impl Asset {
    /// The file `name`, as the smallest variant the client accepts.
    fn find(name: &str, headers: &HeaderMap) -> Option<Self> {
        let plain = Assets::get(name)?;
        let content_type = with_charset(plain.metadata.mimetype());
        let accepted = accepted_encodings(headers);
        for (encoding, suffix) in [("br", "br"), ("gzip", "gz")] {
            if !accepted.contains(&encoding) {
                continue;
            }
            if let Some(packed) = Assets::get(&format!("{name}.{suffix}")) {
                return Some(Self {
                    name: name.to_owned(),
                    etag: etag(&packed.metadata.sha256_hash(), suffix),
                    body: packed.data,
                    content_type,
                    encoding: Some(encoding),
                });
            }
        }
        Some(Self {
            name: name.to_owned(),
            etag: etag(&plain.metadata.sha256_hash(), "id"),
            body: plain.data,
            content_type,
            encoding: None,
        })
    }

    fn respond(self, request: &HeaderMap) -> Response {
        // Vite names everything under assets/ after its content hash: it never changes.
        let cache = if self.name.starts_with("assets/") {
            IMMUTABLE
        } else {
            REVALIDATE
        };
        let fresh = request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == self.etag));
        let (status, body) = if fresh {
            (StatusCode::NOT_MODIFIED, Body::empty())
        } else {
            (StatusCode::OK, Body::from(self.body))
        };
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        let mut set = |name, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        };
        set(header::CONTENT_TYPE, &self.content_type);
        set(header::CACHE_CONTROL, cache);
        set(header::ETAG, &self.etag);
        set(header::VARY, "accept-encoding");
        if let Some(encoding) = self.encoding {
            set(header::CONTENT_ENCODING, encoding);
        }
        response
    }
}

/// Text types say they are UTF-8 (everything Vite writes is).
fn with_charset(mime: &str) -> String {
    let text = mime.starts_with("text/")
        || mime.ends_with("javascript")
        || mime.ends_with("json")
        || mime.ends_with("+xml");
    if text {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    }
}

fn etag(hash: &[u8; 32], variant: &str) -> String {
    format!("\"{}-{variant}\"", hex::encode(&hash[..12]))
}

/// The content codings the client accepts (`q=0` means refused).
fn accepted_encodings(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| {
            let mut pieces = part.split(';').map(str::trim);
            let coding = pieces.next()?;
            let refused = pieces.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (!coding.is_empty() && !refused).then_some(coding)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn api_prefixes_match_whole_segments() {
        assert!(is_api("/api/v1/nope"));
        assert!(is_api("/health"));
        assert!(is_api("/mcp"));
        assert!(is_api("/v1/models"));
        assert!(!is_api("/apiary"));
        assert!(!is_api("/healthy-teams"));
        assert!(!is_api("/chat/123"));
    }

    #[test]
    fn refused_codings_are_left_out() {
        assert_eq!(accepted_encodings(&accept("gzip, br;q=0")), vec!["gzip"]);
        assert_eq!(
            accepted_encodings(&accept("br;q=0.8, gzip;q=1.0")),
            vec!["br", "gzip"]
        );
        assert!(accepted_encodings(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn the_index_and_hashed_files_are_embedded() {
        let index = Assets::get("index.html").expect("build.rs built the UI");
        let html = String::from_utf8_lossy(&index.data);
        assert!(
            html.contains("/assets/"),
            "index.html loads hashed assets: {html}"
        );
        assert!(Assets::iter().any(|name| name.starts_with("assets/") && name.ends_with(".js.br")));
    }
}
