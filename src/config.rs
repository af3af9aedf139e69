//! Typed, layered configuration: built-in defaults < `agentbox.toml` < `AGENTBOX_*` environment
//! < command-line flags. Loaded once in `main` and passed down; never global.

mod example;
pub mod keys;
mod layers;
mod mcp;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub use example::example_file;
pub use layers::Source;
use layers::{Layers, Raw};

use crate::domain::McpServerSpec;

/// Errors in configuration: each names the key, where its value came from and what is allowed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("unknown configuration key `{key}` in {origin} (see `agentbox config example`)")]
    UnknownKey { key: String, origin: Source },
    #[error("invalid value {value:?} for `{key}` from {origin}: expected {expected}")]
    Invalid {
        key: &'static str,
        value: String,
        origin: Source,
        expected: String,
    },
    #[error("`{key}` is required: {reason}")]
    Missing { key: &'static str, reason: String },
}

/// A value that must not appear in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    SelfSigned,
    Off,
    Files { cert: PathBuf, key: PathBuf },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// External Postgres; `None` selects the embedded database.
    pub url: Option<Secret>,
    /// The owner of the tables, for migrations, maintenance and the platform's bookkeeping;
    /// `None`: `url` is the owner and requests run as the owner too (see `store::Privilege`).
    pub owner_url: Option<Secret>,
    pub max_connections: u32,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub session_ttl: Duration,
    pub login_max_failures: u32,
    pub login_window: Duration,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub max_body_bytes: usize,
    pub shutdown_grace: Duration,
    /// After a stop signal, how long to keep serving with `/ready` saying 503 (draining).
    pub drain: Duration,
}

/// The background task workers of this process.
#[derive(Debug, Clone)]
pub struct TaskSettings {
    /// Tasks run at the same time; 0: this process runs none.
    pub concurrency: u32,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
}

/// Automatic backups of the embedded database (`backup.*`).
#[derive(Debug, Clone)]
pub struct BackupSettings {
    /// How often `serve` writes one; `None`: never.
    pub interval: Option<Duration>,
    /// Automatic backups kept in `<data_dir>/backups`.
    pub keep: usize,
}

#[derive(Debug, Clone)]
pub struct ModelSettings {
    /// `serve` pulls the missing model of each role in the background.
    pub auto_pull: bool,
}

/// One step of `routing.fallback`: where an answer may come from when the model asked for
/// cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackStep {
    /// A local model already in memory.
    Loaded,
    /// The present model that plays the fast role.
    Fast,
    Reasoning,
    Code,
    /// Any present local model, smallest first.
    Local,
    /// A remote provider's model that has a key, by provider priority.
    Remote,
}

impl FallbackStep {
    const NAMES: [(&'static str, FallbackStep); 6] = [
        ("loaded", FallbackStep::Loaded),
        ("fast", FallbackStep::Fast),
        ("reasoning", FallbackStep::Reasoning),
        ("code", FallbackStep::Code),
        ("local", FallbackStep::Local),
        ("remote", FallbackStep::Remote),
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, step)| *step == self)
            .map_or("?", |(name, _)| name)
    }
}

/// `routing.*`: what happens when an agent's model cannot answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingSettings {
    /// Refuse instead of falling back.
    pub strict: bool,
    /// Fallback candidates, in order.
    pub fallback: Vec<FallbackStep>,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            strict: false,
            fallback: FallbackStep::NAMES.iter().map(|(_, step)| *step).collect(),
        }
    }
}

/// `agents.*`: what one agent step may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentLimits {
    pub max_tokens: u32,
    pub tool_timeout: Duration,
}

/// How the in-process engine runs models (`None`: decided from the machine).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub threads: Option<u32>,
    pub slots: u32,
    pub context_per_slot: u32,
    pub batch_tokens: u32,
    pub memory_budget_mb: Option<u64>,
    pub prompt_cache: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ProviderKeys {
    pub anthropic: Option<Secret>,
    pub openai: Option<Secret>,
}

/// `mcp.*`: external MCP servers and the `/mcp` endpoint.
#[derive(Debug, Clone)]
pub struct McpSettings {
    /// `[[mcp.servers]]`, checked.
    pub servers: Vec<McpServerSpec>,
    /// Host names `/mcp` answers to; empty: any.
    pub allowed_hosts: Vec<String>,
    pub call_timeout: Duration,
    pub connect_timeout: Duration,
}

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub http_listen: Option<SocketAddr>,
    pub tls: TlsMode,
    pub database: DatabaseSettings,
    pub models_dir: PathBuf,
    pub models_file: PathBuf,
    pub models: ModelSettings,
    pub routing: RoutingSettings,
    pub engine: EngineConfig,
    /// Agent definition files (`*.md`), reloaded on change.
    pub agents_dir: PathBuf,
    pub agents: AgentLimits,
    /// `embeddings.model`: catalog name or role, model path, or "off".
    pub embeddings_model: Option<String>,
    pub workspace: PathBuf,
    pub sample_data: bool,
    pub log: LogSettings,
    pub auth: AuthSettings,
    pub server: ServerSettings,
    pub tasks: TaskSettings,
    pub mcp: McpSettings,
    pub backup: BackupSettings,
    pub providers: ProviderKeys,
    /// Encrypts provider keys stored in the database; `None`: `<data_dir>/secret.key`.
    pub secret_key: Option<Secret>,
}

/// Values given on the command line; they win over every other layer.
#[derive(Debug, Default, Clone)]
pub struct FlagOverrides {
    values: Vec<(&'static str, &'static str, String)>,
}

impl FlagOverrides {
    /// Records `--flag value` for `key` when the flag was given.
    pub fn set(&mut self, key: &'static str, flag: &'static str, value: Option<impl ToString>) {
        if let Some(value) = value {
            self.values.push((key, flag, value.to_string()));
        }
    }
}

/// The file read when `AGENTBOX_CONFIG` is unset (only if it exists).
const DEFAULT_CONFIG_FILE: &str = "agentbox.toml";

impl Settings {
    /// Loads the configuration from the real process environment.
    pub fn load(flags: &FlagOverrides) -> Result<Self, ConfigError> {
        Self::load_with(flags, |name| std::env::var(name).ok())
    }

    /// Loads the configuration with an explicit environment (tests pass their own).
    pub fn load_with(
        flags: &FlagOverrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut layers = Layers::with_defaults();
        let config_file = match env("AGENTBOX_CONFIG").filter(|v| !v.is_empty()) {
            Some(path) => Some(PathBuf::from(path)),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        if let Some(path) = &config_file {
            layers.apply_file(path)?;
        }
        layers.apply_env(&env);
        for (key, flag, value) in &flags.values {
            layers.set(key, value.clone(), Source::Flag(flag));
        }
        Self::from_layers(&layers, config_file)
    }

    fn from_layers(layers: &Layers, config_file: Option<PathBuf>) -> Result<Self, ConfigError> {
        let data_dir: PathBuf = required(layers, "data_dir", "a folder path")?;
        let under_data = |key: &'static str, name: &str| -> Result<PathBuf, ConfigError> {
            Ok(optional(layers, key, "a folder path")?.unwrap_or_else(|| data_dir.join(name)))
        };
        Ok(Self {
            listen: required(layers, "listen", "an address like 0.0.0.0:8443")?,
            http_listen: parse_http_listen(layers)?,
            tls: parse_tls(layers)?,
            database: DatabaseSettings {
                url: optional::<String>(layers, "database_url", "a postgres:// URL")?.map(Secret::new),
                owner_url: optional::<String>(layers, "database.owner_url", "a postgres:// URL")?
                    .map(Secret::new),
                max_connections: bounded(layers, "database.max_connections", 1, 1000)?,
            },
            models_dir: under_data("models_dir", "models")?,
            models_file: required(layers, "models_file", "a file path")?,
            models: ModelSettings {
                auto_pull: parse_bool(layers, "models.auto_pull")?,
            },
            routing: RoutingSettings {
                strict: parse_bool(layers, "routing.strict")?,
                fallback: parse_fallback(layers)?,
            },
            engine: EngineConfig {
                threads: auto_or_bounded(layers, "engine.threads", 1, 256)?,
                slots: bounded(layers, "engine.slots", 1, 64)?,
                context_per_slot: bounded(layers, "engine.context_per_slot", 256, 1 << 20)?,
                batch_tokens: bounded(layers, "engine.batch_tokens", 32, 8192)?,
                memory_budget_mb: auto_or_bounded(layers, "engine.memory_budget_mb", 64, 1 << 24)?,
                prompt_cache: parse_bool(layers, "engine.prompt_cache")?,
            },
            embeddings_model: optional(layers, "embeddings.model", "a model name, role or path")?,
            agents_dir: required(layers, "agents_dir", "a folder path")?,
            agents: AgentLimits {
                max_tokens: bounded(layers, "agents.max_tokens", 16, 32_768)?,
                tool_timeout: Duration::from_secs(bounded(layers, "agents.tool_timeout_secs", 1, 3600)?),
            },
            workspace: under_data("workspace", "workspace")?,
            sample_data: parse_bool(layers, "sample_data")?,
            log: LogSettings {
                level: required(layers, "log.level", "a tracing filter such as \"info\"")?,
                format: parse_choice(
                    layers,
                    "log.format",
                    &[
                        ("auto", LogFormat::Auto),
                        ("pretty", LogFormat::Pretty),
                        ("json", LogFormat::Json),
                    ],
                )?,
            },
            auth: AuthSettings {
                session_ttl: Duration::from_secs(
                    bounded::<u64>(layers, "auth.session_ttl_hours", 1, 8760)? * 3600,
                ),
                login_max_failures: bounded(layers, "auth.login_max_failures", 1, 1000)?,
                login_window: Duration::from_secs(bounded(layers, "auth.login_window_secs", 10, 86_400)?),
            },
            server: ServerSettings {
                max_body_bytes: bounded(layers, "server.max_body_bytes", 1024, 1 << 30)?,
                shutdown_grace: Duration::from_secs(bounded(layers, "server.shutdown_grace_secs", 0, 600)?),
                drain: Duration::from_secs(bounded(layers, "server.drain_secs", 0, 600)?),
            },
            tasks: TaskSettings {
                concurrency: bounded(layers, "tasks.concurrency", 0, 64)?,
                lease: Duration::from_secs(bounded(layers, "tasks.lease_secs", 1, 3600)?),
            },
            mcp: McpSettings {
                servers: mcp::servers(layers)?,
                allowed_hosts: mcp::allowed_hosts(layers),
                call_timeout: Duration::from_secs(bounded(layers, "mcp.call_timeout_secs", 1, 3600)?),
                connect_timeout: Duration::from_secs(bounded(layers, "mcp.connect_timeout_secs", 1, 600)?),
            },
            backup: BackupSettings {
                interval: match bounded::<u64>(layers, "backup.interval_hours", 0, 8760)? {
                    0 => None,
                    hours => Some(Duration::from_secs(hours * 3600)),
                },
                keep: bounded(layers, "backup.keep", 1, 1000)?,
            },
            providers: ProviderKeys {
                anthropic: optional::<String>(layers, "providers.anthropic_api_key", "a key")?
                    .map(Secret::new),
                openai: optional::<String>(layers, "providers.openai_api_key", "a key")?.map(Secret::new),
            },
            secret_key: optional::<String>(layers, "secret_key", "64 hex digits")?.map(Secret::new),
            data_dir,
            config_file,
        })
    }

    /// Where the embedded Postgres keeps its cluster.
    pub fn embedded_db_dir(&self) -> PathBuf {
        self.data_dir.join("pg")
    }

    /// Where `serve` writes its automatic backups.
    pub fn backups_dir(&self) -> PathBuf {
        self.data_dir.join("backups")
    }

    /// Where the self-signed certificate is kept.
    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }

    pub fn uses_tls(&self) -> bool {
        self.tls != TlsMode::Off
    }

    /// The scheme of the main listener's URLs.
    pub fn url_scheme(&self) -> &'static str {
        if self.uses_tls() { "https" } else { "http" }
    }
}

fn invalid(key: &'static str, raw: &Raw, expected: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: raw.value.clone(),
        origin: raw.source.clone(),
        expected: expected.into(),
    }
}

fn optional<T: FromStr>(
    layers: &Layers,
    key: &'static str,
    expected: &str,
) -> Result<Option<T>, ConfigError> {
    layers
        .get(key)
        .map(|raw| raw.value.trim().parse().map_err(|_| invalid(key, raw, expected)))
        .transpose()
}

fn required<T: FromStr>(layers: &Layers, key: &'static str, expected: &str) -> Result<T, ConfigError> {
    optional(layers, key, expected)?.ok_or_else(|| ConfigError::Missing {
        key,
        reason: format!("expected {expected}"),
    })
}

fn bounded<T>(layers: &Layers, key: &'static str, min: T, max: T) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + fmt::Display + Copy,
{
    let expected = format!("a whole number from {min} to {max}");
    let value: T = required(layers, key, &expected)?;
    if value < min || value > max {
        let raw = layers.get(key).expect("required() found the key");
        return Err(invalid(key, raw, expected));
    }
    Ok(value)
}

/// A number within bounds, or "auto" (`None`).
fn auto_or_bounded<T>(layers: &Layers, key: &'static str, min: T, max: T) -> Result<Option<T>, ConfigError>
where
    T: FromStr + PartialOrd + fmt::Display + Copy,
{
    match layers.get(key) {
        None => Ok(None),
        Some(raw) if raw.value.trim().eq_ignore_ascii_case("auto") => Ok(None),
        Some(_) => bounded(layers, key, min, max).map(Some),
    }
}

fn parse_choice<T: Copy>(
    layers: &Layers,
    key: &'static str,
    choices: &[(&str, T)],
) -> Result<T, ConfigError> {
    let names: Vec<String> = choices.iter().map(|(name, _)| format!("\"{name}\"")).collect();
    let expected = format!("one of {}", names.join(", "));
    let raw = layers.get(key).ok_or_else(|| ConfigError::Missing {
        key,
        reason: expected.clone(),
    })?;
    let wanted = raw.value.trim().to_ascii_lowercase();
    choices
        .iter()
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| *value)
        .ok_or_else(|| invalid(key, raw, expected))
}

fn parse_bool(layers: &Layers, key: &'static str) -> Result<bool, ConfigError> {
    parse_choice(
        layers,
        key,
        &[
            ("true", true),
            ("false", false),
            ("1", true),
            ("0", false),
            ("yes", true),
            ("no", false),
        ],
    )
}

/// `routing.fallback`: a TOML array (`["loaded", "fast"]`) or a comma-separated list, of known
/// steps, each at most once.
fn parse_fallback(layers: &Layers) -> Result<Vec<FallbackStep>, ConfigError> {
    const KEY: &str = "routing.fallback";
    let names: Vec<&str> = FallbackStep::NAMES.iter().map(|(name, _)| *name).collect();
    let expected = format!(
        "a list of {} (each at most once), e.g. [\"loaded\", \"fast\", \"local\"]",
        names.join(", ")
    );
    let raw = layers.get(KEY).ok_or_else(|| ConfigError::Missing {
        key: KEY,
        reason: expected.clone(),
    })?;
    let text = raw.value.trim();
    let inner = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(text);
    let mut steps = Vec::new();
    for item in inner.split(',') {
        let item = item.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        if item.is_empty() {
            continue;
        }
        let step = FallbackStep::NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(item))
            .map(|(_, step)| *step)
            .ok_or_else(|| invalid(KEY, raw, expected.clone()))?;
        if steps.contains(&step) {
            return Err(invalid(KEY, raw, expected));
        }
        steps.push(step);
    }
    Ok(steps)
}

fn parse_http_listen(layers: &Layers) -> Result<Option<SocketAddr>, ConfigError> {
    const EXPECTED: &str = "an address like 0.0.0.0:8080, or \"off\"";
    match layers.get("http_listen") {
        None => Ok(None),
        Some(raw) if raw.value.trim().eq_ignore_ascii_case("off") => Ok(None),
        Some(raw) => raw
            .value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| invalid("http_listen", raw, EXPECTED)),
    }
}

#[derive(Clone, Copy)]
enum TlsChoice {
    SelfSigned,
    Off,
    Files,
}

fn parse_tls(layers: &Layers) -> Result<TlsMode, ConfigError> {
    let choice = parse_choice(
        layers,
        "tls",
        &[
            ("self-signed", TlsChoice::SelfSigned),
            ("off", TlsChoice::Off),
            ("files", TlsChoice::Files),
        ],
    )?;
    let cert: Option<PathBuf> = optional(layers, "tls_cert", "a PEM file path")?;
    let key: Option<PathBuf> = optional(layers, "tls_key", "a PEM file path")?;
    let explicit = layers.get("tls").is_some_and(|raw| raw.source != Source::Default);
    match (choice, cert, key) {
        (TlsChoice::Off, None, None) => Ok(TlsMode::Off),
        (TlsChoice::SelfSigned, None, None) => Ok(TlsMode::SelfSigned),
        (TlsChoice::Files | TlsChoice::SelfSigned, Some(cert), Some(key))
            if matches!(choice, TlsChoice::Files) || !explicit =>
        {
            Ok(TlsMode::Files { cert, key })
        }
        (TlsChoice::Files | TlsChoice::SelfSigned, Some(_), None) => Err(ConfigError::Missing {
            key: "tls_key",
            reason: "tls_cert was given without its private key".into(),
        }),
        (TlsChoice::Files | TlsChoice::SelfSigned, None, Some(_)) => Err(ConfigError::Missing {
            key: "tls_cert",
            reason: "tls_key was given without its certificate".into(),
        }),
        (TlsChoice::Files, None, None) => Err(ConfigError::Missing {
            key: "tls_cert",
            reason: "tls = \"files\" needs tls_cert and tls_key".into(),
        }),
        (_, _, _) => {
            let raw = layers.get("tls").expect("tls has a default");
            Err(invalid(
                "tls",
                raw,
                "\"files\" (or leave it unset) when tls_cert/tls_key are given",
            ))
        }
    }
}

/// Resolves a possibly relative path against the current directory, for messages and locks.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests;
