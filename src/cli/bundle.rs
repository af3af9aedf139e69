//! `agentbox bundle export FILE [--role ROLE…]` and `agentbox bundle import FILE`: models for
//! air-gapped machines, with a manifest of their sha256.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

use super::{BundleCommand, CliError};
use crate::config::{LogSettings, Settings};
use crate::engine::catalog::ModelRole;
use crate::service::models::ModelService;

pub fn run(command: BundleCommand) -> Result<(), CliError> {
    let data = match &command {
        BundleCommand::Export(args) => &args.data,
        BundleCommand::Import(args) => &args.data,
    };
    let settings = Settings::load(&data.overrides())?;
    let level = if settings.log.level == "info" {
        "warn".to_owned()
    } else {
        settings.log.level.clone()
    };
    crate::telemetry::init(&LogSettings {
        level,
        format: settings.log.format,
    });
    let service = ModelService::new(&settings, crate::app::engine(&settings));
    let runtime = super::runtime()?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}") {
            bar.set_style(style);
        }
        bar
    });
    let advance: Arc<dyn Fn(u64) + Send + Sync> = match bar.clone() {
        Some(bar) => Arc::new(move |bytes| bar.inc(bytes)),
        None => Arc::new(|_: u64| {}),
    };
    let result = match command {
        BundleCommand::Export(args) => {
            let roles = args
                .roles
                .iter()
                .map(|r| r.parse::<ModelRole>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| CliError::Usage(format!("--role: {err}")))?;
            if let Some(bar) = &bar {
                bar.set_message("exporting");
            }
            runtime
                .block_on(service.export_bundle(args.file.clone(), roles, advance))
                .map(|manifest| {
                    let total: u64 = manifest.models.iter().map(|m| m.bytes).sum();
                    let names: Vec<String> = manifest
                        .models
                        .iter()
                        .map(|m| match joined(&m.roles) {
                            Some(roles) => format!("{} ({roles})", m.name),
                            None => m.name.clone(),
                        })
                        .collect();
                    format!(
                        "bundle written: {} ({} models, {}): {}",
                        args.file.display(),
                        manifest.models.len(),
                        HumanBytes(total),
                        names.join(", ")
                    )
                })
        }
        BundleCommand::Import(args) => {
            if !args.file.is_file() {
                return Err(CliError::Usage(format!("{} is not a file", args.file.display())));
            }
            if let Some(bar) = &bar {
                bar.set_message("checking");
            }
            runtime
                .block_on(service.import_bundle(args.file.clone(), advance))
                .map(|imported| {
                    let names: Vec<String> = imported
                        .iter()
                        .map(|m| {
                            let role = match (m.roles.len(), joined(&m.roles)) {
                                (1, Some(role)) => format!(", role {role}"),
                                (_, Some(roles)) => format!(", roles {roles}"),
                                (_, None) => String::new(),
                            };
                            let check = if m.verified {
                                ", catalog sha256 verified"
                            } else {
                                ""
                            };
                            format!("{} ({}{role}{check})", m.name, HumanBytes(m.bytes))
                        })
                        .collect();
                    format!(
                        "imported {} models from {}: {}",
                        imported.len(),
                        args.file.display(),
                        names.join(", ")
                    )
                })
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    println!("{}", result?);
    Ok(())
}

/// `fast, reasoning`, or `None` for no role.
fn joined(roles: &[crate::engine::catalog::ModelRole]) -> Option<String> {
    (!roles.is_empty()).then(|| {
        roles
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    })
}
