//! The integration tests: one binary, a module per area. Every test starts the real platform
//! on port 0 against a fresh database (embedded, or external with `AGENTBOX_TEST_DATABASE_URL`).

mod agents;
mod analytics;
mod auth;
mod backup;
mod bundle;
mod chat;
mod cli;
mod compat;
mod compat_clients;
mod crash_safety;
mod embeddings;
mod engine;
mod errors;
mod evals;
mod first_run;
mod fuzz_corpora;
mod health;
mod hostile_input;
mod inference;
mod keys;
mod kpis;
mod least_privilege;
mod lifecycle;
mod mcp;
mod metrics;
mod models;
mod openapi;
mod prompt_cache;
mod providers;
mod ratings;
mod replicas;
mod resilience;
mod rls;
mod setup;
mod support;
mod tasks;
mod tool_calls;
#[cfg(feature = "ui")]
mod ui;
mod users;
mod workspace_tools;
