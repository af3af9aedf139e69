use std::collections::HashMap;
use std::io::Write;

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn config_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

#[test]
fn defaults_match_the_contract() {
    let settings = Settings::load_with(&FlagOverrides::default(), env(&[])).unwrap();
    assert_eq!(settings.data_dir, PathBuf::from("./data"));
    assert_eq!(settings.listen.to_string(), "0.0.0.0:8443");
    assert_eq!(settings.http_listen.unwrap().to_string(), "0.0.0.0:8080");
    assert_eq!(settings.tls, TlsMode::SelfSigned);
    assert_eq!(settings.models_dir, PathBuf::from("./data/models"));
    assert_eq!(settings.workspace, PathBuf::from("./data/workspace"));
    assert!(settings.database.url.is_none());
    assert_eq!(settings.tasks.concurrency, 2);
    assert_eq!(settings.tasks.lease, Duration::from_secs(30));
}

#[test]
fn layers_apply_in_order_file_env_flags() {
    let file = config_file(
        "listen = \"127.0.0.1:1000\"\ndata_dir = \"/srv/file\"\n[auth]\nlogin_max_failures = 9\n",
    );
    let path = file.path().to_str().unwrap().to_owned();
    let pairs = [
        ("AGENTBOX_CONFIG", path.as_str()),
        ("AGENTBOX_DATA_DIR", "/srv/env"),
        ("AGENTBOX_LISTEN", "127.0.0.1:2000"),
    ];
    let environment = env(&pairs);
    let mut flags = FlagOverrides::default();
    flags.set("listen", "--listen", Some("127.0.0.1:3000"));
    let settings = Settings::load_with(&flags, environment).unwrap();
    assert_eq!(settings.listen.to_string(), "127.0.0.1:3000");
    assert_eq!(settings.data_dir, PathBuf::from("/srv/env"));
    assert_eq!(settings.auth.login_max_failures, 9);
    assert_eq!(settings.models_dir, PathBuf::from("/srv/env/models"));
}

#[test]
fn an_invalid_value_names_key_source_and_what_is_allowed() {
    let err = Settings::load_with(
        &FlagOverrides::default(),
        env(&[("AGENTBOX_LISTEN", "not-an-address")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("`listen`"), "{err}");
    assert!(err.contains("AGENTBOX_LISTEN"), "{err}");
    assert!(err.contains("0.0.0.0:8443"), "{err}");

    let err = Settings::load_with(
        &FlagOverrides::default(),
        env(&[("AGENTBOX_AUTH_SESSION_TTL_HOURS", "0")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("from 1 to 8760"), "{err}");
}

#[test]
fn unknown_file_keys_are_rejected_with_the_file_name() {
    let file = config_file("lisen = \"127.0.0.1:1\"\n");
    let path = file.path().to_str().unwrap().to_owned();
    let err = Settings::load_with(&FlagOverrides::default(), env(&[("AGENTBOX_CONFIG", &path)]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("lisen") && err.contains(&path), "{err}");
}

#[test]
fn a_missing_config_file_named_by_env_is_an_error() {
    let err = Settings::load_with(
        &FlagOverrides::default(),
        env(&[("AGENTBOX_CONFIG", "/nonexistent/agentbox.toml")]),
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::File { .. }));
}

#[test]
fn tls_modes() {
    let load = |pairs: &[(&str, &str)]| Settings::load_with(&FlagOverrides::default(), env(pairs));
    assert_eq!(load(&[("AGENTBOX_TLS", "off")]).unwrap().tls, TlsMode::Off);
    let files = load(&[("AGENTBOX_TLS_CERT", "c.pem"), ("AGENTBOX_TLS_KEY", "k.pem")]).unwrap();
    assert_eq!(
        files.tls,
        TlsMode::Files {
            cert: "c.pem".into(),
            key: "k.pem".into()
        }
    );
    assert!(load(&[("AGENTBOX_TLS_CERT", "c.pem")]).is_err());
    assert!(load(&[("AGENTBOX_TLS", "files")]).is_err());
    assert!(
        load(&[
            ("AGENTBOX_TLS", "off"),
            ("AGENTBOX_TLS_CERT", "c.pem"),
            ("AGENTBOX_TLS_KEY", "k.pem")
        ])
        .is_err()
    );
    assert!(load(&[("AGENTBOX_TLS", "maybe")]).is_err());
    assert_eq!(
        load(&[("AGENTBOX_HTTP_LISTEN", "off")]).unwrap().http_listen,
        None
    );
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let settings = Settings::load_with(
        &FlagOverrides::default(),
        env(&[
            ("DATABASE_URL", "postgres://u:hunter2@db/x"),
            ("OPENAI_API_KEY", "sk-secret"),
        ]),
    )
    .unwrap();
    let debug = format!("{settings:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("sk-secret"),
        "{debug}"
    );
}

#[test]
fn the_example_file_uncommented_loads_to_the_defaults() {
    let example = example_file();
    let uncommented: String = example
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if is_setting(rest) => rest,
            Some(_) => "",
            None if line.starts_with('#') => "",
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let file = config_file(&uncommented);
    let path = file.path().to_str().unwrap().to_owned();
    let settings =
        Settings::load_with(&FlagOverrides::default(), env(&[("AGENTBOX_CONFIG", &path)])).unwrap();
    assert_eq!(settings.listen.to_string(), "0.0.0.0:8443");
    for def in keys::KEYS {
        assert!(example.contains(def.env), "{} is undocumented", def.key);
    }
}

/// `name = value` lines of the example, not prose that happens to contain " = ".
fn is_setting(line: &str) -> bool {
    line.split_once(" = ").is_some_and(|(name, value)| {
        name.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !value.starts_with("\"\"")
    })
}

#[test]
fn task_keys_are_bounded() {
    let settings = Settings::load_with(
        &FlagOverrides::default(),
        env(&[
            ("AGENTBOX_TASKS_CONCURRENCY", "0"),
            ("AGENTBOX_TASKS_LEASE_SECS", "5"),
        ]),
    )
    .unwrap();
    assert_eq!(settings.tasks.concurrency, 0);
    assert_eq!(settings.tasks.lease, Duration::from_secs(5));
    for (name, value, range) in [
        ("AGENTBOX_TASKS_CONCURRENCY", "65", "from 0 to 64"),
        ("AGENTBOX_TASKS_LEASE_SECS", "0", "from 1 to 3600"),
    ] {
        let err = Settings::load_with(&FlagOverrides::default(), env(&[(name, value)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(range) && err.contains(name), "{err}");
    }
}

#[test]
fn mcp_servers_come_from_toml_tables_or_json() {
    let file = config_file(
        r#"
[mcp]
allowed_hosts = "agentbox.example.com, localhost"

[[mcp.servers]]
name = "files"
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "/srv"]
env = { NODE_ENV = "production" }

[[mcp.servers]]
name = "zapier"
url = "https://mcp.zapier.com/api/mcp/s/abc/mcp"
bearer_token = "secret"
headers = { "X-Team" = "ops" }
"#,
    );
    let path = file.path().to_str().unwrap().to_owned();
    let settings =
        Settings::load_with(&FlagOverrides::default(), env(&[("AGENTBOX_CONFIG", &path)])).unwrap();
    let names: Vec<_> = settings.mcp.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["files", "zapier"]);
    assert_eq!(settings.mcp.servers[0].transport.kind(), "stdio");
    assert_eq!(settings.mcp.servers[1].transport.kind(), "http");
    assert_eq!(settings.mcp.allowed_hosts, ["agentbox.example.com", "localhost"]);

    let json = r#"[{"name": "git", "command": "uvx", "args": ["mcp-server-git"]}]"#;
    let settings =
        Settings::load_with(&FlagOverrides::default(), env(&[("AGENTBOX_MCP_SERVERS", json)])).unwrap();
    assert_eq!(settings.mcp.servers[0].name, "git");
    assert_eq!(settings.mcp.call_timeout, Duration::from_mins(1));
}

#[test]
fn a_bad_mcp_server_names_the_key_and_the_fix() {
    for (json, expected) in [
        (
            r#"[{"name": "a", "command": "x"}, {"name": "a", "command": "y"}]"#,
            "given twice",
        ),
        (r#"[{"name": "a"}]"#, "give `command`"),
        (
            r#"[{"name": "a", "command": "x", "colour": "red"}]"#,
            "unknown field",
        ),
        ("not a list", "a list of servers"),
    ] {
        let err = Settings::load_with(&FlagOverrides::default(), env(&[("AGENTBOX_MCP_SERVERS", json)]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mcp.servers") && err.contains(expected),
            "{json}: {err}"
        );
    }
}

#[test]
fn routing_fallback_is_a_checked_list_from_a_file_or_the_environment() {
    let settings = Settings::load_with(&FlagOverrides::default(), env(&[])).unwrap();
    assert_eq!(settings.routing, RoutingSettings::default());
    assert!(!settings.routing.strict);
    assert_eq!(settings.routing.fallback.first(), Some(&FallbackStep::Loaded));
    assert_eq!(settings.routing.fallback.len(), 6);

    let file = config_file("[routing]\nstrict = true\nfallback = [\"remote\", \"Local\"]\n");
    let path = file.path().to_str().unwrap().to_owned();
    let settings =
        Settings::load_with(&FlagOverrides::default(), env(&[("AGENTBOX_CONFIG", &path)])).unwrap();
    assert!(settings.routing.strict);
    assert_eq!(
        settings.routing.fallback,
        [FallbackStep::Remote, FallbackStep::Local]
    );

    let settings = Settings::load_with(
        &FlagOverrides::default(),
        env(&[("AGENTBOX_ROUTING_FALLBACK", "fast, code")]),
    )
    .unwrap();
    assert_eq!(
        settings.routing.fallback,
        [FallbackStep::Fast, FallbackStep::Code]
    );

    for bad in ["fast,wizard", "fast,fast", "embedding"] {
        let err = Settings::load_with(
            &FlagOverrides::default(),
            env(&[("AGENTBOX_ROUTING_FALLBACK", bad)]),
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("routing.fallback") && message.contains("AGENTBOX_ROUTING_FALLBACK"),
            "{message}"
        );
        assert!(
            message.contains("loaded, fast, reasoning, code, local, remote"),
            "{message}"
        );
    }
}
