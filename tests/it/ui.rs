//! The embedded web UI (feature `ui`): the app's pages, its hashed assets with long caching and
//! the precompressed variants, and the API's prefixes that keep their JSON 404s.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH};

use crate::support::{TestApp, error_code};

/// The first hashed script `index.html` loads.
fn script_of(index: &str) -> String {
    let start = index.find("/assets/").expect("index.html loads hashed assets");
    let end = start + index[start..].find('"').expect("a quoted asset path");
    let path = &index[start..end];
    assert!(
        std::path::Path::new(path)
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("js")),
        "the first asset is the entry script: {path}"
    );
    path.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_get_the_app_and_assets_are_cached_and_precompressed() {
    let app = TestApp::start().await;
    let client = app.client();

    let index = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(index.status(), StatusCode::OK);
    assert_eq!(index.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(index.headers()[CACHE_CONTROL], "no-cache");
    let html = index.text().await.unwrap();
    assert!(html.contains(r#"<div id="app">"#), "{html}");

    // A page of the app, reloaded or opened from a link: the same index.html.
    for page in [
        "/chat",
        "/chat/3f1c5a9e-2a44-4a7e-9a55-0e6f1f4a0b7d",
        "/admin/models",
    ] {
        let response = client.get(app.url(page)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        assert_eq!(response.text().await.unwrap(), html, "{page}");
    }

    let script = script_of(&html);
    let plain = client.get(app.url(&script)).send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(plain.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert_eq!(
        plain.headers()[CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(plain.headers().get(CONTENT_ENCODING).is_none());
    let plain_len = plain.bytes().await.unwrap().len();

    for (accept, coding) in [
        ("gzip, deflate, br", "br"),
        ("gzip", "gzip"),
        ("br;q=0, gzip", "gzip"),
    ] {
        let packed = client
            .get(app.url(&script))
            .header(ACCEPT_ENCODING, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(
            packed.headers()[CONTENT_ENCODING],
            coding,
            "Accept-Encoding: {accept}"
        );
        assert_eq!(packed.headers()["vary"], "accept-encoding");
        let packed_len = packed.bytes().await.unwrap().len();
        assert!(
            packed_len < plain_len / 2,
            "{coding}: {packed_len} of {plain_len} bytes"
        );
    }

    // Revalidation: the ETag of what was sent answers 304.
    let first = client.get(app.url(&script)).send().await.unwrap();
    let etag = first.headers()[ETAG].clone();
    let again = client
        .get(app.url(&script))
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_paths_and_missing_files_keep_json_404s() {
    let app = TestApp::start().await;
    let client = app.client();
    for path in [
        "/api/v1/nope",
        "/api",
        "/v1/nope",
        "/metrics/x",
        "/health/x",
        "/assets/missing-0000.js",
        "/favicon.ico",
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            error_code(response).await,
            (StatusCode::NOT_FOUND, "not_found".to_owned()),
            "{path}"
        );
    }
    // Everything under /mcp is the MCP endpoint's: it asks for a key, never serves the UI.
    let response = client.get(app.url("/mcp/nope")).send().await.unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "unauthenticated".to_owned())
    );
    // Only reads are the UI's.
    let response = client.post(app.url("/chat")).send().await.unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::NOT_FOUND, "not_found".to_owned())
    );
    app.stop().await;
}
