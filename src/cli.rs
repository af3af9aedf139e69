//! The command line: one clap enum, dispatched to a module per command.

// Doc comments on the argument structs are the `--help` text, not rustdoc.
#![allow(clippy::doc_markdown)]

mod backup;
mod bench;
mod bundle;
mod doctor;
pub(crate) mod eval;
mod healthcheck;
mod mcp_stdio;
mod models;
mod serve;
mod server_url;
mod user;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{ConfigError, FlagOverrides, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "agentbox",
    version,
    about = "A complete self-hosted AI agent platform in one executable"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the platform: web UI, APIs, database, TLS.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(DataArgs),
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Model files: list, download (pull), import for air-gapped machines, remove.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Serve the platform's tools over MCP on stdin/stdout (for Claude Desktop and other MCP
    /// clients), as the user of AGENTBOX_API_KEY.
    McpStdio(McpStdioArgs),
    /// Write the database (embedded or external), workspace, agents, certificate, secret key
    /// and config into one archive (.tar.zst) with a manifest of sha256 checksums.
    Backup(BackupArgs),
    /// Check a backup archive and restore it into an empty data folder and database.
    Restore(RestoreArgs),
    /// Model bundles for air-gapped machines: export models with a manifest, import them.
    Bundle {
        #[command(subcommand)]
        command: BundleCommand,
    },
    /// Exit 0 when a running agentbox answers /health (for container health checks).
    Healthcheck(HealthcheckArgs),
    /// Report what this machine offers agentbox.
    Doctor(DataArgs),
    /// Measure token throughput of the in-process engine on a GGUF file.
    Bench(BenchArgs),
    /// Run a suite of prompts against a running agentbox, check the answers, record the run.
    Eval(EvalArgs),
}

#[derive(Debug, Args)]
pub struct McpStdioArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// API key of the user the tools act as (read scope; write for tools that change data)
    #[arg(long, env = "AGENTBOX_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Relay to the agentbox at this URL (its /mcp endpoint) instead of opening the database
    /// [default: the running `serve` that holds the data folder, if any]
    #[arg(long, env = "AGENTBOX_URL", value_name = "URL")]
    pub url: Option<String>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Suite file (YAML: name, cases with agent or model, prompt, checks) [default: the built-in
    /// suite, evals/default.yaml]
    #[arg(value_name = "SUITE")]
    pub suite: Option<PathBuf>,
    /// The agentbox to test (a self-signed certificate is accepted on loopback only)
    #[arg(long, env = "AGENTBOX_URL", default_value = "https://127.0.0.1:8443")]
    pub url: String,
    /// API key with the read and write scopes
    #[arg(long, env = "AGENTBOX_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Seconds one case may take, answer included
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
    /// Print the results without recording the run on the server
    #[arg(long)]
    pub no_record: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// GGUF model file
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Concurrent streams of the throughput runs, one run each (comma-separated)
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4, 8])]
    pub streams: Vec<u32>,
    /// Turns of the conversation run, whose last turn holds about 2,000 tokens of history
    /// (0: no conversation run)
    #[arg(long, default_value_t = 10)]
    pub turns: u32,
    /// Also run llama.cpp's llama-server (this binary) on the same model, threads and context,
    /// and print each figure beside it
    #[arg(long, value_name = "BIN")]
    pub llama_server: Option<PathBuf>,
    /// Tokens generated per stream
    #[arg(long, default_value_t = 128)]
    pub tokens: u32,
    /// CPU threads
    #[arg(long, default_value_t = 2)]
    pub threads: u32,
    /// Words in the prompt (about one token each)
    #[arg(long, default_value_t = 128)]
    pub prompt_words: u32,
    /// Context window per stream, in tokens
    #[arg(long, default_value_t = 2048)]
    pub context: u32,
    /// Layers offloaded to the GPU (GPU builds)
    #[arg(long, default_value_t = 0)]
    pub gpu_layers: u32,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The archive to write (e.g. agentbox-backup.tar.zst)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The archive to restore
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Replace the data of a database or data folder that is not empty
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Write the models of the given roles (default: every role whose model is present) and a
    /// manifest with their sha256 into one file.
    Export(BundleExportArgs),
    /// Check a bundle's manifest and every model's sha256, then bring the models in.
    Import(BundleImportArgs),
}

#[derive(Debug, Args)]
pub struct BundleExportArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The bundle to write (a tar file)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// A role to include: fast, reasoning, code, embedding (repeatable)
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BundleImportArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The bundle to import
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TlsArg {
    SelfSigned,
    Off,
}

#[derive(Debug, Args)]
pub struct DataArgs {
    /// Data folder [env: AGENTBOX_DATA_DIR] [default: ./data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Main listener [env: AGENTBOX_LISTEN] [default: 0.0.0.0:8443]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Redirecting plain-HTTP listener, or "off" [env: AGENTBOX_HTTP_LISTEN] [default: 0.0.0.0:8080]
    #[arg(long, value_name = "ADDR|off")]
    pub http_listen: Option<String>,
    /// TLS mode [env: AGENTBOX_TLS] [default: self-signed]
    #[arg(long, value_enum)]
    pub tls: Option<TlsArg>,
    /// PEM certificate chain (with --tls-key) [env: AGENTBOX_TLS_CERT]
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (with --tls-cert) [env: AGENTBOX_TLS_KEY]
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Load sample companies, departments and KPIs
    #[arg(long)]
    pub sample_data: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create(UserCreateArgs),
    /// Set a user's password, read from standard input; ends their sessions.
    Passwd(UserPasswdArgs),
}

#[derive(Debug, Args)]
pub struct UserCreateArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long)]
    pub email: String,
    /// Read the password from standard input (required: passwords never go on the command line)
    #[arg(long, required = true)]
    pub password_stdin: bool,
    /// Make the user an admin of their company
    #[arg(long)]
    pub admin: bool,
    /// Company to put the user in, by name (any case). A name no company has is an error while
    /// companies exist (see --create-company) [default: the first admin's company; before any
    /// user, the first sample company]
    #[arg(long, value_name = "NAME")]
    pub company: Option<String>,
    /// Create the company named by --company when none has that name
    #[arg(long, requires = "company")]
    pub create_company: bool,
    #[arg(long, value_name = "NAME")]
    pub display_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct UserPasswdArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long)]
    pub email: String,
    /// Read the new password from standard input
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the catalog's models, imported models and other GGUF files, with their state.
    List(DataArgs),
    /// Download a model by name or role: resumes a partial download, checks the sha256.
    Pull(ModelsPullArgs),
    /// Check a local GGUF file and copy it into the models folder (air-gapped installs).
    Import(ModelsImportArgs),
    /// Delete a model's file (and any partial download of it).
    Rm(ModelsRmArgs),
    /// Give roles to a model (it keeps the roles it plays), or take given roles back with --remove.
    Role(ModelsRoleArgs),
}

#[derive(Debug, Args)]
pub struct ModelsPullArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// A model name from `agentbox models list`, or a role: fast, reasoning, code, embedding
    #[arg(value_name = "ROLE_OR_NAME")]
    pub model: String,
    /// Download even when the catalog has no sha256 to check the file against
    #[arg(long)]
    pub allow_unverified: bool,
}

#[derive(Debug, Args)]
pub struct ModelsImportArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The GGUF file to import
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// A role to give it: fast, reasoning, code or embedding (repeatable; it keeps the roles it
    /// plays already) [default: the catalog's role, or none]
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ModelsRoleArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The model's name (see `agentbox models list`)
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The roles: fast, reasoning, code, embedding
    #[arg(value_name = "ROLE", required = true)]
    pub roles: Vec<String>,
    /// Take these roles back from the model (they go back to the catalog's models) instead of
    /// giving them
    #[arg(long)]
    pub remove: bool,
}

#[derive(Debug, Args)]
pub struct ModelsRmArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The model's name (see `agentbox models list`)
    #[arg(value_name = "NAME")]
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a documented agentbox.toml with every setting and its default.
    Example,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// URL to check [default: /health on the configured listener]
    #[arg(long)]
    pub url: Option<String>,
    /// Seconds to wait for an answer
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

/// Failures of a command: each prints one line and maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Runtime(String),
    #[error(transparent)]
    App(#[from] crate::app::AppError),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Usage(_) => 2,
            CliError::Runtime(_) => 1,
            CliError::App(err) => err.exit_code(),
        }
    }
}

impl From<crate::service::ServiceError> for CliError {
    fn from(err: crate::service::ServiceError) -> Self {
        use crate::service::ServiceError as S;
        match err {
            S::InvalidInput { .. } | S::Conflict { .. } | S::NotFound(_) => CliError::Usage(err.to_string()),
            S::Engine(engine) if engine.is_usage() => CliError::Usage(error_chain(&engine)),
            other => CliError::Runtime(error_chain(&other)),
        }
    }
}

pub(crate) use crate::error_chain::error_chain;

impl DataArgs {
    fn overrides(&self) -> FlagOverrides {
        let mut flags = FlagOverrides::default();
        flags.set(
            "data_dir",
            "--data-dir",
            self.data_dir.as_ref().map(|p| p.display()),
        );
        flags
    }
}

/// Loads the settings and starts logging.
fn settings(flags: &FlagOverrides) -> Result<Settings, CliError> {
    let settings = Settings::load(flags)?;
    crate::telemetry::init(&settings.log);
    Ok(settings)
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::Runtime(format!("cannot start the async runtime: {err}")))
}

/// Runs a command; the error, if any, is printed as one line.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Config {
            command: ConfigCommand::Example,
        } => {
            print!("{}", crate::config::example_file());
            Ok(())
        }
        Command::Serve(args) => {
            settings(&serve::overrides(&args)).and_then(|settings| runtime()?.block_on(serve::run(settings)))
        }
        Command::Migrate(args) => {
            settings(&args.overrides()).and_then(|settings| runtime()?.block_on(serve::migrate(settings)))
        }
        Command::User {
            command: UserCommand::Create(args),
        } => settings(&args.data.overrides())
            .and_then(|settings| runtime()?.block_on(user::create(settings, args))),
        Command::User {
            command: UserCommand::Passwd(args),
        } => settings(&args.data.overrides())
            .and_then(|settings| runtime()?.block_on(user::passwd(settings, args))),
        Command::Models { command } => models::run(command),
        Command::McpStdio(args) => settings(&args.data.overrides())
            .and_then(|settings| runtime()?.block_on(mcp_stdio::run(settings, args))),
        Command::Backup(args) => backup::backup(&args),
        Command::Restore(args) => backup::restore(&args),
        Command::Bundle { command } => bundle::run(command),
        Command::Healthcheck(args) => Settings::load(&FlagOverrides::default())
            .map_err(CliError::from)
            .and_then(|settings| runtime()?.block_on(healthcheck::run(&settings, &args))),
        Command::Bench(args) => runtime().and_then(|rt| rt.block_on(bench::run(args))),
        Command::Eval(args) => runtime().and_then(|rt| rt.block_on(eval::run(args))),
        Command::Doctor(args) => {
            settings(&args.overrides()).and_then(|settings| runtime()?.block_on(doctor::run(settings)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("agentbox: {}", error_chain(&err));
            ExitCode::from(err.exit_code())
        }
    }
}
