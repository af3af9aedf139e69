//! `mcp.*`: the `[[mcp.servers]]` list (TOML tables in the file, JSON in
//! `AGENTBOX_MCP_SERVERS`) and the host names `/mcp` answers to.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::layers::Layers;
use super::{ConfigError, invalid};
use crate::domain::{McpServerFields, McpServerSpec, McpSource};

const SERVERS: &str = "mcp.servers";

#[derive(Deserialize)]
struct ServerList {
    servers: Vec<McpServerFields>,
}

/// The configured servers, each checked; names must be unique.
pub fn servers(layers: &Layers) -> Result<Vec<McpServerSpec>, ConfigError> {
    let Some(raw) = layers.get(SERVERS) else {
        return Ok(Vec::new());
    };
    let text = raw.value.trim();
    // The file layer hands the array over as TOML text; the environment gives JSON.
    // Text that is JSON is read as JSON (so its errors are JSON's); anything else as TOML.
    let parsed = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json) => serde_json::from_value::<Vec<McpServerFields>>(json).map_err(|err| err.to_string()),
        Err(_) => toml::from_str::<ServerList>(&format!("servers = {text}"))
            .map(|list| list.servers)
            .map_err(|err| err.to_string()),
    };
    let fields = parsed
        .map_err(|err| {
            invalid(
                SERVERS,
                raw,
                format!(
                    "a list of servers ([[mcp.servers]] tables, or a JSON array) with name, command/args/env/cwd or url/bearer_token/headers: {}",
                    err.trim().replace('\n', " ")
                ),
            )
        })?;
    let mut seen = BTreeSet::new();
    fields
        .into_iter()
        .map(|fields| {
            let spec = McpServerSpec::from_fields(fields, McpSource::Config)
                .map_err(|reason| invalid(SERVERS, raw, reason))?;
            if !seen.insert(spec.name.clone()) {
                return Err(invalid(
                    SERVERS,
                    raw,
                    format!("unique names (`{}` is given twice)", spec.name),
                ));
            }
            Ok(spec)
        })
        .collect()
}

/// `mcp.allowed_hosts` as a list; `*` (anywhere in it) turns the check off.
pub fn allowed_hosts(layers: &Layers) -> Vec<String> {
    let hosts: Vec<String> = layers
        .get("mcp.allowed_hosts")
        .map(|raw| raw.value.as_str())
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .map(str::to_owned)
        .collect();
    if hosts.iter().any(|host| host == "*") {
        Vec::new()
    } else {
        hosts
    }
}
