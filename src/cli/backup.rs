//! `agentbox backup FILE` and `agentbox restore FILE [--force]`, with a progress bar on a
//! terminal.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

use super::{BackupArgs, CliError, RestoreArgs, error_chain};
use crate::backup::{self, BackupError, Progress};
use crate::config::{LogSettings, Settings};

impl From<BackupError> for CliError {
    fn from(err: BackupError) -> Self {
        if err.is_usage() {
            CliError::Usage(error_chain(&err))
        } else {
            CliError::Runtime(error_chain(&err))
        }
    }
}

/// Loads the settings; info logs would tear the progress bar, so only warnings are shown
/// unless a finer level was asked for.
fn quiet_settings(args: &super::DataArgs) -> Result<Settings, CliError> {
    let settings = Settings::load(&args.overrides())?;
    let level = if settings.log.level == "info" {
        "warn".to_owned()
    } else {
        settings.log.level.clone()
    };
    crate::telemetry::init(&LogSettings {
        level,
        format: settings.log.format,
    });
    Ok(settings)
}

pub fn backup(args: &BackupArgs) -> Result<(), CliError> {
    let settings = quiet_settings(&args.data)?;
    let bar = Bar::new();
    let report = super::runtime()?.block_on(backup::backup_offline(&settings, &args.file, bar.clone()))?;
    bar.finish();
    println!(
        "backup written: {} ({} tables, {} rows, {} files; {} compressed from {}) in {:.2} s",
        report.path.display(),
        report.manifest.database.tables.len(),
        report.manifest.total_rows(),
        report.manifest.file_count(),
        HumanBytes(report.archive_bytes),
        HumanBytes(report.manifest.total_bytes()),
        report.seconds
    );
    Ok(())
}

pub fn restore(args: &RestoreArgs) -> Result<(), CliError> {
    if !args.file.is_file() {
        return Err(CliError::Usage(format!("{} is not a file", args.file.display())));
    }
    let settings = quiet_settings(&args.data)?;
    let bar = Bar::new();
    let report =
        super::runtime()?.block_on(backup::restore(&settings, &args.file, args.force, bar.clone()))?;
    bar.finish();
    println!(
        "restored {} (made {} by agentbox {}): {} tables, {} rows, {} files in {:.2} s",
        args.file.display(),
        report.manifest.created_at,
        report.manifest.agentbox_version,
        report.manifest.database.tables.len(),
        report.manifest.total_rows(),
        report.manifest.file_count(),
        report.seconds
    );
    if let Some(config) = report.config {
        println!("the archive's config file was written to {}", config.display());
    }
    Ok(())
}

/// A progress bar on a terminal; nothing otherwise (scripts read the final line).
#[derive(Clone)]
struct Bar(Option<ProgressBar>);

impl Bar {
    fn new() -> Arc<Self> {
        Arc::new(Self(std::io::stderr().is_terminal().then(|| ProgressBar::new(0))))
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn stage(&self, name: &str, total: Option<u64>) {
        let Some(bar) = &self.0 else { return };
        let template = if total.is_some() {
            "{msg:10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}"
        } else {
            "{spinner} {msg:10} {bytes} {bytes_per_sec}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(name.to_owned());
        bar.set_position(0);
        bar.set_length(total.unwrap_or(0));
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(bytes);
        }
    }
}
