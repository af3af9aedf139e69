//! Hostile input: every request gets a 4xx with a stable `code` (`{code, message}`) or a normal
//! answer, never a 5xx and never a hang, and changes no row. Oversized and deeply nested bodies,
//! bytes that are not UTF-8 in the body, path, query and headers, wrong content types, hostile
//! paging, SQL and LIKE metacharacters in every search, stale and under-scoped credentials,
//! forged cookie writes, a storm of wrong passwords, and racing first-run setups.
//!
//! Covered elsewhere and not repeated: a 3 MB body (`errors.rs`); malformed and mistyped JSON
//! and a body without a content type on `/api/v1/keys` (`errors.rs`); `limit=abc` on
//! `/api/v1/users` (`errors.rs`); a wrong CSRF token on `/api/v1/keys` and none on logout
//! (`auth.rs`); a revoked key and a read-only key creating a key (`keys.rs`); a second setup
//! after the first (`auth.rs`, `setup.rs`); five wrong passwords then 429 (`auth.rs`).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use agentbox::http::{CSRF_HEADER, SESSION_COOKIE};
use agentbox::store::Actor;
use futures::StreamExt;
use reqwest::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap, HeaderName, HeaderValue, ORIGIN,
    RETRY_AFTER, SET_COOKIE, USER_AGENT,
};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{ADMIN_EMAIL, Options, PASSWORD, Session, TestApp};

/// No single request may take longer: a hang fails the test instead of stalling it.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Not UTF-8, and not allowed in a JSON string either.
const NOT_UTF8: &[u8] = b"\xff\xfe";

/// A body the JSON extractor refuses: a syntax error (400), or valid JSON of the wrong shape (422).
const MALFORMED: &[(StatusCode, &str)] = &[
    (StatusCode::BAD_REQUEST, "invalid_json"),
    (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
];

/// The same on the OpenAI-compatible routes, which answer bad input with 400 only.
const COMPAT_MALFORMED: &[(StatusCode, &str)] = &[
    (StatusCode::BAD_REQUEST, "invalid_json"),
    (StatusCode::BAD_REQUEST, "invalid_body"),
];

/// Row counts, and digests of the columns a hostile write could change, of every table the
/// tested routes reach. Failed logins (`auth.login_attempts`) are recorded on purpose: left out.
const ROWS: &str = "select
    (select count(*) from auth.users) as users,
    (select count(*) from public.users where role = 'admin') as admins,
    (select count(*) from auth.sessions) as signed_in,
    (select count(*) from public.companies) as companies,
    (select count(*) from public.departments) as departments,
    (select count(*) from public.api_keys) as api_keys,
    (select count(*) from public.sessions) as chats,
    (select count(*) from public.messages) as messages,
    (select count(*) from public.tasks) as tasks,
    (select count(*) from public.eval_runs) as eval_runs,
    (select count(*) from public.mcp_servers) as mcp_servers,
    (select count(*) from public.embeddings) as embeddings,
    (select md5(coalesce(string_agg(concat_ws('|', id, email, role, disabled, display_name, department_id),
                                    ',' order by id), '')) from public.users) as user_rows,
    (select md5(coalesce(string_agg(concat_ws('|', id, name, scopes, expires_at, revoked_at),
                                    ',' order by id), '')) from public.api_keys) as key_rows,
    (select md5(coalesce(string_agg(concat_ws('|', id, title, archived, deleted_at),
                                    ',' order by id), '')) from public.sessions) as chat_rows";

/// A client like `TestApp::client` (own cookie jar, the self-signed certificate accepted) whose
/// requests give up after `timeout`.
fn client(timeout: Duration) -> Client {
    Client::builder()
        .danger_accept_invalid_certs(true)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .unwrap()
}

/// What came back: the status, the headers, and the body as JSON (`Null` when it is not JSON).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    /// The `code` and `message` of an error, in the platform's shape or the OpenAI-compatible
    /// API's (`{"error": {...}}`); empty when absent.
    fn error(&self) -> (&str, &str) {
        let error = if self.body["error"].is_object() {
            &self.body["error"]
        } else {
            &self.body
        };
        (
            error["code"].as_str().unwrap_or_default(),
            error["message"].as_str().unwrap_or_default(),
        )
    }

    /// A 4xx with a stable code and a message.
    #[track_caller]
    fn assert_4xx(&self, what: &str) {
        let (code, message) = self.error();
        assert!(
            self.status.is_client_error() && !code.is_empty() && !message.is_empty(),
            "{what}: expected a 4xx with {{code, message}}, got {} {}",
            self.status,
            self.body
        );
    }

    /// A 4xx whose status and code are one of `expected`.
    #[track_caller]
    fn assert_refused(&self, what: &str, expected: &[(StatusCode, &str)]) {
        self.assert_4xx(what);
        let (code, _) = self.error();
        assert!(
            expected
                .iter()
                .any(|&(status, known)| status == self.status && known == code),
            "{what}: expected one of {expected:?}, got {} {code}",
            self.status
        );
    }

    /// A 200; its body.
    #[track_caller]
    fn assert_ok(&self, what: &str) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "{what}: {}", self.body);
        &self.body
    }

    /// A 200 with an empty list, or a 4xx with a code: for input that can only match nothing.
    #[track_caller]
    fn assert_nothing_or_refused(&self, what: &str) {
        if self.status.is_client_error() {
            self.assert_4xx(what);
        } else {
            assert_eq!(self.assert_ok(what), &json!([]), "{what}");
        }
    }
}

/// Sends `request` and reads the whole answer within `TIMEOUT`; `what` names the input in every
/// failure.
async fn answer(what: &str, request: RequestBuilder) -> Answer {
    let exchange = async {
        let response = request.send().await?;
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, headers, bytes))
    };
    let (status, headers, bytes) = match tokio::time::timeout(TIMEOUT, exchange).await {
        Ok(Ok(parts)) => parts,
        Ok(Err(err)) => panic!("{what}: the request failed: {err}"),
        Err(elapsed) => panic!("{what}: no answer: {elapsed}"),
    };
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

async fn rows(app: &TestApp) -> Value {
    let mut rows = app
        .store()
        .query_json_as(Actor::System, ROWS.into(), 1)
        .await
        .expect("row snapshot");
    rows.pop().expect("one row of counts")
}

/// Fails when any row changed since `before`; `what` names the inputs sent in between.
async fn assert_unchanged(app: &TestApp, before: &Value, what: &str) {
    assert_eq!(&rows(app).await, before, "{what} changed rows");
}

/// The server still answers its liveness probe after `what`.
async fn assert_serving(app: &TestApp, what: &str) {
    let got = answer(what, client(TIMEOUT).get(app.url("/health"))).await;
    assert_eq!(got.status, StatusCode::OK, "/health after {what}: {}", got.body);
}

/// A JSON text with `raw` bytes in place of its `{}`.
fn splice(template: &str, raw: &[u8]) -> Vec<u8> {
    let (head, tail) = template.split_once("{}").expect("a {} in the template");
    [head.as_bytes(), raw, tail.as_bytes()].concat()
}

/// `prefix` followed by bytes that are not UTF-8: a valid header value (obs-text) all the same.
fn not_utf8_header(prefix: &str) -> HeaderValue {
    HeaderValue::from_bytes(&[prefix.as_bytes(), NOT_UTF8].concat()).expect("obs-text is allowed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_deeply_nested_bodies_are_refused_and_the_server_keeps_serving() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let key = admin.api_key("sdk", &["read", "write"]).await;
    let before = rows(&app).await;

    // 10 MB, five times `server.max_body_bytes` (2 MiB), to a route anyone may call and to one
    // behind a bearer key, each on a fresh client: the server may close the connection that
    // carried a refused body.
    let padding = "x".repeat(10 << 20);
    let login = format!(r#"{{"email": "{ADMIN_EMAIL}", "password": "{padding}"}}"#);
    let session = format!(r#"{{"title": "{padding}"}}"#);
    for (path, bearer, body) in [
        ("/api/v1/auth/login", None, login),
        ("/api/v1/sessions", Some(&key), session),
    ] {
        let what = format!("a 10 MB body to {path}");
        let mut request = client(TIMEOUT)
            .post(app.url(path))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(key) = bearer {
            request = request.bearer_auth(key);
        }
        let got = answer(&what, request).await;
        got.assert_refused(&what, &[(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")]);
        assert_serving(&app, &what).await;
    }

    // serde_json stops at 128 levels (a syntax error); a typed body stops sooner, at the first
    // value of the wrong type or the first unknown field. The OpenAI-compatible routes take
    // `serde_json::Value` fields, where only the depth limit stops the parser.
    let depth = 100_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    for (shape, deep) in [("arrays", &arrays), ("objects", &objects)] {
        let platform = [
            ("/api/v1/auth/login", deep.clone()),
            ("/api/v1/keys", deep.clone()),
            ("/api/v1/sessions", format!("{{\"title\": {deep}}}")),
        ];
        for (path, body) in platform {
            let what = format!("{shape} nested {depth} deep to {path}");
            let request = admin
                .request(Method::POST, path)
                .header(CONTENT_TYPE, "application/json")
                .body(body);
            answer(&what, request).await.assert_refused(&what, MALFORMED);
        }
        let compat = [
            ("/v1/embeddings", format!("{{\"input\": {deep}}}")),
            (
                "/v1/chat/completions",
                format!("{{\"model\": \"x\", \"messages\": [{{\"role\": \"user\", \"content\": {deep}}}]}}"),
            ),
        ];
        for (path, body) in compat {
            let what = format!("{shape} nested {depth} deep to {path}");
            let request = client(TIMEOUT)
                .post(app.url(path))
                .bearer_auth(key.as_str())
                .header(CONTENT_TYPE, "application/json")
                .body(body);
            answer(&what, request)
                .await
                .assert_refused(&what, COMPAT_MALFORMED);
        }
        assert_serving(&app, &format!("{shape} nested {depth} deep")).await;
    }
    assert_eq!(admin.get("/api/v1/me").await.status(), StatusCode::OK);
    assert_unchanged(&app, &before, "huge and nested bodies").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_utf8_and_wrong_content_types_are_refused() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let response = admin.post("/api/v1/sessions", json!({ "title": "plain" })).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // The User-Agent is recorded with the sign-in only when it is text: otherwise left out.
    let login = client(TIMEOUT)
        .post(app.url("/api/v1/auth/login"))
        .header(USER_AGENT, not_utf8_header("Mozilla/5.0 "))
        .json(&json!({ "email": ADMIN_EMAIL, "password": PASSWORD }));
    answer("a login whose User-Agent is not UTF-8", login)
        .await
        .assert_ok("a login whose User-Agent is not UTF-8");
    let before = rows(&app).await;

    not_utf8_bodies_paths_and_queries(&admin).await;
    not_utf8_headers(&app, &admin).await;

    // A JSON route sent anything but JSON. The Ollama-compatible routes read JSON whatever the
    // content type says, on purpose (`AnyJson`: Ollama's own clients send none), and are left out.
    let login = json!({ "email": ADMIN_EMAIL, "password": PASSWORD }).to_string();
    let login_form = format!("email={ADMIN_EMAIL}&password=x");
    let routes = [
        ("/api/v1/auth/login", login.as_str(), login_form.as_str()),
        ("/api/v1/keys", r#"{"name": "k"}"#, "name=k"),
        ("/api/v1/sessions", r#"{"title": "t"}"#, "title=t"),
    ];
    let form = "application/x-www-form-urlencoded";
    for (path, json_text, form_text) in routes {
        for content_type in [Some("text/plain"), Some(form), None] {
            if path == "/api/v1/keys" && content_type.is_none() {
                continue; // errors.rs
            }
            let body = if content_type == Some(form) {
                form_text
            } else {
                json_text
            };
            let mut request = admin.request(Method::POST, path).body(body.to_owned());
            if let Some(content_type) = content_type {
                request = request.header(CONTENT_TYPE, content_type);
            }
            let what = format!("{path} sent as {}", content_type.unwrap_or("no content type"));
            let got = answer(&what, request).await;
            got.assert_refused(
                &what,
                &[(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")],
            );
        }
    }
    assert_unchanged(&app, &before, "bytes that are not UTF-8 and wrong content types").await;
    assert_serving(&app, "bytes that are not UTF-8").await;
    app.stop().await;
}

async fn not_utf8_bodies_paths_and_queries(admin: &Session) {
    let malformed_name: &[(StatusCode, &str)] = &[(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")];
    let bodies = [
        ("/api/v1/keys", splice(r#"{"name": "{}"}"#, NOT_UTF8), MALFORMED),
        ("/api/v1/keys", splice(r#"{"{}": "k"}"#, NOT_UTF8), MALFORMED),
        (
            "/api/v1/auth/login",
            splice(r#"{"email": "{}@example.com", "password": "x"}"#, NOT_UTF8),
            MALFORMED,
        ),
        // Valid JSON for a lone UTF-16 surrogate, which no UTF-8 string can hold.
        ("/api/v1/keys", br#"{"name": "\ud800"}"#.to_vec(), MALFORMED),
        // Valid JSON and UTF-8 for a NUL: names refuse control characters.
        ("/api/v1/keys", br#"{"name": "k\u0000"}"#.to_vec(), malformed_name),
    ];
    for (path, body, expected) in bodies {
        let what = format!("{path} with the body {}", String::from_utf8_lossy(&body));
        let request = admin
            .request(Method::POST, path)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        answer(&what, request).await.assert_refused(&what, expected);
    }

    // Path parameters are percent-decoded strictly: %ff is no UTF-8, so no parameter at all.
    let invalid_path = (StatusCode::BAD_REQUEST, "invalid_path");
    let paths = [
        (Method::GET, "/api/v1/users/%ff", invalid_path),
        (Method::GET, "/api/v1/agents/%ff%fe", invalid_path),
        (Method::GET, "/api/v1/mcp/servers/%ff", invalid_path),
        (Method::DELETE, "/api/v1/keys/%ff", invalid_path),
        (Method::GET, "/api/v1/%ff", (StatusCode::NOT_FOUND, "not_found")),
    ];
    for (method, path, expected) in paths {
        let what = format!("{method} {path}");
        let got = answer(&what, admin.request(method, path)).await;
        got.assert_refused(&what, &[expected]);
    }

    // Query strings are decoded leniently (%ff becomes U+FFFD), which then matches nothing or
    // fails to parse as the number, flag or parameter name the route expects.
    for path in ["/api/v1/sessions?q=%ff", "/api/v1/kpis?name=%ff"] {
        answer(path, admin.request(Method::GET, path))
            .await
            .assert_nothing_or_refused(path);
    }
    for path in [
        "/api/v1/users?limit=%ff",
        "/api/v1/sessions?archived=%ff",
        "/api/v1/sessions?%ff=1",
    ] {
        answer(path, admin.request(Method::GET, path))
            .await
            .assert_refused(path, &[(StatusCode::BAD_REQUEST, "invalid_query")]);
    }
}

async fn not_utf8_headers(app: &TestApp, admin: &Session) {
    let anonymous = client(TIMEOUT);
    let me = app.url("/api/v1/me");
    let events = format!("/api/v1/tasks/{}/events", Uuid::new_v4());
    let refused = [
        (
            "Authorization: Bearer <not UTF-8>",
            anonymous
                .get(me.as_str())
                .header(AUTHORIZATION, not_utf8_header("Bearer ")),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
        ),
        (
            "Cookie: agentbox_session=<not UTF-8>",
            anonymous
                .get(me.as_str())
                .header(COOKIE, not_utf8_header(&format!("{SESSION_COOKIE}="))),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
        ),
        (
            "X-CSRF-Token: <not UTF-8>",
            admin
                .client
                .post(app.url("/api/v1/keys"))
                .header(CSRF_HEADER, not_utf8_header(""))
                .json(&json!({ "name": "k" })),
            (StatusCode::FORBIDDEN, "csrf_failed"),
        ),
        (
            "Content-Type: application/json<not UTF-8>",
            admin
                .request(Method::POST, "/api/v1/keys")
                .header(CONTENT_TYPE, not_utf8_header("application/json"))
                .body(r#"{"name": "k"}"#),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ),
        (
            "Last-Event-ID: <not UTF-8>",
            admin
                .request(Method::GET, &events)
                .header("last-event-id", not_utf8_header("")),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        ),
    ];
    for (what, request, expected) in refused {
        answer(what, request).await.assert_refused(what, &[expected]);
    }
    // Headers the server reads only when they are text: a normal answer.
    let ignored = [
        USER_AGENT,
        ACCEPT_ENCODING,
        ORIGIN,
        HeaderName::from_static("x-request-id"),
    ];
    for name in ignored {
        let what = format!("GET /api/v1/me with a {} that is not UTF-8", name.as_str());
        let request = admin
            .request(Method::GET, "/api/v1/me")
            .header(name, not_utf8_header(""));
        answer(&what, request).await.assert_ok(&what);
    }
}

/// What a hostile paging parameter gets.
#[derive(Debug, Clone, Copy)]
enum Paging {
    /// 200 with at most this many rows: `limit` is clamped to 1..=200.
    AtMost(usize),
    /// 200 with the first page: a negative `offset` counts as 0.
    FirstPage,
    /// 200 with no rows.
    Empty,
    /// 400 `invalid_query`: not an `i64`, given twice, or not a parameter of the route.
    Refused,
}

/// No list route takes `before`: an unknown parameter is refused (`deny_unknown_fields`).
const PAGING: [(&str, Paging); 11] = [
    ("limit=-1", Paging::AtMost(1)),
    ("limit=0", Paging::AtMost(1)),
    ("limit=9223372036854775807", Paging::AtMost(200)),
    ("limit=99999999999999999999", Paging::Refused),
    ("limit=abc", Paging::Refused),
    ("limit=1.5", Paging::Refused),
    ("limit=1&limit=2", Paging::Refused),
    ("offset=-5", Paging::FirstPage),
    ("offset=9223372036854775807", Paging::Empty),
    ("offset=99999999999999999999", Paging::Refused),
    ("before=-1", Paging::Refused),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paging_is_clamped_or_refused_on_every_list_route() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    app.create_user("member@example.com", "Acme Test", false).await;
    let company = admin.user["company_id"].as_str().unwrap().to_owned();
    let departments = format!("/api/v1/companies/{company}/departments");
    for name in ["Sales", "Ops"] {
        let response = admin.post(&departments, json!({ "name": name })).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let chat: Value = admin
        .post("/api/v1/sessions", json!({ "title": "one" }))
        .await
        .json()
        .await
        .unwrap();
    let response = admin.post("/api/v1/sessions", json!({ "title": "two" })).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let (chat, user) = (chat["id"].as_str().unwrap().to_owned(), admin.user_id());
    app.store()
        .execute_as(
            Actor::System,
            format!(
                "insert into public.messages (session_id, user_id, role, content)
                 values ('{chat}', '{user}', 'user', 'a'), ('{chat}', '{user}', 'assistant', 'b')"
            ),
        )
        .await
        .unwrap();
    // Every route with `limit`/`offset` (users.rs's `PageQuery`, or its own query type).
    let routes = [
        "/api/v1/users".to_owned(),
        "/api/v1/sessions".to_owned(),
        format!("/api/v1/sessions/{chat}/messages"),
        "/api/v1/tasks".to_owned(),
        "/api/v1/companies".to_owned(),
        departments,
        "/api/v1/evals".to_owned(),
    ];
    let before = rows(&app).await;
    for route in &routes {
        let first_page = answer(route, admin.request(Method::GET, route)).await;
        let first_page = first_page.assert_ok(route);
        for (query, expected) in PAGING {
            let path = format!("{route}?{query}");
            let got = answer(&path, admin.request(Method::GET, &path)).await;
            match expected {
                Paging::AtMost(most) => {
                    let listed = got.assert_ok(&path).as_array().map_or(usize::MAX, Vec::len);
                    assert!(listed <= most, "{path}: {listed} rows");
                }
                Paging::FirstPage => assert_eq!(got.assert_ok(&path), first_page, "{path}"),
                Paging::Empty => assert_eq!(got.assert_ok(&path), &json!([]), "{path}"),
                Paging::Refused => {
                    got.assert_refused(&path, &[(StatusCode::BAD_REQUEST, "invalid_query")]);
                }
            }
        }
    }
    // The task event stream's cursor: checked before the task is looked up (a random one here).
    let events = format!("/api/v1/tasks/{}/events", Uuid::new_v4());
    for (query, expected) in [
        ("after=-1", (StatusCode::NOT_FOUND, "not_found")),
        ("after=abc", (StatusCode::BAD_REQUEST, "invalid_query")),
        (
            "after=99999999999999999999",
            (StatusCode::BAD_REQUEST, "invalid_query"),
        ),
    ] {
        let path = format!("{events}?{query}");
        answer(&path, admin.request(Method::GET, &path))
            .await
            .assert_refused(&path, &[expected]);
    }
    assert_unchanged(&app, &before, "hostile paging").await;
    app.stop().await;
}

/// SQL and LIKE metacharacters, and injection attempts, as search text.
const HOSTILE_SEARCHES: [&str; 9] = [
    "%",
    "_",
    "\\",
    "'",
    "\"; drop table users; --",
    "' or 1=1 --",
    "%%",
    "_%_",
    "%_\\'\"",
];

/// Alice's session titles: each holds one of the metacharacters literally.
const ALICE_TITLES: [&str; 6] = [
    "100% done",
    "snake_case",
    "C:\\temp",
    "it's here",
    "say \"; drop table users; -- now",
    "plain words",
];

/// Bob's: every metacharacter at once, so that any leak across users shows.
const BOB_TITLE: &str = "bob's 100% _ \\ secret \"; drop table users; -- ' or 1=1 --";

/// KPI filters that refuse control characters (`validate::name`, or the task status names).
const NAME_FILTERS: [(&str, &str); 5] = [
    ("/api/v1/kpis", "name"),
    ("/api/v1/kpis", "department"),
    ("/api/v1/kpis/performance", "kpi"),
    ("/api/v1/kpis/performance", "department"),
    ("/api/v1/tasks", "status"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_metacharacters_match_themselves_and_only_the_callers_rows() {
    let app = TestApp::start_with(Options {
        sample_data: true,
        ..Options::default()
    })
    .await;
    app.create_user("alice@acme.example", "Acme Manufacturing", false)
        .await;
    app.create_user("bob@globex.example", "Globex Retail", false)
        .await;
    let alice = app.login("alice@acme.example", PASSWORD).await;
    let bob = app.login("bob@globex.example", PASSWORD).await;
    for title in ALICE_TITLES {
        let response = alice.post("/api/v1/sessions", json!({ "title": title })).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "Alice's session {title:?}"
        );
    }
    let response = bob.post("/api/v1/sessions", json!({ "title": BOB_TITLE })).await;
    assert_eq!(response.status(), StatusCode::CREATED, "Bob's session");
    let kpis = answer("Alice's KPIs", alice.request(Method::GET, "/api/v1/kpis")).await;
    let names: Vec<String> = kpis
        .assert_ok("Alice's KPIs")
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|kpi| kpi["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names.len(), 12, "Acme Manufacturing's sample KPIs: {names:?}");
    let before = rows(&app).await;

    for q in HOSTILE_SEARCHES {
        assert_session_search(&alice, q, false).await;
        assert_kpi_and_task_filters(&alice, q, &names).await;
    }
    // 500 characters of pattern are searched literally (and match nothing); more are refused.
    assert_session_search(&alice, &"%_".repeat(250), false).await;
    let long = "%".repeat(501);
    let what = "sessions searched for 501 × %";
    let request = alice
        .request(Method::GET, "/api/v1/sessions")
        .query(&[("q", &long)]);
    let got = answer(what, request).await;
    got.assert_refused(what, &[(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")]);

    // A NUL byte (%00), which Postgres text cannot hold: refused, or it matches nothing.
    for q in ["\0", "a\0b"] {
        assert_session_search(&alice, q, true).await;
        for (path, param) in NAME_FILTERS {
            let what = format!("{path}?{param}={q:?}");
            let got = answer(&what, alice.request(Method::GET, path).query(&[(param, q)])).await;
            got.assert_refused(&what, &[(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")]);
        }
    }
    let what = "a session titled with a NUL byte";
    let request = alice
        .request(Method::POST, "/api/v1/sessions")
        .json(&json!({ "title": "a\u{0}b" }));
    answer(what, request).await.assert_4xx(what);
    assert_unchanged(&app, &before, "hostile search text").await;
    app.stop().await;
}

/// Alice's sessions searched for `q`: exactly hers whose title contains it in any case (the store
/// escapes `%`, `_` and `\` in its ILIKE pattern, so they match themselves); with `may_refuse`,
/// a 4xx will do instead.
async fn assert_session_search(alice: &Session, q: &str, may_refuse: bool) {
    let what = format!("sessions searched for {q:?}");
    let request = alice.request(Method::GET, "/api/v1/sessions").query(&[("q", q)]);
    let got = answer(&what, request).await;
    if may_refuse && got.status.is_client_error() {
        got.assert_4xx(&what);
        return;
    }
    let needle = q.trim().to_lowercase();
    let mut expected: Vec<&str> = ALICE_TITLES
        .into_iter()
        .filter(|title| title.to_lowercase().contains(&needle))
        .collect();
    let mut found: Vec<&str> = got
        .assert_ok(&what)
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|session| session["title"].as_str())
        .collect();
    expected.sort_unstable();
    found.sort_unstable();
    assert_eq!(found, expected, "{what}");
}

/// KPI names contain `q` literally (`strpos`); departments, KPI references and task statuses
/// are exact names, and none is named like this.
async fn assert_kpi_and_task_filters(alice: &Session, q: &str, names: &[String]) {
    let needle = q.trim().to_lowercase();
    let mut expected: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|name| name.to_lowercase().contains(&needle))
        .collect();
    let what = format!("KPIs whose name contains {q:?}");
    let request = alice.request(Method::GET, "/api/v1/kpis").query(&[("name", q)]);
    let got = answer(&what, request).await;
    let mut found: Vec<&str> = got
        .assert_ok(&what)
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|kpi| kpi["name"].as_str())
        .collect();
    expected.sort_unstable();
    found.sort_unstable();
    assert_eq!(found, expected, "{what}");

    let what = format!("KPIs of the department {q:?}");
    let request = alice
        .request(Method::GET, "/api/v1/kpis")
        .query(&[("department", q)]);
    assert_eq!(
        answer(&what, request).await.assert_ok(&what),
        &json!([]),
        "{what}"
    );
    for param in ["kpi", "department"] {
        let what = format!("KPI performance for {param}={q:?}");
        let request = alice
            .request(Method::GET, "/api/v1/kpis/performance")
            .query(&[(param, q)]);
        let got = answer(&what, request).await;
        if got.status == StatusCode::NOT_FOUND {
            got.assert_refused(&what, &[(StatusCode::NOT_FOUND, "not_found")]);
        } else {
            assert_eq!(got.assert_ok(&what)["rows"], json!([]), "{what}");
        }
    }
    let what = format!("tasks with the status {q:?}");
    let request = alice
        .request(Method::GET, "/api/v1/tasks")
        .query(&[("status", q)]);
    let got = answer(&what, request).await;
    got.assert_refused(&what, &[(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")]);
}

/// A chat session of `user` holding `texts` as user messages, written directly; the messages' ids.
async fn insert_chat(app: &TestApp, user: &Value, texts: &[&str]) -> Vec<String> {
    let user = user["id"].as_str().expect("a user id");
    let session = Uuid::new_v4();
    let ids: Vec<String> = texts.iter().map(|_| Uuid::new_v4().to_string()).collect();
    let mut sql = format!(
        "insert into public.sessions (id, user_id, agent) values ('{session}', '{user}', 'assistant');"
    );
    for (id, text) in ids.iter().zip(texts) {
        let text = text.replace('\'', "''");
        let _ = write!(
            sql,
            "insert into public.messages (id, session_id, user_id, role, content)
             values ('{id}', '{session}', '{user}', 'user', '{text}');"
        );
    }
    app.store()
        .execute_as(Actor::System, sql)
        .await
        .expect("chat rows");
    ids
}

/// Semantic search embeds the query and never puts its text into SQL: metacharacters are only
/// text, and the hits are the caller's own. Needs the embedding model, like `embeddings.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_search_reads_metacharacters_as_text() {
    let app = TestApp::start_with(Options {
        tls: false,
        extra_env: vec![(
            "AGENTBOX_EMBEDDINGS_MODEL".into(),
            crate::embeddings::model_dir().display().to_string(),
        )],
        ..Options::default()
    })
    .await;
    let alice = app.create_user("alice@acme.example", "Acme", false).await;
    let bob = app.create_user("bob@globex.example", "Globex", false).await;
    let alice_messages = insert_chat(&app, &alice, &ALICE_TITLES).await;
    // Bob's message is the closest of all to the hostile queries: it must never reach Alice.
    insert_chat(&app, &bob, &[BOB_TITLE]).await;
    let alice = app.login("alice@acme.example", PASSWORD).await;
    let bob = app.login("bob@globex.example", PASSWORD).await;
    for session in [&alice, &bob] {
        let response = session
            .post("/api/v1/search/index", json!({ "sources": ["message"] }))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "indexing");
    }
    let before = rows(&app).await;
    for q in HOSTILE_SEARCHES.into_iter().chain(["\0", "a\0b"]) {
        let what = format!("semantic search for {q:?}");
        let request = alice
            .request(Method::POST, "/api/v1/search/semantic")
            .json(&json!({ "query": q, "k": 50, "sources": ["message"] }));
        let got = answer(&what, request).await;
        if q.contains('\0') && got.status.is_client_error() {
            got.assert_4xx(&what);
            continue;
        }
        let hits = got.assert_ok(&what)["results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for hit in &hits {
            let id = hit["message_id"].as_str().unwrap_or_default();
            assert!(
                alice_messages.iter().any(|mine| mine.as_str() == id),
                "{what}: a hit that is not Alice's: {hit}"
            );
        }
    }
    assert_unchanged(&app, &before, "hostile semantic searches").await;
    app.stop().await;
}

/// Signs in like `TestApp::login`, and also returns the session cookie's value, to replay.
async fn sign_in_keeping_cookie(app: &TestApp, email: &str) -> (Session, String) {
    let client = app.client();
    let response = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("login answers");
    assert_eq!(response.status(), StatusCode::OK, "login of {email}");
    let prefix = format!("{SESSION_COOKIE}=");
    let cookie = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| value.strip_prefix(&prefix))
        .and_then(|rest| rest.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let body: Value = response.json().await.expect("a signed-in body");
    (Session::from_sign_in(app, client, &body), cookie)
}

/// The revocation path (`/api/v1/keys/{id}`) of the caller's key named `name`.
async fn key_path(admin: &Session, name: &str) -> String {
    let keys: Value = admin.get("/api/v1/keys").await.json().await.unwrap();
    let id = keys
        .as_array()
        .into_iter()
        .flatten()
        .find(|key| key["name"] == name)
        .and_then(|key| key["id"].as_str())
        .expect("the key by its name")
        .to_owned();
    format!("/api/v1/keys/{id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_and_under_scoped_credentials_are_refused() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let member = app.create_user("member@example.com", "Acme Test", false).await;
    let member_path = format!("/api/v1/users/{}", member["id"].as_str().unwrap());
    let read_key = admin.api_key("read", &["read"]).await;
    let write_key = admin.api_key("write", &["write"]).await;
    let expired_key = admin.api_key("expired", &["read", "write"]).await;
    // Keys expire in whole days (`expires_in_days`, 1-3650): the row is backdated instead.
    let backdated = app
        .store()
        .execute_as(
            Actor::System,
            "update public.api_keys set expires_at = now() - interval '1 second'
              where name = 'expired'"
                .into(),
        )
        .await
        .unwrap();
    assert_eq!(backdated, 1);
    let revoke_read_key = key_path(&admin, "read").await;
    // The member signs in keeping the cookie, and signs out.
    let (stale, cookie) = sign_in_keeping_cookie(&app, "member@example.com").await;
    let response = stale.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let before = rows(&app).await;

    let anonymous = client(TIMEOUT);
    let me = app.url("/api/v1/me");
    let replayed = format!("{SESSION_COOKIE}={cookie}");
    let long_key = format!("abx_{}", "a".repeat(10_000));
    let unauthenticated = (StatusCode::UNAUTHORIZED, "unauthenticated");
    let under_scoped = (StatusCode::FORBIDDEN, "insufficient_scope");
    let cases = [
        (
            "the cookie replayed after logout",
            anonymous.get(me.as_str()).header(COOKIE, replayed.as_str()),
            unauthenticated,
        ),
        (
            "a write with the logged-out cookie and its CSRF token",
            anonymous
                .post(app.url("/api/v1/sessions"))
                .header(COOKIE, replayed.as_str())
                .header(CSRF_HEADER, stale.csrf.as_str())
                .json(&json!({})),
            unauthenticated,
        ),
        (
            "an expired key reading",
            anonymous.get(me.as_str()).bearer_auth(expired_key.as_str()),
            unauthenticated,
        ),
        (
            "an expired key writing",
            anonymous
                .post(app.url("/api/v1/keys"))
                .bearer_auth(expired_key.as_str())
                .json(&json!({ "name": "k" })),
            unauthenticated,
        ),
        (
            "a 10,000-character key",
            anonymous.get(me.as_str()).bearer_auth(long_key.as_str()),
            unauthenticated,
        ),
        (
            "Basic authorization",
            anonymous
                .get(me.as_str())
                .header(AUTHORIZATION, "Basic YWRtaW46eA=="),
            unauthenticated,
        ),
        (
            "a read-only key revoking itself",
            anonymous
                .delete(app.url(&revoke_read_key))
                .bearer_auth(read_key.as_str()),
            under_scoped,
        ),
        (
            "a read-only key promoting a member",
            anonymous
                .patch(app.url(&member_path))
                .bearer_auth(read_key.as_str())
                .json(&json!({ "role": "admin" })),
            under_scoped,
        ),
        (
            "a write-only key reading",
            anonymous.get(me.as_str()).bearer_auth(write_key.as_str()),
            under_scoped,
        ),
    ];
    for (what, request, expected) in cases {
        answer(what, request).await.assert_refused(what, &[expected]);
    }
    assert_unchanged(&app, &before, "stale and under-scoped credentials").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_writes_without_their_own_csrf_token_change_nothing() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let member = app.create_user("member@example.com", "Acme Test", false).await;
    let member_path = app.url(&format!("/api/v1/users/{}", member["id"].as_str().unwrap()));
    admin.api_key("ci", &["read", "write"]).await;
    let revoke_key = app.url(&key_path(&admin, "ci").await);
    let other = app.login("member@example.com", PASSWORD).await;
    let before = rows(&app).await;

    // A page of another site is refused even with the right token (as if it had leaked):
    // by Sec-Fetch-Site where the browser sends it, else by Origin against Host.
    let sessions = app.url("/api/v1/sessions");
    let forged = [
        (
            "no X-CSRF-Token",
            admin.client.post(sessions.as_str()).json(&json!({})),
        ),
        (
            "an empty X-CSRF-Token",
            admin
                .client
                .post(sessions.as_str())
                .header(CSRF_HEADER, "")
                .json(&json!({})),
        ),
        (
            "another session's X-CSRF-Token",
            admin
                .client
                .post(sessions.as_str())
                .header(CSRF_HEADER, other.csrf.as_str())
                .json(&json!({})),
        ),
        (
            "the token in the query string",
            admin
                .client
                .post(format!("{sessions}?csrf_token={}", admin.csrf))
                .json(&json!({})),
        ),
        (
            "the right token from Origin: https://evil.example",
            admin
                .client
                .post(sessions.as_str())
                .header(CSRF_HEADER, admin.csrf.as_str())
                .header(ORIGIN, "https://evil.example")
                .json(&json!({})),
        ),
        (
            "the right token from Origin: null",
            admin
                .client
                .post(sessions.as_str())
                .header(CSRF_HEADER, admin.csrf.as_str())
                .header(ORIGIN, "null")
                .json(&json!({})),
        ),
        (
            "the right token with Sec-Fetch-Site: cross-site",
            admin
                .client
                .post(sessions.as_str())
                .header(CSRF_HEADER, admin.csrf.as_str())
                .header("sec-fetch-site", "cross-site")
                .header(ORIGIN, app.url(""))
                .json(&json!({})),
        ),
        (
            "the right token with Sec-Fetch-Site: same-site (a sibling subdomain)",
            admin
                .client
                .post(sessions.as_str())
                .header(CSRF_HEADER, admin.csrf.as_str())
                .header("sec-fetch-site", "same-site")
                .json(&json!({})),
        ),
        ("a DELETE without X-CSRF-Token", admin.client.delete(revoke_key)),
        (
            "a PATCH without X-CSRF-Token",
            admin.client.patch(member_path).json(&json!({ "role": "admin" })),
        ),
    ];
    for (what, request) in forged {
        answer(what, request)
            .await
            .assert_refused(what, &[(StatusCode::FORBIDDEN, "csrf_failed")]);
    }
    assert_unchanged(&app, &before, "cookie writes without their own CSRF token").await;
    own_page_writes_pass(&app, &admin).await;
    app.stop().await;
}

/// The platform's own page: the token, from its own origin, as a browser sends it.
async fn own_page_writes_pass(app: &TestApp, admin: &Session) {
    for (what, name, value) in [
        ("Origin of the platform", ORIGIN.as_str(), app.url("")),
        (
            "Sec-Fetch-Site: same-origin",
            "sec-fetch-site",
            "same-origin".to_owned(),
        ),
    ] {
        let status = admin
            .client
            .post(app.url("/api/v1/sessions"))
            .header(CSRF_HEADER, admin.csrf.as_str())
            .header(name, value)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::CREATED, "{what}");
    }
}

/// Wrong passwords sent at once for one account.
const STORM: usize = 1_000;
/// The throttling window of the storm test: the shortest `auth.login_window_secs` allows.
const WINDOW: Duration = Duration::from_secs(10);
/// How long the whole storm may take (see the test).
const STORM_BOUND: Duration = Duration::from_mins(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_wrong_passwords_gets_only_401_or_429_and_the_throttle_lifts() {
    let app = TestApp::start_with(Options {
        extra_env: vec![(
            "AGENTBOX_AUTH_LOGIN_WINDOW_SECS".into(),
            WINDOW.as_secs().to_string(),
        )],
        ..Options::default()
    })
    .await;
    app.setup_admin().await;
    let before = rows(&app).await;

    // The bound: the throttle (service/auth.rs) reads the failure count before it checks the
    // password and records the failure after, so attempts in flight together all pass the check.
    // At worst every one runs argon2id (m = 19 MiB, t = 2: about 50 ms of one core in a release
    // build): 1,000 × 50 ms over two busy cores ≈ 25 s, plus three database round trips each, one
    // at a time on the embedded database's single connection (a few ms each ≈ 15 s). 120 s
    // leaves room for a loaded CI machine; each request may wait as long as the whole storm.
    let storm = client(STORM_BOUND);
    let login = app.url("/api/v1/auth/login");
    let started = Instant::now();
    let attempts = futures::stream::iter(0..STORM)
        .map(|i| {
            let request = storm
                .post(login.as_str())
                .json(&json!({ "email": ADMIN_EMAIL, "password": format!("wrong password {i}") }));
            async move {
                let response = request.send().await?;
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                Ok::<_, reqwest::Error>((status, body))
            }
        })
        .buffer_unordered(STORM)
        .collect::<Vec<_>>();
    let outcomes = tokio::time::timeout(STORM_BOUND, attempts)
        .await
        .expect("the storm ends within its bound");
    let elapsed = started.elapsed();
    let (mut refused, mut throttled, mut other) = (0_usize, 0_usize, Vec::new());
    for outcome in outcomes {
        match outcome {
            Ok((status, body))
                if status == StatusCode::UNAUTHORIZED && body["code"] == "invalid_credentials" =>
            {
                refused += 1;
            }
            Ok((status, body))
                if status == StatusCode::TOO_MANY_REQUESTS && body["code"] == "too_many_attempts" =>
            {
                throttled += 1;
            }
            Ok((status, body)) => other.push(format!("{status} {body}")),
            Err(err) => other.push(format!("no answer: {err}")),
        }
    }
    println!(
        "login storm of {STORM} wrong passwords: {refused} × 401, {throttled} × 429, {} other, in {:.1} s",
        other.len(),
        elapsed.as_secs_f64()
    );
    assert!(
        other.is_empty(),
        "a wrong password gets 401 or 429 only; {} got else, e.g. {:?}",
        other.len(),
        other.first()
    );
    // Attempts are admitted one at a time under a lock on the email: exactly
    // `login_max_failures` (5) reach the password check, every other one is a 429.
    assert_eq!(
        refused, 5,
        "{refused} × 401: the throttle let a burst through, or started too early"
    );
    assert_unchanged(&app, &before, "the login storm").await;

    // Each failure leaves the window at most `WINDOW` after the storm: until then the right
    // password gets 429 (never 401) with a Retry-After inside the window; after, it signs in.
    let deadline = Instant::now() + WINDOW + Duration::from_secs(5);
    let right = json!({ "email": ADMIN_EMAIL, "password": PASSWORD });
    loop {
        let what = "the right password after the storm";
        let request = client(TIMEOUT).post(login.as_str()).json(&right);
        let got = answer(what, request).await;
        if got.status == StatusCode::OK {
            break;
        }
        got.assert_refused(what, &[(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")]);
        let retry_after: u64 = got
            .headers
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok())
            .expect("a Retry-After in seconds");
        assert!(
            (1..=WINDOW.as_secs()).contains(&retry_after),
            "Retry-After: {retry_after} with a {WINDOW:?} window"
        );
        assert!(
            Instant::now() < deadline,
            "still throttled {WINDOW:?} after the storm"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    app.stop().await;
}

/// First-run setups racing on a fresh platform.
const SETUPS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_first_run_setups_make_exactly_one_admin() {
    let app = TestApp::start().await;
    // Each names its own company: a loser must not leave one behind.
    let setups = (0..SETUPS).map(|i| {
        let request = client(TIMEOUT).post(app.url("/api/v1/auth/setup")).json(&json!({
            "email": format!("admin{i}@example.com"),
            "password": PASSWORD,
            "company": format!("Company {i}"),
        }));
        async move { answer(&format!("setup {i}"), request).await }
    });
    let answers = futures::future::join_all(setups).await;
    let created: Vec<usize> = answers
        .iter()
        .enumerate()
        .filter(|(_, got)| got.status == StatusCode::CREATED)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(created.len(), 1, "exactly one setup wins: {created:?}");
    let winner = created[0];
    for (i, got) in answers.iter().enumerate().filter(|(i, _)| *i != winner) {
        got.assert_refused(
            &format!("setup {i}, racing setup {winner}"),
            &[(StatusCode::CONFLICT, "already_set_up")],
        );
    }
    let counts = rows(&app).await;
    assert_eq!(
        ["users", "admins", "companies", "signed_in"].map(|count| counts[count].as_i64()),
        [Some(1); 4],
        "one user, an admin, in one company, signed in once: {counts}"
    );
    app.login(&format!("admin{winner}@example.com"), PASSWORD).await;
    let loser = (winner + 1) % SETUPS;
    let what = format!("a login as the losing admin{loser}");
    let request = client(TIMEOUT)
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": format!("admin{loser}@example.com"), "password": PASSWORD }));
    answer(&what, request)
        .await
        .assert_refused(&what, &[(StatusCode::UNAUTHORIZED, "invalid_credentials")]);
    app.stop().await;
}
