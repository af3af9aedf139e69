//! `TestApp`: the real platform on port 0 with a fresh database — the embedded one, or a fresh
//! database on the external server named by `AGENTBOX_TEST_DATABASE_URL`.

pub mod file_server;
pub mod serve_process;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use agentbox::app::{self, Running};
use agentbox::config::{FlagOverrides, Settings};
use agentbox::service::Services;
use agentbox::service::companies::CompanyChoice;
use agentbox::store::Store;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const PASSWORD: &str = "correct horse battery";

/// Options for one test's platform.
#[derive(Debug, Clone)]
pub struct Options {
    pub tls: bool,
    pub http_listen: bool,
    pub sample_data: bool,
    pub extra_env: Vec<(String, String)>,
    /// Parts that replace built-in ones (e.g. a scripted task executor).
    pub hooks: app::Hooks,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tls: true,
            http_listen: false,
            sample_data: false,
            extra_env: Vec::new(),
            hooks: app::Hooks::default(),
        }
    }
}

/// The login role a test's platform serves requests as on the external server: it owns
/// nothing and becomes `authenticated` (see `store::Privilege::RuntimeLogin`).
pub const RUNTIME_ROLE: &str = "agentbox_test_runtime";

/// A fresh database on the external server, dropped when the test stops the app.
#[derive(Debug)]
pub struct ExternalDb {
    admin_url: String,
    name: String,
    /// The owner's URL (the admin's login on the new database).
    pub url: String,
    /// The runtime role's URL on the same database.
    pub runtime_url: String,
}

impl ExternalDb {
    /// A fresh database when this run has an external server (`AGENTBOX_TEST_DATABASE_URL`).
    pub async fn for_this_run() -> Option<Self> {
        match external_db_url() {
            Some(admin) => Some(Self::create(&admin).await),
            None => None,
        }
    }

    pub async fn create(admin_url: &str) -> Self {
        let name = format!("agentbox_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to AGENTBOX_TEST_DATABASE_URL");
        sqlx::query(&format!("create database {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        ensure_runtime_role(&mut conn).await;
        conn.close().await.unwrap();
        let mut url = url_without_db(admin_url);
        url.push_str(&name);
        let mut runtime_url = url_with_user(&url_without_db(admin_url), RUNTIME_ROLE);
        runtime_url.push_str(&name);
        Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
            runtime_url,
        }
    }

    /// The environment of a platform on this database with least privilege: the runtime role
    /// serves requests, the owner migrates.
    pub fn env(&self) -> [(String, String); 2] {
        [
            ("DATABASE_URL".into(), self.runtime_url.clone()),
            ("AGENTBOX_DATABASE_OWNER_URL".into(), self.url.clone()),
        ]
    }

    pub async fn drop_db(&self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!("drop database if exists {} with (force)", self.name))
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

/// Creates the runtime login role once per server (tests race for it: a duplicate is fine).
async fn ensure_runtime_role(conn: &mut sqlx::PgConnection) {
    let created = sqlx::query(&format!(
        "create role {RUNTIME_ROLE} login noinherit nosuperuser nobypassrls nocreaterole nocreatedb"
    ))
    .execute(&mut *conn)
    .await;
    if let Err(sqlx::Error::Database(err)) = &created {
        // duplicate_object, or unique_violation when two tests create it at once
        assert!(
            matches!(err.code().as_deref(), Some("42710" | "23505")),
            "create {RUNTIME_ROLE}: {err}"
        );
    }
}

/// `postgres://u@h:5432/` → `postgres://user@h:5432/` (any password dropped: trust auth).
fn url_with_user(url: &str, user: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{}{user}@{host}", &url[..scheme_end])
}

/// `postgres://u@h:5432/db?x` → `postgres://u@h:5432/` (query parameters are dropped).
fn url_without_db(url: &str) -> String {
    let without_query = url.split('?').next().unwrap_or(url);
    let scheme_end = without_query.find("://").map_or(0, |i| i + 3);
    match without_query[scheme_end..].find('/') {
        Some(slash) => without_query[..=scheme_end + slash].to_owned(),
        None => format!("{without_query}/"),
    }
}

pub fn external_db_url() -> Option<String> {
    std::env::var("AGENTBOX_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// Settings as `agentbox serve` would load them, for a data folder and options.
/// The agentbox binary of this checkout. `AGENTBOX_TEST_BIN` names it where several checkouts
/// share one target folder: there the uplifted binary is whichever was built last.
pub fn agentbox_binary() -> String {
    std::env::var("AGENTBOX_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_agentbox").to_owned())
}

pub fn settings_for(data_dir: &Path, options: &Options, database: Option<&ExternalDb>) -> Settings {
    let mut env: HashMap<String, String> = HashMap::from([
        ("AGENTBOX_DATA_DIR".into(), data_dir.display().to_string()),
        ("AGENTBOX_LISTEN".into(), "127.0.0.1:0".into()),
        (
            "AGENTBOX_HTTP_LISTEN".into(),
            if options.http_listen { "127.0.0.1:0" } else { "off" }.into(),
        ),
        (
            "AGENTBOX_TLS".into(),
            if options.tls { "self-signed" } else { "off" }.into(),
        ),
        ("AGENTBOX_LOG_LEVEL".into(), "warn".into()),
        // Only the built-in agents unless a test writes files here.
        (
            "AGENTBOX_AGENTS_DIR".into(),
            data_dir.join("agents").display().to_string(),
        ),
        ("AGENTBOX_SAMPLE_DATA".into(), options.sample_data.to_string()),
        // Tests have no network: nothing is downloaded unless a test asks for it.
        ("AGENTBOX_MODELS_AUTO_PULL".into(), "false".into()),
        // No automatic backups in the middle of a test (tests/it/backup.rs runs them itself).
        ("AGENTBOX_BACKUP_INTERVAL_HOURS".into(), "0".into()),
    ]);
    if let Some(db) = database {
        env.extend(db.env());
    }
    env.extend(options.extra_env.iter().cloned());
    Settings::load_with(&FlagOverrides::default(), move |name| env.get(name).cloned()).expect("test settings")
}

pub struct TestApp {
    running: Option<Running>,
    pub addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    pub base: String,
    pub options: Options,
    pub data_dir: PathBuf,
    _dir: tempfile::TempDir,
    external: Option<ExternalDb>,
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let external = ExternalDb::for_this_run().await;
        let data_dir = dir.path().join("data");
        let settings = settings_for(&data_dir, &options, external.as_ref());
        let running = app::start_with(settings, options.hooks.clone())
            .await
            .expect("app starts");
        let scheme = if options.tls { "https" } else { "http" };
        Self {
            addr: running.addr,
            http_addr: running.http_addr,
            base: format!("{scheme}://127.0.0.1:{}", running.addr.port()),
            running: Some(running),
            options,
            data_dir,
            _dir: dir,
            external,
        }
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("app is running")
    }

    pub fn store(&self) -> &Store {
        &self.running().store
    }

    pub fn services(&self) -> Services {
        self.running().services.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client with its own cookie jar (the platform's certificate is self-signed).
    #[allow(clippy::unused_self)]
    pub fn client(&self) -> Client {
        Client::builder()
            .danger_accept_invalid_certs(true)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Stops the platform (and drops the external test database).
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            // Boxed: the shutdown's future is large, and every test awaits this one.
            Box::pin(running.stop()).await.expect("clean shutdown");
        }
        if let Some(db) = self.external.take() {
            db.drop_db().await;
        }
    }

    /// Stops the platform but keeps its data folder and database (for a process that needs them
    /// to itself, like `mcp-stdio` on the embedded database); `stop` still cleans up.
    pub async fn suspend(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean shutdown");
        }
    }

    /// The external test database's URL (`None` on the embedded database).
    pub fn database_url(&self) -> Option<String> {
        self.external.as_ref().map(|db| db.url.clone())
    }

    /// Stops and starts the platform again on the same data folder and database.
    pub async fn restart(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean shutdown");
        }
        let settings = settings_for(&self.data_dir, &self.options, self.external.as_ref());
        let running = app::start_with(settings, self.options.hooks.clone())
            .await
            .expect("app restarts");
        self.addr = running.addr;
        let scheme = if self.options.tls { "https" } else { "http" };
        self.base = format!("{scheme}://127.0.0.1:{}", running.addr.port());
        self.running = Some(running);
    }

    /// Runs first-run setup and returns a signed-in session for the admin.
    pub async fn setup_admin(&self) -> Session {
        let client = self.client();
        let response = client
            .post(self.url("/api/v1/auth/setup"))
            .json(&json!({ "email": ADMIN_EMAIL, "password": PASSWORD, "company": "Acme Test" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        Session::from_sign_in(self, client, &body)
    }

    /// Signs in with email and password.
    pub async fn login(&self, email: &str, password: &str) -> Session {
        let client = self.client();
        let response = client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        let body: Value = response.json().await.unwrap();
        Session::from_sign_in(self, client, &body)
    }

    /// Creates a user in `company` (made when missing) the way `agentbox user create --company
    /// NAME --create-company` does.
    pub async fn create_user(&self, email: &str, company: &str, admin: bool) -> Value {
        let request = agentbox::service::users::CreateUser {
            email: email.to_owned(),
            password: PASSWORD.to_owned(),
            display_name: None,
            role: if admin {
                agentbox::domain::Role::Admin
            } else {
                agentbox::domain::Role::Member
            },
            department_id: None,
        };
        let (user, _) = self
            .services()
            .users
            .create_from_cli(request, CompanyChoice::ExistingOrNew(company.to_owned()))
            .await
            .unwrap();
        serde_json::to_value(user).unwrap()
    }
}

/// A signed-in browser: cookie jar plus the CSRF token for writes.
pub struct Session {
    pub client: Client,
    pub csrf: String,
    pub user: Value,
    base: String,
}

impl Session {
    pub fn from_sign_in(app: &TestApp, client: Client, body: &Value) -> Self {
        Self {
            client,
            csrf: body["csrf_token"].as_str().expect("csrf token").to_owned(),
            user: body["user"].clone(),
            base: app.base.clone(),
        }
    }

    pub fn user_id(&self) -> String {
        self.user["id"].as_str().unwrap().to_owned()
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .header("x-csrf-token", &self.csrf)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path).json(&body).send().await.unwrap()
    }

    /// Creates an API key and returns its secret.
    pub async fn api_key(&self, name: &str, scopes: &[&str]) -> String {
        let response = self
            .post("/api/v1/keys", json!({ "name": name, "scopes": scopes }))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["secret"].as_str().unwrap().to_owned()
    }
}

/// Reads an error body and checks its shape.
pub async fn error_code(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("error body is JSON");
    let code = body["code"].as_str().expect("error has a code").to_owned();
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error has a message: {body}"
    );
    (status, code)
}

/// Reads an error of the OpenAI-compatible API (`{"error": {"message", "type", "param",
/// "code"}}`) and checks its shape.
pub async fn openai_error_code(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("error body is JSON");
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()) && error["type"].is_string(),
        "an OpenAI-shaped error: {body}"
    );
    (
        status,
        error["code"].as_str().expect("error has a code").to_owned(),
    )
}

/// Reads an error of the Ollama-compatible API (`{"error": "message"}`).
pub async fn ollama_error(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("error body is JSON");
    let message = body["error"].as_str().expect("an Ollama-shaped error");
    assert!(!message.is_empty(), "{body}");
    (status, message.to_owned())
}
