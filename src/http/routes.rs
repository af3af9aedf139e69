//! Route handlers, one module per resource; DTOs live beside their handlers.

pub mod agents;
pub mod analytics;
pub mod auth;
pub mod companies;
pub mod embeddings;
pub mod evals;
pub mod health;
pub mod keys;
pub mod kpis;
pub mod mcp_servers;
pub mod me;
pub mod models;
pub mod providers;
pub mod ratings;
pub mod search;
pub mod sessions;
pub mod tasks;
pub mod users;
