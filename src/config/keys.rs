//! The one list of configuration keys: their defaults, environment names and documentation.
//! Loading, validation and `agentbox config example` all read this table, so a key cannot be
//! documented without being loadable, or loadable without being documented.

/// One configuration key.
pub struct KeyDef {
    /// Dotted name as written in `agentbox.toml` (`section.name` for keys inside a table).
    pub key: &'static str,
    /// Environment variable that overrides the file.
    pub env: &'static str,
    /// Default as it would be written in the file (`None`: unset unless given).
    pub default: Option<&'static str>,
    /// What the key does and which values it takes.
    pub doc: &'static str,
    /// Secrets are redacted in logs and `Debug` output.
    pub secret: bool,
}

const fn key(
    key: &'static str,
    env: &'static str,
    default: Option<&'static str>,
    doc: &'static str,
) -> KeyDef {
    KeyDef {
        key,
        env,
        default,
        doc,
        secret: false,
    }
}

const fn secret(key: &'static str, env: &'static str, doc: &'static str) -> KeyDef {
    KeyDef {
        key,
        env,
        default: None,
        doc,
        secret: true,
    }
}

pub const KEYS: &[KeyDef] = &[
    key(
        "data_dir",
        "AGENTBOX_DATA_DIR",
        Some("./data"),
        "Folder for the embedded database, certificates, models and the workspace.",
    ),
    key(
        "listen",
        "AGENTBOX_LISTEN",
        Some("0.0.0.0:8443"),
        "Address of the main listener (HTTPS, or plain HTTP with tls = \"off\").",
    ),
    key(
        "http_listen",
        "AGENTBOX_HTTP_LISTEN",
        Some("0.0.0.0:8080"),
        "Plain-HTTP listener that redirects to HTTPS and serves /health; \"off\" disables it.",
    ),
    key(
        "tls",
        "AGENTBOX_TLS",
        Some("self-signed"),
        "\"self-signed\" (made on first start, kept in <data_dir>/tls), \"off\", or \"files\" (tls_cert + tls_key).",
    ),
    key(
        "tls_cert",
        "AGENTBOX_TLS_CERT",
        None,
        "PEM certificate chain of the operator's certificate; reloaded when the file changes.",
    ),
    key(
        "tls_key",
        "AGENTBOX_TLS_KEY",
        None,
        "PEM private key belonging to tls_cert.",
    ),
    secret(
        "database_url",
        "DATABASE_URL",
        "External Postgres (postgres://user:pass@host/db). Unset: the embedded database in <data_dir>/pg. With database.owner_url set, a role that owns nothing: every request runs on it.",
    ),
    secret(
        "database.owner_url",
        "AGENTBOX_DATABASE_OWNER_URL",
        "External Postgres as the owner of the tables, for migrations, backups and the platform's bookkeeping; DATABASE_URL then names the runtime role (owns nothing, no BYPASSRLS, member of authenticated only). Unset: DATABASE_URL's role does both.",
    ),
    key(
        "database.max_connections",
        "AGENTBOX_DATABASE_MAX_CONNECTIONS",
        Some("16"),
        "Pool size for external Postgres, per role with database.owner_url (the embedded database always uses one connection).",
    ),
    key(
        "models_dir",
        "AGENTBOX_MODELS_DIR",
        None,
        "Folder of GGUF model files. Default: <data_dir>/models.",
    ),
    key(
        "models_file",
        "AGENTBOX_MODELS_FILE",
        Some("./models.toml"),
        "The model catalog: roles fast / reasoning / code and their sources.",
    ),
    key(
        "models.auto_pull",
        "AGENTBOX_MODELS_AUTO_PULL",
        Some("true"),
        "serve downloads the missing model of each role in the background (true/false).",
    ),
    key(
        "routing.strict",
        "AGENTBOX_ROUTING_STRICT",
        Some("false"),
        "true: an agent whose role (or named model) has no model present fails with model_unavailable, as before; false: it answers on the best model present, in the routing.fallback order, and says so (true/false).",
    ),
    key(
        "routing.fallback",
        "AGENTBOX_ROUTING_FALLBACK",
        Some("loaded,fast,reasoning,code,local,remote"),
        "Where an agent's answer comes from when no model of its role (or its named model) can answer, tried in this order: \"loaded\" (a local model already in memory), \"fast\", \"reasoning\", \"code\" (the model playing that role, when present), \"local\" (any other present local model, smallest first), \"remote\" (a remote provider's model with a key, by provider priority). A list (TOML array, or comma-separated in the variable); leave steps out to skip them, put \"remote\" first to prefer a remote provider.",
    ),
    key(
        "engine.threads",
        "AGENTBOX_ENGINE_THREADS",
        Some("auto"),
        "CPU threads per decode: \"auto\" (all cores) or 1-256. Use fewer on a busy machine: llama.cpp's threads busy-wait.",
    ),
    key(
        "engine.slots",
        "AGENTBOX_ENGINE_SLOTS",
        Some("4"),
        "Sequences one model decodes together (continuous batching), 1-64; more wait in a queue.",
    ),
    key(
        "engine.context_per_slot",
        "AGENTBOX_ENGINE_CONTEXT_PER_SLOT",
        Some("4096"),
        "Context window of each sequence, in tokens (256-1048576), when the model entry names none.",
    ),
    key(
        "engine.batch_tokens",
        "AGENTBOX_ENGINE_BATCH_TOKENS",
        Some("512"),
        "Largest decode batch, in tokens (32-8192).",
    ),
    key(
        "engine.prompt_cache",
        "AGENTBOX_ENGINE_PROMPT_CACHE",
        Some("true"),
        "A slot keeps its KV cache after an answer, so a chat's next turn evaluates only its new tokens and a shared system prompt is copied between slots (true/false).",
    ),
    key(
        "engine.memory_budget_mb",
        "AGENTBOX_ENGINE_MEMORY_BUDGET_MB",
        Some("auto"),
        "Loaded models may take this many MiB together (least recently used are unloaded first): \"auto\" (3/4 of RAM) or a number.",
    ),
    key(
        "embeddings.model",
        "AGENTBOX_EMBEDDINGS_MODEL",
        Some("embedding"),
        "Embedding model for semantic search and /v1/embeddings: a catalog name or role, a .gguf file, a folder with config.json + model.safetensors + tokenizer.json, or \"off\".",
    ),
    key(
        "agents_dir",
        "AGENTBOX_AGENTS_DIR",
        Some("./agents"),
        "Folder of agent definitions (*.md: YAML front matter + system prompt); they override the built-in agents of the same name and reload when the folder changes.",
    ),
    key(
        "agents.max_tokens",
        "AGENTBOX_AGENTS_MAX_TOKENS",
        Some("1024"),
        "Answer tokens an agent's model may write per step (16-32768).",
    ),
    key(
        "agents.tool_timeout_secs",
        "AGENTBOX_AGENTS_TOOL_TIMEOUT_SECS",
        Some("30"),
        "Seconds one tool call may take before the model is told it timed out (1-3600).",
    ),
    key(
        "workspace",
        "AGENTBOX_WORKSPACE",
        None,
        "Folder the workspace and git tools are confined to: each company gets companies/<company_id>/ below it, a user without a company users/<user_id>/. Default: <data_dir>/workspace.",
    ),
    key(
        "sample_data",
        "AGENTBOX_SAMPLE_DATA",
        Some("false"),
        "Load sample companies, departments and KPIs with 24 months of history (true/false).",
    ),
    key(
        "log.level",
        "AGENTBOX_LOG_LEVEL",
        Some("info"),
        "Log filter (tracing syntax, e.g. \"info,agentbox=debug\"); RUST_LOG wins when set.",
    ),
    key(
        "log.format",
        "AGENTBOX_LOG_FORMAT",
        Some("auto"),
        "\"auto\" (pretty on a terminal, JSON otherwise), \"pretty\" or \"json\".",
    ),
    key(
        "auth.session_ttl_hours",
        "AGENTBOX_AUTH_SESSION_TTL_HOURS",
        Some("168"),
        "How long a browser login lasts, in hours (1-8760).",
    ),
    key(
        "auth.login_max_failures",
        "AGENTBOX_AUTH_LOGIN_MAX_FAILURES",
        Some("5"),
        "Failed logins per email within the window before further attempts get 429 (1-1000).",
    ),
    key(
        "auth.login_window_secs",
        "AGENTBOX_AUTH_LOGIN_WINDOW_SECS",
        Some("900"),
        "The login throttling window, in seconds (10-86400).",
    ),
    key(
        "server.max_body_bytes",
        "AGENTBOX_SERVER_MAX_BODY_BYTES",
        Some("2097152"),
        "Largest request body accepted, in bytes (1024-1073741824); larger bodies get 413.",
    ),
    key(
        "server.shutdown_grace_secs",
        "AGENTBOX_SERVER_SHUTDOWN_GRACE_SECS",
        Some("10"),
        "On SIGTERM/SIGINT, how long in-flight requests may finish before they are cut (0-600).",
    ),
    key(
        "server.drain_secs",
        "AGENTBOX_SERVER_DRAIN_SECS",
        Some("0"),
        "On SIGTERM/SIGINT, how long to keep serving with /ready answering 503 (draining) before new connections are refused, so a load balancer takes the replica out first (0-600; the Helm chart sets 5).",
    ),
    key(
        "tasks.concurrency",
        "AGENTBOX_TASKS_CONCURRENCY",
        Some("2"),
        "Background tasks this process runs at the same time (0-64); 0 runs none here (replicas that only serve the API), the tasks wait for another replica.",
    ),
    key(
        "mcp.servers",
        "AGENTBOX_MCP_SERVERS",
        None,
        "External MCP servers whose tools agents may use, as [[mcp.servers]] tables: name, and either command (+ args, env, cwd) for a stdio server or url (+ bearer_token, headers) for a Streamable HTTP server; enabled (default true). Tools are named <server>__<tool>. The variable takes the same list as JSON.",
    ),
    key(
        "mcp.allowed_hosts",
        "AGENTBOX_MCP_ALLOWED_HOSTS",
        Some("localhost,127.0.0.1,::1"),
        "Host names (or host:port) the /mcp endpoint answers to, comma-separated: add the names clients use to reach this server (guards against DNS rebinding); \"*\" allows any.",
    ),
    key(
        "mcp.call_timeout_secs",
        "AGENTBOX_MCP_CALL_TIMEOUT_SECS",
        Some("60"),
        "Seconds one call to an external MCP server may take (1-3600).",
    ),
    key(
        "mcp.connect_timeout_secs",
        "AGENTBOX_MCP_CONNECT_TIMEOUT_SECS",
        Some("30"),
        "Seconds to start or reach an external MCP server and list its tools (1-600); a failed or crashed server is retried with backoff up to a minute apart.",
    ),
    key(
        "tasks.lease_secs",
        "AGENTBOX_TASKS_LEASE_SECS",
        Some("30"),
        "How long a running task stays claimed without a heartbeat, in seconds (1-3600); heartbeats come every third of it. A task whose process died is run again after this long.",
    ),
    key(
        "backup.interval_hours",
        "AGENTBOX_BACKUP_INTERVAL_HOURS",
        Some("6"),
        "Embedded database only (it runs with fsync off): serve writes a backup archive into <data_dir>/backups this often, in hours (0-8760); 0 turns it off.",
    ),
    key(
        "backup.keep",
        "AGENTBOX_BACKUP_KEEP",
        Some("7"),
        "How many automatic backups to keep in <data_dir>/backups (1-1000); older ones are deleted.",
    ),
    secret(
        "secret_key",
        "AGENTBOX_SECRET_KEY",
        "64 hex digits: the key that encrypts provider API keys stored in the database. Default: generated once in <data_dir>/secret.key (0600). Replicas must share it.",
    ),
    secret(
        "providers.anthropic_api_key",
        "ANTHROPIC_API_KEY",
        "API key for Anthropic models.",
    ),
    secret(
        "providers.openai_api_key",
        "OPENAI_API_KEY",
        "API key for OpenAI models.",
    ),
];

pub fn find(key: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|def| def.key == key)
}
