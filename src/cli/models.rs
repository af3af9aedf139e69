//! `agentbox models list | pull ROLE_OR_NAME | import FILE [--role ROLE]… | rm NAME |
//! role NAME ROLE… [--remove]`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressStyle};

use super::{CliError, ModelsCommand, ModelsImportArgs, ModelsPullArgs, ModelsRoleArgs, error_chain};
use crate::config::{LogSettings, Settings};
use crate::engine::EngineError;
use crate::engine::catalog::ModelRole;
use crate::engine::download::Progress;
use crate::engine::library::{FileState, ModelInfo, Origin, RoleMove};
use crate::service::models::{ModelService, PullState};

pub fn run(command: ModelsCommand) -> Result<(), CliError> {
    let data = match &command {
        ModelsCommand::List(data) => data,
        ModelsCommand::Pull(args) => &args.data,
        ModelsCommand::Import(args) => &args.data,
        ModelsCommand::Rm(args) => &args.data,
        ModelsCommand::Role(args) => &args.data,
    };
    let settings = Settings::load(&data.overrides())?;
    // These commands print their own progress and results; info logs would tear the progress bar.
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
    match command {
        ModelsCommand::List(_) => runtime.block_on(list(&service)),
        ModelsCommand::Pull(args) => runtime.block_on(pull(&service, args)),
        ModelsCommand::Import(args) => runtime.block_on(import(&service, args)),
        ModelsCommand::Role(args) => runtime.block_on(role(&service, args)),
        ModelsCommand::Rm(args) => runtime.block_on(async {
            let removed = service.remove(&args.name).await?;
            if removed.deleted.is_empty() {
                println!("{}: no files to remove", removed.name);
            } else {
                let paths: Vec<String> = removed.deleted.iter().map(|p| p.display().to_string()).collect();
                println!("removed {}: {}", removed.name, paths.join(", "));
            }
            print_moves(&removed.released);
            Ok::<(), CliError>(())
        }),
    }
}

/// `--role` values (or `models role`'s), each checked: a bad one is a usage error.
fn parse_roles(values: &[String], what: &str) -> Result<Vec<ModelRole>, CliError> {
    values
        .iter()
        .map(|value| value.parse::<ModelRole>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| CliError::Usage(format!("{what}: {err}")))
}

/// One line per role that changed hands: `reasoning: now SmolLM2 (was qwq-32b)`.
fn print_moves(moves: &[RoleMove]) {
    for change in moves {
        let to = change.to.as_deref().unwrap_or("no model");
        match &change.from {
            Some(from) => println!("{}: now {to} (was {from})", change.role),
            None => println!("{}: now {to}", change.role),
        }
    }
}

fn role_list(roles: &[ModelRole]) -> String {
    match roles {
        [] => "no role".to_owned(),
        [one] => format!("role {one}"),
        many => format!(
            "roles {}",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

async fn role(service: &ModelService, args: ModelsRoleArgs) -> Result<(), CliError> {
    let roles = parse_roles(&args.roles, "ROLE")?;
    let (give, take_back) = if args.remove {
        (Vec::new(), roles)
    } else {
        (roles, Vec::new())
    };
    let change = service.change_roles(&args.name, give, take_back).await?;
    let plays: Vec<String> = change.roles.iter().map(ToString::to_string).collect();
    if plays.is_empty() {
        println!("{} plays no role", change.name);
    } else {
        println!("{} plays {}", change.name, plays.join(", "));
    }
    print_moves(&change.moved);
    Ok(())
}

/// A failure reported by a pull: one line, exit code 2 for what the user must change.
fn engine_error(err: &EngineError) -> CliError {
    if err.is_usage() {
        CliError::Usage(error_chain(err))
    } else {
        CliError::Runtime(error_chain(err))
    }
}

async fn list(service: &ModelService) -> Result<(), CliError> {
    let list = service.list().await?;
    println!("catalog: {}", list.catalog);
    let rows: Vec<[String; 6]> = list.models.iter().map(|m| row(&m.info)).collect();
    let header = ["NAME", "ROLE", "STATE", "SIZE", "SHA256", "FILE"].map(str::to_owned);
    let mut widths = [0usize; 6];
    for cells in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for cells in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    if list.models.is_empty() {
        println!("(no models)");
    }
    Ok(())
}

fn row(info: &ModelInfo) -> [String; 6] {
    // The roles it plays; a catalog role given to another model shows in parentheses.
    let mut roles: Vec<String> = info.roles.iter().map(ToString::to_string).collect();
    if let Some(role) = info.catalog_role.filter(|role| !info.roles.contains(role)) {
        roles.push(format!("({role})"));
    }
    let role = if roles.is_empty() {
        "-".to_owned()
    } else {
        roles.join(",")
    };
    let state = match info.state {
        FileState::Present => "present".to_owned(),
        FileState::Missing => "missing".to_owned(),
        FileState::Partial => match (info.partial_bytes, info.size_bytes) {
            (Some(done), Some(total)) if total > 0 => {
                format!("partial {}%", u128::from(done) * 100 / u128::from(total))
            }
            _ => "partial".to_owned(),
        },
    };
    let size = info
        .size_bytes
        .map_or_else(|| "?".to_owned(), |b| HumanBytes(b).to_string());
    let sha = match (info.state, info.verified, &info.sha256, info.origin) {
        (FileState::Present, true, _, _) => "verified".to_owned(),
        (FileState::Present, false, Some(_), Origin::Catalog) => "not checked".to_owned(),
        (FileState::Present, false, Some(_), _) => "recorded".to_owned(),
        (_, _, None, Origin::Catalog) => "none (pull needs --allow-unverified)".to_owned(),
        (_, _, None, _) => "-".to_owned(),
        (_, _, Some(_), _) => "known".to_owned(),
    };
    [info.name.clone(), role, state, size, sha, info.file.clone()]
}

async fn pull(service: &ModelService, args: ModelsPullArgs) -> Result<(), CliError> {
    let handle = service.start_pull(&args.model, args.allow_unverified).await?;
    let mut display = Display::new(&handle.name);
    let mut updates = handle.updates;
    loop {
        let state = updates.borrow_and_update().clone();
        match state {
            PullState::Starting => {}
            PullState::Downloading(progress) => display.update(&progress),
            PullState::Done(pulled) => {
                display.finish();
                if pulled.already_present {
                    println!("{} is already present: {}", pulled.name, pulled.path.display());
                } else {
                    let check = if pulled.verified {
                        "sha256 verified"
                    } else {
                        "sha256 NOT verified: the catalog has none"
                    };
                    let resumed = if pulled.resumed_from > 0 {
                        format!(", resumed at {}", HumanBytes(pulled.resumed_from))
                    } else {
                        String::new()
                    };
                    println!(
                        "pulled {} ({}, {check}{resumed}): {}",
                        pulled.name,
                        HumanBytes(pulled.bytes),
                        pulled.path.display()
                    );
                }
                return Ok(());
            }
            PullState::Failed(err) => {
                display.finish();
                return Err(engine_error(&err));
            }
        }
        if updates.changed().await.is_err() {
            display.finish();
            return Err(CliError::Runtime(
                "the download stopped unexpectedly; run the pull again to resume it".into(),
            ));
        }
    }
}

async fn import(service: &ModelService, args: ModelsImportArgs) -> Result<(), CliError> {
    let roles = parse_roles(&args.roles, "--role")?;
    if !args.file.is_file() {
        return Err(CliError::Usage(format!("{} is not a file", args.file.display())));
    }
    if std::io::stderr().is_terminal() {
        eprintln!("checking and copying {} …", args.file.display());
    }
    let imported = service.import(args.file, roles).await?;
    let role = role_list(&imported.roles);
    let kind = match (imported.catalog_model, imported.verified) {
        (true, true) => "catalog model, sha256 verified",
        (true, false) => "catalog model, sha256 not verified (the catalog has none)",
        (false, _) => "recorded in imported.toml",
    };
    let format = [imported.architecture.as_deref(), imported.quantization]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "imported {} ({role}; {kind}; {}{}): {}",
        imported.name,
        HumanBytes(imported.bytes),
        if format.is_empty() {
            String::new()
        } else {
            format!(", {format}")
        },
        imported.path.display()
    );
    print_moves(&imported.moved);
    Ok(())
}

/// Download progress: a bar on a terminal, a plain line every few seconds otherwise.
struct Display {
    name: String,
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
}

impl Display {
    fn new(name: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_message(name.to_owned());
            bar
        });
        Self {
            name: name.to_owned(),
            bar,
            // The first plain line comes after a few seconds: a quick download prints none.
            last_line: Some(Instant::now()),
        }
    }

    fn update(&mut self, progress: &Progress) {
        let speed = format!(
            "{}/s{}",
            HumanBytes(rate(progress)),
            progress
                .eta_secs
                .map(|secs| format!(", {} left", HumanDuration(Duration::from_secs(secs))))
                .unwrap_or_default()
        );
        if let Some(bar) = &self.bar {
            let template = if progress.total.is_some() {
                "{msg} [{bar:30}] {bytes}/{total_bytes} {prefix}"
            } else {
                "{spinner} {msg} {bytes} {prefix}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            if let Some(total) = progress.total {
                bar.set_length(total);
            }
            bar.set_position(progress.done);
            bar.set_prefix(speed);
            return;
        }
        let due = self
            .last_line
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(5));
        if due {
            self.last_line = Some(Instant::now());
            let percent = progress.percent().map(|p| format!("{p}% ")).unwrap_or_default();
            let total = progress
                .total
                .map(|t| format!(" of {}", HumanBytes(t)))
                .unwrap_or_default();
            eprintln!(
                "{}: {percent}{}{total}, {speed}",
                self.name,
                HumanBytes(progress.done)
            );
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn rate(progress: &Progress) -> u64 {
    progress.rate.max(0.0) as u64
}
