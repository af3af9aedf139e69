//! agentbox: a complete self-hosted AI agent platform in one executable.
//!
//! Layers (data flows one way): `http`, `mcp_server` and `cli` → `service` → `store`, `engine`
//! and `tools`; every layer may use `domain`. `app` is the composition root.

pub mod app;
pub mod backup;
pub mod cli;
pub mod config;
pub mod data_dir;
pub mod domain;
pub mod engine;
pub mod error_chain;
#[doc(hidden)]
pub mod fuzz;
pub mod http;
pub mod mcp_server;
pub mod metrics;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod tools;
